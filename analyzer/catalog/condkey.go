package catalog

import (
	"fmt"
	"strings"

	"github.com/iamd/iamd/analyzer/internal/wildchar"
)

// ConditionType is the value type of a condition key: which condition
// operators apply to it (IAM User Guide, "Condition operators").
type ConditionType uint8

// Condition value types. The ArrayOf… types are multivalued keys, to be used
// with ForAnyValue / ForAllValues.
const (
	TypeString ConditionType = iota + 1
	TypeArrayOfString
	TypeARN
	TypeArrayOfARN
	TypeBool
	TypeArrayOfBool
	TypeNumeric
	TypeArrayOfNumeric
	TypeDate
	TypeArrayOfDate
	TypeIPAddress
	TypeArrayOfIPAddress
	TypeBinary
	TypeArrayOfBinary
)

// String returns the type's name as the Service Authorization Reference writes it.
func (t ConditionType) String() string {
	switch t {
	case TypeString:
		return "String"
	case TypeArrayOfString:
		return "ArrayOfString"
	case TypeARN:
		return "ARN"
	case TypeArrayOfARN:
		return "ArrayOfARN"
	case TypeBool:
		return "Bool"
	case TypeArrayOfBool:
		return "ArrayOfBool"
	case TypeNumeric:
		return "Numeric"
	case TypeArrayOfNumeric:
		return "ArrayOfNumeric"
	case TypeDate:
		return "Date"
	case TypeArrayOfDate:
		return "ArrayOfDate"
	case TypeIPAddress:
		return "IPAddress"
	case TypeArrayOfIPAddress:
		return "ArrayOfIPAddress"
	case TypeBinary:
		return "Binary"
	case TypeArrayOfBinary:
		return "ArrayOfBinary"
	}
	return fmt.Sprintf("ConditionType(%d)", uint8(t))
}

// IsArray reports whether the key is multivalued.
func (t ConditionType) IsArray() bool {
	switch t {
	case TypeArrayOfString, TypeArrayOfARN, TypeArrayOfBool, TypeArrayOfNumeric, TypeArrayOfDate, TypeArrayOfIPAddress, TypeArrayOfBinary:
		return true
	}
	return false
}

func parseConditionType(s string) (ConditionType, bool) {
	for t := TypeString; t <= TypeArrayOfBinary; t++ {
		if t.String() == s {
			return t, true
		}
	}
	return 0, false
}

// ConditionKey is a condition key of the catalog.
type ConditionKey struct {
	// Name is the catalog's name: canonical casing, and for a templated key
	// its template, e.g. "aws:ResourceTag/${TagKey}" or "s3:ExistingObjectTag/<key>".
	Name string
	Type ConditionType
	// Global: a global condition key (any aws: key, and the other keys of
	// upstream's global list such as ec2:SourceInstanceArn), available in
	// request contexts independent of the action.
	Global bool
}

// keyTemplate is a condition key whose name has a placeholder.
type keyTemplate struct {
	pattern string // lowercased; placeholders ${…} or <…> match one or more characters
	head    string // pattern's literal text before its first placeholder
	score   int    // 2 × literal characters, +1 for a delimited placeholder: most specific wins
	id      int32
}

// indexKeys builds the exact-name map and the template lists.
func (c *Catalog) indexKeys() error {
	c.keyIndex = make(map[string]int32, len(c.keys))
	c.tmplBySvc = make(map[string][]keyTemplate)
	total := 0
	for i := range c.keys {
		total += len(c.keys[i].Name)
	}
	buf := make([]byte, 0, total)
	for i := range c.keys {
		buf = lowerASCII(buf, c.keys[i].Name)
	}
	all := ownedString(buf)
	off := 0
	for i := range c.keys {
		k := &c.keys[i]
		l := all[off : off+len(k.Name)]
		off += len(k.Name)
		if _, dup := c.keyIndex[l]; !dup {
			c.keyIndex[l] = int32(i)
		}
		pat, score := l, 1
		if !hasPlaceholder(pat) {
			// Upstream's global keys write their variable part without
			// delimiters ("aws:PrincipalTag/tag-key"); upstream resolves them
			// by the text before the first '/'.
			j := strings.IndexByte(pat, '/')
			if !k.Global || j < 0 {
				continue
			}
			pat, score = pat[:j+1]+"${"+pat[j+1:]+"}", 0
		}
		t := keyTemplate{pattern: pat, head: pat[:firstPlaceholder(pat)], score: 2*literalLen(pat) + score, id: int32(i)}
		colon := strings.IndexByte(pat, ':')
		if colon < 0 || hasPlaceholder(pat[:colon]) {
			c.tmplOther = append(c.tmplOther, t)
			continue
		}
		c.tmplBySvc[pat[:colon]] = append(c.tmplBySvc[pat[:colon]], t)
	}
	return nil
}

// ConditionKey resolves a condition key name, case-insensitively: an exact
// catalog name (global aws: keys first, then service keys), or a concrete key
// that fits a templated one ("aws:ResourceTag/team" → "aws:ResourceTag/${TagKey}",
// "codebuild:fileSystemLocations/x.type" →
// "codebuild:fileSystemLocations/${identifier}.type"; the latter covers
// upstream's conditionPatterns, whose .+? is a non-empty placeholder). When
// several templates fit, the one with the most literal characters wins, and
// on a tie a template with a delimited placeholder (${…}, <…>) wins over
// upstream's undelimited global form ("aws:ResourceTag/tag-key").
func (c *Catalog) ConditionKey(name string) (ConditionKey, bool) {
	var buf [128]byte
	lb := lowerASCII(buf[:0], name)
	if id, ok := c.keyIndex[string(lb)]; ok { // no allocation for the map probe
		return c.keys[id], true
	}
	l := string(lb)
	best, bestScore := int32(-1), -1
	try := func(ts []keyTemplate) {
		for _, t := range ts {
			if t.score > bestScore && strings.HasPrefix(l, t.head) && matchTemplate(t.pattern, l) {
				best, bestScore = t.id, t.score
			}
		}
	}
	if colon := strings.IndexByte(l, ':'); colon >= 0 {
		try(c.tmplBySvc[l[:colon]])
	}
	try(c.tmplOther)
	if best < 0 {
		return ConditionKey{}, false
	}
	return c.keys[best], true
}

// ConditionKeys returns every condition key of the catalog (globals first).
// The slice is a copy.
func (c *Catalog) ConditionKeys() []ConditionKey {
	return append([]ConditionKey(nil), c.keys...)
}

// placeholderLen returns the length of the placeholder ${…} or <…> at the
// start of s, or 0.
func placeholderLen(s string) int {
	if len(s) < 3 {
		return 0
	}
	var end byte
	switch {
	case s[0] == '$' && s[1] == '{':
		end = '}'
	case s[0] == '<':
		end = '>'
	default:
		return 0
	}
	i := strings.IndexByte(s[1:], end)
	if i < 1 {
		return 0
	}
	return i + 2
}

func hasPlaceholder(s string) bool { return firstPlaceholder(s) < len(s) }

// firstPlaceholder returns the index of the first placeholder in s, or len(s).
func firstPlaceholder(s string) int {
	for i := 0; i < len(s); i++ {
		if placeholderLen(s[i:]) > 0 {
			return i
		}
	}
	return len(s)
}

// literalLen counts the characters of s outside placeholders.
func literalLen(s string) int {
	n := 0
	for i := 0; i < len(s); {
		if p := placeholderLen(s[i:]); p > 0 {
			i += p
			continue
		}
		n++
		i++
	}
	return n
}

// matchTemplate reports whether s fits template t, where each placeholder
// matches one or more characters of any kind (wildchar.Len) and everything else
// matches itself. It is the classic linear-backtracking wildcard match
// with each placeholder read as "?*".
func matchTemplate(t, s string) bool {
	tx, sx := 0, 0
	starT, starS := -1, -1
	for tx < len(t) || sx < len(s) {
		if tx < len(t) {
			if p := placeholderLen(t[tx:]); p > 0 {
				if sx < len(s) {
					tx += p
					sx += wildchar.Len(s, sx)
					starT, starS = tx, sx
					continue
				}
			} else if sx < len(s) && t[tx] == s[sx] {
				tx++
				sx++
				continue
			}
		}
		if starT >= 0 && starS < len(s) {
			starS += wildchar.Len(s, starS)
			tx, sx = starT, starS
			continue
		}
		return false
	}
	return true
}
