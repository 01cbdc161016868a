// Package evidence runs the audit checks that only CloudTrail can
// answer, beside the model checks of analyzer/iam: the root user used in
// the window, access keys used from an unusual source address or user
// agent, and refused attempts at privilege-escalation actions. Each
// finding is an iam.Finding with a stable rule id, a severity and its
// evidence from the usage index.
//
// It builds on a report.Report of the same window and reads per-key
// usage through the narrow Store interface declared here.
package evidence

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/iamd/iamd/analyzer/iam"
	"github.com/iamd/iamd/analyzer/report"
	"github.com/iamd/iamd/store"
)

// Store is what Audit needs of the usage index (store.DB implements it).
type Store interface {
	KeysOf(ctx context.Context, principal string) ([]store.KeyUsage, error)
}

// Rule ids of the trail checks. They are stable: reports and
// suppressions refer to them.
const (
	RuleRootUsed         = "CT001" // the root user made calls in the window
	RuleUnusualKeySource = "CT003" // an access key used from an unusual source IP or user agent
	RuleDeniedEscalation = "CT004" // refused attempts at privilege-escalation actions
)

// Options tune Audit.
type Options struct {
	// RareShare is the largest share of a key's calls a source IP or user
	// agent may carry and still count as unusual (default 1 %), when
	// another value carries at least DominantShare (default 90 %).
	RareShare     float64
	DominantShare float64
}

// Audit returns the trail findings of the report's principals.
func Audit(ctx context.Context, s Store, r *report.Report, o Options) ([]iam.Finding, error) {
	if o.RareShare <= 0 {
		o.RareShare = 0.01
	}
	if o.DominantShare <= 0 {
		o.DominantShare = 0.9
	}
	escalation := map[string][]string{} // action → method names
	for _, m := range iam.EscalationMethods() {
		for _, a := range m.All {
			escalation[strings.ToLower(a)] = append(escalation[strings.ToLower(a)], m.Name)
		}
	}
	var out []iam.Finding
	for i := range r.Principals {
		pr := &r.Principals[i]
		keys, err := s.KeysOf(ctx, pr.Principal)
		if err != nil {
			return nil, fmt.Errorf("read access keys of %s: %w", pr.Principal, err)
		}
		if strings.HasSuffix(pr.Principal, ":root") {
			if f, ok := rootUsed(pr, keys, r); ok {
				out = append(out, f)
			}
		}
		for _, k := range keys {
			out = append(out, unusualSources(pr.Principal, k, r, o)...)
		}
		for _, d := range pr.Denied {
			methods := escalation[strings.ToLower(d.Action)]
			if len(methods) == 0 {
				continue
			}
			ev := []string{fmt.Sprintf("%s refused %d times, last %s", d.Action, d.Calls, d.LastDenied.UTC().Format(time.RFC3339))}
			if len(d.Resources) > 0 {
				ev = append(ev, "on "+strings.Join(d.Resources, ", "))
			}
			ev = append(ev, "escalation methods needing it: "+strings.Join(methods, ", "))
			out = append(out, iam.Finding{Rule: RuleDeniedEscalation, Severity: iam.SeverityHigh, Principal: pr.Principal,
				Title:    "refused attempts at a privilege-escalation action",
				Evidence: ev,
				Fix:      "find out who or what made the calls (session names, source IPs of its keys); a workload that needs the action should get it scoped, anything else is an attack"})
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Rule != b.Rule {
			return a.Rule < b.Rule
		}
		return a.Principal < b.Principal
	})
	return out, nil
}

// rootUsed reports the root user's calls in the window (IAM User Guide,
// "Root user best practices": do not use the root user for everyday
// tasks).
func rootUsed(pr *report.PrincipalReport, keys []store.KeyUsage, r *report.Report) (iam.Finding, bool) {
	var calls uint64
	var last time.Time
	var actions []string
	for _, u := range pr.Used {
		calls += u.Calls
		actions = append(actions, u.Action)
		if u.LastUsed.After(last) {
			last = u.LastUsed
		}
	}
	for _, d := range pr.Denied {
		calls += d.Calls
		if d.LastDenied.After(last) {
			last = d.LastDenied
		}
	}
	if calls == 0 {
		return iam.Finding{}, false
	}
	ev := []string{fmt.Sprintf("%d calls in the window, last %s", calls, last.UTC().Format(time.RFC3339))}
	if len(actions) > 0 {
		if len(actions) > 8 {
			actions = append(actions[:8], fmt.Sprintf("and %d more", len(actions)-8))
		}
		ev = append(ev, "actions: "+strings.Join(actions, ", "))
	}
	ips := map[string]uint64{}
	for _, k := range keys {
		for _, ip := range k.SourceIPs {
			if r.Window.Contains(ip.LastSeen) {
				ips[ip.Value] += ip.Count
			}
		}
	}
	if len(ips) > 0 {
		var list []string
		for ip, n := range ips {
			list = append(list, fmt.Sprintf("%s (%d calls)", ip, n))
		}
		sort.Strings(list)
		ev = append(ev, "source IPs: "+strings.Join(list, ", "))
	}
	return iam.Finding{Rule: RuleRootUsed, Severity: iam.SeverityHigh, Principal: pr.Principal,
		Title:    "root user used",
		Evidence: ev,
		Fix:      "do the task with an IAM role or IAM Identity Center user; keep the root user for the few tasks that need it, with MFA"}, true
}

// unusualSources flags a long-term key's source IPs and user agents that
// carry a tiny share of its calls beside one that carries nearly all. The
// index keeps, per key, the latest few values with their counts and last
// use, not when each was first seen, so "new" is read as "rare next to
// the key's usual one and seen in the window".
func unusualSources(principal string, k store.KeyUsage, r *report.Report, o Options) []iam.Finding {
	if !strings.HasPrefix(k.AccessKeyID, "AKIA") || !r.Window.Contains(k.LastSeen) {
		return nil
	}
	var out []iam.Finding
	for _, kind := range []struct {
		name string
		seen []store.Seen
	}{{"source IP", k.SourceIPs}, {"user agent", k.UserAgents}} {
		var total uint64
		var top store.Seen
		for _, s := range kind.seen {
			total += s.Count
			if s.Count > top.Count {
				top = s
			}
		}
		if total == 0 || float64(top.Count) < o.DominantShare*float64(total) {
			continue
		}
		for _, s := range kind.seen {
			if s.Value == top.Value || s.Value == "" || float64(s.Count) > o.RareShare*float64(total) || !r.Window.Contains(s.LastSeen) {
				continue
			}
			out = append(out, iam.Finding{Rule: RuleUnusualKeySource, Severity: iam.SeverityMedium, Principal: principal,
				Title: "access key used from an unusual " + kind.name,
				Evidence: []string{
					fmt.Sprintf("%s used from %s %q: %d of %d calls, last %s", k.AccessKeyID, kind.name, s.Value, s.Count, total, s.LastSeen.UTC().Format(time.RFC3339)),
					fmt.Sprintf("usual %s %q: %d calls", kind.name, top.Value, top.Count),
				},
				Fix: "confirm the calls with the key's owner; if they are not theirs, deactivate the key and rotate it"})
		}
	}
	return out
}
