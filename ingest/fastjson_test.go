package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
	"unsafe"
)

// Every record of the shared samples parses to the same fields with the
// fast parser as with encoding/json.
func TestParseRecordMatchesEncodingJSON(t *testing.T) {
	var raws []json.RawMessage
	for _, f := range sharedFiles(t) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var file struct{ Records []json.RawMessage }
		if json.Unmarshal(b, &file) == nil && len(file.Records) > 0 {
			raws = append(raws, file.Records...)
		}
	}
	if len(raws) < 3000 {
		t.Fatalf("only %d records found in the samples", len(raws))
	}
	extra := []string{
		rec("e1", "GetUser"),
		`{"eventName":"a\"b\\c\u00e9","userIdentity":{"type":"X","sessionContext":{"sessionIssuer":{"arn":"x"}}},"resources":null,"requestParameters":null}`,
		`{"EVENTNAME":"upper","UserIdentity":{"TYPE":"Root"}}`,
		`{ "eventSource" : "s3.amazonaws.com" , "x" : [ ] , "y" : { } , "z": -1.5e+3 }`,
	}
	for _, e := range extra {
		raws = append(raws, json.RawMessage(e))
	}
	for i, raw := range raws {
		var fast, ref record
		if err := parseRecord(raw, &fast); err != nil {
			t.Fatalf("record %d: parseRecord: %v\n%s", i, err, raw)
		}
		if err := unmarshalRecord(raw, &ref); err != nil {
			t.Fatalf("record %d: encoding/json: %v", i, err)
		}
		if !reflect.DeepEqual(exported(fast), exported(ref)) {
			t.Fatalf("record %d differs:\nfast %+v\n ref %+v\n%s", i, fast, ref, raw)
		}
	}
}

// Fields of the wrong type are left as they were, empty here; a struct
// behind a pointer is allocated, as encoding/json does (which differs
// only in keeping a "null" RawMessage).
func TestParseRecordWrongTypes(t *testing.T) {
	var r record
	raw := `{"eventName":5,"eventTime":null,"userIdentity":"str","Records":null,"detail":{"a":[1,2,{"b":true}]},"CloudTrailEvent":"{}"}`
	if err := parseRecord([]byte(raw), &r); err != nil {
		t.Fatal(err)
	}
	if r.EventName != "" || r.EventTime != "" || r.UserIdentity == nil || *r.UserIdentity != (userIdentity{}) || r.Records != nil || string(r.Detail) != `{"a":[1,2,{"b":true}]}` || *r.CloudTrailEvent != "{}" {
		t.Fatalf("parsed %s", dump(r))
	}
}

// Members of the same name, of null and of the wrong type are read as
// encoding/json reads them: the last string wins, null and other types
// leave a string as it was, objects merge, and null clears a pointer.
func TestParseRecordRepeatedMembers(t *testing.T) {
	for _, tc := range []struct {
		raw   string
		check func(r *record) bool
	}{
		{`{"eventName":"a","eventName":"b"}`, func(r *record) bool { return r.EventName == "b" }},
		{`{"eventName":"a","eventName":null,"eventName":7,"EVENTNAME":[1]}`, func(r *record) bool { return r.EventName == "a" }},
		{`{"userIdentity":{"type":"IAMUser"},"userIdentity":{"arn":"x"}}`, func(r *record) bool {
			return r.UserIdentity != nil && r.UserIdentity.Type == "IAMUser" && r.UserIdentity.ARN == "x"
		}},
		{`{"userIdentity":{"type":"IAMUser"},"userIdentity":null}`, func(r *record) bool { return r.UserIdentity == nil }},
		{`{"userIdentity":{"type":"IAMUser"},"userIdentity":null,"userIdentity":{"arn":"x"}}`, func(r *record) bool {
			return r.UserIdentity != nil && r.UserIdentity.Type == "" && r.UserIdentity.ARN == "x"
		}},
		{`{"userIdentity":{"sessionContext":{"sourceIdentity":"s"},"sessionContext":null}}`, func(r *record) bool {
			return r.UserIdentity.SessionContext == nil
		}},
		{`{"userIdentity":{"onBehalfOf":{"userId":"u"},"onBehalfOf":{"identityStoreArn":"a"}}}`, func(r *record) bool {
			o := r.UserIdentity.OnBehalfOf
			return o != nil && o.UserID == "u" && o.IdentityStoreARN == "a"
		}},
		{`{"CloudTrailEvent":"{}","CloudTrailEvent":null}`, func(r *record) bool { return r.CloudTrailEvent == nil }},
		{`{"CloudTrailEvent":"{}","CloudTrailEvent":5}`, func(r *record) bool { return r.CloudTrailEvent != nil && *r.CloudTrailEvent == "{}" }},
		{`{"CloudTrailEvent":5}`, func(r *record) bool { return r.CloudTrailEvent == nil }}, // not a wrapped record
	} {
		t.Run(tc.raw, func(t *testing.T) {
			var r record
			if err := parseRecord([]byte(tc.raw), &r); err != nil {
				t.Fatal(err)
			}
			if !tc.check(&r) {
				t.Fatalf("parsed %s", dump(r))
			}
		})
	}
}

// Keys are matched as encoding/json matches them: case-insensitively,
// with its Unicode folding.
func TestParseRecordKeyFolding(t *testing.T) {
	for _, tc := range []struct{ raw, want string }{
		{`{"EVENTNAME":"a"}`, "a"},
		{`{"eventname":"a"}`, "a"},
		{`{"event\u004eame":"a"}`, "a"},
		{`{"eventName":"a","EventName":"b"}`, "b"},
		{`{"eventNaMe` + "\u212a" + `":"a"}`, ""}, // Kelvin sign: eventnamek is no field
		{`{"ſtatement":"x","eventName":"` + "K" + `"}`, "K"},
	} {
		var r record
		if err := parseRecord([]byte(tc.raw), &r); err != nil {
			t.Fatalf("parseRecord(%s): %v", tc.raw, err)
		}
		if r.EventName != tc.want {
			t.Errorf("parseRecord(%s).EventName = %q, want %q", tc.raw, r.EventName, tc.want)
		}
	}
	// "ſ" folds to S and the Kelvin sign to K in encoding/json.
	var r record
	if err := parseRecord([]byte(`{"eventſource":"s3.amazonaws.com","userIdentity":{"accessKeyId":"a","accessKeyıd":"b"},"requestParameters":{"bucketName":"x","Key":"k"}}`), &r); err != nil {
		t.Fatal(err)
	}
	if r.EventSource != "s3.amazonaws.com" || r.UserIdentity.AccessKeyID != "b" || r.params.Key != "k" {
		t.Fatalf("folded keys not matched: %s, key %q", dump(r), r.params.Key)
	}
}

// Invalid UTF-8 in a string becomes U+FFFD, one per bad byte, as with
// encoding/json, in every string the parser reads: escaped or not,
// interned or not, the record's time (which then does not parse) and the
// request parameters that name resources.
func TestParseRecordInvalidUTF8(t *testing.T) {
	raw := []byte("{\"eventName\":\"Get\xffUser\",\"eventSource\":\"iam\xc3.amazonaws.com\",\"eventID\":\"id\xfe\xfe\"," +
		"\"eventTime\":\"2024\xff\",\"userIdentity\":{\"arn\":\"arn:aws:iam::1:user/\xe6\x97\"}," +
		"\"requestParameters\":{\"userName\":\"bob\xff\\n\"}}")
	want := map[string]string{
		"eventName": "Get\uFFFDUser", "eventSource": "iam\uFFFD.amazonaws.com", "eventID": "id\uFFFD\uFFFD",
		"eventTime": "2024\uFFFD", "arn": "arn:aws:iam::1:user/\uFFFD\uFFFD", "userName": "bob\uFFFD\n",
	}
	for _, strs := range []*interner{nil, newInterner()} {
		var r record
		if _, err := parseRecordPrefix(raw, &r, strs); err != nil {
			t.Fatal(err)
		}
		got := map[string]string{
			"eventName": r.EventName, "eventSource": r.EventSource, "eventID": r.EventID,
			"eventTime": r.EventTime, "arn": r.UserIdentity.ARN, "userName": r.params.UserName,
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("parsed %q, want %q", got, want)
		}
		var ref record
		if err := unmarshalRecord(raw, &ref); err != nil || ref.EventName != r.EventName || ref.UserIdentity.ARN != r.UserIdentity.ARN {
			t.Fatalf("encoding/json reads %q, %q (%v)", ref.EventName, ref.UserIdentity.ARN, err)
		}
	}
}

func TestParseRecordRejects(t *testing.T) {
	for _, bad := range []string{
		// Control bytes and bad escapes, in read and in skipped strings
		// and keys, short and long (past the word-at-a-time scan).
		"{\"eventName\":\"a\x01b\"}", "{\"x\":\"a\tb\"}", "{\"x\":{\"y\":[\"\n\"]}}", "{\"k\x00\":1}",
		"{\"x\":\"" + strings.Repeat("a", 100) + "\x1f\"}", "{\"x\":\"" + strings.Repeat("a", 100) + "\\q\"}",
		`{"eventName":"\q"}`, `{"x":"\x41"}`, `{"x":"\u12"}`, `{"x":"\u12g4"}`, `{"x":["\'"]}`, `{"a\zb":1}`,
		"{\"x\":\"\\u00e9\x02\"}", `{"x":"\`,
		`{"eventName":"x"`, `{"eventName":"x",}`, `{"a":tru}`, `{"a":[1,}`, `{"a" 1}`, `{"a":"x}`, `{"a":1} x`, `{"a":{"b":1]}`,
		// Inside skipped values.
		`{"a":01}`, `{"a":1.}`, `{"a":-}`, `{"a":1e}`, `{"a":[1 2]}`, `{"a":{"b" 1}}`, `{"a":{"b":1,}}`, `{"a":[1,]}`,
		`{"a":{1:2}}`, `{"a":[}`,
		// requestParameters, read field by field.
		`{"requestParameters":{"bucketName":"b","key":}}`, `{"requestParameters":{"bucketName":"b",}}`,
		`{"requestParameters":{"instancesSet":{"items":[{"instanceId":"i-1"},]}}}`, `{"requestParameters":{"names":["a" "b"]}}`, `{"a":{"b":[1,{"c":nul}]}}`, `{"a":` + strings.Repeat("[", maxSkipDepth+1) + strings.Repeat("]", maxSkipDepth+1) + `}`,
	} {
		t.Run(bad, func(t *testing.T) {
			var r record
			if err := parseRecord([]byte(bad), &r); err == nil {
				t.Fatalf("parseRecord(%s) = nil error, want a syntax error", bad)
			}
		})
	}
}

// exported is r without the parser's storage (UserIdentity still points
// to it), which encoding/json leaves empty.
func exported(r record) record {
	r.ui, r.sc = userIdentity{}, sessionContext{}
	r.params = requestParams{}
	return r
}

func TestInterner(t *testing.T) {
	in := newInterner()
	a := in.str(slotEventSource, []byte("s3.amazonaws.com"))
	b := in.str(slotEventSource, []byte("s3.amazonaws.com"))
	if a != "s3.amazonaws.com" || unsafe.StringData(a) != unsafe.StringData(b) {
		t.Errorf("second look-up of the same value gave a new string")
	}
	// Another value in the slot, then the first again, and the first in
	// another slot: the values are right and the map still shares them.
	if got := in.str(slotEventSource, []byte("iam.amazonaws.com")); got != "iam.amazonaws.com" {
		t.Errorf("slot after a new value = %q", got)
	}
	c := in.str(slotEventSource, []byte("s3.amazonaws.com"))
	d := in.str(slotUserAgent, []byte("s3.amazonaws.com"))
	if c != "s3.amazonaws.com" || unsafe.StringData(c) != unsafe.StringData(a) || unsafe.StringData(d) != unsafe.StringData(a) {
		t.Errorf("value seen before came back as %q, a new string", c)
	}
	long := bytes.Repeat([]byte("x"), maxInternedLen+1)
	if got := in.str(slotUserAgent, long); got != string(long) || len(in.m) != 2 {
		t.Errorf("long value: got %d bytes, %d interned; want it returned and not kept", len(got), len(in.m))
	}
	for i := range maxInterned + 10 {
		v := fmt.Sprintf("agent/%d", i)
		if got := in.str(slotUserAgent, []byte(v)); got != v {
			t.Fatalf("str(%q) = %q", v, got)
		}
	}
	if len(in.m) > maxInterned {
		t.Errorf("%d strings interned, want at most %d", len(in.m), maxInterned)
	}
	// Parsing with and without an interner gives the same record.
	raw := []byte(`{"eventSource":"s3.amazonaws.com","eventName":"GetObject","userAgent":"aws-cli/2",` +
		`"userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::1:assumed-role/r/s","sessionContext":{"sessionIssuer":{"arn":"arn:aws:iam::1:role/r"}}}}`)
	var r1, r2 record
	if _, err := parseRecordPrefix(raw, &r1, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := parseRecordPrefix(raw, &r2, in); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(exported(r1), exported(r2)) {
		t.Errorf("interned parse differs:\n%+v\n%+v", r1, r2)
	}
}

// stringEndNaive is stringEnd byte by byte, the reference for the
// word-at-a-time search: ok is false for an unterminated string, a
// control byte or a bad escape.
func stringEndNaive(b []byte, i int) (end int, esc, ok bool) {
	for m := i + 1; m < len(b); m++ {
		switch c := b[m]; {
		case c == '"':
			return m + 1, esc, true
		case c < 0x20:
			return 0, false, false
		case c == '\\':
			esc = true
			if m+1 >= len(b) {
				return 0, false, false
			}
			switch b[m+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				m++
			case 'u':
				if m+6 > len(b) {
					return 0, false, false
				}
				for _, h := range b[m+2 : m+6] {
					if !strings.ContainsRune("0123456789abcdefABCDEF", rune(h)) {
						return 0, false, false
					}
				}
				m += 5
			default:
				return 0, false, false
			}
		}
	}
	return 0, false, false
}

func TestStringEnd(t *testing.T) {
	// Every length around the word boundaries and past the word loop,
	// with a quote, an escaped quote or an escaped backslash at each
	// position, with and without a closing quote and trailing bytes.
	var cases [][]byte
	for n := 0; n <= 48; n++ {
		body := bytes.Repeat([]byte("a"), n)
		cases = append(cases, []byte(`"`+string(body)+`"`), []byte(`"`+string(body)+`", "x"`), []byte(`"`+string(body)))
		for at := 0; at < n; at++ {
			for _, ins := range []string{`\"`, `\\`, `\n`, `"`, "\x01", "\x1f", "\x7f", "\xff", `\q`, `\u00e9`, `\u00g9`, `\u00`} {
				s := string(body[:at]) + ins + string(body[at:])
				cases = append(cases, []byte(`"`+s+`"`), []byte(`"`+s+`":1}`), []byte(`"`+s))
			}
		}
	}
	cases = append(cases, []byte(`"é\u00e9 日本"`), []byte{'"', 0xff, 0x80, '"'})
	// A byte beyond ASCII at each position, before and after the quote.
	for n := 0; n <= 48; n++ {
		for at := 0; at <= n+1; at++ {
			body := bytes.Repeat([]byte("a"), n+2)
			body[at] = 0xc3
			cases = append(cases, append(append([]byte(`"`), body[:n]...), append([]byte(`"`), body[n:]...)...))
		}
	}
	for _, c := range cases {
		for _, pre := range []string{"", "xx"} {
			b := append([]byte(pre), c...)
			p := &jsonParser{b: b, i: len(pre)}
			end, info, err := p.stringEnd()
			wantEnd, wantEsc, ok := stringEndNaive(b, len(pre))
			if ok != (err == nil) || end != wantEnd || (info&strEscaped != 0) != wantEsc {
				t.Fatalf("stringEnd(%q at %d) = %d, %v, %v; want %d, escaped %v, ok=%v", b, len(pre), end, info, err, wantEnd, wantEsc, ok)
			}
			if !ok || wantEsc {
				continue
			}
			if beyond := bytes.ContainsFunc(b[len(pre)+1:end-1], func(r rune) bool { return r >= utf8.RuneSelf }); beyond != (info == strNonASCII) {
				t.Fatalf("stringEnd(%q at %d) = %v; beyond ASCII: %v", b, len(pre), info, beyond)
			}
		}
	}
}

// FuzzSkip checks skip against encoding/json's validator: every valid
// value is passed over whole, and what skip passes over whole is valid.
func FuzzSkip(f *testing.F) {
	for _, v := range []string{
		`{"a":[1,2,{"b":true}],"c":null}`, `[]`, `{}`, `"x"`, ` -0.5e+3 `, `[1,}`, `{"a" 1}`, `tru`, `01`, `1.`,
		`{"a":{"b":1]}`, `[[[[]]]]`, `{"a":"\"}"}`, `[1,]`, `{"a":1,}`, `{"a":[{"b":[{"c":{}}]}]}`, `""`, `0`, `-`,
	} {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if strings.Count(v, "[")+strings.Count(v, "{") > maxSkipDepth {
			return
		}
		p := &jsonParser{b: []byte(v)}
		err := p.skip()
		if err == nil {
			p.ws()
		}
		whole := err == nil && p.i == len(v)
		valid := json.Valid([]byte(v))
		if valid && !whole {
			t.Fatalf("skip(%q): err %v, stopped at %d of %d; encoding/json finds it valid", v, err, p.i, len(v))
		}
		if whole && !valid {
			t.Fatalf("skip(%q) passed over an invalid value", v)
		}
	})
}

// FuzzParseRecord holds parseRecord to encoding/json (unmarshalRecord) on
// arbitrary input: both accept or both reject, and what they accept gives
// the same fields. Two answers of encoding/json are artifacts of its
// types and are set aside: a null Records, Events or detail stays "null"
// in its RawMessage (the parser leaves it nil, as the decoder branches on
// nil), and a CloudTrailEvent that is not a string gets a pointer to ""
// (the parser leaves it nil: only a string is a wrapped record). Run it
// with go test -run '^$' -fuzz FuzzParseRecord ./ingest.
func FuzzParseRecord(f *testing.F) {
	for _, s := range []string{
		rec("e1", "GetUser"),
		`{"eventName":"a\"b\\c\u00e9","userIdentity":{"type":"X","sessionContext":{"sessionIssuer":{"arn":"x"}}},"resources":null,"requestParameters":null}`,
		`{"EVENTNAME":"upper","UserIdentity":{"TYPE":"Root"}}`,
		`{ "eventSource" : "s3.amazonaws.com" , "x" : [ ] , "y" : { } , "z": -1.5e+3 }`,
		`{"eventName":5,"eventTime":null,"userIdentity":"str","Records":null,"detail":{"a":[1,2,{"b":true}]},"CloudTrailEvent":"{}"}`,
		`{"eventName":"x","eventName":null,"eventName":7}`,
		`{"userIdentity":{"type":"A"},"userIdentity":{"arn":"b"}}`,
		`{"userIdentity":{"type":"A"},"userIdentity":null}`,
		`{"eventName":"a` + "\x01" + `b"}`,
		`{"x":"\q"}`,
		"{\"eventName\":\"\xff\xfe\"}",
		`{"eventſource":"s3"}`,
		`{"requestParameters":{"bucketName":"b","key":"k"},"resources":[{"ARN":"arn:aws:s3:::b"}]}`,
		`[1,2]`, `null`, `"s"`, `000`, `[1] 2`, `null x`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if bytes.Count(raw, []byte("["))+bytes.Count(raw, []byte("{")) > maxSkipDepth {
			return
		}
		var fast, ref record
		ferr := parseRecord(raw, &fast)
		rerr := unmarshalRecord(raw, &ref)
		if errors.Is(ferr, errNotObject) {
			// A value that is not an object: encoding/json reports a
			// type error, which unmarshalRecord ignores, or nothing
			// (null).
			if rerr != nil {
				t.Fatalf("parseRecord(%q): not an object; encoding/json: %v", raw, rerr)
			}
			return
		}
		if (ferr == nil) != (rerr == nil) {
			t.Fatalf("parseRecord(%q) = %v; encoding/json: %v", raw, ferr, rerr)
		}
		if ferr != nil {
			return
		}
		for _, m := range []*json.RawMessage{&ref.Records, &ref.Events, &ref.Detail} {
			if string(*m) == "null" {
				*m = nil
			}
		}
		if fast.CloudTrailEvent == nil && ref.CloudTrailEvent != nil && *ref.CloudTrailEvent == "" {
			ref.CloudTrailEvent = nil
		}
		if !reflect.DeepEqual(exported(fast), exported(ref)) {
			t.Fatalf("parseRecord(%q) differs:\nfast %s\n ref %s", raw, dump(fast), dump(ref))
		}
	})
}

// dump shows a record with what its pointers hold.
func dump(r record) string {
	s := fmt.Sprintf("%+v", exported(r))
	if r.UserIdentity != nil {
		s += fmt.Sprintf("\n  userIdentity %+v", *r.UserIdentity)
		if r.UserIdentity.SessionContext != nil {
			s += fmt.Sprintf("\n  sessionContext %+v", *r.UserIdentity.SessionContext)
		}
		if r.UserIdentity.OnBehalfOf != nil {
			s += fmt.Sprintf("\n  onBehalfOf %+v", *r.UserIdentity.OnBehalfOf)
		}
	}
	if r.CloudTrailEvent != nil {
		s += fmt.Sprintf("\n  CloudTrailEvent %q", *r.CloudTrailEvent)
	}
	return s
}
