package ingest

import (
	"errors"
	"strings"
	"testing"
)

// The embedded table loads, so every target action and service prefix
// in it exists in the catalog (LoadMapping checks each one).
func TestMappingTableValid(t *testing.T) {
	c := testConverter(t)
	m, err := LoadMapping(c.cat)
	if err != nil {
		t.Fatalf("LoadMapping: %v", err)
	}
	if got := len(m.entries); got < 100 {
		t.Fatalf("%d entries, want the full table (>= 100)", got)
	}
	// Actions produced in code rather than by the table.
	for _, a := range []string{
		"dynamodb:PartiQLSelect", "dynamodb:PartiQLInsert", "dynamodb:PartiQLUpdate", "dynamodb:PartiQLDelete",
		"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:ConditionCheckItem", "dynamodb:GetItem",
	} {
		got, ok := c.cat.Lookup(a)
		if !ok || got.FullName() != a {
			t.Errorf("catalog has no %s (got %q)", a, got.FullName())
		}
	}
}

func TestParseMappingRejects(t *testing.T) {
	c := testConverter(t)
	for _, tc := range []struct{ name, table, want string }{
		{"unknown action", "action\ts3\tListBuckets\ts3:ListBuckets\n", `"s3:ListBuckets" is not in the catalog`},
		{"unknown prefix", "source\tfoo\tnotaservice\n", `"notaservice" is not in the catalog`},
		{"duplicate", "none\tsts\tGetCallerIdentity\tx\nnone\tsts\tGetCallerIdentity\ty\n", "mapped twice"},
		{"bad line", "action\ts3\n", "cannot parse"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseMapping(c.cat, []byte(tc.table))
			if !errors.Is(err, ErrMapping) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want ErrMapping containing %q", err, tc.want)
			}
		})
	}
}

func TestMappingCanonicalCase(t *testing.T) {
	c := testConverter(t)
	m, err := ParseMapping(c.cat, []byte("action\ts3\tGetBucketCors\ts3:getbucketcors\n"))
	if err != nil {
		t.Fatal(err)
	}
	acts, _, ok := m.Actions("s3.amazonaws.com", "GetBucketCors", nil)
	if !ok || len(acts) != 1 || acts[0] != "s3:GetBucketCORS" {
		t.Fatalf("Actions = %v %v, want [s3:GetBucketCORS]", acts, ok)
	}
}

// Repeated look-ups come from the memo; DynamoDB's request-dependent
// calls must not, or the first statement's verb would stick.
func TestMappingResolveMemo(t *testing.T) {
	c := testConverter(t)
	m, err := LoadMapping(c.cat)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		source, name, params, want string
	}{
		{"s3.amazonaws.com", "ListObjectsV2", "", "s3:ListBucket"},
		{"s3.amazonaws.com", "ListObjectsV2", "", "s3:ListBucket"},
		{"lambda.amazonaws.com", "GetFunction20150331v2", "", "lambda:GetFunction"},
		{"lambda.amazonaws.com", "GetFunction20150331v2", "", "lambda:GetFunction"},
		{"dynamodb.amazonaws.com", "ExecuteStatement", `{"statement":"SELECT * FROM t"}`, "dynamodb:PartiQLSelect"},
		{"dynamodb.amazonaws.com", "ExecuteStatement", `{"statement":"DELETE FROM t"}`, "dynamodb:PartiQLDelete"},
		{"dynamodb.amazonaws.com", "ExecuteStatement", `{"statement":"SELECT\n  * FROM t"}`, "dynamodb:PartiQLSelect"},
		{"dynamodb.amazonaws.com", "ExecuteStatement", `{"statement":"\tupdate\tt SET a=1"}`, "dynamodb:PartiQLUpdate"},
		{"dynamodb.amazonaws.com", "ExecuteStatement", `{"statement":"SELECT * FROM t"}`, "dynamodb:PartiQLSelect"},
	} {
		acts, _, ok := m.Actions(tc.source, tc.name, []byte(tc.params))
		if got := strings.Join(acts, ","); !ok || got != tc.want {
			t.Errorf("Actions(%s, %s, %s) = %q %v, want %q", tc.source, tc.name, tc.params, got, ok, tc.want)
		}
	}
	if n := m.cachedNames.Load(); n != 2 {
		t.Errorf("%d names memoized, want 2 (s3 and lambda, not dynamodb)", n)
	}
}
