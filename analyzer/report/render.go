package report

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteJSON writes the report as indented JSON.
func WriteJSON(w io.Writer, r *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

func dayText(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02")
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func pct(r float64) string { return fmt.Sprintf("%.0f%%", 100*r) }

func (r *Report) header() []string {
	out := []string{fmt.Sprintf("window %s … %s (%d days)", stamp(r.Window.Start), stamp(r.Window.End), daysOf(r))}
	for _, m := range r.Models {
		if m.Source == "store" {
			out = append(out, fmt.Sprintf("model: store snapshot of %s taken %s", m.Account, stamp(m.Taken)))
		} else {
			out = append(out, fmt.Sprintf("model: %s (account %s), in force for the whole window", m.Source, m.Account))
		}
	}
	if len(r.AccountsWithoutModel) > 0 {
		out = append(out, "no model for "+strings.Join(r.AccountsWithoutModel, ", ")+": usage only (add one with `iamd snapshot save`)")
	}
	return out
}

func daysOf(r *Report) int { return r.Window.Days() }

// WriteSummary writes one line per principal: what it uses of what it
// holds.
func WriteSummary(w io.Writer, r *Report) error {
	for _, h := range r.header() {
		fmt.Fprintln(w, h)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nPRINCIPAL\tSTATUS\tUSED\tGRANTED\tUNUSED\tDENIED\tNOT GRANTED\tUNOBSERVABLE\tUTILISATION")
	for _, p := range r.Principals {
		util := "-"
		if p.Utilisation.Granted > 0 {
			util = pct(p.Utilisation.Ratio)
		}
		granted := "-"
		if p.Status == StatusAnalysed || p.Status == StatusRoot {
			granted = fmt.Sprint(p.Utilisation.Granted)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\t%d\t%d\t%d\t%s\n", p.Principal, statusText(p), len(p.Used), granted,
			len(p.Unused), len(p.Denied), len(p.NotGranted), len(p.Unobservable), util)
	}
	return tw.Flush()
}

func statusText(p PrincipalReport) string {
	s := p.Status
	if p.CreatedInWindow {
		s += " (created in window)"
	}
	return s
}

// WriteTable writes every principal in detail, for a terminal.
func WriteTable(w io.Writer, r *Report) error {
	for _, h := range r.header() {
		fmt.Fprintln(w, h)
	}
	for i := range r.Principals {
		if err := writePrincipalTable(w, &r.Principals[i]); err != nil {
			return err
		}
	}
	return nil
}

func writePrincipalTable(w io.Writer, p *PrincipalReport) error {
	fmt.Fprintf(w, "\n== %s (%s)\n", p.Principal, strings.TrimSpace(p.Kind+" "+statusText(*p)))
	if p.Utilisation.Granted > 0 {
		fmt.Fprintf(w, "utilisation: %d of %d granted actions used (%s)\n", p.Utilisation.Used, p.Utilisation.Granted, pct(p.Utilisation.Ratio))
	}
	for _, u := range p.UnknownPolicies {
		fmt.Fprintf(w, "warning: policy %s is unknown (not in the snapshot or unparsable): the granted set may differ\n", u)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	section := func(title string, n int) bool {
		if n == 0 {
			return false
		}
		fmt.Fprintf(tw, "\n%s (%d)\n", title, n)
		return true
	}
	if section("USED", len(p.Used)) {
		fmt.Fprintln(tw, "ACTION\tCALLS\tLAST USED\tRESOURCES\tALLOWED BY")
		for _, u := range p.Used {
			note := ""
			if !u.GrantedNow && p.Status == StatusAnalysed {
				note = " (no longer granted)"
			}
			fmt.Fprintf(tw, "%s%s\t%d\t%s\t%s\t%s\n", u.Action, note, u.Calls, dayText(u.LastUsed), resourceText(u), statements(u.AllowedBy))
		}
	}
	if section("UNUSED", len(p.Unused)) {
		fmt.Fprintln(tw, "SERVICE\tACTION\tLEVEL\tRESOURCES\tCONDITIONAL\tGRANTED BY")
		for _, u := range p.Unused {
			svc := u.Service
			if u.ServiceUnused {
				svc += " (service unused)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%t\t%s\n", svc, u.Action, u.Level, strings.Join(u.Resources, ","), u.Conditional, statements(u.GrantedBy))
		}
	}
	if section("DENIED", len(p.Denied)) {
		fmt.Fprintln(tw, "ACTION\tCALLS\tLAST DENIED\tRESOURCES\tGRANTED NOW")
		for _, d := range p.Denied {
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%t\n", d.Action, d.Calls, dayText(d.LastDenied), strings.Join(d.Resources, ","), d.GrantedNow)
		}
	}
	if section("NOT GRANTED NOW", len(p.NotGranted)) {
		fmt.Fprintln(tw, "ACTION\tCALLS\tLAST USED\tREASON\tRESOURCES")
		for _, n := range p.NotGranted {
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s: %s\t%s\n", n.Action, n.Calls, dayText(n.LastUsed), n.Reason, n.Detail, strings.Join(n.Resources, ","))
		}
	}
	if section("UNOBSERVABLE (kept, never counted as unused)", len(p.Unobservable)) {
		fmt.Fprintln(tw, "ACTION\tREASON")
		for _, u := range p.Unobservable {
			fmt.Fprintf(tw, "%s\t%s: %s\n", u.Action, u.Reason, u.Detail)
		}
	}
	if s := p.Sessions; s != nil {
		if section("WHO INSIDE", len(s.SessionNames)+len(s.SourceIdentities)) {
			fmt.Fprintln(tw, "KIND\tNAME\tCALLS\tSHARE\tLAST SEEN")
			for _, x := range s.SourceIdentities {
				fmt.Fprintf(tw, "source identity\t%s\t%d\t%s\t%s\n", x.Name, x.Calls, pct(x.Share), dayText(x.LastSeen))
			}
			for _, x := range s.SessionNames {
				fmt.Fprintf(tw, "session name\t%s\t%d\t%s\t%s\n", x.Name, x.Calls, pct(x.Share), dayText(x.LastSeen))
			}
		}
	}
	return tw.Flush()
}

func resourceText(u UsedAction) string {
	if len(u.Resources) == 0 {
		return "-"
	}
	var rs []string
	for _, r := range u.Resources {
		rs = append(rs, r.Resource)
	}
	s := strings.Join(rs, ",")
	if more := u.ResourceCount - len(u.Resources); more > 0 {
		s += fmt.Sprintf(" (+%d)", more)
	}
	return s
}

func statements(ss []Statement) string {
	if len(ss) == 0 {
		return "-"
	}
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.Short()
	}
	return strings.Join(out, "; ")
}

// WriteMarkdown writes the report as Markdown, one section per
// principal, unused actions grouped by service.
func WriteMarkdown(w io.Writer, r *Report) error {
	fmt.Fprintln(w, "# Used vs granted")
	fmt.Fprintln(w)
	for _, h := range r.header() {
		fmt.Fprintf(w, "- %s\n", mdEscape(h))
	}
	for _, p := range r.Principals {
		fmt.Fprintf(w, "\n## %s\n\n", mdEscape(p.Principal))
		fmt.Fprintf(w, "Status: %s", statusText(p))
		if p.Utilisation.Granted > 0 {
			fmt.Fprintf(w, "; %d of %d granted actions used (%s)", p.Utilisation.Used, p.Utilisation.Granted, pct(p.Utilisation.Ratio))
		}
		fmt.Fprintln(w)
		if len(p.Used) > 0 {
			fmt.Fprintf(w, "\n### Used (%d)\n\n| action | calls | last used | resources | allowed by |\n| --- | ---: | --- | --- | --- |\n", len(p.Used))
			for _, u := range p.Used {
				fmt.Fprintf(w, "| %s | %d | %s | %s | %s |\n", u.Action, u.Calls, dayText(u.LastUsed), mdEscape(resourceText(u)), mdEscape(statements(u.AllowedBy)))
			}
		}
		if len(p.Unused) > 0 {
			fmt.Fprintf(w, "\n### Unused (%d)\n", len(p.Unused))
			bySvc := map[string][]UnusedAction{}
			for _, u := range p.Unused {
				bySvc[u.Service] = append(bySvc[u.Service], u)
			}
			svcs := make([]string, 0, len(bySvc))
			for s := range bySvc {
				svcs = append(svcs, s)
			}
			sort.Strings(svcs)
			for _, s := range svcs {
				title := s
				if bySvc[s][0].ServiceUnused {
					title += " (service unused)"
				}
				fmt.Fprintf(w, "\n- **%s**: ", title)
				var names []string
				for _, u := range bySvc[s] {
					names = append(names, fmt.Sprintf("%s (%s)", u.Action, u.Level))
				}
				fmt.Fprintln(w, strings.Join(names, ", "))
			}
		}
		if len(p.Denied) > 0 {
			fmt.Fprintf(w, "\n### Denied (%d)\n\n| action | calls | last denied | resources |\n| --- | ---: | --- | --- |\n", len(p.Denied))
			for _, d := range p.Denied {
				fmt.Fprintf(w, "| %s | %d | %s | %s |\n", d.Action, d.Calls, dayText(d.LastDenied), mdEscape(strings.Join(d.Resources, ", ")))
			}
		}
		if len(p.NotGranted) > 0 {
			fmt.Fprintf(w, "\n### Not granted now (%d)\n\n| action | calls | reason |\n| --- | ---: | --- |\n", len(p.NotGranted))
			for _, n := range p.NotGranted {
				fmt.Fprintf(w, "| %s | %d | %s: %s |\n", n.Action, n.Calls, n.Reason, mdEscape(n.Detail))
			}
		}
		if len(p.Unobservable) > 0 {
			fmt.Fprintf(w, "\n### Unobservable (%d, kept)\n\n", len(p.Unobservable))
			for _, u := range p.Unobservable {
				fmt.Fprintf(w, "- %s: %s\n", u.Action, mdEscape(u.Detail))
			}
		}
		if s := p.Sessions; s != nil {
			fmt.Fprintln(w, "\n### Who inside")
			fmt.Fprintln(w)
			for _, x := range s.SourceIdentities {
				fmt.Fprintf(w, "- source identity %s: %d calls (%s), last %s\n", mdEscape(x.Name), x.Calls, pct(x.Share), dayText(x.LastSeen))
			}
			for _, x := range s.SessionNames {
				fmt.Fprintf(w, "- session %s: %d calls (%s), last %s\n", mdEscape(x.Name), x.Calls, pct(x.Share), dayText(x.LastSeen))
			}
		}
	}
	return nil
}

// mdEscape keeps a value from breaking a Markdown table or emphasis.
func mdEscape(s string) string {
	return strings.NewReplacer("|", `\|`, "*", `\*`, "_", `\_`, "`", "\\`").Replace(s)
}
