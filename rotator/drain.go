package rotator

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/iamd/iamd/store"
)

// UsageIndex is what the rotator reads of the usage index; store.DB
// implements it.
type UsageIndex interface {
	KeyUsage(ctx context.Context, accessKeyID string) (store.KeyUsage, bool, error)
	Checkpoints(ctx context.Context, prefix string) ([]store.Checkpoint, error)
	// NewestEvent is the event time of the newest CloudTrail record
	// ingested (an hour's start; zero: none).
	NewestEvent(ctx context.Context) (time.Time, error)
}

var _ UsageIndex = (*store.DB)(nil)

// indexState is how far the usage index can be trusted to have seen
// CloudTrail.
type indexState struct {
	// updated is the oldest checkpoint among the sources that wrote one
	// within the lookback (the newest of all when none did; zero when
	// there is none), and source its source.
	updated time.Time
	source  string
	// newestEvent is the event-time watermark (store.DB.NewestEvent).
	newestEvent time.Time
}

// readIndexState reads the ingest checkpoints and the event-time
// watermark. A source counts when it wrote within lookback (the drain
// window): one that contributed to the window must be current, else the
// uses it has not delivered yet are missing from the window (a stalled
// Kafka partition, one region's S3 prefix that stopped). The oldest of
// those is the index's age, not the newest: one source writing on hides
// none of another's silence. A source that wrote nothing for the whole
// window (a one-off import, a retired prefix) is no evidence either way
// and is not waited for.
//
// Files are one source, however many: each file read has its own
// checkpoint ("file:/path"), but a file is read whole and never grows
// into the window the way a stream does, so yesterday's file is not a
// source that fell behind; the newest file read is how far files go.
func readIndexState(ctx context.Context, u UsageIndex, now time.Time, lookback time.Duration) (indexState, error) {
	var st indexState
	cps, err := u.Checkpoints(ctx, "")
	if err != nil {
		return st, fmt.Errorf("read ingest checkpoints: %w", err)
	}
	var (
		newest  store.Checkpoint
		streams = map[string]store.Checkpoint{}
	)
	for _, c := range cps {
		if c.Updated.After(newest.Updated) {
			newest = c
		}
		key := c.Source
		if strings.HasPrefix(key, fileSourcePrefix) {
			key = fileSourcePrefix
		}
		if cur, ok := streams[key]; !ok || c.Updated.After(cur.Updated) {
			streams[key] = c
		}
	}
	live := 0
	for _, c := range streams {
		if now.Sub(c.Updated) > lookback {
			continue
		}
		if live++; live == 1 || c.Updated.Before(st.updated) || (c.Updated.Equal(st.updated) && c.Source < st.source) {
			st.updated, st.source = c.Updated, c.Source
		}
	}
	if live == 0 {
		st.updated, st.source = newest.Updated, newest.Source
	}
	if st.newestEvent, err = u.NewestEvent(ctx); err != nil {
		return st, fmt.Errorf("read the newest event time: %w", err)
	}
	return st, nil
}

// fileSourcePrefix starts the checkpoint source of a file read whole
// (ingest.Input.Source).
const fileSourcePrefix = "file:"

// DeliveryLag is how late CloudTrail delivers a call: "CloudTrail
// typically delivers logs within an average of about 15 minutes of an API
// call. This time is not guaranteed." (AWS CloudTrail User Guide,
// "Working with CloudTrail log files",
// https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-working-with-log-files.html).
// A checkpoint written at T holds what CloudTrail had delivered by T, so
// the calls of the DeliveryLag before T may still be on their way.
// Later deliveries than that are what MinOverlap and GetAccessKeyLastUsed
// are for.
const DeliveryLag = 15 * time.Minute

// DrainInput is what the drain decision looks at.
type DrainInput struct {
	Now time.Time
	// Published is when the new key was published (draining began).
	Published time.Time
	// Usage is the old key's usage in the index (zero when never seen).
	Usage store.KeyUsage
	// IAMLastUsed is GetAccessKeyLastUsed of the old key (zero: never).
	IAMLastUsed time.Time
	// IndexUpdated is when the least current ingest source wrote its
	// checkpoint, among those that wrote within the drain window (zero:
	// none), and IndexSource that source.
	IndexUpdated time.Time
	IndexSource  string
	// NewestEvent is the event-time watermark: the start of the hour of
	// the newest CloudTrail record in the index (zero: none). Ingest
	// replaying a backlog writes fresh checkpoints for old events.
	NewestEvent time.Time
	// DeliveryLag is how late CloudTrail delivers (DeliveryLag).
	DeliveryLag time.Duration
	Drain       time.Duration
	MinOverlap  time.Duration
	MaxIndexLag time.Duration // 0: the index is taken as current (no check)
}

// covered is the time up to which the index has seen CloudTrail from
// every source: the least current source's checkpoint less the delivery
// lag, and no later than the event-time watermark. With MaxIndexLag 0 it
// is Now.
func (in DrainInput) covered() (time.Time, string) {
	if in.MaxIndexLag <= 0 {
		return in.Now, ""
	}
	if in.IndexUpdated.IsZero() {
		return time.Time{}, "the usage index has no ingest checkpoint: without CloudTrail its silence is no evidence"
	}
	if in.NewestEvent.IsZero() {
		return time.Time{}, "the usage index holds no recent CloudTrail event: its silence is no evidence"
	}
	c := in.IndexUpdated.Add(-in.DeliveryLag)
	if in.NewestEvent.Before(c) {
		c = in.NewestEvent
	}
	if c.After(in.Now) {
		c = in.Now
	}
	switch {
	case in.Now.Sub(in.IndexUpdated) > in.MaxIndexLag:
		return c, fmt.Sprintf("ingest source %s last wrote %s (%s ago, more than %s): ingest is behind, the usage index's silence is no evidence",
			in.IndexSource, stamp(in.IndexUpdated), age(in.Now.Sub(in.IndexUpdated)), age(in.MaxIndexLag))
	case in.Now.Sub(in.NewestEvent) > in.MaxIndexLag:
		return c, fmt.Sprintf("the newest CloudTrail event in the usage index is from %s (%s ago, more than %s): ingest is replaying a backlog or CloudTrail stopped, the index's silence is no evidence",
			stamp(in.NewestEvent), age(in.Now.Sub(in.NewestEvent)), age(in.MaxIndexLag))
	}
	return c, ""
}

// DrainDecision says whether the old key may be deactivated now.
type DrainDecision struct {
	Idle          bool      `json:"idle"`
	LastUse       time.Time `json:"lastUse,omitzero"`       // the later of the two sources
	IndexLastSeen time.Time `json:"indexLastSeen,omitzero"` // CloudTrail, through the usage index
	IAMLastUsed   time.Time `json:"iamLastUsed,omitzero"`   // GetAccessKeyLastUsed
	// IndexCovered is the time up to which the index has seen CloudTrail
	// from every source (zero: unknown); the drain window ends there.
	IndexCovered time.Time `json:"indexCovered,omitzero"`
	// NotBefore is the earliest time the key can be idle given what is
	// known now, the index staying as far behind as it is (a new use
	// moves it).
	NotBefore time.Time `json:"notBefore,omitzero"`
	Reason    string    `json:"reason"`
	// SourceIPs and UserAgents are those seen with the old key within
	// the drain window: who still uses it.
	SourceIPs  []store.Seen `json:"sourceIps,omitempty"`
	UserAgents []store.Seen `json:"userAgents,omitempty"`
}

// DecideDrain decides from evidence alone. The old key is idle when the
// index has seen CloudTrail from every source up to a recent point (the
// least current source's checkpoint less DeliveryLag and the event-time
// watermark, within MaxIndexLag of Now), neither the index nor IAM shows
// a use within the Drain before that point or since, and MinOverlap has
// passed since the new key was published. Ending the window at what the
// index has covered, not at Now, is what makes its silence a full Drain
// of evidence: the time it has not seen yet proves nothing.
func DecideDrain(in DrainInput) DrainDecision {
	d := DrainDecision{IndexLastSeen: in.Usage.LastSeen, IAMLastUsed: in.IAMLastUsed}
	d.LastUse = later(in.Usage.LastSeen, in.IAMLastUsed)
	covered, stale := in.covered()
	d.IndexCovered = covered
	gap := in.Now.Sub(covered) // how far the index is behind
	if covered.IsZero() {
		gap = 0
	}
	since := in.Now.Add(-gap - in.Drain)
	d.SourceIPs = seenSince(in.Usage.SourceIPs, since)
	d.UserAgents = seenSince(in.Usage.UserAgents, since)
	d.NotBefore = in.Published.Add(in.MinOverlap)
	if !d.LastUse.IsZero() {
		d.NotBefore = later(d.NotBefore, d.LastUse.Add(in.Drain+gap))
	}
	switch {
	case stale != "":
		d.Reason = stale
	case !d.LastUse.IsZero() && d.LastUse.After(since):
		d.Reason = fmt.Sprintf("old key used %s (%s ago)%s; idle at the earliest %s", stamp(d.LastUse), age(in.Now.Sub(d.LastUse)),
			who(d.SourceIPs, d.UserAgents), stamp(d.NotBefore))
	case in.Now.Before(in.Published.Add(in.MinOverlap)):
		d.Reason = fmt.Sprintf("new key published %s; both keys stay active at least until %s so late CloudTrail records can show up",
			stamp(in.Published), stamp(d.NotBefore))
	default:
		d.Idle = true
		if d.LastUse.IsZero() {
			d.Reason = "old key never used (usage index and GetAccessKeyLastUsed agree)"
		} else {
			d.Reason = fmt.Sprintf("old key last used %s, %s ago (index %s, IAM %s): idle for the %s drain window",
				stamp(d.LastUse), age(in.Now.Sub(d.LastUse)), stampOrNever(in.Usage.LastSeen), stampOrNever(in.IAMLastUsed), age(in.Drain))
		}
		if gap > 0 {
			d.Reason += fmt.Sprintf(" up to %s, what the usage index has seen from every source", stamp(covered))
		}
	}
	return d
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func seenSince(ss []store.Seen, since time.Time) []store.Seen {
	var out []store.Seen
	for _, s := range ss {
		if s.LastSeen.After(since) {
			out = append(out, s)
		}
	}
	return out
}

// who renders " from 10.0.0.1, 10.0.0.2 by aws-cli/2…".
func who(ips, uas []store.Seen) string {
	var b strings.Builder
	list := func(ss []store.Seen) string {
		var vs []string
		for _, s := range ss {
			if s.Value != "" {
				vs = append(vs, s.Value)
			}
		}
		return strings.Join(vs, ", ")
	}
	if l := list(ips); l != "" {
		b.WriteString(" from " + l)
	}
	if l := list(uas); l != "" {
		b.WriteString(" by " + l)
	}
	return b.String()
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func stampOrNever(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return stamp(t)
}

// age renders a duration in days when it is at least two days, else hours.
func age(d time.Duration) string {
	switch {
	case d >= 2*Day:
		return fmt.Sprintf("%dd", int(d/Day))
	case d >= time.Hour:
		return fmt.Sprintf("%dh", int(d/time.Hour))
	default:
		return d.Truncate(time.Second).String()
	}
}
