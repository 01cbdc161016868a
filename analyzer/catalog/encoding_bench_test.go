package catalog

import (
	"bytes"
	"compress/gzip"
	"io"
	"syscall"
	"testing"
	"time"

	kgzip "github.com/klauspost/compress/gzip"
)

// BenchmarkEmbeddedEncoding compares ways to decompress the embedded
// catalog text, and the parse that follows, to back the choice of zstd for
// catalog.txt.zst (see docs/performance.md). Sizes are logged with -v.
func BenchmarkEmbeddedEncoding(b *testing.B) {
	plain, err := decompress(embeddedData)
	if err != nil {
		b.Fatal(err)
	}
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	zw.Write([]byte(plain))
	zw.Close()
	b.Logf("plain %d bytes, gzip -9 %d, zstd best (embedded) %d", len(plain), gz.Len(), len(embeddedData))
	run := func(name string, fn func() error) {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			c0 := cpuNow()
			for b.Loop() {
				if err := fn(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(cpuNow()-c0)/float64(b.N), "cpu-ns/op")
		})
	}
	run("zstd", func() error { _, err := decompress(embeddedData); return err })
	run("gzip-stdlib", func() error { _, err := decompress(gz.Bytes()); return err })
	run("gzip-klauspost", func() error {
		zr, err := kgzip.NewReader(bytes.NewReader(gz.Bytes()))
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, zr)
		return err
	})
	run("parse-only", func() error { _, err := parse(plain); return err })
}

func cpuNow() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
