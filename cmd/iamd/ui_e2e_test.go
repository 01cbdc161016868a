package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/iamd/iamd/analyzer/report"
	"github.com/iamd/iamd/analyzer/suggest"
	"github.com/iamd/iamd/analyzer/unused"
	"github.com/iamd/iamd/cmd/iamd/internal/listing"
	"github.com/iamd/iamd/rotator"
	"github.com/iamd/iamd/rotator/awsfake"
	"github.com/iamd/iamd/store"
)

// chromiumPath finds Debian's chromium ($IAMD_CHROMIUM overrides).
func chromiumPath() string {
	if p := os.Getenv("IAMD_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// screenshotDir is where the browser test leaves its screenshots:
// $IAMD_UI_SCREENSHOTS, else iamd-ui-screenshots in the temporary
// directory, emptied first. It outlives the test, to be looked at.
func screenshotDir(t *testing.T) string {
	dir := os.Getenv("IAMD_UI_SCREENSHOTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "iamd-ui-screenshots")
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// cliJSON runs an iamd command and decodes its standard output into each
// of vs in turn (audit prints one document per account).
func cliJSON(t *testing.T, args []string, vs ...any) {
	t.Helper()
	out, err := runIamdStdout(t, args...)
	if err != nil {
		t.Fatalf("iamd %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	dec := json.NewDecoder(strings.NewReader(out))
	for _, v := range vs {
		if err := dec.Decode(v); err != nil {
			t.Fatalf("iamd %s: decode: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// cliAudit runs `iamd audit --store -o json`: one document per account.
func cliAudit(t *testing.T, storeDir string) []listing.Audit {
	t.Helper()
	out, err := runIamdStdout(t, "audit", "--store", storeDir, "-o", "json")
	if err != nil {
		t.Fatalf("iamd audit: %v\n%s", err, out)
	}
	return decodeAudits(t, "iamd audit", out)
}

// decodeAudits reads the audit's JSON: one document per account, one
// after the other (the CLI's and the API's output alike).
func decodeAudits(t *testing.T, what, out string) []listing.Audit {
	t.Helper()
	var audits []listing.Audit
	dec := json.NewDecoder(strings.NewReader(out))
	for dec.More() {
		var a listing.Audit
		if err := dec.Decode(&a); err != nil {
			t.Fatalf("%s: decode: %v\n%s", what, err, clip(out))
		}
		audits = append(audits, a)
	}
	return audits
}

// demoUser is the first IAM user of the demo's account.
func demoUser(t *testing.T, iamFile string) string {
	t.Helper()
	b, err := os.ReadFile(iamFile)
	if err != nil {
		t.Fatal(err)
	}
	var details struct{ UserDetailList []struct{ Arn string } }
	if err := json.Unmarshal(b, &details); err != nil || len(details.UserDetailList) == 0 {
		t.Fatalf("%s: no user (%v)", iamFile, err)
	}
	return details.UserDetailList[0].Arn
}

// startDrainingRotation puts a key rotation in progress in the store:
// user gets a 120-day-old key in the in-process AWS fake, the usage index
// sees that key sign one of the user's usual calls an hour ago (from
// stillUsingIP), and `iamd rotate run --apply` rotates it against the
// fake: a new key is created, delivered and verified, and the old one,
// still in use, drains. It returns the old key's ID.
func startDrainingRotation(t *testing.T, storeDir, user string) string {
	t.Helper()
	for k, v := range map[string]string{"AWS_CA_BUNDLE": "", "AWS_ACCESS_KEY_ID": awsfake.AdminKeyID, "AWS_SECRET_ACCESS_KEY": awsfake.AdminSecret,
		"AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent", "AWS_PROFILE": "", "AWS_REGION": ""} {
		t.Setenv(k, v)
	}
	parts := strings.SplitN(user, ":", 6)
	account, name := parts[4], user[strings.LastIndexByte(user, '/')+1:]
	fake := awsfake.New(awsfake.Options{AccountID: account})
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	fake.AddUser(awsfake.User{Name: name})
	if got := fake.UserARN(name); got != user {
		t.Fatalf("the fake's user %s is not the demo's %s", got, user)
	}
	now := time.Now().UTC()
	old := fake.AddKey(name, now.Add(-120*24*time.Hour), true)

	ctx := context.Background()
	db, err := store.Open(store.Options{Dir: storeDir, MustExist: true})
	if err != nil {
		t.Fatal(err)
	}
	facts, err := db.Facts(ctx, store.FactQuery{Principal: user})
	if err != nil {
		t.Fatal(err)
	}
	var usual *store.Fact
	for i := range facts {
		if facts[i].Allowed > 0 {
			usual = &facts[i]
			break
		}
	}
	if usual == nil {
		t.Fatalf("%s made no allowed call in the demo", user)
	}
	service, op, _ := strings.Cut(usual.Action, ":")
	if _, err := db.Write(ctx, &store.Batch{Events: []store.Event{{ID: "dashboard-e2e-old-key-call", Time: now.Add(-time.Hour),
		Principal: user, PrincipalType: "IAMUser", AccountID: account, RecipientAccountID: account, AccessKeyID: old,
		SourceIP: stillUsingIP, UserAgent: "legacy-cron/1.0", Region: "us-east-1", EventSource: service + ".amazonaws.com", EventName: op,
		Uses: []store.Use{{Action: usual.Action, Resource: usual.Resource}}}}}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	out, err := runIamd(t, "rotate", "run", "--apply", "--store", storeDir, "--endpoint", srv.URL, "--sts-endpoint", srv.URL,
		"--secretsmanager-endpoint", srv.URL, "--region", "us-east-1")
	if err != nil {
		t.Fatalf("rotate run --apply: %v\n%s", err, out)
	}
	return old
}

// stillUsingIP signs with the draining key in the browser test.
const stillUsingIP = "198.51.100.77"

// apiSource is what the browser test reads of /api/v1/sources.
type apiSource struct {
	Name        string
	State       string
	Records     int64
	Quarantined map[string]int64
}

func (s apiSource) quarantined() int64 {
	var n int64
	for _, v := range s.Quarantined {
		n += v
	}
	return n
}

// browserLog collects what the page logs as an error: console.error,
// uncaught exceptions, and the browser's own log entries (failed loads,
// CSP violations).
type browserLog struct {
	mu   sync.Mutex
	errs []string
}

// listen is a chromedp.Listen func: it runs before the command that
// follows the event returns, so take sees every error of a page loaded.
func (l *browserLog) listen(ev any) {
	var msg string
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert {
			var parts []string
			for _, a := range ev.Args {
				parts = append(parts, string(a.Value)+a.Description)
			}
			msg = "console." + string(ev.Type) + ": " + strings.Join(parts, " ")
		}
	case *runtime.EventExceptionThrown:
		msg = "exception: " + ev.ExceptionDetails.Text
	case *cdplog.EventEntryAdded:
		if ev.Entry.Level == cdplog.EntryLevelError {
			msg = fmt.Sprintf("%s: %s (%s)", ev.Entry.Source, ev.Entry.Text, ev.Entry.URL)
		}
	}
	if msg != "" {
		l.mu.Lock()
		l.errs = append(l.errs, msg)
		l.mu.Unlock()
	}
}

// take returns the errors logged since the last call.
func (l *browserLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.errs
	l.errs = nil
	return e
}

// browse runs one action that returns a value.
func browse[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// overviewRow is what the overview shows of a principal.
type overviewRow struct {
	ARN                                 string
	Used, Unused, Unobservable, Granted string
	Denied                              string
}

// TestDashboardInBrowser runs `iamd run` on the demo's store and drives
// Debian's chromium through the dashboard: the login refuses a wrong
// token, every page loads without a console error, the numbers shown are
// those of the CLI's JSON for the same store (what the API answers), the
// filter lives in the URL, and each page is saved as a PNG.
func TestDashboardInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test skipped with -short")
	}
	chrome := chromiumPath()
	if chrome == "" {
		t.Skip("chromium is not installed (apt-get install chromium; .ci/run installs it): the browser test of the dashboard is skipped")
	}
	start := time.Now()
	dir := t.TempDir()
	demo := filepath.Join(dir, "demo")
	if out, err := runIamd(t, "demo", "--keep", demo, "--events", "12000"); err != nil {
		t.Fatalf("demo: %v\n%s", err, out)
	}
	st := filepath.Join(demo, "store")
	rotUser := demoUser(t, filepath.Join(demo, "iam.json"))
	oldKey := startDrainingRotation(t, st, rotUser)

	// What the JSON API answers for this store: the CLI's -o json, read
	// before the daemon holds the store.
	var (
		rep report.Report
		un  unused.Result
		rot []rotator.UserReport
		sug suggest.RunResult
	)
	cliJSON(t, []string{"report", "-o", "json", "--store", st}, &rep)
	cliJSON(t, []string{"unused", "-o", "json", "--store", st}, &un)
	audits := cliAudit(t, st)
	cliJSON(t, []string{"rotate", "status", "-o", "json", "--store", st}, &rot)
	// A suggestion run kept in the store: the principal page counts its
	// changes from it.
	cliJSON(t, []string{"suggest", "--out", filepath.Join(dir, "suggestions"), "-o", "json", "--store", st}, &sug)

	// A directory source with one broken file: the ingest panel has a
	// source, and a quarantined record.
	in := filepath.Join(dir, "incoming")
	if err := os.MkdirAll(in, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(in, "broken.json"), []byte(`{"Records": [{"eventVersion": "1.08", `), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	config := filepath.Join(dir, "iamd.yaml")
	if err := os.WriteFile(config, []byte(fmt.Sprintf(`store: {dir: %q}
iam: {file: %q}
sources:
  directory:
    - {name: incoming, path: %q, poll: 200ms, settle: 0s}
http: {listen: %q}
`, st, filepath.Join(demo, "iam.json"), in, addr)), 0o644); err != nil {
		t.Fatal(err)
	}
	p := startDaemonProc(t, config, addr)
	p.waitFor(t, "/readyz", func() bool { return p.get(t, "/readyz", nil) == http.StatusOK })
	base := p.base
	var sources []apiSource
	p.waitFor(t, "the broken file quarantined in /api/v1/sources", func() bool {
		p.get(t, "/api/v1/sources", &sources)
		return len(sources) == 1 && sources[0].quarantined() > 0
	})
	var quarantined []listing.Quarantined
	p.get(t, "/api/v1/quarantine?limit=1000", &quarantined)
	var jobs []struct{ Name string }
	p.get(t, "/api/v1/jobs", &jobs)
	// The pages must show the numbers the daemon's API answers (the
	// same as the CLI's for the same store).
	for _, e := range []struct {
		path string
		v    any
	}{{"/api/v1/report", &rep}, {"/api/v1/unused", &un}, {"/api/v1/rotation", &rot}} {
		if code := p.get(t, e.path, e.v); code != http.StatusOK {
			t.Fatalf("GET %s: %d", e.path, code)
		}
	}
	audits = decodeAudits(t, "GET /api/v1/audit", p.body(t, "/api/v1/audit"))

	// Without a browser: a wrong bearer token is refused, the right one
	// opens a page, and nothing is served without one but the redirect.
	for _, tc := range []struct {
		auth string
		want int
	}{{"Bearer wrong-token", http.StatusUnauthorized}, {"Bearer e2e-token", http.StatusOK}, {"", http.StatusSeeOther}} {
		req, _ := http.NewRequest(http.MethodGet, base+"/audit", nil)
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Fatalf("GET /audit with %q: %d, want %d", tc.auth, resp.StatusCode, tc.want)
		}
		if tc.want != http.StatusOK && bytes.Contains(body, []byte("IAM0")) {
			t.Fatalf("GET /audit with %q answered findings:\n%s", tc.auth, body)
		}
	}

	shots := screenshotDir(t)
	t.Logf("screenshots of every page: %s", shots)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chrome), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(1440, 900))
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(alloc)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, 4*time.Minute) // CI shares two cores with other packages' tests
	defer cancelTimeout()
	logs := &browserLog{}
	if err := chromedp.Listen(ctx, logs.listen); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	run := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("%s: %v\ndaemon log:\n%s", what, err, p.log)
		}
	}
	colors := func(scheme string) {
		t.Helper()
		if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}}); err != nil {
			t.Fatalf("prefers-color-scheme %s: %v", scheme, err)
		}
	}
	shot := func(name string) {
		t.Helper()
		png := browse(t, ctx, "screenshot "+name, chromedp.FullScreenshot(100))
		if err := os.WriteFile(filepath.Join(shots, name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	noErrors := func(page string) {
		t.Helper()
		if errs := logs.take(); len(errs) > 0 {
			t.Errorf("%s logged errors in the browser:\n  %s", page, strings.Join(errs, "\n  "))
		}
	}
	location := func() *url.URL {
		t.Helper()
		loc := browse(t, ctx, "location", chromedp.Location())
		u, err := url.Parse(loc)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}

	// Signing in: a page asked for sends to the form; a wrong token is
	// refused there.
	run("open the audit page", chromedp.Navigate(base+"/audit?severity=high"), chromedp.WaitVisible(chromedp.ID("token")))
	if u := location(); u.Path != "/login" || u.Query().Get("next") != "/audit?severity=high" {
		t.Fatalf("without a session /audit went to %s, want the login form with next=/audit?severity=high", u)
	}
	noErrors("the login form")
	shot("login")
	run("wrong token", chromedp.SendKeys(chromedp.ID("token"), "not-the-token"), chromedp.Submit(chromedp.ID("token")),
		chromedp.WaitVisible(chromedp.CSS(".error")))
	refused := browse(t, ctx, "the refusal", chromedp.Text(chromedp.CSS(".error")))
	if !strings.Contains(refused, "Wrong token") || location().Path != "/login" {
		t.Fatalf("a wrong token gave %q at %s, want the form again saying Wrong token", refused, location())
	}
	shot("login-refused")
	// The refusal is a 401: the only error the browser may log.
	for _, e := range logs.take() {
		if !strings.Contains(e, "401") {
			t.Errorf("the refused login logged %q", e)
		}
	}
	run("right token", chromedp.SendKeys(chromedp.ID("token"), "e2e-token"), chromedp.Submit(chromedp.ID("token")),
		chromedp.WaitVisible(chromedp.CSS("table.findings")))
	if u := location(); u.Path != "/audit" || u.Query().Get("severity") != "high" {
		t.Fatalf("after signing in the browser is at %s, want /audit?severity=high", u)
	}
	noErrors("the audit page after signing in")

	// Overview: one row per principal, with the report's numbers.
	run("overview", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("table.principals")))
	noErrors("the overview")
	shot("overview")
	rows := browse(t, ctx, "read the overview", chromedp.Evaluate[[]overviewRow](`Array.from(document.querySelectorAll("table.principals tbody tr")).map(tr => {
		const v = k => tr.querySelector('[data-k="' + k + '"]').textContent.trim();
		return {ARN: tr.dataset.arn, Used: v("used"), Unused: v("unused"), Unobservable: v("unobservable"), Granted: v("granted"), Denied: v("denied")};
	})`))
	if len(rows) != len(rep.Principals) {
		t.Errorf("the overview lists %d principals, the report %d", len(rows), len(rep.Principals))
	}
	want := map[string]overviewRow{}
	var totalUnused int
	for _, pr := range rep.Principals {
		var denied uint64
		for _, d := range pr.Denied {
			denied += d.Calls
		}
		r := overviewRow{ARN: pr.Principal, Used: fmt.Sprint(pr.Utilisation.Used), Unused: fmt.Sprint(len(pr.Unused)),
			Unobservable: fmt.Sprint(len(pr.Unobservable)), Granted: "—", Denied: fmt.Sprint(denied)}
		if pr.Status == report.StatusAnalysed {
			r.Granted = fmt.Sprint(pr.Utilisation.Granted)
			totalUnused += len(pr.Unused)
		}
		want[pr.Principal] = r
	}
	for i, r := range rows {
		if w, ok := want[r.ARN]; !ok || r != w {
			t.Errorf("overview row %d: %+v, the report says %+v", i, r, w)
		}
		if i > 0 && rows[i-1].Granted != "—" && r.Granted != "—" && atoi(t, rows[i-1].Unused) < atoi(t, r.Unused) {
			t.Errorf("overview row %d (%s, %s unused) ranks below one with fewer unused", i, r.ARN, r.Unused)
		}
	}
	var auditFindings int
	for _, a := range audits {
		auditFindings += len(a.Findings)
	}
	totals := browse(t, ctx, "read the totals", chromedp.Evaluate[map[string]string](`Object.fromEntries(Array.from(document.querySelectorAll("[data-total]")).map(e => [e.dataset.total, e.textContent.trim()]))`))
	for k, w := range map[string]string{"principals": fmt.Sprint(len(rep.Principals)), "unused": fmt.Sprint(totalUnused),
		"unused-findings": fmt.Sprint(len(un.Findings)), "audit-findings": fmt.Sprint(auditFindings)} {
		if totals[k] != w {
			t.Errorf("overview total %s = %q, the JSON says %s", k, totals[k], w)
		}
	}
	// Ingest health and jobs: those of /api/v1/sources, /quarantine, /jobs.
	type ingestPanel struct {
		Quarantined string
		Sources     map[string][]string
		Jobs        []string
	}
	panel := browse(t, ctx, "read the ingest panel", chromedp.Evaluate[ingestPanel](`({
		Quarantined: document.querySelector('dd [data-k="quarantined"]').textContent.trim(),
		Sources: Object.fromEntries(Array.from(document.querySelectorAll("tr[data-source]")).map(tr =>
			[tr.dataset.source, ["state", "records", "quarantined"].map(k => tr.querySelector('[data-k="' + k + '"]').textContent.trim())])),
		Jobs: Array.from(document.querySelectorAll("tr[data-job]")).map(tr => tr.dataset.job),
	})`))
	if panel.Quarantined != fmt.Sprint(len(quarantined)) {
		t.Errorf("the overview shows %s quarantined records, /api/v1/quarantine %d", panel.Quarantined, len(quarantined))
	}
	wantSources := map[string][]string{}
	for _, s := range sources {
		wantSources[s.Name] = []string{s.State, fmt.Sprint(s.Records), fmt.Sprint(s.quarantined())}
	}
	if fmt.Sprint(panel.Sources) != fmt.Sprint(wantSources) {
		t.Errorf("the overview's sources (state, records, quarantined) %v, /api/v1/sources %v", panel.Sources, wantSources)
	}
	var wantJobs []string
	for _, j := range jobs {
		wantJobs = append(wantJobs, j.Name)
	}
	sameSet(t, "jobs on the overview", panel.Jobs, wantJobs)
	colors("dark")
	shot("overview-dark")
	colors("light")

	// The filter is in the URL: a shared link shows the same rows.
	name := parseARNName(rows[0].ARN)
	run("filter by name", chromedp.SendKeys(chromedp.CSS(`input[name="name"]`), name), chromedp.Submit(chromedp.CSS(`input[name="name"]`)),
		chromedp.WaitVisible(chromedp.CSS("table.principals")))
	// WaitVisible may still see the page the form was sent from: the
	// filtered one has loaded when the URL carries the filter.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		u := location()
		if u.Query().Get("name") == name {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("filtering by name left the URL at %s", u)
		}
	}
	run("the filtered overview", chromedp.WaitVisible(chromedp.CSS("table.principals")))
	filtered := browse(t, ctx, "read the filtered overview", chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("table.principals tbody tr")).map(tr => tr.dataset.arn)`))
	for _, a := range filtered {
		if !strings.Contains(strings.ToLower(a), strings.ToLower(name)) {
			t.Errorf("filter name=%s shows %s", name, a)
		}
	}
	if len(filtered) == 0 {
		t.Errorf("filter name=%s shows nothing", name)
	}
	noErrors("the filtered overview")
	shot("overview-filtered")

	// A shared link: the account filter in the URL shows that account's
	// principals only, and the navigation keeps it.
	acct := rep.Principals[len(rep.Principals)-1].Account
	run("shared link", chromedp.Navigate(base+"/?account="+acct), chromedp.WaitVisible(chromedp.CSS("table.principals")))
	shared := browse(t, ctx, "read the shared link", chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("table.principals tbody tr")).map(tr => tr.dataset.arn)`))
	var wantShared []string
	for _, pr := range rep.Principals {
		if pr.Account == acct {
			wantShared = append(wantShared, pr.Principal)
		}
	}
	sameSet(t, "principals of account "+acct, shared, wantShared)
	if nav := browse(t, ctx, "read the navigation", chromedp.AttributeValue(chromedp.CSS(`nav a[href^="/unused"]`), "href")); nav.Value != "/unused?account="+acct {
		t.Errorf("the navigation links %s, want the filter kept", nav.Value)
	}
	noErrors("the shared link")

	// The principal with the most unused permissions.
	top := rows[0].ARN
	pr, _ := rep.Find(top)
	run("principal", chromedp.Navigate(base+"/principal?arn="+url.QueryEscape(top)), chromedp.WaitVisible(chromedp.ID("suggestion")))
	noErrors("the principal page")
	shot("principal")
	type principalPage struct {
		Totals  map[string]string
		Used    []string
		Unused  []string
		Denied  map[string]string
		Charted []string
		Check   string
		Removed []string
	}
	page := browse(t, ctx, "read the principal page", chromedp.Evaluate[principalPage](`({
		Totals: Object.fromEntries(Array.from(document.querySelectorAll("[data-total]")).map(e => [e.dataset.total, e.textContent.trim()])),
		Used: Array.from(document.querySelectorAll("#used + .scroll tr[data-act]")).map(tr => tr.dataset.act),
		Unused: Array.from(document.querySelectorAll("#unused + .scroll tr[data-act]")).map(tr => tr.dataset.act),
		Denied: Object.fromEntries(Array.from(document.querySelectorAll("#denied + .scroll tr[data-act]")).map(tr => [tr.dataset.act, tr.querySelector('[data-k="calls"]').textContent.trim()])),
		Charted: Array.from(document.querySelectorAll("svg.chart g[data-service]")).map(g => g.dataset.service),
		Check: (document.querySelector('[data-k="self-check"]') || {}).textContent || "",
		Removed: Array.from(document.querySelectorAll("#suggestion tr[data-act]")).map(tr => tr.dataset.act),
	})`))
	var wantUsed, wantUnused, wantServices []string
	wantDenied := map[string]string{}
	for _, a := range pr.Used {
		wantUsed = append(wantUsed, a.Action)
	}
	for _, a := range pr.Unused {
		wantUnused = append(wantUnused, a.Action)
	}
	for _, d := range pr.Denied {
		wantDenied[d.Action] = fmt.Sprint(d.Calls)
	}
	for _, s := range pr.Utilisation.Services {
		wantServices = append(wantServices, s.Service)
	}
	sameSet(t, "used actions of "+top, page.Used, wantUsed)
	sameSet(t, "unused actions of "+top, page.Unused, wantUnused)
	sameSet(t, "services charted for "+top, page.Charted, wantServices)
	if fmt.Sprint(page.Denied) != fmt.Sprint(wantDenied) {
		t.Errorf("refused attempts of %s: page %v, report %v", top, page.Denied, wantDenied)
	}
	for k, w := range map[string]string{"used": fmt.Sprint(pr.Utilisation.Used), "unused": fmt.Sprint(len(pr.Unused)), "unobservable": fmt.Sprint(len(pr.Unobservable))} {
		if page.Totals[k] != w {
			t.Errorf("principal %s: %s = %q, the report says %s", top, k, page.Totals[k], w)
		}
	}
	var sum *suggest.Summary
	for i := range sug.Summaries {
		if sug.Summaries[i].Principal == top {
			sum = &sug.Summaries[i]
		}
	}
	if sum == nil {
		t.Fatalf("iamd suggest made no suggestion for %s, the principal with the most unused permissions", top)
	}
	if got, want := page.Totals["removed"], fmt.Sprint(sum.Removed); got != want || len(page.Removed) != sum.Removed {
		t.Errorf("suggestion for %s removes %s (%d rows), iamd suggest %s", top, got, len(page.Removed), want)
	}
	if got, want := page.Totals["kept"], fmt.Sprint(sum.Kept); sum.Kept > 0 && got != want {
		t.Errorf("suggestion for %s keeps %s, iamd suggest %s", top, got, want)
	}
	if want := map[bool]string{true: "self-check passed", false: "self-check failed"}[sum.Passed]; page.Check != want {
		t.Errorf("suggestion for %s: %q, iamd suggest says %q", top, page.Check, want)
	}
	colors("dark")
	shot("principal-dark")
	colors("light")

	// A role with sessions: who acted inside it.
	var role *report.PrincipalReport
	for i := range rep.Principals {
		if r := &rep.Principals[i]; r.Kind == "role" && r.Sessions != nil && len(r.Sessions.SessionNames) > 0 {
			role = r
			break
		}
	}
	if role == nil {
		t.Fatal("the demo has no role with session names: the page of who acted inside a role is not exercised")
	}
	run("role", chromedp.Navigate(base+"/principal?arn="+url.QueryEscape(role.Principal)), chromedp.WaitVisible(chromedp.ID("sessions")))
	noErrors("the role's page")
	shot("principal-role")
	sessions := browse(t, ctx, "read the sessions", chromedp.Evaluate[map[string]string](`Object.fromEntries(Array.from(document.querySelectorAll("#sessions tr[data-session]")).map(tr => [tr.dataset.session, tr.querySelector('[data-k="calls"]').textContent.trim()]))`))
	wantSessions := map[string]string{}
	for _, sn := range role.Sessions.SessionNames {
		wantSessions[sn.Name] = fmt.Sprint(sn.Calls)
	}
	if fmt.Sprint(sessions) != fmt.Sprint(wantSessions) {
		t.Errorf("sessions of %s: page %v, report %v", role.Principal, sessions, wantSessions)
	}

	// Unused access: the same findings, type by type.
	run("unused", chromedp.Navigate(base+"/unused"), chromedp.WaitVisible(chromedp.CSS("h1")))
	noErrors("the unused page")
	shot("unused")
	unusedRows := browse(t, ctx, "read the unused page", chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("tr[data-type]")).map(tr => tr.dataset.type + " " + tr.dataset.arn)`))
	var wantRows []string
	for _, f := range un.Findings {
		wantRows = append(wantRows, f.Type+" "+f.Principal)
	}
	sameSet(t, "unused findings", unusedRows, wantRows)

	// Audit: the same findings.
	run("audit", chromedp.Navigate(base+"/audit"), chromedp.WaitVisible(chromedp.CSS("h1")))
	noErrors("the audit page")
	shot("audit")
	auditRows := browse(t, ctx, "read the audit page", chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("tr[data-rule]")).map(tr => tr.dataset.rule + " " + tr.dataset.arn)`))
	wantRows = nil
	for _, a := range audits {
		for _, f := range a.Findings {
			wantRows = append(wantRows, f.Rule+" "+f.Principal)
		}
	}
	sameSet(t, "audit findings", auditRows, wantRows)

	// Rotation board: the rotations `iamd rotate status` lists.
	run("rotation", chromedp.Navigate(base+"/rotation"), chromedp.WaitVisible(chromedp.CSS("h1")))
	noErrors("the rotation page")
	shot("rotation")
	type boardRow struct{ User, Phase, OldKey, StillUsing string }
	board := browse(t, ctx, "read the rotation page", chromedp.Evaluate[[]boardRow](`Array.from(document.querySelectorAll("tr[data-user]")).map(tr => {
		const v = k => (tr.querySelector('[data-k="' + k + '"]') || {textContent: ""}).textContent.trim();
		return {User: tr.dataset.user, Phase: v("phase"), OldKey: v("old-key"), StillUsing: v("still-using")};
	})`))
	// The demo's own rotation (finished) is on the board too; the one
	// started here is the row of its old key.
	if len(board) != len(rot) || len(rot) == 0 {
		t.Fatalf("the rotation board shows %d rotations, iamd rotate status %d, want the same, the one started among them", len(board), len(rot))
	}
	bi := slices.IndexFunc(board, func(b boardRow) bool { return b.OldKey == oldKey })
	ri := slices.IndexFunc(rot, func(r rotator.UserReport) bool { return r.OldKey != nil && r.OldKey.ID == oldKey })
	if bi < 0 || ri < 0 {
		t.Fatalf("the rotation of %s: board row %d, iamd rotate status %d (board %+v)", oldKey, bi, ri, board)
	}
	if b, r := board[bi], rot[ri]; b.User != r.User || b.Phase != string(r.Phase) {
		t.Errorf("rotation board row %+v, iamd rotate status %s %s %+v", b, r.User, r.Phase, r.OldKey)
	}
	if b := board[bi]; b.Phase != string(rotator.PhaseDraining) || !strings.Contains(b.StillUsing, stillUsingIP) {
		t.Errorf("rotation board row %+v: want %s draining with %s still using it", b, oldKey, stillUsingIP)
	}
	keyParts := browse(t, ctx, "read the access keys", chromedp.Evaluate[map[string]string](`Object.fromEntries(Array.from(document.querySelectorAll("tr[data-key]")).map(tr => [tr.dataset.key, tr.lastElementChild.textContent.trim()]))`))
	if r := rot[ri]; r.NewKey == nil || keyParts[r.NewKey.ID] != "new key, draining" || keyParts[oldKey] != "old key, draining" {
		t.Errorf("the access keys' rotation column %v, want %s the old and %+v the new key", keyParts, oldKey, r.NewKey)
	}
	colors("dark")
	shot("rotation-dark")
	colors("light")

	// Signing out ends the session.
	run("sign out", chromedp.Click(chromedp.CSS(".signout button")), chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.Navigate(base+"/unused"), chromedp.WaitVisible(chromedp.ID("token")))
	if u := location(); u.Path != "/login" {
		t.Errorf("after signing out /unused went to %s, want the login form", u)
	}
	noErrors("signing out")
	t.Logf("browser test took %s", time.Since(start).Round(100*time.Millisecond))
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	var n int
	if _, err := fmt.Sscan(s, &n); err != nil {
		t.Fatalf("%q is not a number", s)
	}
	return n
}

func parseARNName(arn string) string {
	return arn[strings.LastIndexAny(arn, "/:")+1:]
}

// sameSet compares two lists as multisets.
func sameSet(t *testing.T, what string, got, want []string) {
	t.Helper()
	g, w := append([]string(nil), got...), append([]string(nil), want...)
	sort.Strings(g)
	sort.Strings(w)
	if strings.Join(g, "\n") != strings.Join(w, "\n") {
		t.Errorf("%s: the page shows %d\n  %s\nthe JSON %d\n  %s", what, len(g), strings.Join(g, "\n  "), len(w), strings.Join(w, "\n  "))
	}
}
