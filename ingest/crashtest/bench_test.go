package crashtest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/iamd/iamd/ingest"
	"github.com/iamd/iamd/ingest/kafkasource"
	"github.com/iamd/iamd/ingest/s3source"
	"github.com/iamd/iamd/ingest/trailgen"
	"github.com/iamd/iamd/store"
)

// The streaming benchmarks ingest one trailgen trail (IAMD_BENCH_EVENTS
// records, default 30,000; 2 accounts × 2 regions) from Kafka (kfake on
// loopback, one message per record, 3 partitions), from S3 (gofakes3, the
// delivery layout) and, for the ratio, from the same files on disk through
// the file pipeline. Each iteration starts on an empty on-disk store; the
// reported events/s counts events written over the wall time from start
// to the last write (Kafka: including the consumer group join).
//
//	go test -run '^$' -bench . -benchtime 1x ./ingest/crashtest/

type benchTrail struct {
	files    map[string][]byte
	records  [][]byte
	dir      string // the files on disk
	expected int64  // distinct events the store must hold
}

var benchOnce struct {
	sync.Once
	t   *benchTrail
	err error
}

func loadBenchTrail(b *testing.B) *benchTrail {
	b.Helper()
	benchOnce.Do(func() {
		n := 30000
		if v := os.Getenv("IAMD_BENCH_EVENTS"); v != "" {
			n, _ = strconv.Atoi(v)
		}
		o := trailgen.DefaultOptions(7)
		o.Events = n
		o.Accounts = []string{"111122223333", "444455556666"}
		g, err := trailgen.New(o)
		if err != nil {
			benchOnce.err = err
			return
		}
		t := &benchTrail{files: map[string][]byte{}, dir: filepath.Join(os.TempDir(), fmt.Sprintf("iamd-bench-streaming-%d", n))}
		ctx := context.Background()
		if _, err := g.WriteLogFiles(ctx, trailgen.SinkFunc(func(_ context.Context, name string, data []byte) error {
			t.files[name] = append([]byte(nil), data...)
			return nil
		})); err != nil {
			benchOnce.err = err
			return
		}
		if _, err := g.Records(ctx, func(r trailgen.Record) error {
			t.records = append(t.records, r.JSON)
			return nil
		}); err != nil {
			benchOnce.err = err
			return
		}
		if err := os.RemoveAll(t.dir); err != nil {
			benchOnce.err = err
			return
		}
		sink := trailgen.DirSink{Dir: t.dir}
		for name, data := range t.files {
			if err := sink.WriteFile(ctx, name, data); err != nil {
				benchOnce.err = err
				return
			}
		}
		benchOnce.t = t
	})
	if benchOnce.err != nil {
		b.Fatal(benchOnce.err)
	}
	return benchOnce.t
}

// expectedEvents ingests the trail once into memory to learn how many
// distinct events it holds.
func (t *benchTrail) expectedEvents(b *testing.B, conv *ingest.Converter) int64 {
	b.Helper()
	if t.expected > 0 {
		return t.expected
	}
	db, err := store.Open(store.Options{InMemory: true})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	for name, data := range t.files {
		out, _ := conv.ConvertPayload(context.Background(), name, data)
		if _, err := db.Write(context.Background(), &store.Batch{Events: out.Events}); err != nil {
			b.Fatal(err)
		}
	}
	st, _ := db.Stats(context.Background())
	t.expected = st.Dedup
	return t.expected
}

func benchStore(b *testing.B) *store.DB {
	b.Helper()
	db, err := store.Open(store.Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	return db
}

func report(b *testing.B, events int64, elapsed time.Duration) {
	b.ReportMetric(float64(events)/elapsed.Seconds(), "events/s")
	b.ReportMetric(0, "ns/op")
}

func BenchmarkKafka(b *testing.B) {
	tr := loadBenchTrail(b)
	conv := newConverter(b)
	want := tr.expectedEvents(b, conv)
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, topic))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	addr := c.ListenAddrs()[0]
	produce(b, addr, tr.records)
	for _, batch := range []int{500, 2000, 5000} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			var elapsed time.Duration
			for range b.N {
				db := benchStore(b)
				src, err := kafkasource.New(kafkasource.Config{
					Brokers: []string{addr}, Topics: []string{topic}, GroupID: fmt.Sprintf("bench-%d-%d", batch, time.Now().UnixNano()),
					SessionTimeout: 6 * time.Second, FetchMaxWait: 100 * time.Millisecond, BatchMaxWait: 200 * time.Millisecond,
					BatchMaxRecords: batch, Decode: kafkasource.FromConverter(conv),
				}, db)
				if err != nil {
					b.Fatal(err)
				}
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan error, 1)
				start := time.Now()
				go func() { done <- src.Run(ctx) }()
				for src.Stats().Written < want {
					if time.Since(start) > 5*time.Minute {
						b.Fatalf("written %d of %d after 5 minutes", src.Stats().Written, want)
					}
					time.Sleep(2 * time.Millisecond)
				}
				elapsed += time.Since(start)
				cancel()
				if err := <-done; err != nil {
					b.Fatal(err)
				}
				db.Close()
			}
			report(b, want*int64(b.N), elapsed)
		})
	}
}

func BenchmarkS3(b *testing.B) {
	tr := loadBenchTrail(b)
	conv := newConverter(b)
	want := tr.expectedEvents(b, conv)
	url := s3Server(b, &dataset{files: tr.files})
	client := s3Client(url)
	for _, batch := range []int{500, 2000, 5000} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			var elapsed time.Duration
			for range b.N {
				db := benchStore(b)
				src, err := s3source.New(s3source.Config{Bucket: bucket, BatchMaxRecords: batch, Decode: s3source.FromConverter(conv)}, client, db)
				if err != nil {
					b.Fatal(err)
				}
				start := time.Now()
				if err := src.Run(context.Background()); err != nil {
					b.Fatal(err)
				}
				elapsed += time.Since(start)
				if got := src.Stats().Written; got != want {
					b.Fatalf("written %d, want %d", got, want)
				}
				db.Close()
			}
			report(b, want*int64(b.N), elapsed)
		})
	}
}

// BenchmarkFiles is the file pipeline on the same trail, for the ratio.
func BenchmarkFiles(b *testing.B) {
	tr := loadBenchTrail(b)
	conv := newConverter(b)
	want := tr.expectedEvents(b, conv)
	var elapsed time.Duration
	for range b.N {
		db := benchStore(b)
		p, err := ingest.NewPipeline(ingest.PipelineOptions{Converter: conv, Writer: db})
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		sum, err := p.Run(context.Background(), []string{tr.dir})
		if err != nil {
			b.Fatal(err)
		}
		elapsed += time.Since(start)
		if sum.Written != want {
			b.Fatalf("written %d, want %d", sum.Written, want)
		}
		db.Close()
	}
	report(b, want*int64(b.N), elapsed)
}
