package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// Fuzz targets: `go test -fuzz=FuzzParse ./analyzer/policy` and so on. The
// default test run executes only the seeds below.

// FuzzJSON checks the hand-written JSON scanner against encoding/json:
// same accept/reject decision and the same values (last duplicate key wins
// in encoding/json).
func FuzzJSON(f *testing.F) {
	for _, s := range []string{`{"a": [1, -2.5e3, true, null, "x\u00e9\n"], "b": {}}`, `"\ud800"`, `[01]`, `{"a":1,"a":2}`, "\"\xff\"", `1e`, `[1,]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		n, err := parseJSON(data)
		valid := json.Valid(data)
		if err != nil {
			if valid && !strings.Contains(err.Error(), "nested deeper") {
				t.Fatalf("parseJSON rejects valid JSON %q: %v", data, err)
			}
			return
		}
		if !valid {
			t.Fatalf("parseJSON accepts invalid JSON %q", data)
		}
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		var want any
		if err := dec.Decode(&want); err != nil {
			t.Fatalf("encoding/json: %v", err)
		}
		if got := jnodeValue(n); !reflect.DeepEqual(got, want) {
			t.Fatalf("parseJSON(%q)=%#v, encoding/json %#v", data, got, want)
		}
	})
}

func jnodeValue(n *jnode) any {
	switch n.kind {
	case jString:
		return n.s
	case jNumber:
		return json.Number(n.s)
	case jBool:
		return n.b
	case jArray:
		out := []any{}
		for _, e := range n.arr {
			out = append(out, jnodeValue(e))
		}
		return out
	case jObject:
		out := map[string]any{}
		for i, k := range n.keys {
			out[k] = jnodeValue(n.vals[i])
		}
		return out
	}
	return nil
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "s3:Get*", "Resource": "arn:aws:s3:::b/${aws:username}/*"}}`))
	f.Add([]byte(`{"Statement": [{"Effect": "Deny", "NotAction": ["iam:*"], "NotResource": "*", "Principal": {"AWS": ["111111111111", "*"]},
		"Condition": {"ForAnyValue:StringLikeIfExists": {"aws:TagKeys": ["a*", 1, true]}, "IpAddress": {"aws:SourceIp": "10.0.0.0/8"}, "Null": {"k": "true"}}}]}`))
	f.Add([]byte(`{"Version": "2012-10-17", "Statement": [}`))
	f.Add([]byte(`%7B%22Version%22`))
	f.Add([]byte(`[[[[[[[[[[`))
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := Parse(data)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) || !strings.HasPrefix(err.Error(), "policy") {
				t.Fatalf("error is not a *ParseError with context: %v", err)
			}
			if pe.Offset < 0 || pe.Offset > int64(len(data)) {
				t.Fatalf("offset %d outside the %d-byte document: %v", pe.Offset, len(data), err)
			}
			return
		}
		p, err := Compile("fuzz", doc)
		if err != nil {
			t.Fatalf("Compile of a parsed document failed: %v", err)
		}
		req := &Request{Principal: "arn:aws:iam::111111111111:user/u", Action: "s3:GetObject", Resource: "arn:aws:s3:::b/u/x", ResourceAccount: "222222222222"}
		req.Context.Set("aws:username", "u")
		req.Context.SetList("aws:TagKeys", TypeString, []string{"a", "b"})
		set := &Set{Identity: []*Policy{p}, Boundary: []*Policy{p}, Resource: p, SCPs: []OrgLevel{{Policies: []*Policy{p}}}}
		var d Decision
		set.Evaluate(req, &d)
	})
}

// globRegexp is an independent reference for wildcard matching.
func globRegexp(p string, fold bool) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("^(?s)")
	if fold {
		b.WriteString("(?i)")
	}
	for _, r := range p {
		switch r {
		case '*':
			b.WriteString(".*")
		case '?':
			b.WriteString(".")
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}

func FuzzGlob(f *testing.F) {
	f.Add("arn:aws:s3:::b/*", "arn:aws:s3:::b/x")
	f.Add("a*b?c*", "aXbYcZ")
	f.Add("*a*a*b", "aaaaaaaaab")
	f.Add("ä?", "äö")
	f.Add("*??", "日")
	f.Add("Ü?*", "ÜBER")
	f.Fuzz(func(t *testing.T, pat, s string) {
		if !isASCIIorValid(pat) || !isASCIIorValid(s) {
			return
		}
		p := compilePattern(pat, false, true)
		got := p.match(s, nil, false)
		if want := globRegexp(pat, false).MatchString(s); got != want {
			t.Fatalf("match(%q, %q)=%v, regexp says %v", pat, s, got, want)
		}
		// Actions: lower-case pattern, ASCII case folding of the value
		// (only ASCII: the regexp's (?i) would fold "É" too).
		lp := strings.ToLower(pat)
		if got, want := globLower(lp, s), globRegexp(lp, false).MatchString(asciiLower(s)); got != want {
			t.Fatalf("globLower(%q, %q)=%v, regexp says %v", lp, s, got, want)
		}
		// With variables enabled the matcher must not panic.
		var ctx Context
		ctx.Set("k", s)
		pv := compilePattern(pat, true, true)
		pv.match(s, &ctx, true)
	})
}

func FuzzARN(f *testing.F) {
	f.Add("arn:aws:iam::*:role/*", "arn:aws:iam::111111111111:role/x")
	f.Add("arn:${aws:partition}:s3:::*", "arn:aws:s3:::b")
	f.Add("*", "")
	f.Fuzz(func(t *testing.T, pat, s string) {
		var ctx Context
		ctx.Set("aws:partition", "aws")
		ap := compileARNPattern(pat, true)
		got := ap.match(s, &ctx)
		// Without variables, a match implies the same number of parts
		// (up to six) and a part-wise match.
		if got && !strings.Contains(pat, "${") {
			pp, sp := strings.SplitN(pat, ":", 6), strings.SplitN(s, ":", 6)
			if len(pp) != len(sp) {
				t.Fatalf("ArnLike(%q, %q) matched with %d vs %d parts", pat, s, len(pp), len(sp))
			}
			for i := range pp {
				if !globRegexp(pp[i], false).MatchString(sp[i]) && isASCIIorValid(pp[i]) && isASCIIorValid(sp[i]) {
					t.Fatalf("ArnLike(%q, %q): part %d %q vs %q", pat, s, i, pp[i], sp[i])
				}
			}
		}
	})
}

func FuzzCondition(f *testing.F) {
	f.Add("StringLike", "a*", "abc", false)
	f.Add("ForAllValues:NumericLessThanIfExists", "10", "5", true)
	f.Add("DateGreaterThan", "2020-01-01T00:00:00Z", "1700000000", false)
	f.Add("NotIpAddress", "2001:db8::/32", "2001:db8::1", false)
	f.Add("ArnNotLike", "arn:aws:*:*:*:*", "arn:aws:s3:::b", true)
	f.Add("Null", "true", "", false)
	f.Add("BinaryEquals", "QUJD", "QUJD", false)
	f.Add("Bool", "true", "TRUE", false)
	f.Fuzz(func(t *testing.T, op, pv, rv string, multi bool) {
		cd := ConditionDoc{Operator: op, Key: "k:k", Values: []string{pv, "x"}}
		c, err := compileCondition(&cd, true)
		if err != nil {
			return
		}
		var ctx Context
		if multi {
			ctx.SetList("k:k", TypeString, []string{rv, rv + "1"})
		} else if rv != "" {
			ctx.Set("K:K", rv)
		}
		got := c.eval(&ctx)
		// An IfExists operator on an absent key is always true.
		if rv == "" && !multi && c.spec.ifExists && !got {
			t.Fatalf("%s on absent key = false", op)
		}
	})
}

func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func isASCIIorValid(s string) bool {
	return strings.ToValidUTF8(s, "") == s
}
