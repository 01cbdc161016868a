package policy

import (
	"errors"
	"strings"
	"testing"
)

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name   string
		doc    string
		field  string
		offset int64 // -2: do not check
		is     error
	}{
		{"syntax", `{"Version": "2012-10-17", "Statement": [}`, "", 40, ErrSyntax},
		{"truncated", `{"Version": "2012-10-17"`, "", 24, ErrSyntax},
		{"trailing", `{"Statement": []} x`, "", 18, ErrSyntax},
		{"url-encoded", `  %7B%22Version%22`, "", 2, ErrURLEncoded},
		{"not-object", `["a"]`, "", 0, ErrInvalidValue},
		{"bad-version", `{"Version": "2013-01-01", "Statement": []}`, "Version", 12, ErrInvalidValue},
		{"unknown-top", `{"Statement": [], "Foo": 1}`, "Foo", 18, ErrUnknownElement},
		{"duplicate-top", `{"Statement": [], "Statement": []}`, "Statement", 18, ErrDuplicate},
		{"missing-statement", `{"Version": "2012-10-17"}`, "Statement", -2, ErrMissingElement},
		{"unknown-effect", `{"Statement": {"Effect": "Permit", "Action": "*"}}`, "Statement[0].Effect", 25, ErrInvalidValue},
		{"missing-effect", `{"Statement": [{"Action": "*"}]}`, "Statement[0].Effect", 15, ErrMissingElement},
		{"both-actions", `{"Statement": [{"Effect": "Allow", "Action": "*", "NotAction": "*"}]}`, "Statement[0].NotAction", -2, ErrConflict},
		{"no-action", `{"Statement": [{"Effect": "Allow"}]}`, "Statement[0].Action", -2, ErrMissingElement},
		{"unknown-stmt-element", `{"Statement": [{"Effect": "Allow", "Action": "*", "Resources": "*"}]}`, "Statement[0].Resources", 50, ErrUnknownElement},
		{"duplicate-sid", `{"Statement": [{"Sid": "a", "Effect": "Allow", "Action": "*"}, {"Sid": "a", "Effect": "Allow", "Action": "*"}]}`, "Statement[1].Sid", 63, ErrDuplicate},
		{"unknown-operator", `{"Statement": [{"Effect": "Allow", "Action": "*", "Condition": {"StringEqualz": {"a:b": "c"}}}]}`, "Statement[0].Condition.StringEqualz", 64, ErrUnknownOperator},
		{"bad-number", `{"Statement": [{"Effect": "Allow", "Action": "*", "Condition": {"NumericEquals": {"a:b": "x"}}}]}`, "Statement[0].Condition.NumericEquals.a:b", 89, ErrInvalidValue},
		{"action-list-type", `{"Statement": [{"Effect": "Allow", "Action": ["s3:x", 1]}]}`, "Statement[0].Action[1]", 54, ErrInvalidValue},
		{"principal-string", `{"Statement": [{"Effect": "Allow", "Action": "*", "Principal": "me"}]}`, "Statement[0].Principal", 63, ErrInvalidValue},
		{"resource-not-arn", `{"Statement": [{"Effect": "Allow", "Action": "*", "Resource": ["*", "bucket"]}]}`, "Statement[0].Resource[1]", 68, ErrInvalidValue},
		{"deep", strings.Repeat("[", 100) + strings.Repeat("]", 100), "", -2, ErrSyntax},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.doc))
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("Parse()=%v, want a *ParseError", err)
			}
			if pe.Field != tt.field {
				t.Errorf("Field=%q, want %q (%v)", pe.Field, tt.field, err)
			}
			if tt.offset != -2 && pe.Offset != tt.offset {
				t.Errorf("Offset=%d, want %d (%v)", pe.Offset, tt.offset, err)
			}
			if !errors.Is(err, tt.is) {
				t.Errorf("errors.Is(%v, %v)=false", err, tt.is)
			}
		})
	}
}

func TestParseLenient(t *testing.T) {
	doc, err := Parse([]byte(`{"Version": "2012-10-17", "Id": "x", "Statement": {"Sid": "s", "Effect": "Allow",
		"Action": "s3:GetObject", "NotResource": ["arn:aws:s3:::a", "arn:aws:s3:::b"],
		"Principal": {"AWS": "*", "Service": ["ec2.amazonaws.com"], "Federated": "cognito-identity.amazonaws.com", "CanonicalUser": "abc"},
		"Condition": {"NumericLessThan": {"s3:max-keys": 10}, "Bool": {"aws:SecureTransport": true}, "StringEquals": {"a:b": ["x", "y"]}}}}`))
	if err != nil {
		t.Fatal(err)
	}
	st := doc.Statements[0]
	if got, want := len(doc.Statements), 1; got != want {
		t.Fatalf("statements=%d, want %d", got, want)
	}
	if st.Effect != EffectAllow || st.Action[0] != "s3:GetObject" || len(st.NotResource) != 2 || st.Resource != nil {
		t.Errorf("statement %+v", st)
	}
	if p := st.Principal; p == nil || p.AWS[0] != "*" || p.Service[0] != "ec2.amazonaws.com" || p.Federated[0] != "cognito-identity.amazonaws.com" || p.CanonicalUser[0] != "abc" {
		t.Errorf("principal %+v", st.Principal)
	}
	want := []ConditionDoc{
		{"NumericLessThan", "s3:max-keys", []string{"10"}},
		{"Bool", "aws:SecureTransport", []string{"true"}},
		{"StringEquals", "a:b", []string{"x", "y"}},
	}
	for i, c := range want {
		g := st.Conditions[i]
		if g.Operator != c.Operator || g.Key != c.Key || strings.Join(g.Values, ",") != strings.Join(c.Values, ",") {
			t.Errorf("condition %d = %+v, want %+v", i, g, c)
		}
	}
	if doc.Version != VersionCurrent || doc.ID != "x" {
		t.Errorf("version %q id %q", doc.Version, doc.ID)
	}
}

func TestPatternMatch(t *testing.T) {
	var ctx Context
	ctx.Set("aws:username", "al*ce")
	ctx.Set("aws:PrincipalTag/team", "blue")
	tests := []struct {
		pat, s     string
		vars, wild bool
		want       bool
	}{
		{"*", "", false, true, true},
		{"arn:aws:s3:::b/*", "arn:aws:s3:::b/x/y", false, true, true},
		{"arn:aws:s3:::b/*", "arn:aws:s3:::c/x", false, true, false},
		{"arn:aws:*:*", "arn:aws:s3:::b", false, true, true},
		{"a*b*c", "axxbyyc", false, true, true},
		{"a*b*c", "axxbyy", false, true, false},
		{"a?c", "abc", false, true, true},
		{"a?c", "ac", false, true, false},
		{"a?c", "aéc", false, true, true},
		{"*a*a*a*a*b", strings.Repeat("a", 200), false, true, false},
		{"a*", "a*", false, false, true},
		{"a*", "ab", false, false, false},
		{"home/${aws:username}/*", "home/al*ce/x", true, true, true},
		{"home/${aws:username}/*", "home/alice/x", true, true, false},
		{"home/${aws:username}/*", "home/${aws:username}/x", false, true, true},
		{"${aws:PrincipalTag/team}-${aws:missing}", "blue-", true, true, false},
		{"${aws:PrincipalTag/team}-${aws:missing, 'dflt'}", "blue-dflt", true, true, true},
		{"x${*}y${?}z${$}", "x*y?z$", true, true, true},
		{"x${*}y", "xAy", true, true, false},
		{"${unterminated", "${unterminated", true, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.pat+"~"+tt.s, func(t *testing.T) {
			p := compilePattern(tt.pat, tt.vars, tt.wild)
			if got := p.match(tt.s, &ctx, false); got != tt.want {
				t.Errorf("match(%q, %q)=%v, want %v", tt.pat, tt.s, got, tt.want)
			}
		})
	}
}

func TestARNPattern(t *testing.T) {
	tests := []struct {
		pat, s string
		want   bool
	}{
		{"arn:aws:iam::*:role/*", "arn:aws:iam::111111111111:role/a/b", true},
		{"arn:aws:iam::*", "arn:aws:iam::111111111111:role/a", false},
		{"arn:aws:*:*:*:*", "arn:aws:s3:::b", true},
		{"arn:aws:sns:*:1*:t", "arn:aws:sns:us-east-1:111111111111:t", true},
		{"arn:aws:logs:*:*:log-group:*", "arn:aws:logs:r:1:log-group:a:log-stream:b", true},
		{"arn:aws:sns:*:*:t", "not-an-arn", false},
		{"ARN:aws:sns:*:*:t", "arn:aws:sns:r:1:t", false},
	}
	for _, tt := range tests {
		ap := compileARNPattern(tt.pat, true)
		if got := ap.match(tt.s, nil); got != tt.want {
			t.Errorf("ArnLike(%q, %q)=%v, want %v", tt.pat, tt.s, got, tt.want)
		}
	}
}

func TestParseDate(t *testing.T) {
	tests := []struct {
		s    string
		sec  int64
		nsec int32
		ok   bool
	}{
		{"0", 0, 0, true},
		{"1767225600", 1767225600, 0, true},
		{"2026-01-01", 1767225600, 0, true},
		{"2026-01-01T00:00:00Z", 1767225600, 0, true},
		{"2026-01-01T00:00Z", 1767225600, 0, true},
		{"2026-01-01T01:00:00+01:00", 1767225600, 0, true},
		{"2025-12-31T19:00:00-0500", 1767225600, 0, true},
		{"2026-01-01T00:00:00.5Z", 1767225600, 500000000, true},
		{"2024-02-29", 1709164800, 0, true},
		{"2025-02-29", 0, 0, false},
		{"2026-13-01", 0, 0, false},
		{"2026-01-01T24:00:00Z", 0, 0, false},
		{"2026-01-01X", 0, 0, false},
		{"", 0, 0, false},
		{"yesterday", 0, 0, false},
	}
	for _, tt := range tests {
		d, ok := parseDate(tt.s)
		if ok != tt.ok || (ok && (d.sec != tt.sec || d.nsec != tt.nsec)) {
			t.Errorf("parseDate(%q)=%+v,%v, want {%d %d},%v", tt.s, d, ok, tt.sec, tt.nsec, tt.ok)
		}
	}
}

func TestStatementView(t *testing.T) {
	p, err := CompileJSON("view", []byte(`{"Version": "2012-10-17", "Statement": [
		{"Sid": "Read", "Effect": "Allow", "Action": ["s3:Get*", "s3:List*"], "Resource": "arn:aws:s3:::b/${aws:username}/*"},
		{"Effect": "Deny", "NotAction": "iam:*", "NotResource": "arn:aws:s3:::b", "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "false"}}},
		{"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"AWS": ["arn:aws:iam::111111111111:root", "arn:aws:iam::222222222222:role/x"]}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	st := p.Statements()
	if got, want := len(st), 3; got != want {
		t.Fatalf("statements=%d, want %d", got, want)
	}
	var ctx Context
	ctx.Set("aws:username", "alice")
	checks := []struct {
		name string
		got  any
		want any
	}{
		{"sid", st[0].Sid(), "Read"},
		{"policy", st[0].PolicyName(), "view"},
		{"effect", st[1].Effect(), EffectDeny},
		{"index", st[2].Index(), 2},
		{"action", st[0].MatchesAction("S3:GetObject"), true},
		{"action-miss", st[0].MatchesAction("s3:PutObject"), false},
		{"notaction", st[1].MatchesAction("s3:PutObject"), true},
		{"notaction-miss", st[1].MatchesAction("iam:GetUser"), false},
		{"resource-var", st[0].MatchesResource("arn:aws:s3:::b/alice/x", &ctx), true},
		{"resource-var-nil-ctx", st[0].MatchesResource("arn:aws:s3:::b/alice/x", nil), false},
		{"resource-has-vars", st[0].ResourceHasVariables(), true},
		{"notresource", st[1].MatchesResource("arn:aws:s3:::c", nil), true},
		{"no-resource-element", st[2].MatchesResource("arn:aws:iam::1:role/r", nil), true},
		{"has-conditions", st[1].HasConditions(), true},
		{"no-conditions", st[0].HasConditions(), false},
		{"conditions-match", st[1].ConditionsMatch(&ctx), false},
		{"principal-account", st[2].MatchesPrincipal("arn:aws:iam::111111111111:user/u"), PrincipalAccount},
		{"principal-role-session", st[2].MatchesPrincipal("arn:aws:sts::222222222222:assumed-role/x/s"), PrincipalRole},
		{"principal-none", st[2].MatchesPrincipal("arn:aws:iam::333333333333:user/u"), PrincipalNoMatch},
		{"principal-absent", st[0].MatchesPrincipal("arn:aws:iam::333333333333:user/u"), PrincipalExact},
		{"has-principal", p.HasPrincipal(), true},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
	if pats, not := st[1].Resources(); !not || pats[0] != "arn:aws:s3:::b" {
		t.Errorf("Resources()=%v,%v", pats, not)
	}
	if pats, not := st[0].Actions(); not || len(pats) != 2 {
		t.Errorf("Actions()=%v,%v", pats, not)
	}
	if pr, not := st[2].Principal(); not || pr == nil || len(pr.AWS) != 2 {
		t.Errorf("Principal()=%v,%v", pr, not)
	}
	if err := p.CheckLayer(LayerIdentity); !errors.Is(err, ErrWrongLayer) {
		t.Errorf("CheckLayer(identity)=%v, want ErrWrongLayer", err)
	}
	if err := p.CheckLayer(LayerResource); !errors.Is(err, ErrMissingElement) {
		t.Errorf("CheckLayer(resource)=%v, want ErrMissingElement", err)
	}
}
