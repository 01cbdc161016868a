package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/iamd/iamd/rotator"
	"github.com/iamd/iamd/rotator/awsfake"
	"github.com/iamd/iamd/store"
)

// The rotation part of the demo runs the rotator as the daemon would, once
// a day at 03:00 on the demo's clock, against rotator/awsfake: IAM, STS
// and Secrets Manager in this process, reached by the real SDK clients
// over their wire protocols through an in-process HTTP client. Between
// two runs the user's workload keeps calling AWS (its calls of the
// trail's last day, replayed), reading its key from the secret the
// rotator publishes; those calls are written as CloudTrail files and
// ingested, so the drain is decided from the trail, as in production.
// One forgotten job still uses the old key once, a day after the switch:
// the drain waits for it.

const (
	// demoRunHour is when the daily rotation run happens.
	demoRunHour = 3 * time.Hour
	// demoNewKeyDelay is how long the stand-in STS refuses a new key, as
	// IAM's eventual consistency does (a few seconds, 10–20 s at worst).
	demoNewKeyDelay = 12 * time.Second
	// demoStragglerIP and demoStragglerAgent are the forgotten job that
	// still signs with the old key.
	demoStragglerIP    = "203.0.113.7"
	demoStragglerAgent = "aws-cli/2.17.0 Python/3.11.9 Linux/5.15.0-1051-aws exe/x86_64.ubuntu.22 prompt/off"
	// demoMaxRuns bounds the walk: drain and recovery take 20 days.
	demoMaxRuns = 40
)

// demoClock is the clock of the rotator, of the stand-in AWS and of the
// ingest checkpoints. The rotator's waits advance it instead of sleeping.
type demoClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *demoClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *demoClock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func (c *demoClock) sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	return ctx.Err()
}

// demoAWS is the stand-in account: the users and keys of the IAM
// snapshot, in awsfake.
func (r *demoRun) demoAWS(clock *demoClock) (*awsfake.Fake, *awsClients) {
	fake := awsfake.New(awsfake.Options{AccountID: r.acct.ID, Now: clock.now, Seed: uint64(r.manifest.Seed), NewKeyDelay: demoNewKeyDelay})
	for _, u := range r.account.details.UserDetailList.Items {
		tags := map[string]string{}
		for _, t := range u.Tags.Items {
			tags[t.Key] = t.Value
		}
		var created time.Time
		if u.CreateDate != nil {
			created = u.CreateDate.Time
		}
		fake.AddUser(awsfake.User{Name: u.UserName, Path: u.Path, Groups: u.GroupList.Items, Tags: tags, Created: created})
	}
	for _, k := range r.account.keys {
		fake.AddKeyID(k.user, k.id, k.created, true)
		if !k.lastUsed.IsZero() {
			fake.SetLastUsed(k.id, k.lastUsed, k.service)
		}
	}
	return fake, &awsClients{iam: fake.InProcessIAM(), sts: fake.InProcessSTS(), sm: fake.InProcessSecretsManager()}
}

func printDemoRotation(ctx context.Context, w io.Writer, r *demoRun) error {
	clock := &demoClock{t: r.now.Add(demoRunHour)}
	fake, clients := r.demoAWS(clock)
	policy := rotator.DefaultPolicy()
	newRotator := func(p rotator.Policy) (*rotator.Rotator, error) {
		o := rotator.Options{Policy: p, States: r.db, Usage: r.db, Now: clock.now, Sleep: clock.sleep}
		clients.apply(&o, p, clock.now)
		return rotator.New(o)
	}
	fmt.Fprintf(w, "IAM, STS and Secrets Manager are iamd's in-process stand-in (rotator/awsfake), holding the snapshot's users and\n"+
		"their access keys; the rotator reaches it with the real AWS SDK clients, over the AWS wire protocols, in memory.\n"+
		"Policy: rotate keys older than %s; deliver the new key to Secrets Manager (%s) and verify it with STS;\n"+
		"deactivate the old key once CloudTrail and IAM show it unused for %s; delete it %s later; at most %d new\n"+
		"rotations per run.\n\n",
		formatDuration(policy.MaxAge), policy.Delivery.SecretName, formatDuration(policy.Drain), formatDuration(policy.Recovery), policy.MaxUsersPerRun)

	// The plan: a dry run over every user.
	rot, err := newRotator(policy)
	if err != nil {
		return err
	}
	plan, err := rot.Plan(ctx)
	if err != nil {
		return err
	}
	for _, c := range fake.Calls() {
		if c.Mutating() {
			return fmt.Errorf("the dry run called %s", c.Action)
		}
	}
	fmt.Fprintf(w, "The plan (iamd rotate plan, dry run, nothing changed): %d users, %d rotations would start.\n\n", len(plan.Users), plan.Started)
	if err := printDemoPlan(w, plan, r.top); err != nil {
		return err
	}

	// One rotation, applied: the user who opted in.
	user := r.account.rotate
	var oldKey demoKey
	for _, k := range r.account.keys {
		if k.user == user {
			oldKey = k
		}
	}
	policy.DryRun, policy.Users.OptIn = false, true
	if rot, err = newRotator(policy); err != nil {
		return err
	}
	secretName := strings.ReplaceAll(policy.Delivery.SecretName, "{user}", user)
	wl, err := r.demoWorkload(user, oldKey)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "\nThe run (iamd rotate run --apply, daily at 03:00) for %s, the one user tagged %s=true: its workload signs\n"+
		"with key %s, %d days old, about %d calls a day; after each run it reads its key from the secret.\n\n",
		user, rotator.DefaultOptInTag, oldKey.id, int(r.now.Sub(oldKey.created)/rotator.Day), len(wl.raw))

	var (
		lastPhase rotator.Phase
		quiet     int
		final     *rotator.UserReport
	)
	for day := 0; day < demoMaxRuns && final == nil; day++ {
		at := r.now.Add(time.Duration(day)*rotator.Day + demoRunHour)
		clock.set(at)
		var used map[string]int
		if day > 0 {
			// The workload's calls since the previous run, delivered by
			// CloudTrail and ingested before this run.
			if used, err = wl.replay(ctx, r, fake, day-1, currentKey(fake, secretName, oldKey.id), clock); err != nil {
				return err
			}
		}
		before := len(fake.Calls())
		rep, err := rot.Run(ctx)
		if err != nil {
			return err
		}
		var ur *rotator.UserReport
		for i := range rep.Users {
			if rep.Users[i].User == user {
				ur = &rep.Users[i]
			}
		}
		if ur == nil {
			return fmt.Errorf("the run at %s did not consider %s", at.Format(time.RFC3339), user)
		}
		if ur.Error != "" {
			return fmt.Errorf("the run at %s: %s: %s", at.Format(time.RFC3339), user, ur.Error)
		}
		switch ur.Phase {
		case rotator.PhaseDeleted:
			final = ur
		case rotator.PhaseAborted, rotator.PhaseRolledBack:
			return fmt.Errorf("the rotation of %s ended %s: %s", user, ur.Phase, ur.Reason)
		}
		// Runs that change nothing and see nothing new are summed up.
		if day > 1 && len(ur.Actions) == 0 && ur.Phase == lastPhase && used[oldKey.id] == 0 {
			quiet++
			continue
		}
		if quiet > 0 {
			fmt.Fprintf(w, "  … %d daily runs: %s, the old key silent\n\n", quiet, lastPhase)
			quiet = 0
		}
		lastPhase = ur.Phase
		printDemoRun(w, at, ur, used, oldKey.id, fake.Calls()[before:])
	}
	if final == nil {
		return fmt.Errorf("the rotation of %s did not finish in %d daily runs", user, demoMaxRuns)
	}
	return printDemoRotationEnd(w, fake, user, secretName)
}

// printDemoPlan is the plan as a table, one line per user.
func printDemoPlan(w io.Writer, plan *rotator.Report, top int) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "USER\tPHASE\tKEY\tAGE\tLAST USED\tPLAN")
	for i, u := range plan.Users {
		if i == top {
			fmt.Fprintf(tw, "…\t\t\t\t\t%d more\n", len(plan.Users)-top)
			break
		}
		key, age, last := "-", "-", "never"
		if k := u.OldKey; k != nil {
			key, age = k.ID, fmt.Sprintf("%dd", k.AgeDays)
			if !k.LastUsed.IsZero() {
				last = k.LastUsed.Format(time.DateOnly)
			}
		}
		what := u.Reason
		if len(u.Actions) > 0 {
			what = strings.Join(u.Actions, "; ")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", u.User, orDash(string(u.Phase)), key, age, last, orDash(clipText(what, 100)))
	}
	return tw.Flush()
}

// printDemoRun prints one daily run: the calls the trail showed since the
// previous run, what the rotator did, and why it waits.
func printDemoRun(w io.Writer, at time.Time, ur *rotator.UserReport, used map[string]int, oldKey string, calls []awsfake.Call) {
	fmt.Fprintf(w, "%s  %s\n", at.Format("Mon 2006-01-02 15:04"), ur.Phase)
	if used != nil {
		var parts []string
		keys := make([]string, 0, len(used))
		for k := range used {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			which := "new"
			if k == oldKey {
				which = "old"
			}
			parts = append(parts, fmt.Sprintf("%d with the %s key %s", used[k], which, k))
		}
		fmt.Fprintf(w, "    the trail since the last run: %s\n", orDash(strings.Join(parts, ", ")))
	}
	for _, a := range ur.Actions {
		fmt.Fprintf(w, "    %s\n", a)
	}
	refused := 0
	var first, last time.Time
	for _, c := range calls {
		if c.Service == "sts" {
			if first.IsZero() {
				first = c.At
			}
			last = c.At
			if c.Code == "InvalidClientTokenId" {
				refused++
			}
		}
	}
	if refused > 0 {
		fmt.Fprintf(w, "    (STS refused the new key %d times over %s before accepting it: IAM is eventually consistent)\n", refused, last.Sub(first))
	}
	switch d := ur.Drain; {
	case d != nil && !d.Idle && !d.LastUse.IsZero():
		fmt.Fprintf(w, "    old key last used %s from %s by %s: idle at the earliest %s\n", d.LastUse.Format(time.RFC3339),
			orDash(seenValues(d.SourceIPs, false)), orDash(seenValues(d.UserAgents, true)), d.NotBefore.Format(time.RFC3339))
	case ur.Reason != "":
		fmt.Fprintf(w, "    %s\n", ur.Reason)
	}
	if ur.Next != "" && !ur.NextAt.IsZero() && (ur.Drain == nil || ur.Drain.Idle) {
		fmt.Fprintf(w, "    next: %s, not before %s\n", ur.Next, ur.NextAt.Format(time.RFC3339))
	}
	fmt.Fprintln(w)
}

// seenValues lists the values seen, user agents by their first product
// token ("aws-cli/2.21.0"), each once.
func seenValues(ss []store.Seen, agents bool) string {
	var out []string
	seen := map[string]bool{}
	for _, s := range ss {
		v := s.Value
		if agents {
			v, _, _ = strings.Cut(strings.Trim(v, "[]"), " ")
		}
		if v != "" && !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return strings.Join(out, ", ")
}

// printDemoRotationEnd shows the account after the rotation: the user's
// keys, the secret's versions, and the AWS calls made.
func printDemoRotationEnd(w io.Writer, fake *awsfake.Fake, user, secretName string) error {
	var keys []string
	for _, k := range fake.Keys(user) {
		status := "Inactive"
		if k.Active {
			status = "Active"
		}
		keys = append(keys, fmt.Sprintf("%s (%s, created %s)", k.ID, status, k.Created.Format(time.DateOnly)))
	}
	fmt.Fprintf(w, "Now %s has one key: %s.\nSecret %s: AWSCURRENT holds %s.\n", user, strings.Join(keys, ", "), secretName, orDash(secretKeyID(fake, secretName, "AWSCURRENT")))
	counts := map[string]map[string]int{}
	for _, c := range fake.Calls() {
		if counts[c.Service] == nil {
			counts[c.Service] = map[string]int{}
		}
		counts[c.Service][c.Action]++
	}
	fmt.Fprintln(w, "AWS calls made through the SDK clients, plan included:")
	for _, svc := range []string{"iam", "sts", "secretsmanager"} {
		var parts []string
		for a, n := range counts[svc] {
			parts = append(parts, fmt.Sprintf("%s %d", a, n))
		}
		sort.Strings(parts)
		fmt.Fprintf(w, "  %-15s %s\n", svc, orDash(strings.Join(parts, ", ")))
	}
	fmt.Fprintf(w, "Each step was written to the store before and after its AWS call (iamd rotate status shows the record). The\n"+
		"store keeps key ids and states only: the secret access key went from IAM's answer to Secrets Manager and to STS.\n")
	if len(keys) != 1 {
		return fmt.Errorf("%s holds %d keys after the rotation, want 1", user, len(keys))
	}
	return nil
}

// currentKey is the key id the workload finds in the secret's AWSCURRENT
// version, or the key it had before the secret existed.
func currentKey(fake *awsfake.Fake, secretName, before string) string {
	if id := secretKeyID(fake, secretName, "AWSCURRENT"); id != "" {
		return id
	}
	return before
}

// secretKeyID reads the access key id of one version of the secret (the
// secret access key beside it stays unread).
func secretKeyID(fake *awsfake.Fake, name, stage string) string {
	v, ok := fake.SecretValue(name, stage)
	if !ok {
		return ""
	}
	var s struct {
		AccessKeyID string `json:"AccessKeyId"`
	}
	if json.Unmarshal([]byte(v), &s) != nil {
		return ""
	}
	return s.AccessKeyID
}

// demoWorkload is what a user's workload does in a day: its CloudTrail
// records of the last day the trail shows it, replayed day after day.
type demoWorkload struct {
	oldKey string
	day0   time.Time   // the start of the day replayed
	at     []time.Time // the records' times
	raw    [][]byte    // the records, by time, as read
	after  string      // where the replayed days are written
}

// demoWorkload reads the user's records signed with key on the last day
// the key was used.
func (r *demoRun) demoWorkload(user string, key demoKey) (*demoWorkload, error) {
	wl := &demoWorkload{oldKey: key.id, day0: key.lastUsed.Truncate(rotator.Day), after: filepath.Join(r.dir, "trail-after")}
	dayDir := string(filepath.Separator) + filepath.FromSlash(wl.day0.Format("2006/01/02")) + string(filepath.Separator)
	type rec struct {
		at  time.Time
		id  string
		raw []byte
	}
	var recs []rec
	err := filepath.WalkDir(filepath.Join(r.dir, "trail"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.Contains(path, dayDir) || !strings.HasSuffix(path, ".json.gz") {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		zr, err := gzip.NewReader(f)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		var file struct {
			Records []json.RawMessage `json:"Records"`
		}
		if err := json.NewDecoder(zr).Decode(&file); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		for _, raw := range file.Records {
			if !bytes.Contains(raw, []byte(`"`+key.id+`"`)) {
				continue
			}
			var head struct {
				EventTime time.Time `json:"eventTime"`
				EventID   string    `json:"eventID"`
			}
			if err := json.Unmarshal(raw, &head); err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			recs = append(recs, rec{at: head.EventTime, id: head.EventID, raw: raw})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read the workload of %s: %w", user, err)
	}
	if len(recs) == 0 {
		return nil, fmt.Errorf("the trail shows no call of %s with %s on %s", user, key.id, wl.day0.Format(time.DateOnly))
	}
	sort.Slice(recs, func(i, j int) bool {
		if !recs[i].at.Equal(recs[j].at) {
			return recs[i].at.Before(recs[j].at)
		}
		return recs[i].id < recs[j].id
	})
	for _, rc := range recs {
		wl.at = append(wl.at, rc.at)
		wl.raw = append(wl.raw, rc.raw)
	}
	return wl, nil
}

// replay writes the workload's calls between run `day` and the next as a
// CloudTrail log file signed with key (plus, the day after the switch,
// the forgotten job's call with the old key), ingests it, and tells the
// stand-in IAM when each key was last used. It returns the calls per key.
func (wl *demoWorkload) replay(ctx context.Context, r *demoRun, fake *awsfake.Fake, day int, key string, clock *demoClock) (map[string]int, error) {
	start := r.now.Add(time.Duration(day)*rotator.Day + demoRunHour)
	var records []map[string]any
	for i, raw := range wl.raw {
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, err
		}
		redate(m, start.Add(wl.at[i].Sub(wl.day0)), key, day)
		records = append(records, m)
	}
	if day == 1 && key != wl.oldKey {
		var m map[string]any
		if err := json.Unmarshal(wl.raw[0], &m); err != nil {
			return nil, err
		}
		redate(m, start.Add(11*time.Hour+10*time.Minute+7*time.Second), wl.oldKey, -1)
		m["sourceIPAddress"], m["userAgent"] = demoStragglerIP, demoStragglerAgent
		records = append(records, m)
	}
	sort.SliceStable(records, func(i, j int) bool { return records[i]["eventTime"].(string) < records[j]["eventTime"].(string) })

	used := map[string]int{}
	last := map[string]time.Time{}
	service := map[string]string{}
	for _, m := range records {
		id := m["userIdentity"].(map[string]any)["accessKeyId"].(string)
		used[id]++
		at, _ := time.Parse(time.RFC3339, m["eventTime"].(string))
		if at.After(last[id]) {
			last[id] = at
			src, _ := m["eventSource"].(string)
			service[id] = strings.TrimSuffix(src, ".amazonaws.com")
		}
	}
	data, err := json.Marshal(map[string]any{"Records": records})
	if err != nil {
		return nil, err
	}
	path := filepath.Join(wl.after, start.Format("2006-01-02")+".json")
	if err := os.MkdirAll(wl.after, 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return nil, err
	}
	sum, err := r.ingest(ctx, path, clock.now)
	if err != nil {
		return nil, err
	}
	if q := sum.QuarantinedTotal(); q > 0 {
		return nil, fmt.Errorf("%s: %d records quarantined", path, q)
	}
	for id, t := range last {
		fake.SetLastUsed(id, t, service[id])
	}
	return used, nil
}

// redate moves a record to at, signed with key, under a new event id
// derived from its own and the day (so that replays are new events).
func redate(m map[string]any, at time.Time, key string, day int) {
	m["eventTime"] = at.UTC().Format(time.RFC3339)
	if ui, ok := m["userIdentity"].(map[string]any); ok {
		ui["accessKeyId"] = key
	}
	for _, f := range []string{"eventID", "requestID"} {
		if v, ok := m[f].(string); ok {
			m[f] = demoUUID(fmt.Sprintf("%s/%d/%s", v, day, key))
		}
	}
}

// demoUUID is a stable UUID-shaped id for s.
func demoUUID(s string) string {
	h := fnv.New128a()
	h.Write([]byte(s))
	b := h.Sum(nil)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
