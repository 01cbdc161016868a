package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Two calls of a role of 999988887777 into 111122223333 and one of alice
// within her own account.
const crossAccountRecords = `{"Records":[
{"eventVersion":"1.08","userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::999988887777:assumed-role/Audit/s1","accountId":"999988887777","sessionContext":{"sessionIssuer":{"type":"Role","arn":"arn:aws:iam::999988887777:role/Audit","accountId":"999988887777","userName":"Audit"}}},"eventTime":"2024-01-02T03:04:05Z","eventSource":"ec2.amazonaws.com","eventName":"DescribeInstances","awsRegion":"us-east-1","eventID":"c1111111-1111-1111-1111-111111111111","recipientAccountId":"111122223333"},
{"eventVersion":"1.08","userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::999988887777:assumed-role/Audit/s1","accountId":"999988887777","sessionContext":{"sessionIssuer":{"type":"Role","arn":"arn:aws:iam::999988887777:role/Audit","accountId":"999988887777","userName":"Audit"}}},"eventTime":"2024-01-02T04:04:05Z","eventSource":"ec2.amazonaws.com","eventName":"DescribeVolumes","awsRegion":"us-east-1","eventID":"c2222222-2222-2222-2222-222222222222","recipientAccountId":"111122223333"},
{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333"},"eventTime":"2024-01-02T03:05:05Z","eventSource":"s3.amazonaws.com","eventName":"ListBuckets","awsRegion":"us-east-1","eventID":"c3333333-3333-3333-3333-333333333333","recipientAccountId":"111122223333"}
]}`

func TestUsageCrossAccount(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "trail.json"), []byte(crossAccountRecords), 0o644); err != nil {
		t.Fatal(err)
	}
	storeDir := filepath.Join(t.TempDir(), "store")
	if out, err := runIamd(t, "ingest", "--store", storeDir, dir); err != nil {
		t.Fatalf("ingest: %v\n%s", err, out)
	}
	const role = "arn:aws:iam::999988887777:role/Audit"

	for _, tc := range []struct {
		name string
		args []string
		want int // principals listed
	}{
		{"all", nil, 1},
		{"one principal", []string{"--principal", role}, 1},
		{"a principal without cross-account calls", []string{"--principal", "arn:aws:iam::111122223333:user/alice"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runIamd(t, append([]string{"usage", "cross-account", "--store", storeDir, "--format", "json"}, tc.args...)...)
			if err != nil {
				t.Fatalf("usage cross-account: %v\n%s", err, out)
			}
			var got []usageCrossAccount
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatalf("not a JSON array: %v\n%s", err, out)
			}
			if len(got) != tc.want {
				t.Fatalf("listed %d principals, want %d:\n%s", len(got), tc.want, out)
			}
			if tc.want == 0 {
				return
			}
			want := usageCrossAccount{Principal: role, AccountID: "999988887777", Recipients: []usageAccountSeen{{
				AccountID: "111122223333",
				FirstSeen: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC),
				LastSeen:  time.Date(2024, 1, 2, 4, 4, 5, 0, time.UTC),
				Calls:     2,
			}}}
			g := got[0]
			if g.Principal != want.Principal || g.AccountID != want.AccountID || len(g.Recipients) != 1 ||
				g.Recipients[0].AccountID != want.Recipients[0].AccountID || g.Recipients[0].Calls != 2 ||
				!g.Recipients[0].FirstSeen.Equal(want.Recipients[0].FirstSeen) || !g.Recipients[0].LastSeen.Equal(want.Recipients[0].LastSeen) {
				t.Fatalf("usage cross-account = %+v, want %+v", g, want)
			}
		})
	}

	out, err := runIamd(t, "usage", "cross-account", "--store", storeDir)
	if err != nil {
		t.Fatalf("usage cross-account: %v\n%s", err, out)
	}
	for _, s := range []string{"RECIPIENT", role, "999988887777", "111122223333", "2024-01-02T04:04:05Z"} {
		if !strings.Contains(out, s) {
			t.Errorf("table lacks %q:\n%s", s, out)
		}
	}
	if strings.Contains(out, "user/alice") {
		t.Errorf("table lists alice, who called only her own account:\n%s", out)
	}
}
