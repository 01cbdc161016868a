package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Parse errors; a *ParseError wraps one of them. Test with errors.Is.
var (
	ErrSyntax          = errors.New("invalid JSON")
	ErrURLEncoded      = errors.New("document looks URL-encoded (starts with %7B); URL-decode it first")
	ErrUnknownElement  = errors.New("unknown element")
	ErrMissingElement  = errors.New("missing element")
	ErrInvalidValue    = errors.New("invalid value")
	ErrConflict        = errors.New("conflicting elements")
	ErrDuplicate       = errors.New("duplicate")
	ErrUnknownOperator = errors.New("unknown condition operator")
	ErrWrongLayer      = errors.New("element not allowed in this kind of policy")
	ErrUnsupported     = errors.New("not supported by AWS")
)

// ParseError says which field of a policy document is wrong and where.
type ParseError struct {
	// Field is the JSON path of the offending element, for example
	// "Statement[1].Effect" or "Statement[0].Condition.StringLike"; empty for
	// a JSON syntax error.
	Field string
	// Offset is the byte offset in the document where the offending value
	// (or the syntax error) starts; -1 when unknown.
	Offset int64
	Err    error
}

func (e *ParseError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("policy at byte %d: %v", e.Offset, e.Err)
	}
	if e.Offset < 0 {
		return fmt.Sprintf("policy %s: %v", e.Field, e.Err)
	}
	return fmt.Sprintf("policy %s (byte %d): %v", e.Field, e.Offset, e.Err)
}

func (e *ParseError) Unwrap() error { return e.Err }

// Policy language versions. Only VersionCurrent enables policy variables;
// with VersionLegacy or no Version element "${…}" is literal text
// (reference_policies_elements_version).
const (
	VersionCurrent = "2012-10-17"
	VersionLegacy  = "2008-10-17"
)

// Document is a parsed policy document, as written (before compilation).
type Document struct {
	Version    string // "" when the element is absent
	ID         string
	Statements []StatementDoc
}

// StatementDoc is one parsed statement. A nil slice means the element is
// absent; an element given as a single string becomes a one-element slice.
type StatementDoc struct {
	Sid          string
	Effect       Effect
	Principal    *Principals
	NotPrincipal *Principals
	Action       []string
	NotAction    []string
	Resource     []string
	NotResource  []string
	Conditions   []ConditionDoc
	// Offset is the byte offset of the statement object in the document.
	Offset int64
}

// Principals is a Principal or NotPrincipal element. "*" sets Any; {"AWS":
// "*"} puts "*" into AWS.
type Principals struct {
	Any           bool
	AWS           []string
	Service       []string
	Federated     []string
	CanonicalUser []string
}

// ConditionDoc is one operator/key pair of a Condition element with its
// values (numbers and booleans are kept in their JSON text form).
type ConditionDoc struct {
	Operator string // as written, e.g. "ForAnyValue:StringLikeIfExists"
	Key      string // as written
	Values   []string
}

// Parse reads an IAM policy document. It is lenient where AWS is (a single
// statement object or a list; string-or-list elements; numbers and booleans
// as condition values) and rejects what AWS rejects, with a *ParseError
// naming the field and byte offset.
func Parse(data []byte) (*Document, error) {
	trimmed := bytes.TrimLeft(data, " \t\r\n\ufeff")
	if len(trimmed) >= 3 && trimmed[0] == '%' && (trimmed[1] == '7') && (trimmed[2] == 'B' || trimmed[2] == 'b') {
		return nil, &ParseError{Offset: int64(len(data) - len(trimmed)), Err: ErrURLEncoded}
	}
	root, err := parseJSON(data)
	if err != nil {
		return nil, err
	}
	if root.kind != jObject {
		return nil, &ParseError{Offset: root.off, Err: fmt.Errorf("%w: a policy is a JSON object", ErrInvalidValue)}
	}
	doc := &Document{}
	var stmtNode *jnode
	seen := map[string]bool{}
	for i, k := range root.keys {
		v := root.vals[i]
		if seen[k] {
			return nil, &ParseError{Field: k, Offset: root.koffs[i], Err: fmt.Errorf("%w element", ErrDuplicate)}
		}
		seen[k] = true
		switch k {
		case "Version":
			if v.kind != jString || (v.s != VersionCurrent && v.s != VersionLegacy) {
				return nil, &ParseError{Field: "Version", Offset: v.off, Err: fmt.Errorf("%w: Version must be %q or %q", ErrInvalidValue, VersionCurrent, VersionLegacy)}
			}
			doc.Version = v.s
		case "Id":
			if v.kind != jString {
				return nil, &ParseError{Field: "Id", Offset: v.off, Err: fmt.Errorf("%w: Id must be a string", ErrInvalidValue)}
			}
			doc.ID = v.s
		case "Statement":
			stmtNode = v
		default:
			return nil, &ParseError{Field: k, Offset: root.koffs[i], Err: fmt.Errorf("%w %q (want Version, Id, Statement)", ErrUnknownElement, k)}
		}
	}
	if stmtNode == nil {
		return nil, &ParseError{Field: "Statement", Offset: root.off, Err: fmt.Errorf("%w Statement", ErrMissingElement)}
	}
	var stmts []*jnode
	switch stmtNode.kind {
	case jObject:
		stmts = []*jnode{stmtNode}
	case jArray:
		stmts = stmtNode.arr
	default:
		return nil, &ParseError{Field: "Statement", Offset: stmtNode.off, Err: fmt.Errorf("%w: Statement must be an object or a list of objects", ErrInvalidValue)}
	}
	sids := map[string]int{}
	for i, sn := range stmts {
		field := fmt.Sprintf("Statement[%d]", i)
		st, err := parseStatement(sn, field)
		if err != nil {
			return nil, err
		}
		if st.Sid != "" {
			if j, dup := sids[st.Sid]; dup {
				return nil, &ParseError{Field: field + ".Sid", Offset: sn.off, Err: fmt.Errorf("%w Sid %q (also Statement[%d])", ErrDuplicate, st.Sid, j)}
			}
			sids[st.Sid] = i
		}
		doc.Statements = append(doc.Statements, st)
	}
	return doc, nil
}

func parseStatement(n *jnode, field string) (StatementDoc, error) {
	st := StatementDoc{Offset: n.off}
	if n.kind != jObject {
		return st, &ParseError{Field: field, Offset: n.off, Err: fmt.Errorf("%w: a statement is a JSON object", ErrInvalidValue)}
	}
	seen := map[string]bool{}
	var err error
	for i, k := range n.keys {
		v := n.vals[i]
		f := field + "." + k
		if seen[k] {
			return st, &ParseError{Field: f, Offset: n.koffs[i], Err: fmt.Errorf("%w element", ErrDuplicate)}
		}
		seen[k] = true
		switch k {
		case "Sid":
			if v.kind != jString {
				return st, &ParseError{Field: f, Offset: v.off, Err: fmt.Errorf("%w: Sid must be a string", ErrInvalidValue)}
			}
			st.Sid = v.s
		case "Effect":
			switch {
			case v.kind == jString && v.s == "Allow":
				st.Effect = EffectAllow
			case v.kind == jString && v.s == "Deny":
				st.Effect = EffectDeny
			default:
				return st, &ParseError{Field: f, Offset: v.off, Err: fmt.Errorf("%w: Effect must be \"Allow\" or \"Deny\"", ErrInvalidValue)}
			}
		case "Action", "NotAction":
			var l []string
			if l, err = stringList(v, f); err != nil {
				return st, err
			}
			for j, a := range l {
				if a != "*" && (strings.IndexByte(a, ':') <= 0) {
					return st, &ParseError{Field: fmt.Sprintf("%s[%d]", f, j), Offset: elemOffset(v, j), Err: fmt.Errorf("%w: action %q is not \"service:action\" or \"*\"", ErrInvalidValue, a)}
				}
			}
			if k == "Action" {
				st.Action = l
			} else {
				st.NotAction = l
			}
		case "Resource", "NotResource":
			var l []string
			if l, err = stringList(v, f); err != nil {
				return st, err
			}
			for j, r := range l {
				if r != "*" && !strings.HasPrefix(r, "arn:") && !strings.HasPrefix(r, "${") {
					return st, &ParseError{Field: fmt.Sprintf("%s[%d]", f, j), Offset: elemOffset(v, j), Err: fmt.Errorf("%w: resource %q is neither an ARN nor \"*\"", ErrInvalidValue, r)}
				}
			}
			if k == "Resource" {
				st.Resource = l
			} else {
				st.NotResource = l
			}
		case "Principal", "NotPrincipal":
			var p *Principals
			if p, err = parsePrincipals(v, f); err != nil {
				return st, err
			}
			if k == "Principal" {
				st.Principal = p
			} else {
				st.NotPrincipal = p
			}
		case "Condition":
			if st.Conditions, err = parseConditions(v, f); err != nil {
				return st, err
			}
		default:
			return st, &ParseError{Field: f, Offset: n.koffs[i], Err: fmt.Errorf("%w %q (want Sid, Effect, Principal, NotPrincipal, Action, NotAction, Resource, NotResource, Condition)", ErrUnknownElement, k)}
		}
	}
	switch {
	case st.Effect == 0:
		return st, &ParseError{Field: field + ".Effect", Offset: n.off, Err: fmt.Errorf("%w Effect", ErrMissingElement)}
	case st.Action != nil && st.NotAction != nil:
		return st, &ParseError{Field: field + ".NotAction", Offset: n.off, Err: fmt.Errorf("%w: a statement has Action or NotAction, not both", ErrConflict)}
	case st.Action == nil && st.NotAction == nil:
		return st, &ParseError{Field: field + ".Action", Offset: n.off, Err: fmt.Errorf("%w Action or NotAction", ErrMissingElement)}
	case st.Resource != nil && st.NotResource != nil:
		return st, &ParseError{Field: field + ".NotResource", Offset: n.off, Err: fmt.Errorf("%w: a statement has Resource or NotResource, not both", ErrConflict)}
	case st.Principal != nil && st.NotPrincipal != nil:
		return st, &ParseError{Field: field + ".NotPrincipal", Offset: n.off, Err: fmt.Errorf("%w: a statement has Principal or NotPrincipal, not both", ErrConflict)}
	}
	return st, nil
}

// elemOffset is the offset of element j of a string-or-list value.
func elemOffset(v *jnode, j int) int64 {
	if v.kind == jArray && j < len(v.arr) {
		return v.arr[j].off
	}
	return v.off
}

// stringList reads an element that is a string or a list of strings.
func stringList(v *jnode, field string) ([]string, error) {
	switch v.kind {
	case jString:
		return []string{v.s}, nil
	case jArray:
		out := make([]string, 0, len(v.arr))
		for i, e := range v.arr {
			if e.kind != jString {
				return nil, &ParseError{Field: fmt.Sprintf("%s[%d]", field, i), Offset: e.off, Err: fmt.Errorf("%w: want a string", ErrInvalidValue)}
			}
			out = append(out, e.s)
		}
		return out, nil
	}
	return nil, &ParseError{Field: field, Offset: v.off, Err: fmt.Errorf("%w: want a string or a list of strings", ErrInvalidValue)}
}

func parsePrincipals(v *jnode, field string) (*Principals, error) {
	p := &Principals{}
	if v.kind == jString {
		if v.s != "*" {
			return nil, &ParseError{Field: field, Offset: v.off, Err: fmt.Errorf("%w: a string principal must be \"*\"; use {\"AWS\": …}", ErrInvalidValue)}
		}
		p.Any = true
		return p, nil
	}
	if v.kind != jObject {
		return nil, &ParseError{Field: field, Offset: v.off, Err: fmt.Errorf("%w: want \"*\" or an object", ErrInvalidValue)}
	}
	seen := map[string]bool{}
	for i, k := range v.keys {
		f := field + "." + k
		if seen[k] {
			return nil, &ParseError{Field: f, Offset: v.koffs[i], Err: fmt.Errorf("%w principal type", ErrDuplicate)}
		}
		seen[k] = true
		l, err := stringList(v.vals[i], f)
		if err != nil {
			return nil, err
		}
		switch k {
		case "AWS":
			p.AWS = l
		case "Service":
			p.Service = l
		case "Federated":
			p.Federated = l
		case "CanonicalUser":
			p.CanonicalUser = l
		default:
			return nil, &ParseError{Field: f, Offset: v.koffs[i], Err: fmt.Errorf("%w principal type %q (want AWS, Service, Federated, CanonicalUser)", ErrUnknownElement, k)}
		}
	}
	return p, nil
}

func parseConditions(v *jnode, field string) ([]ConditionDoc, error) {
	if v.kind != jObject {
		return nil, &ParseError{Field: field, Offset: v.off, Err: fmt.Errorf("%w: Condition must be an object", ErrInvalidValue)}
	}
	var out []ConditionDoc
	for i, op := range v.keys {
		f := field + "." + op
		spec, err := parseOperator(op)
		if err != nil {
			return nil, &ParseError{Field: f, Offset: v.koffs[i], Err: err}
		}
		for j := 0; j < i; j++ {
			if v.keys[j] == op {
				return nil, &ParseError{Field: f, Offset: v.koffs[i], Err: fmt.Errorf("%w condition operator", ErrDuplicate)}
			}
		}
		block := v.vals[i]
		if block.kind != jObject {
			return nil, &ParseError{Field: f, Offset: block.off, Err: fmt.Errorf("%w: a condition operator maps keys to values", ErrInvalidValue)}
		}
		for ki, key := range block.keys {
			kf := f + "." + key
			for j := 0; j < ki; j++ {
				if strings.EqualFold(block.keys[j], key) {
					return nil, &ParseError{Field: kf, Offset: block.koffs[ki], Err: fmt.Errorf("%w condition key", ErrDuplicate)}
				}
			}
			vals, err := conditionValues(block.vals[ki], kf)
			if err != nil {
				return nil, err
			}
			for _, s := range vals {
				if err := spec.validate(s); err != nil {
					return nil, &ParseError{Field: kf, Offset: block.vals[ki].off, Err: err}
				}
			}
			out = append(out, ConditionDoc{Operator: op, Key: key, Values: vals})
		}
	}
	return out, nil
}

func conditionValues(v *jnode, field string) ([]string, error) {
	scalar := func(e *jnode, f string) (string, error) {
		switch e.kind {
		case jString, jNumber:
			return e.s, nil
		case jBool:
			return strconv.FormatBool(e.b), nil
		}
		return "", &ParseError{Field: f, Offset: e.off, Err: fmt.Errorf("%w: a condition value is a string, number or boolean", ErrInvalidValue)}
	}
	if v.kind == jArray {
		out := make([]string, 0, len(v.arr))
		for i, e := range v.arr {
			s, err := scalar(e, fmt.Sprintf("%s[%d]", field, i))
			if err != nil {
				return nil, err
			}
			out = append(out, s)
		}
		return out, nil
	}
	s, err := scalar(v, field)
	if err != nil {
		return nil, err
	}
	return []string{s}, nil
}

// A small JSON tree that remembers where each value starts.

type jkind uint8

const (
	jString jkind = iota
	jNumber
	jBool
	jNull
	jArray
	jObject
)

type jnode struct {
	kind  jkind
	off   int64
	s     string
	b     bool
	arr   []*jnode
	keys  []string
	koffs []int64
	vals  []*jnode
}

const maxDepth = 64

// parseJSON reads one JSON value into a tree that remembers where each
// value starts. It is a small hand-written scanner: policies are parsed in
// bulk when an account is loaded, and encoding/json's token API costs
// several allocations per token.
func parseJSON(data []byte) (*jnode, error) {
	sc := jscanner{data: data}
	n, err := sc.value(0)
	if err != nil {
		return nil, err
	}
	sc.skipSpace()
	if sc.pos < len(data) {
		return nil, sc.errorf("%w: data after the policy object", ErrSyntax)
	}
	return n, nil
}

type jscanner struct {
	data []byte
	pos  int
}

func (s *jscanner) errorf(format string, args ...any) error {
	return &ParseError{Offset: int64(s.pos), Err: fmt.Errorf(format, args...)}
}

func (s *jscanner) unexpected() error {
	if s.pos >= len(s.data) {
		return s.errorf("%w: unexpected end of document", ErrSyntax)
	}
	return s.errorf("%w: invalid character %q", ErrSyntax, s.data[s.pos])
}

func (s *jscanner) skipSpace() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\r', '\n':
			s.pos++
		default:
			return
		}
	}
}

func (s *jscanner) value(depth int) (*jnode, error) {
	s.skipSpace()
	if s.pos >= len(s.data) {
		return nil, s.unexpected()
	}
	if depth > maxDepth {
		return nil, s.errorf("%w: nested deeper than %d", ErrSyntax, maxDepth)
	}
	n := &jnode{off: int64(s.pos)}
	switch c := s.data[s.pos]; {
	case c == '{':
		n.kind = jObject
		s.pos++
		s.skipSpace()
		if s.pos < len(s.data) && s.data[s.pos] == '}' {
			s.pos++
			return n, nil
		}
		for {
			s.skipSpace()
			koff := int64(s.pos)
			if s.pos >= len(s.data) || s.data[s.pos] != '"' {
				return nil, s.unexpected()
			}
			k, err := s.str()
			if err != nil {
				return nil, err
			}
			s.skipSpace()
			if s.pos >= len(s.data) || s.data[s.pos] != ':' {
				return nil, s.unexpected()
			}
			s.pos++
			v, err := s.value(depth + 1)
			if err != nil {
				return nil, err
			}
			n.keys = append(n.keys, k)
			n.koffs = append(n.koffs, koff)
			n.vals = append(n.vals, v)
			if done, err := s.next('}'); err != nil || done {
				return n, err
			}
		}
	case c == '[':
		n.kind = jArray
		s.pos++
		s.skipSpace()
		if s.pos < len(s.data) && s.data[s.pos] == ']' {
			s.pos++
			return n, nil
		}
		for {
			v, err := s.value(depth + 1)
			if err != nil {
				return nil, err
			}
			n.arr = append(n.arr, v)
			if done, err := s.next(']'); err != nil || done {
				return n, err
			}
		}
	case c == '"':
		str, err := s.str()
		if err != nil {
			return nil, err
		}
		n.kind, n.s = jString, str
	case c == 't' || c == 'f' || c == 'n':
		for _, lit := range [...]string{"true", "false", "null"} {
			if bytes.HasPrefix(s.data[s.pos:], []byte(lit)) {
				s.pos += len(lit)
				n.kind, n.b = jBool, lit == "true"
				if lit == "null" {
					n.kind = jNull
				}
				return n, nil
			}
		}
		return nil, s.unexpected()
	case c == '-' || ('0' <= c && c <= '9'):
		start := s.pos
		if err := s.number(); err != nil {
			return nil, err
		}
		n.kind, n.s = jNumber, string(s.data[start:s.pos])
	default:
		return nil, s.unexpected()
	}
	return n, nil
}

// next consumes "," (more to come) or the closing delimiter (done).
func (s *jscanner) next(closing byte) (done bool, err error) {
	s.skipSpace()
	if s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ',':
			s.pos++
			return false, nil
		case closing:
			s.pos++
			return true, nil
		}
	}
	return false, s.unexpected()
}

// str reads a string; escapes and invalid UTF-8 go through encoding/json
// so that decoding matches it exactly.
func (s *jscanner) str() (string, error) {
	start := s.pos
	s.pos++
	simple := true
	for s.pos < len(s.data) {
		c := s.data[s.pos]
		switch {
		case c == '"':
			s.pos++
			raw := s.data[start+1 : s.pos-1]
			if simple && utf8.Valid(raw) {
				return string(raw), nil
			}
			var out string
			if err := json.Unmarshal(s.data[start:s.pos], &out); err != nil {
				s.pos = start
				return "", s.errorf("%w: bad string: %v", ErrSyntax, err)
			}
			return out, nil
		case c == '\\':
			simple = false
			s.pos++
			if s.pos >= len(s.data) {
				return "", s.unexpected()
			}
			switch s.data[s.pos] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.pos++
			case 'u':
				s.pos++
				for i := 0; i < 4; i++ {
					if s.pos >= len(s.data) || !isHex(s.data[s.pos]) {
						return "", s.unexpected()
					}
					s.pos++
				}
			default:
				return "", s.errorf("%w: invalid escape %q", ErrSyntax, s.data[s.pos])
			}
		case c < 0x20:
			return "", s.errorf("%w: control character in string", ErrSyntax)
		default:
			s.pos++
		}
	}
	return "", s.unexpected()
}

func isHex(c byte) bool {
	return ('0' <= c && c <= '9') || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F')
}

// number checks the JSON number grammar: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *jscanner) number() error {
	digits := func() int {
		n := 0
		for s.pos < len(s.data) && '0' <= s.data[s.pos] && s.data[s.pos] <= '9' {
			s.pos++
			n++
		}
		return n
	}
	if s.data[s.pos] == '-' {
		s.pos++
	}
	if s.pos < len(s.data) && s.data[s.pos] == '0' {
		s.pos++
	} else if digits() == 0 {
		return s.unexpected()
	}
	if s.pos < len(s.data) && s.data[s.pos] == '.' {
		s.pos++
		if digits() == 0 {
			return s.unexpected()
		}
	}
	if s.pos < len(s.data) && (s.data[s.pos] == 'e' || s.data[s.pos] == 'E') {
		s.pos++
		if s.pos < len(s.data) && (s.data[s.pos] == '+' || s.data[s.pos] == '-') {
			s.pos++
		}
		if digits() == 0 {
			return s.unexpected()
		}
	}
	return nil
}

func quote(s string) string { return strconv.Quote(s) }
