package suggest

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sort"
	"sync"
	"time"

	"github.com/iamd/iamd/analyzer/iam"
	"github.com/iamd/iamd/analyzer/report"
	"github.com/iamd/iamd/analyzer/usage"
)

// RunOptions configure Run.
type RunOptions struct {
	// Out is the folder suggestions are written under; "" writes none.
	Out string
	// Workers is how many principals are handled at once (0: GOMAXPROCS).
	Workers int
	// History keeps the run in the store and diffs each principal with
	// its previous run; nil keeps nothing.
	History *History
	// Now is the run's clock (default time.Now).
	Now func() time.Time
}

// Summary is one principal's outcome of a run.
type Summary struct {
	Principal string `json:"principal"`
	Folder    string `json:"folder,omitempty"`
	Documents int    `json:"generated_documents"`
	Removed   int    `json:"removed"`
	Kept      int    `json:"kept"`
	Passed    bool   `json:"passed"`
	// Failure is the first failed property, with the offending call.
	Failure string `json:"failure,omitempty"`
	// Check is the whole self-check: each suggestion's evaluations and
	// failures.
	Check   *Check `json:"self_check,omitempty"`
	Changes *Diff  `json:"changes,omitempty"`
}

// RunResult is the outcome of a run over a scope.
type RunResult struct {
	Run    time.Time    `json:"run"`
	Window usage.Window `json:"window"`
	// Out is the folder the suggestions were written under ("": none).
	Out       string    `json:"out,omitempty"`
	Summaries []Summary `json:"principals"`
	Failed    int       `json:"failed"`
}

// Run suggests for every principal of the scope: reads its usage,
// analyses it, builds and checks the suggestions, writes them under
// o.Out and keeps the run in o.History.
func (s *Suggester) Run(ctx context.Context, st usage.Store, sc *report.Scope, an *report.Analyser, o RunOptions) (*RunResult, error) {
	now := o.Now
	if now == nil {
		now = time.Now
	}
	res := &RunResult{Run: now().UTC(), Window: sc.Window, Out: o.Out, Summaries: []Summary{}}
	var (
		mu   sync.Mutex
		errs []error
	)
	workers := o.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	jobs := make(chan string)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for principal := range jobs {
				sum, err := s.one(ctx, st, sc, an, principal, res.Run, o)
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				} else if sum != nil {
					res.Summaries = append(res.Summaries, *sum)
				}
				mu.Unlock()
			}
		}()
	}
feed:
	for _, p := range sc.Principals {
		select {
		case jobs <- p:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	if err := errors.Join(append(errs, ctx.Err())...); err != nil {
		return nil, err
	}
	sort.Slice(res.Summaries, func(i, j int) bool { return res.Summaries[i].Principal < res.Summaries[j].Principal })
	for _, sum := range res.Summaries {
		if !sum.Passed {
			res.Failed++
		}
	}
	if o.History != nil {
		principals := make([]string, len(res.Summaries))
		for i, sum := range res.Summaries {
			principals[i] = sum.Principal
		}
		if err := o.History.SaveRun(ctx, RunSummary{Run: res.Run, Window: sc.Window, Principals: len(res.Summaries), Failed: res.Failed, Out: o.Out}, principals); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// one handles one principal; nil when there is nothing to suggest.
func (s *Suggester) one(ctx context.Context, st usage.Store, sc *report.Scope, an *report.Analyser, principal string, run time.Time, o RunOptions) (*Summary, error) {
	tl := sc.Timeline(principal)
	u, err := usage.Read(ctx, st, principal, sc.Window, report.NeedsDays(tl))
	if err != nil {
		return nil, err
	}
	pr := an.Principal(u, tl, sc.Activity.DataSeen(iam.AccountOf(principal), sc.Window))
	sg, err := s.Suggest(u, &pr, tl)
	if err != nil || sg == nil {
		return nil, err
	}
	sum := &Summary{Principal: principal, Removed: len(sg.Removed), Kept: len(sg.Kept), Passed: sg.Check.Passed, Check: &sg.Check}
	if sg.Generated != nil {
		sum.Documents = len(sg.Generated.Documents)
	}
	for _, c := range []*CheckResult{sg.Check.Generated, sg.Check.InPlace} {
		if c != nil && len(c.Failures) > 0 && sum.Failure == "" {
			f := c.Failures[0]
			sum.Failure = fmt.Sprintf("%s: %s %s: %s", f.Check, f.Action, f.Resource, f.Detail)
		}
	}
	var rec Record
	if o.History != nil {
		rec = RecordOf(sg, run)
		prev, err := o.History.Previous(ctx, principal, run)
		if err != nil {
			return nil, err
		}
		if prev != nil {
			sum.Changes = DiffRecords(prev, &rec)
		}
	}
	if o.Out != "" {
		var p *iam.Principal
		if tl != nil {
			p, _ = tl.Current().Principal(principal)
		}
		if sum.Folder, err = Write(o.Out, sg, p, sum.Changes); err != nil {
			return nil, err
		}
	}
	if o.History != nil {
		// Kept once its files are written, with the summary the latest
		// run is read back from.
		rec.Summary = sum
		if err := o.History.Save(ctx, principal, rec); err != nil {
			return nil, err
		}
	}
	return sum, nil
}
