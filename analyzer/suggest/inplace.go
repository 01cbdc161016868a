package suggest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/iamd/iamd/analyzer/iam"
	"github.com/iamd/iamd/analyzer/policy"
)

// inPlace rewrites the principal's own policies (inline and attached)
// without the unused actions, keeping every statement's structure, Sid,
// resources and conditions, every Deny, and every statement whose Sid
// starts with NOREPO byte for byte. Policies shared through a group stay
// as they are: the actions only they grant are kept and say so. It
// returns the change, the removals and those group-kept actions.
func (s *Suggester) inPlace(sub *subject, kept []Kept) (*InPlace, []Removal, []Kept, error) {
	remove := map[int]bool{}
	unused := map[int]int{} // id → index in pr.Unused
	for i, u := range sub.pr.Unused {
		id, ok := s.cat.ID(u.Action)
		if !ok || isKept(kept, u.Action) {
			continue
		}
		remove[id] = true
		unused[id] = i
	}
	ip := &InPlace{Policies: []PolicyChange{}}
	var identity []*policy.Policy
	norepo := map[int]bool{}
	rewriteOne := func(name, arn, version string, raw []byte, managed bool, orig *policy.Policy) error {
		out, removed, nr, err := s.rewrite(raw, remove, sub.gs)
		if err != nil {
			return fmt.Errorf("policy %s: %w", name, err)
		}
		for id := range nr {
			norepo[id] = true
		}
		if len(removed) == 0 {
			identity = append(identity, orig)
			return nil
		}
		pc := PolicyChange{Name: name, ARN: arn, Original: raw, Suggested: out, Removed: s.names(removed), DefaultVersion: version}
		switch {
		case !managed && out == nil:
			pc.Change = ChangeInlineDeleted
		case !managed:
			pc.Change = ChangeInline
		case out == nil:
			pc.Change = ChangeDetach
		case strings.HasPrefix(arn, "arn:aws:iam::aws:policy/") || attachments(sub.m.Account, arn) > 1:
			pc.Change = ChangeManagedCopy
		default:
			pc.Change = ChangeManaged
		}
		ip.Policies = append(ip.Policies, pc)
		if out != nil {
			q, err := policy.CompileJSON(orig.Name(), out)
			if err != nil {
				return fmt.Errorf("policy %s: the rewritten document does not compile: %w", name, err)
			}
			identity = append(identity, q)
		}
		return nil
	}
	p := sub.p
	for _, in := range p.Inline {
		if in.Policy == nil {
			continue // unknown: left as it is
		}
		if err := rewriteOne(in.Name, "", "", in.Raw, false, in.Policy); err != nil {
			return nil, nil, nil, err
		}
	}
	for _, at := range p.Attached {
		if !at.Known() {
			continue
		}
		if err := rewriteOne(at.Name, at.ARN, at.Policy.DefaultVersionID, at.Policy.Raw, true, at.Policy.Policy); err != nil {
			return nil, nil, nil, err
		}
	}
	var groupPols []*policy.Policy
	for _, gn := range p.Groups {
		if g, ok := sub.m.Account.Group(gn); ok {
			for _, in := range g.Inline {
				if in.Policy != nil {
					groupPols = append(groupPols, in.Policy)
				}
			}
			for _, at := range g.Attached {
				if at.Known() {
					groupPols = append(groupPols, at.Policy.Policy)
				}
			}
		}
	}
	identity = append(identity, groupPols...)
	sub.inPlaceIdentity = identity
	after := sub.m.GrantedWith(p, identity)
	var removals []Removal
	var groupKept []Kept
	ids := make([]int, 0, len(remove))
	for id := range remove {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	for _, id := range ids {
		u := sub.pr.Unused[unused[id]]
		if after.HasID(id) {
			switch {
			case grantedBy(groupPols, u.Action):
				groupKept = append(groupKept, Kept{Action: u.Action, Reason: KeptGroup, Detail: "granted through a group, whose policies other members share"})
				continue
			case norepo[id]:
				groupKept = append(groupKept, Kept{Action: u.Action, Reason: KeptNoRepo, Detail: "granted by a statement whose Sid starts with " + NoRepoPrefix})
				continue
			}
			// Still granted for no stated reason: the self-check reports it.
		}
		first, _ := s.firstGranted(sub, u.Action)
		removals = append(removals, Removal{Action: u.Action, Level: u.Level, Resources: u.Resources, GrantedBy: u.GrantedBy, FirstGranted: first})
	}
	if removals == nil {
		removals = []Removal{}
	}
	return ip, removals, groupKept, nil
}

// grantedBy reports whether an Allow statement of pols covers action.
func grantedBy(pols []*policy.Policy, action string) bool {
	for _, q := range pols {
		for _, st := range q.Statements() {
			if st.Effect() == policy.EffectAllow && st.MatchesAction(action) {
				return true
			}
		}
	}
	return false
}

// attachments counts the users, roles and groups a managed policy is
// attached to.
func attachments(acct *iam.Account, arn string) int {
	n := 0
	for _, p := range acct.Principals {
		for _, at := range p.Attached {
			if at.ARN == arn {
				n++
			}
		}
	}
	return n
}

func (s *Suggester) names(ids map[int]bool) []string {
	out := make([]string, 0, len(ids))
	for id := range ids {
		out = append(out, s.cat.ActionAt(id).FullName())
	}
	sort.Strings(out)
	return out
}

// member is one member of a JSON object, its value as written.
type member struct {
	key   string
	value json.RawMessage
	start int // byte offset of the value in the object's text
}

// members splits a JSON object into its members, in order.
func members(raw []byte) ([]member, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, errors.New("not a JSON object")
	}
	var out []member
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, _ := t.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		end := int(dec.InputOffset())
		out = append(out, member{key: key, value: v, start: end - len(v)})
	}
	return out, nil
}

// object writes members back as a compact JSON object (values as
// written).
func object(ms []member) []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range ms {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(m.key)
		b.Write(k)
		b.WriteByte(':')
		b.Write(m.value)
	}
	b.WriteByte('}')
	return b.Bytes()
}

// rewrite returns the document without the actions of remove, the
// actions it took out, and the actions covered by NOREPO statements.
// Statements it does not change keep their bytes; a document it leaves
// without statements comes back nil. Nothing changed: removed is empty.
func (s *Suggester) rewrite(raw []byte, remove map[int]bool, granted *iam.GrantedSet) (out []byte, removed, norepo map[int]bool, err error) {
	removed, norepo = map[int]bool{}, map[int]bool{}
	ms, err := members(raw)
	if err != nil {
		return nil, nil, nil, err
	}
	si := -1
	for i, m := range ms {
		if strings.EqualFold(m.key, "Statement") {
			si = i
		}
	}
	if si < 0 {
		return raw, removed, norepo, nil
	}
	var elems []json.RawMessage
	single := bytes.HasPrefix(bytes.TrimSpace(ms[si].value), []byte("{"))
	if single {
		elems = []json.RawMessage{ms[si].value}
	} else if err := json.Unmarshal(ms[si].value, &elems); err != nil {
		return nil, nil, nil, fmt.Errorf("Statement: %w", err)
	}
	var keptElems []json.RawMessage
	changed := false
	for i, el := range elems {
		sd, err := parseStatement(el)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("Statement[%d]: %w", i, err)
		}
		if sd.Effect != policy.EffectAllow || strings.HasPrefix(sd.Sid, NoRepoPrefix) {
			if sd.Effect == policy.EffectAllow {
				for id := range s.statementActions(sd) {
					norepo[id] = true
				}
			}
			keptElems = append(keptElems, el)
			continue
		}
		nel, gone, err := s.rewriteStatement(el, sd, remove, granted)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("Statement[%d]: %w", i, err)
		}
		if len(gone) == 0 {
			keptElems = append(keptElems, el)
			continue
		}
		changed = true
		for id := range gone {
			removed[id] = true
		}
		if nel != nil {
			keptElems = append(keptElems, nel)
		}
	}
	if !changed {
		return raw, removed, norepo, nil
	}
	if len(keptElems) == 0 {
		return nil, removed, norepo, nil
	}
	var arr []byte
	if single && len(keptElems) == 1 {
		arr = keptElems[0]
	} else {
		arr = []byte("[")
		for i, el := range keptElems {
			if i > 0 {
				arr = append(arr, ',')
			}
			arr = append(arr, el...)
		}
		arr = append(arr, ']')
	}
	// Splice the new Statement value into the document as written.
	m := ms[si]
	out = append(append(append([]byte(nil), raw[:m.start]...), arr...), raw[m.start+len(m.value):]...)
	return out, removed, norepo, nil
}

// parseStatement parses one statement object on its own.
func parseStatement(el json.RawMessage) (*policy.StatementDoc, error) {
	doc, err := policy.Parse(append(append([]byte(`{"Version":"2012-10-17","Statement":[`), el...), ']', '}'))
	if err != nil {
		return nil, err
	}
	return &doc.Statements[0], nil
}

// statementActions expands a statement's Action or NotAction element.
func (s *Suggester) statementActions(sd *policy.StatementDoc) map[int]bool {
	if sd.NotAction == nil {
		return expand(s.cat, sd.Action)
	}
	not := expand(s.cat, sd.NotAction)
	out := map[int]bool{}
	for id := range s.cat.Len() {
		if !not[id] {
			out[id] = true
		}
	}
	return out
}

// rewriteStatement takes remove out of one Allow statement: patterns
// wholly removed go, patterns partly removed become the list of what
// they keep, a NotAction becomes the explicit list of what it keeps. A
// list written out keeps only actions the principal is granted today:
// the others (cut off by a boundary, an SCP or a Deny) granted nothing
// and would only make the list longer than IAM allows. It returns nil
// when no action is left.
func (s *Suggester) rewriteStatement(el json.RawMessage, sd *policy.StatementDoc, remove map[int]bool, granted *iam.GrantedSet) (json.RawMessage, map[int]bool, error) {
	gone := map[int]bool{}
	for id := range s.statementActions(sd) {
		if remove[id] {
			gone[id] = true
		}
	}
	if len(gone) == 0 {
		return el, gone, nil
	}
	var acts []string
	seen := map[string]bool{}
	add := func(list ...string) {
		for _, a := range list {
			if !seen[strings.ToLower(a)] {
				seen[strings.ToLower(a)] = true
				acts = append(acts, a)
			}
		}
	}
	keepOf := func(ids map[int]bool) ([]string, error) {
		var names []string
		for id := range ids {
			if !remove[id] && granted.HasID(id) {
				names = append(names, s.cat.ActionAt(id).FullName())
			}
		}
		if len(names) == 0 {
			return nil, nil
		}
		return shortActions(s.cat, names)
	}
	if sd.NotAction != nil {
		keep, err := keepOf(s.statementActions(sd))
		if err != nil {
			return nil, nil, err
		}
		add(keep...)
	} else {
		for _, pat := range sd.Action {
			ids := expand(s.cat, []string{pat})
			hit := false
			for id := range ids {
				if remove[id] {
					hit = true
					break
				}
			}
			if !hit {
				add(pat) // untouched, as written
				continue
			}
			keep, err := keepOf(ids)
			if err != nil {
				return nil, nil, err
			}
			add(keep...)
		}
	}
	if len(acts) == 0 {
		return nil, gone, nil
	}
	ms, err := members(el)
	if err != nil {
		return nil, nil, err
	}
	var value []byte
	if len(acts) == 1 {
		value, _ = json.Marshal(acts[0])
	} else {
		value, _ = json.Marshal(acts)
	}
	out := ms[:0:0]
	for _, m := range ms {
		switch {
		case strings.EqualFold(m.key, "NotAction"):
			out = append(out, member{key: "Action", value: value})
		case strings.EqualFold(m.key, "Action"):
			out = append(out, member{key: m.key, value: value})
		default:
			out = append(out, m)
		}
	}
	return object(out), gone, nil
}
