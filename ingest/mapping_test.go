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
