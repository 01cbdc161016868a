package ingest

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/iamd/iamd/store"
)

// A record whose caller belongs to another account than the one that
// received it ends up in the store with both accounts; the same input
// read again changes nothing.
func TestCrossAccountRecorded(t *testing.T) {
	const (
		own       = "999988887777"
		recipient = "111122223333" // mk's recipientAccountId
		role      = "arn:aws:iam::999988887777:role/ci/Deploy"
	)
	crossRole := strings.ReplaceAll(idRole, recipient, own)
	// Record IDs and times differ; mk fixes both, so patch them.
	record := func(identity, id, at, name string) string {
		r := mk(identity, "ec2", name, "")
		r = strings.Replace(r, `"eventID":"id-1"`, `"eventID":"`+id+`"`, 1)
		return strings.Replace(r, `"eventTime":"2024-05-06T07:08:09Z"`, `"eventTime":"`+at+`"`, 1)
	}
	dir := t.TempDir()
	files := map[string]string{
		"a.jsonl": record(crossRole, "x1", "2024-05-06T07:08:09Z", "DescribeInstances") + "\n" +
			record(idUser, "s1", "2024-05-06T07:09:00Z", "DescribeInstances") + "\n" +
			record(crossRole, "x2", "2024-05-06T09:00:00Z", "DescribeVolumes") + "\n",
		// x1 again, as an overlapping delivery would bring it.
		"b.jsonl": record(crossRole, "x1", "2024-05-06T07:08:09Z", "DescribeInstances") + "\n",
	}
	var paths []string
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	db, err := store.Open(store.Options{InMemory: true, Now: func() time.Time { return time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	p := newTestPipeline(t, db, nil, 2)
	want := []store.CrossAccount{{Principal: role, AccountID: own, Recipients: []store.AccountSeen{{
		AccountID: recipient,
		FirstSeen: time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC),
		LastSeen:  time.Date(2024, 5, 6, 9, 0, 0, 0, time.UTC),
		Calls:     2,
	}}}}
	for run := range 2 {
		sum, err := p.Run(ctx, paths)
		if err != nil {
			t.Fatal(err)
		}
		if wantWritten := int64(3 * (1 - run)); sum.Written != wantWritten {
			t.Fatalf("run %d wrote %d events, want %d (summary %+v)", run, sum.Written, wantWritten, sum.Counts)
		}
		var got []store.CrossAccount
		if err := db.EachCrossAccount(ctx, func(c store.CrossAccount) error { got = append(got, c); return nil }); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("run %d: EachCrossAccount =\n%+v\nwant\n%+v", run, got, want)
		}
	}
}

// The IAM User Guide's cross-account AssumeRole sample (JohnDoe of
// 777788889999 assuming a role in 111122223333) is recorded.
func TestCrossAccountSharedSample(t *testing.T) {
	files := sharedFiles(t)
	var sample string
	for _, f := range files {
		if strings.Contains(filepath.ToSlash(f), "awsdocs-iam-user-guide/") {
			sample = f
		}
	}
	if sample == "" {
		t.Skip("awsdocs-iam-user-guide sample not found")
	}
	db, err := store.Open(store.Options{InMemory: true, Now: func() time.Time { return time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	if _, err := newTestPipeline(t, db, nil, 500).Run(ctx, []string{sample}); err != nil {
		t.Fatal(err)
	}
	c, found, err := db.CrossAccount(ctx, "arn:aws:iam::777788889999:user/JohnDoe")
	if err != nil || !found {
		t.Fatalf("CrossAccount(JohnDoe) = %v, %v; want found", found, err)
	}
	if c.AccountID != "777788889999" || len(c.Recipients) != 1 || c.Recipients[0].AccountID != "111122223333" ||
		!c.Recipients[0].LastSeen.Equal(time.Date(2014, 7, 18, 15, 7, 39, 0, time.UTC)) {
		t.Fatalf("CrossAccount(JohnDoe) = %+v, want own account 777788889999 calling into 111122223333 at 2014-07-18T15:07:39Z", c)
	}
}
