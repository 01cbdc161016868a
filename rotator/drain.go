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
}

var _ UsageIndex = (*store.DB)(nil)

// indexUpdated is the newest ingest checkpoint's write time: how recently
// CloudTrail reached the index (zero: never).
func indexUpdated(ctx context.Context, u UsageIndex) (time.Time, error) {
	cps, err := u.Checkpoints(ctx, "")
	if err != nil {
		return time.Time{}, fmt.Errorf("read ingest checkpoints: %w", err)
	}
	var latest time.Time
	for _, c := range cps {
		if c.Updated.After(latest) {
			latest = c.Updated
		}
	}
	return latest, nil
}

// DrainInput is what the drain decision looks at.
type DrainInput struct {
	Now time.Time
	// Published is when the new key was published (draining began).
	Published time.Time
	// Usage is the old key's usage in the index (zero when never seen).
	Usage store.KeyUsage
	// IAMLastUsed is GetAccessKeyLastUsed of the old key (zero: never).
	IAMLastUsed time.Time
	// IndexUpdated is the newest ingest checkpoint (zero: none).
	IndexUpdated time.Time
	Drain        time.Duration
	MinOverlap   time.Duration
	MaxIndexLag  time.Duration // 0: not checked
}

// DrainDecision says whether the old key may be deactivated now.
type DrainDecision struct {
	Idle          bool      `json:"idle"`
	LastUse       time.Time `json:"lastUse,omitzero"`       // the later of the two sources
	IndexLastSeen time.Time `json:"indexLastSeen,omitzero"` // CloudTrail, through the usage index
	IAMLastUsed   time.Time `json:"iamLastUsed,omitzero"`   // GetAccessKeyLastUsed
	// NotBefore is the earliest time the key can be idle given what is
	// known now (a new use moves it).
	NotBefore time.Time `json:"notBefore,omitzero"`
	Reason    string    `json:"reason"`
	// SourceIPs and UserAgents are those seen with the old key within
	// the drain window: who still uses it.
	SourceIPs  []store.Seen `json:"sourceIps,omitempty"`
	UserAgents []store.Seen `json:"userAgents,omitempty"`
}

// DecideDrain decides from evidence alone: the old key is idle when
// neither the usage index nor IAM shows a use within Drain, MinOverlap has
// passed since the new key was published, and the index is fresh enough
// for its silence to mean something.
func DecideDrain(in DrainInput) DrainDecision {
	d := DrainDecision{IndexLastSeen: in.Usage.LastSeen, IAMLastUsed: in.IAMLastUsed}
	d.LastUse = later(in.Usage.LastSeen, in.IAMLastUsed)
	since := in.Now.Add(-in.Drain)
	d.SourceIPs = seenSince(in.Usage.SourceIPs, since)
	d.UserAgents = seenSince(in.Usage.UserAgents, since)
	d.NotBefore = in.Published.Add(in.MinOverlap)
	if !d.LastUse.IsZero() {
		d.NotBefore = later(d.NotBefore, d.LastUse.Add(in.Drain))
	}
	switch {
	case in.MaxIndexLag > 0 && in.IndexUpdated.IsZero():
		d.Reason = "the usage index has no ingest checkpoint: without CloudTrail its silence is no evidence"
	case in.MaxIndexLag > 0 && in.Now.Sub(in.IndexUpdated) > in.MaxIndexLag:
		d.Reason = fmt.Sprintf("the usage index was last written %s (%s ago, more than %s): ingest is behind, its silence is no evidence",
			stamp(in.IndexUpdated), age(in.Now.Sub(in.IndexUpdated)), age(in.MaxIndexLag))
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
