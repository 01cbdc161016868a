package main

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/iamd/iamd/store"
	"github.com/iamd/iamd/store/internal/golden"
)

// model is what the fixture means, worked out independently of the
// store's code: the aggregates every released schema version keeps, from
// which the golden answers come and the schema 1 writer writes.
type model struct {
	counted  []store.Event // first delivery of each event, in write order
	facts    map[string]*store.Fact
	days     map[string]*dayCount // by principal \x00 action \x00 day
	keys     map[string]*store.KeyUsage
	sessions map[string]*store.PrincipalSessions
	cross    map[string]*store.CrossAccount
	actions  map[string]*store.ActionUsage // by principal \x00 action
	signIns  map[string]*store.ConsoleSignIns
	qs       []store.Quarantined // by sequence number
	cps      map[string]store.Checkpoint
	f        fixture
}

type dayCount struct {
	principal, action string
	day               time.Time
	allowed, denied   uint64
}

func newModel(f fixture) *model {
	m := &model{
		facts: map[string]*store.Fact{}, days: map[string]*dayCount{}, keys: map[string]*store.KeyUsage{},
		sessions: map[string]*store.PrincipalSessions{}, cross: map[string]*store.CrossAccount{},
		actions: map[string]*store.ActionUsage{}, signIns: map[string]*store.ConsoleSignIns{},
		cps: map[string]store.Checkpoint{}, f: f,
	}
	seen := map[string]bool{}
	for _, b := range f.batches {
		for _, e := range b.Events {
			// The fixture redelivers only exact copies, so the first
			// delivery of an ID is the one counted.
			if seen[e.ID] {
				continue
			}
			seen[e.ID] = true
			m.count(e)
		}
		for _, q := range b.Quarantined {
			i := slices.IndexFunc(m.qs, func(o store.Quarantined) bool { return o.Where == q.Where })
			if i < 0 {
				m.qs = append(m.qs, q)
			} else {
				m.qs[i] = q
			}
		}
		for _, c := range b.Checkpoints {
			m.cps[c.Source] = c
		}
	}
	return m
}

func (m *model) count(e store.Event) {
	m.counted = append(m.counted, e)
	t := e.Time.UTC()
	var uses, actions []string
	for _, u := range e.Uses {
		k := u.Action + "\x00" + u.Resource
		if slices.Contains(uses, k) {
			continue
		}
		uses = append(uses, k)
		fk := e.Principal + "\x00" + k
		f := m.facts[fk]
		if f == nil {
			f = &store.Fact{Principal: e.Principal, Action: u.Action, Resource: u.Resource, FirstSeen: t, LastSeen: t}
			m.facts[fk] = f
		}
		f.FirstSeen, f.LastSeen = minTime(f.FirstSeen, t), maxTime(f.LastSeen, t)
		if e.Outcome == store.OutcomeDenied {
			f.Denied++
		} else {
			f.Allowed++
		}
		if slices.Contains(actions, u.Action) {
			continue
		}
		actions = append(actions, u.Action)
		ak := e.Principal + "\x00" + u.Action
		a := m.actions[ak]
		if a == nil {
			a = &store.ActionUsage{Principal: e.Principal, Action: u.Action, FirstSeen: t, LastSeen: t}
			m.actions[ak] = a
		}
		a.FirstSeen, a.LastSeen = minTime(a.FirstSeen, t), maxTime(a.LastSeen, t)
		if e.Outcome == store.OutcomeDenied {
			a.Denied++
			a.LastDenied = maxTime(a.LastDenied, t)
		} else {
			a.Allowed++
		}
		day := t.Truncate(24 * time.Hour)
		dk := e.Principal + "\x00" + u.Action + "\x00" + day.Format(time.DateOnly)
		d := m.days[dk]
		if d == nil {
			d = &dayCount{principal: e.Principal, action: u.Action, day: day}
			m.days[dk] = d
		}
		if e.Outcome == store.OutcomeDenied {
			d.denied++
		} else {
			d.allowed++
		}
	}
	if e.SignIn != store.SignInNone {
		m.signIn(e, t)
	}
	if e.AccessKeyID != "" {
		k := m.keys[e.AccessKeyID]
		if k == nil {
			k = &store.KeyUsage{AccessKeyID: e.AccessKeyID, FirstSeen: t, LastSeen: t, SourceIPs: []store.Seen{}, UserAgents: []store.Seen{}}
			m.keys[e.AccessKeyID] = k
		}
		k.Principal = e.Principal // one owner per key in the fixture
		k.FirstSeen, k.LastSeen = minTime(k.FirstSeen, t), maxTime(k.LastSeen, t)
		k.Calls++
		k.SourceIPs = addSeen(k.SourceIPs, e.SourceIP, t, store.MaxKeySeen)
		k.UserAgents = addSeen(k.UserAgents, e.UserAgent, t, store.MaxKeySeen)
	}
	if e.SessionName != "" || e.SourceIdentity != "" {
		s := m.sessions[e.Principal]
		if s == nil {
			s = &store.PrincipalSessions{Principal: e.Principal, SessionNames: []store.Seen{}, SourceIdentities: []store.Seen{}}
			m.sessions[e.Principal] = s
		}
		s.SessionNames = addSeen(s.SessionNames, e.SessionName, t, store.MaxSessionSeen)
		s.SourceIdentities = addSeen(s.SourceIdentities, e.SourceIdentity, t, store.MaxSessionSeen)
	}
	if e.RecipientAccountID != e.AccountID {
		c := m.cross[e.Principal]
		if c == nil {
			c = &store.CrossAccount{Principal: e.Principal, Recipients: []store.AccountSeen{}}
			m.cross[e.Principal] = c
		}
		c.AccountID = e.AccountID
		i := slices.IndexFunc(c.Recipients, func(r store.AccountSeen) bool { return r.AccountID == e.RecipientAccountID })
		if i < 0 {
			c.Recipients = append(c.Recipients, store.AccountSeen{AccountID: e.RecipientAccountID, FirstSeen: t, LastSeen: t})
			i = len(c.Recipients) - 1
		}
		r := &c.Recipients[i]
		r.FirstSeen, r.LastSeen = minTime(r.FirstSeen, t), maxTime(r.LastSeen, t)
		r.Calls++
		sort.SliceStable(c.Recipients, func(i, j int) bool {
			a, b := c.Recipients[i], c.Recipients[j]
			if !a.LastSeen.Equal(b.LastSeen) {
				return a.LastSeen.After(b.LastSeen)
			}
			if a.Calls != b.Calls {
				return a.Calls > b.Calls
			}
			return a.AccountID < b.AccountID
		})
	}
}

// signIn counts a console sign-in: a failure, a password sign-in (IAM
// user, root user) with or without MFA, or a federated one.
func (m *model) signIn(e store.Event, t time.Time) {
	s := m.signIns[e.Principal]
	if s == nil {
		s = &store.ConsoleSignIns{Principal: e.Principal, SourceIPs: []store.Seen{}}
		m.signIns[e.Principal] = s
	}
	switch {
	case e.SignIn == store.SignInFailure:
		s.Failures++
		s.LastFailure = maxTime(s.LastFailure, t)
		return
	case e.PrincipalType == "IAMUser" || e.PrincipalType == "Root":
		if e.MFAUsed {
			s.WithMFA++
		} else {
			s.WithoutMFA++
			s.LastWithoutMFA = maxTime(s.LastWithoutMFA, t)
		}
		if s.FirstSeen.IsZero() {
			s.FirstSeen = t
		}
		s.FirstSeen, s.LastSeen = minTime(s.FirstSeen, t), maxTime(s.LastSeen, t)
	default:
		s.Federated++
		s.LastFederated = maxTime(s.LastFederated, t)
	}
	s.SourceIPs = addSeen(s.SourceIPs, e.SourceIP, t, store.MaxSignInSeen)
}

// addSeen counts v at t: most recent first, ties by count then value.
// The fixture stays under limit, so nothing is evicted.
func addSeen(list []store.Seen, v string, t time.Time, limit int) []store.Seen {
	if v == "" {
		return list
	}
	i := slices.IndexFunc(list, func(s store.Seen) bool { return s.Value == v })
	if i < 0 {
		list = append(list, store.Seen{Value: v, FirstSeen: t, LastSeen: t})
		i = len(list) - 1
	}
	list[i].Count++
	list[i].FirstSeen = minTime(list[i].FirstSeen, t)
	list[i].LastSeen = maxTime(list[i].LastSeen, t)
	sort.SliceStable(list, func(i, j int) bool {
		a, b := list[i], list[j]
		if !a.LastSeen.Equal(b.LastSeen) {
			return a.LastSeen.After(b.LastSeen)
		}
		if a.Count != b.Count {
			return a.Count > b.Count
		}
		return a.Value < b.Value
	})
	if len(list) > limit {
		panic("fixture exceeds a seen-list cap")
	}
	return list
}

// probe is what the golden answers ask beyond the listings.
func (m *model) probe() golden.Probe {
	p := golden.Probe{Now: genClock.Add(time.Hour), Accounts: []string{account, other}, StateKinds: []string{"rotation"}}
	for id := range m.keys {
		p.KeyIDs = append(p.KeyIDs, id)
	}
	p.KeyIDs = append(p.KeyIDs, "AKIANEVERSEEN0000000")
	slices.Sort(p.KeyIDs)
	for _, e := range m.counted {
		p.Seen = append(p.Seen, golden.Event{ID: e.ID, Time: e.Time})
		if e.Raw != nil {
			p.Raw = append(p.Raw, e.ID)
		}
	}
	first := m.counted[0]
	p.Seen = append(p.Seen,
		golden.Event{ID: "never-delivered", Time: first.Time},
		// The same ID a day later: schema 1 dedup was by ID alone, and
		// its entries keep that promise after the migration for events
		// up to the latest it counted; the hour segments of schema 2
		// count it again.
		golden.Event{ID: first.ID, Time: first.Time.Add(24 * time.Hour)},
		// After the latest event schema 1 counted (and the two hours'
		// tolerance), no event can be one of its redeliveries.
		golden.Event{ID: first.ID, Time: m.latest().Add(3 * time.Hour)})
	p.Raw = append(p.Raw, m.counted[1].ID)
	return p
}

// want is what a store of version holding the fixture answers to p.
func (m *model) want(version int, p golden.Probe) golden.Dump {
	var d golden.Dump
	principals := map[string]bool{}
	for _, e := range m.counted {
		principals[e.Principal] = true
	}
	for pr := range principals {
		d.Principals = append(d.Principals, pr)
	}
	slices.Sort(d.Principals)
	for _, k := range sortedKeys(m.facts) {
		d.Facts = append(d.Facts, *m.facts[k])
	}
	for _, f := range d.Facts {
		if n := len(d.DayCounts); n > 0 && d.DayCounts[n-1].Principal == f.Principal && d.DayCounts[n-1].Action == f.Action {
			continue
		}
		if version >= 3 {
			d.Actions = append(d.Actions, m.action(f.Principal, f.Action))
		}
		dc := golden.DayCounts{Principal: f.Principal, Action: f.Action}
		for _, k := range sortedKeys(m.days) {
			if x := m.days[k]; x.principal == f.Principal && x.action == f.Action {
				dc.Days = append(dc.Days, store.DayCount{Day: x.day, Allowed: x.allowed, Denied: x.denied})
			}
		}
		d.DayCounts = append(d.DayCounts, dc)
	}
	for _, pr := range d.Principals {
		if s := m.signIns[pr]; s != nil && version >= 3 {
			d.SignIns = append(d.SignIns, *s)
		}
		var ko golden.KeysOf
		for _, id := range sortedKeys(m.keys) {
			if m.keys[id].Principal == pr {
				ko.Principal = pr
				ko.Keys = append(ko.Keys, *m.keys[id])
			}
		}
		if ko.Principal != "" {
			d.KeysOf = append(d.KeysOf, ko)
		}
		if s := m.sessions[pr]; s != nil {
			d.Sessions = append(d.Sessions, *s)
		}
		// Schema 1 did not record cross-account calls.
		if c := m.cross[pr]; c != nil && version >= 2 {
			d.CrossAccount = append(d.CrossAccount, *c)
		}
	}
	for _, id := range p.KeyIDs {
		k := m.keys[id]
		d.KeyUsage = append(d.KeyUsage, golden.KeyUsage{ID: id, Found: k != nil, Usage: k})
	}
	for _, src := range sortedKeys(m.cps) {
		d.Checkpoints = append(d.Checkpoints, m.cps[src])
	}
	d.QuarantineCounts = map[string]uint64{}
	for i := len(m.qs) - 1; i >= 0; i-- {
		d.Quarantine = append(d.Quarantine, m.qs[i])
		d.QuarantineCounts[m.qs[i].Reason]++
	}
	for _, acct := range p.Accounts {
		for _, s := range m.f.snapshots {
			if s.AccountID == acct {
				sum := sha256.Sum256(s.Data)
				d.Snapshots = append(d.Snapshots, golden.Snapshot{AccountID: acct, Taken: s.Taken, SHA256: hex.EncodeToString(sum[:])})
			}
		}
	}
	for _, kind := range p.StateKinds {
		for _, s := range m.f.states {
			if s.Kind == kind {
				d.States = append(d.States, s)
			}
		}
	}
	for _, q := range p.Seen {
		d.Seen = append(d.Seen, golden.Seen{Event: q, Seen: m.seen(version, q)})
	}
	if version < 3 {
		forgetFirstSeen(&d)
	}
	for _, id := range p.Raw {
		r := golden.Raw{ID: id}
		for _, e := range m.counted {
			if e.ID == id && e.Raw != nil {
				r.Found, r.Raw = true, e.Raw
			}
		}
		d.Raw = append(d.Raw, r)
	}
	return d
}

// forgetFirstSeen zeroes the first sightings of d's lists, which
// versions before 3 did not keep (a store of theirs, migrated, answers
// them as unknown).
func forgetFirstSeen(d *golden.Dump) {
	forget := func(list []store.Seen) []store.Seen {
		list = slices.Clone(list)
		for i := range list {
			list[i].FirstSeen = time.Time{}
		}
		return list
	}
	key := func(k *store.KeyUsage) {
		k.SourceIPs, k.UserAgents = forget(k.SourceIPs), forget(k.UserAgents)
	}
	for i := range d.KeysOf {
		d.KeysOf[i].Keys = slices.Clone(d.KeysOf[i].Keys)
		for j := range d.KeysOf[i].Keys {
			key(&d.KeysOf[i].Keys[j])
		}
	}
	for i := range d.KeyUsage {
		if u := d.KeyUsage[i].Usage; u != nil {
			c := *u
			key(&c)
			d.KeyUsage[i].Usage = &c
		}
	}
	for i := range d.Sessions {
		d.Sessions[i].SessionNames = forget(d.Sessions[i].SessionNames)
		d.Sessions[i].SourceIdentities = forget(d.Sessions[i].SourceIdentities)
	}
}

// action is the totals of principal × action: the calls counted in
// count, and the resources from the facts.
func (m *model) action(principal, action string) store.ActionUsage {
	a := *m.actions[principal+"\x00"+action]
	for _, k := range sortedKeys(m.facts) {
		f := m.facts[k]
		if f.Principal != principal || f.Action != action {
			continue
		}
		a.Resources++
		if f.Allowed > 0 {
			a.AllowedResources++
			a.TopAllowed = append(a.TopAllowed, store.ResourceCount{Resource: f.Resource, Calls: f.Allowed, LastSeen: f.LastSeen})
		}
		if f.Denied > 0 {
			a.TopDenied = append(a.TopDenied, store.ResourceCount{Resource: f.Resource, Calls: f.Denied, LastSeen: f.LastSeen})
		}
	}
	a.TopAllowed, a.TopDenied = golden.Top(a.TopAllowed), golden.Top(a.TopDenied)
	return a
}

// seen is Seen's answer: a counted ID within an hour either side of its
// time (schema 2's hour segments), or at any time (schema 1's entries
// by ID, kept as legacy entries).
func (m *model) seen(version int, q golden.Event) bool {
	for _, e := range m.counted {
		if e.ID != q.ID {
			continue
		}
		if version == 1 {
			return q.Time.Unix() < m.latest().Unix()+2*3600
		}
		h := func(t time.Time) int64 { return t.Unix() / 3600 }
		if d := h(q.Time) - h(e.Time); d >= -1 && d <= 1 {
			return true
		}
	}
	return false
}

// latest is the time of the latest event counted.
func (m *model) latest() time.Time {
	var t time.Time
	for _, e := range m.counted {
		t = maxTime(t, e.Time)
	}
	return t
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.SortFunc(ks, strings.Compare)
	return ks
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
