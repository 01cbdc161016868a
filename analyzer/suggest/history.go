package suggest

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/iamd/iamd/analyzer/usage"
	"github.com/iamd/iamd/store"
)

// HistoryStore is what History needs of the store (store.DB implements
// it): small State records of our own.
type HistoryStore interface {
	PutState(ctx context.Context, s store.State, prev *time.Time) error
	GetState(ctx context.Context, kind, id string) (store.State, bool, error)
	States(ctx context.Context, kind string) ([]store.State, error)
}

// State kinds: one kind per principal, one record per run (ID: the run's
// time), one record per run in the run index, and the principals of each
// run (ID: the run's time).
const (
	principalKind     = "suggest/" // + principal ARN
	runKind           = "suggest-runs"
	runPrincipalsKind = "suggest-run-principals"
	// runLayout sorts like time: State IDs are ordered as bytes.
	runLayout = "2006-01-02T15:04:05.000000000Z"
)

// Record is what a run keeps of one principal's suggestion: enough to
// tell the next run what changed.
type Record struct {
	Run       time.Time    `json:"run"`
	Window    usage.Window `json:"window"`
	Generated []string     `json:"generated"` // "action resource" pairs
	Removed   []string     `json:"removed"`   // actions removed in place
	Passed    bool         `json:"passed"`
	// Summary is the principal's line of the run, self-check and changes
	// included (nil in records kept before it was).
	Summary *Summary `json:"summary,omitempty"`
}

// RecordOf is the record of a suggestion made at run.
func RecordOf(sg *Suggestion, run time.Time) Record {
	r := Record{Run: run.UTC(), Window: sg.Window, Passed: sg.Check.Passed, Generated: []string{}, Removed: []string{}}
	if sg.Generated != nil {
		r.Generated = sg.Generated.Permissions
	}
	for _, rm := range sg.Removed {
		r.Removed = append(r.Removed, rm.Action)
	}
	sort.Strings(r.Removed)
	return r
}

// RunSummary is one run in the run index.
type RunSummary struct {
	Run        time.Time    `json:"run"`
	Window     usage.Window `json:"window"`
	Principals int          `json:"principals"`
	Failed     int          `json:"failed"`
	Out        string       `json:"out,omitempty"`
}

// History keeps suggestion runs in the store.
type History struct{ s HistoryStore }

// NewHistory returns a History over s.
func NewHistory(s HistoryStore) *History { return &History{s: s} }

// Previous returns the principal's newest record older than run; nil when
// there is none.
func (h *History) Previous(ctx context.Context, principal string, run time.Time) (*Record, error) {
	states, err := h.s.States(ctx, principalKind+principal)
	if err != nil {
		return nil, fmt.Errorf("read suggestion history of %s: %w", principal, err)
	}
	cut := run.UTC().Format(runLayout)
	for i := len(states) - 1; i >= 0; i-- {
		if states[i].ID >= cut {
			continue
		}
		var r Record
		if err := unzipJSON(states[i].Data, &r); err != nil {
			return nil, fmt.Errorf("suggestion history of %s, run %s: %w", principal, states[i].ID, err)
		}
		return &r, nil
	}
	return nil, nil
}

// Save keeps the principal's record of a run.
func (h *History) Save(ctx context.Context, principal string, r Record) error {
	data, err := zipJSON(r)
	if err != nil {
		return err
	}
	if err := h.s.PutState(ctx, store.State{Kind: principalKind + principal, ID: r.Run.UTC().Format(runLayout), Data: data, Updated: r.Run}, nil); err != nil {
		return fmt.Errorf("keep the suggestion of %s: %w", principal, err)
	}
	return nil
}

// SaveRun adds a run to the run index, with the principals it made a
// suggestion for.
func (h *History) SaveRun(ctx context.Context, s RunSummary, principals []string) error {
	data, err := json.Marshal(s)
	if err != nil {
		return err
	}
	id := s.Run.UTC().Format(runLayout)
	// The list first: a run in the index always has its principals.
	list, err := zipJSON(principals)
	if err != nil {
		return err
	}
	if err := h.s.PutState(ctx, store.State{Kind: runPrincipalsKind, ID: id, Data: list, Updated: s.Run}, nil); err != nil {
		return fmt.Errorf("keep the suggestion run's principals: %w", err)
	}
	if err := h.s.PutState(ctx, store.State{Kind: runKind, ID: id, Data: data, Updated: s.Run}, nil); err != nil {
		return fmt.Errorf("keep the suggestion run: %w", err)
	}
	return nil
}

// Latest returns the newest run of the index and the principals it made
// a suggestion for; nil when no run was kept.
func (h *History) Latest(ctx context.Context) (*RunSummary, []string, error) {
	runs, err := h.Runs(ctx)
	if err != nil || len(runs) == 0 {
		return nil, nil, err
	}
	run := runs[len(runs)-1]
	st, ok, err := h.s.GetState(ctx, runPrincipalsKind, run.Run.UTC().Format(runLayout))
	if err != nil {
		return nil, nil, fmt.Errorf("read the principals of suggestion run %s: %w", run.Run.Format(time.RFC3339), err)
	}
	principals := []string{}
	if ok {
		if err := unzipJSON(st.Data, &principals); err != nil {
			return nil, nil, fmt.Errorf("principals of suggestion run %s: %w", run.Run.Format(time.RFC3339), err)
		}
	}
	return &run, principals, nil
}

// Result reads back a kept run as Run returned it, for the principals
// given (a subset of the run's): each one's summary with its self-check
// and its changes since the previous run.
func (h *History) Result(ctx context.Context, run RunSummary, principals []string) (*RunResult, error) {
	res := &RunResult{Run: run.Run.UTC(), Window: run.Window, Out: run.Out, Summaries: []Summary{}}
	id := run.Run.UTC().Format(runLayout)
	for _, p := range principals {
		st, ok, err := h.s.GetState(ctx, principalKind+p, id)
		if err != nil {
			return nil, fmt.Errorf("read the suggestion of %s: %w", p, err)
		}
		if !ok {
			continue
		}
		var r Record
		if err := unzipJSON(st.Data, &r); err != nil {
			return nil, fmt.Errorf("suggestion history of %s, run %s: %w", p, id, err)
		}
		sum := r.Summary
		if sum == nil {
			// A record kept before summaries were: what it tells.
			sum = &Summary{Principal: p, Removed: len(r.Removed), Passed: r.Passed}
			prev, err := h.Previous(ctx, p, r.Run)
			if err != nil {
				return nil, err
			}
			if prev != nil {
				sum.Changes = DiffRecords(prev, &r)
			}
		}
		if !sum.Passed {
			res.Failed++
		}
		res.Summaries = append(res.Summaries, *sum)
	}
	return res, nil
}

// Runs returns the run index, oldest first.
func (h *History) Runs(ctx context.Context) ([]RunSummary, error) {
	states, err := h.s.States(ctx, runKind)
	if err != nil {
		return nil, fmt.Errorf("read suggestion runs: %w", err)
	}
	out := make([]RunSummary, 0, len(states))
	for _, st := range states {
		var s RunSummary
		if err := json.Unmarshal(st.Data, &s); err != nil {
			return nil, fmt.Errorf("suggestion run %s: %w", st.ID, err)
		}
		out = append(out, s)
	}
	return out, nil
}

// zipJSON gzips the JSON of v: a principal with thousands of removed
// actions would otherwise outgrow store.MaxStateSize.
func zipJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if err := json.NewEncoder(zw).Encode(v); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func unzipJSON(data []byte, v any) error {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return err
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// Diff is what changed in a principal's suggestion since the previous
// run: new, gone and unchanged permissions of the generated policy, and
// of the actions removed in place.
type Diff struct {
	Previous           time.Time `json:"previous_run"`
	GeneratedAdded     []string  `json:"generated_added"`
	GeneratedRemoved   []string  `json:"generated_removed"`
	GeneratedUnchanged int       `json:"generated_unchanged"`
	RemovedAdded       []string  `json:"removed_added"`
	RemovedGone        []string  `json:"removed_gone"`
	RemovedUnchanged   int       `json:"removed_unchanged"`
}

// Empty reports whether nothing changed.
func (d *Diff) Empty() bool {
	return len(d.GeneratedAdded)+len(d.GeneratedRemoved)+len(d.RemovedAdded)+len(d.RemovedGone) == 0
}

// DiffRecords compares two records of one principal.
func DiffRecords(prev, cur *Record) *Diff {
	d := &Diff{Previous: prev.Run}
	d.GeneratedAdded, d.GeneratedRemoved, d.GeneratedUnchanged = setDiff(prev.Generated, cur.Generated)
	d.RemovedAdded, d.RemovedGone, d.RemovedUnchanged = setDiff(prev.Removed, cur.Removed)
	return d
}

func setDiff(old, cur []string) (added, gone []string, same int) {
	in := map[string]bool{}
	for _, x := range old {
		in[x] = true
	}
	now := map[string]bool{}
	for _, x := range cur {
		now[x] = true
		if in[x] {
			same++
		} else {
			added = append(added, x)
		}
	}
	for _, x := range old {
		if !now[x] {
			gone = append(gone, x)
		}
	}
	sort.Strings(added)
	sort.Strings(gone)
	if added == nil {
		added = []string{}
	}
	if gone == nil {
		gone = []string{}
	}
	return added, gone, same
}
