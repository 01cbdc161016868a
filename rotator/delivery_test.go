package rotator

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func keyFileID(t *testing.T, path string) string {
	t.Helper()
	id, _, err := fileKeyID(path)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestFileTarget(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	ft := FileTarget{PathTemplate: dir + "/{path}/{user}.json"}
	to := Recipient{UserName: "alice", UserPath: "/ci/", UserARN: "arn:aws:iam::111122223333:user/ci/alice"}
	path := filepath.Join(dir, "ci", "alice.json")
	first := Credential{UserName: "alice", AccessKeyID: "AKIAFIRST", Secret: NewSecret("s1")}
	second := Credential{UserName: "alice", AccessKeyID: "AKIASECOND", Secret: NewSecret("s2")}

	for _, c := range []Credential{first, second} {
		if err := ft.Deliver(ctx, to, c); err != nil {
			t.Fatal(err)
		}
		if got := keyFileID(t, path+".pending"); got != c.AccessKeyID {
			t.Fatalf("pending holds %q, want %s", got, c.AccessKeyID)
		}
		if err := ft.Promote(ctx, to, c.AccessKeyID); err != nil {
			t.Fatal(err)
		}
		if err := ft.Promote(ctx, to, c.AccessKeyID); err != nil {
			t.Fatalf("promote twice: %v", err)
		}
	}
	if got, prev := keyFileID(t, path), keyFileID(t, path+".previous"); got != "AKIASECOND" || prev != "AKIAFIRST" {
		t.Fatalf("file %s previous %s", got, prev)
	}
	b, _ := os.ReadFile(path)
	var d keyDocument
	if err := json.Unmarshal(b, &d); err != nil || d.SecretAccessKey != "s2" {
		t.Fatalf("key file = %s", b)
	}
	if err := ft.Promote(ctx, to, "AKIAOTHER"); err == nil {
		t.Error("promoted a key that was never staged")
	}
	// Revoking the published key puts the previous one back.
	if err := ft.Revoke(ctx, to, "AKIASECOND"); err != nil {
		t.Fatal(err)
	}
	if got := keyFileID(t, path); got != "AKIAFIRST" {
		t.Errorf("after revoke the file holds %s", got)
	}
	t.Run("paths that leave the directory", func(t *testing.T) {
		bare := FileTarget{PathTemplate: dir + "/keys/{user}"}
		for _, tc := range []struct {
			target FileTarget
			to     Recipient
		}{
			{bare, Recipient{UserName: ".."}},                       // IAM allows the name ".."
			{ft, Recipient{UserName: "x", UserPath: "/../../etc/"}}, // and the path /../
		} {
			if err := tc.target.Deliver(ctx, tc.to, first); err == nil {
				t.Errorf("%s delivered for %+v", tc.target.PathTemplate, tc.to)
			}
		}
	})
}

func TestCommandTargetHidesSecret(t *testing.T) {
	ct := CommandTarget{Argv: []string{"sh", "-c", `cat >&2; exit 3`}, Timeout: 10 * time.Second}
	err := ct.Deliver(context.Background(), Recipient{UserName: "alice"}, Credential{AccessKeyID: "AKIAX", Secret: NewSecret("very-secret-value")})
	if err == nil {
		t.Fatal("exit 3 reported as success")
	}
	if strings.Contains(err.Error(), "very-secret-value") || !strings.Contains(err.Error(), `"secretAccessKey":"[redacted]"`) || !strings.Contains(err.Error(), "exit status 3") {
		t.Errorf("error = %v", err)
	}
}

func TestWebhookRetries(t *testing.T) {
	var calls atomic.Int32
	fail := 2
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		if r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("content type %q", r.Header.Get("Content-Type"))
		}
		switch {
		case fail == -1:
			w.WriteHeader(http.StatusBadRequest)
		case int(n) <= fail:
			w.WriteHeader(http.StatusBadGateway)
		}
	}))
	defer srv.Close()
	var slept []time.Duration
	w := &Webhook{URL: srv.URL, Sleep: func(_ context.Context, d time.Duration) error { slept = append(slept, d); return nil }}
	if err := w.Notify(context.Background(), Event{Kind: EventCreate}); err != nil {
		t.Fatalf("after two 502s: %v", err)
	}
	if calls.Load() != 3 || len(slept) != 2 || slept[1] != 2*slept[0] {
		t.Errorf("calls %d, waits %v", calls.Load(), slept)
	}
	calls.Store(0)
	fail = -1
	if err := w.Notify(context.Background(), Event{Kind: EventCreate}); err == nil || calls.Load() != 1 {
		t.Errorf("400: err %v after %d calls, want an error after one", err, calls.Load())
	}
}

// A webhook URL is often its own credential: no error, log line or
// policy problem quotes more of it than its scheme and host.
func TestWebhookURLIsRedacted(t *testing.T) {
	// A port nothing listens on: every POST fails to connect.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	const token = "tok3n-in-the-path"
	for _, tc := range []struct {
		name, url, want string
	}{
		{"path", "http://" + closed + "/services/T0/B0/" + token, "http://" + closed + "/[redacted]"},
		{"query", "http://" + closed + "/hook?token=" + token, "http://" + closed + "/[redacted]"},
		{"user info", "http://u:" + token + "@" + closed, "http://" + closed + "/[redacted]"},
		{"host alone", "http://" + closed + "/", "http://" + closed},
		{"not a URL", "http://" + token + "\x7f/", "[redacted]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := RedactURL(tc.url); got != tc.want {
				t.Errorf("RedactURL(%q) = %q, want %q", tc.url, got, tc.want)
			}
			w := &Webhook{URL: tc.url, Attempts: 2, Sleep: func(context.Context, time.Duration) error { return nil }}
			err := w.Notify(context.Background(), Event{Kind: EventCreate})
			if err == nil {
				t.Fatal("a POST to a closed port succeeded")
			}
			for what, s := range map[string]string{"Notify error": err.Error(), "String": w.String(), "%v": fmt.Sprintf("%v", w)} {
				if strings.Contains(s, token) {
					t.Errorf("%s quotes the token: %s", what, s)
				}
			}
			if tc.name != "not a URL" && !strings.Contains(err.Error(), closed) {
				t.Errorf("Notify error %q does not say where", err)
			}
			p := DefaultPolicy()
			p.WebhookURL = strings.Replace(tc.url, "http:", "ftp:", 1)
			if err := p.Validate(); err == nil || strings.Contains(err.Error(), token) {
				t.Errorf("Validate() = %v: want an error without the token", err)
			}
		})
	}
}

// A process killed inside a write leaves a temporary file holding the
// key, secret included: the next write of that file, or a revoke,
// removes it once it is old enough not to be a write in progress.
func TestFileTargetRemovesStaleTemporaryFiles(t *testing.T) {
	ctx := context.Background()
	cred := Credential{UserName: "alice", AccessKeyID: "AKIANEW", Secret: NewSecret("s3cr3t")}
	to := Recipient{UserName: "alice"}
	for _, tc := range []struct {
		name string
		step func(ft FileTarget) error
	}{
		{"deliver", func(ft FileTarget) error { return ft.Deliver(ctx, to, cred) }},
		{"revoke", func(ft FileTarget) error { return ft.Revoke(ctx, to, cred.AccessKeyID) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			ft := FileTarget{PathTemplate: dir + "/{user}.json"}
			leave := func(name string, age time.Duration) string {
				p := filepath.Join(dir, name)
				if err := os.WriteFile(p, []byte(`{"AccessKeyId":"AKIAOLD","SecretAccessKey":"left-behind"}`), 0o600); err != nil {
					t.Fatal(err)
				}
				at := time.Now().Add(-age)
				if err := os.Chtimes(p, at, at); err != nil {
					t.Fatal(err)
				}
				return p
			}
			stale := leave(".alice.json.pending.tmp123", time.Hour)
			fresh := leave(".alice.json.pending.tmp456", time.Second) // a write in progress
			other := leave(".bob.json.pending.tmp789", time.Hour)     // another user's
			if err := tc.step(ft); err != nil {
				t.Fatal(err)
			}
			for p, want := range map[string]bool{stale: false, fresh: true, other: true} {
				if _, err := os.Stat(p); (err == nil) != want {
					t.Errorf("%s exists %v, want %v", filepath.Base(p), err == nil, want)
				}
			}
		})
	}
}
