package ingest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
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

// Fields of the wrong type are left empty (encoding/json differs only in
// keeping a "null" RawMessage and allocating the pointer).
func TestParseRecordWrongTypes(t *testing.T) {
	var r record
	raw := `{"eventName":5,"eventTime":null,"userIdentity":"str","Records":null,"detail":{"a":[1,2,{"b":true}]},"CloudTrailEvent":"{}"}`
	if err := parseRecord([]byte(raw), &r); err != nil {
		t.Fatal(err)
	}
	if r.EventName != "" || r.EventTime != "" || r.UserIdentity != nil || r.Records != nil || string(r.Detail) != `{"a":[1,2,{"b":true}]}` || *r.CloudTrailEvent != "{}" {
		t.Fatalf("parsed %+v", r)
	}
}

func TestParseRecordRejects(t *testing.T) {
	for _, bad := range []string{
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
// word-at-a-time search.
func stringEndNaive(b []byte, i int) (end int, esc, ok bool) {
	for m := i + 1; m < len(b); m++ {
		switch b[m] {
		case '\\':
			esc = true
			m++
		case '"':
			return m + 1, esc, true
		}
	}
	return 0, false, false
}

func TestStringEnd(t *testing.T) {
	// Every length around the word boundaries and past the word loop,
	// with a quote, an escaped quote or an escaped backslash at each
	// position, with and without a closing quote and trailing bytes.
	var cases [][]byte
	for n := 0; n <= 8*swarWords+12; n++ {
		body := bytes.Repeat([]byte("a"), n)
		cases = append(cases, []byte(`"`+string(body)+`"`), []byte(`"`+string(body)+`", "x"`), []byte(`"`+string(body)))
		for at := 0; at < n; at++ {
			for _, ins := range []string{`\"`, `\\`, `\n`, `"`} {
				s := string(body[:at]) + ins + string(body[at:])
				cases = append(cases, []byte(`"`+s+`"`), []byte(`"`+s+`":1}`), []byte(`"`+s))
			}
		}
	}
	cases = append(cases, []byte(`"é\u00e9 日本"`), []byte{'"', 0xff, 0x80, '"'})
	for _, c := range cases {
		for _, pre := range []string{"", "xx"} {
			b := append([]byte(pre), c...)
			p := &jsonParser{b: b, i: len(pre)}
			end, esc, err := p.stringEnd()
			wantEnd, wantEsc, ok := stringEndNaive(b, len(pre))
			if ok != (err == nil) || end != wantEnd || esc != wantEsc {
				t.Fatalf("stringEnd(%q at %d) = %d, %v, %v; want %d, %v, ok=%v", b, len(pre), end, esc, err, wantEnd, wantEsc, ok)
			}
		}
	}
}

// FuzzSkip checks skip against encoding/json's validator: every valid
// value is passed over whole, and what skip accepts is valid unless a
// string holds an escape or a control byte (which skip does not check).
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
		lax := strings.ContainsFunc(v, func(r rune) bool { return r == '\\' || r < 0x20 })
		if whole && !valid && !lax {
			t.Fatalf("skip(%q) passed over an invalid value", v)
		}
	})
}
