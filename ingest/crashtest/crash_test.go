package crashtest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/iamd/iamd/ingest/kafkasource"
	"github.com/iamd/iamd/ingest/s3source"
	"github.com/iamd/iamd/store"
)

// Environment of a child process.
const (
	envChild = "IAMD_CRASHTEST_CHILD" // "kafka" or "s3"
	envAddr  = "IAMD_CRASHTEST_ADDR"  // broker address or S3 endpoint URL
	envDir   = "IAMD_CRASHTEST_DIR"   // store directory
	envDrain = "IAMD_CRASHTEST_DRAIN" // when set: run to the end (Kafka: until checkpoints cover this many messages)
	envTrial = "IAMD_CRASH_TRIALS"    // trials per source (default 3)

	topic    = "trail"
	bucket   = "trail"
	records  = 1500
	dataSeed = 20261123
)

// Child exit codes.
const (
	exitDrained    = 0
	exitError      = 2
	exitNotDrained = 3
)

// TestChild is the child process; it does nothing in a normal run.
func TestChild(t *testing.T) {
	mode := os.Getenv(envChild)
	if mode == "" {
		t.Skip("child mode only")
	}
	os.Exit(child(t, mode))
}

func child(t *testing.T, mode string) int {
	// SIGTERM is a graceful stop, as in iamd itself. Caught from the start
	// to the end, store close included: a backfill that has already
	// finished may be closing the store when the SIGTERM comes.
	sigCtx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	db, err := store.Open(store.Options{Dir: os.Getenv(envDir)})
	if err != nil {
		fmt.Fprintln(os.Stderr, "open store:", err)
		return exitError
	}
	defer db.Close()
	conv := newConverter(t)
	ctx, cancel := context.WithCancel(sigCtx)
	defer cancel()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	var run func(context.Context) error
	switch mode {
	case "kafka":
		// FetchMaxWait stays at the production default: kafka-go sets the
		// fetch read deadline to MaxWait, and with a very short one on a
		// loaded machine every fetch times out and reconnects.
		src, err := kafkasource.New(kafkasource.Config{
			Brokers: []string{os.Getenv(envAddr)}, Topics: []string{topic}, GroupID: "crash",
			SessionTimeout: time.Second, HeartbeatInterval: 200 * time.Millisecond, RebalanceTimeout: 2 * time.Second,
			FetchMaxWait: 500 * time.Millisecond, BatchMaxWait: 20 * time.Millisecond, BatchMaxRecords: 40,
			Decode: kafkasource.FromConverter(conv), Logger: logger,
		}, db)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return exitError
		}
		run = src.Run
	case "s3":
		client := s3Client(os.Getenv(envAddr))
		src, err := s3source.New(s3source.Config{Bucket: bucket, Workers: 2, BatchMaxRecords: 30,
			Decode: s3source.FromConverter(conv), Logger: logger}, client, db)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return exitError
		}
		run = src.Run
	}
	want, _ := strconv.ParseInt(os.Getenv(envDrain), 10, 64)
	drain := want > 0
	done := make(chan error, 1)
	fmt.Println("started")
	go func() { done <- run(ctx) }()
	if !drain {
		return finish(<-done)
	}
	deadline := time.After(20 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-done: // the S3 backfill ends by itself
			return finish(err)
		case <-deadline:
			cancel()
			<-done
			return exitNotDrained
		case <-tick.C:
			if mode == "kafka" && kafkaCovered(ctx, db) >= want {
				cancel()
				return finish(<-done)
			}
		}
	}
}

// kafkaCovered sums the partitions' checkpointed next offsets: the
// number of messages durably covered.
func kafkaCovered(ctx context.Context, db *store.DB) int64 {
	cps, err := db.Checkpoints(ctx, "kafka:")
	if err != nil {
		return 0
	}
	var n int64
	for _, cp := range cps {
		off, _ := strconv.ParseInt(cp.Position, 10, 64)
		n += off
	}
	return n
}

func finish(err error) int {
	if err != nil {
		fmt.Fprintln(os.Stderr, "run:", err)
		return exitError
	}
	return exitDrained
}

func s3Client(url string) *s3.Client {
	return s3.New(s3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(url), UsePathStyle: true,
		Credentials:                credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
}

func trials(t *testing.T) int {
	if v := os.Getenv(envTrial); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("%s=%q: want a positive number", envTrial, v)
		}
		return n
	}
	if testing.Short() {
		return 1
	}
	return 3
}

// startChild starts the test binary in child mode and waits for it to
// report that ingest started.
func startChild(t *testing.T, mode, addr, dir string, drain int64) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), envChild+"="+mode, envAddr+"="+addr, envDir+"="+dir)
	if drain > 0 {
		cmd.Env = append(cmd.Env, envDrain+"="+strconv.FormatInt(drain, 10))
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start child: %v", err)
	}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if sc.Text() == "started" {
			go func() {
				for sc.Scan() {
				}
			}()
			return cmd, &stderr
		}
	}
	cmd.Wait()
	t.Fatalf("child exited before starting: %s", stderr.String())
	return nil, nil
}

// crashTrial kills ingest kills times at random moments, then lets it
// finish, and returns the store's snapshot.
func crashTrial(t *testing.T, r *rand.Rand, mode, addr string, drain int64, kills int) snapshot {
	dir := t.TempDir()
	for k := range kills {
		cmd, stderr := startChild(t, mode, addr, dir, 0)
		delay := time.Duration(r.IntN(350)) * time.Millisecond
		time.Sleep(delay)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Logf("kill %d: %v (child already done)", k, err)
		}
		err := cmd.Wait()
		if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() > 0 {
			t.Fatalf("child failed before kill %d: %v\n%s", k, err, stderr)
		}
		db, err := store.Open(store.Options{Dir: dir})
		if err != nil {
			t.Fatalf("open store after kill %d: %v", k, err)
		}
		st, err := db.Stats(context.Background())
		db.Close()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("kill %d after %v: %d events, %d checkpoints stored", k, delay, st.Dedup, st.Checkpoints)
	}
	// The final child runs to the end. A child that makes no progress for
	// 20 s exits with exitNotDrained and is restarted, as a supervisor
	// would: after early kills a Kafka consumer occasionally never gets
	// an assignment (seen with kfake and kafka-go; the data is untouched,
	// the comparison below still decides).
	for attempt := 1; ; attempt++ {
		cmd, stderr := startChild(t, mode, addr, dir, drain)
		err := cmd.Wait()
		if err == nil {
			break
		}
		if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == exitNotDrained && attempt < 3 {
			t.Logf("final child stalled (attempt %d), restarting: %s", attempt, stderr)
			continue
		}
		t.Fatalf("final child (attempt %d): %v\n%s", attempt, err, stderr)
	}
	db, err := store.Open(store.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	return takeSnapshot(t, db)
}

func TestCrashKafka(t *testing.T) {
	d := newDataset(dataSeed, records)
	conv := newConverter(t)
	payloads := map[string][]byte{}
	for i, m := range d.messages {
		payloads[fmt.Sprintf("msg-%05d", i)] = m
	}
	want := reference(t, conv, payloads)
	if want.Dedup < records*9/10 || len(want.Quarantined) == 0 {
		t.Fatalf("reference ingest looks wrong: dedup %d of %d records, quarantine %v", want.Dedup, records, want.Quarantined)
	}
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	var totalLost, totalDouble uint64
	n := trials(t)
	for trial := range n {
		seed := r.Uint64()
		t.Run(fmt.Sprintf("trial-%d-seed-%d", trial, seed), func(t *testing.T) {
			c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, topic), kfake.GroupMinSessionTimeout(500*time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			addr := c.ListenAddrs()[0]
			produce(t, addr, d.messages)
			tr := rand.New(rand.NewPCG(seed, 2))
			got := crashTrial(t, tr, "kafka", addr, int64(len(d.messages)), 1+tr.IntN(3))
			lost, double, other := compare(want, got)
			totalLost += lost
			totalDouble += double
			if lost != 0 || double != 0 || len(other) > 0 {
				t.Errorf("lost %d, double-counted %d, %v", lost, double, other)
			}
		})
	}
	t.Logf("kafka: %d trials, %d events each (fact increments): lost %d, double-counted %d", n, want.events(), totalLost, totalDouble)
}

// TestGracefulSIGTERM stops ingest with SIGTERM mid-stream: the child
// must exit cleanly having written and committed its batch in flight
// (Kafka: the group's committed offsets equal the store's checkpoints),
// and a restart must complete the data with nothing lost or doubled.
func TestGracefulSIGTERM(t *testing.T) {
	d := newDataset(dataSeed, records)
	conv := newConverter(t)
	for _, mode := range []string{"kafka", "s3"} {
		t.Run(mode, func(t *testing.T) {
			payloads := map[string][]byte{}
			var addr string
			var drain int64 = 1
			if mode == "kafka" {
				for i, m := range d.messages {
					payloads[fmt.Sprintf("msg-%05d", i)] = m
				}
				c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, topic), kfake.GroupMinSessionTimeout(500*time.Millisecond))
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				addr = c.ListenAddrs()[0]
				produce(t, addr, d.messages)
				drain = int64(len(d.messages))
			} else {
				for k, v := range d.files {
					if !strings.Contains(k, "CloudTrail-Digest") {
						payloads["s3://"+bucket+"/"+k] = v
					}
				}
				ts := s3Server(t, d)
				addr = ts
			}
			want := reference(t, conv, payloads)
			dir := t.TempDir()
			cmd, stderr := startChild(t, mode, addr, dir, 0)
			if mode == "kafka" {
				// SIGTERM once a first batch is committed, not after a
				// fixed delay: on a loaded machine the child may not have
				// committed anything 150ms in, and the check below needs
				// a batch in the store.
				waitCommitted(t, addr)
			} else {
				time.Sleep(150 * time.Millisecond)
			}
			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			if err := cmd.Wait(); err != nil {
				t.Fatalf("child after SIGTERM: %v\n%s", err, stderr)
			}
			if mode == "kafka" {
				db, err := store.Open(store.Options{Dir: dir})
				if err != nil {
					t.Fatal(err)
				}
				cps, err := db.Checkpoints(context.Background(), "kafka:")
				db.Close()
				if err != nil {
					t.Fatal(err)
				}
				stored := map[string]string{}
				for _, cp := range cps {
					stored[cp.Source] = cp.Position
				}
				resp, err := (&kafka.Client{Addr: kafka.TCP(addr)}).OffsetFetch(context.Background(), &kafka.OffsetFetchRequest{
					GroupID: "crash", Topics: map[string][]int{topic: {0, 1, 2}}})
				if err != nil {
					t.Fatal(err)
				}
				committed := map[string]string{}
				for _, p := range resp.Topics[topic] {
					if p.CommittedOffset >= 0 {
						committed[kafkasource.CheckpointSource(topic, p.Partition)] = strconv.FormatInt(p.CommittedOffset, 10)
					}
				}
				t.Logf("SIGTERM after a first commit: checkpoints %v of %d messages", stored, len(d.messages))
				if len(stored) == 0 || fmt.Sprint(stored) != fmt.Sprint(committed) {
					t.Errorf("after SIGTERM: store checkpoints %v, committed offsets %v: want equal and non-empty", stored, committed)
				}
			}
			cmd, stderr = startChild(t, mode, addr, dir, drain)
			if err := cmd.Wait(); err != nil {
				t.Fatalf("final child: %v\n%s", err, stderr)
			}
			db, err := store.Open(store.Options{Dir: dir})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			lost, double, other := compare(want, takeSnapshot(t, db))
			if lost != 0 || double != 0 || len(other) > 0 {
				t.Errorf("lost %d, double-counted %d, %v", lost, double, other)
			}
		})
	}
}

// s3Server serves d's files from gofakes3 and returns its URL.
func s3Server(t testing.TB, d *dataset) string {
	t.Helper()
	ts := httptest.NewServer(gofakes3.New(s3mem.New()).Server())
	t.Cleanup(ts.Close)
	client := s3Client(ts.URL)
	ctx := context.Background()
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	for k, v := range d.files {
		if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(k), Body: bytes.NewReader(v)}); err != nil {
			t.Fatalf("put %s: %v", k, err)
		}
	}
	return ts.URL
}

func produce(t testing.TB, addr string, msgs [][]byte) {
	t.Helper()
	w := &kafka.Writer{Addr: kafka.TCP(addr), Topic: topic, Balancer: &kafka.RoundRobin{}, BatchTimeout: 5 * time.Millisecond,
		BatchSize: 500, RequiredAcks: kafka.RequireAll}
	defer w.Close()
	km := make([]kafka.Message, len(msgs))
	for i, m := range msgs {
		km[i] = kafka.Message{Value: m}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := w.WriteMessages(ctx, km...); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

func TestCrashS3(t *testing.T) {
	d := newDataset(dataSeed, records)
	conv := newConverter(t)
	payloads := map[string][]byte{}
	for k, v := range d.files {
		if !strings.Contains(k, "CloudTrail-Digest") {
			payloads["s3://"+bucket+"/"+k] = v
		}
	}
	want := reference(t, conv, payloads)
	if want.Dedup != records || len(want.Quarantined) == 0 {
		t.Fatalf("reference ingest looks wrong: dedup %d of %d records, quarantine %v", want.Dedup, records, want.Quarantined)
	}
	url := s3Server(t, d)
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 3))
	var totalLost, totalDouble uint64
	n := trials(t)
	for trial := range n {
		seed := r.Uint64()
		t.Run(fmt.Sprintf("trial-%d-seed-%d", trial, seed), func(t *testing.T) {
			tr := rand.New(rand.NewPCG(seed, 4))
			got := crashTrial(t, tr, "s3", url, 1, 1+tr.IntN(3))
			lost, double, other := compare(want, got)
			totalLost += lost
			totalDouble += double
			if lost != 0 || double != 0 || len(other) > 0 {
				t.Errorf("lost %d, double-counted %d, %v", lost, double, other)
			}
		})
	}
	t.Logf("s3: %d trials, %d events each (fact increments): lost %d, double-counted %d", n, want.events(), totalLost, totalDouble)
}

// waitCommitted polls the crash group's committed offsets until one
// partition has one (at most 60s).
func waitCommitted(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := (&kafka.Client{Addr: kafka.TCP(addr)}).OffsetFetch(context.Background(), &kafka.OffsetFetchRequest{
			GroupID: "crash", Topics: map[string][]int{topic: {0, 1, 2}}})
		if err == nil {
			for _, p := range resp.Topics[topic] {
				if p.CommittedOffset >= 0 {
					return
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no offset committed within 60s (last error %v)", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
