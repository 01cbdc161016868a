package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/iamd/iamd/store"
)

func TestParseFromURL(t *testing.T) {
	t.Setenv(kafkaPasswordEnv, "s3cret")
	for _, tc := range []struct {
		name, url string
		want      string // fmt of the relevant config, or the error substring
		err       bool
	}{
		{name: "kafka minimal", url: "kafka://b1/trail",
			want: "brokers=[b1:9092] topics=[trail] group= dlq= last=false sasl= batch=0 wait=0s tls=false"},
		{name: "kafka full", url: "kafka://b1:9093,b2:9094/t1,t2?group=g&dlq=dead&start=last&sasl=scram-sha-512&user=u&batch=500&wait=2s&tls=true",
			want: "brokers=[b1:9093 b2:9094] topics=[t1 t2] group=g dlq=dead last=true sasl=scram-sha-512/u/true batch=500 wait=2s tls=true"},
		{name: "kafka no topic", url: "kafka://b1", want: "no topic", err: true},
		{name: "kafka bad start", url: "kafka://b1/t?start=middle", want: `start="middle"`, err: true},
		{name: "unknown option", url: "kafka://b1/t?grup=g", want: `unknown option "grup"`, err: true},
		{name: "s3 minimal", url: "s3://bucket",
			want: "bucket=bucket prefix= accounts=[] regions=[] org= since=0001-01-01 until=0001-01-01 tail=true poll=0s workers=0 region= endpoint="},
		{name: "s3 full", url: "s3://bucket/logs/?accounts=111122223333,444455556666&regions=us-east-1&org=o-abc&since=2026-11-01&until=2026-11-20&poll=30s&workers=8&region=eu-west-1&endpoint=http://localhost:9000",
			want: "bucket=bucket prefix=logs/ accounts=[111122223333 444455556666] regions=[us-east-1] org=o-abc since=2026-11-01 until=2026-11-20 tail=false poll=30s workers=8 region=eu-west-1 endpoint=http://localhost:9000"},
		{name: "s3 tail override", url: "s3://b?until=2026-11-20&tail=true",
			want: "bucket=b prefix= accounts=[] regions=[] org= since=0001-01-01 until=2026-11-20 tail=true poll=0s workers=0 region= endpoint="},
		{name: "s3 bad since", url: "s3://b?since=yesterday", want: `since="yesterday"`, err: true},
		{name: "s3 bad workers", url: "s3://b?workers=-1", want: `workers="-1"`, err: true},
		{name: "scheme", url: "http://x", want: "want kafka:// or s3://", err: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs, err := parseFromURL(tc.url)
			if tc.err {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("parseFromURL(%q) error %v, want one containing %q", tc.url, err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got string
			if k := fs.kafka; k != nil {
				sasl := ""
				if k.SASL.Mechanism != "" {
					sasl = fmt.Sprintf("%s/%s/%v", k.SASL.Mechanism, k.SASL.Username, k.SASL.Password == "s3cret")
				}
				got = fmt.Sprintf("brokers=%v topics=%v group=%s dlq=%s last=%v sasl=%s batch=%d wait=%v tls=%v",
					k.Brokers, k.Topics, k.GroupID, k.DeadLetterTopic, k.StartLast, sasl, k.BatchMaxRecords, k.BatchMaxWait, k.TLS != nil)
			} else {
				c := fs.s3
				got = fmt.Sprintf("bucket=%s prefix=%s accounts=%v regions=%v org=%s since=%s until=%s tail=%v poll=%v workers=%d region=%s endpoint=%s",
					c.Bucket, c.Prefix, c.Accounts, c.Regions, c.OrgID, c.Since.Format("2006-01-02"), c.Until.Format("2006-01-02"),
					c.Tail, c.PollInterval, c.Workers, fs.region, fs.endpoint)
			}
			if got != tc.want {
				t.Errorf("parseFromURL(%q)\n got %s\nwant %s", tc.url, got, tc.want)
			}
		})
	}
}

const cmdRecord = `{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","principalId":"AIDA1","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","accessKeyId":"AKIAEXAMPLE1","userName":"alice"},"eventTime":"2026-11-20T03:04:05Z","eventSource":"iam.amazonaws.com","eventName":"ListUsers","awsRegion":"us-east-1","sourceIPAddress":"10.0.0.1","userAgent":"aws-cli","eventID":"%s","recipientAccountId":"111122223333"}`

func runIamdFrom(t *testing.T, ctx context.Context, args ...string) (string, error) {
	t.Helper()
	root := newRootCmd()
	var out, stderr bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if stderr.Len() > 0 {
		t.Logf("stderr: %s", stderr.String())
	}
	return out.String(), err
}

func storeDedup(t *testing.T, dir string) int64 {
	t.Helper()
	db, err := store.Open(store.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	st, err := db.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st.Dedup
}

func TestIngestFromS3(t *testing.T) {
	t.Setenv("AWS_CA_BUNDLE", "")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_CONFIG_FILE", "/dev/null")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
	ts := httptest.NewServer(gofakes3.New(s3mem.New()).Server())
	defer ts.Close()
	client := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(ts.URL), UsePathStyle: true,
		Credentials:                credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired})
	ctx := context.Background()
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("trail")}); err != nil {
		t.Fatal(err)
	}
	body := `{"Records":[` + fmt.Sprintf(cmdRecord, "e1") + "," + fmt.Sprintf(cmdRecord, "e2") + `]}`
	key := "logs/AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/20/111122223333_CloudTrail_us-east-1_20261120T0305Z_a.json"
	if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("trail"), Key: aws.String(key), Body: strings.NewReader(body)}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	out, err := runIamdFrom(t, ctx, "ingest", "--store", dir, "--format", "json", "--from", "s3://trail/logs?tail=false&region=us-east-1&endpoint="+ts.URL)
	if err != nil {
		t.Fatalf("ingest --from s3: %v\n%s", err, out)
	}
	var st struct{ Objects, Written, Streams int64 }
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("output %q: %v", out, err)
	}
	if got, want := fmt.Sprintf("%+v", st), "{Objects:1 Written:2 Streams:1}"; got != want {
		t.Errorf("stats %s, want %s", got, want)
	}
	if got := storeDedup(t, dir); got != 2 {
		t.Errorf("store holds %d events, want 2", got)
	}
}

func TestIngestFromKafka(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "trail"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	addr := c.ListenAddrs()[0]
	w := &kafka.Writer{Addr: kafka.TCP(addr), Topic: "trail", BatchTimeout: 5 * time.Millisecond}
	var msgs []kafka.Message
	for i := range 5 {
		msgs = append(msgs, kafka.Message{Value: []byte(fmt.Sprintf(cmdRecord, fmt.Sprint("k", i)))})
	}
	if err := w.WriteMessages(context.Background(), msgs...); err != nil {
		t.Fatal(err)
	}
	w.Close()
	dir := t.TempDir()
	// The source runs until interrupted; the deadline plays SIGTERM.
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Second)
	defer cancel()
	out, err := runIamdFrom(t, ctx, "ingest", "--store", dir, "--format", "json", "--from", "kafka://"+addr+"/trail?group=cmd&wait=100ms")
	if err != nil {
		t.Fatalf("ingest --from kafka: %v\n%s", err, out)
	}
	var st struct{ Messages, Written int64 }
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("output %q: %v", out, err)
	}
	if st.Messages != 5 || st.Written != 5 {
		t.Errorf("stats %+v, want 5 messages, 5 written", st)
	}
	if got := storeDedup(t, dir); got != 5 {
		t.Errorf("store holds %d events, want 5", got)
	}
}

// A bad --from URL is reported without the credentials it carries.
func TestParseFromURLHidesPassword(t *testing.T) {
	for _, raw := range []string{
		"ftp://alice:hunter2@broker:9092/topic",
		"kafka://alice:hunter2@broker:9092/topic\x7f",
	} {
		_, err := parseFromURL(raw)
		if err == nil {
			t.Fatalf("parseFromURL(%q): no error", raw)
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Fatalf("parseFromURL(%q) error shows the password: %v", raw, err)
		}
	}
}
