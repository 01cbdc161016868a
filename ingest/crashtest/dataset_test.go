package crashtest

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/iamd/iamd/analyzer/catalog"
	"github.com/iamd/iamd/ingest"
	"github.com/iamd/iamd/store"
)

// dataset is a seeded synthetic trail in the shapes each source reads:
// Kafka messages (single records, {"Records":[…]} batches, EventBridge
// envelopes, a few re-sent and a few broken ones) and S3 log files
// (gzipped, per account × region × 5 minutes, plus a digest and a
// corrupt file).
type dataset struct {
	records  [][]byte
	messages [][]byte
	files    map[string][]byte // key → body
}

var (
	accounts = []string{"111122223333", "444455556666"}
	regions  = []string{"us-east-1", "eu-west-1"}
)

type call struct{ source, name, params string }

var calls = []call{
	{"s3", "GetObject", `{"bucketName":"data-%d","key":"k/%d.csv"}`},
	{"s3", "PutObject", `{"bucketName":"data-%d","key":"out/%d.json"}`},
	{"ec2", "DescribeInstances", `{"n":%d,"m":%d}`},
	{"iam", "ListUsers", `{"n":%d,"m":%d}`},
	{"kms", "Decrypt", `{"n":%d,"m":%d}`},
	{"sts", "GetCallerIdentity", `{"n":%d,"m":%d}`},
	{"dynamodb", "GetItem", `{"tableName":"t%d","n":%d}`},
}

func identity(r *rand.Rand, account string) string {
	if r.IntN(2) == 0 {
		u := r.IntN(4)
		return fmt.Sprintf(`{"type":"IAMUser","principalId":"AIDA%d","arn":"arn:aws:iam::%s:user/u%d","accountId":"%s","accessKeyId":"AKIA%s%d","userName":"u%d"}`,
			u, account, u, account, account, u, u)
	}
	role := r.IntN(3)
	sess := r.IntN(5)
	return fmt.Sprintf(`{"type":"AssumedRole","principalId":"AROA%d:s%d","arn":"arn:aws:sts::%s:assumed-role/R%d/s%d","accountId":"%s","accessKeyId":"ASIA%s%d","sessionContext":{"sessionIssuer":{"type":"Role","principalId":"AROA%d","arn":"arn:aws:iam::%s:role/R%d","accountId":"%s","userName":"R%d"}}}`,
		role, sess, account, role, sess, account, account, sess, role, account, role, account, role)
}

// newDataset generates n records over one day, deterministically from seed.
func newDataset(seed uint64, n int) *dataset {
	r := rand.New(rand.NewPCG(seed, 17))
	start := time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)
	d := &dataset{files: map[string][]byte{}}
	type fileKey struct {
		account, region string
		window          time.Time
	}
	perFile := map[fileKey][]string{}
	for i := range n {
		account := accounts[r.IntN(len(accounts))]
		region := regions[r.IntN(len(regions))]
		t := start.Add(time.Duration(i) * 7 * time.Second)
		c := calls[r.IntN(len(calls))]
		errCode := ""
		if r.IntN(20) == 0 {
			errCode = `,"errorCode":"AccessDenied","errorMessage":"no"`
		}
		rec := fmt.Sprintf(`{"eventVersion":"1.09","userIdentity":%s,"eventTime":%q,"eventSource":"%s.amazonaws.com","eventName":%q,"awsRegion":%q,"sourceIPAddress":"10.0.%d.%d","userAgent":"aws-cli/2","requestParameters":%s,"eventID":"%08x-crash-%06d","eventType":"AwsApiCall","recipientAccountId":%q%s}`,
			identity(r, account), t.Format(time.RFC3339), c.source, c.name, region, r.IntN(4), r.IntN(250),
			fmt.Sprintf(c.params, r.IntN(3), r.IntN(5)), seed, i, account, errCode)
		d.records = append(d.records, []byte(rec))
		fk := fileKey{account, region, t.Truncate(5 * time.Minute)}
		perFile[fk] = append(perFile[fk], rec)
	}

	// Kafka messages.
	for i := 0; i < n; {
		switch k := r.IntN(20); {
		case k < 12 || i == n-1:
			d.messages = append(d.messages, d.records[i])
			i++
		case k < 17:
			m := min(2+r.IntN(9), n-i)
			var parts []string
			for _, rec := range d.records[i : i+m] {
				parts = append(parts, string(rec))
			}
			d.messages = append(d.messages, []byte(`{"Records":[`+strings.Join(parts, ",")+`]}`))
			i += m
		default:
			d.messages = append(d.messages, []byte(fmt.Sprintf(`{"version":"0","id":"eb-%d","detail-type":"AWS API Call via CloudTrail","source":"aws.cloudtrail","account":"111122223333","time":"2026-11-20T08:00:00Z","region":"us-east-1","resources":[],"detail":%s}`, i, d.records[i])))
			i++
		}
		if r.IntN(100) == 0 { // an at-least-once producer re-sends
			d.messages = append(d.messages, d.records[r.IntN(i)])
		}
	}
	d.messages = append(d.messages, []byte(`{"Records":[{"eventID":"broken"`), []byte(`not json at all`), []byte(`{"eventID":"no-time","eventName":"X"}`))

	// S3 files.
	for fk, recs := range perFile {
		key := fmt.Sprintf("AWSLogs/%s/CloudTrail/%s/%s/%s_CloudTrail_%s_%s_%s.json.gz", fk.account, fk.region,
			fk.window.Format("2006/01/02"), fk.account, fk.region, fk.window.Format("20060102T1504Z"), fk.window.Format("150405"))
		d.files[key] = gz(`{"Records":[` + strings.Join(recs, ",") + `]}`)
	}
	d.files["AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2026/11/20/111122223333_CloudTrail-Digest_us-east-1_t_us-east-1_20261120T0900Z.json.gz"] = gz(`{"digestStartTime":"x"}`)
	d.files["AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/20/111122223333_CloudTrail_us-east-1_20261120T0901Z_corrupt.json.gz"] = []byte("\x1f\x8b\x08\x00garbage")
	return d
}

func gz(s string) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	return b.Bytes()
}

// newConverter returns the real ingest converter.
func newConverter(t testing.TB) *ingest.Converter {
	t.Helper()
	cat, err := catalog.Load()
	if err != nil {
		t.Fatalf("catalog: %v", err)
	}
	c, err := ingest.NewConverter(ingest.ConverterOptions{Catalog: cat, Now: func() time.Time { return time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC) }})
	if err != nil {
		t.Fatalf("converter: %v", err)
	}
	return c
}

// snapshot is what the store holds, for comparison.
type snapshot struct {
	Dedup       int64
	Facts       map[string][2]uint64 // principal|action|resource → allowed, denied
	Quarantined map[string]uint64
}

func (s snapshot) events() (n uint64) {
	for _, v := range s.Facts {
		n += v[0] + v[1]
	}
	return n
}

func takeSnapshot(t testing.TB, db *store.DB) snapshot {
	t.Helper()
	ctx := context.Background()
	st, err := db.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s := snapshot{Dedup: st.Dedup, Facts: map[string][2]uint64{}}
	err = db.EachFact(ctx, store.FactQuery{}, func(f store.Fact) error {
		s.Facts[f.Principal+"|"+f.Action+"|"+f.Resource] = [2]uint64{f.Allowed, f.Denied}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if s.Quarantined, err = db.QuarantineCounts(ctx); err != nil {
		t.Fatal(err)
	}
	return s
}

// compare returns the fact counts missing from got (lost) and in excess
// of want (double-counted), and a description of other differences.
func compare(want, got snapshot) (lost, double uint64, other []string) {
	keys := map[string]bool{}
	for k := range want.Facts {
		keys[k] = true
	}
	for k := range got.Facts {
		keys[k] = true
	}
	for k := range keys {
		w, g := want.Facts[k], got.Facts[k]
		for i := range 2 {
			if g[i] < w[i] {
				lost += w[i] - g[i]
			} else {
				double += g[i] - w[i]
			}
		}
	}
	if want.Dedup != got.Dedup {
		other = append(other, fmt.Sprintf("dedup set %d, want %d", got.Dedup, want.Dedup))
	}
	if fmt.Sprint(want.Quarantined) != fmt.Sprint(got.Quarantined) {
		other = append(other, fmt.Sprintf("quarantine %v, want %v", got.Quarantined, want.Quarantined))
	}
	sort.Strings(other)
	return lost, double, other
}

// reference ingests payloads without interruption into an in-memory store.
func reference(t testing.TB, conv *ingest.Converter, payloads map[string][]byte) snapshot {
	t.Helper()
	db, err := store.Open(store.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	names := make([]string, 0, len(payloads))
	for k := range payloads {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, name := range names {
		out, err := conv.ConvertPayload(context.Background(), name, payloads[name])
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Write(context.Background(), &store.Batch{Events: out.Events, Quarantined: out.Quarantined}); err != nil {
			t.Fatalf("reference write %s: %v", name, err)
		}
	}
	return takeSnapshot(t, db)
}
