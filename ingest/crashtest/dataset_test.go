package crashtest

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/iamd/iamd/analyzer/catalog"
	"github.com/iamd/iamd/ingest"
	"github.com/iamd/iamd/ingest/trailgen"
	"github.com/iamd/iamd/store"
)

// dataset is a generated trail (ingest/trailgen, whose manifest is the
// ground truth) in the shapes each source reads: Kafka messages (single
// records, {"Records":[…]} batches, EventBridge envelopes, a few re-sent
// and a few broken ones) and log files in the S3 delivery layout
// (gzipped, with digests and a corrupt file), which the file source reads
// from a directory.
type dataset struct {
	records  [][]byte
	messages [][]byte
	files    map[string][]byte // key → body
	manifest *trailgen.Manifest
}

var accounts = []string{"111122223333", "444455556666"}

// newDataset generates m.records records over a few days,
// deterministically from seed. The long mode's trail has many principals,
// so that a batch holds more distinct facts than one Badger transaction
// takes.
func newDataset(t testing.TB, seed uint64, m mode) *dataset {
	t.Helper()
	n := m.records
	o := trailgen.DefaultOptions(int64(seed))
	o.Events = n
	if m.long {
		o.Users, o.Roles = 300, 100
	}
	o.Accounts = accounts
	o.Days = 3
	o.DeniedRate = 0.05
	o.Digests = true
	g, err := trailgen.New(o)
	if err != nil {
		t.Fatal(err)
	}
	d := &dataset{files: map[string][]byte{}}
	ctx := context.Background()
	if d.manifest, err = g.WriteLogFiles(ctx, trailgen.SinkFunc(func(_ context.Context, name string, data []byte) error {
		d.files[name] = bytes.Clone(data)
		return nil
	})); err != nil {
		t.Fatal(err)
	}
	if _, err := g.Records(ctx, func(r trailgen.Record) error {
		d.records = append(d.records, r.JSON)
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	// Kafka messages.
	r := rand.New(rand.NewPCG(seed, 17))
	for i := 0; i < n; {
		switch k := r.IntN(20); {
		case k < 12 || i == n-1:
			d.messages = append(d.messages, d.records[i])
			i++
		case k < 17:
			m := min(2+r.IntN(9), n-i)
			var parts []string
			for _, rec := range d.records[i : i+m] {
				parts = append(parts, string(rec))
			}
			d.messages = append(d.messages, []byte(`{"Records":[`+strings.Join(parts, ",")+`]}`))
			i += m
		default:
			d.messages = append(d.messages, fmt.Appendf(nil, `{"version":"0","id":"eb-%d","detail-type":"AWS API Call via CloudTrail","source":"aws.cloudtrail","account":"111122223333","time":"2026-11-20T08:00:00Z","region":"us-east-1","resources":[],"detail":%s}`, i, d.records[i]))
			i++
		}
		if r.IntN(100) == 0 { // an at-least-once producer re-sends
			d.messages = append(d.messages, d.records[r.IntN(i)])
		}
	}
	d.messages = append(d.messages, []byte(`{"Records":[{"eventID":"broken"`), []byte(`not json at all`), []byte(`{"eventID":"no-time","eventName":"X"}`))

	// Broken files beside the generated ones.
	d.files["AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/01/111122223333_CloudTrail_us-east-1_20261101T0901Z_corrupt.json.gz"] = []byte("\x1f\x8b\x08\x00garbage")
	d.files["AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/01/111122223333_CloudTrail_us-east-1_20261101T0902Z_broken.json.gz"] = gz(`{"Records":[{"eventVersion":"1.08","eventID":"broken-1"},{"eventVersion":"1.08","eventName":`)
	return d
}

// writeDir writes d's files under dir, for the file source.
func (d *dataset) writeDir(t testing.TB, dir string) {
	t.Helper()
	for k, v := range d.files {
		p := filepath.Join(dir, filepath.FromSlash(k))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, v, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// filePayloads returns d's files as the S3 source names them, digests
// left out as the sources leave them.
func (d *dataset) filePayloads(prefix string) map[string][]byte {
	out := map[string][]byte{}
	for k, v := range d.files {
		if !strings.Contains(k, "CloudTrail-Digest") {
			out[prefix+k] = v
		}
	}
	return out
}

func gz(s string) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	return b.Bytes()
}

// newConverter returns the real ingest converter.
func newConverter(t testing.TB) *ingest.Converter {
	t.Helper()
	cat, err := catalog.Load()
	if err != nil {
		t.Fatalf("catalog: %v", err)
	}
	c, err := ingest.NewConverter(ingest.ConverterOptions{Catalog: cat, Now: func() time.Time { return time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC) }})
	if err != nil {
		t.Fatalf("converter: %v", err)
	}
	return c
}

// snapshot is everything the store keeps about usage, for comparison:
// facts with their counts and first and last seen, per-day counts,
// access keys, sessions, cross-account recipients, the quarantine and
// the dedup set. Maps hold a canonical text of each entry.
type snapshot struct {
	Dedup       int64
	Facts       map[string]store.Fact // principal|action|resource
	Days        map[string]string     // principal|action → its day counts
	Keys        map[string]string     // access key ID → calls, first, last, owner, seen lists
	Sessions    map[string]string     // principal → session names and source identities
	Cross       map[string]string     // principal → recipients
	Quarantined map[string]uint64
}

func (s snapshot) events() (n uint64) {
	for _, f := range s.Facts {
		n += f.Allowed + f.Denied
	}
	return n
}

func takeSnapshot(t testing.TB, db *store.DB) snapshot {
	t.Helper()
	ctx := context.Background()
	st, err := db.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s := snapshot{Dedup: st.Dedup, Facts: map[string]store.Fact{}, Days: map[string]string{}, Keys: map[string]string{},
		Sessions: map[string]string{}, Cross: map[string]string{}}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(db.EachFact(ctx, store.FactQuery{}, func(f store.Fact) error {
		s.Facts[f.Principal+"|"+f.Action+"|"+f.Resource] = f
		return nil
	}))
	seenActions := map[string]bool{}
	for _, f := range s.Facts {
		pa := f.Principal + "|" + f.Action
		if seenActions[pa] {
			continue
		}
		seenActions[pa] = true
		days, err := db.DayCounts(ctx, f.Principal, f.Action)
		must(err)
		s.Days[pa] = fmt.Sprint(days)
	}
	principals, err := db.Principals(ctx)
	must(err)
	for _, p := range principals {
		keys, err := db.KeysOf(ctx, p)
		must(err)
		for _, k := range keys {
			s.Keys[k.AccessKeyID] = fmt.Sprintf("owner %s calls %d first %s last %s ips %s uas %s", k.Principal, k.Calls,
				k.FirstSeen.Format(time.RFC3339), k.LastSeen.Format(time.RFC3339), seenText(k.SourceIPs, store.MaxKeySeen), seenText(k.UserAgents, store.MaxKeySeen))
		}
		ss, ok, err := db.Sessions(ctx, p)
		must(err)
		if ok {
			s.Sessions[p] = "names " + seenText(ss.SessionNames, store.MaxSessionSeen) + " identities " + seenText(ss.SourceIdentities, store.MaxSessionSeen)
		}
	}
	must(db.EachCrossAccount(ctx, func(c store.CrossAccount) error {
		s.Cross[c.Principal] = fmt.Sprintf("own %s recipients %v", c.AccountID, c.Recipients)
		return nil
	}))
	s.Quarantined, err = db.QuarantineCounts(ctx)
	must(err)
	return s
}

// seenText renders a seen list. A list the cap has filled kept the most
// recent values, but which of them lost counts to an eviction depends on
// how events fell into batches: only the most recent value counts then.
func seenText(list []store.Seen, limit int) string {
	if len(list) < limit {
		return fmt.Sprint(list)
	}
	return fmt.Sprintf("full, latest %s at %s", list[0].Value, list[0].LastSeen.Format(time.RFC3339))
}

// compare returns the fact counts missing from got (lost) and in excess
// of want (double-counted), and a description of every other difference
// of what the store keeps.
func compare(want, got snapshot) (lost, double uint64, other []string) {
	for k := range union(want.Facts, got.Facts) {
		w, g := want.Facts[k], got.Facts[k]
		for _, c := range [][2]uint64{{w.Allowed, g.Allowed}, {w.Denied, g.Denied}} {
			if c[1] < c[0] {
				lost += c[0] - c[1]
			} else {
				double += c[1] - c[0]
			}
		}
		if !w.FirstSeen.Equal(g.FirstSeen) || !w.LastSeen.Equal(g.LastSeen) {
			other = append(other, fmt.Sprintf("fact %s seen %s–%s, want %s–%s", k, g.FirstSeen, g.LastSeen, w.FirstSeen, w.LastSeen))
		}
	}
	for _, m := range []struct {
		what      string
		want, got map[string]string
	}{{"day counts", want.Days, got.Days}, {"key", want.Keys, got.Keys}, {"sessions", want.Sessions, got.Sessions}, {"cross-account", want.Cross, got.Cross}} {
		for k := range union(m.want, m.got) {
			if m.want[k] != m.got[k] {
				other = append(other, fmt.Sprintf("%s %s: %q, want %q", m.what, k, m.got[k], m.want[k]))
			}
		}
	}
	if want.Dedup != got.Dedup {
		other = append(other, fmt.Sprintf("dedup set %d, want %d", got.Dedup, want.Dedup))
	}
	if fmt.Sprint(want.Quarantined) != fmt.Sprint(got.Quarantined) {
		other = append(other, fmt.Sprintf("quarantine %v, want %v", got.Quarantined, want.Quarantined))
	}
	sort.Strings(other)
	if len(other) > 10 {
		other = append(other[:10], fmt.Sprintf("and %d more", len(other)-10))
	}
	return lost, double, other
}

func union[V any](a, b map[string]V) map[string]bool {
	out := map[string]bool{}
	for k := range a {
		out[k] = true
	}
	for k := range b {
		out[k] = true
	}
	return out
}

// compareManifest checks got against the generator's ground truth: per
// principal × action the allowed and denied calls and the first and last
// call, per access key the calls and the first and last call. Resources
// are summed over: which resource ingest derives for an action is the
// converter's business (ingest/trailgen's cross-check), what is lost or
// counted twice in a crash is not. Actions the uninterrupted reference
// does not hold either are ingest gaps, not crash damage: they are
// skipped and returned.
func compareManifest(m *trailgen.Manifest, ref, got snapshot) (diffs []string, gaps int) {
	type agg struct {
		allowed, denied uint64
		first, last     time.Time
	}
	add := func(dst map[string]*agg, key string, allowed, denied uint64, first, last time.Time) {
		a := dst[key]
		if a == nil {
			a = &agg{first: first, last: last}
			dst[key] = a
		}
		a.allowed += allowed
		a.denied += denied
		if first.Before(a.first) {
			a.first = first
		}
		if last.After(a.last) {
			a.last = last
		}
	}
	want, have, inRef := map[string]*agg{}, map[string]*agg{}, map[string]bool{}
	for _, u := range m.Usage {
		add(want, u.Principal+"|"+u.Action, u.Allowed, u.Denied, u.FirstSeen, u.LastSeen)
	}
	for _, f := range got.Facts {
		add(have, f.Principal+"|"+f.Action, f.Allowed, f.Denied, f.FirstSeen, f.LastSeen)
	}
	for _, f := range ref.Facts {
		inRef[f.Principal+"|"+f.Action] = true
	}
	for k, w := range want {
		h := have[k]
		if h == nil && !inRef[k] {
			gaps++
			continue
		}
		if h == nil {
			diffs = append(diffs, fmt.Sprintf("%s: missing, manifest %d allowed/%d denied", k, w.allowed, w.denied))
			continue
		}
		if h.allowed != w.allowed || h.denied != w.denied || !h.first.Equal(w.first) || !h.last.Equal(w.last) {
			diffs = append(diffs, fmt.Sprintf("%s: %d allowed/%d denied %s–%s, manifest %d/%d %s–%s", k,
				h.allowed, h.denied, h.first.Format(time.RFC3339), h.last.Format(time.RFC3339),
				w.allowed, w.denied, w.first.Format(time.RFC3339), w.last.Format(time.RFC3339)))
		}
	}
	for k, h := range have {
		if want[k] == nil {
			diffs = append(diffs, fmt.Sprintf("%s: %d allowed/%d denied, not in the manifest", k, h.allowed, h.denied))
		}
	}
	for _, kc := range m.Keys {
		k, ok := got.Keys[kc.AccessKeyID]
		want := fmt.Sprintf("calls %d first %s last %s", kc.Calls, kc.FirstSeen.Format(time.RFC3339), kc.LastSeen.Format(time.RFC3339))
		if !ok || !strings.Contains(k, want) {
			diffs = append(diffs, fmt.Sprintf("key %s: %q, manifest %s", kc.AccessKeyID, k, want))
		}
	}
	sort.Strings(diffs)
	if len(diffs) > 10 {
		diffs = append(diffs[:10], fmt.Sprintf("and %d more", len(diffs)-10))
	}
	return diffs, gaps
}

// reference ingests payloads without interruption into an in-memory store.
func reference(t testing.TB, conv *ingest.Converter, payloads map[string][]byte) snapshot {
	t.Helper()
	db, err := store.Open(store.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	names := make([]string, 0, len(payloads))
	for k := range payloads {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, name := range names {
		out, err := conv.ConvertPayload(context.Background(), name, payloads[name])
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Write(context.Background(), &store.Batch{Events: out.Events, Quarantined: out.Quarantined}); err != nil {
			t.Fatalf("reference write %s: %v", name, err)
		}
	}
	return takeSnapshot(t, db)
}
