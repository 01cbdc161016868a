package ui

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"sort"
	"time"

	"github.com/iamd/iamd/analyzer/report"
	"github.com/iamd/iamd/analyzer/suggest"
	"github.com/iamd/iamd/analyzer/usage"
)

// chartMaxRows bounds the per-service chart (the root user holds every
// service).
const chartMaxRows = 40

type principalPage struct {
	page
	P            *report.PrincipalReport
	Name         principalName
	Window       usage.Window
	LastActivity time.Time
	DeniedCalls  uint64
	Bar          []segment
	Chart        *serviceChart
	ChartHidden  int
	Unused       []unusedService

	Suggestion    *suggestionView
	SuggestionErr string
}

// unusedService is one service's unused actions.
type unusedService struct {
	Service       string
	ServiceUnused bool
	Actions       []report.UnusedAction
}

// suggestionView is a suggestion as the page shows it.
type suggestionView struct {
	*suggest.Output
	// Policies are the in-place changes, each a diff of today's document
	// with the suggested one.
	Policies []policyDiff
	// Documents are the generated policy documents, indented.
	Documents []string
	Failures  []suggest.Failure
	// Previous is the run the changes are counted from.
	Previous time.Time
	// Folder is where the documents the commands name are written.
	Folder string
}

type policyDiff struct {
	Name, ARN, Change string
	Removed           []string
	Lines             []diffLine
}

func (u *UI) principal(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	arn := r.URL.Query().Get("arn")
	if arn == "" {
		return notFound{"no principal named: open one from the overview"}
	}
	rep, err := u.o.Data.Report(ctx, arn)
	if err != nil {
		return err
	}
	pr, ok := rep.Find(arn)
	if !ok {
		return notFound{fmt.Sprintf("%s: no activity in the store and not in any IAM model", arn)}
	}
	p := &principalPage{page: u.newPage(r, parseARN(arn).Name, ""), P: pr, Name: parseARN(arn), Window: rep.Window,
		LastActivity: lastActivity(pr)}
	for _, d := range pr.Denied {
		p.DeniedCalls += d.Calls
	}
	if pr.Status == report.StatusAnalysed {
		p.Bar = grantBar(pr.Utilisation.Used, len(pr.Unused), len(pr.Unobservable))
		if p.Chart = newServiceChart(pr); p.Chart != nil && len(p.Chart.Rows) > chartMaxRows {
			p.ChartHidden = len(p.Chart.Rows) - chartMaxRows
			p.Chart.Rows = p.Chart.Rows[:chartMaxRows]
			p.Chart.Height = chartMaxRows*chartRowH + 4
		}
	}
	p.Unused = unusedByService(pr.Unused)
	if out, err := u.o.Data.Suggestion(ctx, arn); err != nil {
		p.SuggestionErr = err.Error()
	} else if out != nil {
		p.Suggestion = newSuggestionView(out)
		p.Suggestion.Folder = filepath.Join(u.o.SuggestionsDir, suggest.FolderName(arn))
	}
	u.render(w, r, http.StatusOK, "principal", p)
	return nil
}

func unusedByService(actions []report.UnusedAction) []unusedService {
	var out []unusedService
	idx := map[string]int{}
	for _, a := range actions {
		i, ok := idx[a.Service]
		if !ok {
			i = len(out)
			idx[a.Service] = i
			out = append(out, unusedService{Service: a.Service, ServiceUnused: a.ServiceUnused})
		}
		out[i].Actions = append(out[i].Actions, a)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Service < out[j].Service })
	return out
}

func newSuggestionView(out *suggest.Output) *suggestionView {
	v := &suggestionView{Output: out}
	if out.Changes != nil {
		v.Previous = out.Changes.Previous
	}
	if out.InPlace != nil {
		for _, pc := range out.InPlace.Policies {
			v.Policies = append(v.Policies, policyDiff{Name: pc.Name, ARN: pc.ARN, Change: pc.Change, Removed: pc.Removed,
				Lines: lineDiff(policyLines(pc.Original), policyLines(pc.Suggested))})
		}
	}
	if out.Generated != nil {
		for _, d := range out.Generated.Documents {
			b, err := json.MarshalIndent(d, "", "  ")
			if err == nil {
				v.Documents = append(v.Documents, string(b))
			}
		}
	}
	for _, c := range []*suggest.CheckResult{out.Check.Generated, out.Check.InPlace} {
		if c != nil {
			v.Failures = append(v.Failures, c.Failures...)
		}
	}
	return v
}
