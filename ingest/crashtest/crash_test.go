package crashtest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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

	"github.com/iamd/iamd/ingest"
	"github.com/iamd/iamd/ingest/kafkasource"
	"github.com/iamd/iamd/ingest/s3source"
	"github.com/iamd/iamd/store"
)

// Environment of a child process, and of the long mode.
const (
	envChild   = "IAMD_CRASHTEST_CHILD"    // "kafka", "s3" or "file"
	envAddr    = "IAMD_CRASHTEST_ADDR"     // broker address, S3 endpoint URL or directory
	envDir     = "IAMD_CRASHTEST_DIR"      // store directory
	envDrain   = "IAMD_CRASHTEST_DRAIN"    // when set: run to the end (Kafka: until checkpoints cover this many messages)
	envBatch   = "IAMD_CRASHTEST_BATCH"    // records per store batch
	envMemTbl  = "IAMD_CRASHTEST_MEMTABLE" // the store's MemTableSize, when set
	envTrials  = "IAMD_CRASH_TRIALS"       // trials per source; setting it selects the long mode
	envRecords = "IAMD_CRASH_RECORDS"      // records per trial (default 1,500; 30,000 in the long mode)

	topic    = "trail"
	bucket   = "trail"
	dataSeed = 20261123
)

// Child exit codes.
const (
	exitDrained    = 0
	exitError      = 2
	exitNotDrained = 3
)

// mode is how the trials of one run are sized. The default (CI) mode
// runs a few trials on a small trail; the long mode, selected by
// IAMD_CRASH_TRIALS, runs tens of thousands of records per trial with
// batches as large as production's, and fails unless 90 % of the kills
// landed while ingest was still storing events.
type mode struct {
	long    bool
	trials  int
	records int
	kills   [2]int // kills per trial: from, to (inclusive)
	// batches per source, in records; the file source's batches are also
	// allowed that many facts.
	batch map[string]int
	// memTable, when set, is the MemTableSize of the file source's store:
	// a quarter of the default, so that its 5,000-record batches take the
	// path that splits a batch over several Badger transactions as
	// 20,000-record ones do with the default, and there are enough writes
	// for kills to fall before, between and after those transactions.
	memTable int64
	// drainTimeout bounds a final child's run.
	drainTimeout time.Duration
}

func crashMode(t *testing.T) mode {
	m := mode{trials: 3, records: 1500, kills: [2]int{1, 3}, drainTimeout: 20 * time.Second,
		batch: map[string]int{"kafka": 40, "s3": 30, "file": 200}}
	if testing.Short() {
		m.trials = 1
	}
	if v := os.Getenv(envTrials); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("%s=%q: want a positive number", envTrials, v)
		}
		m = mode{long: true, trials: n, records: 30000, kills: [2]int{2, 4}, drainTimeout: 5 * time.Minute,
			batch: map[string]int{"kafka": 500, "s3": 2000, "file": 5000}, memTable: store.DefaultMemTableSize / 4}
	}
	if v := os.Getenv(envRecords); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 100 {
			t.Fatalf("%s=%q: want at least 100", envRecords, v)
		}
		m.records = n
	}
	return m
}

// TestChild is the child process; it does nothing in a normal run.
func TestChild(t *testing.T) {
	mode := os.Getenv(envChild)
	if mode == "" {
		t.Skip("child mode only")
	}
	os.Exit(child(t, mode))
}

// progressStore reports on stdout, before each write, how many events
// the store will hold at most once it commits ("writing N"), and after,
// how many it holds ("stored N") and whether the write had to be split
// over several transactions ("split"): the parent kills the child during
// the write that reaches a number of events.
type progressStore struct {
	*store.DB
	stored atomic.Int64
	mu     sync.Mutex
	// checkpoints counts the store's checkpoints when each is written
	// once (files); -1 for sources that overwrite theirs.
	checkpoints int64
}

func (p *progressStore) Write(ctx context.Context, b *store.Batch) (store.WriteResult, error) {
	distinct := map[string]bool{}
	for _, e := range b.Events {
		for _, u := range e.Uses {
			distinct[e.Principal+"\x00"+u.Action+"\x00"+u.Resource] = true
		}
	}
	// What the store will hold once this write commits, at most: the
	// parent kills during the write that reaches its target.
	p.mu.Lock()
	if p.checkpoints >= 0 {
		fmt.Printf("writing %d %d\n", p.stored.Load()+int64(len(b.Events)), p.checkpoints+int64(len(b.Checkpoints)))
	} else {
		fmt.Printf("writing %d\n", p.stored.Load()+int64(len(b.Events)))
	}
	p.mu.Unlock()
	res, err := p.DB.Write(ctx, b)
	if err != nil {
		return res, err
	}
	if p.checkpoints >= 0 {
		p.checkpoints += int64(len(b.Checkpoints))
	}
	n := p.stored.Add(int64(res.Events))
	// A split write sums its transactions' facts, so a fact in two of
	// them counts twice: more facts than the batch has is a split.
	split := ""
	if res.Facts > len(distinct) {
		split = " split"
	}
	p.mu.Lock()
	fmt.Printf("stored %d%s\n", n, split)
	p.mu.Unlock()
	return res, nil
}

func child(t *testing.T, mode string) int {
	// SIGTERM is a graceful stop, as in iamd itself. Caught from the start
	// to the end, store close included: a backfill that has already
	// finished may be closing the store when the SIGTERM comes.
	sigCtx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	memTable, _ := strconv.ParseInt(os.Getenv(envMemTbl), 10, 64)
	db, err := store.Open(store.Options{Dir: os.Getenv(envDir), MemTableSize: memTable})
	if err != nil {
		fmt.Fprintln(os.Stderr, "open store:", err)
		return exitError
	}
	defer db.Close()
	st, err := db.Stats(sigCtx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "store stats:", err)
		return exitError
	}
	ps := &progressStore{DB: db, checkpoints: -1}
	ps.stored.Store(st.Dedup)
	if mode == "file" {
		ps.checkpoints = st.Checkpoints
	}
	conv := newConverter(t)
	ctx, cancel := context.WithCancel(sigCtx)
	defer cancel()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	batch, _ := strconv.Atoi(os.Getenv(envBatch))

	var run func(context.Context) error
	switch mode {
	case "kafka":
		// FetchMaxWait stays at the production default: kafka-go sets the
		// fetch read deadline to MaxWait, and with a very short one on a
		// loaded machine every fetch times out and reconnects.
		src, err := kafkasource.New(kafkasource.Config{
			Brokers: []string{os.Getenv(envAddr)}, Topics: []string{topic}, GroupID: "crash",
			SessionTimeout: time.Second, HeartbeatInterval: 200 * time.Millisecond, RebalanceTimeout: 2 * time.Second,
			FetchMaxWait: 500 * time.Millisecond, BatchMaxWait: 20 * time.Millisecond, BatchMaxRecords: batch,
			Decode: kafkasource.FromConverter(conv), Logger: logger,
		}, ps)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return exitError
		}
		run = src.Run
	case "s3":
		client := s3Client(os.Getenv(envAddr))
		src, err := s3source.New(s3source.Config{Bucket: bucket, Workers: 2, BatchMaxRecords: batch,
			Decode: s3source.FromConverter(conv), Logger: logger}, client, ps)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return exitError
		}
		run = src.Run
	case "file":
		p, err := ingest.NewPipeline(ingest.PipelineOptions{Converter: conv, Writer: ps, Checkpoints: db,
			BatchSize: batch, BatchFacts: batch, Workers: 2, Logger: logger})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return exitError
		}
		run = func(ctx context.Context) error {
			_, err := p.Run(ctx, []string{os.Getenv(envAddr)})
			return err
		}
	}
	want, _ := strconv.ParseInt(os.Getenv(envDrain), 10, 64)
	drain := want > 0
	done := make(chan error, 1)
	fmt.Println("started")
	go func() { done <- run(ctx) }()
	if !drain {
		return finish(<-done)
	}
	timeout, _ := time.ParseDuration(os.Getenv("IAMD_CRASHTEST_TIMEOUT"))
	deadline := time.After(max(timeout, 20*time.Second))
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-done: // the S3 backfill and the file run end by themselves
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
	if err != nil && !errors.Is(err, context.Canceled) {
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

// childProc is a running child and what it reported.
type childProc struct {
	cmd     *exec.Cmd
	stderr  *bytes.Buffer
	stored  atomic.Int64 // events in the store at the last "stored" line
	writing atomic.Int64 // events the write in flight (or the last) reaches, at most
	// checkpoints is how many the store holds once the write in flight
	// commits (file source only: a file's checkpoint is written once).
	checkpoints atomic.Int64
	// writeTime, when set, averages how long the child's writes take
	// (nanoseconds, from a "writing" line to the next "stored"), over
	// the children of a trial.
	writeTime *atomic.Int64
	splits    atomic.Int64 // writes split over several transactions
	ended     chan struct{}
}

// startChild starts the test binary in child mode and waits for it to
// report that ingest started.
func startChild(t *testing.T, m mode, src, addr, dir string, drain int64, writeTime *atomic.Int64) *childProc {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), envChild+"="+src, envAddr+"="+addr, envDir+"="+dir,
		envBatch+"="+strconv.Itoa(m.batch[src]), "IAMD_CRASHTEST_TIMEOUT="+m.drainTimeout.String())
	if drain > 0 {
		cmd.Env = append(cmd.Env, envDrain+"="+strconv.FormatInt(drain, 10))
	}
	if src == "file" && m.memTable > 0 {
		cmd.Env = append(cmd.Env, envMemTbl+"="+strconv.FormatInt(m.memTable, 10))
	}
	c := &childProc{cmd: cmd, stderr: &bytes.Buffer{}, ended: make(chan struct{}), writeTime: writeTime}
	cmd.Stderr = c.stderr
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
				defer close(c.ended)
				var began time.Time
				for sc.Scan() {
					f := strings.Fields(sc.Text())
					if len(f) < 2 {
						continue
					}
					n, _ := strconv.ParseInt(f[1], 10, 64)
					switch f[0] {
					case "writing":
						began = time.Now()
						c.writing.Store(n)
						if len(f) == 3 {
							ck, _ := strconv.ParseInt(f[2], 10, 64)
							c.checkpoints.Store(ck)
						}
					case "stored":
						if wt := c.writeTime; wt != nil && !began.IsZero() {
							d := int64(time.Since(began))
							if old := wt.Load(); old > 0 {
								d = (3*old + d) / 4
							}
							wt.Store(d)
						}
						c.stored.Store(n)
						c.writing.Store(max(c.writing.Load(), n))
						if len(f) == 3 && f[2] == "split" {
							c.splits.Add(1)
						}
					}
				}
			}()
			return c
		}
	}
	cmd.Wait()
	t.Fatalf("child exited before starting: %s", c.stderr.String())
	return nil
}

// trialStats are what the kills of some trials did.
type trialStats struct {
	kills, midIngest int
	inSplit          int // kills between the transactions of a split write
	splits           int64
}

func (s *trialStats) add(o trialStats) {
	s.kills += o.kills
	s.midIngest += o.midIngest
	s.inSplit += o.inSplit
	s.splits += o.splits
}

// crashTrial kills ingest at random moments spread over the whole run,
// each a random delay into the write that reaches a random number of
// events (as the child reports them), then lets it finish, and returns
// the store's snapshot. A kill is mid-ingest when the store it leaves
// holds fewer events than the whole trail (want).
func crashTrial(t *testing.T, r *rand.Rand, m mode, src, addr string, drain int64, want int64) (snapshot, trialStats) {
	dir := t.TempDir()
	var ts trialStats
	// writeTime is the average time a write took so far, in nanoseconds.
	var writeTime atomic.Int64
	kills := m.kills[0] + r.IntN(m.kills[1]-m.kills[0]+1)
	for k := range kills {
		// Spread over the run: the k-th of kills targets fall in the k-th
		// slice of the events.
		target := (int64(k)*want + r.Int64N(want)) / int64(kills)
		c := startChild(t, m, src, addr, dir, 0, &writeTime)
		exited := false
		for c.writing.Load() < target && !exited {
			select {
			case <-c.ended:
				exited = true
			case <-time.After(time.Millisecond):
			}
		}
		// Anywhere in the write, as long as writes take here (their
		// average so far; a split write commits some transactions
		// before the end): a fixed delay lands after the last commit on
		// a fast machine and in the first write on a slow one. The last
		// write is often short (the rest of a batch): early in it.
		span := max(writeTime.Load(), int64(time.Millisecond))
		if c.writing.Load() >= want {
			span /= 3
		}
		delay := time.Duration(r.Int64N(span))
		time.Sleep(delay)
		if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Logf("kill %d: %v (child already done)", k, err)
		}
		err := c.cmd.Wait()
		if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() > 0 {
			t.Fatalf("child failed before kill %d: %v\n%s", k, err, c.stderr)
		}
		<-c.ended
		ts.splits += c.splits.Load()
		db, err := store.Open(store.Options{Dir: dir})
		if err != nil {
			t.Fatalf("open store after kill %d: %v", k, err)
		}
		st, err := db.Stats(context.Background())
		db.Close()
		if err != nil {
			t.Fatal(err)
		}
		ts.kills++
		mid := st.Dedup < want
		if mid {
			ts.midIngest++
		}
		// A write is one transaction unless it was split, and a split
		// write commits its checkpoints last: events of the write in
		// flight durable without all its checkpoints means the kill fell
		// between its transactions.
		if ck := c.checkpoints.Load(); ck > 0 && st.Dedup > c.stored.Load() && st.Checkpoints < ck {
			ts.inSplit++
		}
		t.Logf("kill %d %v into the write reaching %d events: %d of %d events, %d checkpoints stored (mid-ingest %v)", k, delay, target, st.Dedup, want, st.Checkpoints, mid)
	}
	// The final child runs to the end. A child that makes no progress for
	// its timeout exits with exitNotDrained and is restarted, as a
	// supervisor would: after early kills a Kafka consumer occasionally
	// never gets an assignment (seen with kfake and kafka-go; the data is
	// untouched, the comparison below still decides).
	for attempt := 1; ; attempt++ {
		c := startChild(t, m, src, addr, dir, drain, nil)
		err := c.cmd.Wait()
		<-c.ended
		ts.splits += c.splits.Load()
		if err == nil {
			break
		}
		if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == exitNotDrained && attempt < 3 {
			t.Logf("final child stalled (attempt %d), restarting: %s", attempt, c.stderr)
			continue
		}
		t.Fatalf("final child (attempt %d): %v\n%s", attempt, err, c.stderr)
	}
	db, err := store.Open(store.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	return takeSnapshot(t, db), ts
}

// runTrials runs m.trials crash trials of one source, each on a fresh
// store, and checks each against the uninterrupted reference and the
// generator's manifest.
func runTrials(t *testing.T, m mode, d *dataset, src string, want snapshot, setup func(t *testing.T) (addr string, drain int64), stream uint64) {
	if want.Dedup < int64(m.records)*9/10 || len(want.Quarantined) == 0 {
		t.Fatalf("reference ingest looks wrong: dedup %d of %d records, quarantine %v", want.Dedup, m.records, want.Quarantined)
	}
	if diffs, gaps := compareManifest(d.manifest, want, want); len(diffs) > 0 {
		t.Fatalf("the uninterrupted reference differs from the manifest (%d gaps skipped): %v", gaps, diffs)
	}
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), stream))
	var total trialStats
	var lost, double uint64
	for trial := range m.trials {
		seed := r.Uint64()
		t.Run(fmt.Sprintf("trial-%d-seed-%d", trial, seed), func(t *testing.T) {
			addr, drain := setup(t)
			got, ts := crashTrial(t, rand.New(rand.NewPCG(seed, stream+1)), m, src, addr, drain, want.Dedup)
			total.add(ts)
			l, dbl, other := compare(want, got)
			lost += l
			double += dbl
			if l != 0 || dbl != 0 || len(other) > 0 {
				t.Errorf("against the uninterrupted ingest: lost %d, double-counted %d, %v", l, dbl, other)
			}
			if diffs, _ := compareManifest(d.manifest, want, got); len(diffs) > 0 {
				t.Errorf("against the manifest: %v", diffs)
			}
		})
	}
	share := 0.0
	if total.kills > 0 {
		share = float64(total.midIngest) / float64(total.kills)
	}
	t.Logf("%s: %d trials of %d records (%d events, %d facts, %d fact increments): %d kills, %d mid-ingest (%.0f %%), %d split writes, %d kills between a split write's transactions; lost %d, double-counted %d",
		src, m.trials, m.records, want.Dedup, len(want.Facts), want.events(), total.kills, total.midIngest, 100*share, total.splits, total.inSplit, lost, double)
	if m.long && share < 0.9 {
		t.Errorf("%s: only %d of %d kills landed mid-ingest (%.0f %%), want at least 90 %%: the trials do not crash ingest", src, total.midIngest, total.kills, 100*share)
	}
	if m.long && src == "file" && total.splits == 0 {
		t.Errorf("file: no write was split over several transactions: the batches are too small to test that path")
	}
}

func TestCrashKafka(t *testing.T) {
	m := crashMode(t)
	d := newDataset(t, dataSeed, m)
	payloads := map[string][]byte{}
	for i, msg := range d.messages {
		payloads[fmt.Sprintf("msg-%05d", i)] = msg
	}
	want := reference(t, newConverter(t), payloads)
	runTrials(t, m, d, "kafka", want, func(t *testing.T) (string, int64) {
		c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, topic), kfake.GroupMinSessionTimeout(500*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		addr := c.ListenAddrs()[0]
		produce(t, addr, d.messages)
		return addr, int64(len(d.messages))
	}, 1)
}

func TestCrashS3(t *testing.T) {
	m := crashMode(t)
	d := newDataset(t, dataSeed, m)
	want := reference(t, newConverter(t), d.filePayloads("s3://"+bucket+"/"))
	url := s3Server(t, d)
	runTrials(t, m, d, "s3", want, func(*testing.T) (string, int64) { return url, 1 }, 3)
}

// TestCrashFiles kills `iamd ingest`'s file pipeline: partly read files
// are read again (their checkpoint is written only with their last
// batch) and dedup absorbs what was stored before the kill.
func TestCrashFiles(t *testing.T) {
	m := crashMode(t)
	d := newDataset(t, dataSeed, m)
	want := reference(t, newConverter(t), d.filePayloads(""))
	dir := t.TempDir()
	d.writeDir(t, dir)
	runTrials(t, m, d, "file", want, func(*testing.T) (string, int64) { return dir, 1 }, 5)
}

// TestGracefulSIGTERM stops ingest with SIGTERM mid-stream: the child
// must exit cleanly having written and committed its batch in flight
// (Kafka: the group's committed offsets equal the store's checkpoints),
// and a restart must complete the data with nothing lost or doubled.
func TestGracefulSIGTERM(t *testing.T) {
	m := crashMode(t)
	d := newDataset(t, dataSeed, m)
	conv := newConverter(t)
	for _, src := range []string{"kafka", "s3"} {
		t.Run(src, func(t *testing.T) {
			payloads := map[string][]byte{}
			var addr string
			var drain int64 = 1
			if src == "kafka" {
				for i, msg := range d.messages {
					payloads[fmt.Sprintf("msg-%05d", i)] = msg
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
				payloads = d.filePayloads("s3://" + bucket + "/")
				addr = s3Server(t, d)
			}
			want := reference(t, conv, payloads)
			dir := t.TempDir()
			c := startChild(t, m, src, addr, dir, 0, nil)
			// SIGTERM once a first batch is stored, not after a fixed
			// delay: on a loaded machine the child may not have stored
			// anything 150ms in, and the check below needs a batch.
			for c.stored.Load() == 0 {
				select {
				case <-c.ended:
					t.Fatalf("child ended before storing anything: %s", c.stderr)
				case <-time.After(time.Millisecond):
				}
			}
			if src == "kafka" {
				waitCommitted(t, addr)
			}
			if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			if err := c.cmd.Wait(); err != nil {
				t.Fatalf("child after SIGTERM: %v\n%s", err, c.stderr)
			}
			if src == "kafka" {
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
			c = startChild(t, m, src, addr, dir, drain, nil)
			if err := c.cmd.Wait(); err != nil {
				t.Fatalf("final child: %v\n%s", err, c.stderr)
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
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := w.WriteMessages(ctx, km...); err != nil {
		t.Fatalf("produce: %v", err)
	}
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
