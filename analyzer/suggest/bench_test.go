package suggest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/iamd/iamd/analyzer/iam"
	"github.com/iamd/iamd/analyzer/model"
	"github.com/iamd/iamd/analyzer/report"
	"github.com/iamd/iamd/analyzer/usage"
	"github.com/iamd/iamd/store"
)

// Benchmarks (docs/performance.md): suggestions with their self-check,
// per principal.
//
//	go test -run '^$' -bench Suggest -benchtime 3x ./analyzer/suggest
//
// BenchmarkSuggestStore reads IAMD_BENCH_STORE (a store built by iamd
// ingest) with IAMD_BENCH_IAM (its snapshot); it skips without them.

// suggestAll times Read + analysis + Suggest (with self-check) for every
// principal of the scope and returns the per-principal durations of
// those with a suggestion.
func suggestAll(b *testing.B, s *Suggester, db usage.Store, sc *report.Scope, an *report.Analyser) []time.Duration {
	var out []time.Duration
	for _, p := range sc.Principals {
		start := time.Now()
		tl := sc.Timeline(p)
		u, err := usage.Read(context.Background(), db, p, sc.Window, report.NeedsDays(tl))
		if err != nil {
			b.Fatal(err)
		}
		pr := an.Principal(u, tl, sc.Activity.DataSeen(iam.AccountOf(p), sc.Window))
		sg, err := s.Suggest(u, &pr, tl)
		if err != nil {
			b.Fatal(err)
		}
		if sg == nil {
			continue
		}
		if !sg.Check.Passed {
			b.Fatalf("%s: self-check failed: %+v %+v", p, sg.Check.Generated, sg.Check.InPlace)
		}
		out = append(out, time.Since(start))
	}
	return out
}

func reportDurations(b *testing.B, ds []time.Duration) {
	if len(ds) == 0 {
		b.Fatal("no suggestion")
	}
	slices.Sort(ds)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(float64(len(ds)), "principals")
	b.ReportMetric(ms(ds[len(ds)/2]), "median-ms/principal")
	b.ReportMetric(ms(ds[len(ds)*9/10]), "p90-ms/principal")
	b.ReportMetric(ms(ds[len(ds)-1]), "max-ms/principal")
}

func BenchmarkSuggestStore(b *testing.B) {
	dir, snap := os.Getenv("IAMD_BENCH_STORE"), os.Getenv("IAMD_BENCH_IAM")
	if dir == "" || snap == "" {
		b.Skip("IAMD_BENCH_STORE and IAMD_BENCH_IAM name a store and its snapshot (see the comment above)")
	}
	db, err := store.Open(store.Options{Dir: dir, MustExist: true})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	acct, err := iam.LoadFile(snap, iam.LoadOptions{})
	if err != nil {
		b.Fatal(err)
	}
	ms, err := model.FromAccount(testCat, acct, nil, snap)
	if err != nil {
		b.Fatal(err)
	}
	sc, err := report.NewScope(context.Background(), db, report.ScopeOptions{Catalog: testCat, Models: ms, Window: "90d"})
	if err != nil {
		b.Fatal(err)
	}
	an, _ := report.NewAnalyser(testCat, 0)
	s := newSuggester(b, 0)
	b.ResetTimer()
	var ds []time.Duration
	for b.Loop() {
		ds = suggestAll(b, s, db, sc, an)
	}
	reportDurations(b, ds)
}

// BenchmarkSuggestGenerated runs on a generated account of 150 principals
// with S3, DynamoDB, SQS and EC2 usage on a few dozen resources each.
func BenchmarkSuggestGenerated(b *testing.B) {
	r := rand.New(rand.NewPCG(11, 3))
	actions := []string{"s3:GetObject", "s3:PutObject", "s3:ListBucket", "dynamodb:GetItem", "dynamodb:Query", "sqs:SendMessage", "ec2:DescribeInstances", "kms:Decrypt"}
	var users []string
	var calls []call
	for i := range 150 {
		name := fmt.Sprintf("u%03d", i)
		users = append(users, fmt.Sprintf(`{"UserName":%q,"Arn":%q,"CreateDate":"2024-01-01T00:00:00Z","UserPolicyList":[{"PolicyName":"p","PolicyDocument":{"Version":"2012-10-17","Statement":[
			{"Effect":"Allow","Action":["s3:*","dynamodb:*","sqs:*"],"Resource":"*"},{"Effect":"Allow","Action":["ec2:Describe*","kms:Decrypt","iam:PassRole"],"Resource":"*"}]}}]}`, name, arn("user/"+name)))
		for k := range 60 {
			a := actions[r.IntN(len(actions))]
			calls = append(calls, call{who: arn("user/" + name), action: a, resource: propResource(r, a), at: time.Duration(k) * time.Hour, denied: r.IntN(20) == 0})
		}
	}
	snap := `{"UserDetailList":[` + strings.Join(users, ",") + `],"GroupDetailList":[],"RoleDetailList":[],"Policies":[]}`
	f := newFixture(b, calls, fileModel(b, snap), nil)
	s := newSuggester(b, 0)
	b.ResetTimer()
	var ds []time.Duration
	for b.Loop() {
		ds = suggestAll(b, s, f.db, f.sc, f.an)
	}
	reportDurations(b, ds)
}
