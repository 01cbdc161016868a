package report

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/iamd/iamd/analyzer/iam"
	"github.com/iamd/iamd/analyzer/model"
	"github.com/iamd/iamd/analyzer/usage"
	"github.com/iamd/iamd/store"
)

// Benchmarks (docs/performance.md):
//
//	go test -run '^$' -bench 'Report|Replay' -benchtime 3x ./analyzer/report
//
// BenchmarkReportStore reads a store built by `iamd ingest` from
// IAMD_BENCH_STORE, with IAMD_BENCH_IAM the matching snapshot (gen-trail
// --iam-snapshot); it skips without them.

// BenchmarkReportStore is `iamd report` for every principal of a store on
// disk: the activity scan, the window, the model and every principal's
// usage read and analysed.
func BenchmarkReportStore(b *testing.B) {
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
	an, _ := NewAnalyser(testCat, 0)
	b.ResetTimer()
	var principals, facts int
	for b.Loop() {
		ms, err := model.FromAccount(testCat, acct, nil, snap)
		if err != nil {
			b.Fatal(err)
		}
		sc, err := NewScope(context.Background(), db, ScopeOptions{Catalog: testCat, Models: ms, Window: "90d"})
		if err != nil {
			b.Fatal(err)
		}
		r, err := an.Run(context.Background(), db, sc, 0)
		if err != nil {
			b.Fatal(err)
		}
		principals = len(r.Principals)
		facts = 0
		for _, p := range r.Principals {
			for _, u := range p.Used {
				facts += u.ResourceCount
			}
		}
	}
	b.ReportMetric(float64(principals), "principals")
	b.ReportMetric(float64(facts), "used-facts")
}

// synthetic builds a generated account of n principals (two thirds users)
// with inline policies over a few services, and their usage.
func synthetic(n int, seed uint64) (details []byte, usages []*usage.Principal, w usage.Window) {
	r := rand.New(rand.NewPCG(seed, 1))
	services := map[string][]string{
		"s3":       {"GetObject", "PutObject", "DeleteObject", "ListBucket", "GetBucketLocation", "ListAllMyBuckets"},
		"ec2":      {"DescribeInstances", "DescribeVpcs", "DescribeSubnets", "DescribeRegions", "RunInstances"},
		"dynamodb": {"GetItem", "PutItem", "Query", "UpdateItem", "DescribeTable"},
		"sqs":      {"SendMessage", "ReceiveMessage", "DeleteMessage", "ListQueues"},
		"kms":      {"Decrypt", "Encrypt", "GenerateDataKey", "DescribeKey"},
		"logs":     {"DescribeLogGroups", "FilterLogEvents", "PutLogEvents"},
		"iam":      {"GetRole", "ListRoles", "PassRole", "GetUser"},
	}
	svcs := []string{"s3", "ec2", "dynamodb", "sqs", "kms", "logs", "iam"}
	end := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	w = usage.Window{Start: end.Add(-90 * 24 * time.Hour), End: end}
	var users, roles []map[string]any
	for i := range n {
		kind, name := "user", fmt.Sprintf("u%04d", i)
		if i%3 == 2 {
			kind, name = "role", fmt.Sprintf("r%04d", i)
		}
		p := fmt.Sprintf("arn:aws:iam::111122223333:%s/%s", kind, name)
		var stmts []any
		u := &usage.Principal{ARN: p, Window: w}
		for _, svc := range svcs {
			if r.IntN(2) == 0 {
				continue
			}
			var acts []string
			for _, a := range services[svc] {
				acts = append(acts, svc+":"+a)
				if r.IntN(3) == 0 {
					continue // granted, unused
				}
				ua := usage.Action{Action: svc + ":" + a, First: w.Start, Last: end}
				for d := range 30 {
					c := uint64(1 + r.IntN(20))
					ua.Days = append(ua.Days, store.DayCount{Day: end.Add(-time.Duration(d) * 24 * time.Hour), Allowed: c})
					ua.Allowed += c
				}
				for k := range 1 + r.IntN(8) {
					ua.Resources = append(ua.Resources, usage.Resource{ARN: fmt.Sprintf("arn:aws:%s:us-east-1:111122223333:thing/%d", svc, k), Allowed: uint64(1 + r.IntN(100)), First: w.Start, Last: end})
				}
				u.Actions = append(u.Actions, ua)
			}
			stmts = append(stmts, map[string]any{"Effect": "Allow", "Action": acts, "Resource": "*"})
		}
		pol := []any{map[string]any{"PolicyName": name + "-p", "PolicyDocument": map[string]any{"Version": "2012-10-17", "Statement": stmts}}}
		entry := map[string]any{"Arn": p, "Path": "/", "CreateDate": "2024-01-01T00:00:00Z"}
		if kind == "user" {
			entry["UserName"], entry["UserPolicyList"] = name, pol
			users = append(users, entry)
		} else {
			entry["RoleName"], entry["RolePolicyList"] = name, pol
			entry["AssumeRolePolicyDocument"] = map[string]any{"Version": "2012-10-17", "Statement": []any{map[string]any{"Effect": "Allow", "Principal": map[string]any{"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}}}
			roles = append(roles, entry)
		}
		sortActions(u)
		usages = append(usages, u)
	}
	details, _ = json.Marshal(map[string]any{"UserDetailList": users, "RoleDetailList": roles, "GroupDetailList": []any{}, "Policies": []any{}})
	return details, usages, w
}

func sortActions(u *usage.Principal) {
	for i := 1; i < len(u.Actions); i++ {
		for j := i; j > 0 && u.Actions[j].Action < u.Actions[j-1].Action; j-- {
			u.Actions[j], u.Actions[j-1] = u.Actions[j-1], u.Actions[j]
		}
	}
}

// BenchmarkReplay1000 replays a new IAM snapshot of 1,000 principals
// over their stored usage: parse the snapshot, build every granted set,
// judge every principal's calls. The usage is already read (the store's
// part is BenchmarkReportStore's).
func BenchmarkReplay1000(b *testing.B) {
	details, usages, _ := synthetic(1000, 7)
	an, _ := NewAnalyser(testCat, 0)
	seen := func(string) bool { return true }
	b.ResetTimer()
	var used int
	for b.Loop() {
		acct, err := iam.Parse(details, iam.LoadOptions{})
		if err != nil {
			b.Fatal(err)
		}
		ms, err := model.FromAccount(testCat, acct, nil, "replay.json")
		if err != nil {
			b.Fatal(err)
		}
		tl, _ := ms.Timeline("111122223333")
		used = 0
		for _, u := range usages {
			pr := an.Principal(u, tl, seen)
			used += len(pr.Used)
		}
	}
	b.ReportMetric(float64(len(usages)), "principals")
	b.ReportMetric(float64(used), "used-actions")
}
