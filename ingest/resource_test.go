package ingest

import (
	"fmt"
	"strings"
	"testing"
)

// Calls whose actions act on different resources, and requests that list
// their resources in items: each action gets its own resources, and "*"
// (or the bucket's objects) where they are unknown.
func TestPerActionResources(t *testing.T) {
	c := testConverter(t)
	const (
		keyA   = "arn:aws:kms:eu-west-1:111122223333:key/aaaaaaaa-1111-2222-3333-444444444444"
		keyB   = "arn:aws:kms:eu-west-1:111122223333:key/bbbbbbbb-1111-2222-3333-444444444444"
		keyC   = "arn:aws:kms:eu-west-1:111122223333:key/cccccccc-1111-2222-3333-444444444444"
		idB    = "bbbbbbbb-1111-2222-3333-444444444444"
		table  = "arn:aws:dynamodb:eu-west-1:111122223333:table/"
		object = "arn:aws:s3:::b1/"
	)
	kmsRes := func(arns ...string) string {
		var rs []string
		for _, a := range arns {
			rs = append(rs, fmt.Sprintf(`{"accountId":"111122223333","type":"AWS::KMS::Key","ARN":%q}`, a))
		}
		return `,"resources":[` + strings.Join(rs, ",") + `]`
	}
	keys := func(n int) (objs, uses string) {
		var o, u []string
		for i := range n {
			o = append(o, fmt.Sprintf(`{"key":"k%d"}`, i))
			u = append(u, fmt.Sprintf("s3:DeleteObject %sk%d", object, i))
		}
		return strings.Join(o, ","), strings.Join(u, " | ")
	}
	keys100, uses100 := keys(maxDeletedKeys)
	keys101, _ := keys(maxDeletedKeys + 1)
	for _, tc := range []struct {
		name, source, event, extra string
		uses                       string
	}{
		// kms:ReEncrypt. resources[] lists source then destination (the
		// CloudTrail example of the KMS developer guide).
		{"ReEncrypt resources in order", "kms", "ReEncrypt",
			`,"requestParameters":{"destinationKeyId":"` + idB + `","sourceEncryptionAlgorithm":"SYMMETRIC_DEFAULT"}` + kmsRes(keyA, keyB),
			"kms:ReEncryptFrom " + keyA + " | kms:ReEncryptTo " + keyB},
		{"ReEncrypt destination by alias", "kms", "ReEncrypt",
			`,"requestParameters":{"destinationKeyId":"alias/backup"}` + kmsRes(keyA, keyB),
			"kms:ReEncryptFrom " + keyA + " | kms:ReEncryptTo " + keyB},
		{"ReEncrypt parameters override the order", "kms", "ReEncrypt",
			`,"requestParameters":{"destinationKeyId":"` + idB + `"}` + kmsRes(keyB, keyA),
			"kms:ReEncryptFrom " + keyA + " | kms:ReEncryptTo " + keyB},
		{"ReEncrypt under the same key", "kms", "ReEncrypt",
			`,"requestParameters":{"destinationKeyId":"` + keyA + `"}` + kmsRes(keyA, keyA),
			"kms:ReEncryptFrom " + keyA + " | kms:ReEncryptTo " + keyA},
		{"ReEncrypt one listed key and another destination", "kms", "ReEncrypt",
			`,"requestParameters":{"destinationKeyId":"` + idB + `"}` + kmsRes(keyA),
			"kms:ReEncryptFrom " + keyA + " | kms:ReEncryptTo " + keyB},
		{"ReEncrypt without resources", "kms", "ReEncrypt",
			`,"requestParameters":{"sourceKeyId":"` + keyA + `","destinationKeyId":"` + idB + `"}`,
			"kms:ReEncryptFrom " + keyA + " | kms:ReEncryptTo " + keyB},
		{"ReEncrypt symmetric source unknown", "kms", "ReEncrypt",
			`,"requestParameters":{"destinationKeyId":"` + idB + `"}`,
			"kms:ReEncryptFrom * | kms:ReEncryptTo " + keyB},
		{"ReEncrypt alias destination without resources", "kms", "ReEncrypt",
			`,"requestParameters":{"destinationKeyId":"alias/backup"}`,
			"kms:ReEncryptFrom * | kms:ReEncryptTo *"},
		// Three keys cannot be told apart: both actions on every key.
		{"ReEncrypt keys not told apart", "kms", "ReEncrypt",
			`,"requestParameters":{"destinationKeyId":"alias/backup"}` + kmsRes(keyA, keyB, keyC),
			"kms:ReEncryptFrom " + keyA + " | kms:ReEncryptFrom " + keyB + " | kms:ReEncryptFrom " + keyC +
				" | kms:ReEncryptTo " + keyA + " | kms:ReEncryptTo " + keyB + " | kms:ReEncryptTo " + keyC},
		{"Decrypt keeps keyId", "kms", "Decrypt", `,"requestParameters":{"keyId":"` + idB + `"}`, "kms:Decrypt " + keyB},

		// s3 DeleteObjects.
		{"DeleteObjects keys", "s3", "DeleteObjects",
			`,"requestParameters":{"bucketName":"b1","delete":{"objects":[{"key":"a/1"},{"key":"a/2","versionId":"v"}],"quiet":true}}`,
			"s3:DeleteObject " + object + "a/1 | s3:DeleteObject " + object + "a/2"},
		{"DeleteObjects XML body shape", "s3", "DeleteObjects",
			`,"requestParameters":{"bucketName":"b1","delete":{"Object":{"Key":"x"},"xmlns":"http://s3.amazonaws.com/doc/2006-03-01/"}}`,
			"s3:DeleteObject " + object + "x"},
		{"DeleteObjects keys not logged", "s3", "DeleteObjects", `,"requestParameters":{"bucketName":"b1","delete":""}`,
			"s3:DeleteObject " + object + "*"},
		{"DeleteObjects key and resources", "s3", "DeleteObjects",
			`,"requestParameters":{"bucketName":"b1","key":"k"},"resources":[{"type":"AWS::S3::Object","ARN":"arn:aws:s3:::b1/k"}]`,
			"s3:DeleteObject " + object + "k"},
		{"DeleteObjects at the cap", "s3", "DeleteObjects",
			`,"requestParameters":{"bucketName":"b1","delete":{"objects":[` + keys100 + `]}}`, uses100},
		{"DeleteObjects over the cap", "s3", "DeleteObjects",
			`,"requestParameters":{"bucketName":"b1","delete":{"objects":[` + keys101 + `]}}`,
			"s3:DeleteObject " + object + "*"},
		{"DeleteObjects without bucket", "s3", "DeleteObjects", `,"requestParameters":{"delete":{"objects":[{"key":"a"}]}}`,
			"s3:DeleteObject *"},

		// DynamoDB transactions: each item on its table.
		{"TransactWriteItems", "dynamodb", "TransactWriteItems",
			`,"requestParameters":{"transactItems":[{"put":{"tableName":"Orders","item":{"a":{"S":"x"}}}},{"update":{"tableName":"Stock"}},` +
				`{"delete":{"tableName":"Carts"}},{"conditionCheck":{"tableName":"Users"}},{"put":{"tableName":"Audit"}}],"clientRequestToken":"t"}`,
			"dynamodb:ConditionCheckItem " + table + "Users | dynamodb:DeleteItem " + table + "Carts | dynamodb:PutItem " + table + "Orders | dynamodb:PutItem " + table + "Audit | dynamodb:UpdateItem " + table + "Stock"},
		{"TransactGetItems", "dynamodb", "TransactGetItems",
			`,"requestParameters":{"transactItems":[{"get":{"tableName":"Orders"}},{"get":{"tableName":"arn:aws:dynamodb:eu-west-1:444455556666:table/Shared"}}]}`,
			"dynamodb:GetItem " + table + "Orders | dynamodb:GetItem arn:aws:dynamodb:eu-west-1:444455556666:table/Shared"},
		{"TransactWriteItems item without table", "dynamodb", "TransactWriteItems",
			`,"requestParameters":{"transactItems":[{"put":{"item":{}}},{"put":{"tableName":"Orders"}},{"delete":{"tableName":"Carts"}}]}`,
			"dynamodb:DeleteItem " + table + "Carts | dynamodb:PutItem *"},

		// DynamoDB PartiQL: the table after UPDATE, INTO, FROM.
		{"PartiQL update quoted", "dynamodb", "ExecuteStatement", `,"requestParameters":{"statement":"UPDATE \"Music\" SET Awards=1 WHERE Artist='x'"}`,
			"dynamodb:PartiQLUpdate " + table + "Music"},
		{"PartiQL select from an index", "dynamodb", "ExecuteStatement", `,"requestParameters":{"statement":"SELECT * FROM \"Music\".\"ArtistIndex\" WHERE Artist='x'"}`,
			"dynamodb:PartiQLSelect " + table + "Music/index/ArtistIndex"},
		{"PartiQL select bare, FROM in literals", "dynamodb", "ExecuteStatement", `,"requestParameters":{"statement":"select \"from\", a from Music where b = 'x FROM y'"}`,
			"dynamodb:PartiQLSelect " + table + "Music"},
		{"PartiQL insert", "dynamodb", "ExecuteStatement", `,"requestParameters":{"statement":"INSERT INTO Music VALUE {'Artist':'x'}"}`,
			"dynamodb:PartiQLInsert " + table + "Music"},
		{"PartiQL delete", "dynamodb", "ExecuteStatement", `,"requestParameters":{"statement":"DELETE  FROM \"my-table.v2\" WHERE k=1"}`,
			"dynamodb:PartiQLDelete " + table + "my-table.v2"},
		{"PartiQL batch", "dynamodb", "BatchExecuteStatement",
			`,"requestParameters":{"statements":[{"statement":"SELECT * FROM A1x"},{"statement":"SELECT * FROM B1x","parameters":[]},{"statement":"UPDATE C1x SET a=1"}]}`,
			"dynamodb:PartiQLSelect " + table + "A1x | dynamodb:PartiQLSelect " + table + "B1x | dynamodb:PartiQLUpdate " + table + "C1x"},
		{"PartiQL transaction", "dynamodb", "ExecuteTransaction",
			`,"requestParameters":{"transactStatements":[{"statement":"INSERT INTO \"Orders\" VALUE {'a':1}"},{"statement":"DELETE FROM Carts WHERE u=1"}]}`,
			"dynamodb:PartiQLInsert " + table + "Orders | dynamodb:PartiQLDelete " + table + "Carts"},
		// A table name shorter than DynamoDB allows is not read: "*".
		{"PartiQL table not read", "dynamodb", "ExecuteStatement", `,"requestParameters":{"statement":"SELECT * FROM t"}`,
			"dynamodb:PartiQLSelect *"},
		{"PartiQL one statement not read", "dynamodb", "BatchExecuteStatement",
			`,"requestParameters":{"statements":[{"statement":"SELECT * FROM Music"},{"statement":"SELECT 1"}]}`,
			"dynamodb:PartiQLSelect *"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := convertOne(t, c, mk(idUser, tc.source, tc.event, tc.extra))
			if r.Kind != KindUsage {
				t.Fatalf("Kind = %v, want %v", r.Kind, KindUsage)
			}
			if got := usesString(r.Event.Uses); got != tc.uses {
				t.Fatalf("Uses = %q, want %q", got, tc.uses)
			}
		})
	}
}

func TestPartiQLTarget(t *testing.T) {
	for _, tc := range []struct {
		stmt, table, index string
		ok                 bool
	}{
		{`SELECT * FROM "Music"`, "Music", "", true},
		{`select * from Music.ArtistIndex where a=1`, "Music", "ArtistIndex", true},
		{"SELECT a\nFROM\t\"Music\"", "Music", "", true},
		{`SELECT * FROM "arn:aws:dynamodb:eu-west-1:111122223333:table/Music"`, "arn:aws:dynamodb:eu-west-1:111122223333:table/Music", "", true},
		{`SELECT "a""from" FROM "Music"`, "Music", "", true},
		{`SELECT f(FROM) FROM "Music"`, "Music", "", true},
		{`UPDATE Music SET a=1`, "Music", "", true},
		{`INSERT INTO "Music" VALUE {'a':1}`, "Music", "", true},
		{`DELETE FROM "Music"`, "Music", "", true},
		{`INSERT Music VALUE {}`, "", "", false},
		{`DELETE Music`, "", "", false},
		{`SELECT 1`, "", "", false},
		{`SELECT * FROM "Mus`, "", "", false},
		{`SELECT * FROM "a b c"`, "", "", false},
		{`EXISTS(SELECT * FROM Music)`, "", "", false},
		{``, "", "", false},
	} {
		table, index, ok := partiQLTarget(tc.stmt)
		if table != tc.table || index != tc.index || ok != tc.ok {
			t.Errorf("partiQLTarget(%q) = %q, %q, %v; want %q, %q, %v", tc.stmt, table, index, ok, tc.table, tc.index, tc.ok)
		}
	}
}

// The item lists of requestParameters are kept as raw bytes while
// parsing: a record pays no allocation for them.
func TestParamsItemListsAllocateNothing(t *testing.T) {
	raw := []byte(`{"bucketName":1,"delete":{"objects":[{"key":"a"},{"key":"b"}]},"transactItems":[{"put":{"tableName":"T"}}],` +
		`"statement":"SELECT * FROM T","statements":[{"statement":"UPDATE T SET a=1"}],"transactStatements":[],"other":{"x":[1,2]}}`)
	var rp requestParams
	allocs := testing.AllocsPerRun(100, func() {
		rp = requestParams{}
		p := jsonParser{b: raw}
		if err := p.params(&rp); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("params allocated %v times a record, want 0", allocs)
	}
	if len(rp.delete) == 0 || len(rp.transactItems) == 0 || len(rp.statement) == 0 || string(rp.statements) != `[]` {
		t.Errorf("raw lists not kept: %+v", rp)
	}
}

// Every DeleteTrail, StopLogging, PutEventSelectors and
// ModifySnapshotAttribute of the shared samples (real logs and rule-test
// events) that names its trail or snapshot is charged on that resource,
// not on "*".
func TestSharedTrailAndSnapshotResources(t *testing.T) {
	c := testConverter(t)
	rs, _ := convertFiles(t, c, sharedFiles(t))
	want := map[string]string{
		"cloudtrail:DeleteTrail":       ":trail/",
		"cloudtrail:StopLogging":       ":trail/",
		"cloudtrail:PutEventSelectors": ":trail/",
		"ec2:ModifySnapshotAttribute":  ":snapshot/",
	}
	seen := map[string]int{}
	for _, r := range rs {
		for _, u := range r.Event.Uses {
			part, ok := want[u.Action]
			if !ok || r.Event.Outcome != 0 {
				continue
			}
			seen[u.Action]++
			if !strings.HasPrefix(u.Resource, "arn:") || !strings.Contains(u.Resource, part) {
				t.Errorf("%s %s: resource %q, want a %s ARN", r.Event.ID, u.Action, u.Resource, strings.Trim(part, ":/"))
			}
		}
	}
	for a := range want {
		if seen[a] == 0 {
			t.Errorf("no %s in the shared samples", a)
		}
	}
}
