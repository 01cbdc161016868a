package main

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/iamd/iamd/analyzer/catalog"
	"github.com/iamd/iamd/ingest"
	"github.com/iamd/iamd/ingest/trailgen"
)

// BenchmarkContextFactCost measures what keeping request context with the
// facts would cost the store: how many more principal × action ×
// resource aggregates there would be if each also kept the region and
// the source IP (two of the context values conditions test most; MFA
// and principal tags would only add to it). The figures decide how
// conditions are handled in suggestions (docs/performance.md):
//
//	IAMD_SHARED_TESTDATA=../shared/testdata go test -run '^$' -bench ContextFactCost -benchtime 1x ./cmd/iamd
func BenchmarkContextFactCost(b *testing.B) {
	cat, err := catalog.Load()
	if err != nil {
		b.Fatal(err)
	}
	conv, err := ingest.NewConverter(ingest.ConverterOptions{Catalog: cat})
	if err != nil {
		b.Fatal(err)
	}
	count := func(b *testing.B, payloads [][]byte) {
		facts, withContext := map[[3]string]bool{}, map[[5]string]bool{}
		for b.Loop() {
			for _, p := range payloads {
				out, err := conv.ConvertPayload(context.Background(), "bench", p)
				if err != nil {
					b.Fatal(err)
				}
				for _, e := range out.Events {
					for _, u := range e.Uses {
						facts[[3]string{e.Principal, u.Action, u.Resource}] = true
						withContext[[5]string{e.Principal, u.Action, u.Resource, e.Region, e.SourceIP}] = true
					}
				}
			}
		}
		b.ReportMetric(float64(len(facts)), "facts")
		b.ReportMetric(float64(len(withContext)), "facts-with-region-and-ip")
		b.ReportMetric(float64(len(withContext))/float64(max(len(facts), 1)), "ratio")
	}
	b.Run("generated", func(b *testing.B) {
		o := trailgen.DefaultOptions(12)
		o.Users, o.Roles, o.Events, o.Days = 40, 12, 100000, 30
		g, err := trailgen.New(o)
		if err != nil {
			b.Fatal(err)
		}
		var buf bytes.Buffer
		if _, err := g.WriteJSONLines(context.Background(), &buf, false); err != nil {
			b.Fatal(err)
		}
		count(b, [][]byte{buf.Bytes()})
	})
	b.Run("invictus", func(b *testing.B) {
		dir := os.Getenv("IAMD_SHARED_TESTDATA")
		if dir == "" {
			dir = "../../../shared/testdata"
		}
		var payloads [][]byte
		_ = filepath.WalkDir(filepath.Join(dir, "cloudtrail", "invictus-ir-aws_dataset"), func(path string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.Contains(d.Name(), ".json") {
				if data, err := os.ReadFile(path); err == nil {
					payloads = append(payloads, data)
				}
			}
			return nil
		})
		if len(payloads) == 0 {
			b.Skip("the shared invictus CloudTrail files are not there: set IAMD_SHARED_TESTDATA")
		}
		count(b, payloads)
	})
}
