package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/iamd/iamd/analyzer/iam"
)

func TestAuditCommand(t *testing.T) {
	t.Run("table", func(t *testing.T) {
		out, err := execIamd(t, "audit", "--iam", iamFixture)
		if err != nil {
			t.Fatalf("err=%v\n%s", err, out)
		}
		for _, c := range []string{
			"account 111122223333: 14 findings (critical 3, high 6, medium 2, low 3, info 0)",
			"IAM003  critical  arn:aws:iam::111122223333:root",
			"PassRole+EC2: can escalate privileges",
			"AKIAOLD0000000000001 created 2026-01-01T00:00:00Z (326 days ago)",
		} {
			if !strings.Contains(out, c) {
				t.Errorf("output lacks %q:\n%s", c, out)
			}
		}
	})
	t.Run("json with key age", func(t *testing.T) {
		count := func(args ...string) map[string]int {
			out, err := execIamd(t, append([]string{"audit", "--iam", iamFixture, "--format", "json"}, args...)...)
			if err != nil {
				t.Fatal(err)
			}
			var got struct {
				Account  string        `json:"account"`
				Findings []iam.Finding `json:"findings"`
			}
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if got.Account != "111122223333" {
				t.Errorf("account = %q", got.Account)
			}
			m := map[string]int{}
			for _, f := range got.Findings {
				m[f.Rule]++
			}
			return m
		}
		if got := count()[iam.RuleKeyTooOld]; got != 1 {
			t.Errorf("IAM006 with 90d = %d, want 1", got)
		}
		if got := count("--key-max-age", "400d")[iam.RuleKeyTooOld]; got != 0 {
			t.Errorf("IAM006 with 400d = %d, want 0", got)
		}
		if got := count("--key-max-age", "720h")[iam.RuleKeyTooOld]; got != 1 {
			t.Errorf("IAM006 with 720h = %d, want 1", got)
		}
	})
	t.Run("bad flags", func(t *testing.T) {
		for _, args := range [][]string{{"--key-max-age", "soon"}, {"--key-max-age", "-3d"}, {"--format", "yaml"}, {}} {
			a := append([]string{"audit"}, args...)
			if len(args) > 0 {
				a = append(a, "--iam", iamFixture)
			}
			if _, err := execIamd(t, a...); err == nil {
				t.Errorf("audit %v succeeded", args)
			}
		}
	})
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
	}{{"90d", 90 * 24 * time.Hour}, {"1d", 24 * time.Hour}, {"0.5d", 12 * time.Hour}, {"36h", 36 * time.Hour}, {"0", 0}}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseDuration(tc.in)
			if err != nil || got != tc.want {
				t.Errorf("parseDuration(%q)=%v,%v, want %v", tc.in, got, err, tc.want)
			}
		})
	}
	for _, bad := range []string{"soon", "d", "-3d", "30days", ""} {
		if d, err := parseDuration(bad); err == nil {
			t.Errorf("parseDuration(%q) = %v, want an error", bad, d)
		}
	}
}
