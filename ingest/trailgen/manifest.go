package trailgen

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
)

// Manifest is the ground truth of one generation: what a correct ingest of
// the generated records must produce.
type Manifest struct {
	Seed     int64     `json:"seed"`
	Accounts []string  `json:"accounts"`
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"` // Start + span; every eventTime is before it

	Records          int `json:"records"`          // all records
	PrincipalRecords int `json:"principalRecords"` // calls by a principal (Usage + Permissionless)
	ServiceRecords   int `json:"serviceRecords"`   // calls by AWS services (ServiceEvents)
	Denied           int `json:"denied"`           // principal calls refused for lack of permission
	Errors           int `json:"errors"`           // principal calls that failed for other reasons (still authorized)
	DataEvents       int `json:"dataEvents"`

	// Usage counts principal × action × resource. The principal is the
	// ARN charged: the user, the role for role sessions, the issuing user
	// for federated users, the account root for root. Resource is an ARN,
	// or "*" when the action takes no resource.
	Usage []UsageCount `json:"usage"`
	// Permissionless counts calls that need no IAM permission
	// (sts:GetCallerIdentity) per principal.
	Permissionless []EventCount `json:"permissionless"`
	// ServiceEvents counts calls by AWS services per invoking service.
	ServiceEvents []EventCount `json:"serviceEvents"`
	// Keys counts calls per access key id (principal calls only; service
	// calls carry no key).
	Keys []KeyCount `json:"keys"`
	// Access is, per IAM user and role of the generated accounts, what
	// the IAM snapshot grants and what the trail shows of it: the ground
	// truth of a used-vs-granted report over the whole trail.
	Access []Access `json:"access"`
	// Files lists the log files written (empty for stream output).
	Files []FileInfo `json:"files,omitempty"`
}

// Access is one principal's granted actions split the way a report over
// the whole trail must split them. Every list is sorted.
type Access struct {
	Principal string `json:"principal"`
	// Granted is every action the IAM snapshot grants (inline, group
	// and managed policies).
	Granted []string `json:"granted"`
	// Used are granted actions with allowed calls.
	Used []string `json:"used"`
	// Unused are granted actions without an allowed call that the trail
	// could have shown.
	Unused []string `json:"unused"`
	// Unobservable are granted, uncalled actions the trail cannot show:
	// permissions that no record carries (iam:PassRole), calls CloudTrail
	// does not log (logs:PutLogEvents) and data-plane actions of a service
	// whose data events no principal of the account made. Calls that need
	// no permission (sts:GetCallerIdentity) are in no list: no policy
	// grants or takes them away.
	Unobservable []string `json:"unobservable"`
	// Denied are actions with refused calls (never granted here).
	Denied []string `json:"denied"`
}

// UsageCount is one principal × action × resource.
type UsageCount struct {
	Principal string    `json:"principal"`
	Action    string    `json:"action"`
	Resource  string    `json:"resource"`
	Allowed   uint64    `json:"allowed"`
	Denied    uint64    `json:"denied"`
	FirstSeen time.Time `json:"firstSeen"`
	LastSeen  time.Time `json:"lastSeen"`
}

// EventCount counts records by caller and event.
type EventCount struct {
	Caller      string `json:"caller"` // principal ARN, or the invoking service ("cloudtrail.amazonaws.com")
	EventSource string `json:"eventSource"`
	EventName   string `json:"eventName"`
	Count       uint64 `json:"count"`
}

// KeyCount is the use of one access key id.
type KeyCount struct {
	AccessKeyID string    `json:"accessKeyId"`
	Principal   string    `json:"principal"` // owner: the user, or the role for session keys
	Calls       uint64    `json:"calls"`
	FirstSeen   time.Time `json:"firstSeen"`
	LastSeen    time.Time `json:"lastSeen"`
}

// FileInfo is one log file written.
type FileInfo struct {
	Name    string `json:"name"`
	Records int    `json:"records"`
}

// Find returns the usage count of principal × action × resource.
func (m *Manifest) Find(principal, action, resource string) (UsageCount, bool) {
	i := sort.Search(len(m.Usage), func(i int) bool {
		u := m.Usage[i]
		if u.Principal != principal {
			return u.Principal > principal
		}
		if u.Action != action {
			return u.Action > action
		}
		return u.Resource >= resource
	})
	if i < len(m.Usage) {
		if u := m.Usage[i]; u.Principal == principal && u.Action == action && u.Resource == resource {
			return u, true
		}
	}
	return UsageCount{}, false
}

// WriteJSON writes the manifest as indented JSON.
func (m *Manifest) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(m); err != nil {
		return fmt.Errorf("write manifest: %w", err)
	}
	return nil
}

type usageKey struct{ principal, action, resource string }
type eventKey struct{ caller, source, name string }

// manifestBuilder accumulates counts during one run.
type manifestBuilder struct {
	m     Manifest
	usage map[usageKey]*UsageCount
	perm  map[eventKey]uint64
	svc   map[eventKey]uint64
	keys  map[string]*KeyCount
}

func newManifestBuilder() *manifestBuilder {
	return &manifestBuilder{
		usage: map[usageKey]*UsageCount{},
		perm:  map[eventKey]uint64{},
		svc:   map[eventKey]uint64{},
		keys:  map[string]*KeyCount{},
	}
}

func (b *manifestBuilder) use(principal, action, resource string, denied bool, t time.Time) {
	k := usageKey{principal, action, resource}
	u := b.usage[k]
	if u == nil {
		u = &UsageCount{Principal: principal, Action: action, Resource: resource, FirstSeen: t}
		b.usage[k] = u
	}
	if denied {
		u.Denied++
	} else {
		u.Allowed++
	}
	u.LastSeen = t
}

func (b *manifestBuilder) key(id, principal string, t time.Time) {
	if id == "" {
		return
	}
	k := b.keys[id]
	if k == nil {
		k = &KeyCount{AccessKeyID: id, Principal: principal, FirstSeen: t}
		b.keys[id] = k
	}
	k.Calls++
	k.LastSeen = t
}

func (b *manifestBuilder) finish(g *Generator) *Manifest {
	m := b.m
	m.Seed = g.opts.Seed
	m.Accounts = g.Accounts()
	m.Start = g.opts.Start
	m.End = g.opts.Start.Add(g.span)
	m.Usage = make([]UsageCount, 0, len(b.usage))
	for _, u := range b.usage {
		m.Usage = append(m.Usage, *u)
	}
	sort.Slice(m.Usage, func(i, j int) bool {
		a, c := m.Usage[i], m.Usage[j]
		if a.Principal != c.Principal {
			return a.Principal < c.Principal
		}
		if a.Action != c.Action {
			return a.Action < c.Action
		}
		return a.Resource < c.Resource
	})
	m.Permissionless = eventCounts(b.perm)
	m.ServiceEvents = eventCounts(b.svc)
	m.Keys = make([]KeyCount, 0, len(b.keys))
	for _, k := range b.keys {
		m.Keys = append(m.Keys, *k)
	}
	sort.Slice(m.Keys, func(i, j int) bool { return m.Keys[i].AccessKeyID < m.Keys[j].AccessKeyID })
	m.Access = access(g.world, m.Usage)
	return &m
}

// unloggedActions are granted by the snapshot and never appear in a
// record: a permission only (IAM User Guide, id_roles_use_passrole), or a
// call CloudTrail does not log (CloudWatch Logs User Guide, "Logging
// Amazon CloudWatch Logs API calls in AWS CloudTrail").
var unloggedActions = map[string]bool{passRole: true, "logs:PutLogEvents": true}

// dataGroup names the CloudTrail data-event resource type of a service's
// data operations, as the report groups them.
var dataGroup = map[string]string{
	"s3": "s3-object", "dynamodb": "dynamodb-item", "lambda": "lambda-invoke", "sqs": "sqs-message", "sns": "sns-publish",
}

func actionService(a string) string {
	s, _, _ := strings.Cut(a, ":")
	return s
}

// access splits each user's and role's granted actions by what usage
// (the manifest's, sorted by principal) shows.
func access(w *world, usage []UsageCount) []Access {
	dataAction := map[string]bool{}
	permless := map[string]bool{}
	for _, o := range opTable {
		if o.data {
			dataAction[o.action] = true
		}
		if o.noPerm && o.action != "" {
			permless[o.action] = true
		}
	}
	// The data-event groups each account's principals called, allowed or
	// refused: a group nobody called is one the trail does not log.
	owner := map[string]string{} // charged ARN → account
	for _, p := range w.principals {
		owner[p.arn] = p.account
	}
	seen := map[[2]string]bool{}
	used, denied := map[string]map[string]bool{}, map[string]map[string]bool{}
	mark := func(m map[string]map[string]bool, p, a string) {
		if m[p] == nil {
			m[p] = map[string]bool{}
		}
		m[p][a] = true
	}
	for _, u := range usage {
		if dataAction[u.Action] {
			seen[[2]string{owner[u.Principal], dataGroup[actionService(u.Action)]}] = true
		}
		if u.Allowed > 0 {
			mark(used, u.Principal, u.Action)
		}
		if u.Denied > 0 {
			mark(denied, u.Principal, u.Action)
		}
	}
	var out []Access
	for _, list := range [][]int{w.users, w.roles} {
		for _, pi := range list {
			p := w.principals[pi]
			a := Access{Principal: p.arn, Granted: []string{}, Used: []string{}, Unused: []string{}, Unobservable: []string{}, Denied: []string{}}
			// A call that needs no permission is allowed whatever the
			// policies say, so no statement grants it (the policy
			// engine's service rules): it is neither used nor unused.
			for _, act := range w.grantedActions(pi) {
				if !permless[act] {
					a.Granted = append(a.Granted, act)
				}
			}
			for _, act := range a.Granted {
				switch {
				case used[p.arn][act]:
					a.Used = append(a.Used, act)
				case unloggedActions[act] ||
					(dataAction[act] && !seen[[2]string{p.account, dataGroup[actionService(act)]}]):
					a.Unobservable = append(a.Unobservable, act)
				default:
					a.Unused = append(a.Unused, act)
				}
			}
			for act := range denied[p.arn] {
				a.Denied = append(a.Denied, act)
			}
			sort.Strings(a.Denied)
			out = append(out, a)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Principal < out[j].Principal })
	return out
}

func eventCounts(src map[eventKey]uint64) []EventCount {
	out := make([]EventCount, 0, len(src))
	for k, n := range src {
		out = append(out, EventCount{Caller: k.caller, EventSource: k.source, EventName: k.name, Count: n})
	}
	sort.Slice(out, func(i, j int) bool {
		a, c := out[i], out[j]
		if a.Caller != c.Caller {
			return a.Caller < c.Caller
		}
		if a.EventSource != c.EventSource {
			return a.EventSource < c.EventSource
		}
		return a.EventName < c.EventName
	})
	return out
}
