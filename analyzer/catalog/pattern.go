package catalog

import (
	"fmt"
	"sort"
	"strings"

	"github.com/iamd/iamd/analyzer/internal/wildchar"
)

// matchKind says how the action part of a compiled pattern is matched.
type matchKind uint8

const (
	matchExact  matchKind = iota // no wildcard: one name
	matchPrefix                  // literal prefix followed by a lone trailing *
	matchGlob                    // anything else
)

// matcher is a compiled action pattern.
type matcher struct {
	pattern string
	all     bool   // "*" (or any run of stars): every action
	svcs    []int  // services whose prefix matches the service part
	svcOK   []bool // by service index, for wildcard service parts (nil when literal)
	act     string // lowercased action part
	prefix  string // act up to its first wildcard
	kind    matchKind
}

// compile parses pattern: "*" or "service:action", each part possibly with
// * and ?. Case-insensitive. A service part that matches no service is an
// *UnknownError of kind UnknownService.
func (c *Catalog) compile(pattern string) (*matcher, error) {
	m := &matcher{pattern: pattern}
	if pattern == "" {
		return nil, fmt.Errorf("%w: empty", ErrInvalidPattern)
	}
	if strings.Trim(pattern, "*") == "" {
		m.all = true
		return m, nil
	}
	lp := strings.ToLower(pattern)
	svcPat, act, ok := strings.Cut(lp, ":")
	if !ok {
		return nil, fmt.Errorf("%w: %q has no service prefix (want \"service:action\" or \"*\")", ErrInvalidPattern, pattern)
	}
	if strings.IndexByte(act, ':') >= 0 {
		// Action names never contain ':', so a second one can never match.
		return nil, fmt.Errorf("%w: %q has more than one ':'", ErrInvalidPattern, pattern)
	}
	if svcPat == "" || act == "" {
		return nil, fmt.Errorf("%w: %q has an empty service or action part", ErrInvalidPattern, pattern)
	}
	m.act = act
	if i := strings.IndexAny(act, "*?"); i < 0 {
		m.kind, m.prefix = matchExact, act
	} else {
		m.prefix = act[:i]
		if i == len(act)-1 && act[i] == '*' {
			m.kind = matchPrefix
		} else {
			m.kind = matchGlob
		}
	}
	if strings.IndexAny(svcPat, "*?") < 0 {
		i := sort.SearchStrings(c.prefixes, svcPat)
		if i < len(c.prefixes) && c.prefixes[i] == svcPat {
			m.svcs = []int{i}
		}
	} else {
		m.svcOK = make([]bool, len(c.prefixes))
		for i, p := range c.prefixes {
			if glob(svcPat, p) {
				m.svcs = append(m.svcs, i)
				m.svcOK[i] = true
			}
		}
	}
	if len(m.svcs) == 0 {
		return nil, &UnknownError{Kind: UnknownService, Pattern: pattern}
	}
	return m, nil
}

// span returns the ids of service si whose lowercased name starts with m.prefix.
func (c *Catalog) span(m *matcher, si int) (lo, hi int) {
	s := &c.services[si]
	lo, hi = s.lo, s.hi
	if m.prefix == "" {
		return lo, hi
	}
	n := len(s.prefix) + 1
	a := lo + sort.Search(hi-lo, func(i int) bool { return c.lower[lo+i][n:] >= m.prefix })
	b := a + sort.Search(hi-a, func(i int) bool { return !strings.HasPrefix(c.lower[a+i][n:], m.prefix) })
	return a, b
}

// each calls fn with each matching id in id order until fn returns false.
func (c *Catalog) each(m *matcher, fn func(id int) bool) {
	if m.all {
		for id := range c.actions {
			if !fn(id) {
				return
			}
		}
		return
	}
	for _, si := range m.svcs {
		a, b := c.span(m, si)
		n := len(c.services[si].prefix) + 1
		for id := a; id < b; id++ {
			switch m.kind {
			case matchExact:
				if c.lower[id][n:] != m.act {
					continue
				}
			case matchGlob:
				if !glob(m.act, c.lower[id][n:]) {
					continue
				}
			}
			if !fn(id) {
				return
			}
		}
	}
}

// ExpandIDs appends to dst the ids of the actions matching pattern, in id
// order. A pattern that matches nothing returns an *UnknownError (dst
// unchanged); a malformed one an error wrapping ErrInvalidPattern.
func (c *Catalog) ExpandIDs(pattern string, dst []int) ([]int, error) {
	m, err := c.compile(pattern)
	if err != nil {
		return dst, err
	}
	n := len(dst)
	if m.all {
		dst = growInts(dst, len(c.actions))
	}
	c.each(m, func(id int) bool {
		dst = append(dst, id)
		return true
	})
	if len(dst) == n {
		return dst, &UnknownError{Kind: UnknownAction, Pattern: pattern}
	}
	return dst, nil
}

func growInts(s []int, n int) []int {
	if cap(s)-len(s) >= n {
		return s
	}
	out := make([]int, len(s), len(s)+n)
	copy(out, s)
	return out
}

// Expand returns the actions matching pattern ("s3:Get*", "*", "*:Get*",
// "s3:*Object?"), case-insensitively, in id order. A pattern that matches
// nothing returns an *UnknownError: Kind UnknownService when no service
// prefix matches the part before ':', else UnknownAction. A malformed pattern
// returns an error wrapping ErrInvalidPattern.
func (c *Catalog) Expand(pattern string) ([]Action, error) {
	m, err := c.compile(pattern)
	if err != nil {
		return nil, err
	}
	if m.all {
		return append([]Action(nil), c.actions...), nil
	}
	var out []Action
	if m.kind == matchPrefix && len(m.svcs) == 1 {
		a, b := c.span(m, m.svcs[0])
		if a < b {
			out = append(make([]Action, 0, b-a), c.actions[a:b]...)
		}
	} else {
		// Collect ids first so the (large) Action slice is allocated once.
		var stack [256]int
		ids := stack[:0]
		c.each(m, func(id int) bool {
			ids = append(ids, id)
			return true
		})
		if len(ids) > 0 {
			out = make([]Action, len(ids))
			for i, id := range ids {
				out[i] = c.actions[id]
			}
		}
	}
	if len(out) == 0 {
		return nil, &UnknownError{Kind: UnknownAction, Pattern: pattern}
	}
	return out, nil
}

// Match compiles pattern into a predicate over action ids, for callers that
// test ids against many patterns (bitsets of granted actions). It returns the
// same errors as Expand, so an unknown pattern is reported, not dropped.
func (c *Catalog) Match(pattern string) (func(id int) bool, error) {
	m, err := c.compile(pattern)
	if err != nil {
		return nil, err
	}
	found := false
	c.each(m, func(int) bool { found = true; return false })
	if !found {
		return nil, &UnknownError{Kind: UnknownAction, Pattern: pattern}
	}
	n := len(c.actions)
	if m.all {
		return func(id int) bool { return id >= 0 && id < n }, nil
	}
	if len(m.svcs) == 1 && m.svcOK == nil {
		a, b := c.span(m, m.svcs[0])
		skip := len(c.services[m.svcs[0]].prefix) + 1
		switch m.kind {
		case matchExact:
			return func(id int) bool { return id == a }, nil
		case matchPrefix:
			return func(id int) bool { return id >= a && id < b }, nil
		default:
			lower, act := c.lower, m.act
			return func(id int) bool { return id >= a && id < b && glob(act, lower[id][skip:]) }, nil
		}
	}
	svcOK, svcOf, lower, services, act, prefix, kind := m.svcOK, c.svcOf, c.lower, c.services, m.act, m.prefix, m.kind
	return func(id int) bool {
		if id < 0 || id >= n || !svcOK[svcOf[id]] {
			return false
		}
		name := lower[id][len(services[svcOf[id]].prefix)+1:]
		switch kind {
		case matchExact:
			return name == act
		case matchPrefix:
			return strings.HasPrefix(name, prefix)
		}
		return strings.HasPrefix(name, prefix) && glob(act, name)
	}, nil
}

// glob reports whether s matches p, where '*' matches any run of
// characters and '?' exactly one (wildchar.Len). It runs in O(len(p)·len(s))
// worst case without recursion.
func glob(p, s string) bool {
	px, sx := 0, 0
	starP, starS := -1, -1
	for px < len(p) || sx < len(s) {
		if px < len(p) {
			switch ch := p[px]; ch {
			case '*':
				starP, starS = px, sx
				px++
				continue
			case '?':
				if sx < len(s) {
					px++
					sx += wildchar.Len(s, sx)
					continue
				}
			default:
				if sx < len(s) && s[sx] == ch {
					px++
					sx++
					continue
				}
			}
		}
		if starP >= 0 && starS < len(s) {
			starS += wildchar.Len(s, starS)
			px, sx = starP+1, starS
			continue
		}
		return false
	}
	return true
}
