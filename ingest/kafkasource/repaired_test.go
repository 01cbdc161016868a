package kafkasource_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/segmentio/kafka-go"

	"github.com/iamd/iamd/analyzer/catalog"
	"github.com/iamd/iamd/ingest"
	"github.com/iamd/iamd/ingest/kafkasource"
)

// A message the decoder has to mend (records without the commas between
// them) is read whole and also counted and named as repaired.
func TestRepairedMessagesAreCountedAndNamed(t *testing.T) {
	cat, err := catalog.Load()
	if err != nil {
		t.Fatal(err)
	}
	conv, err := ingest.NewConverter(ingest.ConverterOptions{Catalog: cat})
	if err != nil {
		t.Fatal(err)
	}
	rec := func(i int) string {
		return fmt.Sprintf(`{"eventVersion":"1.08","eventID":"mend-%d","eventTime":"2026-11-22T10:1%d:00Z","eventSource":"s3.amazonaws.com","eventName":"ListBuckets","awsRegion":"us-east-1","recipientAccountId":"111122223333","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","accessKeyId":"AKIAEXAMPLEKEY000001"}}`, i, i)
	}
	addr := newCluster(t, 1, "trail")
	produce(t, addr, "trail",
		kafka.Message{Value: []byte(`{"Records":[` + rec(1) + "," + rec(2) + `]}`)},
		kafka.Message{Value: []byte(`{"Records":[` + rec(3) + rec(4) + "\n" + rec(5) + `]}`)})

	db := openStore(t, "")
	defer db.Close()
	var logs bytes.Buffer
	cfg := testConfig(addr, "trail")
	cfg.Decode = kafkasource.FromConverter(conv)
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	src, err := kafkasource.New(cfg, db)
	if err != nil {
		t.Fatal(err)
	}
	st := runUntil(t, src, func(s kafkasource.Stats) bool { return s.Written >= 5 })
	if st.Repaired != 1 || len(st.Quarantined) != 0 {
		t.Errorf("repaired %d, quarantined %v; want the second message mended, nothing quarantined", st.Repaired, st.Quarantined)
	}
	if !strings.Contains(logs.String(), "message repaired") || !strings.Contains(logs.String(), "kafka:trail/0@1") {
		t.Errorf("no warning naming the repaired message:\n%s", logs.String())
	}
}
