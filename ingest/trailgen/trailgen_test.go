package trailgen

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iamd/iamd/analyzer/catalog"
)

// memSink collects files in memory.
type memSink struct {
	mu    sync.Mutex
	files map[string][]byte
	order []string
}

func (m *memSink) WriteFile(_ context.Context, name string, data []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.files == nil {
		m.files = map[string][]byte{}
	}
	if _, dup := m.files[name]; dup {
		return fmt.Errorf("file %s written twice", name)
	}
	m.files[name] = append([]byte(nil), data...)
	m.order = append(m.order, name)
	return nil
}

func smallOptions(seed int64) Options {
	o := DefaultOptions(seed)
	o.Events = 3000
	o.Days = 2
	o.Users = 6
	o.Roles = 5
	o.DeniedRate = 0.05
	o.ErrorRate = 0.03
	return o
}

func mustNew(t testing.TB, o Options) *Generator {
	t.Helper()
	g, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return g
}

func generateFiles(t testing.TB, o Options) (*memSink, *Manifest) {
	t.Helper()
	sink := &memSink{}
	m, err := mustNew(t, o).WriteLogFiles(context.Background(), sink)
	if err != nil {
		t.Fatalf("WriteLogFiles: %v", err)
	}
	return sink, m
}

func generateLines(t testing.TB, o Options, eventBridge bool) ([]byte, *Manifest) {
	t.Helper()
	var buf bytes.Buffer
	m, err := mustNew(t, o).WriteJSONLines(context.Background(), &buf, eventBridge)
	if err != nil {
		t.Fatalf("WriteJSONLines: %v", err)
	}
	return buf.Bytes(), m
}

func gunzip(t testing.TB, name string, data []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("%s: gzip header: %v", name, err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("%s: gzip body: %v", name, err)
	}
	return out
}

func TestDeterminism(t *testing.T) {
	o := smallOptions(42)
	o.Digests = true
	a, ma := generateFiles(t, o)
	b, mb := generateFiles(t, o)
	t.Run("same seed same files", func(t *testing.T) {
		if got, want := strings.Join(a.order, "\n"), strings.Join(b.order, "\n"); got != want {
			t.Fatalf("file names differ between runs")
		}
		for _, name := range a.order {
			if !bytes.Equal(a.files[name], b.files[name]) {
				t.Fatalf("%s differs between runs", name)
			}
		}
		var ja, jb bytes.Buffer
		if err := ma.WriteJSON(&ja); err != nil {
			t.Fatal(err)
		}
		if err := mb.WriteJSON(&jb); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(ja.Bytes(), jb.Bytes()) {
			t.Fatalf("manifests differ between runs")
		}
	})
	t.Run("same seed same lines", func(t *testing.T) {
		la, _ := generateLines(t, o, false)
		lb, _ := generateLines(t, o, false)
		if !bytes.Equal(la, lb) {
			t.Fatalf("JSON lines differ between runs")
		}
	})
	t.Run("different seed differs", func(t *testing.T) {
		la, _ := generateLines(t, o, false)
		lc, _ := generateLines(t, smallOptions(43), false)
		if bytes.Equal(la, lc) {
			t.Fatalf("seeds 42 and 43 gave the same output")
		}
		ga, gc := mustNew(t, o), mustNew(t, smallOptions(43))
		if ga.Accounts()[0] == gc.Accounts()[0] {
			t.Fatalf("seeds 42 and 43 derived the same account %s", ga.Accounts()[0])
		}
	})
	t.Run("files and lines carry the same records", func(t *testing.T) {
		lines, _ := generateLines(t, o, false)
		want := map[string]bool{}
		for _, l := range bytes.Split(bytes.TrimSpace(lines), []byte("\n")) {
			want[string(l)] = true
		}
		n := 0
		for _, name := range a.order {
			if strings.Contains(name, "CloudTrail-Digest") {
				continue
			}
			var f struct{ Records []json.RawMessage }
			if err := json.Unmarshal(gunzip(t, name, a.files[name]), &f); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			for _, r := range f.Records {
				if !want[string(r)] {
					t.Fatalf("%s holds a record not in the line output: %.200s", name, r)
				}
				n++
			}
		}
		if got, want := n, len(want); got != want {
			t.Fatalf("records in files = %d, lines = %d", got, want)
		}
	})
}

// ctRec is what the tests read back from a record.
type ctRec struct {
	EventVersion string `json:"eventVersion"`
	UserIdentity *struct {
		Type           string `json:"type"`
		PrincipalID    string `json:"principalId"`
		ARN            string `json:"arn"`
		AccountID      string `json:"accountId"`
		AccessKeyID    string `json:"accessKeyId"`
		UserName       string `json:"userName"`
		InvokedBy      string `json:"invokedBy"`
		SessionContext *struct {
			SessionIssuer struct {
				Type string `json:"type"`
				ARN  string `json:"arn"`
			} `json:"sessionIssuer"`
			Attributes struct {
				CreationDate string `json:"creationDate"`
			} `json:"attributes"`
			SourceIdentity string `json:"sourceIdentity"`
		} `json:"sessionContext"`
	} `json:"userIdentity"`
	EventTime                    string          `json:"eventTime"`
	EventSource                  string          `json:"eventSource"`
	EventName                    string          `json:"eventName"`
	AWSRegion                    string          `json:"awsRegion"`
	SourceIPAddress              string          `json:"sourceIPAddress"`
	UserAgent                    string          `json:"userAgent"`
	ErrorCode                    string          `json:"errorCode"`
	ErrorMessage                 string          `json:"errorMessage"`
	RequestParameters            map[string]any  `json:"requestParameters"`
	ResponseElements             json.RawMessage `json:"responseElements"`
	RequestID                    string          `json:"requestID"`
	EventID                      string          `json:"eventID"`
	ReadOnly                     *bool           `json:"readOnly"`
	EventType                    string          `json:"eventType"`
	ManagementEvent              *bool           `json:"managementEvent"`
	RecipientAccountID           string          `json:"recipientAccountId"`
	EventCategory                string          `json:"eventCategory"`
	SessionCredentialFromConsole string          `json:"sessionCredentialFromConsole"`
	Resources                    []struct {
		Type      string `json:"type"`
		ARN       string `json:"ARN"`
		AccountID string `json:"accountId"`
	} `json:"resources"`
}

var (
	uuid4RE  = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	akiaRE   = regexp.MustCompile(`^AKIA[A-Z2-7]{16}$`)
	asiaRE   = regexp.MustCompile(`^ASIA[A-Z2-7]{16}$`)
	deniedRE = regexp.MustCompile(`^(AccessDenied|AccessDeniedException|Client\.UnauthorizedOperation)$`)
)

// requiredFields are present (possibly null) in every record.
var requiredFields = []string{"eventVersion", "userIdentity", "eventTime", "eventSource", "eventName", "awsRegion",
	"sourceIPAddress", "userAgent", "requestParameters", "responseElements", "eventID", "readOnly", "eventType",
	"managementEvent", "recipientAccountId", "eventCategory"}

func checkRecord(raw []byte, start, end time.Time) (ctRec, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return ctRec{}, fmt.Errorf("not JSON: %w", err)
	}
	for _, f := range requiredFields {
		if _, ok := fields[f]; !ok {
			return ctRec{}, fmt.Errorf("missing %s", f)
		}
	}
	var r ctRec
	if err := json.Unmarshal(raw, &r); err != nil {
		return ctRec{}, fmt.Errorf("decode: %w", err)
	}
	t, err := time.Parse(time.RFC3339, r.EventTime)
	if err != nil {
		return r, fmt.Errorf("eventTime: %w", err)
	}
	if t.Before(start) || !t.Before(end) {
		return r, fmt.Errorf("eventTime %s outside [%s, %s)", t, start, end)
	}
	if !uuid4RE.MatchString(r.EventID) {
		return r, fmt.Errorf("eventID %q is not a UUID v4", r.EventID)
	}
	if len(r.RecipientAccountID) != 12 || r.AWSRegion == "" || !strings.HasSuffix(r.EventSource, ".amazonaws.com") {
		return r, fmt.Errorf("bad account/region/source %q %q %q", r.RecipientAccountID, r.AWSRegion, r.EventSource)
	}
	if (r.EventCategory == "Data") == *r.ManagementEvent {
		return r, fmt.Errorf("eventCategory %s with managementEvent %v", r.EventCategory, *r.ManagementEvent)
	}
	u := r.UserIdentity
	switch u.Type {
	case "IAMUser":
		keyOK := akiaRE.MatchString(u.AccessKeyID)
		switch {
		case r.EventName == "ConsoleLogin":
			keyOK = u.AccessKeyID == "" && r.EventType == "AwsConsoleSignIn"
		case r.SessionCredentialFromConsole == "true":
			keyOK = asiaRE.MatchString(u.AccessKeyID) && u.SessionContext != nil
		}
		if !keyOK || !strings.HasSuffix(u.ARN, ":user/"+u.UserName) || !strings.HasPrefix(u.PrincipalID, "AIDA") {
			return r, fmt.Errorf("IAMUser identity %+v", *u)
		}
	case "AssumedRole":
		if !asiaRE.MatchString(u.AccessKeyID) || u.SessionContext == nil || u.SessionContext.SessionIssuer.Type != "Role" ||
			!strings.Contains(u.ARN, ":assumed-role/") || !strings.HasPrefix(u.PrincipalID, "AROA") {
			return r, fmt.Errorf("AssumedRole identity %+v", *u)
		}
	case "FederatedUser":
		if !asiaRE.MatchString(u.AccessKeyID) || u.SessionContext == nil || u.SessionContext.SessionIssuer.Type != "IAMUser" {
			return r, fmt.Errorf("FederatedUser identity %+v", *u)
		}
	case "Root":
		if !strings.HasSuffix(u.ARN, ":root") || u.PrincipalID != u.AccountID {
			return r, fmt.Errorf("Root identity %+v", *u)
		}
	case "AWSService":
		if u.InvokedBy == "" || u.AccessKeyID != "" {
			return r, fmt.Errorf("AWSService identity %+v", *u)
		}
	case "":
		if r.EventType != "AwsServiceEvent" || u.InvokedBy == "" || u.AccountID == "" {
			return r, fmt.Errorf("untyped identity in a %s record", r.EventType)
		}
	default:
		return r, fmt.Errorf("unexpected userIdentity.type %q", u.Type)
	}
	if r.ErrorCode != "" && r.ErrorMessage == "" && r.ErrorCode != "ParameterNotFound" {
		return r, fmt.Errorf("errorCode %s without errorMessage", r.ErrorCode)
	}
	return r, nil
}

func TestRecordsValid(t *testing.T) {
	o := smallOptions(7)
	g := mustNew(t, o)
	start := g.Options().Start
	end := start.Add(48 * time.Hour)
	var prev time.Time
	seen := map[string]bool{}
	types := map[string]int{}
	var denied, failed, total int
	m, err := g.Records(context.Background(), func(rec Record) error {
		r, err := checkRecord(rec.JSON, start, end)
		if err != nil {
			return fmt.Errorf("%s: %w\n%s", rec.EventID, err, rec.JSON)
		}
		if seen[r.EventID] {
			return fmt.Errorf("eventID %s repeated", r.EventID)
		}
		seen[r.EventID] = true
		if rec.Time.Before(prev) {
			return fmt.Errorf("record %s at %s before previous %s", r.EventID, rec.Time, prev)
		}
		prev = rec.Time
		if rec.Account != r.RecipientAccountID || rec.Region != r.AWSRegion || rec.EventID != r.EventID {
			return fmt.Errorf("Record fields %+v disagree with JSON", rec)
		}
		types[r.UserIdentity.Type]++
		if r.EventName == "ConsoleLogin" {
			types["ConsoleLogin"]++
		} else if r.SessionCredentialFromConsole == "true" && r.UserIdentity.Type == "IAMUser" {
			types["console"]++
		}
		total++
		switch {
		case deniedRE.MatchString(r.ErrorCode):
			denied++
		case r.ErrorCode != "":
			failed++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := total, 3000; got != want {
		t.Fatalf("records = %d, want %d", got, want)
	}
	if types["console"] == 0 || types["ConsoleLogin"] == 0 {
		t.Errorf("no console sign-in or console session call (got %v)", types)
	}
	for _, typ := range []string{"IAMUser", "AssumedRole", "AWSService", "FederatedUser", "Root", ""} {
		if types[typ] == 0 {
			t.Errorf("no record with userIdentity.type %q (got %v)", typ, types)
		}
	}
	if got, want := denied, m.Denied; got != want {
		t.Errorf("denied records = %d, manifest says %d", got, want)
	}
	if got, want := failed, m.Errors; got != want {
		t.Errorf("failed records = %d, manifest says %d", got, want)
	}
	// Rates land near the options (5 % denied of ~2,800 principal calls).
	if rate := float64(denied) / float64(m.PrincipalRecords); rate < 0.03 || rate > 0.07 {
		t.Errorf("denied rate %.3f, want about 0.05", rate)
	}
	if m.DataEvents == 0 {
		t.Errorf("no data events")
	}
}

func TestLogFileLayout(t *testing.T) {
	o := smallOptions(3)
	o.Digests = true
	o.Accounts = []string{"111122223333", "444455556666"}
	o.Regions = []string{"us-east-1", "eu-west-1", "ap-southeast-2"}
	o.OrgID = "o-a1b2c3d4e5"
	sink, m := generateFiles(t, o)
	g := mustNew(t, o)
	start, end := g.Options().Start, g.Options().Start.Add(48*time.Hour)
	var records, logs, digests int
	hashes := map[string]string{}
	perFile := map[string]int{}
	for _, name := range sink.order {
		fn, err := ParseLogFileName(name)
		if err != nil {
			t.Fatalf("ParseLogFileName: %v", err)
		}
		if !fn.Compress || fn.OrgID != o.OrgID {
			t.Fatalf("%s: gzipped %v, org %q", name, fn.Compress, fn.OrgID)
		}
		body := gunzip(t, name, sink.files[name])
		if fn.Digest {
			digests++
			continue
		}
		logs++
		sum := sha256.Sum256(body)
		hashes[name] = hex.EncodeToString(sum[:])
		var f struct{ Records []json.RawMessage }
		if err := json.Unmarshal(body, &f); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(f.Records) == 0 || len(f.Records) > o.RecordsPerFile+100 {
			t.Fatalf("%s has %d records", name, len(f.Records))
		}
		perFile[name] = len(f.Records)
		for _, raw := range f.Records {
			r, err := checkRecord(raw, start, end)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if r.RecipientAccountID != fn.Account || r.AWSRegion != fn.Region {
				t.Fatalf("%s holds a record of %s/%s", name, r.RecipientAccountID, r.AWSRegion)
			}
			et, _ := time.Parse(time.RFC3339, r.EventTime)
			if d := fn.Time.Sub(et); d <= 0 || d > 2*g.Options().FileWindow {
				t.Fatalf("%s (delivered %s) holds an event of %s", name, fn.Time, et)
			}
			records++
		}
	}
	if got, want := records, m.Records; got != want {
		t.Fatalf("records in files = %d, manifest.Records = %d", got, want)
	}
	if got, want := len(m.Files), logs; got != want {
		t.Fatalf("manifest lists %d files, %d written", got, want)
	}
	for _, f := range m.Files {
		if perFile[f.Name] != f.Records {
			t.Fatalf("manifest: %s has %d records, file has %d", f.Name, f.Records, perFile[f.Name])
		}
	}
	accts := map[string]bool{}
	for name := range perFile {
		fn, _ := ParseLogFileName(name)
		accts[fn.Account+"/"+fn.Region] = true
	}
	if len(accts) != 6 {
		t.Errorf("files for %d account/region pairs, want 6: %v", len(accts), accts)
	}
	if digests == 0 {
		t.Fatal("no digest files")
	}
	t.Run("digests hash their log files", func(t *testing.T) {
		covered := 0
		for _, name := range sink.order {
			if !strings.Contains(name, "CloudTrail-Digest") {
				continue
			}
			var d struct {
				AWSAccountID string `json:"awsAccountId"`
				LogFiles     []struct {
					S3Object  string `json:"s3Object"`
					HashValue string `json:"hashValue"`
				} `json:"logFiles"`
			}
			if err := json.Unmarshal(gunzip(t, name, sink.files[name]), &d); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			for _, lf := range d.LogFiles {
				if got, want := lf.HashValue, hashes[lf.S3Object]; got != want {
					t.Fatalf("%s: %s hash %s, want %s", name, lf.S3Object, got, want)
				}
				covered++
			}
		}
		if covered != logs {
			t.Fatalf("digests cover %d of %d log files", covered, logs)
		}
	})
}

func TestParseLogFileName(t *testing.T) {
	cases := []struct {
		name, key string
		wantErr   bool
		want      LogFileName
	}{
		{"log", "AWSLogs/218007301253/CloudTrail/us-east-1/2023/07/10/218007301253_CloudTrail_us-east-1_20230710T1145Z_7xgocspSowgK0Gto.json.gz", false,
			LogFileName{Account: "218007301253", Region: "us-east-1", Time: time.Date(2023, 7, 10, 11, 45, 0, 0, time.UTC), Suffix: "7xgocspSowgK0Gto", Compress: true}},
		{"org prefix plain", "logs/AWSLogs/o-abc123/111122223333/CloudTrail/eu-west-1/2026/11/01/111122223333_CloudTrail_eu-west-1_20261101T0005Z_abcdefghABCDEFGH.json", false,
			LogFileName{OrgID: "o-abc123", Account: "111122223333", Region: "eu-west-1", Time: time.Date(2026, 11, 1, 0, 5, 0, 0, time.UTC), Suffix: "abcdefghABCDEFGH"}},
		{"digest", "AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2026/11/01/111122223333_CloudTrail-Digest_us-east-1_mgmt_us-east-1_20261101T010000Z.json.gz", false,
			LogFileName{Account: "111122223333", Region: "us-east-1", Time: time.Date(2026, 11, 1, 1, 0, 0, 0, time.UTC), Digest: true, Trail: "mgmt", Compress: true}},
		{"account mismatch", "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/01/999922223333_CloudTrail_us-east-1_20261101T0005Z_abcdefghABCDEFGH.json.gz", true, LogFileName{}},
		{"date mismatch", "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/02/111122223333_CloudTrail_us-east-1_20261101T0005Z_abcdefghABCDEFGH.json.gz", true, LogFileName{}},
		{"digest date mismatch", "AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2026/11/02/111122223333_CloudTrail-Digest_us-east-1_mgmt_us-east-1_20261101T010000Z.json.gz", true, LogFileName{}},
		{"short suffix", "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/01/111122223333_CloudTrail_us-east-1_20261101T0005Z_abc.json.gz", true, LogFileName{}},
		{"not cloudtrail", "AWSLogs/111122223333/elasticloadbalancing/us-east-1/2026/11/01/x.log.gz", true, LogFileName{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseLogFileName(c.key)
			if (err != nil) != c.wantErr {
				t.Fatalf("ParseLogFileName err = %v, wantErr %v", err, c.wantErr)
			}
			if got != c.want {
				t.Fatalf("ParseLogFileName = %+v, want %+v", got, c.want)
			}
		})
	}
}

// recount derives the manifest counts from the records themselves, the way
// an ingest must: principal from userIdentity, action from Mappings(),
// resource from resources[] or requestParameters.
func recount(t *testing.T, lines []byte) (usage map[usageKey][2]uint64, keys map[string]uint64, perm, svc uint64) {
	t.Helper()
	mapping := map[string]Mapping{}
	var conditional []Mapping
	for _, m := range Mappings() {
		if m.When != "" {
			conditional = append(conditional, m)
			continue
		}
		mapping[m.EventSource+" "+m.EventName] = m
	}
	usage = map[usageKey][2]uint64{}
	keys = map[string]uint64{}
	for _, line := range bytes.Split(bytes.TrimSpace(lines), []byte("\n")) {
		var r ctRec
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatal(err)
		}
		u := r.UserIdentity
		if u.Type == "AWSService" || u.Type == "" {
			svc++
			continue
		}
		if u.AccessKeyID != "" {
			keys[u.AccessKeyID]++
		}
		var principal string
		switch u.Type {
		case "IAMUser", "Root":
			principal = u.ARN
		case "AssumedRole", "FederatedUser":
			principal = u.SessionContext.SessionIssuer.ARN
		}
		mp, ok := mapping[r.EventSource+" "+r.EventName]
		if !ok {
			t.Fatalf("record %s: %s %s not in Mappings()", r.EventID, r.EventSource, r.EventName)
		}
		if mp.Permissionless {
			perm++
			continue
		}
		mps := []Mapping{mp}
		for _, cm := range conditional {
			if cm.EventSource == r.EventSource && cm.EventName == r.EventName && r.RequestParameters["sourceIdentity"] != nil {
				mps = append(mps, cm)
			}
		}
		for _, mp := range mps {
			res := resourceOf(t, &r, mp)
			k := usageKey{principal, mp.Action, res}
			c := usage[k]
			if deniedRE.MatchString(r.ErrorCode) {
				c[1]++
			} else {
				c[0]++
			}
			usage[k] = c
		}
	}
	return usage, keys, perm, svc
}

func resourceOf(t *testing.T, r *ctRec, mp Mapping) string {
	t.Helper()
	cfnType := map[string]string{"bucket": "AWS::S3::Bucket", "object": "AWS::S3::Object", "table": "AWS::DynamoDB::Table",
		"function": "AWS::Lambda::Function", "queue": "AWS::SQS::Queue", "topic": "AWS::SNS::Topic", "key": "AWS::KMS::Key", "role": "AWS::IAM::Role"}
	if mp.ResourceType == "" {
		return "*"
	}
	for _, res := range r.Resources {
		if res.Type == cfnType[mp.ResourceType] && res.ARN != "" {
			return res.ARN
		}
	}
	acct, region := r.RecipientAccountID, r.AWSRegion
	p := r.RequestParameters
	str := func(k string) string { s, _ := p[k].(string); return s }
	switch mp.ResourceType {
	case "function":
		return "arn:aws:lambda:" + region + ":" + acct + ":function:" + str("functionName")
	case "queue":
		u := str("queueUrl")
		return "arn:aws:sqs:" + region + ":" + acct + ":" + u[strings.LastIndexByte(u, '/')+1:]
	case "topic":
		return str("topicArn")
	case "Secret":
		return str("secretId")
	case "parameter":
		if n := str("name"); n != "" {
			return "arn:aws:ssm:" + region + ":" + acct + ":parameter" + n
		}
		return "arn:aws:ssm:" + region + ":" + acct + ":parameter" + str("path")
	case "log-group":
		return "arn:aws:logs:" + region + ":" + acct + ":log-group:" + str("logGroupName")
	case "role":
		return "arn:aws:iam::" + acct + ":role/" + str("roleName")
	case "user":
		return r.UserIdentity.ARN
	}
	t.Fatalf("record %s: no %s resource found", r.EventID, mp.ResourceType)
	return ""
}

func TestManifestMatchesRecords(t *testing.T) {
	lines, m := generateLines(t, smallOptions(11), false)
	usage, keys, perm, svc := recount(t, lines)
	t.Run("totals", func(t *testing.T) {
		n := bytes.Count(lines, []byte("\n"))
		if got, want := m.Records, n; got != want {
			t.Fatalf("manifest.Records = %d, lines = %d", got, want)
		}
		if got, want := m.PrincipalRecords+m.ServiceRecords, m.Records; got != want {
			t.Fatalf("principal %d + service %d records != %d", m.PrincipalRecords, m.ServiceRecords, want)
		}
		if got, want := uint64(m.ServiceRecords), svc; got != want {
			t.Fatalf("manifest.ServiceRecords = %d, recount %d", got, want)
		}
		var ps, ss uint64
		for _, p := range m.Permissionless {
			ps += p.Count
		}
		for _, s := range m.ServiceEvents {
			ss += s.Count
		}
		if ps != perm || ss != svc {
			t.Fatalf("permissionless %d (recount %d), service events %d (recount %d)", ps, perm, ss, svc)
		}
	})
	t.Run("usage", func(t *testing.T) {
		if got, want := len(m.Usage), len(usage); got != want {
			t.Fatalf("manifest has %d usage rows, recount %d", got, want)
		}
		for _, u := range m.Usage {
			c := usage[usageKey{u.Principal, u.Action, u.Resource}]
			if c[0] != u.Allowed || c[1] != u.Denied {
				t.Fatalf("%s %s %s: manifest %d/%d, recount %d/%d", u.Principal, u.Action, u.Resource, u.Allowed, u.Denied, c[0], c[1])
			}
			if got, ok := m.Find(u.Principal, u.Action, u.Resource); !ok || got != u {
				t.Fatalf("Find(%s, %s, %s) = %+v, %v", u.Principal, u.Action, u.Resource, got, ok)
			}
		}
		setSource := 0
		for _, u := range m.Usage {
			if u.Action == "sts:SetSourceIdentity" {
				setSource++
			}
		}
		if setSource == 0 {
			t.Error("no sts:SetSourceIdentity use: the sourceIdentity path is not exercised")
		}
		if _, ok := m.Find("arn:aws:iam::000000000000:user/nobody", "s3:GetObject", "*"); ok {
			t.Fatal("Find found a row that does not exist")
		}
	})
	t.Run("keys", func(t *testing.T) {
		if got, want := len(m.Keys), len(keys); got != want {
			t.Fatalf("manifest has %d keys, recount %d", got, want)
		}
		for _, k := range m.Keys {
			if got, want := k.Calls, keys[k.AccessKeyID]; got != want {
				t.Fatalf("key %s: manifest %d calls, recount %d", k.AccessKeyID, got, want)
			}
		}
	})
}

// findSecretLike returns every run of base64 characters that is exactly
// 40 long, the shape of an AWS secret access key
// (regexp (?<![A-Za-z0-9/+])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+]), scanned by
// hand because Go's regexp has no lookaround).
func findSecretLike(data []byte) []string {
	isB64 := func(c byte) bool {
		return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '/' || c == '+'
	}
	var out []string
	start := -1
	for i := 0; i <= len(data); i++ {
		if i < len(data) && isB64(data[i]) {
			if start < 0 {
				start = i
			}
			continue
		}
		if start >= 0 && i-start == 40 {
			out = append(out, string(data[start:i]))
		}
		start = -1
	}
	return out
}

func TestNoSecrets(t *testing.T) {
	t.Run("detector catches a secret", func(t *testing.T) {
		if got := findSecretLike([]byte(`{"k":"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}`)); len(got) != 1 {
			t.Fatalf("findSecretLike = %v, want the example secret", got)
		}
	})
	lines, _ := generateLines(t, smallOptions(5), false)
	if got := findSecretLike(lines); len(got) > 0 {
		t.Fatalf("secret-looking values in the output: %v", got[:min(3, len(got))])
	}
	if bytes.Contains(bytes.ToLower(lines), []byte("secretaccesskey")) {
		t.Fatal("output names a secret access key field")
	}
	eb, _ := generateLines(t, smallOptions(5), true)
	if got := findSecretLike(eb); len(got) > 0 {
		t.Fatalf("secret-looking values in EventBridge output: %v", got[:min(3, len(got))])
	}
}

func TestEventBridge(t *testing.T) {
	lines, m := generateLines(t, smallOptions(9), true)
	plain, _ := generateLines(t, smallOptions(9), false)
	envs := bytes.Split(bytes.TrimSpace(lines), []byte("\n"))
	recs := bytes.Split(bytes.TrimSpace(plain), []byte("\n"))
	if len(envs) != m.Records || len(recs) != len(envs) {
		t.Fatalf("%d envelopes, %d records, manifest %d", len(envs), len(recs), m.Records)
	}
	ids := map[string]bool{}
	for i, line := range envs {
		var env struct {
			Version    string          `json:"version"`
			ID         string          `json:"id"`
			DetailType string          `json:"detail-type"`
			Source     string          `json:"source"`
			Account    string          `json:"account"`
			Region     string          `json:"region"`
			Time       string          `json:"time"`
			Detail     json.RawMessage `json:"detail"`
		}
		if err := json.Unmarshal(line, &env); err != nil {
			t.Fatalf("envelope %d: %v", i, err)
		}
		var r ctRec
		if err := json.Unmarshal(env.Detail, &r); err != nil {
			t.Fatalf("envelope %d detail: %v", i, err)
		}
		var want bytes.Buffer
		if err := json.Compact(&want, recs[i]); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(env.Detail, want.Bytes()) {
			t.Fatalf("envelope %d detail differs from record", i)
		}
		wantType := map[string]string{"AwsApiCall": "AWS API Call via CloudTrail", "AwsServiceEvent": "AWS Service Event via CloudTrail",
			"AwsConsoleSignIn": "AWS Console Sign In via CloudTrail"}[r.EventType]
		svc, _, _ := strings.Cut(r.EventSource, ".")
		if env.Version != "0" || env.DetailType != wantType || env.Source != "aws."+svc || env.Account != r.RecipientAccountID ||
			env.Region != r.AWSRegion || env.Time != r.EventTime || !uuid4RE.MatchString(env.ID) || ids[env.ID] {
			t.Fatalf("envelope %d: %+v for record %s %s", i, env, r.EventSource, r.EventName)
		}
		ids[env.ID] = true
	}
}

func TestMappingsAgainstCatalog(t *testing.T) {
	cat, err := catalog.Load()
	if err != nil {
		t.Fatalf("catalog.Load: %v", err)
	}
	seen := map[string]bool{}
	for _, mp := range Mappings() {
		t.Run(mp.EventSource+"/"+mp.EventName+"/"+mp.Action, func(t *testing.T) {
			if seen[mp.EventSource+mp.EventName+mp.When] {
				t.Fatal("listed twice")
			}
			seen[mp.EventSource+mp.EventName+mp.When] = true
			if mp.Permissionless {
				switch mp.EventName {
				case "GetCallerIdentity":
				case "ConsoleLogin":
					if mp.Action != "" {
						t.Fatalf("ConsoleLogin maps to %s", mp.Action)
					}
					return
				default:
					t.Fatalf("%s marked permissionless", mp.EventName)
				}
			}
			a, ok := cat.Lookup(mp.Action)
			if !ok {
				t.Fatalf("%s is not in the catalog", mp.Action)
			}
			if a.FullName() != mp.Action {
				t.Fatalf("casing: table %s, catalog %s", mp.Action, a.FullName())
			}
			if mp.ResourceType == "" {
				// Charged on "*": the action must not require a resource type.
				for _, r := range a.Resources {
					if r.Required {
						t.Fatalf("%s charged on * but requires resource type %s", mp.Action, r.Type)
					}
				}
				return
			}
			found := false
			for _, r := range a.Resources {
				found = found || r.Type == mp.ResourceType
			}
			if !found {
				t.Fatalf("%s has no resource type %q (has %v)", mp.Action, mp.ResourceType, a.Resources)
			}
		})
	}
	t.Run("manifest resources match their action's resource type", func(t *testing.T) {
		_, m := generateLines(t, smallOptions(13), false)
		for _, u := range m.Usage {
			a, ok := cat.Lookup(u.Action)
			if !ok {
				t.Fatalf("%s not in catalog", u.Action)
			}
			if u.Resource == "*" {
				continue
			}
			if _, ok := cat.MatchResourceType(a, u.Resource); !ok {
				t.Fatalf("%s on %s: the ARN matches none of the action's resource types", u.Action, u.Resource)
			}
		}
	})
}

func TestNewValidates(t *testing.T) {
	cases := []struct {
		name  string
		edit  func(*Options)
		field string
	}{
		{"negative users", func(o *Options) { o.Users = -1 }, "Users"},
		{"bad account", func(o *Options) { o.Accounts = []string{"12345"} }, "Accounts[0]"},
		{"repeated account", func(o *Options) { o.Accounts = []string{"111122223333", "111122223333"} }, "Accounts[1]"},
		{"rate above one", func(o *Options) { o.DeniedRate = 1.5 }, "DeniedRate"},
		{"rates sum above one", func(o *Options) { o.DeniedRate, o.ErrorRate = 0.6, 0.6 }, "DeniedRate+ErrorRate"},
		{"tiny file window", func(o *Options) { o.FileWindow = time.Second }, "FileWindow"},
		{"bad org id", func(o *Options) { o.OrgID = "org-1" }, "OrgID"},
		{"empty region", func(o *Options) { o.Regions = []string{""} }, "Regions[0]"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := DefaultOptions(1)
			c.edit(&o)
			_, err := New(o)
			if !errors.Is(err, ErrBadOptions) {
				t.Fatalf("New err = %v, want ErrBadOptions", err)
			}
			if !strings.Contains(err.Error(), c.field+":") {
				t.Fatalf("New err = %v, want it to name %s", err, c.field)
			}
		})
	}
	t.Run("defaults", func(t *testing.T) {
		g := mustNew(t, Options{Seed: 1})
		o := g.Options()
		if o.Users != 8 || o.Roles != 6 || len(o.Regions) != 2 || g.Total() != 10000 || len(g.Accounts()) != 1 || o.RecordsPerFile != 100 {
			t.Fatalf("defaults: %+v total %d", o, g.Total())
		}
	})
	t.Run("events per day", func(t *testing.T) {
		g := mustNew(t, Options{Seed: 1, EventsPerDay: 500, Days: 3})
		if got, want := g.Total(), 1500; got != want {
			t.Fatalf("Total() = %d, want %d", got, want)
		}
	})
}

func TestStopsOnCallbackError(t *testing.T) {
	g := mustNew(t, smallOptions(1))
	boom := errors.New("boom")
	n := 0
	_, err := g.Records(context.Background(), func(Record) error {
		n++
		if n == 10 {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) || n != 10 {
		t.Fatalf("Records err = %v after %d records, want boom after 10", err, n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := g.Records(ctx, func(Record) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("Records with cancelled ctx err = %v", err)
	}
}

func TestWorkloadsDiffer(t *testing.T) {
	_, m := generateLines(t, smallOptions(21), false)
	actions := map[string]map[string]bool{}
	for _, u := range m.Usage {
		if actions[u.Principal] == nil {
			actions[u.Principal] = map[string]bool{}
		}
		actions[u.Principal][u.Action] = true
	}
	sets := map[string]bool{}
	for _, acts := range actions {
		var list []string
		for a := range acts {
			list = append(list, a)
		}
		sort.Strings(list)
		sets[strings.Join(list, ",")] = true
	}
	if len(actions) < 8 || len(sets) < len(actions)/2 {
		t.Fatalf("%d principals with only %d distinct action sets", len(actions), len(sets))
	}
}

func TestEventBridgeEnvelopeRejects(t *testing.T) {
	for _, c := range []struct {
		name string
		rec  Record
	}{
		{"not an object", Record{EventID: "x", Account: "111122223333", Region: "us-east-1", EventSource: "s3.amazonaws.com", JSON: []byte(`[1]`)}},
		{"quote in region", Record{EventID: "x", Account: "111122223333", Region: `us"east`, EventSource: "s3.amazonaws.com", JSON: []byte(`{}`)}},
		{"control byte in account", Record{EventID: "x", Account: "1111\n", Region: "us-east-1", EventSource: "s3.amazonaws.com", JSON: []byte(`{}`)}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := EventBridgeEnvelope(c.rec); err == nil {
				t.Fatal("EventBridgeEnvelope succeeded")
			}
		})
	}
}

func TestHumansWorkInTheDay(t *testing.T) {
	o := smallOptions(31)
	o.Events = 6000
	humans := map[string]bool{}
	for _, n := range userNames {
		humans[n] = true
	}
	var day, night, machinesDay, machinesNight int
	_, err := mustNew(t, o).Records(context.Background(), func(rec Record) error {
		var r ctRec
		if err := json.Unmarshal(rec.JSON, &r); err != nil {
			return err
		}
		isDay := rec.Time.Hour() >= 7 && rec.Time.Hour() < 19
		human := r.UserIdentity.Type == "IAMUser" && humans[r.UserIdentity.UserName]
		switch {
		case human && isDay:
			day++
		case human:
			night++
		case isDay:
			machinesDay++
		default:
			machinesNight++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Both bands are 12 hours long.
	if day < 2*night || machinesNight < machinesDay {
		t.Fatalf("human calls day %d / night %d, machine calls day %d / night %d", day, night, machinesDay, machinesNight)
	}
}

func TestConcurrentRuns(t *testing.T) {
	g := mustNew(t, smallOptions(8))
	outs := make([]bytes.Buffer, 3)
	var wg sync.WaitGroup
	errs := make([]error, len(outs))
	for i := range outs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = g.WriteJSONLines(context.Background(), &outs[i], i == 2)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
	}
	if !bytes.Equal(outs[0].Bytes(), outs[1].Bytes()) || outs[0].Len() == 0 {
		t.Fatal("concurrent runs of one Generator gave different records")
	}
}
