package trailgen_test

import (
	"context"
	"fmt"
	"io"

	"github.com/iamd/iamd/ingest/trailgen"
)

func Example() {
	opts := trailgen.DefaultOptions(42)
	opts.Accounts = []string{"111122223333"}
	opts.Events = 500
	g, err := trailgen.New(opts)
	if err != nil {
		panic(err)
	}
	// A record stream (for Kafka); WriteLogFiles writes the S3 layout.
	n := 0
	m, err := g.Records(context.Background(), func(r trailgen.Record) error {
		n++
		return nil
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(n == m.Records, m.Records == m.PrincipalRecords+m.ServiceRecords)
	u, ok := m.Find(m.Usage[0].Principal, m.Usage[0].Action, m.Usage[0].Resource)
	fmt.Println(ok, u.Allowed+u.Denied > 0)
	fn, err := trailgen.ParseLogFileName("AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/01/111122223333_CloudTrail_us-east-1_20261101T0005Z_AbCdEfGh12345678.json.gz")
	fmt.Println(fn.Account, fn.Region, fn.Time.Format("2006-01-02T15:04Z"), err)
	fmt.Println(g.WriteIAMSnapshot(io.Discard))
	// Output:
	// true true
	// true true
	// 111122223333 us-east-1 2026-11-01T00:05Z <nil>
	// <nil>
}
