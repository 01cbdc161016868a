package catalog

import (
	"fmt"
	"strconv"
	"strings"
)

// formatVersion is the encoding version this package reads (the header's
// second field; internal/upstream.FormatVersion writes it).
const formatVersion = "1"

// lineReader walks the decoded text line by line.
type lineReader struct {
	data string
	pos  int
	line int
}

func (r *lineReader) next() (string, bool) {
	if r.pos >= len(r.data) {
		return "", false
	}
	r.line++
	rest := r.data[r.pos:]
	i := strings.IndexByte(rest, '\n')
	if i < 0 {
		r.pos = len(r.data)
		return rest, true
	}
	r.pos += i + 1
	return rest[:i], true
}

// cut returns the field before the next tab and the rest of the line.
func cut(s string) (field, rest string) {
	i := strings.IndexByte(s, '\t')
	if i < 0 {
		return s, ""
	}
	return s[:i], s[i+1:]
}

// ids calls fn for each comma-separated decimal id in s; a leading '+' sets
// the flag.
func ids(s string, fn func(id int, plus bool) error) error {
	for len(s) > 0 {
		plus := false
		if s[0] == '+' {
			plus = true
			s = s[1:]
		}
		n, i := 0, 0
		for ; i < len(s) && s[i] != ','; i++ {
			d := s[i]
			if d < '0' || d > '9' || n > 1<<24 {
				return fmt.Errorf("bad id list %q", s)
			}
			n = n*10 + int(d-'0')
		}
		if i == 0 {
			return fmt.Errorf("bad id list %q", s)
		}
		if err := fn(n, plus); err != nil {
			return err
		}
		if i < len(s) {
			i++
		}
		s = s[i:]
	}
	return nil
}

// parse decodes the compact encoding (see internal/upstream.Encode).
func parse(data string) (*Catalog, error) {
	r := &lineReader{data: data}
	fail := func(format string, a ...any) (*Catalog, error) {
		return nil, fmt.Errorf("%w: line %d: %s", ErrMalformedCatalog, r.line, fmt.Sprintf(format, a...))
	}
	hdr, ok := r.next()
	if !ok {
		return fail("empty")
	}
	f := strings.Split(hdr, "\t")
	if len(f) != 12 || f[0] != "iamcatalog" {
		return fail("not a catalog header")
	}
	if f[1] != formatVersion {
		return fail("encoding version %s, this build reads %s", f[1], formatVersion)
	}
	var n [8]int
	for i := range n {
		v, err := strconv.Atoi(f[4+i])
		// Every counted item takes at least one byte of the data, which
		// bounds what the preallocation below may ask for.
		if err != nil || v < 0 || v > len(data) {
			return fail("bad count %q", f[4+i])
		}
		n[i] = v
	}
	nSvc, nAct, nKeys, nRT, nActRes, nActKeys, nRTKeys, nSvcKeys := n[0], n[1], n[2], n[3], n[4], n[5], n[6], n[7]
	if nSvc > 1<<16 {
		return fail("too many services")
	}
	c := &Catalog{
		pkg:      f[2],
		version:  f[3],
		services: make([]service, 0, nSvc),
		prefixes: make([]string, 0, nSvc),
		actions:  make([]Action, 0, nAct),
		svcOf:    make([]uint16, 0, nAct),
		keys:     make([]ConditionKey, 0, nKeys),
	}
	// One backing array per kind of list; each record takes a capped subslice.
	rtArr := make([]ResourceType, 0, nRT)
	actResArr := make([]ActionResource, 0, nActRes)
	strArr := make([]string, 0, nActKeys+nRTKeys+nSvcKeys)

	keyList := func(s string) ([]string, error) {
		start := len(strArr)
		err := ids(s, func(id int, _ bool) error {
			if id >= len(c.keys) {
				return fmt.Errorf("condition key id %d out of range", id)
			}
			if len(strArr) == cap(strArr) {
				return fmt.Errorf("more condition key references than the header's counts")
			}
			strArr = append(strArr, c.keys[id].Name)
			return nil
		})
		if err != nil || len(strArr) == start {
			return nil, err
		}
		return strArr[start:len(strArr):len(strArr)], nil
	}

	var cur *service
	for {
		line, ok := r.next()
		if !ok {
			break
		}
		if line == "" {
			continue
		}
		tag, rest := cut(line)
		switch tag {
		case "K":
			if cur != nil {
				return fail("condition key after the first service")
			}
			name, rest := cut(rest)
			typ, glob := cut(rest)
			t, ok := parseConditionType(typ)
			if name == "" || !ok {
				return fail("bad condition key %q type %q", name, typ)
			}
			if len(c.keys) == cap(c.keys) {
				return fail("more condition keys than the header's count")
			}
			// Keys with the aws: prefix are global condition keys (IAM User
			// Guide, "AWS global condition context keys"), wherever listed.
			c.keys = append(c.keys, ConditionKey{Name: name, Type: t, Global: glob == "g" || hasPrefixFold(name, "aws:")})
		case "S":
			prefix, rest := cut(rest)
			name, keyIDs := cut(rest)
			if prefix == "" || hasUpper(prefix) || (len(c.prefixes) > 0 && c.prefixes[len(c.prefixes)-1] >= prefix) {
				return fail("service prefix %q empty, not lowercase or out of order", prefix)
			}
			if len(c.services) == cap(c.services) {
				return fail("more services than the header's count")
			}
			keys, err := keyList(keyIDs)
			if err != nil {
				return fail("service %s: %v", prefix, err)
			}
			if cur != nil {
				cur.hi = len(c.actions)
			}
			c.services = append(c.services, service{prefix: prefix, name: name, lo: len(c.actions), keys: keys})
			c.prefixes = append(c.prefixes, prefix)
			cur = &c.services[len(c.services)-1]
		case "R":
			if cur == nil {
				return fail("resource type before any service")
			}
			if cur.lo != len(c.actions) {
				return fail("resource type after the service's actions")
			}
			name, rest := cut(rest)
			arn, keyIDs := cut(rest)
			if name == "" || !strings.HasPrefix(arn, "arn:") {
				return fail("bad resource type %q ARN %q", name, arn)
			}
			keys, err := keyList(keyIDs)
			if err != nil {
				return fail("resource type %s: %v", name, err)
			}
			if len(rtArr) == cap(rtArr) {
				return fail("more resource types than the header's count")
			}
			rtArr = append(rtArr, ResourceType{Service: cur.prefix, Name: name, ARN: arn, ConditionKeys: keys})
			cur.rts = rtArr[len(rtArr)-len(cur.rts)-1 : len(rtArr) : len(rtArr)]
		case "A":
			if cur == nil {
				return fail("action before any service")
			}
			full, rest := cut(rest)
			lvl, rest := cut(rest)
			resIDs, keyIDs := cut(rest)
			svc, name, ok := strings.Cut(full, ":")
			if !ok || svc != cur.prefix || name == "" {
				return fail("action %q outside service %s", full, cur.prefix)
			}
			if len(c.actions) == cap(c.actions) {
				return fail("more actions than the header's count")
			}
			a := Action{Service: cur.prefix, Name: name, full: full}
			switch lvl {
			case "L":
				a.Level = List
			case "R":
				a.Level = Read
			case "W":
				a.Level = Write
			case "T":
				a.Level = Tagging
			case "P":
				a.Level = PermissionsManagement
			default:
				return fail("action %s: bad access level %q", full, lvl)
			}
			start := len(actResArr)
			err := ids(resIDs, func(id int, plus bool) error {
				if id >= len(cur.rts) {
					return fmt.Errorf("resource type id %d out of range", id)
				}
				if len(actResArr) == cap(actResArr) {
					return fmt.Errorf("more action resource references than the header's count")
				}
				actResArr = append(actResArr, ActionResource{Type: cur.rts[id].Name, Required: plus})
				return nil
			})
			if err != nil {
				return fail("action %s: %v", full, err)
			}
			if len(actResArr) > start {
				a.Resources = actResArr[start:len(actResArr):len(actResArr)]
			}
			if a.ConditionKeys, err = keyList(keyIDs); err != nil {
				return fail("action %s: %v", full, err)
			}
			c.actions = append(c.actions, a)
			c.svcOf = append(c.svcOf, uint16(len(c.services)-1))
		default:
			return fail("unknown record %q", tag)
		}
	}
	if cur != nil {
		cur.hi = len(c.actions)
	}
	if len(c.services) != nSvc || len(c.actions) != nAct || len(c.keys) != nKeys || len(rtArr) != nRT {
		return nil, fmt.Errorf("%w: counts differ from the header (truncated data?)", ErrMalformedCatalog)
	}
	if err := c.index(); err != nil {
		return nil, err
	}
	return c, nil
}

// index builds the lowercased names, the name map, and the condition key
// indexes, and checks the sort order the prefix search relies on.
func (c *Catalog) index() error {
	total := 0
	for i := range c.actions {
		total += len(c.actions[i].full)
	}
	buf := make([]byte, 0, total)
	for i := range c.actions {
		buf = lowerASCII(buf, c.actions[i].full)
	}
	all := ownedString(buf)
	c.lower = make([]string, len(c.actions))
	c.byName = make(map[string]int32, len(c.actions))
	off := 0
	for i := range c.actions {
		n := len(c.actions[i].full)
		l := all[off : off+n]
		off += n
		c.lower[i] = l
		if i > 0 && c.svcOf[i-1] == c.svcOf[i] && c.lower[i-1] >= l {
			return fmt.Errorf("%w: action %s out of order or duplicate", ErrMalformedCatalog, c.actions[i].full)
		}
		c.byName[l] = int32(i)
	}
	return c.indexKeys()
}
