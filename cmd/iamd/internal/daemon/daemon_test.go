package daemon

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/iamd/iamd/configs"
	"github.com/iamd/iamd/ingest/trailgen"
	"github.com/iamd/iamd/store"
)

// started is a daemon running in-process.
type started struct {
	t    *testing.T
	base string
	stop context.CancelFunc
	done chan error
}

func startDaemon(t *testing.T, cfg configs.Config) *started {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("config: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan net.Addr, 1)
	s := &started{t: t, stop: cancel, done: make(chan error, 1)}
	go func() {
		s.done <- Run(ctx, Options{Config: cfg, OnListen: func(a net.Addr) { addr <- a }, StoreStatsInterval: 50 * time.Millisecond})
	}()
	select {
	case a := <-addr:
		s.base = "http://" + a.String()
	case err := <-s.done:
		t.Fatalf("Run = %v before listening", err)
	case <-time.After(20 * time.Second):
		t.Fatal("daemon did not listen")
	}
	t.Cleanup(func() {
		cancel()
		<-s.done
	})
	return s
}

func (s *started) shutdown() error {
	s.stop()
	select {
	case err := <-s.done:
		s.done <- err // for Cleanup
		return err
	case <-time.After(30 * time.Second):
		s.t.Fatal("Run did not return after cancel")
		return nil
	}
}

func (s *started) get(path, token string) (int, []byte) {
	s.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.base+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// eventually polls cond until it holds or 20 s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func testConfig(t *testing.T) configs.Config {
	cfg := configs.Default()
	cfg.Store.Dir = filepath.Join(t.TempDir(), "store")
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.HTTP.Token = "t0ken"
	return cfg
}

func generate(t *testing.T, dir string, seed int64, events int, snapshot string) *trailgen.Manifest {
	t.Helper()
	o := trailgen.DefaultOptions(seed)
	o.Events = events
	g, err := trailgen.New(o)
	if err != nil {
		t.Fatal(err)
	}
	m, err := g.WriteLogFiles(context.Background(), trailgen.DirSink{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if snapshot != "" {
		f, err := os.Create(snapshot)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := g.WriteIAMSnapshot(f); err != nil {
			t.Fatal(err)
		}
	}
	return m
}

// metricValues parses the text exposition into name{labels} → value.
func metricValues(t *testing.T, body []byte) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(string(body)))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

func TestRunIngestsServesAndStops(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in")
	if err := os.Mkdir(in, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t)
	cfg.Sources.Directory = []configs.DirectorySource{{Path: in, Poll: configs.Duration(50 * time.Millisecond)}}
	cfg.IAM.File = filepath.Join(dir, "iam.json")
	m := generate(t, filepath.Join(dir, "gen"), 7, 1500, cfg.IAM.File)
	d := startDaemon(t, cfg)

	eventually(t, "ready", func() bool { code, _ := d.get("/readyz", ""); return code == http.StatusOK })
	if err := os.Rename(filepath.Join(dir, "gen", "AWSLogs"), filepath.Join(in, "AWSLogs")); err != nil {
		t.Fatal(err)
	}
	var metrics map[string]float64
	eventually(t, "records in /metrics", func() bool {
		code, body := d.get("/metrics", "t0ken")
		if code != http.StatusOK {
			t.Fatalf("/metrics: %d %s", code, body)
		}
		metrics = metricValues(t, body)
		return metrics[`iamd_ingest_records_total{kind="directory",source="directory[0]"}`] == float64(m.Records)
	})
	for name := range metrics {
		if !strings.HasPrefix(name, MetricPrefix) {
			t.Errorf("metric %s does not start with %s", name, MetricPrefix)
		}
	}
	for _, want := range []string{
		`iamd_ingest_events_written_total{kind="directory",source="directory[0]"}`,
		`iamd_source_up{kind="directory",source="directory[0]",state="running"}`,
		`iamd_iam_model_loaded`,
		`iamd_job_next_run_timestamp_seconds{job="iam-refresh"}`,
		`iamd_go_goroutines`,
	} {
		if metrics[want] == 0 {
			t.Errorf("metric %s missing or zero", want)
		}
	}
	if _, ok := metrics[`iamd_store_size_bytes{part="lsm"}`]; !ok {
		t.Error("metric iamd_store_size_bytes missing")
	}
	eventually(t, "store gauges", func() bool {
		_, body := d.get("/metrics", "t0ken")
		return metricValues(t, body)[`iamd_store_records{kind="facts"}`] > 0
	})

	code, body := d.get("/api/v1/snapshots", "t0ken")
	var snaps struct {
		Account   string
		Snapshots []json.RawMessage
	}
	if err := json.Unmarshal(body, &snaps); code != http.StatusOK || err != nil || snaps.Account != m.Accounts[0] || len(snaps.Snapshots) != 1 {
		t.Fatalf("/api/v1/snapshots: %d %s", code, body)
	}
	code, body = d.get("/api/v1/jobs", "t0ken")
	if code != http.StatusOK || !strings.Contains(string(body), `"name": "iam-refresh"`) {
		t.Fatalf("/api/v1/jobs: %d %s", code, body)
	}

	if err := d.shutdown(); err != nil {
		t.Fatalf("Run = %v after cancel, want nil", err)
	}
	// The store was closed: it opens again, with every event.
	db, err := store.Open(store.Options{Dir: cfg.Store.Dir})
	if err != nil {
		t.Fatalf("reopen store: %v", err)
	}
	defer db.Close()
	var allowed, denied uint64
	facts, err := db.Facts(context.Background(), store.FactQuery{})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range facts {
		allowed += f.Allowed
		denied += f.Denied
	}
	var wantA, wantD uint64
	for _, u := range m.Usage {
		wantA += u.Allowed
		wantD += u.Denied
	}
	if allowed != wantA || denied != wantD {
		t.Errorf("store holds %d allowed / %d denied calls, manifest %d / %d", allowed, denied, wantA, wantD)
	}
}

// TestFailingSourceRestarts: a source whose directory is missing backs
// off and restarts, reported on /readyz and /api/v1/sources, while the
// other source ingests.
func TestFailingSourceRestarts(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t)
	good := filepath.Join(dir, "good")
	m := generate(t, good, 8, 300, "")
	cfg.Sources.Directory = []configs.DirectorySource{
		{Name: "missing", Path: filepath.Join(dir, "missing"), Poll: configs.Duration(time.Second)},
		{Name: "good", Path: good, Poll: configs.Duration(time.Second)},
	}
	d := startDaemon(t, cfg)
	var srcs []SourceStatus
	eventually(t, "the failing source restarted and the good one ingested", func() bool {
		_, body := d.get("/api/v1/sources", "t0ken")
		srcs = nil
		if err := json.Unmarshal(body, &srcs); err != nil {
			t.Fatalf("%v: %s", err, body)
		}
		return len(srcs) == 2 && srcs[0].Restarts >= 1 && srcs[1].Records == int64(m.Records)
	})
	if srcs[0].LastError == "" || srcs[0].Connected {
		t.Errorf("failing source status %+v, want its error and not connected", srcs[0])
	}
	code, body := d.get("/readyz", "")
	if code != http.StatusServiceUnavailable || !strings.Contains(string(body), "source missing") {
		t.Errorf("/readyz %d %s, want 503 naming the failing source", code, body)
	}
}

func TestRefusesBeyondLoopbackWithoutToken(t *testing.T) {
	cfg := testConfig(t)
	cfg.HTTP.Token = ""
	cfg.HTTP.Listen = "0.0.0.0:0"
	if err := cfg.Validate(); err == nil {
		t.Fatal("Validate accepted a listener beyond loopback without a token")
	}
	err := Run(context.Background(), Options{Config: cfg})
	if !errors.Is(err, ErrNoToken) {
		t.Fatalf("Run = %v, want ErrNoToken", err)
	}
}

func TestStoreLocked(t *testing.T) {
	cfg := testConfig(t)
	db, err := store.Open(store.Options{Dir: cfg.Store.Dir})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = Run(context.Background(), Options{Config: cfg})
	if !errors.Is(err, store.ErrLocked) || !strings.Contains(err.Error(), "stop the other iamd first") {
		t.Fatalf("Run on a held store = %v, want store.ErrLocked and what to do", err)
	}
}

func TestBackoff(t *testing.T) {
	for _, tc := range []struct {
		attempt  int
		rnd      float64
		min, max time.Duration
	}{
		{0, 0, 500 * time.Millisecond, 500 * time.Millisecond},
		{0, 0.999, 500 * time.Millisecond, time.Second},
		{3, 0.5, 4 * time.Second, 8 * time.Second},
		{12, 0.999, backoffMax / 2, backoffMax},
		{100, 0, backoffMax / 2, backoffMax / 2},
	} {
		got := backoff(tc.attempt, tc.rnd)
		if got < tc.min || got > tc.max {
			t.Errorf("backoff(%d, %g) = %v, want in [%v, %v]", tc.attempt, tc.rnd, got, tc.min, tc.max)
		}
	}
}
