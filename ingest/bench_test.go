package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/iamd/iamd/store"
)

// The benchmarks read the invictus log files (2,900 real records, 1.26 KB
// each) replicated with distinct eventIDs, gzipped as CloudTrail delivers
// them. IAMD_BENCH_COPIES sets the number of copies (default 20; the
// trailscraper comparison uses 200 = 580,000 records). The input is built
// once per process in a temporary directory (or IAMD_BENCH_DIR, kept), never
// committed.

const invictusDir = sharedCloudTrail + "/invictus-ir-aws_dataset/CloudTrail"

type benchInput struct {
	dir     string
	files   []string
	records int64
	bytes   int64 // compressed
}

var eventIDRe = regexp.MustCompile(`"eventID":\s*"([0-9a-f]{8})`)

// buildBenchInput writes copies × the invictus files as .json.gz.
// readInvictus returns the invictus log files' paths, sorted, and
// contents; it skips tb when the shared data is absent.
func readInvictus(tb testing.TB) (src []string, raws [][]byte) {
	tb.Helper()
	src, err := filepath.Glob(filepath.Join(invictusDir, "*.json"))
	if err != nil || len(src) == 0 {
		tb.Skipf("shared test data not found at %s", invictusDir)
	}
	sort.Strings(src)
	for _, f := range src {
		b, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		raws = append(raws, b)
	}
	return src, raws
}

func buildBenchInput(tb testing.TB, dir string, copies int) benchInput {
	tb.Helper()
	src, raws := readInvictus(tb)
	in := benchInput{dir: dir}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	if existing, _ := filepath.Glob(filepath.Join(dir, "*.json.gz")); len(existing) == copies*len(src) {
		in.files = existing
	}
	var perCopy int64
	for _, b := range raws {
		perCopy += int64(len(eventIDRe.FindAll(b, -1)))
	}
	in.records = perCopy * int64(copies)
	if in.files != nil {
		for _, f := range in.files {
			fi, _ := os.Stat(f)
			in.bytes += fi.Size()
		}
		return in
	}
	for c := range copies {
		for i, b := range raws {
			// Distinct eventIDs per copy: XOR the copy number into the
			// first 8 hex digits (still a UUID).
			out := eventIDRe.ReplaceAllFunc(b, func(m []byte) []byte {
				h := m[len(m)-8:]
				v, _ := strconv.ParseUint(string(h), 16, 32)
				return fmt.Appendf(nil, `"eventID":"%08x`, uint32(v)^uint32(c*2654435761))
			})
			p := filepath.Join(dir, fmt.Sprintf("c%03d_%s.gz", c, filepath.Base(src[i])))
			var buf bytes.Buffer
			w := gzip.NewWriter(&buf)
			w.Write(out)
			w.Close()
			if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
				tb.Fatal(err)
			}
			in.files = append(in.files, p)
			in.bytes += int64(buf.Len())
		}
	}
	return in
}

var benchOnce struct {
	sync.Once
	in benchInput
}

func benchData(b *testing.B) benchInput {
	b.Helper()
	benchOnce.Do(func() {
		copies := 20
		if v := os.Getenv("IAMD_BENCH_COPIES"); v != "" {
			copies, _ = strconv.Atoi(v)
		}
		dir := os.Getenv("IAMD_BENCH_DIR")
		if dir == "" {
			d, err := os.MkdirTemp("", "iamd-bench-")
			if err != nil {
				b.Fatal(err)
			}
			dir = d
		}
		benchOnce.in = buildBenchInput(b, dir, copies)
	})
	if benchOnce.in.files == nil {
		b.Skip("no bench input")
	}
	return benchOnce.in
}

// forFiles runs fn over the files on GOMAXPROCS goroutines.
func forFiles(files []string, fn func(f string) error) error {
	return forEach(len(files), func(i int) error { return fn(files[i]) })
}

// forEach runs fn for 0 ≤ i < n on GOMAXPROCS goroutines.
func forEach(n int, fn func(i int) error) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, runtime.GOMAXPROCS(0))
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := fn(i); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// cpuTime is the process's user+system CPU time. On a shared machine the
// wall-clock rate depends on the neighbours; records per CPU-second does
// not, so both are reported.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// measure runs body b.N times and reports records per wall second and
// per CPU second.
//
// It counts b.N itself rather than using b.Loop: a b.Loop benchmark runs
// its whole measurement in the testing package's first call, before the
// -cpu value is applied, so with -cpu 1,2 both results came from the
// GOMAXPROCS in force before (seen by printing runtime.GOMAXPROCS in
// forFiles). With b.N the first call is a one-pass probe and the
// reported runs have the GOMAXPROCS they are labelled with.
func measure(b *testing.B, records int64, body func()) {
	b.Helper()
	var cpu time.Duration
	b.ResetTimer()
	for range b.N {
		c0 := cpuTime()
		body()
		cpu += cpuTime() - c0
	}
	b.ReportMetric(float64(records)*float64(b.N)/b.Elapsed().Seconds(), "rec/s")
	if cpu > 0 {
		b.ReportMetric(float64(records)*float64(b.N)/cpu.Seconds(), "rec/cpu-s")
	}
	b.ReportMetric(0, "ns/op")
}

// BenchmarkGunzipFloor is the floor: gunzip alone (klauspost) of the same
// files, discarding the output.
func BenchmarkGunzipFloor(b *testing.B) {
	in := benchData(b)
	b.SetBytes(in.bytes)
	measure(b, in.records, func() {
		err := forFiles(in.files, func(f string) error {
			fh, err := os.Open(f)
			if err != nil {
				return err
			}
			defer fh.Close()
			gz, err := gzip.NewReader(fh)
			if err != nil {
				return err
			}
			_, err = io.Copy(io.Discard, gz)
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkGunzipMemory is the floor without the file system: the same
// files' compressed bytes, read into memory first, gunzipped. Against
// GunzipFloor it shows what opening and reading the files costs, and how
// that part scales with cores.
func BenchmarkGunzipMemory(b *testing.B) {
	in := benchData(b)
	blobs := make([][]byte, len(in.files))
	for i, f := range in.files {
		d, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		blobs[i] = d
	}
	b.SetBytes(in.bytes)
	measure(b, in.records, func() {
		err := forEach(len(blobs), func(i int) error {
			gz, err := gzip.NewReader(bytes.NewReader(blobs[i]))
			if err != nil {
				return err
			}
			_, err = io.Copy(io.Discard, gz)
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkGunzipScan is a bound, not a stage of ingest: the floor's
// gunzip, plus finding where each record ends (the skip every decoder
// needs to pass a record it reads nothing of), with no field read. The
// gap between it and the floor is the least any JSON reader of these
// files adds; Decode and IngestStore add fields, mapping and the store.
func BenchmarkGunzipScan(b *testing.B) {
	in := benchData(b)
	b.SetBytes(in.bytes)
	bufs := make(chan *bytes.Buffer, runtime.GOMAXPROCS(0)+1)
	for range cap(bufs) {
		bufs <- new(bytes.Buffer)
	}
	measure(b, in.records, func() {
		var n atomic.Int64
		err := forFiles(in.files, func(f string) error {
			fh, err := os.Open(f)
			if err != nil {
				return err
			}
			defer fh.Close()
			gz, err := gzip.NewReader(fh)
			if err != nil {
				return err
			}
			buf := <-bufs
			defer func() { bufs <- buf }()
			buf.Reset()
			if _, err := buf.ReadFrom(gz); err != nil {
				return err
			}
			records, err := scanRecords(buf.Bytes())
			n.Add(records)
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
		if n.Load() != in.records {
			b.Fatalf("scanned %d records, want %d", n.Load(), in.records)
		}
	})
}

// scanRecords passes over each record of a {"Records":[…]} log file.
func scanRecords(doc []byte) (int64, error) {
	var records int64
	p := &jsonParser{b: doc}
	err := p.object(func(k []byte) error {
		if string(k) != "Records" {
			return p.skip()
		}
		p.ws()
		if p.i >= len(p.b) || p.b[p.i] != '[' {
			return p.errf("expected array")
		}
		p.i++
		for {
			if err := p.skip(); err != nil {
				return err
			}
			records++
			if more, err := p.more(']', "array"); !more {
				return err
			}
		}
	})
	return records, err
}

// BenchmarkDecode converts the files into Results without a store.
func BenchmarkDecode(b *testing.B) {
	in := benchData(b)
	c := testConverter(b)
	b.SetBytes(in.bytes)
	measure(b, in.records, func() {
		var n atomic.Int64
		err := forFiles(in.files, func(f string) error {
			fh, err := os.Open(f)
			if err != nil {
				return err
			}
			defer fh.Close()
			counts, err := c.Decode(context.Background(), f, fh, func(Result) error { return nil })
			n.Add(counts.Records)
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
		if n.Load() != in.records {
			b.Fatalf("decoded %d records, want %d", n.Load(), in.records)
		}
	})
}

// BenchmarkDecodeMemory converts the invictus files, held uncompressed in
// memory, on one goroutine: the parse and convert cost alone, without
// gunzip, files and scheduling, steady enough to compare changes to the
// decoder on a shared machine.
func BenchmarkDecodeMemory(b *testing.B) {
	src, raws := readInvictus(b)
	var size int64
	for _, raw := range raws {
		size += int64(len(raw))
	}
	c := testConverter(b)
	b.SetBytes(size)
	var records int64
	for b.Loop() {
		records = 0
		for i, raw := range raws {
			counts, err := c.Decode(context.Background(), src[i], bytes.NewReader(raw), func(Result) error { return nil })
			if err != nil {
				b.Fatal(err)
			}
			records += counts.Records
		}
	}
	b.ReportMetric(float64(records)*float64(b.N)/b.Elapsed().Seconds(), "rec/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(records*int64(b.N)), "ns/rec")
}

// BenchmarkIngestStore runs the whole pipeline into a Badger store on
// disk (a fresh store per iteration).
func BenchmarkIngestStore(b *testing.B) {
	in := benchData(b)
	c := testConverter(b)
	b.SetBytes(in.bytes)
	measure(b, in.records, func() {
		b.StopTimer()
		dir := b.TempDir()
		db, err := store.Open(store.Options{Dir: dir})
		if err != nil {
			b.Fatal(err)
		}
		p, err := NewPipeline(PipelineOptions{Converter: c, Writer: db, Checkpoints: db, Now: time.Now})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		sum, err := p.Run(context.Background(), []string{in.dir})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if sum.Records != in.records {
			b.Fatalf("ingested %d records, want %d", sum.Records, in.records)
		}
		db.Close()
		b.StartTimer()
	})
}

// TestBuildBenchInput writes the benchmark input to IAMD_BENCH_DIR for a
// run of the iamd binary (peak RSS): IAMD_BENCH_DIR=/tmp/x
// IAMD_BENCH_COPIES=200 go test -run TestBuildBenchInput ./ingest.
func TestBuildBenchInput(t *testing.T) {
	dir := os.Getenv("IAMD_BENCH_DIR")
	if dir == "" {
		t.Skip("set IAMD_BENCH_DIR (and IAMD_BENCH_COPIES) to build the benchmark input")
	}
	copies := 200
	if v := os.Getenv("IAMD_BENCH_COPIES"); v != "" {
		copies, _ = strconv.Atoi(v)
	}
	in := buildBenchInput(t, dir, copies)
	t.Logf("%d files, %d records, %d bytes gzipped in %s", len(in.files), in.records, in.bytes, dir)
}

// BenchmarkParseRecord runs the record parser alone over the invictus
// records held in memory, one goroutine, no conversion: the JSON part of
// decoding, for comparing changes to fastjson.go on a shared machine.
func BenchmarkParseRecord(b *testing.B) {
	_, raws := readInvictus(b)
	var recs []json.RawMessage
	var size int64
	for _, raw := range raws {
		var file struct{ Records []json.RawMessage }
		if err := json.Unmarshal(raw, &file); err != nil {
			b.Fatal(err)
		}
		for _, r := range file.Records {
			recs = append(recs, r)
			size += int64(len(r))
		}
	}
	strs := newInterner()
	var r record
	b.SetBytes(size)
	for b.Loop() {
		for _, raw := range recs {
			r = record{}
			if _, err := parseRecordPrefix(raw, &r, strs); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(len(recs)*b.N), "ns/rec")
}
