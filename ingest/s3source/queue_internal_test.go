package s3source

import (
	"fmt"
	"slices"
	"testing"
)

func TestParseNotification(t *testing.T) {
	rec := func(bucket, event, key string) string {
		return fmt.Sprintf(`{"eventSource":"aws:s3","eventName":%q,"s3":{"bucket":{"name":%q},"object":{"key":%q}}}`, event, bucket, key)
	}
	for _, tc := range []struct {
		name     string
		body     string
		wantKeys []string
		wantTest bool
		wantErr  bool
	}{
		{"direct", `{"Records":[` + rec("trail", "ObjectCreated:Put", "AWSLogs/a.json.gz") + `]}`, []string{"AWSLogs/a.json.gz"}, false, false},
		{"form-encoded key", `{"Records":[` + rec("trail", "ObjectCreated:CompleteMultipartUpload", "my+logs/AWSLogs/a%3Db.json.gz") + `]}`, []string{"my logs/AWSLogs/a=b.json.gz"}, false, false},
		{"other bucket and removal dropped", `{"Records":[` + rec("other", "ObjectCreated:Put", "k") + `,` + rec("trail", "ObjectRemoved:Delete", "k") + `]}`, nil, false, false},
		{"sns", `{"Type":"Notification","Message":"{\"Records\":[{\"eventName\":\"ObjectCreated:Put\",\"s3\":{\"bucket\":{\"name\":\"trail\"},\"object\":{\"key\":\"k\"}}}]}"}`, []string{"k"}, false, false},
		{"sns test event", `{"Type":"Notification","Message":"{\"Event\":\"s3:TestEvent\"}"}`, nil, true, false},
		{"test event", `{"Event":"s3:TestEvent","Bucket":"trail"}`, nil, true, false},
		{"not json", `Records`, nil, false, true},
		{"sns without message", `{"Type":"Notification"}`, nil, false, true},
		{"sns message not json", `{"Type":"Notification","Message":"x"}`, nil, false, true},
		{"no records", `{}`, nil, false, true},
		{"no key", `{"Records":[{"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"trail"}}}]}`, nil, false, true},
		{"bad escape", `{"Records":[` + rec("trail", "ObjectCreated:Put", "a%zz") + `]}`, nil, false, true},
		{"not s3", `{"Records":[{"eventSource":"aws:sqs","eventName":"ObjectCreated:Put","s3":{"object":{"key":"k"}}}]}`, nil, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objs, test, err := parseNotification(tc.body, "trail")
			var keys []string
			for _, o := range objs {
				keys = append(keys, o.key)
			}
			if (err != nil) != tc.wantErr {
				t.Fatalf("parseNotification() err=%v, want error %v", err, tc.wantErr)
			}
			if !slices.Equal(keys, tc.wantKeys) || test != tc.wantTest {
				t.Errorf("parseNotification()=%q,%v, want %q,%v", keys, test, tc.wantKeys, tc.wantTest)
			}
		})
	}
}

func TestStreamOf(t *testing.T) {
	s := &Source{cfg: Config{Prefix: "ct/", OrgID: "o-abc123", Regions: []string{"us-east-1"}}}
	for _, tc := range []struct {
		key  string
		want string // stream base, "" for out of scope
	}{
		{"ct/AWSLogs/o-abc123/111122223333/CloudTrail/us-east-1/2026/11/23/111122223333_CloudTrail_us-east-1_20261123T1200Z_x.json.gz", "ct/AWSLogs/o-abc123/111122223333/CloudTrail/us-east-1/"},
		{"ct/AWSLogs/o-abc123/111122223333/CloudTrail/eu-west-1/2026/11/23/111122223333_CloudTrail_eu-west-1_20261123T1200Z_x.json.gz", ""},
		{"ct/AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/23/111122223333_CloudTrail_us-east-1_20261123T1200Z_x.json.gz", ""},
		{"AWSLogs/o-abc123/111122223333/CloudTrail/us-east-1/2026/11/23/111122223333_CloudTrail_us-east-1_20261123T1200Z_x.json.gz", ""},
		{"ct/AWSLogs/o-abc123/111122223333/CloudTrail-Digest/us-east-1/2026/11/23/111122223333_CloudTrail-Digest_us-east-1_x_20261123T1200Z.json.gz", ""},
		{"ct/AWSLogs/o-abc123/111122223333/CloudTrail/us-east-1/2026/11/23/README.txt", ""},
		{"ct/AWSLogs/o-abc123/111122223333/CloudTrail/us-east-1/x.json.gz", ""},
	} {
		t.Run(tc.key, func(t *testing.T) {
			st, ok := s.streamOf(tc.key)
			if got := map[bool]string{true: st.base, false: ""}[ok]; got != tc.want {
				t.Errorf("streamOf()=%q (ok=%v), want %q", got, ok, tc.want)
			}
		})
	}
}
