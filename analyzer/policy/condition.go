package policy

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Condition operators (reference_policies_elements_condition_operators).

type opFamily uint8

const (
	famString opFamily = iota + 1
	famNumeric
	famDate
	famBool
	famBinary
	famIP
	famARN
	famNull
)

type cmpKind uint8

const (
	cmpEq cmpKind = iota
	cmpLike
	cmpLt
	cmpLe
	cmpGt
	cmpGe
)

type setQual uint8

const (
	setNone setQual = iota
	setForAll
	setForAny
)

type opSpec struct {
	fam        opFamily
	cmp        cmpKind
	negate     bool
	ignoreCase bool
	ifExists   bool
	set        setQual
}

// baseOp looks up an operator name (lower case, without qualifiers).
func baseOp(name string) (opSpec, bool) {
	switch name {
	case "stringequals":
		return opSpec{fam: famString, cmp: cmpEq}, true
	case "stringnotequals":
		return opSpec{fam: famString, cmp: cmpEq, negate: true}, true
	case "stringequalsignorecase":
		return opSpec{fam: famString, cmp: cmpEq, ignoreCase: true}, true
	case "stringnotequalsignorecase":
		return opSpec{fam: famString, cmp: cmpEq, ignoreCase: true, negate: true}, true
	case "stringlike":
		return opSpec{fam: famString, cmp: cmpLike}, true
	case "stringnotlike":
		return opSpec{fam: famString, cmp: cmpLike, negate: true}, true
	case "numericequals":
		return opSpec{fam: famNumeric, cmp: cmpEq}, true
	case "numericnotequals":
		return opSpec{fam: famNumeric, cmp: cmpEq, negate: true}, true
	case "numericlessthan":
		return opSpec{fam: famNumeric, cmp: cmpLt}, true
	case "numericlessthanequals":
		return opSpec{fam: famNumeric, cmp: cmpLe}, true
	case "numericgreaterthan":
		return opSpec{fam: famNumeric, cmp: cmpGt}, true
	case "numericgreaterthanequals":
		return opSpec{fam: famNumeric, cmp: cmpGe}, true
	case "dateequals":
		return opSpec{fam: famDate, cmp: cmpEq}, true
	case "datenotequals":
		return opSpec{fam: famDate, cmp: cmpEq, negate: true}, true
	case "datelessthan":
		return opSpec{fam: famDate, cmp: cmpLt}, true
	case "datelessthanequals":
		return opSpec{fam: famDate, cmp: cmpLe}, true
	case "dategreaterthan":
		return opSpec{fam: famDate, cmp: cmpGt}, true
	case "dategreaterthanequals":
		return opSpec{fam: famDate, cmp: cmpGe}, true
	case "bool":
		return opSpec{fam: famBool, cmp: cmpEq}, true
	case "binaryequals":
		return opSpec{fam: famBinary, cmp: cmpEq}, true
	case "ipaddress":
		return opSpec{fam: famIP, cmp: cmpEq}, true
	case "notipaddress":
		return opSpec{fam: famIP, cmp: cmpEq, negate: true}, true
	case "arnequals":
		return opSpec{fam: famARN, cmp: cmpLike}, true
	case "arnlike":
		return opSpec{fam: famARN, cmp: cmpLike}, true
	case "arnnotequals":
		return opSpec{fam: famARN, cmp: cmpLike, negate: true}, true
	case "arnnotlike":
		return opSpec{fam: famARN, cmp: cmpLike, negate: true}, true
	case "null":
		return opSpec{fam: famNull}, true
	}
	return opSpec{}, false
}

// parseOperator reads "[ForAllValues:|ForAnyValue:]Name[IfExists]".
// Operator names are matched case-insensitively.
func parseOperator(op string) (opSpec, error) {
	name := strings.ToLower(op)
	var set setQual
	switch {
	case strings.HasPrefix(name, "forallvalues:"):
		set, name = setForAll, name[len("forallvalues:"):]
	case strings.HasPrefix(name, "foranyvalue:"):
		set, name = setForAny, name[len("foranyvalue:"):]
	}
	ifExists := false
	if strings.HasSuffix(name, "ifexists") {
		ifExists, name = true, strings.TrimSuffix(name, "ifexists")
	}
	spec, ok := baseOp(name)
	if !ok || (spec.fam == famNull && (ifExists || set != setNone)) {
		return opSpec{}, fmt.Errorf("%w %q", ErrUnknownOperator, op)
	}
	spec.ifExists, spec.set = ifExists, set
	return spec, nil
}

// validate checks a policy value for the operator's type.
func (s opSpec) validate(v string) error {
	switch s.fam {
	case famNumeric:
		if _, err := strconv.ParseFloat(v, 64); err != nil {
			return fmt.Errorf("%w: %q is not a number", ErrInvalidValue, v)
		}
	case famDate:
		if _, ok := parseDate(v); !ok {
			return fmt.Errorf("%w: %q is not an ISO 8601 date or epoch seconds", ErrInvalidValue, v)
		}
	case famIP:
		if _, ok := parseCIDR(v); !ok {
			return fmt.Errorf("%w: %q is not an IP address or CIDR", ErrInvalidValue, v)
		}
	case famBool, famNull:
		if !strings.EqualFold(v, "true") && !strings.EqualFold(v, "false") {
			return fmt.Errorf("%w: %q is not true or false", ErrInvalidValue, v)
		}
	}
	return nil
}

// condition is a compiled operator/key pair.
type condition struct {
	spec opSpec
	key  string // lower case
	doc  *ConditionDoc
	strs []pattern // string, binary
	arns []arnPattern
	nums []float64
	secs []dateValue
	ips  []netip.Prefix
	bool []bool // bool, null
}

func compileCondition(cd *ConditionDoc, vars bool) (condition, error) {
	spec, err := parseOperator(cd.Operator)
	if err != nil {
		return condition{}, err
	}
	c := condition{spec: spec, key: strings.ToLower(cd.Key), doc: cd}
	for _, v := range cd.Values {
		if err := spec.validate(v); err != nil {
			return condition{}, err
		}
		switch spec.fam {
		case famString:
			c.strs = append(c.strs, compilePattern(v, vars, spec.cmp == cmpLike))
		case famBinary:
			c.strs = append(c.strs, compilePattern(v, false, false))
		case famARN:
			c.arns = append(c.arns, compileARNPattern(v, vars))
		case famNumeric:
			f, _ := strconv.ParseFloat(v, 64)
			c.nums = append(c.nums, f)
		case famDate:
			d, _ := parseDate(v)
			c.secs = append(c.secs, d)
		case famIP:
			p, _ := parseCIDR(v)
			c.ips = append(c.ips, p)
		case famBool, famNull:
			c.bool = append(c.bool, strings.EqualFold(v, "true"))
		}
	}
	return c, nil
}

// eval applies the condition to the request context.
//
// Rules (reference_policies_elements_condition_operators and
// reference_policies_condition-single-vs-multi-valued-context-keys):
//   - a key absent from the request makes the condition false, except for
//     negated operators (StringNotEquals, ArnNotLike, NotIpAddress, …),
//     which are true, and …IfExists operators, which are true;
//   - ForAllValues is true when the key is absent or empty, ForAnyValue
//     false;
//   - several policy values are ORed; a request value matches when it
//     matches any of them;
//   - without a set qualifier, a multivalued key matches when any of its
//     values matches; a negated operator is the negation of that;
//   - with a set qualifier the negation applies per request value:
//     ForAllValues:StringNotEquals holds when no request value is listed,
//     ForAnyValue:StringNotEquals when at least one is not listed.
func (c *condition) eval(ctx *Context) bool {
	v := ctx.get(c.key)
	if c.spec.fam == famNull {
		// Null: true checks that the key is absent, false that it is present.
		present := v != nil && len(v.Values) > 0
		for _, want := range c.bool {
			if want != present {
				return true
			}
		}
		return false
	}
	if v == nil || len(v.Values) == 0 {
		switch {
		case c.spec.ifExists:
			return true
		case c.spec.set == setForAll:
			return true
		case c.spec.set == setForAny:
			return false
		}
		return c.spec.negate
	}
	switch c.spec.set {
	case setForAll:
		for _, rv := range v.Values {
			if c.matchAny(rv, ctx) == c.spec.negate {
				return false
			}
		}
		return true
	case setForAny:
		for _, rv := range v.Values {
			if c.matchAny(rv, ctx) != c.spec.negate {
				return true
			}
		}
		return false
	}
	for _, rv := range v.Values {
		if c.matchAny(rv, ctx) {
			return !c.spec.negate
		}
	}
	return c.spec.negate
}

// matchAny reports whether request value rv matches any policy value under
// the positive form of the operator.
func (c *condition) matchAny(rv string, ctx *Context) bool {
	switch c.spec.fam {
	case famString, famBinary:
		for i := range c.strs {
			if c.strs[i].match(rv, ctx, c.spec.ignoreCase) {
				return true
			}
		}
	case famARN:
		for i := range c.arns {
			if c.arns[i].match(rv, ctx) {
				return true
			}
		}
	case famNumeric:
		f, err := strconv.ParseFloat(rv, 64)
		if err != nil {
			return false
		}
		for _, p := range c.nums {
			if compare(cmpFloat(f, p), c.spec.cmp) {
				return true
			}
		}
	case famDate:
		d, ok := parseDate(rv)
		if !ok {
			return false
		}
		for _, p := range c.secs {
			if compare(d.cmp(p), c.spec.cmp) {
				return true
			}
		}
	case famIP:
		a, err := netip.ParseAddr(rv)
		if err != nil {
			return false
		}
		a = a.Unmap()
		for _, p := range c.ips {
			if p.Contains(a) {
				return true
			}
		}
	case famBool:
		var b bool
		switch {
		case strings.EqualFold(rv, "true"):
			b = true
		case strings.EqualFold(rv, "false"):
		default:
			return false
		}
		for _, p := range c.bool {
			if p == b {
				return true
			}
		}
	}
	return false
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func compare(c int, k cmpKind) bool {
	switch k {
	case cmpEq, cmpLike:
		return c == 0
	case cmpLt:
		return c < 0
	case cmpLe:
		return c <= 0
	case cmpGt:
		return c > 0
	case cmpGe:
		return c >= 0
	}
	return false
}

func parseCIDR(s string) (netip.Prefix, bool) {
	if strings.IndexByte(s, '/') >= 0 {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, false
		}
		if p.Addr().Is4In6() {
			bits := p.Bits() - 96
			if bits < 0 {
				return netip.Prefix{}, false
			}
			p = netip.PrefixFrom(p.Addr().Unmap(), bits)
		}
		return p.Masked(), true
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, false
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), true
}

// dateValue is an instant as seconds and nanoseconds since the epoch.
type dateValue struct {
	sec  int64
	nsec int32
}

func (d dateValue) cmp(o dateValue) int {
	switch {
	case d.sec < o.sec:
		return -1
	case d.sec > o.sec:
		return 1
	case d.nsec < o.nsec:
		return -1
	case d.nsec > o.nsec:
		return 1
	}
	return 0
}

// parseDate reads epoch seconds or an ISO 8601 date/date-time: YYYY-MM-DD,
// YYYY-MM-DDThh:mm[:ss[.fff…]] with Z, ±hh:mm or ±hhmm (no zone means UTC).
// It allocates nothing, since request values are parsed during evaluation.
func parseDate(s string) (dateValue, bool) {
	if s == "" {
		return dateValue{}, false
	}
	if isInteger(s) {
		// Epoch seconds. Checked first so that a failed ParseInt (whose
		// error allocates) is never on the evaluation path.
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return dateValue{sec: n}, true
		}
		return dateValue{}, false
	}
	num := func(i, n int) (int, bool) {
		if i+n > len(s) {
			return 0, false
		}
		v := 0
		for j := i; j < i+n; j++ {
			c := s[j]
			if c < '0' || c > '9' {
				return 0, false
			}
			v = v*10 + int(c-'0')
		}
		return v, true
	}
	year, ok1 := num(0, 4)
	month, ok2 := num(5, 2)
	day, ok3 := num(8, 2)
	if !ok1 || !ok2 || !ok3 || len(s) < 10 || s[4] != '-' || s[7] != '-' || month < 1 || month > 12 || day < 1 || day > daysIn(year, month) {
		return dateValue{}, false
	}
	var hh, mm, ss, nsec, offset int
	i := 10
	if i < len(s) {
		if s[i] != 'T' && s[i] != 't' && s[i] != ' ' {
			return dateValue{}, false
		}
		var ok bool
		if hh, ok = num(i+1, 2); !ok || hh > 23 || i+3 >= len(s) || s[i+3] != ':' {
			return dateValue{}, false
		}
		if mm, ok = num(i+4, 2); !ok || mm > 59 {
			return dateValue{}, false
		}
		i += 6
		if i < len(s) && s[i] == ':' {
			if ss, ok = num(i+1, 2); !ok || ss > 60 {
				return dateValue{}, false
			}
			i += 3
			if i < len(s) && s[i] == '.' {
				i++
				digits := 0
				for i < len(s) && s[i] >= '0' && s[i] <= '9' {
					if digits < 9 {
						nsec = nsec*10 + int(s[i]-'0')
						digits++
					}
					i++
				}
				if digits == 0 {
					return dateValue{}, false
				}
				for ; digits < 9; digits++ {
					nsec *= 10
				}
			}
		}
		switch {
		case i == len(s):
		case (s[i] == 'Z' || s[i] == 'z') && i+1 == len(s):
		case s[i] == '+' || s[i] == '-':
			oh, ok := num(i+1, 2)
			if !ok {
				return dateValue{}, false
			}
			j := i + 3
			if j < len(s) && s[j] == ':' {
				j++
			}
			om, ok := num(j, 2)
			if !ok || j+2 != len(s) || oh > 23 || om > 59 {
				return dateValue{}, false
			}
			offset = oh*3600 + om*60
			if s[i] == '-' {
				offset = -offset
			}
		default:
			return dateValue{}, false
		}
	}
	sec := daysFromCivil(year, month, day)*86400 + int64(hh*3600+mm*60+ss) - int64(offset)
	return dateValue{sec: sec, nsec: int32(nsec)}, true
}

func isInteger(s string) bool {
	if s != "" && (s[0] == '-' || s[0] == '+') {
		s = s[1:]
	}
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

func daysIn(y, m int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// daysFromCivil is the days since 1970-01-01 of a proleptic Gregorian date
// (H. Hinnant's algorithm).
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era--
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}

// ValidDate reports whether s is a date the Date condition operators
// accept: ISO 8601 (date, or date-time with optional fraction and zone) or
// epoch seconds.
func ValidDate(s string) bool {
	_, ok := parseDate(s)
	return ok
}
