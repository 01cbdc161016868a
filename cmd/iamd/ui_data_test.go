package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/iamd/iamd/analyzer/report"
	"github.com/iamd/iamd/analyzer/suggest"
	"github.com/iamd/iamd/analyzer/unused"
	"github.com/iamd/iamd/cmd/iamd/internal/daemon"
	"github.com/iamd/iamd/configs"
	"github.com/iamd/iamd/store"
)

// TestDashboardDataAsTheCLI: for the same store, what the dashboard reads
// is what the CLI prints with -o json (what the JSON API answers): report,
// unused, audit --store, rotate status byte for byte, and each
// principal's suggestion as iamd suggest summarises it.
func TestDashboardDataAsTheCLI(t *testing.T) {
	dir := t.TempDir()
	st, snap := filepath.Join(dir, "store"), filepath.Join(dir, "iam.json")
	if out, err := runIamd(t, "gen-trail", "--out", filepath.Join(dir, "trail"), "--iam-snapshot", snap, "--events", "3000", "--seed", "7"); err != nil {
		t.Fatalf("gen-trail: %v\n%s", err, out)
	}
	if out, err := runIamd(t, "ingest", "--store", st, filepath.Join(dir, "trail")); err != nil {
		t.Fatalf("ingest: %v\n%s", err, out)
	}
	if out, err := runIamd(t, "snapshot", "save", "--store", st, "--iam", snap); err != nil {
		t.Fatalf("snapshot save: %v\n%s", err, out)
	}
	cli := func(args ...string) string {
		t.Helper()
		out, err := runIamdStdout(t, append(args, "--store", st)...)
		if err != nil || len(out) < 3 {
			t.Fatalf("iamd %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	wantReport := cli("report", "-o", "json")
	wantUnused := cli("unused", "-o", "json")
	wantAudit := cli("audit", "-o", "json")
	wantRotation := cli("rotate", "status", "-o", "json")
	var sug suggest.RunResult
	if err := json.Unmarshal([]byte(cli("suggest", "--out", filepath.Join(dir, "out"), "-o", "json")), &sug); err != nil {
		t.Fatal(err)
	}
	if len(sug.Summaries) == 0 {
		t.Fatal("iamd suggest made no suggestion: nothing to compare")
	}

	db, err := store.Open(store.Options{Dir: st, MustExist: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	d, err := newDashboardData(daemon.Handles{Config: configs.Default(), Store: db, Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	encode := func(v any) string {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetIndent("", "  ")
		if err := enc.Encode(v); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	same := func(what, got, want string) {
		t.Helper()
		if got != want {
			t.Errorf("%s differs from the CLI's:\n%s\nwant\n%s", what, clip(got), clip(want))
		}
	}

	rep, err := d.Report(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := report.WriteJSON(&b, rep); err != nil {
		t.Fatal(err)
	}
	same("report", b.String(), wantReport)

	res, err := d.Unused(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b.Reset()
	if err := unused.WriteJSON(&b, res); err != nil {
		t.Fatal(err)
	}
	same("unused", b.String(), wantUnused)

	accts, err := d.Audit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var audit strings.Builder
	for _, a := range accts {
		audit.WriteString(encode(a))
	}
	same("audit", audit.String(), wantAudit)

	rot, err := d.Rotation(ctx)
	if err != nil {
		t.Fatal(err)
	}
	same("rotation", encode(rot.Users), wantRotation)

	for _, s := range sug.Summaries {
		out, err := d.Suggestion(ctx, s.Principal)
		if err != nil {
			t.Fatal(err)
		}
		if out == nil {
			t.Errorf("%s: no suggestion, iamd suggest made one", s.Principal)
			continue
		}
		docs := 0
		if out.Generated != nil {
			docs = len(out.Generated.Documents)
		}
		if len(out.Removed) != s.Removed || len(out.Kept) != s.Kept || docs != s.Documents || out.Check.Passed != s.Passed {
			t.Errorf("%s: removed %d kept %d documents %d passed %v; iamd suggest: %+v", s.Principal, len(out.Removed), len(out.Kept), docs, out.Check.Passed, s)
		}
		// The run iamd suggest kept is the previous one: nothing changed.
		if out.Changes == nil || !out.Changes.Empty() {
			t.Errorf("%s: changes since the stored run %+v, want none", s.Principal, out.Changes)
		}
	}
}

// TestDashboardSwitch: http.ui serves the dashboard at / beside the API,
// and false leaves / unserved; the API's own answers do not change.
func TestDashboardSwitch(t *testing.T) {
	for _, on := range []bool{true, false} {
		cfg := configs.Default()
		cfg.Store.Dir = t.TempDir()
		cfg.HTTP.Listen = "127.0.0.1:0"
		cfg.HTTP.Token = "switch-token"
		cfg.HTTP.UI = on
		ctx, cancel := context.WithCancel(context.Background())
		addr := make(chan net.Addr, 1)
		done := make(chan error, 1)
		go func() {
			done <- daemon.Run(ctx, daemon.Options{Config: cfg, Addons: daemonAddons(), OnListen: func(a net.Addr) { addr <- a }})
		}()
		var base string
		select {
		case a := <-addr:
			base = "http://" + a.String()
		case err := <-done:
			t.Fatalf("daemon: %v", err)
		}
		get := func(path, auth string) (int, string) {
			req, _ := http.NewRequest(http.MethodGet, base+path, nil)
			if auth != "" {
				req.Header.Set("Authorization", "Bearer "+auth)
			}
			resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(body)
		}
		if on {
			if code, _ := get("/", ""); code != http.StatusSeeOther {
				t.Errorf("http.ui on: GET / without a token: %d, want 303 to the login form", code)
			}
			// An empty store has no model: the overview says how to add one.
			if code, body := get("/", "switch-token"); code != http.StatusOK || !strings.Contains(body, "iamd snapshot save") {
				t.Errorf("http.ui on: the overview of an empty store: %d\n%s", code, clip(body))
			}
			if code, _ := get("/ui/static/style.css", ""); code != http.StatusOK {
				t.Errorf("http.ui on: the stylesheet: %d", code)
			}
		} else {
			for _, p := range []string{"/", "/login", "/ui/static/style.css"} {
				if code, _ := get(p, "switch-token"); code != http.StatusNotFound {
					t.Errorf("http.ui off: GET %s: %d, want 404", p, code)
				}
			}
		}
		if code, body := get("/api/v1/", "switch-token"); code != http.StatusOK || !strings.Contains(body, `"endpoints"`) {
			t.Errorf("ui %v: the API index: %d %s", on, code, body)
		}
		if code, body := get("/api/v1/nothing-here", "switch-token"); code != http.StatusNotFound || strings.Contains(body, "<html") {
			t.Errorf("ui %v: an unknown API path: %d %s, want a plain 404", on, code, clip(body))
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("daemon: %v", err)
		}
	}
}
