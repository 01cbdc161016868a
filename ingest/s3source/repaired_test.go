package s3source_test

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/iamd/iamd/analyzer/catalog"
	"github.com/iamd/iamd/ingest"
	"github.com/iamd/iamd/ingest/s3source"
)

// A log file the decoder has to mend (records without the commas between
// them) is read whole and also counted and named as repaired: the stream
// goes on, and someone learns the bucket holds damaged files.
func TestRepairedFilesAreCountedAndNamed(t *testing.T) {
	cat, err := catalog.Load()
	if err != nil {
		t.Fatal(err)
	}
	conv, err := ingest.NewConverter(ingest.ConverterOptions{Catalog: cat})
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t)
	rec := func(i int) string {
		return fmt.Sprintf(`{"eventVersion":"1.08","eventID":"mend-%d","eventTime":"2026-11-22T10:1%d:00Z","eventSource":"s3.amazonaws.com","eventName":"ListBuckets","awsRegion":"us-east-1","recipientAccountId":"111122223333","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","accessKeyId":"AKIAEXAMPLEKEY000001"}}`, i, i)
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write([]byte(`{"Records":[` + rec(1) + rec(2) + "\n" + rec(3) + `]}`))
	zw.Close()
	key := "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/22/111122223333_CloudTrail_us-east-1_20261122T1015Z_mend.json.gz"
	f.put(key, buf.Bytes())

	var logs bytes.Buffer
	db := openStore(t)
	st := run(t, f, db, func(c *s3source.Config) {
		c.Decode = s3source.FromConverter(conv)
		c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	if st.Objects != 1 || st.Repaired != 1 || st.Written != 3 || len(st.Quarantined) != 0 {
		t.Errorf("objects %d, repaired %d, written %d, quarantined %v; want the one object mended and its 3 events written", st.Objects, st.Repaired, st.Written, st.Quarantined)
	}
	if !strings.Contains(logs.String(), "log file repaired") || !strings.Contains(logs.String(), "s3://trail/"+key) {
		t.Errorf("no warning naming the repaired object:\n%s", logs.String())
	}
}
