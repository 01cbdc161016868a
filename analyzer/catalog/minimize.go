package catalog

import (
	"fmt"
	"slices"
	"sort"
)

// Minimize returns a short list of lowercased wildcard patterns that expands
// to exactly the given actions against this catalog, never more. Inputs may
// themselves be patterns ("ec2:*"); they are expanded first, and an input
// that matches nothing is an error (*UnknownError via errors.As).
//
// Each action is covered by "service:p*" with p the shortest prefix of its
// name such that every action of the service starting with p is in the set;
// dropping one more character would pull in an action outside the set. p is
// kept at least minChars characters long (0: no minimum); when that is longer
// than the name, or when another action's name extends this one and is not in
// the set, the action is written out in full. The result is sorted and
// without duplicates or patterns covered by another; the whole catalog with
// no minChars is ["*"].
func (c *Catalog) Minimize(actions []string, minChars int) ([]string, error) {
	in := make([]bool, len(c.actions))
	var ids []int
	for _, a := range actions {
		var err error
		if ids, err = c.ExpandIDs(a, ids[:0]); err != nil {
			return nil, fmt.Errorf("minimize: %w", err)
		}
		for _, id := range ids {
			in[id] = true
		}
	}
	if minChars <= 0 && len(c.actions) > 0 && !slices.Contains(in, false) {
		return []string{"*"}, nil
	}
	var out []string
	for si := range c.services {
		s := &c.services[si]
		any := false
		for id := s.lo; id < s.hi; id++ {
			if in[id] {
				any = true
				break
			}
		}
		if !any {
			continue
		}
		skip := len(s.prefix) + 1
		name := func(id int) string { return c.lower[id][skip:] }
		// need[id-lo]: the shortest prefix length that excludes every action
		// outside the set. In sorted order the longest common prefix with an
		// outside action is reached at the nearest outside neighbour on
		// either side.
		need := make([]int, s.hi-s.lo)
		last := -1
		for id := s.lo; id < s.hi; id++ {
			if !in[id] {
				last = id
				continue
			}
			if last >= 0 {
				need[id-s.lo] = lcp(name(id), name(last)) + 1
			}
		}
		last = -1
		for id := s.hi - 1; id >= s.lo; id-- {
			if !in[id] {
				last = id
				continue
			}
			if last >= 0 {
				if n := lcp(name(id), name(last)) + 1; n > need[id-s.lo] {
					need[id-s.lo] = n
				}
			}
		}
		var stars []string // lowercased prefixes, in order
		var exact []string
		for id := s.lo; id < s.hi; id++ {
			if !in[id] {
				continue
			}
			nm := name(id)
			l := max(need[id-s.lo], minChars)
			if l > len(nm) {
				exact = append(exact, nm)
				continue
			}
			p := nm[:l]
			if len(stars) == 0 || stars[len(stars)-1] != p {
				stars = append(stars, p)
			}
		}
		for _, p := range stars {
			out = append(out, s.prefix+":"+p+"*")
		}
		for _, nm := range exact {
			covered := false
			for _, p := range stars {
				if len(nm) >= len(p) && nm[:len(p)] == p {
					covered = true
					break
				}
			}
			if !covered {
				out = append(out, s.prefix+":"+nm)
			}
		}
	}
	sort.Strings(out)
	return slices.Compact(out), nil
}

func lcp(a, b string) int {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}
