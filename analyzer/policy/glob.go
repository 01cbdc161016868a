package policy

import (
	"strings"

	"github.com/iamd/iamd/analyzer/internal/wildchar"
)

// Wildcard patterns. Resource and NotResource, StringLike and ArnLike values
// use "*" (any run of characters, ":" included) and "?" (one character,
// wildchar.Len);
// StringEquals values treat both literally. With Version 2012-10-17,
// "${key}" and "${key, 'default'}" are replaced by request context values
// and "${*}", "${?}", "${$}" stand for the literal characters
// (reference_policies_variables). A substituted value always matches
// literally, so a user name containing "*" is not a wildcard.

type tokKind uint8

const (
	tokLit tokKind = iota
	tokStar
	tokQ
	tokVar
)

type token struct {
	kind   tokKind
	lit    string // tokLit text; tokVar default
	key    string // tokVar: lower-case context key
	hasDef bool
}

type fastKind uint8

const (
	fastGeneral fastKind = iota
	fastAny              // "*"
	fastExact            // no wildcard, no variable
	fastPrefix           // "literal*"
)

// pattern is a compiled wildcard or literal value.
type pattern struct {
	raw  string
	fast fastKind
	lit  string
	toks []token
}

// compilePattern compiles raw. vars enables policy variables, wild makes
// "*" and "?" wildcards.
func compilePattern(raw string, vars, wild bool) pattern {
	from := len(raw) + 1
	if vars {
		from = 0
	}
	return compilePatternFrom(raw, from, wild)
}

// compileResourcePattern compiles a Resource/NotResource entry. Policy
// variables are recognised only in the resource part of the ARN, after the
// fifth colon (reference_policies_variables, "Where you can use policy
// variables"); before it "${…}" is literal text.
func compileResourcePattern(raw string, vars bool) pattern {
	if !vars {
		return compilePattern(raw, false, true)
	}
	colons, depth := 0, 0
	for i := 0; i < len(raw); i++ {
		switch {
		case raw[i] == '$' && i+1 < len(raw) && raw[i+1] == '{':
			depth++
		case raw[i] == '}' && depth > 0:
			depth--
		case raw[i] == ':' && depth == 0:
			if colons++; colons == 5 {
				return compilePatternFrom(raw, i+1, true)
			}
		}
	}
	return compilePattern(raw, true, true)
}

// compilePatternFrom compiles raw, recognising policy variables that start
// at byte index from or later.
func compilePatternFrom(raw string, from int, wild bool) pattern {
	p := pattern{raw: raw}
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			p.toks = append(p.toks, token{kind: tokLit, lit: lit.String()})
			lit.Reset()
		}
	}
	hasVar, hasWild := false, false
	for i := 0; i < len(raw); {
		c := raw[i]
		if i >= from && c == '$' && i+1 < len(raw) && raw[i+1] == '{' {
			if end := strings.IndexByte(raw[i+2:], '}'); end >= 0 {
				body := raw[i+2 : i+2+end]
				i += 2 + end + 1
				switch body {
				case "*", "?", "$":
					lit.WriteString(body)
					continue
				}
				key, def, hasDef := splitVariable(body)
				flush()
				p.toks = append(p.toks, token{kind: tokVar, key: strings.ToLower(key), lit: def, hasDef: hasDef})
				hasVar = true
				continue
			}
		}
		if wild && (c == '*' || c == '?') {
			flush()
			if c == '*' {
				if n := len(p.toks); n == 0 || p.toks[n-1].kind != tokStar {
					p.toks = append(p.toks, token{kind: tokStar})
				}
			} else {
				p.toks = append(p.toks, token{kind: tokQ})
			}
			hasWild = true
			i++
			continue
		}
		lit.WriteByte(c)
		i++
	}
	flush()
	switch {
	case hasVar:
		p.fast = fastGeneral
	case !hasWild:
		p.fast = fastExact
		if len(p.toks) == 1 {
			p.lit = p.toks[0].lit
		}
	case len(p.toks) == 1 && p.toks[0].kind == tokStar:
		p.fast = fastAny
	case len(p.toks) == 2 && p.toks[0].kind == tokLit && p.toks[1].kind == tokStar:
		p.fast = fastPrefix
		p.lit = p.toks[0].lit
	}
	return p
}

// splitVariable splits "key, 'default'" into its parts.
func splitVariable(body string) (key, def string, hasDef bool) {
	comma := strings.IndexByte(body, ',')
	if comma < 0 {
		return strings.TrimSpace(body), "", false
	}
	key = strings.TrimSpace(body[:comma])
	d := strings.TrimSpace(body[comma+1:])
	if len(d) >= 2 && d[0] == '\'' && d[len(d)-1] == '\'' {
		return key, d[1 : len(d)-1], true
	}
	return key, d, true
}

// hasVars reports whether the pattern needs the request context.
func (p *pattern) hasVars() bool { return p.fast == fastGeneral && hasVarTok(p.toks) }

func hasVarTok(t []token) bool {
	for i := range t {
		if t[i].kind == tokVar {
			return true
		}
	}
	return false
}

// match reports whether s matches the pattern; fold makes the comparison
// ASCII case-insensitive.
func (p *pattern) match(s string, ctx *Context, fold bool) bool {
	switch p.fast {
	case fastAny:
		return true
	case fastExact:
		return eqFold(s, p.lit, fold)
	case fastPrefix:
		return len(s) >= len(p.lit) && eqFold(s[:len(p.lit)], p.lit, fold)
	}
	return matchTokens(p.toks, s, ctx, fold)
}

// matchTokens is the linear-time wildcard match that remembers only the
// last star: on a mismatch it lets that star swallow one more character.
func matchTokens(toks []token, s string, ctx *Context, fold bool) bool {
	ti, si := 0, 0
	starT, starS := -1, 0
	for ti < len(toks) || si < len(s) {
		if ti < len(toks) {
			t := &toks[ti]
			switch t.kind {
			case tokStar:
				if ti == len(toks)-1 {
					return true
				}
				starT, starS = ti, si
				ti++
				continue
			case tokQ:
				if si < len(s) {
					si += wildchar.Len(s, si)
					ti++
					continue
				}
			default:
				lit := t.lit
				if t.kind == tokVar {
					v, ok := ctx.variable(t.key)
					if !ok {
						if !t.hasDef {
							return false // a variable without a value matches nothing
						}
						v = t.lit
					}
					lit = v
				}
				if len(s)-si >= len(lit) && eqFold(s[si:si+len(lit)], lit, fold) {
					si += len(lit)
					ti++
					continue
				}
			}
		}
		if starT >= 0 && starS < len(s) {
			starS += wildchar.Len(s, starS)
			si = starS
			ti = starT + 1
			continue
		}
		return false
	}
	return true
}

func eqFold(a, b string, fold bool) bool {
	if !fold {
		return a == b
	}
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		ca, cb := a[i], b[i]
		if ca == cb {
			continue
		}
		if 'A' <= ca && ca <= 'Z' {
			ca += 'a' - 'A'
		}
		if 'A' <= cb && cb <= 'Z' {
			cb += 'a' - 'A'
		}
		if ca != cb {
			return false
		}
	}
	return true
}

// globLower matches s against a lower-case pattern p with "*" and "?" (one
// character, wildchar.Len), folding ASCII upper case in s. Used for actions,
// which are case-insensitive.
func globLower(p, s string) bool {
	pi, si := 0, 0
	starP, starS := -1, 0
	for pi < len(p) || si < len(s) {
		if pi < len(p) {
			switch c := p[pi]; c {
			case '*':
				if pi == len(p)-1 {
					return true
				}
				starP, starS = pi, si
				pi++
				continue
			case '?':
				if si < len(s) {
					pi++
					si += wildchar.Len(s, si)
					continue
				}
			default:
				if si < len(s) {
					d := s[si]
					if 'A' <= d && d <= 'Z' {
						d += 'a' - 'A'
					}
					if c == d {
						pi++
						si++
						continue
					}
				}
			}
		}
		if starP >= 0 && starS < len(s) {
			starS += wildchar.Len(s, starS)
			si = starS
			pi = starP + 1
			continue
		}
		return false
	}
	return true
}

// arnPattern is an ArnEquals/ArnLike value: the six colon-separated parts
// of an ARN are matched separately, so "*" does not cross ":"
// (reference_policies_elements_condition_operators, ARN condition operators).
type arnPattern struct {
	parts [6]pattern
	n     int
}

func compileARNPattern(raw string, vars bool) arnPattern {
	var ap arnPattern
	start, depth := 0, 0
	for i := 0; i < len(raw) && ap.n < 5; i++ {
		switch {
		case vars && raw[i] == '$' && i+1 < len(raw) && raw[i+1] == '{':
			depth++
		case raw[i] == '}' && depth > 0:
			depth--
		case raw[i] == ':' && depth == 0:
			ap.parts[ap.n] = compilePattern(raw[start:i], vars, true)
			ap.n++
			start = i + 1
		}
	}
	ap.parts[ap.n] = compilePattern(raw[start:], vars, true)
	ap.n++
	return ap
}

func (ap *arnPattern) match(s string, ctx *Context) bool {
	for i := 0; i < ap.n; i++ {
		var part string
		if i == ap.n-1 {
			// The sixth part (resource) keeps its colons; a pattern with
			// fewer parts must meet a value with as many parts.
			if ap.n < 6 && strings.IndexByte(s, ':') >= 0 {
				return false
			}
			part = s
		} else {
			c := strings.IndexByte(s, ':')
			if c < 0 {
				return false
			}
			part, s = s[:c], s[c+1:]
		}
		if !ap.parts[i].match(part, ctx, false) {
			return false
		}
	}
	return true
}
