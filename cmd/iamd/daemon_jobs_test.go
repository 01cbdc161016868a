package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/iamd/iamd/analyzer/suggest"
	"github.com/iamd/iamd/cmd/iamd/internal/scheduler"
	"github.com/iamd/iamd/cmd/iamd/internal/scheduler/schedulertest"
	"github.com/iamd/iamd/configs"
	"github.com/iamd/iamd/rotator"
	"github.com/iamd/iamd/rotator/awsfake"
	"github.com/iamd/iamd/store"
)

// TestRotationPolicyTakesEveryKey: each key of the rotation section,
// changed alone, changes the policy the rotator gets; the keys that are
// not policy (when and where the job runs) do not.
func TestRotationPolicyTakesEveryKey(t *testing.T) {
	notPolicy := map[string]bool{"Enabled": true, "Schedule": true, "STSEndpoint": true, "SecretsManagerEndpoint": true}
	base := rotationPolicy(configs.Default().Rotation)
	if want := rotator.DefaultPolicy(); !reflect.DeepEqual(base, want) {
		t.Errorf("the default rotation section maps to\n%+v\nwant the rotator's default policy\n%+v", base, want)
	}
	n := 0
	var walk func(v reflect.Value, path string)
	walk = func(v reflect.Value, path string) {
		for i := range v.NumField() {
			f, name := v.Field(i), v.Type().Field(i).Name
			key := path + name
			if f.Kind() == reflect.Struct && f.Type() != reflect.TypeOf(configs.Duration(0)) {
				walk(f, key+".")
				continue
			}
			cfg := configs.Default().Rotation
			field := reflect.ValueOf(&cfg).Elem().FieldByIndex(fieldIndex(reflect.TypeOf(cfg), key))
			switch field.Kind() {
			case reflect.Bool:
				field.SetBool(!field.Bool())
			case reflect.Int, reflect.Int64:
				field.SetInt(field.Int() + 7777)
			case reflect.String:
				field.SetString(field.String() + "-changed")
			case reflect.Slice:
				field.Set(reflect.Append(reflect.MakeSlice(field.Type(), 0, 1), reflect.Zero(field.Type().Elem())))
			case reflect.Map:
				m := reflect.MakeMap(field.Type())
				m.SetMapIndex(reflect.ValueOf("k"), reflect.Zero(field.Type().Elem()))
				field.Set(m)
			default:
				t.Fatalf("rotation.%s: kind %s not handled by the test", key, field.Kind())
			}
			n++
			changed := !reflect.DeepEqual(rotationPolicy(cfg), base)
			if changed == notPolicy[key] {
				t.Errorf("rotation.%s changed alone: policy changed %v, want %v", key, changed, !notPolicy[key])
			}
		}
	}
	walk(reflect.ValueOf(configs.Rotation{}), "")
	if n < 25 {
		t.Fatalf("walked %d keys: the walk is broken", n)
	}
}

// fieldIndex finds a dotted field path ("Users.Groups") in t.
func fieldIndex(t reflect.Type, path string) []int {
	var idx []int
	for _, name := range strings.Split(path, ".") {
		f, _ := t.FieldByName(name)
		idx = append(idx, f.Index...)
		t = f.Type
	}
	return idx
}

// TestValidateConfigRotation: the rotator's own checks of the policy and
// the suggester's of the kept action patterns come with their
// configuration keys, each problem once.
func TestValidateConfigRotation(t *testing.T) {
	cfg, err := configs.Parse(strings.NewReader(`
analysis:
  exclude_actions: ["s3:Get*", "s3:Get[ab]", "s3"]
rotation:
  drain: -1d
  opt_in_tag: ""
  users: {path_prefixes: [service]}
  delivery: {default: vault, secret_name: "iamd/keys", files: {ci: "relative/{user}"}}
`))
	if err != nil {
		t.Fatal(err)
	}
	err = validateConfig(&cfg)
	var errs configs.Errors
	if !errors.As(err, &errs) {
		t.Fatalf("validateConfig = %v, want configs.Errors", err)
	}
	var keys []string
	for _, e := range errs {
		keys = append(keys, e.Key)
	}
	want := []string{"analysis.exclude_actions[2]", "rotation.drain", "analysis.exclude_actions[1]", "rotation.opt_in_tag", "rotation.users.path_prefixes", "rotation.delivery.secret_name", "rotation.delivery.files.ci", "rotation.delivery.default"}
	if !reflect.DeepEqual(keys, want) {
		t.Fatalf("problems at %q, want %q\n%v", keys, want, err)
	}
}

// waitJob polls /api/v1/jobs until the job has run n times and is idle.
func (d *inProcessDaemon) waitJob(t *testing.T, name string, n int64) scheduler.Status {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		_, body := d.get(t, "jobs")
		var js []scheduler.Status
		if err := json.Unmarshal([]byte(body), &js); err != nil {
			t.Fatalf("jobs: %v: %s", err, body)
		}
		for _, j := range js {
			if j.Name == name && j.Runs >= n && !j.Running {
				return j
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("job %s did not run %d times", name, n)
	return scheduler.Status{}
}

func (d *inProcessDaemon) metrics(t *testing.T) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, d.base+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+d.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestDaemonJobs runs the suggestions job and the rotation job in an
// in-process daemon on an injected clock, the rotator talking to the fake
// AWS endpoint over HTTP with the real SDK clients built from the
// configuration: a dry run by default that changes nothing, then a run
// that rotates; each run's outcome in /api/v1/jobs, the suggestion run in
// /api/v1/suggestions, the rotation in /api/v1/rotation, and their
// metrics.
func TestDaemonJobs(t *testing.T) {
	s := newAPITestStore(t, false)
	setFakeAWSEnv(t)
	clock := schedulertest.NewClock(time.Date(2026, 11, 25, 0, 30, 0, 0, time.UTC))
	fake := awsfake.New(awsfake.Options{Now: clock.Now, Seed: 3})
	srv := httptest.NewServer(fake)
	defer srv.Close()
	fake.AddUser(awsfake.User{Name: "carol", Path: "/team/"})
	oldKey := fake.AddKey("carol", clock.Now().Add(-120*24*time.Hour), true)
	fake.AddUser(awsfake.User{Name: "dan"})
	fake.AddKey("dan", clock.Now().Add(-10*24*time.Hour), true)

	out := filepath.Join(t.TempDir(), "suggestions")
	cfg := configs.Default()
	cfg.Store.Dir, cfg.HTTP.Token, cfg.IAM.Refresh = s.dir, "tok", ""
	cfg.Suggestions.Schedule, cfg.Suggestions.OutDir = "0 1 * * *", out
	cfg.IAM.Live = configs.IAMLive{Region: "us-east-1", Endpoint: srv.URL}
	cfg.Rotation.Enabled, cfg.Rotation.Schedule = true, "0 3 * * *"
	cfg.Rotation.STSEndpoint, cfg.Rotation.SecretsManagerEndpoint = srv.URL, srv.URL
	cfg.Rotation.MaxIndexLag = 0

	start := func(cfg configs.Config) *inProcessDaemon { return startInProcessDaemon(t, cfg, clock.Now, clock) }
	d := start(cfg)
	if code, body := d.get(t, "suggestions"); code != http.StatusOK || !strings.Contains(body, `"principals"`) {
		t.Fatalf("suggestions before the job: %d %s (the run of the CLI)", code, body)
	}
	before := fake.Calls()

	// 01:00: the suggestions job.
	clock.AdvanceTo(t, time.Date(2026, 11, 25, 1, 0, 0, 0, time.UTC))
	j := d.waitJob(t, suggestionsJob, 1)
	if j.LastOutcome != scheduler.OutcomeOK || j.NextRun == nil || !j.NextRun.Equal(time.Date(2026, 11, 26, 1, 0, 0, 0, time.UTC)) {
		t.Fatalf("suggestions job status %+v", j)
	}
	_, body := d.get(t, "suggestions")
	var latest suggest.RunResult
	if err := json.Unmarshal([]byte(body), &latest); err != nil {
		t.Fatal(err)
	}
	runDir := filepath.Join(out, "2026-11-25T010000Z")
	if !latest.Run.Equal(clock.Now()) || latest.Out != runDir || len(latest.Summaries) == 0 {
		t.Fatalf("latest suggestions: run %s out %s, %d principals", latest.Run, latest.Out, len(latest.Summaries))
	}
	changed := 0
	for _, sum := range latest.Summaries {
		if sum.Check == nil || !sum.Passed {
			t.Errorf("%s: self-check %+v", sum.Principal, sum.Check)
		}
		if sum.Changes == nil {
			t.Errorf("%s: no changes since the CLI's run", sum.Principal)
		} else if !sum.Changes.Empty() {
			changed++
		}
		if _, err := os.Stat(filepath.Join(sum.Folder, "suggestion.json")); err != nil || !strings.HasPrefix(sum.Folder, runDir) {
			t.Errorf("%s: folder %s: %v", sum.Principal, sum.Folder, err)
		}
	}
	// The CLI's run had a 30-day window, the job the default 90 days over
	// the same activity: the same calls, so the same suggestions.
	if changed != 0 {
		t.Errorf("%d principals changed between two runs over the same calls", changed)
	}

	// 03:00: the rotation job, a dry run by default.
	clock.AdvanceTo(t, time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC))
	if j := d.waitJob(t, rotationJob, 1); j.LastOutcome != scheduler.OutcomeOK {
		t.Fatalf("rotation job %+v", j)
	}
	for _, c := range fake.Calls()[len(before):] {
		if c.Mutating() {
			t.Errorf("dry run called %s", c.Action)
		}
	}
	code, body := d.get(t, "rotation/last-run")
	var rep rotator.Report
	if err := json.Unmarshal([]byte(body), &rep); code != http.StatusOK || err != nil || !rep.DryRun || rep.Started != 1 || len(rep.Users) != 1 || rep.Users[0].User != "carol" {
		t.Fatalf("rotation/last-run: %d %s", code, body)
	}
	m := d.metrics(t)
	for _, want := range []string{`iamd_job_runs_total{job="suggestions",outcome="ok"} 1`, `iamd_job_runs_total{job="rotation",outcome="ok"} 1`,
		`iamd_suggestion_last_run_principals{self_check="passed"} ` + strconv.Itoa(len(latest.Summaries)), `iamd_suggestion_last_run_principals{self_check="failed"} 0`,
		`iamd_rotation_users{phase="draining"} 0`, `iamd_analysis_duration_seconds_count{analysis="suggestions"} 1`} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	d.stop()

	// Acting: the next day's run rotates carol's key.
	cfg.Rotation.DryRun = false
	clock.Set(time.Date(2026, 11, 26, 0, 30, 0, 0, time.UTC))
	d = start(cfg)
	clock.AdvanceTo(t, time.Date(2026, 11, 26, 1, 0, 0, 0, time.UTC))
	d.waitJob(t, suggestionsJob, 2)
	clock.AdvanceTo(t, time.Date(2026, 11, 26, 3, 0, 0, 0, time.UTC))
	if j := d.waitJob(t, rotationJob, 2); j.LastOutcome != scheduler.OutcomeOK {
		t.Fatalf("rotation job %+v", j)
	}
	keys := fake.Keys("carol")
	if len(keys) != 2 || keys[0].ID != oldKey || !keys[0].Active || !keys[1].Active {
		t.Fatalf("carol's keys after the run: %+v", keys)
	}
	if _, ok := fake.SecretValue("iamd/access-keys/carol", "AWSCURRENT"); !ok {
		t.Fatal("the new key was not published to Secrets Manager")
	}
	_, body = d.get(t, "rotation")
	var st []rotator.UserReport
	if err := json.Unmarshal([]byte(body), &st); err != nil || len(st) != 1 {
		t.Fatalf("rotation status: %v %s", err, body)
	}
	for _, u := range st {
		if u.User == "carol" && (u.Phase != rotator.PhaseDraining || u.OldKey == nil || u.OldKey.ID != oldKey || u.NewKey == nil || u.NewKey.ID != keys[1].ID) {
			t.Fatalf("carol: %+v", u)
		}
	}
	if m := d.metrics(t); !strings.Contains(m, `iamd_rotation_users{phase="draining"} 1`) {
		t.Errorf("metrics lack the draining rotation")
	}
	for _, secret := range fake.GeneratedSecrets() {
		if strings.Contains(body, secret) || strings.Contains(d.metrics(t), secret) {
			t.Fatal("a secret access key reached the API or the metrics")
		}
	}
}

// TestReadCommandsAskTheDaemon: while a daemon holds the store, the read
// commands print what they print on a free store, asked of its API; the
// daemon found from the environment or from --config; without either they
// say in one sentence how to get there.
func TestReadCommandsAskTheDaemon(t *testing.T) {
	s := newAPITestStore(t, true)
	commands := [][]string{
		{"report"}, {"report", "--principal", s.principal}, {"unused"}, {"usage", "--limit", "5"}, {"usage", "principals"},
		{"rotate", "status"}, {"suggest", "latest"}, {"suggest", "--dry-run", "--window", "30d"}, {"audit"},
	}
	type answer struct{ json, table string }
	free := make([]answer, len(commands))
	for i, c := range commands {
		j, _, err := iamdAt(t, s.now, append(append([]string{}, c...), "--store", s.dir, "--format", "json")...)
		if err != nil {
			t.Fatalf("iamd %v: %v", c, err)
		}
		tb, _, err := iamdAt(t, s.now, append(append([]string{}, c...), "--store", s.dir)...)
		if err != nil {
			t.Fatalf("iamd %v: %v", c, err)
		}
		free[i] = answer{j, tb}
	}
	if !strings.Contains(free[1].table, s.principal) || !strings.Contains(free[5].table, "alice") {
		t.Fatalf("nothing to compare:\n%s", free[5].table)
	}

	cfg := configs.Default()
	cfg.Store.Dir, cfg.HTTP.Token, cfg.IAM.Refresh, cfg.Suggestions.Schedule = s.dir, "tok", "", ""
	d := startInProcessDaemon(t, cfg, func() time.Time { return s.now }, nil)
	addr := strings.TrimPrefix(d.base, "http://")

	t.Run("no daemon known", func(t *testing.T) {
		for _, v := range []string{"IAMD_HTTP_ADDR", "IAMD_HTTP_TOKEN", "IAMD_HTTP_TOKEN_FILE"} {
			t.Setenv(v, "")
		}
		_, _, err := iamdAt(t, s.now, "report", "--store", s.dir)
		msg, _, _ := strings.Cut(fmt.Sprint(err), " (open store")
		if err == nil || !errors.Is(err, store.ErrLocked) || !strings.Contains(msg, "--config") || !strings.Contains(msg, "$IAMD_HTTP_ADDR") || strings.Contains(msg, ". ") {
			t.Fatalf("report on a held store = %v", err)
		}
	})
	t.Run("from the environment", func(t *testing.T) {
		t.Setenv("IAMD_HTTP_ADDR", addr)
		t.Setenv("IAMD_HTTP_TOKEN", "tok")
		for i, c := range commands {
			j, stderr, err := iamdAt(t, s.now, append(append([]string{}, c...), "--store", s.dir, "-o", "json")...)
			if err != nil {
				t.Fatalf("iamd %v: %v", c, err)
			}
			if j != free[i].json {
				t.Errorf("iamd %v -o json from the daemon:\n%s\nwant\n%s", c, clip(j), clip(free[i].json))
			}
			if !strings.Contains(stderr, "answered by its API at "+d.base) {
				t.Errorf("iamd %v does not say the daemon answered: %q", c, stderr)
			}
			tb, _, err := iamdAt(t, s.now, append(append([]string{}, c...), "--store", s.dir)...)
			if err != nil {
				t.Fatalf("iamd %v: %v", c, err)
			}
			if tb != free[i].table {
				t.Errorf("iamd %v from the daemon:\n%s\nwant\n%s", c, clip(tb), clip(free[i].table))
			}
		}
		t.Setenv("IAMD_HTTP_TOKEN", "wrong")
		if _, _, err := iamdAt(t, s.now, "unused", "--store", s.dir); err == nil || !strings.Contains(err.Error(), "401") {
			t.Fatalf("unused with a wrong token = %v", err)
		}
	})
	t.Run("from --config", func(t *testing.T) {
		for _, v := range []string{"IAMD_HTTP_ADDR", "IAMD_HTTP_TOKEN", "IAMD_HTTP_TOKEN_FILE", "IAMD_STORE"} {
			t.Setenv(v, "")
		}
		file := filepath.Join(t.TempDir(), "iamd.yaml")
		if err := os.WriteFile(file, []byte("store: {dir: "+s.dir+"}\nhttp: {listen: \""+addr+"\", token: tok}\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		j, _, err := iamdAt(t, s.now, "rotate", "status", "--config", file, "-o", "json")
		if err != nil || j != free[5].json {
			t.Fatalf("rotate status --config: %v\n%s", err, j)
		}
	})
}
