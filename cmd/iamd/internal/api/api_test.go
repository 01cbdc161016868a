package api

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/iamd/iamd/store"
)

func newServer(t *testing.T, o Options) *httptest.Server {
	t.Helper()
	db, err := store.Open(store.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	o.Store = db
	if o.Gatherer == nil {
		reg := prometheus.NewRegistry()
		reg.MustRegister(prometheus.NewCounter(prometheus.CounterOpts{Name: "iamd_test_total", Help: "test"}))
		o.Gatherer = reg
	}
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	s.Handle("GET /api/v1/extra", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		WriteJSON(w, http.StatusOK, map[string]string{"extra": "yes"})
	}))
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return ts
}

func get(t *testing.T, url, auth string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestAuth(t *testing.T) {
	for _, tc := range []struct {
		name          string
		metricsNoAuth bool
		path, auth    string
		want          int
	}{
		{"healthz open", false, "/healthz", "", 200},
		{"readyz open", false, "/readyz", "", 200},
		{"api without token", false, "/api/v1/principals", "", 401},
		{"api wrong token", false, "/api/v1/principals", "Bearer nope", 401},
		{"api token as basic auth", false, "/api/v1/principals", "Basic s3cret", 401},
		{"api token prefix", false, "/api/v1/principals", "Bearer s3cre", 401},
		{"api right token", false, "/api/v1/principals", "Bearer s3cret", 200},
		{"index", false, "/api/v1/", "Bearer s3cret", 200},
		{"index without token", false, "/api/v1/", "", 401},
		{"registered endpoint without token", false, "/api/v1/extra", "", 401},
		{"registered endpoint", false, "/api/v1/extra", "Bearer s3cret", 200},
		{"metrics without token", false, "/metrics", "", 401},
		{"metrics with token", false, "/metrics", "Bearer s3cret", 200},
		{"metrics opened by the switch", true, "/metrics", "", 200},
		{"switch opens metrics only", true, "/api/v1/jobs", "", 401},
		{"unknown path", false, "/api/v1/nope", "Bearer s3cret", 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := newServer(t, Options{Token: "s3cret", MetricsWithoutToken: tc.metricsNoAuth})
			code, body := get(t, ts.URL+tc.path, tc.auth)
			if code != tc.want {
				t.Fatalf("GET %s = %d %s, want %d", tc.path, code, body, tc.want)
			}
			if code == 401 && !strings.Contains(body, "bearer token") {
				t.Errorf("401 body %q does not say why", body)
			}
		})
	}
}

func TestNoTokenServesOpen(t *testing.T) {
	ts := newServer(t, Options{})
	if code, body := get(t, ts.URL+"/api/v1/principals", ""); code != 200 || strings.TrimSpace(body) != "[]" {
		t.Fatalf("GET principals = %d %q, want 200 []", code, body)
	}
}

func TestReadyz(t *testing.T) {
	ts := newServer(t, Options{Checks: func(context.Context) []Check {
		return []Check{{Name: "store", OK: true}, {Name: "source kafka[0]", OK: false, Detail: "backoff: dial tcp: refused"}}
	}})
	code, body := get(t, ts.URL+"/readyz", "")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, `"ready": false`) || !strings.Contains(body, "refused") {
		t.Fatalf("/readyz = %d %s", code, body)
	}
}

func TestIndexListsEndpoints(t *testing.T) {
	ts := newServer(t, Options{})
	_, body := get(t, ts.URL+"/api/v1/", "")
	for _, p := range []string{"GET /api/v1/principals", "GET /api/v1/usage", "GET /api/v1/quarantine", "GET /api/v1/snapshots", "GET /api/v1/jobs", "GET /api/v1/extra"} {
		if !strings.Contains(body, p) {
			t.Errorf("index lacks %s: %s", p, body)
		}
	}
}

func TestBadRequests(t *testing.T) {
	ts := newServer(t, Options{})
	for path, want := range map[string]int{
		"/api/v1/usage?limit=-1":                 400,
		"/api/v1/quarantine?limit=x":             400,
		"/api/v1/snapshots":                      400, // no account and no model
		"/api/v1/snapshots?account=111122223333": 200,
	} {
		if code, body := get(t, ts.URL+path, ""); code != want {
			t.Errorf("GET %s = %d %s, want %d", path, code, body, want)
		}
	}
}

func TestHandleOutsidePrefixPanics(t *testing.T) {
	db, _ := store.Open(store.Options{InMemory: true})
	defer db.Close()
	s, _ := New(Options{Store: db})
	defer func() {
		if recover() == nil {
			t.Error("Handle outside /api/v1/ did not panic")
		}
	}()
	s.Handle("GET /admin", http.NotFoundHandler())
}
