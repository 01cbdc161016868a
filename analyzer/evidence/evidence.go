// Package evidence runs the audit checks that only CloudTrail can
// answer, beside the model checks of analyzer/iam: the root user used in
// the window, console sign-ins without MFA, access keys used from a
// source address or user agent not seen before, and refused attempts at
// privilege-escalation actions. Each finding is an iam.Finding with a
// stable rule id, a severity and its evidence from the usage index.
//
// It builds on a report.Report of the same window and reads per-key
// usage and console sign-ins through the narrow Store interface
// declared here.
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
	ConsoleSignIns(ctx context.Context, principal string) (store.ConsoleSignIns, bool, error)
}

// Rule ids of the trail checks. They are stable: reports and
// suppressions refer to them.
const (
	RuleRootUsed         = "CT001" // the root user made calls or signed in in the window
	RuleSignInNoMFA      = "CT002" // console sign-ins without MFA (ConsoleLogin with MFAUsed No)
	RuleUnusualKeySource = "CT003" // an access key used from a new (or unusual) source IP or user agent
	RuleDeniedEscalation = "CT004" // refused attempts at privilege-escalation actions
)

// Options tune Audit.
type Options struct {
	// RareShare and DominantShare judge the source IPs and user agents a
	// key's usage recorded before the store kept first sightings (schema
	// version 3): such a value counts as unusual when it carries at most
	// RareShare of the key's calls (default 1 %) and another value at
	// least DominantShare (default 90 %).
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
		signIns, _, err := s.ConsoleSignIns(ctx, pr.Principal)
		if err != nil {
			return nil, fmt.Errorf("read console sign-ins of %s: %w", pr.Principal, err)
		}
		root := strings.HasSuffix(pr.Principal, ":root")
		if root {
			if f, ok := rootUsed(pr, keys, signIns, r); ok {
				out = append(out, f)
			}
		}
		if f, ok := signInsWithoutMFA(pr.Principal, root, signIns, r); ok {
			out = append(out, f)
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

// rootUsed reports the root user's calls and console sign-ins in the
// window (IAM User Guide, "Root user best practices": do not use the
// root user for everyday tasks).
func rootUsed(pr *report.PrincipalReport, keys []store.KeyUsage, signIns store.ConsoleSignIns, r *report.Report) (iam.Finding, bool) {
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
	signedIn := r.Window.Contains(signIns.LastSeen)
	if calls == 0 && !signedIn {
		return iam.Finding{}, false
	}
	var ev []string
	if calls > 0 {
		ev = append(ev, fmt.Sprintf("%d calls in the window, last %s", calls, last.UTC().Format(time.RFC3339)))
	}
	if signedIn {
		ev = append(ev, fmt.Sprintf("signed in to the console, last %s from %s (%d password sign-ins since %s)",
			stamp(signIns.LastSeen), latestIP(signIns.SourceIPs), signIns.WithMFA+signIns.WithoutMFA, stamp(signIns.FirstSeen)))
	}
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

// signInsWithoutMFA reports password sign-ins to the console without MFA
// in the window (ConsoleLogin with additionalEventData.MFAUsed No; IAM
// User Guide, "AWS Multi-factor authentication in IAM": require MFA for
// console users, and for the root user). Federated sign-ins do not count:
// the identity provider does their MFA and CloudTrail cannot see it.
func signInsWithoutMFA(principal string, root bool, s store.ConsoleSignIns, r *report.Report) (iam.Finding, bool) {
	if s.WithoutMFA == 0 || !r.Window.Contains(s.LastWithoutMFA) {
		return iam.Finding{}, false
	}
	ev := []string{
		fmt.Sprintf("signed in to the console without MFA, last %s", stamp(s.LastWithoutMFA)),
		fmt.Sprintf("%d of %d password sign-ins since %s without MFA", s.WithoutMFA, s.WithMFA+s.WithoutMFA, stamp(s.FirstSeen)),
	}
	if ips := seenIn(s.SourceIPs, r); ips != "" {
		ev = append(ev, "sign-ins from "+ips)
	}
	if r.Window.Contains(s.LastFailure) {
		ev = append(ev, fmt.Sprintf("%d failed sign-ins, last %s", s.Failures, stamp(s.LastFailure)))
	}
	f := iam.Finding{Rule: RuleSignInNoMFA, Severity: iam.SeverityHigh, Principal: principal,
		Title: "console sign-ins without MFA", Evidence: ev,
		Fix: "assign an MFA device to the user and require it (deny everything but MFA set-up without aws:MultiFactorAuthPresent), or remove the console password"}
	if root {
		f.Severity = iam.SeverityCritical
		f.Fix = "assign an MFA device (preferably two) to the root user; keep root sign-ins for the tasks that need them"
	}
	return f, true
}

// unusualSources flags the source IPs and user agents a long-term key
// was first seen from inside the window, when the key had been in use
// before the window: a key's owner rarely moves, a thief does. A key
// first used inside the window has no history to differ from.
//
// Exact only while the key's list has never evicted a value: a full list
// (MaxKeySeen values) may have dropped one that then came back with a
// new first sighting, so its values are not judged new. Values the store
// recorded before it kept first sightings (a store migrated from schema
// version 2) are judged the old way: a value carrying a tiny share of the
// key's calls beside one carrying nearly all of them, seen in the window.
func unusualSources(principal string, k store.KeyUsage, r *report.Report, o Options) []iam.Finding {
	if !strings.HasPrefix(k.AccessKeyID, "AKIA") || !r.Window.Contains(k.LastSeen) {
		return nil
	}
	history := k.FirstSeen.Before(r.Window.Start)
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
		full := len(kind.seen) >= store.MaxKeySeen
		dominant := total > 0 && float64(top.Count) >= o.DominantShare*float64(total)
		for _, s := range kind.seen {
			if s.Value == "" {
				continue
			}
			var ev []string
			switch {
			case !s.FirstSeen.IsZero():
				if full || !history || !r.Window.Contains(s.FirstSeen) {
					continue
				}
				ev = []string{
					fmt.Sprintf("%s first used from %s %q at %s: %d of %d calls, last %s", k.AccessKeyID, kind.name, s.Value,
						stamp(s.FirstSeen), s.Count, total, stamp(s.LastSeen)),
					fmt.Sprintf("the key was in use since %s (before the window) from %s", stamp(k.FirstSeen), others(kind.seen, s.Value)),
				}
			case dominant && s.Value != top.Value && float64(s.Count) <= o.RareShare*float64(total) && r.Window.Contains(s.LastSeen):
				ev = []string{
					fmt.Sprintf("%s used from %s %q: %d of %d calls, last %s", k.AccessKeyID, kind.name, s.Value, s.Count, total, stamp(s.LastSeen)),
					fmt.Sprintf("usual %s %q: %d calls (recorded before first sightings were kept: judged by its share)", kind.name, top.Value, top.Count),
				}
			default:
				continue
			}
			out = append(out, iam.Finding{Rule: RuleUnusualKeySource, Severity: iam.SeverityMedium, Principal: principal,
				Title: "access key used from a new " + kind.name, Evidence: ev,
				Fix: "confirm the calls with the key's owner; if they are not theirs, deactivate the key and rotate it"})
		}
	}
	return out
}

// others lists the values of seen other than v, with their first
// sightings where known.
func others(seen []store.Seen, v string) string {
	var list []string
	for _, s := range seen {
		if s.Value == v {
			continue
		}
		if s.FirstSeen.IsZero() {
			list = append(list, fmt.Sprintf("%q", s.Value))
		} else {
			list = append(list, fmt.Sprintf("%q (since %s)", s.Value, stamp(s.FirstSeen)))
		}
	}
	if len(list) == 0 {
		return "no other value kept"
	}
	return strings.Join(list, ", ")
}

// seenIn lists the values of seen used in the window, with their counts.
func seenIn(seen []store.Seen, r *report.Report) string {
	var list []string
	for _, s := range seen {
		if r.Window.Contains(s.LastSeen) {
			list = append(list, fmt.Sprintf("%s (%d)", s.Value, s.Count))
		}
	}
	return strings.Join(list, ", ")
}

// latestIP is the most recent value of seen (lists are most recent
// first), or "an unrecorded address".
func latestIP(seen []store.Seen) string {
	if len(seen) == 0 {
		return "an unrecorded address"
	}
	return seen[0].Value
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }
