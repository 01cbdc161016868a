package ui

import (
	"html/template"
	"net/http"
	"sort"
	"time"

	"github.com/iamd/iamd/analyzer/iam"
	"github.com/iamd/iamd/analyzer/unused"
	"github.com/iamd/iamd/analyzer/usage"
	"github.com/iamd/iamd/cmd/iamd/internal/listing"
	"github.com/iamd/iamd/rotator"
	"github.com/iamd/iamd/store"
)

type unusedPage struct {
	page
	Window   usage.Window
	Total    int
	Counts   []typeCount
	Groups   []unusedGroup
	Excluded []string
}

type unusedGroup struct {
	Key, Label string
	Rows       []unusedRow
}

type unusedRow struct {
	unused.Finding
	Link template.URL
	Name principalName
	// Actions counts the unused actions of an unused-permissions finding.
	Actions int
}

func (u *UI) unused(w http.ResponseWriter, r *http.Request) error {
	res, err := u.o.Data.Unused(r.Context())
	if err != nil {
		return err
	}
	p := &unusedPage{page: u.newPage(r, "Unused access", "unused"), Window: res.Window, Excluded: res.Excluded}
	p.FilterOn = true
	var arns []string
	groups := map[string]*unusedGroup{}
	for _, f := range res.Findings {
		arns = append(arns, f.Principal)
		if !p.Filter.Match(f.Principal) {
			continue
		}
		g := groups[f.Type]
		if g == nil {
			g = &unusedGroup{Key: f.Type, Label: unusedLabel(f.Type)}
			groups[f.Type] = g
		}
		row := unusedRow{Finding: f, Link: p.Filter.principalLink(f.Principal), Name: parseARN(f.Principal)}
		for _, s := range f.Services {
			row.Actions += len(s.Actions)
		}
		g.Rows = append(g.Rows, row)
	}
	p.Accounts = accountsOf(arns)
	p.Counts, p.Total = unusedCounts(res, p.Filter)
	for _, t := range unusedTypes {
		if g := groups[t.key]; g != nil {
			p.Groups = append(p.Groups, *g)
			delete(groups, t.key)
		}
	}
	var rest []string
	for k := range groups {
		rest = append(rest, k)
	}
	sort.Strings(rest)
	for _, k := range rest {
		p.Groups = append(p.Groups, *groups[k])
	}
	u.render(w, r, http.StatusOK, "unused", p)
	return nil
}

type auditPage struct {
	page
	Severity string // "" all
	AllLink  template.URL
	Total    int
	Counts   []typeCount
	Audits   []auditAccountView
}

type auditAccountView struct {
	listing.Audit
	Rows []auditRow
}

type auditRow struct {
	iam.Finding
	Link template.URL
	Name principalName
}

func (u *UI) audit(w http.ResponseWriter, r *http.Request) error {
	accts, err := u.o.Data.Audit(r.Context())
	if err != nil {
		return err
	}
	p := &auditPage{page: u.newPage(r, "Audit findings", "audit")}
	p.FilterOn = true
	p.Severity = r.URL.Query().Get("severity")
	p.AllLink = p.Filter.link("/audit")
	if p.Severity != "" {
		p.Keep = []field{{"severity", p.Severity}}
	}
	var arns []string
	for _, a := range accts {
		v := auditAccountView{Audit: a}
		for _, f := range a.Findings {
			arns = append(arns, f.Principal)
			if !p.Filter.Match(f.Principal) || p.Severity != "" && string(f.Severity) != p.Severity {
				continue
			}
			v.Rows = append(v.Rows, auditRow{Finding: f, Link: p.Filter.principalLink(f.Principal), Name: parseARN(f.Principal)})
		}
		p.Audits = append(p.Audits, v)
	}
	p.Accounts = accountsOf(arns)
	p.Counts, p.Total = severityCounts(accts, p.Filter)
	u.render(w, r, http.StatusOK, "audit", p)
	return nil
}

type rotationPage struct {
	page
	Users []rotationRow
	Keys  []keyRow
	// UnknownKeys counts the keys whose status and age nothing lists (the
	// model has none of them, no rotation touched them).
	UnknownKeys int
}

type rotationRow struct {
	rotator.UserReport
	Link template.URL
	// Phase with the unconfirmed step, if any.
	PhaseText string
	// StillUsing are the source IPs and user agents seen with the old key
	// while it drains, most recent first: those to chase before it goes.
	StillUsing []store.Seen
}

type keyRow struct {
	AccessKey
	Link    template.URL
	Name    principalName
	AgeDays int // -1: creation unknown
	// Rotation is the key's part in a rotation ("old key, draining").
	Rotation string
}

func (u *UI) rotation(w http.ResponseWriter, r *http.Request) error {
	rot, err := u.o.Data.Rotation(r.Context())
	if err != nil {
		return err
	}
	p := &rotationPage{page: u.newPage(r, "Key rotation", "rotation")}
	p.FilterOn = true
	var arns []string
	for _, us := range rot.Users {
		arns = append(arns, us.UserARN)
		if !p.Filter.Match(us.UserARN) {
			continue
		}
		row := rotationRow{UserReport: us, Link: p.Filter.principalLink(us.UserARN), PhaseText: string(us.Phase)}
		if us.Step != "" {
			row.PhaseText += " (" + string(us.Step) + " unconfirmed)"
		}
		if us.Phase == rotator.PhaseDraining {
			row.StillUsing = stillUsing(us)
		}
		p.Users = append(p.Users, row)
	}
	sort.SliceStable(p.Users, func(i, j int) bool { return p.Users[i].User < p.Users[j].User })
	for _, k := range rotationKeys(rot) {
		arns = append(arns, k.User)
		if !p.Filter.Match(k.User) {
			continue
		}
		row := keyRow{AccessKey: k.AccessKey, Link: p.Filter.principalLink(k.User), Name: parseARN(k.User), AgeDays: -1, Rotation: k.part}
		if !k.Created.IsZero() {
			row.AgeDays = int(p.Now.Sub(k.Created) / (24 * time.Hour))
		}
		if k.Status == "" {
			p.UnknownKeys++
		}
		p.Keys = append(p.Keys, row)
	}
	p.Accounts = accountsOf(arns)
	u.render(w, r, http.StatusOK, "rotation", p)
	return nil
}

// stillUsing is who signed with a draining rotation's old key: the drain
// decision's sources when the report carries one (those inside the drain
// window), else every source the usage index keeps for the key.
func stillUsing(us rotator.UserReport) []store.Seen {
	var out []store.Seen
	switch {
	case us.Drain != nil:
		out = append(append(out, us.Drain.SourceIPs...), us.Drain.UserAgents...)
	case us.OldKey != nil:
		out = append(append(out, us.OldKey.SourceIPs...), us.OldKey.UserAgents...)
	}
	return out
}

// rotationKey is a key with its part in a rotation.
type rotationKey struct {
	AccessKey
	part string
}

// rotationKeys are the users' keys with what the rotations know of them:
// a rotation's keys are listed even when neither the model nor CloudTrail
// shows them (a new key not used yet), and their status and creation fill
// what the model leaves out.
func rotationKeys(rot *Rotation) []rotationKey {
	out := make([]rotationKey, 0, len(rot.Keys))
	idx := map[string]int{}
	for _, k := range rot.Keys {
		idx[k.ID] = len(out)
		out = append(out, rotationKey{AccessKey: k})
	}
	for _, us := range rot.Users {
		for _, rk := range []struct {
			k    *rotator.KeyReport
			part string
		}{{us.OldKey, "old key"}, {us.NewKey, "new key"}} {
			if rk.k == nil || rk.k.ID == "" {
				continue
			}
			i, ok := idx[rk.k.ID]
			if !ok {
				i = len(out)
				idx[rk.k.ID] = i
				out = append(out, rotationKey{AccessKey: AccessKey{User: us.UserARN, ID: rk.k.ID, LastSeen: rk.k.LastUsed,
					SourceIPs: rk.k.SourceIPs, UserAgents: rk.k.UserAgents}})
			}
			k := &out[i]
			k.part = rk.part + ", " + string(us.Phase)
			if k.Status == "" {
				k.Status = rk.k.Status
			}
			if k.Created.IsZero() {
				k.Created = rk.k.Created
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].User != out[j].User {
			return out[i].User < out[j].User
		}
		return out[i].ID < out[j].ID
	})
	return out
}
