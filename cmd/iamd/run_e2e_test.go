package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/iamd/iamd/cmd/iamd/internal/listing"
	"github.com/iamd/iamd/ingest/trailgen"
	"github.com/iamd/iamd/store"
)

// TestDaemonProcess is not a test: run as a subprocess by TestRunEndToEnd
// it is `iamd` with the arguments in $IAMD_E2E_ARGS.
func TestDaemonProcess(t *testing.T) {
	args := os.Getenv("IAMD_E2E_ARGS")
	if args == "" {
		t.Skip("helper process for TestRunEndToEnd")
	}
	os.Args = append([]string{"iamd"}, strings.Split(args, "\n")...)
	os.Exit(run())
}

// daemonProc is `iamd run` as a subprocess.
type daemonProc struct {
	cmd  *exec.Cmd
	log  *bytes.Buffer
	base string
	done chan error
}

func startDaemonProc(t *testing.T, config, addr string) *daemonProc {
	t.Helper()
	p := &daemonProc{log: &bytes.Buffer{}, base: "http://" + addr, done: make(chan error, 1)}
	p.cmd = exec.Command(os.Args[0], "-test.run=^TestDaemonProcess$")
	p.cmd.Env = append(os.Environ(), "IAMD_E2E_ARGS=run\n--config\n"+config, "IAMD_HTTP_TOKEN=e2e-token")
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

func (p *daemonProc) get(t *testing.T, path string, v any) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, p.base+path, nil)
	req.Header.Set("Authorization", "Bearer e2e-token")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if v != nil && resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("GET %s: %v: %s", path, err, b)
		}
	}
	return resp.StatusCode
}

// body is the answer to an authenticated GET of path, which must be 200.
func (p *daemonProc) body(t *testing.T, path string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, p.base+path, nil)
	req.Header.Set("Authorization", "Bearer e2e-token")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v: %s", path, resp.StatusCode, err, b)
	}
	return string(b)
}

func (p *daemonProc) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		select {
		case err := <-p.done:
			t.Fatalf("daemon exited (%v) while waiting for %s:\n%s", err, what, p.log)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; daemon log:\n%s", what, p.log)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// sigterm stops the daemon and requires exit status 0.
func (p *daemonProc) sigterm(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("daemon exited with %v after SIGTERM; log:\n%s", err, p.log)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("daemon did not exit after SIGTERM; log:\n%s", p.log)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// calls sums allowed and denied calls per principal.
func calls(ps []listing.Principal) (allowed, denied uint64) {
	for _, p := range ps {
		allowed += p.Allowed
		denied += p.Denied
	}
	return
}

// TestRunEndToEnd runs `iamd run` as a process with a directory-watch
// source and a Kafka source (kfake): files dropped in and messages
// produced show in /api/v1; SIGTERM with messages still arriving exits 0;
// a restart picks up the rest; and the store then holds exactly what was
// generated: nothing lost, nothing counted twice.
func TestRunEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end daemon test skipped with -short")
	}
	dir := t.TempDir()
	in := filepath.Join(dir, "incoming")
	if err := os.Mkdir(in, 0o755); err != nil {
		t.Fatal(err)
	}
	const topic = "cloudtrail"
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	broker := cluster.ListenAddrs()[0]

	// Two trails from different seeds (different accounts): one as files,
	// one as Kafka messages, one record each.
	gen := func(seed int64, events int) *trailgen.Generator {
		o := trailgen.DefaultOptions(seed)
		o.Events = events
		g, err := trailgen.New(o)
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	files := gen(11, 2000)
	mFiles, err := files.WriteLogFiles(context.Background(), trailgen.DirSink{Dir: filepath.Join(dir, "gen")})
	if err != nil {
		t.Fatal(err)
	}
	var msgs []kafka.Message
	mKafka, err := gen(12, 2000).Records(context.Background(), func(r trailgen.Record) error {
		msgs = append(msgs, kafka.Message{Value: r.JSON})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	produce := func(ms []kafka.Message) {
		w := &kafka.Writer{Addr: kafka.TCP(broker), Topic: topic, Balancer: &kafka.RoundRobin{}, BatchTimeout: 5 * time.Millisecond, RequiredAcks: kafka.RequireAll}
		defer w.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := w.WriteMessages(ctx, ms...); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}

	addr := freeAddr(t)
	config := filepath.Join(dir, "iamd.yaml")
	storeDir := filepath.Join(dir, "store")
	if err := os.WriteFile(config, []byte(fmt.Sprintf(`
store: {dir: %q}
sources:
  directory:
    - {name: drop, path: %q, poll: 200ms, settle: 0s}
  kafka:
    - {name: trail-topic, brokers: [%q], topics: [%s], group: iamd-e2e, batch_wait: 200ms}
http: {listen: %q}
logging: {level: info, format: json}
`, storeDir, in, broker, topic, addr)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := runIamdStdout(t, "config", "check", config); err != nil {
		t.Fatalf("config check: %v\n%s", err, out)
	}

	p := startDaemonProc(t, config, addr)
	p.waitFor(t, "/readyz", func() bool { return p.get(t, "/readyz", nil) == http.StatusOK })

	if err := os.Rename(filepath.Join(dir, "gen", "AWSLogs"), filepath.Join(in, "AWSLogs")); err != nil {
		t.Fatal(err)
	}
	half := len(msgs) / 2
	produce(msgs[:half])

	sum := func(m *trailgen.Manifest) (a, d uint64) {
		for _, u := range m.Usage {
			a += u.Allowed
			d += u.Denied
		}
		return
	}
	fa, fd := sum(mFiles)
	ka, kd := sum(mKafka)
	var sources []struct {
		Name    string
		Records int64
		Written int64
	}
	p.waitFor(t, "every file and the first half of the messages in /api/v1/sources", func() bool {
		p.get(t, "/api/v1/sources", &sources)
		return len(sources) == 2 && sources[0].Records == int64(mFiles.Records) && sources[1].Records == int64(half)
	})
	var ps []listing.Principal
	p.get(t, "/api/v1/principals", &ps)
	if a, d := calls(ps); a < fa || d < fd {
		t.Fatalf("/api/v1/principals shows %d allowed / %d denied calls, want at least the files' %d / %d", a, d, fa, fd)
	}
	var facts []listing.UsageFact
	if code := p.get(t, "/api/v1/usage?limit=5", &facts); code != http.StatusOK || len(facts) != 5 {
		t.Fatalf("/api/v1/usage?limit=5: %d, %d facts", code, len(facts))
	}

	// The rest of the messages arrive as the daemon is told to stop.
	produce(msgs[half:])
	p.sigterm(t)

	// A restart reads what the first run had not committed.
	p = startDaemonProc(t, config, addr)
	p.waitFor(t, "every call in /api/v1/principals", func() bool {
		var ps []listing.Principal
		if p.get(t, "/api/v1/principals", &ps) != http.StatusOK {
			return false
		}
		a, d := calls(ps)
		return a == fa+ka && d == fd+kd
	})
	p.sigterm(t)

	// Nothing lost, nothing counted twice: fact by fact.
	db, err := store.Open(store.Options{Dir: storeDir, MustExist: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	got := map[[3]string][2]uint64{}
	if err := db.EachFact(context.Background(), store.FactQuery{}, func(f store.Fact) error {
		got[[3]string{f.Principal, f.Action, f.Resource}] = [2]uint64{f.Allowed, f.Denied}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want := map[[3]string][2]uint64{}
	for _, m := range []*trailgen.Manifest{mFiles, mKafka} {
		for _, u := range m.Usage {
			k := [3]string{u.Principal, u.Action, u.Resource}
			w := want[k]
			want[k] = [2]uint64{w[0] + u.Allowed, w[1] + u.Denied}
		}
	}
	if len(got) != len(want) {
		t.Errorf("store holds %d facts, the trails %d", len(got), len(want))
	}
	bad := 0
	for k, w := range want {
		if got[k] != w && bad < 5 {
			bad++
			t.Errorf("fact %v: store %v, generated %v", k, got[k], w)
		}
	}
}
