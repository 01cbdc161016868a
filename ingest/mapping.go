package ingest

import (
	"bufio"
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/iamd/iamd/analyzer/catalog"
)

// actionsTSV is the eventSource/eventName → IAM action table; see the
// comment at its top for the format.
//
//go:embed mapping/actions.tsv
var actionsTSV []byte

// Mapping resolves eventSource/eventName to IAM actions. Build it with
// LoadMapping; it is immutable and safe for concurrent use.
type Mapping struct {
	cat      *catalog.Catalog
	prefixes map[string]string     // eventSource host without .amazonaws.com → service prefix
	entries  map[string]mapEntry   // "prefix:eventname" lowercased → entry
	verbs    map[string][]verbRule // prefix → verb rules (apigateway)

	// resolvedCache memoizes resolve for the calls whose actions do not
	// depend on the request (all but DynamoDB's): building the lowercase
	// key and asking the catalog was 5 % of ingest's CPU. Bounded by
	// maxResolvedCache names (a crafted trail could hold any number).
	resolvedCache sync.Map // sourceName → resolved
	cachedNames   atomic.Int64
}

type sourceName struct{ source, name string }

const maxResolvedCache = 1 << 16

type mapEntry struct {
	actions        []string // catalog casing
	permissionless bool
}

// verbRule maps event names starting with a verb to one action
// (apigateway: GetResource → apigateway:GET).
type verbRule struct {
	verb   string
	action string
}

// resolved is what one event maps to.
type resolved struct {
	actions        []string
	permissionless bool
	// defs holds the catalog entries of actions (nil where the catalog
	// has none) for memoized resolutions, so that building an event's
	// uses need not look each action up again; nil otherwise.
	defs []*catalog.Action
	// rtypes holds the resource types of each of defs (memoized
	// resolutions only), looked up once instead of per event.
	rtypes [][]catalog.ResourceType
}

// LoadMapping parses the embedded table and checks every target action
// against the catalog.
func LoadMapping(cat *catalog.Catalog) (*Mapping, error) {
	return ParseMapping(cat, actionsTSV)
}

// ParseMapping parses a mapping table (the embedded one's format) and
// checks every target action against the catalog; the error lists every
// bad line.
func ParseMapping(cat *catalog.Catalog, table []byte) (*Mapping, error) {
	if cat == nil {
		return nil, fmt.Errorf("parse mapping: %w: nil catalog", ErrMapping)
	}
	m := &Mapping{cat: cat, prefixes: map[string]string{}, entries: map[string]mapEntry{}, verbs: map[string][]verbRule{}}
	var errs []error
	sc := bufio.NewScanner(bytes.NewReader(table))
	line := 0
	bad := func(format string, a ...any) {
		errs = append(errs, fmt.Errorf("mapping line %d: %w: %s", line, ErrMapping, fmt.Sprintf(format, a...)))
	}
	canon := func(action string) (string, bool) {
		a, ok := cat.Lookup(action)
		if !ok {
			bad("action %q is not in the catalog", action)
			return "", false
		}
		return a.FullName(), true
	}
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || text[0] == '#' {
			continue
		}
		f := strings.Split(text, "\t")
		switch {
		case f[0] == "source" && len(f) == 3:
			if _, ok := cat.Service(f[2]); !ok {
				bad("service prefix %q is not in the catalog", f[2])
				continue
			}
			m.prefixes[f[1]] = f[2]
		case f[0] == "action" && len(f) == 4:
			var e mapEntry
			for _, a := range strings.Fields(f[3]) {
				if c, ok := canon(a); ok {
					e.actions = append(e.actions, c)
				}
			}
			if len(e.actions) == 0 {
				continue
			}
			m.add(f[1], f[2], e, bad)
		case f[0] == "none" && len(f) >= 3:
			m.add(f[1], f[2], mapEntry{permissionless: true}, bad)
		case f[0] == "verb" && len(f) == 4:
			if c, ok := canon(f[3]); ok {
				m.verbs[f[1]] = append(m.verbs[f[1]], verbRule{verb: f[2], action: c})
			}
		default:
			bad("cannot parse %q", text)
		}
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, fmt.Errorf("read mapping: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *Mapping) add(prefix, name string, e mapEntry, bad func(string, ...any)) {
	k := strings.ToLower(prefix + ":" + name)
	if _, dup := m.entries[k]; dup {
		bad("%s:%s mapped twice", prefix, name)
		return
	}
	m.entries[k] = e
}

// Prefix returns the IAM service prefix of an eventSource
// ("monitoring.amazonaws.com" → "cloudwatch").
func (m *Mapping) Prefix(eventSource string) string {
	host := strings.TrimSuffix(eventSource, ".amazonaws.com")
	if p, ok := m.prefixes[host]; ok {
		return p
	}
	if i := strings.IndexByte(host, '.'); i >= 0 {
		host = host[:i]
	}
	return host
}

// Actions returns the IAM actions an event needs, whether it needs none
// (permissionless), and false when it is unmapped. requestParameters is
// consulted for calls whose action depends on the request (DynamoDB
// PartiQL and transactions); it may be nil.
func (m *Mapping) Actions(eventSource, eventName string, requestParameters []byte) (actions []string, permissionless, ok bool) {
	r := m.resolve(eventSource, eventName, requestParameters)
	return r.actions, r.permissionless, r.permissionless || len(r.actions) > 0
}

func (m *Mapping) resolve(eventSource, eventName string, params []byte) resolved {
	k := sourceName{eventSource, eventName}
	if r, ok := m.resolvedCache.Load(k); ok {
		return r.(resolved)
	}
	prefix := m.Prefix(eventSource)
	r := m.resolveUncached(prefix, eventName, params)
	if prefix != "dynamodb" && m.cachedNames.Load() < maxResolvedCache {
		r.defs = make([]*catalog.Action, len(r.actions))
		r.rtypes = make([][]catalog.ResourceType, len(r.actions))
		for i, act := range r.actions {
			if a, ok := m.cat.Lookup(act); ok {
				r.defs[i] = &a
				r.rtypes[i] = m.cat.ResourceTypesOf(a)
			}
		}
		if _, loaded := m.resolvedCache.LoadOrStore(k, r); !loaded {
			m.cachedNames.Add(1)
		}
	}
	return r
}

func (m *Mapping) resolveUncached(prefix, eventName string, params []byte) resolved {
	if r, ok := m.lookup(prefix, eventName, params); ok {
		return r
	}
	if base := stripVersion(eventName); base != eventName {
		if r, ok := m.lookup(prefix, base, params); ok {
			return r
		}
	}
	return resolved{}
}

func (m *Mapping) lookup(prefix, name string, params []byte) (resolved, bool) {
	if prefix == "dynamodb" {
		if acts := dynamoActions(name, params); len(acts) > 0 {
			return resolved{actions: acts}, true
		}
	}
	if e, ok := m.entries[strings.ToLower(prefix+":"+name)]; ok {
		return resolved{actions: e.actions, permissionless: e.permissionless}, true
	}
	for _, v := range m.verbs[prefix] {
		if strings.HasPrefix(name, v.verb) {
			return resolved{actions: []string{v.action}}, true
		}
	}
	if a, ok := m.cat.Lookup(prefix + ":" + name); ok {
		return resolved{actions: []string{a.FullName()}}, true
	}
	return resolved{}, false
}

// stripVersion removes an API-version suffix from an event name: Lambda's
// CreateFunction20150331 and GetFunction20150331v2, CloudFront's
// CreateDistribution2015_07_27.
func stripVersion(name string) string {
	s := name
	// v2, v3 … after a date
	if i := strings.LastIndexByte(s, 'v'); i > 0 && i < len(s)-1 && allDigits(s[i+1:]) && i >= 8 && allDigits(s[i-8:i]) {
		s = s[:i]
	}
	switch {
	case len(s) > 8 && allDigits(s[len(s)-8:]):
		return s[:len(s)-8]
	case len(s) > 10 && allDigits(s[len(s)-10:len(s)-6]) && s[len(s)-6] == '_' && allDigits(s[len(s)-5:len(s)-3]) && s[len(s)-3] == '_' && allDigits(s[len(s)-2:]):
		return s[:len(s)-10]
	}
	return name
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// dynamoActions handles the DynamoDB calls whose action depends on the
// request: PartiQL statements by verb, transactions by item operation.
func dynamoActions(name string, params []byte) []string {
	switch name {
	case "ExecuteStatement", "BatchExecuteStatement", "ExecuteTransaction":
		var p struct {
			Statement  string `json:"statement"`
			Statements []struct {
				Statement string `json:"statement"`
			} `json:"statements"`
			TransactStatements []struct {
				Statement string `json:"statement"`
			} `json:"transactStatements"`
		}
		_ = json.Unmarshal(params, &p)
		stmts := []string{p.Statement}
		for _, s := range p.Statements {
			stmts = append(stmts, s.Statement)
		}
		for _, s := range p.TransactStatements {
			stmts = append(stmts, s.Statement)
		}
		var out []string
		for _, s := range stmts {
			if a := partiQLAction(s); a != "" {
				out = appendUnique(out, a)
			}
		}
		return out
	case "TransactWriteItems":
		var p struct {
			TransactItems []map[string]json.RawMessage `json:"transactItems"`
		}
		_ = json.Unmarshal(params, &p)
		var out []string
		for _, it := range p.TransactItems {
			for k := range it {
				switch strings.ToLower(k) {
				case "put":
					out = appendUnique(out, "dynamodb:PutItem")
				case "update":
					out = appendUnique(out, "dynamodb:UpdateItem")
				case "delete":
					out = appendUnique(out, "dynamodb:DeleteItem")
				case "conditioncheck":
					out = appendUnique(out, "dynamodb:ConditionCheckItem")
				}
			}
		}
		sort.Strings(out)
		return out
	case "TransactGetItems":
		return []string{"dynamodb:GetItem"}
	}
	return nil
}

func appendUnique(s []string, v string) []string {
	for _, x := range s {
		if x == v {
			return s
		}
	}
	return append(s, v)
}
