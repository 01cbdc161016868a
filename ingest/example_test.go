package ingest_test

import (
	"context"
	"fmt"

	"github.com/iamd/iamd/analyzer/catalog"
	"github.com/iamd/iamd/ingest"
)

// A streaming source converts each message with ConvertPayload and hands
// the Output to the store in a Batch with its checkpoint.
func ExampleConverter_ConvertPayload() {
	cat, err := catalog.Load()
	if err != nil {
		panic(err)
	}
	conv, err := ingest.NewConverter(ingest.ConverterOptions{Catalog: cat})
	if err != nil {
		panic(err)
	}
	msg := []byte(`{"eventTime":"2024-01-02T03:04:05Z","eventSource":"s3.amazonaws.com","eventName":"ListObjectsV2",
		"awsRegion":"us-east-1","eventID":"4b1f6c1e-8d2a-4d6b-9a51-2f0e7c2f9a10","recipientAccountId":"111122223333",
		"userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::111122223333:assumed-role/App/i-0abc","accountId":"111122223333",
			"accessKeyId":"ASIAEXAMPLE","sessionContext":{"sessionIssuer":{"type":"Role","arn":"arn:aws:iam::111122223333:role/svc/App"}}},
		"requestParameters":{"bucketName":"reports"}}`)
	out, err := conv.ConvertPayload(context.Background(), "kafka:cloudtrail/0@42", msg)
	if err != nil {
		panic(err)
	}
	for _, ev := range out.Events {
		fmt.Println(ev.Principal, ev.SessionName, ev.AccessKeyID)
		for _, u := range ev.Uses {
			fmt.Println(" ", u.Action, u.Resource)
		}
	}
	fmt.Println("records", out.Counts.Records, "quarantined", len(out.Quarantined))
	// Output:
	// arn:aws:iam::111122223333:role/svc/App i-0abc ASIAEXAMPLE
	//   s3:ListBucket arn:aws:s3:::reports
	// records 1 quarantined 0
}
