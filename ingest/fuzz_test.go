package ingest

import (
	"bytes"
	"context"
	"testing"
)

// FuzzDecode feeds arbitrary payloads to the decoder: it must never panic,
// must account for every result in its counts, and every event it yields
// must pass the store's basic requirements.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"Records":[` + rec("e1", "GetUser") + `]}`))
	f.Add([]byte(rec("e1", "ListBuckets") + "\n" + rec("e2", "GetObject") + "\n"))
	f.Add([]byte(`[` + mk(idRole, "s3", "CopyObject", `,"requestParameters":{"bucketName":"b","key":"k","x-amz-copy-source":"s/k"}`) + `]`))
	f.Add([]byte(`[` + mk(idRole, "s3", "DeleteObjects", `,"requestParameters":{"bucketName":"b","delete":{"objects":[{"key":"a"},{"key":"b"}]}}`) + `]`))
	f.Add([]byte(`[` + mk(idRole, "dynamodb", "TransactWriteItems", `,"requestParameters":{"transactItems":[{"put":{"tableName":"Orders"}},{"delete":{"tableName":"Carts"}}]}`) + `]`))
	f.Add([]byte(`[` + mk(idRole, "dynamodb", "BatchExecuteStatement", `,"requestParameters":{"statements":[{"statement":"SELECT * FROM \"Music\".\"Idx\""},{"statement":"UPDATE Music SET a=1"}]}`) + `]`))
	f.Add([]byte(`[` + mk(idRole, "kms", "ReEncrypt", `,"requestParameters":{"destinationKeyId":"k2"},"resources":[{"ARN":"arn:aws:kms:eu-west-1:1:key/k1"},{"ARN":"arn:aws:kms:eu-west-1:1:key/k2"}]`) + `]`))
	f.Add([]byte(`{"Events":[{"CloudTrailEvent":"{\"eventName\":\"x\"}"}]}`))
	f.Add([]byte(`{"detail-type":"AWS API Call via CloudTrail","detail":{"eventTime":"2024-01-01 00:00:00","eventName":"ExecuteStatement","eventSource":"dynamodb.amazonaws.com","userIdentity":{"type":"Root","accountId":"1"},"requestParameters":{"statement":"delete"}}}`))
	f.Add([]byte{0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0})
	f.Add([]byte(`{"Records":[{"a":"\"}]"},`))
	f.Add([]byte(`{"eventVersion":"1.08","eventName":"GetObject` + "\n" + rec("e1", "ListBuckets") + "\n"))
	f.Add([]byte(`{"Records":[` + rec("e1", "GetUser") + `,{"eventVersion":"1.08","eventName":"x",` + rec("e2", "GetUser") + `]}`))
	f.Add([]byte(`{"Records":"oops"}`))
	f.Add([]byte("\x7fELF\x02\x01\x01\x00binary\n{junk}\n"))
	f.Add([]byte("junk\njunk\n" + rec("e1", "GetUser") + "\n"))
	f.Add([]byte(`{"Records":[` + rec("e1", "GetUser") + rec("e2", "GetUser") + `]}`))
	c := testConverter(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		n := int64(0)
		counts, err := c.Decode(context.Background(), "fuzz", bytes.NewReader(data), func(r Result) error {
			n++
			switch r.Kind {
			case KindUsage, KindPermissionless, KindUnmapped:
				if r.Event.ID == "" || r.Event.Principal == "" || r.Event.Time.IsZero() {
					t.Fatalf("event missing ID, principal or time: %+v", r.Event)
				}
				for _, u := range r.Event.Uses {
					if u.Action == "" || u.Resource == "" {
						t.Fatalf("empty use %+v", u)
					}
				}
			case KindQuarantined:
				if r.Quarantined.Where == "" || r.Quarantined.Reason == "" {
					t.Fatalf("quarantine without where/reason: %+v", r.Quarantined)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatalf("Decode: %v", err)
		}
		if counts.Records != n {
			t.Fatalf("Records = %d, callbacks %d", counts.Records, n)
		}
	})
}
