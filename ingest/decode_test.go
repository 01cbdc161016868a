package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"

	"github.com/iamd/iamd/store"
)

// rec builds a minimal IAM-user record with the given eventID and name.
func rec(id, name string) string {
	return fmt.Sprintf(`{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","principalId":"AIDA1","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","accessKeyId":"AKIAEXAMPLE1","userName":"alice"},"eventTime":"2024-01-02T03:04:05Z","eventSource":"iam.amazonaws.com","eventName":%q,"awsRegion":"us-east-1","sourceIPAddress":"10.0.0.1","userAgent":"aws-cli","requestParameters":{"userName":"bob"},"eventID":%q,"recipientAccountId":"111122223333"}`, name, id)
}

func gz(t testing.TB, s string) string {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	if _, err := w.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func decodeString(t testing.TB, c *Converter, name, payload string) ([]Result, Counts) {
	t.Helper()
	var out []Result
	counts, err := c.Decode(context.Background(), name, strings.NewReader(payload), func(r Result) error {
		out = append(out, r)
		return nil
	})
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	return out, counts
}

func ids(rs []Result) string {
	var s []string
	for _, r := range rs {
		switch r.Kind {
		case KindQuarantined:
			s = append(s, "Q:"+r.Quarantined.Reason)
		case KindUsage, KindPermissionless, KindUnmapped:
			s = append(s, r.Event.ID)
		default:
			s = append(s, r.Kind.String())
		}
	}
	return strings.Join(s, ",")
}

func TestDecodeFormats(t *testing.T) {
	c := testConverter(t)
	r1, r2 := rec("e1", "GetUser"), rec("e2", "ListUsers")
	lookup := func(r string) string {
		b, _ := jsonString(r)
		return `{"EventId":"x","EventName":"GetUser","CloudTrailEvent":` + b + `}`
	}
	for _, tc := range []struct {
		name, payload string
		want          string
		digests       int64
	}{
		{"records file", `{"Records":[` + r1 + `,` + r2 + `]}`, "e1,e2", 0},
		{"records file gzipped", gz(t, `{"Records":[`+r1+`,`+r2+`]}`), "e1,e2", 0},
		{"records file with BOM and spaces", "\ufeff  {\n \"Records\" : [\n" + r1 + " ,\n" + r2 + "\n] }\n", "e1,e2", 0},
		{"empty records", `{"Records":[]}`, "", 0},
		{"bare array", `[` + r1 + `,` + r2 + `]`, "e1,e2", 0},
		{"json lines", r1 + "\n" + r2 + "\n", "e1,e2", 0},
		{"json lines gzipped", gz(t, r1+"\n"+r2), "e1,e2", 0},
		{"single record", r1, "e1", 0},
		{"pretty single record", strings.ReplaceAll(r1, ",", ",\n  "), "e1", 0},
		{"lookup-events output", `{"Events":[` + lookup(r1) + `,` + lookup(r2) + `]}`, "e1,e2", 0},
		{"lookup-events lines", lookup(r1) + "\n" + lookup(r2) + "\n", "e1,e2", 0},
		{"eventbridge envelope", `{"version":"0","id":"x","detail-type":"AWS API Call via CloudTrail","source":"aws.iam","detail":` + r1 + `}`, "e1", 0},
		{"eventbridge lines", `{"detail-type":"AWS API Call via CloudTrail","detail":` + r1 + "}\n" + `{"detail-type":"AWS API Call via CloudTrail","detail":` + r2 + "}\n", "e1,e2", 0},
		{"records batch as one kafka message line", `{"Records":[` + r1 + `]}` + "\n" + r2, "e1,e2", 0},
		{"logstash record", strings.Replace(r1, `"eventTime"`, `"@version":"1","@timestamp"`, 1), "e1", 0},
		{"digest file", `{"awsAccountId":"111122223333","digestStartTime":"2024-01-01T00:00:00Z","digestEndTime":"2024-01-01T01:00:00Z","logFiles":[]}`, "", 1},
		{"digest gzipped", gz(t, `{"awsAccountId":"1","digestStartTime":"2024-01-01T00:00:00Z","logFiles":[{"s3Object":"x"}]}`), "", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs, counts := decodeString(t, c, "f.json", tc.payload)
			if got := ids(rs); got != tc.want {
				t.Fatalf("results = %q, want %q", got, tc.want)
			}
			if got, want := counts.Records, int64(len(rs)); got != want {
				t.Fatalf("Records = %d, want %d", got, want)
			}
			if counts.Digests != tc.digests {
				t.Fatalf("Digests = %d, want %d", counts.Digests, tc.digests)
			}
		})
	}
}

func jsonString(s string) (string, error) {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case '\n':
			b.WriteString(`\n`)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String(), nil
}

func TestDecodeMalformed(t *testing.T) {
	c := testConverter(t)
	r1, r2, r3 := rec("e1", "GetUser"), rec("e2", "ListUsers"), rec("e3", "GetRole")
	full := gz(t, `{"Records":[`+r1+`,`+r2+`,`+r3+`]}`)
	for _, tc := range []struct {
		name, payload string
		want          string
		where         string // substring of the quarantine Where / Detail
	}{
		{"bad json inside a record is isolated", `{"Records":[` + r1 + `,{"eventName": "X" "eventTime":1},` + r3 + `]}`, "e1,Q:bad-json,e3", "f.json record 1 (byte "},
		{"truncated plain file", `{"Records":[` + r1 + `,` + r2[:40], "e1,Q:truncated", "f.json record 1 (byte "},
		{"gzip cut in the header", full[:5], "Q:read-error", "f.json record 0"},
		{"json lines with a broken line", r1 + "\n" + `{"eventName":"X",` + "\n" + r2 + "\n", "e1,Q:bad-json,e2", "f.json record 1"},
		{"json lines with junk", r1 + "\nnot json at all\n" + r2 + "\n", "e1,Q:bad-json,e2", "f.json record 1"},
		{"record without eventTime", strings.Replace(r1, `"eventTime":"2024-01-02T03:04:05Z",`, "", 1), "Q:no-event-time", "f.json record 0"},
		{"record with bad eventTime", strings.Replace(r1, `2024-01-02T03:04:05Z`, `redacted`, 1), "Q:bad-event-time", "record 0"},
		{"record without eventName", strings.Replace(r1, `"eventName":"GetUser",`, "", 1), "Q:no-event-name", "record 0"},
		{"not a record", `{"hello":"world"}`, "Q:not-a-record", "record 0"},
		{"unbalanced close", `[` + r1 + `]]`, "e1,Q:bad-json", "record 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs, counts := decodeString(t, c, "f.json", tc.payload)
			if got := ids(rs); got != tc.want {
				t.Fatalf("results = %q, want %q", got, tc.want)
			}
			var q *store.Quarantined
			for i := range rs {
				if rs[i].Kind == KindQuarantined {
					q = &rs[i].Quarantined
				}
			}
			if q == nil {
				t.Fatal("no quarantined record")
			}
			if !strings.Contains(q.Where, tc.where) || !strings.Contains(q.Detail, tc.where) {
				t.Fatalf("Where=%q Detail=%q, want both to contain %q", q.Where, q.Detail, tc.where)
			}
			if got := counts.Quarantined[q.Reason]; got != 1 {
				t.Fatalf("Quarantined[%s] = %d, want 1", q.Reason, got)
			}
		})
	}
}

// A gzip stream cut in the middle: the records before the cut are
// delivered, then one truncated entry.
func TestDecodeTruncatedGzip(t *testing.T) {
	c := testConverter(t)
	var b strings.Builder
	b.WriteString(`{"Records":[`)
	for i := range 2000 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(rec(fmt.Sprintf("id-%d-%x", i, i*7919), "GetUser"))
	}
	b.WriteString(`]}`)
	full := gz(t, b.String())
	rs, counts := decodeString(t, c, "cut.json.gz", full[:len(full)/2])
	if len(rs) < 2 {
		t.Fatalf("got %d results, want some records before the cut", len(rs))
	}
	last := rs[len(rs)-1]
	if last.Kind != KindQuarantined || last.Quarantined.Reason != ReasonTruncated {
		t.Fatalf("last result = %v %q, want a truncated quarantine", last.Kind, last.Quarantined.Reason)
	}
	if want := fmt.Sprintf("cut.json.gz record %d (byte ", len(rs)-1); !strings.HasPrefix(last.Quarantined.Where, want) {
		t.Fatalf("Where = %q, want prefix %q", last.Quarantined.Where, want)
	}
	if got := counts.Usage; got != int64(len(rs)-1) || got >= 2000 {
		t.Fatalf("usage = %d, want %d (< 2000)", got, len(rs)-1)
	}
	for i, r := range rs[:len(rs)-1] {
		if want := fmt.Sprintf("id-%d-%x", i, i*7919); r.Event.ID != want {
			t.Fatalf("record %d ID = %q, want %q", i, r.Event.ID, want)
		}
	}
}

func TestDecodeStopsOnCallbackError(t *testing.T) {
	c := testConverter(t)
	boom := errors.New("boom")
	n := 0
	_, err := c.Decode(context.Background(), "f", strings.NewReader(`[`+rec("a", "GetUser")+`,`+rec("b", "GetUser")+`]`), func(Result) error {
		n++
		return boom
	})
	if !errors.Is(err, boom) || n != 1 {
		t.Fatalf("err=%v after %d calls, want boom after 1", err, n)
	}
}

func TestConvertPayload(t *testing.T) {
	c := testConverter(t)
	payload := []byte(`{"Records":[` + rec("e1", "GetUser") + `,{"eventName":"x"},` + strings.Replace(rec("e2", "GetCallerIdentity"), "iam.amazonaws.com", "sts.amazonaws.com", 1) + `]}`)
	out, err := c.ConvertPayload(context.Background(), "kafka:t/0@7", payload)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(out.Events), 2; got != want {
		t.Fatalf("events = %d, want %d", got, want)
	}
	if got, want := len(out.Quarantined), 1; got != want {
		t.Fatalf("quarantined = %d, want %d", got, want)
	}
	if got, want := out.Quarantined[0].Where, fmt.Sprintf("kafka:t/0@7 record 1 (byte %d)", len(`{"Records":[`+rec("e1", "GetUser")+`,`)); got != want {
		t.Fatalf("Where = %q, want %q", got, want)
	}
	if got, want := out.Counts.Quarantined[ReasonNoEventTime], int64(1); got != want {
		t.Fatalf("no-event-time = %d, want %d", got, want)
	}
	if out.Counts.Records != 3 || out.Counts.Permissionless != 1 || out.Counts.Usage != 1 {
		t.Fatalf("counts = %+v", out.Counts)
	}
}

func TestDecodeRecordSizeLimit(t *testing.T) {
	cat := testConverter(t).cat
	c, err := NewConverter(ConverterOptions{Catalog: cat, MaxRecordSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	big := `{"eventName":"x","pad":"` + strings.Repeat("a", 100_000) + `"}`
	rs, _ := decodeString(t, c, "big.json", `[`+rec("e1", "GetUser")+`,`+big+`]`)
	if got := ids(rs); got != "e1,Q:too-large" {
		t.Fatalf("results = %q, want e1 then too-large", got)
	}
}

// TestDecodeResync checks that damage in the middle of a payload costs only
// the damaged record: the decoder resumes at the next line (JSON lines) or
// the next record (Records arrays), counts and quarantines the damaged span
// naming its file, record index and byte offset, and delivers the rest.
func TestDecodeResync(t *testing.T) {
	c := testConverter(t)
	r := make([]string, 6)
	for i := range r {
		r[i] = rec(fmt.Sprintf("e%d", i), "GetUser")
	}
	lines := func(ls ...string) string { return strings.Join(ls, "\n") + "\n" }
	// The repro: a JSON-lines file whose first line was cut inside a string.
	cutFirst := `{"eventVersion":"1.08","eventTime":"2024-01-01T00:00:00Z","eventName":"GetObject`
	noBrace := strings.TrimSuffix(r[0], "}")
	prettyRec := func(s string) string {
		return "    " + strings.NewReplacer(`{"`, "{\n      \"", `,"`, ",\n      \"").Replace(s)
	}
	records := func(rs ...string) string { return `{"Records":[` + strings.Join(rs, ",") + `]}` }
	at := func(name string, index, off int) string {
		return fmt.Sprintf("%s record %d (byte %d)", name, index, off)
	}
	type quar struct{ reason, where string }
	for _, tc := range []struct {
		name, file, payload string
		max                 int // MaxRecordSize; 0 for the default
		want                string
		quarantined         []quar
	}{
		{
			name: "json lines, first line cut inside a string", file: "f.jsonl",
			payload:     lines(cutFirst, r[1], r[2], r[3], r[4], r[5]),
			want:        "Q:bad-json,e1,e2,e3,e4,e5",
			quarantined: []quar{{ReasonBadJSON, at("f.jsonl", 0, 0)}},
		},
		{
			name: "json lines, first line without its closing brace", file: "f.jsonl",
			payload:     lines(noBrace, r[1], r[2], r[3], r[4], r[5]),
			want:        "Q:bad-json,e1,e2,e3,e4,e5",
			quarantined: []quar{{ReasonBadJSON, at("f.jsonl", 0, 0)}},
		},
		{
			name: "json lines with CRLF, first line cut", file: "f.jsonl",
			payload:     strings.Join([]string{cutFirst, r[1], r[2], r[3], r[4], r[5]}, "\r\n") + "\r\n",
			want:        "Q:bad-json,e1,e2,e3,e4,e5",
			quarantined: []quar{{ReasonBadJSON, at("f.jsonl", 0, 0)}},
		},
		{
			name: "json lines gzipped, first line cut", file: "f.jsonl.gz",
			payload:     gz(t, lines(cutFirst, r[1], r[2], r[3], r[4], r[5])),
			want:        "Q:bad-json,e1,e2,e3,e4,e5",
			quarantined: []quar{{ReasonBadJSON, at("f.jsonl.gz", 0, 0)}},
		},
		{
			name: "json lines, middle line cut inside a string", file: "f.jsonl",
			payload:     lines(r[1], r[2], cutFirst, r[3], r[4]),
			want:        "e1,e2,Q:bad-json,e3,e4",
			quarantined: []quar{{ReasonBadJSON, at("f.jsonl", 2, 2*(len(r[1])+1))}},
		},
		{
			name: "json lines, last line cut without a newline", file: "f.jsonl",
			payload:     lines(r[1], r[2]) + cutFirst,
			want:        "e1,e2,Q:bad-json",
			quarantined: []quar{{ReasonBadJSON, at("f.jsonl", 2, 2*(len(r[1])+1))}},
		},
		{
			name: "json lines after a junk first line, then a broken line", file: "f.jsonl",
			payload:     lines("garbage", r[1], noBrace, r[2]),
			want:        "Q:bad-json,e1,Q:bad-json,e2",
			quarantined: []quar{{ReasonBadJSON, at("f.jsonl", 0, 0)}, {ReasonBadJSON, at("f.jsonl", 2, len("garbage\n")+len(r[1])+1)}},
		},
		{
			name: "json lines with an over-long line", file: "f.jsonl", max: 4096,
			payload:     lines(r[1], `{"eventName":"x","pad":"`+strings.Repeat("a", 100_000)+`"}`, r[2]),
			want:        "e1,Q:too-large,e2",
			quarantined: []quar{{ReasonTooLarge, at("f.jsonl", 1, len(r[1])+1)}},
		},
		{
			name: "records, a record without its closing brace", file: "f.json",
			payload:     records(r[1], strings.TrimSuffix(r[2], "}"), r[3], r[4]),
			want:        "e1,Q:bad-json,e3,e4",
			quarantined: []quar{{ReasonBadJSON, at("f.json", 1, len(`{"Records":[`)+len(r[1])+1)}},
		},
		{
			name: "records, a record cut inside a string", file: "f.json",
			payload:     records(r[1], r[2][:100], r[3], r[4]),
			want:        "e1,Q:bad-json,e3,e4",
			quarantined: []quar{{ReasonBadJSON, at("f.json", 1, len(`{"Records":[`)+len(r[1])+1)}},
		},
		{
			name: "records, a record with an extra closing brace", file: "f.json",
			payload: records(r[1], `{"x":1}}`, r[3]),
			want:    "e1,Q:not-a-record,Q:bad-json,e3",
			quarantined: []quar{
				{ReasonNotRecord, at("f.json", 1, len(`{"Records":[`)+len(r[1])+1)},
				{ReasonBadJSON, at("f.json", 2, len(`{"Records":[`)+len(r[1])+1+len(`{"x":1}`))},
			},
		},
		{
			name: "records gzipped, a record without its closing brace", file: "f.json.gz",
			payload:     gz(t, records(r[1], strings.TrimSuffix(r[2], "}"), r[3], r[4])),
			want:        "e1,Q:bad-json,e3,e4",
			quarantined: []quar{{ReasonBadJSON, at("f.json.gz", 1, len(`{"Records":[`)+len(r[1])+1)}},
		},
		{
			name: "records pretty-printed, a record without its closing brace", file: "f.json",
			payload:     "{\n  \"Records\": [\n" + prettyRec(r[1]) + ",\n" + strings.TrimSuffix(prettyRec(r[2]), "}") + ",\n" + prettyRec(r[3]) + "\n  ]\n}\n",
			want:        "e1,Q:bad-json,e3",
			quarantined: []quar{{ReasonBadJSON, at("f.json", 1, len("{\n  \"Records\": [\n")+len(prettyRec(r[1]))+2+4)}},
		},
		{
			// Valid JSON that is not a record: its brackets balance, so it
			// is one bad element and nothing after it is searched.
			name: "records, a nested array of records", file: "f.json",
			payload:     records(`[`+r[1]+`,`+r[2]+`]`, r[3], r[4]),
			want:        "Q:bad-json,e3,e4",
			quarantined: []quar{{ReasonBadJSON, at("f.json", 0, len(`{"Records":[`))}},
		},
		{
			name: "bare array, a nested array of records", file: "f.json",
			payload:     `[[` + r[1] + `,` + r[2] + `],` + r[3] + `]`,
			want:        "Q:bad-json,e3",
			quarantined: []quar{{ReasonBadJSON, at("f.json", 0, 1)}},
		},
		{
			name: "bare array, a record without its closing brace", file: "f.json",
			payload:     `[` + r[1] + `,` + strings.TrimSuffix(r[2], "}") + `,` + r[3] + `]`,
			want:        "e1,Q:bad-json,e3",
			quarantined: []quar{{ReasonBadJSON, at("f.json", 1, 1+len(r[1])+1)}},
		},
		{
			// The scanner gives up on the value at MaxRecordSize; the search
			// for the next record then reads on through the buffer refills.
			name: "records, damage longer than the buffer", file: "f.json", max: 4096,
			payload:     records(r[1], `{"x":"`+strings.Repeat("ab ", 70_000), r[2], r[3]),
			want:        "e1,Q:too-large,e2,e3",
			quarantined: []quar{{ReasonTooLarge, at("f.json", 1, len(`{"Records":[`)+len(r[1])+1)}},
		},
		{
			name: "records gzipped, damage longer than the buffer", file: "f.json.gz", max: 4096,
			payload:     gz(t, records(r[1], `{"x":"`+strings.Repeat("ab ", 70_000), r[2], r[3])),
			want:        "e1,Q:too-large,e2,e3",
			quarantined: []quar{{ReasonTooLarge, at("f.json.gz", 1, len(`{"Records":[`)+len(r[1])+1)}},
		},
		{
			name: "json lines, first line longer than the buffer", file: "f.jsonl", max: 4096,
			payload:     lines(`{"x":"`+strings.Repeat("ab ", 70_000), r[1], r[2]),
			want:        "Q:too-large,e1,e2",
			quarantined: []quar{{ReasonTooLarge, at("f.jsonl", 0, 0)}},
		},
		{
			name: "records, the last record cut by the end of the file", file: "f.json",
			payload:     `{"Records":[` + r[1] + `,` + r[2][:100],
			want:        "e1,Q:truncated",
			quarantined: []quar{{ReasonTruncated, at("f.json", 1, len(`{"Records":[`)+len(r[1])+1)}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := c
			if tc.max > 0 {
				var err error
				if c, err = NewConverter(ConverterOptions{Catalog: c.cat, MaxRecordSize: tc.max}); err != nil {
					t.Fatal(err)
				}
			}
			rs, counts := decodeString(t, c, tc.file, tc.payload)
			if got := ids(rs); got != tc.want {
				t.Fatalf("results = %q, want %q", got, tc.want)
			}
			wantEvents := int64(0)
			for _, id := range strings.Split(tc.want, ",") {
				if !strings.HasPrefix(id, "Q:") {
					wantEvents++
				}
			}
			if got, want := counts.Events, wantEvents; got != want {
				t.Fatalf("Events = %d, want %d", got, want)
			}
			var qs []quar
			wantCounts := map[string]int64{}
			for _, q := range tc.quarantined {
				wantCounts[q.reason]++
			}
			for _, r := range rs {
				if r.Kind != KindQuarantined {
					continue
				}
				qs = append(qs, quar{r.Quarantined.Reason, r.Quarantined.Where})
				if !strings.HasPrefix(r.Quarantined.Detail, r.Quarantined.Where+": ") {
					t.Errorf("Detail = %q, want it to start with %q", r.Quarantined.Detail, r.Quarantined.Where)
				}
			}
			if got, want := fmt.Sprint(qs), fmt.Sprint(tc.quarantined); got != want {
				t.Fatalf("quarantined = %s, want %s", got, want)
			}
			if got, want := fmt.Sprint(counts.Quarantined), fmt.Sprint(wantCounts); got != want {
				t.Fatalf("Counts.Quarantined = %s, want %s", got, want)
			}
		})
	}
}

// TestDecodeResyncLarge puts damage where the resynchronisation has to read
// past the scanner's buffer, in plain and gzipped payloads.
func TestDecodeResyncLarge(t *testing.T) {
	c := testConverter(t)
	const n = 2000
	broken := map[int]func(string) string{
		0:     func(s string) string { return s[:120] },                    // cut inside a string
		150:   func(s string) string { return strings.TrimSuffix(s, "}") }, // missing closing brace
		151:   func(s string) string { return s[:60] },
		1500:  func(s string) string { return strings.TrimSuffix(s, "}") },
		n - 2: func(s string) string { return s[:200] },
	}
	var elems []string
	var want []string
	for i := range n {
		r := rec(fmt.Sprintf("id-%d", i), "GetUser")
		if f, ok := broken[i]; ok {
			elems = append(elems, f(r))
			want = append(want, "Q:bad-json")
			continue
		}
		elems = append(elems, r)
		want = append(want, fmt.Sprintf("id-%d", i))
	}
	recordsFile := `{"Records":[` + strings.Join(elems, ",") + `]}`
	linesFile := strings.Join(elems, "\n") + "\n"
	for _, tc := range []struct{ name, payload string }{
		{"records", recordsFile},
		{"records gzipped", gz(t, recordsFile)},
		{"json lines", linesFile},
		{"json lines gzipped", gz(t, linesFile)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs, counts := decodeString(t, c, "big.json", tc.payload)
			if got, want := ids(rs), strings.Join(want, ","); got != want {
				t.Fatalf("results differ (got %d, want %d):\n got %.300s…\nwant %.300s…", len(rs), n, got, want)
			}
			if got, want := counts.Events, int64(n-len(broken)); got != want {
				t.Fatalf("Events = %d, want %d", got, want)
			}
			if got, want := counts.Quarantined[ReasonBadJSON], int64(len(broken)); got != want {
				t.Fatalf("Quarantined[bad-json] = %d, want %d", got, want)
			}
		})
	}
}

// Input that is not CloudTrail at all is quarantined once, as a whole,
// with the reason; a Records member that is not an array is quarantined
// with what it is instead.
func TestDecodeNotCloudTrail(t *testing.T) {
	c := testConverter(t)
	elf := "\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00" + strings.Repeat("\x00\x01binary\n{junk}\n", 200)
	prose := strings.Repeat("This is a README, not a trail.\n", 100)
	for _, tc := range []struct {
		name, payload string
		want          string // ids()
		detail        string // substring of the quarantine detail
	}{
		{"executable", elf, "Q:not-json", "binary data, not JSON"},
		{"gzipped executable", gz(t, elf), "Q:not-json", "binary data, not JSON"},
		{"text file", prose, "Q:not-json", "no JSON value in the first 16 lines"},
		{"records is a string", `{"Records":"oops"}`, "Q:not-a-record", `"Records" is a string, want an array of records`},
		{"records is an object", `{"Records":` + rec("e1", "GetUser") + `}`, "Q:not-a-record", `"Records" is an object`},
		{"events is a number", `{"Events":5}`, "Q:not-a-record", `"Events" is a number`},
		{"records in an envelope is a string", `{"detail-type":"AWS API Call via CloudTrail","detail":{"Records":"x"}}`, "Q:not-a-record", "is a string, want an array"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs, counts := decodeString(t, c, "f.json", tc.payload)
			if got := ids(rs); got != tc.want {
				t.Fatalf("results = %q, want %q", got, tc.want)
			}
			q := rs[0].Quarantined
			if !strings.Contains(q.Detail, tc.detail) {
				t.Errorf("detail %q, want it to contain %q", q.Detail, tc.detail)
			}
			if counts.QuarantinedTotal() != 1 || counts.Records != 1 {
				t.Errorf("records %d, quarantined %v; want one quarantined entry", counts.Records, counts.Quarantined)
			}
		})
	}
	// A few junk lines before the records are damage, not a foreign
	// file: each is quarantined and the records are read.
	rs, counts := decodeString(t, c, "f.jsonl", "garbage one\ngarbage two\n"+rec("e1", "GetUser")+"\n")
	if got, want := ids(rs), "Q:bad-json,Q:bad-json,e1"; got != want {
		t.Fatalf("junk then a record: results %q, want %q", got, want)
	}
	if counts.Repairs[RepairJunk] != 2 || counts.RepairedFiles != 1 {
		t.Errorf("repairs %v, repaired files %d; want 2 junk-skipped in 1 file", counts.Repairs, counts.RepairedFiles)
	}
}

// A file the decoder mends is counted as repaired, with what was mended,
// even when every record was recovered.
func TestDecodeRepairs(t *testing.T) {
	c := testConverter(t)
	r1, r2, r3 := rec("e1", "GetUser"), rec("e2", "ListUsers"), rec("e3", "GetRole")
	for _, tc := range []struct {
		name, payload string
		want          string
		repairs       map[string]int64
	}{
		{"intact", `{"Records":[` + r1 + `,` + r2 + `]}`, "e1,e2", nil},
		{"missing commas", `{"Records":[` + r1 + r2 + "\n" + r3 + `]}`, "e1,e2,e3", map[string]int64{RepairMissingComma: 2}},
		{"resync after a damaged record", `{"Records":[` + r1 + `,{"eventVersion":"1.08","eventName":"X",` + `,` + r2 + `,` + r3 + `]}`, "e1,Q:bad-json,e2,e3", map[string]int64{RepairResync: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs, counts := decodeString(t, c, "f.json", tc.payload)
			if got := ids(rs); got != tc.want {
				t.Fatalf("results = %q, want %q", got, tc.want)
			}
			if fmt.Sprint(counts.Repairs) != fmt.Sprint(tc.repairs) && !(len(counts.Repairs) == 0 && tc.repairs == nil) {
				t.Errorf("repairs %v, want %v", counts.Repairs, tc.repairs)
			}
			if want := int64(min(len(tc.repairs), 1)); counts.RepairedFiles != want {
				t.Errorf("repaired files %d, want %d", counts.RepairedFiles, want)
			}
		})
	}
}
