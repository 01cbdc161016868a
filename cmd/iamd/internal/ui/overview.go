package ui

import (
	"html/template"
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/iamd/iamd/analyzer/iam"
	"github.com/iamd/iamd/analyzer/report"
	"github.com/iamd/iamd/analyzer/unused"
	"github.com/iamd/iamd/analyzer/usage"
	"github.com/iamd/iamd/cmd/iamd/internal/listing"
	"github.com/iamd/iamd/cmd/iamd/internal/scheduler"
)

// defaultRows is how many principals the overview lists before "show all".
const defaultRows = 100

type overviewPage struct {
	page
	ReportErr string
	Window    usage.Window
	Models    []report.ModelRef
	NoModel   []string
	Rows      []principalRow
	// Hidden rows are beyond the limit; AllLink shows them.
	Hidden  int
	AllLink template.URL
	Totals  totals

	HealthErr string
	Health    *healthView

	UnusedErr   string
	UnusedTotal int
	UnusedTypes []typeCount

	AuditErr   string
	AuditTotal int
	Severities []typeCount
}

// principalRow is one principal on the overview.
type principalRow struct {
	ARN          string
	Link         template.URL
	Name         principalName
	Status       string
	Used         int
	Unused       int
	Unobservable int
	Granted      int
	Ratio        float64
	DeniedCalls  uint64
	LastActivity time.Time
	Bar          []segment
	// Note explains a principal without a bar (root, no model).
	Note string
	New  bool // created inside the window
}

type totals struct {
	Principals, Analysed, WithUnused    int
	Granted, Used, Unused, Unobservable int
	DeniedCalls                         uint64
}

// typeCount is one bucket of a count by type or severity.
type typeCount struct {
	Key, Label string
	N          int
	Link       template.URL
}

func (u *UI) overview(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p := &overviewPage{page: u.newPage(r, "Overview", "overview")}
	p.FilterOn = true
	limit := defaultRows
	if v, err := strconv.Atoi(r.URL.Query().Get("limit")); err == nil && v >= 0 {
		limit = v
	}
	if rep, err := u.o.Data.Report(ctx, ""); err != nil {
		p.ReportErr = err.Error()
	} else {
		p.Window, p.Models, p.NoModel = rep.Window, rep.Models, rep.AccountsWithoutModel
		var arns []string
		for i := range rep.Principals {
			arns = append(arns, rep.Principals[i].Principal)
		}
		p.Accounts = accountsOf(arns)
		p.Rows, p.Totals = principalRows(rep, p.Filter)
		if limit > 0 && len(p.Rows) > limit {
			p.Hidden = len(p.Rows) - limit
			p.Rows = p.Rows[:limit]
			p.AllLink = p.Filter.link("/", "limit", "0")
		}
	}
	if h, err := u.o.Data.Health(ctx); err != nil {
		p.HealthErr = err.Error()
	} else {
		p.Health = newHealthView(h, p.Now)
	}
	if res, err := u.o.Data.Unused(ctx); err != nil {
		p.UnusedErr = err.Error()
	} else {
		p.UnusedTypes, p.UnusedTotal = unusedCounts(res, p.Filter)
	}
	if accts, err := u.o.Data.Audit(ctx); err != nil {
		p.AuditErr = err.Error()
	} else {
		p.Severities, p.AuditTotal = severityCounts(accts, p.Filter)
	}
	u.render(w, r, http.StatusOK, "overview", p)
	return nil
}

// principalRows ranks the filtered principals by unused permissions, most
// first; the root user and principals without a model come last.
func principalRows(rep *report.Report, f Filter) ([]principalRow, totals) {
	var rows []principalRow
	var t totals
	for i := range rep.Principals {
		pr := &rep.Principals[i]
		if !f.Match(pr.Principal) {
			continue
		}
		row := principalRow{ARN: pr.Principal, Link: f.principalLink(pr.Principal), Name: parseARN(pr.Principal),
			Status: pr.Status, Used: pr.Utilisation.Used, Unused: len(pr.Unused), Unobservable: len(pr.Unobservable),
			Granted: pr.Utilisation.Granted, Ratio: pr.Utilisation.Ratio, LastActivity: lastActivity(pr), New: pr.CreatedInWindow}
		for _, d := range pr.Denied {
			row.DeniedCalls += d.Calls
		}
		switch pr.Status {
		case report.StatusAnalysed:
			row.Bar = grantBar(row.Used, row.Unused, row.Unobservable)
			t.Analysed++
			t.Granted += row.Granted
			t.Used += row.Used
			t.Unused += row.Unused
			t.Unobservable += row.Unobservable
			if row.Unused > 0 {
				t.WithUnused++
			}
		case report.StatusRoot:
			row.Note = "root user: granted all that SCPs allow"
		case report.StatusNoModel:
			row.Note = "no IAM model of its account: usage only"
		case report.StatusNotInModel:
			row.Note = "not in its account's model (deleted?)"
		}
		t.Principals++
		t.DeniedCalls += row.DeniedCalls
		rows = append(rows, row)
	}
	rank := func(r principalRow) int {
		if r.Status == report.StatusAnalysed {
			return 0
		}
		return 1
	}
	sort.SliceStable(rows, func(i, j int) bool {
		a, b := rows[i], rows[j]
		if rank(a) != rank(b) {
			return rank(a) < rank(b)
		}
		if a.Unused != b.Unused {
			return a.Unused > b.Unused
		}
		return a.ARN < b.ARN
	})
	return rows, t
}

// lastActivity is the principal's newest call in the window, allowed or
// refused.
func lastActivity(pr *report.PrincipalReport) time.Time {
	var t time.Time
	later := func(u time.Time) {
		if u.After(t) {
			t = u
		}
	}
	for _, a := range pr.Used {
		later(a.LastUsed)
	}
	for _, a := range pr.Denied {
		later(a.LastDenied)
	}
	for _, a := range pr.NotGranted {
		later(a.LastUsed)
	}
	return t
}

// unusedTypes are the kinds of unused access, in the order shown.
var unusedTypes = []struct{ key, label string }{
	{unused.TypeRole, "Roles"},
	{unused.TypeUser, "Users"},
	{unused.TypeAccessKey, "Access keys"},
	{unused.TypePassword, "Console passwords"},
	{unused.TypePermissions, "Permissions"},
}

func unusedLabel(typ string) string {
	for _, t := range unusedTypes {
		if t.key == typ {
			return t.label
		}
	}
	return typ
}

func unusedCounts(res *unused.Result, f Filter) ([]typeCount, int) {
	n := map[string]int{}
	total := 0
	for _, fd := range res.Findings {
		if f.Match(fd.Principal) {
			n[fd.Type]++
			total++
		}
	}
	var out []typeCount
	for _, t := range unusedTypes {
		out = append(out, typeCount{Key: t.key, Label: t.label, N: n[t.key], Link: template.URL(string(f.link("/unused")) + "#" + t.key)})
	}
	return out, total
}

var severities = []iam.Severity{iam.SeverityCritical, iam.SeverityHigh, iam.SeverityMedium, iam.SeverityLow, iam.SeverityInfo}

func severityCounts(accts []listing.Audit, f Filter) ([]typeCount, int) {
	n := map[iam.Severity]int{}
	total := 0
	for _, a := range accts {
		for _, fd := range a.Findings {
			if f.Match(fd.Principal) {
				n[fd.Severity]++
				total++
			}
		}
	}
	var out []typeCount
	for _, s := range severities {
		out = append(out, typeCount{Key: string(s), Label: string(s), N: n[s], Link: f.link("/audit", "severity", string(s))})
	}
	return out, total
}

// healthView is the ingest side as the overview shows it.
type healthView struct {
	*Health
	QuarantinedTotal uint64
	Reasons          []reasonCount
	IndexAge         string
	Jobs             []scheduler.Status
}

type reasonCount struct {
	Reason string
	N      uint64
}

func newHealthView(h *Health, now time.Time) *healthView {
	v := &healthView{Health: h, IndexAge: ago(now, h.IndexUpdated)}
	for reason, n := range h.Quarantined {
		v.QuarantinedTotal += n
		v.Reasons = append(v.Reasons, reasonCount{reason, n})
	}
	sort.Slice(v.Reasons, func(i, j int) bool {
		if v.Reasons[i].N != v.Reasons[j].N {
			return v.Reasons[i].N > v.Reasons[j].N
		}
		return v.Reasons[i].Reason < v.Reasons[j].Reason
	})
	v.Jobs = append(v.Jobs, h.Jobs...)
	// Soonest next run first; jobs without one last.
	sort.SliceStable(v.Jobs, func(i, j int) bool {
		a, b := v.Jobs[i].NextRun, v.Jobs[j].NextRun
		switch {
		case a == nil || b == nil:
			return a != nil && b == nil
		case !a.Equal(*b):
			return a.Before(*b)
		}
		return v.Jobs[i].Name < v.Jobs[j].Name
	})
	return v
}
