package ingest

import (
	"encoding/json"
	"os"
	"reflect"
	"testing"
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
		if !reflect.DeepEqual(fast, ref) {
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
	} {
		t.Run(bad, func(t *testing.T) {
			var r record
			if err := parseRecord([]byte(bad), &r); err == nil {
				t.Fatalf("parseRecord(%s) = nil error, want a syntax error", bad)
			}
		})
	}
}
