package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/iamd/iamd/cmd/iamd/internal/api"
	"github.com/iamd/iamd/cmd/iamd/internal/scheduler"
	"github.com/iamd/iamd/store"
)

// TestAPIAnswersAsTheCLI: for the same store, every /api/v1 endpoint
// answers with exactly the bytes of the CLI command it stands for.
func TestAPIAnswersAsTheCLI(t *testing.T) {
	dir := t.TempDir()
	st, snap := filepath.Join(dir, "store"), filepath.Join(dir, "iam.json")
	if _, err := runIamd(t, "gen-trail", "--out", filepath.Join(dir, "trail"), "--iam-snapshot", snap, "--events", "1500", "--seed", "5"); err != nil {
		t.Fatal(err)
	}
	if out, err := runIamd(t, "ingest", "--store", st, filepath.Join(dir, "trail"), writeBadTrail(t)); err != nil {
		t.Fatalf("ingest: %v\n%s", err, out)
	}
	if out, err := runIamd(t, "snapshot", "save", "--store", st, "--iam", snap); err != nil {
		t.Fatalf("snapshot save: %v\n%s", err, out)
	}
	db, err := store.Open(store.Options{Dir: st})
	if err != nil {
		t.Fatal(err)
	}
	next := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	data, _ := json.Marshal(scheduler.Status{Name: "iam-refresh", Schedule: "@daily", NextRun: &next, Runs: 3})
	if err := db.PutState(context.Background(), store.State{Kind: scheduler.StateKind, ID: "iam-refresh", Data: data}, nil); err != nil {
		t.Fatal(err)
	}
	// The principal with the most facts, so that --limit cuts.
	facts, err := db.Facts(context.Background(), store.FactQuery{})
	if err != nil {
		t.Fatal(err)
	}
	perPrincipal := map[string]int{}
	principal := ""
	for _, f := range facts {
		if perPrincipal[f.Principal]++; perPrincipal[f.Principal] > perPrincipal[principal] {
			principal = f.Principal
		}
	}
	if perPrincipal[principal] < 4 {
		t.Fatalf("no principal with 4 facts or more: %v", perPrincipal)
	}
	db.Close()

	var account struct{ Account string }
	out, err := runIamdStdout(t, "audit", "--iam", snap, "--format", "json")
	if err != nil || json.Unmarshal([]byte(out), &account) != nil || account.Account == "" {
		t.Fatalf("audit: %v %q", err, out)
	}

	type pair struct {
		cli  []string
		path string
	}
	pairs := []pair{
		{[]string{"usage", "--format", "json"}, "usage"},
		{[]string{"usage", "--principal", principal, "--limit", "3", "--format", "json"}, "usage?limit=3&principal=" + url.QueryEscape(principal)},
		{[]string{"usage", "principals", "--format", "json"}, "principals"},
		{[]string{"usage", "principals", "--principal", principal, "--format", "json"}, "principals?principal=" + url.QueryEscape(principal)},
		{[]string{"quarantine", "--format", "json"}, "quarantine"},
		{[]string{"quarantine", "--limit", "1", "--format", "json"}, "quarantine?limit=1"},
		{[]string{"snapshot", "list", "--account", account.Account, "--format", "json"}, "snapshots?account=" + account.Account},
		{[]string{"jobs", "--format", "json"}, "jobs"},
	}
	want := make([]string, len(pairs))
	for i, p := range pairs {
		out, err := runIamdStdout(t, append(p.cli, "--store", st)...)
		if err != nil {
			t.Fatalf("iamd %v: %v", p.cli, err)
		}
		if len(out) < 10 {
			t.Fatalf("iamd %v printed %q: nothing to compare", p.cli, out)
		}
		want[i] = out
	}

	db, err = store.Open(store.Options{Dir: st})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	srv, err := api.New(api.Options{Store: db, Token: "tok"})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	for i, p := range pairs {
		req, _ := http.NewRequest(http.MethodGet, ts.URL+api.Prefix+p.path, nil)
		req.Header.Set("Authorization", "Bearer tok")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("GET %s: %d %s", p.path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		if got := string(body); got != want[i] {
			t.Errorf("GET %s differs from iamd %s:\n%s\nwant\n%s", p.path, strings.Join(p.cli, " "), clip(got), clip(want[i]))
		}
	}
}

func clip(s string) string {
	if len(s) > 600 {
		return s[:600] + "…"
	}
	return s
}
