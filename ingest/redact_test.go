package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
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
		{"cognito identity credentials", `{"credentials":{"accessKeyId":"ASIA1","secretKey":"wJalr","sessionToken":"tok"}}`,
			`{"credentials":{"accessKeyId":"ASIA1","secretKey":"REDACTED","sessionToken":"REDACTED"}}`},
		{"identity center role credentials", `{"roleCredentials":{"accessKeyId":"ASIA1","secretAccessKey":"wJalr","sessionToken":"tok","expiration":1}}`,
			`{"roleCredentials":{"accessKeyId":"ASIA1","secretAccessKey":"REDACTED","sessionToken":"REDACTED","expiration":1}}`},
		{"service-specific credential", `{"serviceSpecificCredential":{"servicePassword":"pw","serviceUserName":"u"}}`,
			`{"serviceSpecificCredential":{"servicePassword":"REDACTED","serviceUserName":"u"}}`},
		{"user pool tokens", `{"authenticationResult":{"accessToken":"a","idToken":"b","refreshToken":"c","tokenType":"Bearer"}}`,
			`{"authenticationResult":{"accessToken":"REDACTED","idToken":"REDACTED","refreshToken":"REDACTED","tokenType":"Bearer"}}`},
		{"name spelt with \\u escapes", `{"session\\u0054oken":"tok","\\u0073ecretAccessKey":"k"}`, `{"session\\u0054oken":"REDACTED","\\u0073ecretAccessKey":"REDACTED"}`},
		{"escaped name inside a string", `"{\\"session\\\\u0054oken\\":\\"tok\\"}"`, `"{\\"session\\\\u0054oken\\":\\"REDACTED\\"}"`},
		{"name as a value stays", `{"x":"secretKey","y":"z"}`, `{"x":"secretKey","y":"z"}`},
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

// A quarantined record is damaged: redaction fails closed on every shape
// a secret may take there.
func TestRedactQuarantined(t *testing.T) {
	const key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY" // 40 characters, as AWS documents it
	const token = "FwoGZXIvYXdzEXAMPLETOKENabcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
	for _, tc := range []struct {
		name, in string
		secrets  []string // none may survive
		kept     []string // what must survive
	}{
		{"intact", `{"accessKeyId":"AKIA1","secretAccessKey":"` + key + `","status":"Active"}`, []string{key}, []string{`"accessKeyId":"AKIA1"`, `"status":"Active"`}},
		{"stray byte before the value", `{"secretAccessKey": x"` + key + `","status":"Active"}`, []string{key, "wJalr"}, []string{`"status":"Active"`}},
		{"value without quotes", `{"secretAccessKey": ` + key + `, "status":"Active"}`, []string{key, "wJalr"}, []string{`"status":"Active"`}},
		{"damaged member name", `{"secretAccessKez":"hunter22","status":"Active"}`, []string{"hunter22"}, []string{`"status":"Active"`}},
		{"damaged letter in the middle", `{"sessiomToken":"hunter22"}`, []string{"hunter22"}, nil},
		{"stray quote inside the value", `{"secretAccessKey":"wJalr"XUtnFEMI/K7MDENG","status":"Active"}`, []string{"wJalr", "XUtnFEMI", "K7MDENG"}, []string{`"status":"Active"`}},
		{"cognito secretKey, damaged", `{"credentials":{"secretKey":"sh0rt"pw","sessionToken":"` + token[:20] + `"`, []string{"sh0rt", "pw", token[:20]}, nil},
		{"name with \\u escapes, damaged", `{"secret\\u0041ccessKey": x"hunter22"}`, []string{"hunter22"}, nil},
		{"secret key without its name", `{"accessKeyId":"AKIAIOSFODNN7EXAMPLE","x":"` + key + `"`, []string{key}, []string{"AKIAIOSFODNN7EXAMPLE"}},
		{"session token without its name", `garbage ` + token + ` more`, []string{token}, []string{"garbage", "more"}},
		{"truncated", `{"sessionToken":"` + token[:30], []string{token[:30]}, nil},
		{"escaped in a string, damaged", `"{\\"sessionToken\\": x\\"` + token[:25] + `\\"}"`, []string{token[:25]}, nil},
		{"password in a JSON line", "{\"password\":hunter22\n{\"eventName\":\"GetUser\"}", []string{"hunter22"}, []string{`{"eventName":"GetUser"}`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := string(RedactQuarantined([]byte(tc.in)))
			for _, sec := range tc.secrets {
				if strings.Contains(got, sec) {
					t.Errorf("%q survives in %s", sec, got)
				}
			}
			for _, k := range tc.kept {
				if !strings.Contains(got, k) {
					t.Errorf("%q lost from %s", k, got)
				}
			}
		})
	}
}

// credentialMembers are the credential names as AWS spells them, for the
// fuzz plants.
var credentialMembers = []string{"secretAccessKey", "sessionToken", "secretKey", "servicePassword", "password", "privateKey",
	"accessToken", "refreshToken", "idToken", "clientSecret", "secretString", "authorizationToken", "SecretAccessKey", "SessionToken"}

// plantSecret builds a credential member in one of the damaged shapes
// quarantined records show, and the secret parts that must not survive.
func plantSecret(mode uint8, nameIdx uint8, seed uint64) (plant string, parts []string, last bool) {
	r := rand.New(rand.NewPCG(seed, 7))
	// Lowercase letters and digits: the masks ("REDACTED", "X") cannot
	// spell them.
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	n := 8 + r.IntN(57)
	if mode%10 == 8 {
		n = 40 + r.IntN(200) // a key or token without its name: by shape
	}
	b := make([]byte, n)
	for k := range b {
		b[k] = alphabet[r.IntN(len(alphabet))]
	}
	b[0], b[1] = 'k', '7' // letters and digits
	secret := string(b)
	name := credentialMembers[int(nameIdx)%len(credentialMembers)]
	switch mode % 10 {
	case 0:
		return `"` + name + `":"` + secret + `"`, []string{secret}, false
	case 1:
		return `"` + name + "\" : \"" + secret + `" `, []string{secret}, false
	case 2: // a stray byte before the value
		stray := "x#7\x00\xffq"[r.IntN(6)]
		return `"` + name + `": ` + string(stray) + `"` + secret + `"`, []string{secret}, false
	case 3: // no quotes
		return `"` + name + `":` + secret, []string{secret}, false
	case 4: // a damaged letter in the name
		nb := []byte(name)
		nb[r.IntN(len(nb))] = "qzjx"[r.IntN(4)]
		return `"` + string(nb) + `":"` + secret + `"`, []string{secret}, false
	case 5: // a stray quote inside the value
		cut := 4 + r.IntN(len(secret)-7)
		return `"` + name + `":"` + secret[:cut] + `"` + secret[cut:] + `"`, []string{secret[:cut], secret[cut:]}, false
	case 6: // a letter of the name as a \u escape
		k := r.IntN(len(name))
		return `"` + name[:k] + fmt.Sprintf(`\u%04x`, name[k]) + name[k+1:] + `":"` + secret + `"`, []string{secret}, false
	case 7: // inside a string (lookup-events)
		return `\"` + name + `\":\"` + secret + `\"`, []string{secret}, false
	case 8: // no name at all
		return `"note":"` + secret + `"`, []string{secret}, false
	}
	// truncated inside the value: the input ends there
	return `"` + name + `":"` + secret, []string{secret}, true
}

// FuzzRedactSecrets plants a secret, in one of the damaged shapes, at an
// arbitrary place of arbitrary input: it must never survive quarantine
// redaction. RedactSecrets itself must never panic, leave bytes without
// a credential member alone, and keep valid JSON valid.
func FuzzRedactSecrets(f *testing.F) {
	f.Add([]byte(`{"accessKey":{"secretAccessKey":"abc\"d","status":"Active"}}`), uint16(5), uint8(0), uint8(0), uint64(1))
	f.Add([]byte(`{"SessionToken" :"x`), uint16(1), uint8(2), uint8(1), uint64(2))
	f.Add([]byte(`"sessionToken"`), uint16(0), uint8(5), uint8(2), uint64(3))
	f.Add([]byte(`{"Records":[{"eventVersion":"1.08","responseElements":{"credentials":{`), uint16(70), uint8(4), uint8(0), uint64(4))
	f.Add([]byte("{\"a\":\"b\\\"\n"), uint16(3), uint8(7), uint8(3), uint64(5))
	f.Add([]byte(`\\\"x`), uint16(2), uint8(6), uint8(1), uint64(6))
	f.Fuzz(func(t *testing.T, data []byte, pos uint16, mode, nameIdx uint8, seed uint64) {
		in := append([]byte(nil), data...)
		out := RedactSecrets(data)
		if !bytes.Equal(data, in) {
			t.Fatal("RedactSecrets modified its input")
		}
		if json.Valid(data) && !json.Valid(out) {
			t.Fatalf("valid JSON %q became invalid %q", data, out)
		}
		if !bytes.Equal(out, data) && !strings.Contains(string(RedactSecrets(out)), redactedValue) {
			t.Fatalf("changed %q to %q without redacting", data, out)
		}

		plant, parts, last := plantSecret(mode, nameIdx, seed)
		at := int(pos) % (len(data) + 1)
		damaged := string(data[:at]) + plant
		if !last {
			damaged += string(data[at:])
		}
		got := string(RedactQuarantined([]byte(damaged)))
		around := string(data)
		for _, p := range parts {
			if strings.Count(got, p) > strings.Count(around, p) {
				t.Fatalf("secret %q survives quarantine redaction of %q:\n%q", p, damaged, got)
			}
		}
	})
}

// BenchmarkRedactSecrets redacts the invictus log files, intact JSON
// held in memory: the cost --keep-raw and republish add per record.
func BenchmarkRedactSecrets(b *testing.B) {
	_, raws := readInvictus(b)
	var size int64
	for _, raw := range raws {
		size += int64(len(raw))
	}
	b.SetBytes(size)
	for b.Loop() {
		for _, raw := range raws {
			RedactSecrets(raw)
		}
	}
}
