package trailgen

import (
	"context"
	"io"
	"path/filepath"
	"testing"
	"time"
)

func benchOptions() Options {
	o := DefaultOptions(1)
	o.Events = 50000
	o.Users, o.Roles = 20, 12
	o.Days = 1
	return o
}

// BenchmarkRecords measures generation alone: records built and encoded
// to JSON (SetBytes: JSON bytes per op).
func BenchmarkRecords(b *testing.B) {
	g := mustNew(b, benchOptions())
	var size int64
	start := time.Now()
	for b.Loop() {
		size = 0
		if _, err := g.Records(context.Background(), func(r Record) error { size += int64(len(r.JSON)); return nil }); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(size)
	b.ReportMetric(float64(g.Total())*float64(b.N)/time.Since(start).Seconds(), "records/s")
}

// BenchmarkWriteLogFiles measures the S3 layout output: generation,
// grouping into files and gzip (SetBytes: gzipped bytes per op).
func BenchmarkWriteLogFiles(b *testing.B) {
	g := mustNew(b, benchOptions())
	var gz int64
	files := 0
	sink := SinkFunc(func(_ context.Context, _ string, data []byte) error { gz += int64(len(data)); files++; return nil })
	start := time.Now()
	for b.Loop() {
		gz, files = 0, 0
		if _, err := g.WriteLogFiles(context.Background(), sink); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(gz)
	b.ReportMetric(float64(g.Total())*float64(b.N)/time.Since(start).Seconds(), "records/s")
	b.ReportMetric(float64(files), "files/op")
}

// BenchmarkWriteJSONLinesEventBridge measures the envelope stream.
func BenchmarkWriteJSONLinesEventBridge(b *testing.B) {
	g := mustNew(b, benchOptions())
	start := time.Now()
	for b.Loop() {
		if _, err := g.WriteJSONLines(context.Background(), io.Discard, true); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(g.Total())*float64(b.N)/time.Since(start).Seconds(), "records/s")
}

// BenchmarkReplicate multiplies the 55 invictus-ir files ×10.
func BenchmarkReplicate(b *testing.B) {
	const dir = "../../../shared/testdata/cloudtrail/invictus-ir-aws_dataset/CloudTrail"
	src, _ := filepath.Glob(dir + "/*.json")
	if len(src) == 0 {
		b.Skip("replicate: shared test data not found at " + dir)
	}
	var res ReplicateResult
	start := time.Now()
	for b.Loop() {
		var err error
		if res, err = Replicate(context.Background(), src, 10, b.TempDir()); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(res.Bytes)
	b.ReportMetric(float64(res.Records)*float64(b.N)/time.Since(start).Seconds(), "records/s")
}
