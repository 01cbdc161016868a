package store_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/iamd/iamd/store"
)

func Example() {
	ctx := context.Background()
	db, err := store.Open(store.Options{InMemory: true}) // production: Options{Dir: "/var/lib/iamd/store"}
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	at := time.Date(2026, 11, 2, 9, 30, 0, 0, time.UTC)
	alice := "arn:aws:iam::111122223333:user/alice"
	batch := &store.Batch{
		Events: []store.Event{
			{ID: "0b1c-1", Time: at, Principal: alice, AccessKeyID: "AKIAEXAMPLE", SourceIP: "198.51.100.7",
				Uses: []store.Use{{Action: "s3:GetObject", Resource: "arn:aws:s3:::reports/q3.csv"}}},
			{ID: "0b1c-2", Time: at.Add(time.Minute), Principal: alice, AccessKeyID: "AKIAEXAMPLE", SourceIP: "198.51.100.7",
				Outcome: store.OutcomeDenied,
				Uses:    []store.Use{{Action: "s3:DeleteObject", Resource: "arn:aws:s3:::reports/q3.csv"}}},
		},
		Checkpoints: []store.Checkpoint{{Source: "file:/trail/2026/11/02/a.json.gz", Position: "2"}},
	}
	res, err := db.Write(ctx, batch)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("counted %d, duplicates %d\n", res.Events, res.Duplicates)
	res, _ = db.Write(ctx, batch) // redelivered: counted once
	fmt.Printf("counted %d, duplicates %d\n", res.Events, res.Duplicates)

	facts, _ := db.Facts(ctx, store.FactQuery{Principal: alice, ActionPrefix: "s3:"})
	for _, f := range facts {
		fmt.Println(f.Action, f.Resource, "allowed", f.Allowed, "denied", f.Denied)
	}
	key, _, _ := db.KeyUsage(ctx, "AKIAEXAMPLE")
	fmt.Println("key used since 09:00:", key.LastSeen.After(at.Add(-30*time.Minute)), "calls", key.Calls)
	// Output:
	// counted 2, duplicates 0
	// counted 0, duplicates 2
	// s3:DeleteObject arn:aws:s3:::reports/q3.csv allowed 0 denied 1
	// s3:GetObject arn:aws:s3:::reports/q3.csv allowed 1 denied 0
	// key used since 09:00: true calls 2
}
