package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/iamd/iamd/analyzer/catalog"
)

func TestRedactSecrets(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"no secret", `{"accessKeyId":"AKIA1"}`, `{"accessKeyId":"AKIA1"}`},
		{"create access key", `{"accessKey":{"accessKeyId":"AKIA1","secretAccessKey":"wJalr/K7MDENG","status":"Active"}}`,
			`{"accessKey":{"accessKeyId":"AKIA1","secretAccessKey":"REDACTED","status":"Active"}}`},
		{"sts credentials, spaces, other case", `{"credentials": {"SessionToken" : "FwoG\"ZX", "SecretAccessKey":"abc"}}`,
			`{"credentials": {"SessionToken" : "REDACTED", "SecretAccessKey":"REDACTED"}}`},
		{"truncated value", `{"secretAccessKey":"wJalr/K7`, `{"secretAccessKey":"REDACTED`},
		{"non-string value left alone", `{"sessionToken":null}`, `{"sessionToken":null}`},
		{"name as a value is not a member", `{"x":"sessionToken"}`, `{"x":"sessionToken"}`},
		{"escaped once, in a lookup-events string",
			`{"CloudTrailEvent":"{\"credentials\":{\"sessionToken\":\"FwoGZX\/abc=\",\"expiration\":1}}"}`,
			`{"CloudTrailEvent":"{\"credentials\":{\"sessionToken\":\"REDACTED\",\"expiration\":1}}"}`},
		{"escaped once, pretty-printed",
			`"{\n  \"SecretAccessKey\" :\n \"wJalr\"\n}"`,
			`"{\n  \"SecretAccessKey\" :\n \"REDACTED\"\n}"`},
		{"escaped twice", `"{\"d\":\"{\\\"sessionToken\\\":\\\"tok\\\"}\"}"`,
			`"{\"d\":\"{\\\"sessionToken\\\":\\\"REDACTED\\\"}\"}"`},
		{"escaped, truncated record", `"{\"secretAccessKey\":\"wJalr`, `"{\"secretAccessKey\":\"REDACTED`},
		{"escaped, outer string ends first", `"{\"sessionToken\":\"abc"`, `"{\"sessionToken\":\"REDACTED"`},
		{"escaped quote delimiters must match", `"{\"sessionToken":"abc"`, `"{\"sessionToken":"abc"`},
		{"value with an escaped backslash", `{"sessionToken":"ab\\"}`, `{"sessionToken":"REDACTED"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(RedactSecrets([]byte(tc.in))); got != tc.want {
				t.Fatalf("RedactSecrets(%s) = %s, want %s", tc.in, got, tc.want)
			}
		})
	}
}

// Secrets in CloudTrail responseElements never reach the store: not via a
// quarantined record, not via Event.Raw.
func TestSecretsNotKept(t *testing.T) {
	const secret, token = "wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY", "FwoGZXIvYXdzEXAMPLETOKEN"
	resp := `"responseElements":{"accessKey":{"accessKeyId":"AKIAEXAMPLE2","secretAccessKey":"` + secret +
		`","status":"Active"},"credentials":{"sessionToken":"` + token + `"}},`
	good := strings.Replace(rec("e1", "CreateAccessKey"), `"eventID"`, resp+`"eventID"`, 1)
	bad := strings.Replace(good, "2024-01-02T03:04:05Z", "not-a-time", 1)
	cat, err := catalog.Load()
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewConverter(ConverterOptions{Catalog: cat, KeepRaw: true, Now: func() time.Time { return time.Unix(0, 0) }})
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.ConvertPayload(context.Background(), "t", []byte(`{"Records":[`+good+`,`+bad+`]}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Events) != 1 || len(out.Quarantined) != 1 {
		t.Fatalf("events %d, quarantined %d; want 1 and 1", len(out.Events), len(out.Quarantined))
	}
	for name, raw := range map[string][]byte{"Event.Raw": out.Events[0].Raw, "Quarantined.Raw": out.Quarantined[0].Raw} {
		s := string(raw)
		if !strings.Contains(s, `"accessKeyId":"AKIAEXAMPLE2"`) {
			t.Errorf("%s lost the rest of the record: %s", name, s)
		}
		if strings.Contains(s, secret) || strings.Contains(s, token) {
			t.Errorf("%s holds a secret: %s", name, s)
		}
	}
}

// A damaged lookup-events file is quarantined as it is, its records still
// strings in CloudTrailEvent: the escaped secrets in it are redacted too.
func TestSecretsNotKeptEscaped(t *testing.T) {
	const secret, token = "wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY", "FwoGZXIvYXdzEXAMPLETOKEN"
	inner := strings.Replace(rec("e1", "AssumeRole"), `"eventID"`, `"responseElements":{"credentials":{"accessKeyId":"ASIAEXAMPLE",`+
		`"secretAccessKey":"`+secret+`","sessionToken":"`+token+`"}},"eventID"`, 1)
	quoted, err := json.Marshal(inner)
	if err != nil {
		t.Fatal(err)
	}
	doc := `{"Events":[{"EventId":"e1","CloudTrailEvent":` + string(quoted) + `},{"EventId":"e2","CloudTrailEvent":` + string(quoted)
	for name, payload := range map[string]string{
		"truncated":  doc[:len(doc)-10],
		"bad syntax": strings.Replace(doc, `{"EventId":"e2"`, `{"EventId" "e2"`, 1) + `}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			out, err := testConverter(t).ConvertPayload(context.Background(), "lookup.json", []byte(payload))
			if err != nil {
				t.Fatal(err)
			}
			if len(out.Quarantined) == 0 {
				t.Fatalf("nothing quarantined from %q", payload)
			}
			for _, q := range out.Quarantined {
				if s := string(q.Raw); strings.Contains(s, secret) || strings.Contains(s, token[:12]) {
					t.Errorf("quarantined raw holds a secret: %s", s)
				}
			}
		})
	}
}

// FuzzRedactSecrets: never panics, leaves bytes without a secret member
// alone, and a redacted valid JSON document stays valid.
func FuzzRedactSecrets(f *testing.F) {
	f.Add([]byte(`{"accessKey":{"secretAccessKey":"abc\"d","status":"Active"}}`))
	f.Add([]byte(`{"SessionToken" :"x`))
	f.Add([]byte(`"sessionToken"`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		in := append([]byte(nil), raw...)
		out := RedactSecrets(raw)
		if !bytes.Equal(raw, in) {
			t.Fatal("RedactSecrets modified its input")
		}
		lower := strings.ToLower(string(raw))
		// A member may be quoted with escapes (inside a string): only a
		// name just after a quote can be one.
		if !strings.Contains(lower, `"secretaccesskey`) && !strings.Contains(lower, `"sessiontoken`) && !bytes.Equal(out, raw) {
			t.Fatalf("changed bytes without a secret member: %q -> %q", raw, out)
		}
		if json.Valid(raw) && !json.Valid(out) {
			t.Fatalf("valid JSON %q became invalid %q", raw, out)
		}
	})
}
