package store

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// workload generates a realistic event mix: 100 principals, 300
// actions, 5,000 resources. Like real trails it is skewed: a few
// principals make most calls, each principal works with its own ~30
// actions and each of those with ~40 resources, so distinct facts grow
// far slower than events. UUID event IDs, access keys (ASIA session keys
// for roles), source IPs, user agents and role session names.
type workload struct {
	rng        *rand.Rand
	principals []string
	actions    []string
	resources  []string
	keys       []string  // access key per principal
	acts       [][]int   // per principal: its actions
	res        [][][]int // per principal and action: its resources
	zp, z30    *rand.Zipf
	z40        *rand.Zipf
	seq        uint64
	t          time.Time
}

func newWorkload(seed uint64) *workload {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	w := &workload{rng: rng, t: time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)}
	services := []string{"s3", "ec2", "iam", "kms", "sqs", "sns", "dynamodb", "lambda", "logs", "sts"}
	verbs := []string{"Get", "List", "Describe", "Put", "Create", "Delete", "Update", "Tag", "Untag", "Invoke"}
	nouns := []string{"Object", "Bucket", "Instances", "Role", "Key", "Queue", "Topic", "Item"}
	for i := range 300 {
		s := services[i%len(services)]
		w.actions = append(w.actions, fmt.Sprintf("%s:%s%s%d", s, verbs[(i/10)%len(verbs)], nouns[(i/7)%len(nouns)], i))
	}
	for i := range 5000 {
		w.resources = append(w.resources, fmt.Sprintf("arn:aws:s3:::bucket-%02d/data/2026/%05d/part-%04d.parquet", i%40, i, i*7%10000))
	}
	for i := range 100 {
		if i%3 == 0 {
			w.principals = append(w.principals, fmt.Sprintf("arn:aws:iam::111122223333:role/service-role-%03d", i))
		} else {
			w.principals = append(w.principals, fmt.Sprintf("arn:aws:iam::111122223333:user/engineer-%03d", i))
		}
		w.keys = append(w.keys, fmt.Sprintf("AKIA%016d", i))
		acts := make([]int, 30)
		res := make([][]int, 30)
		for j := range acts {
			acts[j] = rng.IntN(len(w.actions))
			res[j] = make([]int, 40)
			for k := range res[j] {
				res[j][k] = rng.IntN(len(w.resources))
			}
		}
		w.acts = append(w.acts, acts)
		w.res = append(w.res, res)
	}
	w.zp = rand.NewZipf(rng, 1.2, 4, uint64(len(w.principals)-1))
	w.z30 = rand.NewZipf(rng, 1.1, 2, 29)
	w.z40 = rand.NewZipf(rng, 1.1, 2, 39)
	return w
}

func (w *workload) uuid() string {
	a, b := w.rng.Uint64(), w.rng.Uint64()
	return fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", a>>32, a>>16&0xffff, a&0xffff, b>>48, b&0xffffffffffff)
}

func (w *workload) event() Event {
	w.seq++
	p := int(w.zp.Uint64())
	a := int(w.z30.Uint64())
	e := Event{
		ID:        w.uuid(),
		Time:      w.t.Add(time.Duration(w.seq) * 50 * time.Millisecond),
		Principal: w.principals[p],
		AccountID: "111122223333",
		SourceIP:  "10.0." + strconv.Itoa(p%7) + "." + strconv.Itoa(w.rng.IntN(20)),
		UserAgent: []string{"aws-cli/2.15.0 Python/3.11", "Boto3/1.34.0 md/Botocore#1.34.0", "aws-sdk-go-v2/1.30.0", "console.amazonaws.com"}[w.rng.IntN(4)],
		Region:    "us-east-1",
		Uses:      []Use{{Action: w.actions[w.acts[p][a]], Resource: w.resources[w.res[p][a][w.z40.Uint64()]]}},
	}
	if w.rng.IntN(50) == 0 {
		e.Outcome = OutcomeDenied
	}
	if strings.Contains(e.Principal, ":role/") {
		e.SessionName = "session-" + strconv.Itoa(w.rng.IntN(40))
		e.AccessKeyID = fmt.Sprintf("ASIA%016d", w.rng.IntN(1000))
	} else {
		e.AccessKeyID = w.keys[p]
	}
	return e
}

func (w *workload) batch(n int) *Batch {
	b := &Batch{Events: make([]Event, n)}
	for i := range b.Events {
		b.Events[i] = w.event()
	}
	b.Checkpoints = []Checkpoint{{Source: "kafka:cloudtrail/0", Position: strconv.FormatUint(w.seq, 10)}}
	return b
}

func openDisk(b *testing.B) *DB {
	b.Helper()
	db, err := Open(Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db
}

// BenchmarkWrite measures Write throughput with 1,000-event batches of
// the realistic mix on disk.
func BenchmarkWrite(b *testing.B) {
	db := openDisk(b)
	w := newWorkload(1)
	batches := make([]*Batch, 0, 64)
	for range 64 {
		batches = append(batches, w.batch(1000))
	}
	ctx := context.Background()
	b.ResetTimer()
	for i := range b.N {
		if i%len(batches) == 0 && i > 0 {
			b.StopTimer()
			batches = batches[:0]
			for range 64 {
				batches = append(batches, w.batch(1000))
			}
			b.StartTimer()
		}
		if _, err := db.Write(ctx, batches[i%len(batches)]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*1000)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkWriteWarm measures Write on a store that already holds
// 200,000 events of the mix (written before the timer starts), as a
// long-running ingest sees it, with the aggregate cache at its default
// and off.
func BenchmarkWriteWarm(b *testing.B) {
	for _, bc := range []struct {
		name  string
		cache int
	}{{"cache", 0}, {"nocache", -1}} {
		b.Run(bc.name, func(b *testing.B) {
			db, err := Open(Options{Dir: b.TempDir(), AggregateCache: bc.cache})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { db.Close() })
			w := newWorkload(1)
			ctx := context.Background()
			for range 200 {
				if _, err := db.Write(ctx, w.batch(1000)); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			writeFresh(b, db, w)
		})
	}
}

// BenchmarkWriteLegacyDedup is BenchmarkWrite on a store migrated from
// schema 1 whose 200,000 legacy dedup entries (legacydedup.go) have not
// expired yet: events older than the bound the migration recorded (a
// backfill of old events) cost a point read more each, newer ones
// nothing.
func BenchmarkWriteLegacyDedup(b *testing.B) {
	for _, bc := range []struct {
		name string
		old  bool
	}{{"old-events", true}, {"new-events", false}} {
		b.Run(bc.name, func(b *testing.B) {
			db := openDisk(b)
			w := newWorkload(1)
			until := db.opts.Now().Add(DefaultDedupTTL).Unix()
			for chunk := range 200 {
				err := db.bdb.Update(func(txn *badger.Txn) error {
					for i := range 1000 {
						if err := putLegacy(txn, dedupHash(fmt.Sprintf("v1-%d-%d", chunk, i)), until, 0); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			db.legacy = legacyBounds{until: until, before: w.t.Unix()}
			if bc.old {
				db.legacy.before = math.MaxInt64
			}
			b.ResetTimer()
			writeFresh(b, db, w)
		})
	}
}

// writeFresh writes b.N new 1,000-event batches of w, generated outside
// the timer, and reports events/s.
func writeFresh(b *testing.B, db *DB, w *workload) {
	ctx := context.Background()
	batches := make([]*Batch, 0, 64)
	for i := range b.N {
		if i%64 == 0 {
			b.StopTimer()
			batches = batches[:0]
			for range 64 {
				batches = append(batches, w.batch(1000))
			}
			b.StartTimer()
		}
		if _, err := db.Write(ctx, batches[i%64]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*1000)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkWriteDuplicates measures a fully redelivered batch (dedup
// lookups only).
func BenchmarkWriteDuplicates(b *testing.B) {
	db := openDisk(b)
	w := newWorkload(2)
	batch := w.batch(1000)
	ctx := context.Background()
	if _, err := db.Write(ctx, batch); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		if res, err := db.Write(ctx, batch); err != nil || res.Duplicates != 1000 {
			b.Fatal(res, err)
		}
	}
	b.ReportMetric(float64(b.N*1000)/b.Elapsed().Seconds(), "events/s")
}

// loaded returns a disk store with n events of the mix written.
func loaded(b *testing.B, n int) (*DB, *workload) {
	b.Helper()
	db := openDisk(b)
	w := newWorkload(3)
	ctx := context.Background()
	for i := 0; i < n; i += 1000 {
		if _, err := db.Write(ctx, w.batch(1000)); err != nil {
			b.Fatal(err)
		}
	}
	return db, w
}

// BenchmarkQueries measures per-principal and per-key lookups on a store
// holding 200k events.
func BenchmarkQueries(b *testing.B) {
	db, w := loaded(b, 200_000)
	ctx := context.Background()
	b.Run("FactsOfPrincipal", func(b *testing.B) {
		n := 0
		for i := range b.N {
			fs, err := db.Facts(ctx, FactQuery{Principal: w.principals[i%len(w.principals)]})
			if err != nil {
				b.Fatal(err)
			}
			n += len(fs)
		}
		b.ReportMetric(float64(n)/float64(b.N), "facts/op")
	})
	b.Run("FactsOfPrincipalActionPrefix", func(b *testing.B) {
		for i := range b.N {
			if _, err := db.Facts(ctx, FactQuery{Principal: w.principals[i%len(w.principals)], ActionPrefix: "s3:"}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("KeyUsage", func(b *testing.B) {
		for i := range b.N {
			if _, ok, err := db.KeyUsage(ctx, w.keys[3*(i%33)+1]); err != nil || !ok {
				b.Fatal(ok, err)
			}
		}
	})
	b.Run("KeysOf", func(b *testing.B) {
		for i := range b.N {
			if _, err := db.KeysOf(ctx, w.principals[i%len(w.principals)]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("DayCounts", func(b *testing.B) {
		for i := range b.N {
			if _, err := db.DayCounts(ctx, w.principals[1], w.actions[i%len(w.actions)]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("AllFacts", func(b *testing.B) {
		n := 0
		for range b.N {
			if err := db.EachFact(ctx, FactQuery{}, func(Fact) error { n++; return nil }); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(n)/float64(b.N), "facts/op")
	})
}

// BenchmarkVolume writes IAMD_BENCH_EVENTS events (default 2,000,000) of
// the mix into a fresh on-disk store once and reports throughput, store
// size per million events and peak memory. IAMD_BENCH_NOCOMPRESS=1 sets
// Options.DisableCompression. Run it alone so the peak RSS
// is its own:
//
//	go test ./store -run '^$' -bench BenchmarkVolume -benchtime 1x
func BenchmarkVolume(b *testing.B) {
	total := 2_000_000
	if s := os.Getenv("IAMD_BENCH_EVENTS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			b.Fatalf("IAMD_BENCH_EVENTS: %v", err)
		}
		total = n
	}
	for range b.N {
		dir := b.TempDir()
		db, err := Open(Options{Dir: dir, DisableCompression: os.Getenv("IAMD_BENCH_NOCOMPRESS") != ""})
		if err != nil {
			b.Fatal(err)
		}
		w := newWorkload(4)
		ctx := context.Background()
		var peakHeap uint64
		var peakAnon, peakFile int64 // sampled, so below the true peaks
		var ms runtime.MemStats
		start := time.Now()
		for i := 0; i < total; i += 1000 {
			if _, err := db.Write(ctx, w.batch(min(1000, total-i))); err != nil {
				b.Fatal(err)
			}
			if i%20_000 == 0 {
				runtime.ReadMemStats(&ms)
				anon, file := rssParts()
				peakAnon, peakFile = max(peakAnon, anon), max(peakFile, file)
				if ms.HeapInuse > peakHeap {
					peakHeap = ms.HeapInuse
					writeHeapProfile(b, os.Getenv("IAMD_BENCH_HEAPPROFILE"))
				}
			}
		}
		elapsed := time.Since(start)
		st, err := db.Stats(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if err := db.Close(); err != nil {
			b.Fatal(err)
		}
		size := dirSize(b, dir)
		runtime.ReadMemStats(&ms)
		mevents := float64(total) / 1e6
		b.ReportMetric(float64(total)/elapsed.Seconds(), "events/s")
		b.ReportMetric(float64(size)/mevents/(1<<20), "MiB/Mevents")
		b.ReportMetric(float64(peakHeap)/(1<<20), "peak-heap-MiB")
		b.ReportMetric(float64(ms.Sys)/(1<<20), "go-sys-MiB")
		b.ReportMetric(float64(peakRSS())/(1<<20), "peak-RSS-MiB")
		b.ReportMetric(float64(peakAnon)/(1<<20), "anon-RSS-MiB")
		b.ReportMetric(float64(peakFile)/(1<<20), "file-RSS-MiB")
		b.Logf("%d events in %v: facts %d, day counts %d, keys %d, principals %d, dedup %d, on disk %d bytes",
			total, elapsed.Round(time.Millisecond), st.Facts, st.DayCounts, st.Keys, st.Principals, st.Dedup, size)
	}
}

func dirSize(b *testing.B, dir string) int64 {
	var n int64
	err := filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			n += fi.Size()
		}
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	return n
}

// rssParts reads the current anonymous and file-backed (mmapped SSTables
// and value log, reclaimable by the kernel) resident sizes (Linux).
func rssParts() (anon, file int64) {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "RssAnon:"); ok {
			anon = parseKB(v)
		}
		if v, ok := strings.CutPrefix(line, "RssFile:"); ok {
			file = parseKB(v)
		}
	}
	return anon, file
}

func parseKB(v string) int64 {
	kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
	return kb << 10
}

// peakRSS reads the process's high-water resident set (Linux); 0
// elsewhere.
func peakRSS() int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			return parseKB(v)
		}
	}
	return 0
}

// writeHeapProfile writes the current heap profile to path, if set.
func writeHeapProfile(b *testing.B, path string) {
	if path == "" {
		return
	}
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := pprof.WriteHeapProfile(f); err != nil {
		b.Fatal(err)
	}
}
