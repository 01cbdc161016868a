package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
)

// TestLoad publishes a generated trail to Kafka and uploads it to S3,
// then checks every record arrived: one message each, and an S3 backfill
// of the bucket ingests them all.
func TestLoad(t *testing.T) {
	t.Setenv("AWS_CA_BUNDLE", "")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_CONFIG_FILE", "/dev/null")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
	dir := t.TempDir()
	trail := filepath.Join(dir, "trail")
	if _, err := runIamd(t, "gen-trail", "--out", trail, "--events", "800", "--seed", "3"); err != nil {
		t.Fatal(err)
	}
	// A JSON-lines file beside the log files: split by line.
	lines := filepath.Join(dir, "extra.jsonl")
	if err := os.WriteFile(lines, []byte(fmt.Sprintf(cmdRecord, "l1")+"\n"+fmt.Sprintf(cmdRecord, "l2")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "cloudtrail"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	broker := c.ListenAddrs()[0]
	ts := httptest.NewServer(gofakes3.New(s3mem.New()).Server())
	defer ts.Close()
	client := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(ts.URL), UsePathStyle: true,
		Credentials:                credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired})
	ctx := context.Background()
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("trail")}); err != nil {
		t.Fatal(err)
	}

	out, err := runIamdStdout(t, "load", "--to", "kafka://"+broker+"/cloudtrail",
		"--to", "s3://trail/demo?region=us-east-1&endpoint="+ts.URL, trail, lines)
	if err != nil {
		t.Fatalf("load: %v\n%s", err, out)
	}
	if !strings.Contains(out, "published 802 records") || !strings.Contains(out, "to s3://trail/demo/") {
		t.Errorf("load printed %q", out)
	}

	var messages int64
	for p := range 3 {
		conn, err := kafka.DialLeader(ctx, "tcp", broker, "cloudtrail", p)
		if err != nil {
			t.Fatal(err)
		}
		last, err := conn.ReadLastOffset()
		conn.Close()
		if err != nil {
			t.Fatal(err)
		}
		messages += last
	}
	if messages != 802 {
		t.Errorf("topic holds %d messages, want 802 (800 records + 2 lines)", messages)
	}

	out, err = runIamdFrom(t, ctx, "ingest", "--store", filepath.Join(dir, "store"), "--format", "json",
		"--from", "s3://trail/demo?tail=false&region=us-east-1&endpoint="+ts.URL)
	if err != nil {
		t.Fatalf("ingest --from s3: %v\n%s", err, out)
	}
	var st struct{ Records int64 }
	if err := json.Unmarshal([]byte(out), &st); err != nil || st.Records != 800 {
		t.Errorf("S3 backfill of the uploaded trail read %d records (%v), want 800: %s", st.Records, err, out)
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"load", dir}, "--to is required"},
		{[]string{"load", "--to", "kafka://k/a,b", dir}, "one topic"},
		{[]string{"load", "--to", "ftp://x", dir}, "scheme"},
		{[]string{"load", "--to", "kafka://k/t", dir}, "no CloudTrail file"},
	} {
		_, err := runIamd(t, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("iamd %v = %v, want an error containing %q", tc.args, err, tc.want)
		}
	}
}
