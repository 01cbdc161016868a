package kafkasource_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/iamd/iamd/ingest/kafkasource"
	"github.com/iamd/iamd/store"
)

// decode is a small stand-in for the ingest decoders: one record or a
// {"Records":[…]} batch; anything else is an error.
func decode(where string, payload []byte) (kafkasource.Decoded, error) {
	type rec struct {
		EventID   string `json:"eventID"`
		EventTime string `json:"eventTime"`
		EventName string `json:"eventName"`
		User      struct {
			ARN string `json:"arn"`
		} `json:"userIdentity"`
	}
	var w struct {
		Records []json.RawMessage `json:"Records"`
	}
	if err := json.Unmarshal(payload, &w); err != nil {
		return kafkasource.Decoded{}, fmt.Errorf("bad json: %w", err)
	}
	raws := w.Records
	if raws == nil {
		raws = []json.RawMessage{payload}
	}
	var d kafkasource.Decoded
	for i, raw := range raws {
		d.Records++
		var r rec
		_ = json.Unmarshal(raw, &r)
		t, err := time.Parse(time.RFC3339, r.EventTime)
		if err != nil || r.EventID == "" {
			d.Quarantined = append(d.Quarantined, store.Quarantined{Where: fmt.Sprintf("%s#%d", where, i), Reason: "no-event-time", Detail: "bad record", Raw: raw})
			continue
		}
		d.Events = append(d.Events, store.Event{ID: r.EventID, Time: t, Principal: r.User.ARN,
			Uses: []store.Use{{Action: "s3:" + r.EventName, Resource: "*"}}})
	}
	return d, nil
}

func record(i int) string {
	return fmt.Sprintf(`{"eventID":"ev-%05d","eventTime":"2026-11-20T10:00:00Z","eventName":"GetObject","userIdentity":{"arn":"arn:aws:iam::111122223333:user/u%d"}}`, i, i%3)
}

func newCluster(t *testing.T, partitions int32, topics ...string) string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(partitions, topics...))
	if err != nil {
		t.Fatalf("kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()[0]
}

func produce(t *testing.T, addr, topic string, msgs ...kafka.Message) {
	t.Helper()
	w := &kafka.Writer{Addr: kafka.TCP(addr), Topic: topic, Balancer: &kafka.RoundRobin{}, BatchTimeout: 5 * time.Millisecond,
		RequiredAcks: kafka.RequireAll}
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

func openStore(t *testing.T, dir string) *store.DB {
	t.Helper()
	db, err := store.Open(store.Options{Dir: dir, InMemory: dir == ""})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	return db
}

func testConfig(addr string, topics ...string) kafkasource.Config {
	return kafkasource.Config{
		Brokers:         []string{addr},
		Topics:          topics,
		GroupID:         "g",
		SessionTimeout:  6 * time.Second,
		FetchMaxWait:    250 * time.Millisecond,
		BatchMaxWait:    50 * time.Millisecond,
		BatchMaxRecords: 25,
		Decode:          decode,
		Logger:          slog.New(slog.DiscardHandler),
	}
}

// runUntil runs src until cond holds (or 20 s), then cancels and waits.
func runUntil(t *testing.T, src *kafkasource.Source, cond func(kafkasource.Stats) bool) kafkasource.Stats {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx) }()
	deadline := time.Now().Add(20 * time.Second)
	for !cond(src.Stats()) {
		if time.Now().After(deadline) {
			cancel()
			<-done
			t.Fatalf("condition not reached; stats %+v", src.Stats())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	return src.Stats()
}

func TestConsumeDedupResume(t *testing.T) {
	addr := newCluster(t, 3, "trail")
	var msgs []kafka.Message
	for i := range 90 {
		msgs = append(msgs, kafka.Message{Value: []byte(record(i))})
	}
	// One batch message of 10 records, 5 of which repeat earlier IDs.
	var batch []string
	for i := 85; i < 95; i++ {
		batch = append(batch, record(i))
	}
	msgs = append(msgs, kafka.Message{Value: []byte(`{"Records":[` + strings.Join(batch, ",") + `]}`)})
	produce(t, addr, "trail", msgs...)

	db := openStore(t, t.TempDir())
	defer db.Close()
	src, err := kafkasource.New(testConfig(addr, "trail"), db)
	if err != nil {
		t.Fatal(err)
	}
	st := runUntil(t, src, func(s kafkasource.Stats) bool { return s.Written+s.Duplicates >= 100 })
	if got, want := st.Written, int64(95); got != want {
		t.Errorf("Written=%d, want %d", got, want)
	}
	if got, want := st.Duplicates, int64(5); got != want {
		t.Errorf("Duplicates=%d, want %d", got, want)
	}
	if got, want := st.Messages, int64(91); got != want {
		t.Errorf("Messages=%d, want %d", got, want)
	}
	if st.LastCheckpoint.IsZero() || st.Commits == 0 {
		t.Errorf("no checkpoint/commit recorded: %+v", st)
	}
	// Checkpoints per partition cover every message.
	var covered int64
	for p := range 3 {
		cp, ok, err := db.Checkpoint(context.Background(), kafkasource.CheckpointSource("trail", p))
		if err != nil || !ok {
			t.Fatalf("checkpoint partition %d: ok=%v err=%v", p, ok, err)
		}
		var n int64
		fmt.Sscan(cp.Position, &n)
		covered += n
	}
	if got, want := covered, int64(91); got != want {
		t.Errorf("checkpointed offsets sum=%d, want %d", got, want)
	}

	// A new source in the same group resumes at the committed offsets: only
	// the new messages are read.
	produce(t, addr, "trail", kafka.Message{Value: []byte(record(500))}, kafka.Message{Value: []byte(record(501))})
	src2, err := kafkasource.New(testConfig(addr, "trail"), db)
	if err != nil {
		t.Fatal(err)
	}
	st2 := runUntil(t, src2, func(s kafkasource.Stats) bool { return s.Written >= 2 })
	if got, want := st2.Messages, int64(2); got != want {
		t.Errorf("after resume Messages=%d, want %d", got, want)
	}
	stats, err := db.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := stats.Dedup, int64(97); got != want {
		t.Errorf("store Dedup=%d, want %d", got, want)
	}
}

func TestRedeliveryIsSkipped(t *testing.T) {
	// Writing the batch but crashing before the commit is simulated by a
	// second group whose offsets start at 0 while the store already holds
	// the checkpoints: every message is redelivered and must be skipped.
	addr := newCluster(t, 1, "trail")
	var msgs []kafka.Message
	for i := range 20 {
		msgs = append(msgs, kafka.Message{Value: []byte(record(i))})
	}
	produce(t, addr, "trail", msgs...)
	db := openStore(t, "")
	defer db.Close()
	src, _ := kafkasource.New(testConfig(addr, "trail"), db)
	runUntil(t, src, func(s kafkasource.Stats) bool { return s.Written >= 20 })

	cfg := testConfig(addr, "trail")
	cfg.GroupID = "other"
	src2, _ := kafkasource.New(cfg, db)
	st := runUntil(t, src2, func(s kafkasource.Stats) bool { return s.Messages >= 20 && s.Batches > 0 })
	if got, want := st.Redelivered, int64(20); got != want {
		t.Errorf("Redelivered=%d, want %d", got, want)
	}
	if st.Records != 0 || st.Written != 0 {
		t.Errorf("redelivered messages were decoded/written: %+v", st)
	}
}

func TestDeadLetterAndQuarantine(t *testing.T) {
	// An undecodable message may still carry a credential; the store's
	// copy is redacted, the dead-letter topic gets the message as it was.
	const secret = "wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY"
	for _, tc := range []struct {
		name string
		dlq  string
	}{
		{"dead-letter topic", "trail-dlq"},
		{"quarantine in store", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := newCluster(t, 1, "trail", "trail-dlq")
			produce(t, addr, "trail",
				kafka.Message{Value: []byte(record(1))},
				kafka.Message{Value: []byte(`{not json "secretAccessKey":"` + secret + `"`)},
				kafka.Message{Value: []byte(`{"eventID":"x"}`)}, // a record with no time
				kafka.Message{Value: []byte(record(2))},
			)
			db := openStore(t, "")
			defer db.Close()
			cfg := testConfig(addr, "trail")
			cfg.DeadLetterTopic = tc.dlq
			src, err := kafkasource.New(cfg, db)
			if err != nil {
				t.Fatal(err)
			}
			st := runUntil(t, src, func(s kafkasource.Stats) bool { return s.Messages >= 4 && s.Written >= 2 && s.Commits > 0 })
			if got, want := st.Written, int64(2); got != want {
				t.Errorf("Written=%d, want %d", got, want)
			}
			qc, err := db.QuarantineCounts(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if tc.dlq == "" {
				if got, want := fmt.Sprint(st.Quarantined), "map[no-event-time:1 undecodable:1]"; got != want {
					t.Errorf("Quarantined=%s, want %s", got, want)
				}
				if got, want := fmt.Sprint(qc), "map[no-event-time:1 undecodable:1]"; got != want {
					t.Errorf("store quarantine counts=%s, want %s", got, want)
				}
				qs, err := db.Quarantine(context.Background(), 10)
				if err != nil {
					t.Fatal(err)
				}
				var raws []string
				for _, q := range qs {
					raws = append(raws, string(q.Raw))
				}
				if got, want := strings.Join(raws, " | "), `{"eventID":"x"} | {not json "secretAccessKey":"REDACTED"`; !sameParts(got, want) {
					t.Errorf("quarantined raw = %s, want %s (secret redacted)", got, want)
				}
				return
			}
			if got, want := fmt.Sprint(st.DeadLettered), "map[no-event-time:1 undecodable:1]"; got != want {
				t.Errorf("DeadLettered=%s, want %s", got, want)
			}
			if len(qc) != 0 {
				t.Errorf("store quarantine=%v, want empty with a dead-letter topic", qc)
			}
			r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{addr}, Topic: "trail-dlq", MaxWait: 100 * time.Millisecond,
				ErrorLogger: kafka.LoggerFunc(t.Logf)})
			defer r.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var got []string
			for range 2 {
				m, err := r.ReadMessage(ctx)
				if err != nil {
					t.Fatalf("read dead-letter topic: %v", err)
				}
				h := map[string]string{}
				for _, x := range m.Headers {
					h[x.Key] = string(x.Value)
				}
				if !strings.HasPrefix(h[kafkasource.HeaderOrigin], "kafka:trail/0@") || h[kafkasource.HeaderError] == "" {
					t.Errorf("dead-letter headers %v lack origin or error", h)
				}
				got = append(got, h[kafkasource.HeaderReason]+"="+string(m.Value))
			}
			if want := `[undecodable={not json "secretAccessKey":"` + secret + `" no-event-time={"eventID":"x"}]`; fmt.Sprint(got) != want {
				t.Errorf("dead letters=%v, want %v", got, want)
			}
		})
	}
}

// failingStore fails the first n writes.
type failingStore struct {
	*store.DB
	mu   sync.Mutex
	fail int
}

func (f *failingStore) Write(ctx context.Context, b *store.Batch) (store.WriteResult, error) {
	f.mu.Lock()
	if f.fail > 0 {
		f.fail--
		f.mu.Unlock()
		return store.WriteResult{}, errors.New("disk on fire")
	}
	f.mu.Unlock()
	return f.DB.Write(ctx, b)
}

func TestWriteRetryAndGiveUp(t *testing.T) {
	addr := newCluster(t, 1, "trail")
	produce(t, addr, "trail", kafka.Message{Value: []byte(record(1))})
	db := openStore(t, "")
	defer db.Close()

	fs := &failingStore{DB: db, fail: 100}
	cfg := testConfig(addr, "trail")
	cfg.WriteRetries = 1
	src, _ := kafkasource.New(cfg, fs)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := src.Run(ctx); err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("Run()=%v, want the store error", err)
	}
	if st := src.Stats(); st.Commits != 0 {
		t.Fatalf("committed %d times after a failed write", st.Commits)
	}
	// Nothing was committed: a healthy restart reads the message again.
	fs.fail = 1
	cfg.WriteRetries = 3
	src2, _ := kafkasource.New(cfg, fs)
	st := runUntil(t, src2, func(s kafkasource.Stats) bool { return s.Written == 1 })
	if got, want := st.Messages, int64(1); got != want {
		t.Errorf("Messages=%d, want %d", got, want)
	}
}

func TestGracefulShutdownFlushes(t *testing.T) {
	addr := newCluster(t, 1, "trail")
	var msgs []kafka.Message
	for i := range 10 {
		msgs = append(msgs, kafka.Message{Value: []byte(record(i))})
	}
	produce(t, addr, "trail", msgs...)
	db := openStore(t, "")
	defer db.Close()
	cfg := testConfig(addr, "trail")
	cfg.BatchMaxWait = time.Hour // only shutdown can flush
	cfg.BatchMaxRecords = 1000
	src, _ := kafkasource.New(cfg, db)
	st := runUntil(t, src, func(s kafkasource.Stats) bool { return s.Records >= 10 })
	if got, want := st.Written, int64(10); got != want {
		t.Errorf("Written after cancel=%d, want %d", got, want)
	}
	if got, want := st.Commits, int64(1); got != want {
		t.Errorf("Commits=%d, want %d", got, want)
	}
	// The commit reached Kafka: the group has nothing left.
	cfg.BatchMaxWait = 50 * time.Millisecond
	src2, _ := kafkasource.New(cfg, db)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := src2.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if got := src2.Stats().Messages; got != 0 {
		t.Errorf("after graceful stop a new consumer read %d messages, want 0", got)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*kafkasource.Config)
		want string
	}{
		{"no brokers", func(c *kafkasource.Config) { c.Brokers = nil }, "Brokers"},
		{"bad broker", func(c *kafkasource.Config) { c.Brokers = []string{"nohost"} }, "Brokers[0]"},
		{"no topics", func(c *kafkasource.Config) { c.Topics = nil }, "Topics"},
		{"dlq consumed", func(c *kafkasource.Config) { c.DeadLetterTopic = "trail" }, "DeadLetterTopic"},
		{"sasl", func(c *kafkasource.Config) { c.SASL.Mechanism = "gssapi" }, "SASL.Mechanism"},
		{"heartbeat", func(c *kafkasource.Config) { c.HeartbeatInterval = 7 * time.Second }, "HeartbeatInterval"},
		{"decode", func(c *kafkasource.Config) { c.Decode = nil }, "Decode"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig("localhost:9092", "trail")
			tc.edit(&cfg)
			_, err := kafkasource.New(cfg, &store.DB{})
			if !errors.Is(err, kafkasource.ErrConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New()=%v, want ErrConfig naming %s", err, tc.want)
			}
		})
	}
}

func TestSASL(t *testing.T) {
	for _, mech := range []string{"plain", "scram-sha-256", "scram-sha-512"} {
		t.Run(mech, func(t *testing.T) {
			c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "trail"), kfake.EnableSASL(),
				kfake.Superuser(strings.ToUpper(mech), "iamd", "pw"))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			addr := c.ListenAddrs()[0]
			cfg := testConfig(addr, "trail")
			cfg.SASL = kafkasource.SASL{Mechanism: mech, Username: "iamd", Password: "pw"}
			m, err := cfg.SASLMechanism()
			if err != nil {
				t.Fatal(err)
			}
			w := &kafka.Writer{Addr: kafka.TCP(addr), Topic: "trail", BatchTimeout: 5 * time.Millisecond, Transport: &kafka.Transport{SASL: m}}
			if err := w.WriteMessages(context.Background(), kafka.Message{Value: []byte(record(1))}); err != nil {
				t.Fatalf("produce with SASL: %v", err)
			}
			w.Close()

			db := openStore(t, "")
			defer db.Close()
			src, err := kafkasource.New(cfg, db)
			if err != nil {
				t.Fatal(err)
			}
			if st := runUntil(t, src, func(s kafkasource.Stats) bool { return s.Written == 1 && s.Commits > 0 }); st.Messages != 1 {
				t.Errorf("Messages=%d, want 1", st.Messages)
			}

			// A wrong password never reads anything.
			cfg.SASL.Password = "wrong"
			cfg.GroupID = "other"
			bad, _ := kafkasource.New(cfg, db)
			ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
			defer cancel()
			_ = bad.Run(ctx)
			if got := bad.Stats().Messages; got != 0 {
				t.Errorf("with a wrong password read %d messages", got)
			}
		})
	}
}

// sameParts compares " | "-separated lists in any order.
func sameParts(a, b string) bool {
	pa, pb := strings.Split(a, " | "), strings.Split(b, " | ")
	slices.Sort(pa)
	slices.Sort(pb)
	return slices.Equal(pa, pb)
}
