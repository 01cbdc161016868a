package s3source_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/iamd/iamd/ingest/s3source"
	"github.com/iamd/iamd/store"
)

// decode is a small stand-in for the ingest decoders: a gzipped or plain
// {"Records":[…]} file.
func decode(where string, payload []byte) (s3source.Decoded, error) {
	if len(payload) > 2 && payload[0] == 0x1f && payload[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(payload))
		if err != nil {
			return s3source.Decoded{}, err
		}
		if payload, err = io.ReadAll(zr); err != nil {
			return s3source.Decoded{}, fmt.Errorf("gunzip: %w", err)
		}
	}
	var w struct {
		Records []struct {
			EventID   string `json:"eventID"`
			EventTime string `json:"eventTime"`
			EventName string `json:"eventName"`
			User      struct {
				ARN string `json:"arn"`
			} `json:"userIdentity"`
		} `json:"Records"`
	}
	if err := json.Unmarshal(payload, &w); err != nil {
		return s3source.Decoded{}, fmt.Errorf("bad json: %w", err)
	}
	var d s3source.Decoded
	for _, r := range w.Records {
		d.Records++
		t, _ := time.Parse(time.RFC3339, r.EventTime)
		d.Events = append(d.Events, store.Event{ID: r.EventID, Time: t, Principal: r.User.ARN,
			Uses: []store.Use{{Action: "s3:" + r.EventName, Resource: "*"}}})
	}
	return d, nil
}

type fixture struct {
	t      *testing.T
	client *s3.Client
	n      int // event IDs handed out
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	backend := s3mem.New(s3mem.WithTimeSource(gofakes3.FixedTimeSource(time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC))))
	ts := httptest.NewServer(gofakes3.New(backend).Server())
	t.Cleanup(ts.Close)
	client := s3.New(s3.Options{
		Region:                     "us-east-1",
		BaseEndpoint:               aws.String(ts.URL),
		UsePathStyle:               true,
		Credentials:                credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
	if _, err := client.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String("trail")}); err != nil {
		t.Fatalf("create bucket: %v", err)
	}
	return &fixture{t: t, client: client}
}

func (f *fixture) put(key string, body []byte) {
	f.t.Helper()
	_, err := f.client.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String("trail"), Key: aws.String(key), Body: bytes.NewReader(body)})
	if err != nil {
		f.t.Fatalf("put %s: %v", key, err)
	}
}

// putLog puts a gzipped log file of n records for base/account/region at t.
func (f *fixture) putLog(base, account, region string, t time.Time, n int) string {
	var recs []string
	for range n {
		f.n++
		recs = append(recs, fmt.Sprintf(`{"eventID":"ev-%d","eventTime":"%s","eventName":"GetObject","userIdentity":{"arn":"arn:aws:iam::%s:user/u%d"}}`,
			f.n, t.Format(time.RFC3339), account, f.n%4))
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write([]byte(`{"Records":[` + strings.Join(recs, ",") + `]}`))
	zw.Close()
	key := fmt.Sprintf("%sAWSLogs/%s%s/CloudTrail/%s/%s/%s_CloudTrail_%s_%s_%04d.json.gz",
		"", base, account, region, t.Format("2006/01/02"), account, region, t.Format("20060102T1504Z"), f.n)
	f.put(key, buf.Bytes())
	return key
}

func openStore(t *testing.T) *store.DB {
	t.Helper()
	db, err := store.Open(store.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func run(t *testing.T, f *fixture, db *store.DB, edit func(*s3source.Config)) s3source.Stats {
	t.Helper()
	cfg := s3source.Config{Bucket: "trail", Decode: decode, Workers: 3, BatchMaxRecords: 7,
		Now: func() time.Time { return time.Date(2026, 11, 23, 12, 30, 0, 0, time.UTC) }}
	if edit != nil {
		edit(&cfg)
	}
	src, err := s3source.New(cfg, f.client, db)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := src.Run(ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}
	return src.Stats()
}

func TestBackfillResumeLateDelivery(t *testing.T) {
	f := newFixture(t)
	day := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	for i := range 4 {
		f.putLog("", "111122223333", "us-east-1", day.Add(time.Duration(i)*5*time.Minute), 3)
		f.putLog("", "111122223333", "eu-west-1", day.Add(time.Duration(i)*5*time.Minute), 2)
		f.putLog("o-abc123/", "444455556666", "us-east-1", day.Add(time.Duration(i)*5*time.Minute), 1)
	}
	f.put("AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2026/11/22/111122223333_CloudTrail-Digest_us-east-1_x_20261122T1000Z.json.gz", []byte("{}"))
	f.put("AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/22/README.txt", []byte("x"))
	db := openStore(t)

	st := run(t, f, db, nil)
	if got, want := fmt.Sprintf("streams=%d objects=%d written=%d digests=%d", st.Streams, st.Objects, st.Written, st.Digests),
		"streams=3 objects=12 written=24 digests=1"; got != want {
		t.Errorf("first run: %s, want %s", got, want)
	}
	// Newest object was modified 12:00 by the fake's clock; now is 12:30.
	if got, want := st.Lag, 30*time.Minute; got != want {
		t.Errorf("Lag=%v, want %v", got, want)
	}

	// A second run reads nothing new: the look-back keys are skipped.
	st = run(t, f, db, nil)
	if st.Objects != 0 || st.Written != 0 || st.Skipped != 12 {
		t.Errorf("second run: objects=%d written=%d skipped=%d, want 0, 0, 12", st.Objects, st.Written, st.Skipped)
	}

	// A late file (key older than the checkpoint, within the look-back)
	// and a new one are both read, once.
	f.putLog("", "111122223333", "us-east-1", day.Add(7*time.Minute), 2)
	f.putLog("", "111122223333", "us-east-1", day.Add(30*time.Minute), 2)
	st = run(t, f, db, nil)
	if got, want := fmt.Sprintf("objects=%d written=%d duplicates=%d", st.Objects, st.Written, st.Duplicates), "objects=2 written=4 duplicates=0"; got != want {
		t.Errorf("late delivery: %s, want %s", got, want)
	}
	cp, ok, err := db.Checkpoint(context.Background(), s3source.CheckpointSource("trail", "", "", "111122223333", "us-east-1"))
	if err != nil || !ok {
		t.Fatalf("checkpoint: ok=%v err=%v", ok, err)
	}
	if !strings.Contains(cp.Position, `"last":"AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/22/111122223333_CloudTrail_us-east-1_20261122T1030Z_`) {
		t.Errorf("checkpoint position %s does not end at the 10:30 file", cp.Position)
	}
	stats, _ := db.Stats(context.Background())
	if got, want := stats.Dedup, int64(28); got != want {
		t.Errorf("store Dedup=%d, want %d", got, want)
	}
}

func TestFilters(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*s3source.Config)
		want string
	}{
		{"all", nil, "streams=3 objects=6"},
		{"accounts", func(c *s3source.Config) { c.Accounts = []string{"111122223333"} }, "streams=2 objects=4"},
		{"regions", func(c *s3source.Config) { c.Regions = []string{"eu-west-1"} }, "streams=2 objects=2"},
		{"org", func(c *s3source.Config) { c.OrgID = "o-abc123" }, "streams=1 objects=2"},
		{"given", func(c *s3source.Config) {
			c.Accounts, c.Regions, c.OrgID = []string{"444455556666"}, []string{"us-east-1"}, "o-abc123"
		}, "streams=1 objects=2"},
		{"since", func(c *s3source.Config) { c.Since = time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC) }, "streams=3 objects=3"},
		{"until", func(c *s3source.Config) { c.Until = time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC) }, "streams=3 objects=3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			for _, d := range []time.Time{time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC), time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)} {
				f.putLog("", "111122223333", "us-east-1", d, 1)
				f.putLog("", "111122223333", "eu-west-1", d, 1)
				f.putLog("o-abc123/", "444455556666", "us-east-1", d, 1)
			}
			st := run(t, f, openStore(t), tc.edit)
			if got := fmt.Sprintf("streams=%d objects=%d", st.Streams, st.Objects); got != tc.want {
				t.Errorf("%s, want %s", got, tc.want)
			}
		})
	}
}

func TestBadFilesAreQuarantined(t *testing.T) {
	f := newFixture(t)
	day := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	f.putLog("", "111122223333", "us-east-1", day, 2)
	f.put("AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/22/111122223333_CloudTrail_us-east-1_20261122T1005Z_bad.json.gz", []byte("\x1f\x8bnot gzip"))
	f.putLog("", "111122223333", "us-east-1", day.Add(10*time.Minute), 2)
	db := openStore(t)
	st := run(t, f, db, nil)
	if got, want := fmt.Sprintf("objects=%d written=%d quarantined=%v", st.Objects, st.Written, st.Quarantined),
		"objects=3 written=4 quarantined=map[undecodable:1]"; got != want {
		t.Errorf("%s, want %s", got, want)
	}
	q, err := db.Quarantine(context.Background(), 0)
	if err != nil || len(q) != 1 || !strings.HasSuffix(q[0].Where, "_bad.json.gz") {
		t.Fatalf("store quarantine=%+v err=%v, want the bad file", q, err)
	}
}

func TestTailPicksUpNewFiles(t *testing.T) {
	f := newFixture(t)
	day := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	f.putLog("", "111122223333", "us-east-1", day, 2)
	db := openStore(t)
	src, err := s3source.New(s3source.Config{Bucket: "trail", Decode: decode, Tail: true, PollInterval: 20 * time.Millisecond}, f.client, db)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx) }()
	wait := func(n int64) {
		deadline := time.Now().Add(10 * time.Second)
		for src.Stats().Written < n {
			if time.Now().After(deadline) {
				t.Fatalf("Written=%d, want %d", src.Stats().Written, n)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	wait(2)
	f.putLog("", "111122223333", "us-east-1", day.Add(5*time.Minute), 3)
	wait(5)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run after cancel: %v", err)
	}
	if got := src.Stats().Polls; got < 2 {
		t.Errorf("Polls=%d, want ≥ 2", got)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  s3source.Config
		want string
	}{
		{"bucket", s3source.Config{Decode: decode}, "Bucket"},
		{"decode", s3source.Config{Bucket: "b"}, "Decode"},
		{"account", s3source.Config{Bucket: "b", Decode: decode, Accounts: []string{"12"}}, "Accounts[0]"},
		{"org", s3source.Config{Bucket: "b", Decode: decode, OrgID: "abc"}, "OrgID"},
		{"range", s3source.Config{Bucket: "b", Decode: decode, Since: time.Unix(100, 0), Until: time.Unix(50, 0)}, "Until"},
		{"queue without tail", s3source.Config{Bucket: "b", Decode: decode, Queue: "q", QueueClient: &sqs.Client{}}, "Queue: requires Tail"},
		{"queue without client", s3source.Config{Bucket: "b", Decode: decode, Tail: true, Queue: "q"}, "QueueClient"},
		{"queue wait", s3source.Config{Bucket: "b", Decode: decode, Tail: true, Queue: "q", QueueClient: &sqs.Client{}, QueueWait: time.Minute}, "QueueWait"},
		{"queue messages", s3source.Config{Bucket: "b", Decode: decode, Tail: true, Queue: "q", QueueClient: &sqs.Client{}, QueueMessages: 11}, "QueueMessages"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s3source.New(tc.cfg, &s3.Client{}, &store.DB{})
			if !errors.Is(err, s3source.ErrConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New()=%v, want ErrConfig naming %s", err, tc.want)
			}
		})
	}
}
