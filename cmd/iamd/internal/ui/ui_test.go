package ui

import (
	"flag"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/iamd/iamd/analyzer/report"
	"github.com/iamd/iamd/analyzer/suggest"
	"github.com/iamd/iamd/analyzer/unused"
	"github.com/iamd/iamd/cmd/iamd/internal/listing"
)

var update = flag.Bool("update", false, "rewrite the golden HTML under testdata/golden")

const testToken = "t0ken-for-tests"

func newTestUI(t *testing.T, d Data, token string, now func() time.Time) *UI {
	t.Helper()
	if now == nil {
		now = func() time.Time { return fixtureNow }
	}
	u, err := New(Options{Data: d, Token: token, Now: now, SuggestionsDir: "/var/lib/iamd/suggestions"})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func get(t *testing.T, h http.Handler, path string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// TestPagesGolden renders every page from table fixtures and compares
// the HTML with testdata/golden/NAME.html (go test -update rewrites them).
func TestPagesGolden(t *testing.T) {
	full := fixtureData()
	failing := fakeData{}
	empty := fakeData{
		report:     func(string) (*report.Report, error) { return &report.Report{}, nil },
		unused:     func() (*unused.Result, error) { return &unused.Result{}, nil },
		audit:      func() ([]listing.Audit, error) { return nil, nil },
		rotation:   func() (*Rotation, error) { return &Rotation{}, nil },
		health:     func() (*Health, error) { return &Health{}, nil },
		suggestion: func(string) (*suggest.Output, error) { return nil, nil },
	}
	for _, tc := range []struct {
		name string
		data Data
		path string
		code int
	}{
		{"overview", full, "/", http.StatusOK},
		{"overview-filtered", full, "/?account=111122223333&path=%2Fservice%2F", http.StatusOK},
		{"overview-limited", full, "/?limit=2", http.StatusOK},
		{"overview-empty", empty, "/", http.StatusOK},
		{"overview-failing", failing, "/", http.StatusOK},
		{"principal-user", full, "/principal?arn=" + url.QueryEscape(alice), http.StatusOK},
		{"principal-role", full, "/principal?arn=" + url.QueryEscape(deploy) + "&name=dep", http.StatusOK},
		{"principal-root", full, "/principal?arn=" + url.QueryEscape(rootA), http.StatusOK},
		{"principal-no-model", full, "/principal?arn=" + url.QueryEscape(partner), http.StatusOK},
		{"principal-unknown", full, "/principal?arn=arn:aws:iam::111122223333:user/nobody", http.StatusNotFound},
		{"unused", full, "/unused", http.StatusOK},
		{"unused-filtered", full, "/unused?name=ALI", http.StatusOK},
		{"unused-empty", empty, "/unused", http.StatusOK},
		{"audit", full, "/audit", http.StatusOK},
		{"audit-high", full, "/audit?severity=high", http.StatusOK},
		{"audit-empty", empty, "/audit", http.StatusOK},
		{"audit-failing", failing, "/audit", http.StatusInternalServerError},
		{"rotation", full, "/rotation", http.StatusOK},
		{"rotation-empty", empty, "/rotation", http.StatusOK},
		{"login", full, "/login?next=%2Faudit", http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := newTestUI(t, tc.data, testToken, nil)
			auth := []string{"Authorization", "Bearer " + testToken}
			if tc.name == "login" {
				auth = nil
			}
			rec := get(t, u, tc.path, auth...)
			if rec.Code != tc.code {
				t.Fatalf("GET %s: %d, want %d\n%s", tc.path, rec.Code, tc.code, rec.Body)
			}
			body := rec.Body.String()
			if strings.Contains(body, hostile) || strings.Contains(body, "<script") {
				t.Errorf("GET %s: the page holds markup from the data unescaped", tc.path)
			}
			golden := filepath.Join("testdata", "golden", tc.name+".html")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (go test -update writes it)", err)
			}
			if body != string(want) {
				t.Errorf("GET %s differs from %s (go test -update rewrites it):\n%s", tc.path, golden, firstDifference(string(want), body))
			}
		})
	}
}

// firstDifference shows the first line where got leaves want.
func firstDifference(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			return "line " + strconv.Itoa(i+1) + ":\n  want " + wl + "\n  got  " + gl
		}
	}
	return ""
}
