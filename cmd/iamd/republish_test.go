package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
)

func roleRecord(id, role string) string {
	return fmt.Sprintf(`{"eventVersion":"1.08","userIdentity":{"type":"AssumedRole","principalId":"AROA1:s","arn":"arn:aws:sts::111122223333:assumed-role/%s/s","accountId":"111122223333","accessKeyId":"ASIA1","sessionContext":{"sessionIssuer":{"type":"Role","principalId":"AROA1","arn":"arn:aws:iam::111122223333:role/%s","accountId":"111122223333","userName":"%s"}}},"eventTime":"2026-11-20T03:04:05Z","eventSource":"s3.amazonaws.com","eventName":"ListBuckets","awsRegion":"us-east-1","eventID":%q,"recipientAccountId":"111122223333"}`, role, role, role, id)
}

func TestRepublish(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "raw", "keyed"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	addr := c.ListenAddrs()[0]
	w := &kafka.Writer{Addr: kafka.TCP(addr), Topic: "raw", BatchTimeout: 5 * time.Millisecond, Balancer: &kafka.RoundRobin{}}
	err = w.WriteMessages(context.Background(),
		kafka.Message{Value: []byte(`{"Records":[` + fmt.Sprintf(cmdRecord, "a1") + "," + roleRecord("r1", "Deploy") + "," + roleRecord("r2", "Build") + `]}`)},
		kafka.Message{Value: []byte(fmt.Sprintf(cmdRecord, "a2"))},
		kafka.Message{Value: []byte(`{"version":"0","detail-type":"AWS API Call via CloudTrail","source":"aws.s3","detail":` + roleRecord("r3", "Deploy") + `}`)},
		kafka.Message{Value: []byte(`{"eventTime":"2026-11-20T03:04:05Z","eventSource":"s3.amazonaws.com","eventName":"X","userIdentity":{"type":"AWSService","invokedBy":"s3.amazonaws.com"},"eventID":"svc"}`)},
		kafka.Message{Value: []byte(`{broken`)},
	)
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := runIamdFrom(t, ctx, "republish", "--brokers", addr, "--from-topic", "raw", "--to-topic", "keyed",
		"--wait", "200ms", "--idle", "1500ms", "--format", "json")
	if err != nil {
		t.Fatalf("republish: %v\n%s", err, out)
	}
	var st republishStats
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("output %q: %v", out, err)
	}
	if got, want := fmt.Sprintf("messages=%d records=%d published=%d unkeyed=%d dropped=%d", st.Messages, st.Records, st.Published, st.Unkeyed, st.Dropped),
		"messages=5 records=7 published=6 unkeyed=1 dropped=1"; got != want {
		t.Errorf("%s, want %s", got, want)
	}

	r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{addr}, GroupID: "check", GroupTopics: []string{"keyed"},
		MaxWait: 100 * time.Millisecond, SessionTimeout: 6 * time.Second, ErrorLogger: kafka.LoggerFunc(t.Logf)})
	defer r.Close()
	partOf := map[string]int{}
	var got []string
	for range 6 {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			t.Fatalf("read keyed topic: %v", err)
		}
		var rec struct {
			EventID string `json:"eventID"`
		}
		_ = json.Unmarshal(m.Value, &rec)
		key := string(m.Key)
		if p, ok := partOf[key]; ok && p != m.Partition {
			t.Errorf("key %q in partitions %d and %d", key, p, m.Partition)
		}
		partOf[key] = m.Partition
		got = append(got, rec.EventID+"="+key[strings.LastIndexByte(key, ':')+1:])
	}
	sort.Strings(got)
	if want := "[= a1=user/alice a2=user/alice r1=role/Deploy r2=role/Build r3=role/Deploy]"; fmt.Sprint(got) != want {
		t.Errorf("keyed messages %v, want %v", got, want)
	}

	// The source offsets were committed: a second run republishes nothing.
	out, err = runIamdFrom(t, ctx, "republish", "--brokers", addr, "--from-topic", "raw", "--to-topic", "keyed",
		"--wait", "200ms", "--idle", "1500ms", "--format", "json")
	if err != nil {
		t.Fatal(err)
	}
	st = republishStats{}
	if err := json.Unmarshal([]byte(out), &st); err != nil || st.Messages != 0 {
		t.Errorf("second run read %d messages (err %v), want 0", st.Messages, err)
	}
}

func TestRepublishValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    republishOptions
		want string
	}{
		{"brokers", republishOptions{fromTopic: "a", toTopic: "b", batch: 1, wait: time.Second, format: "json"}, "--brokers"},
		{"same topic", republishOptions{brokers: []string{"b:1"}, fromTopic: "a", toTopic: "a", batch: 1, wait: time.Second, format: "json"}, "must differ"},
		{"batch", republishOptions{brokers: []string{"b:1"}, fromTopic: "a", toTopic: "b", wait: time.Second, format: "json"}, "--batch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.o.validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("validate()=%v, want an error naming %s", err, tc.want)
			}
		})
	}
}
