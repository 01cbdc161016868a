package s3source_test

import (
	"context"
	"log"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/iamd/iamd/analyzer/catalog"
	"github.com/iamd/iamd/ingest"
	"github.com/iamd/iamd/ingest/s3source"
	"github.com/iamd/iamd/store"
)

// Backfill an organization trail from November, then keep polling.
func ExampleSource_Run() {
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion("us-east-1"))
	if err != nil {
		log.Fatal(err)
	}
	cat, err := catalog.Load()
	if err != nil {
		log.Fatal(err)
	}
	conv, err := ingest.NewConverter(ingest.ConverterOptions{Catalog: cat})
	if err != nil {
		log.Fatal(err)
	}
	db, err := store.Open(store.Options{Dir: "/var/lib/iamd"})
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	src, err := s3source.New(s3source.Config{
		Bucket: "org-trail",
		Prefix: "cloudtrail",
		OrgID:  "o-a1b2c3d4e5",
		Since:  time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC),
		Tail:   true,
		Decode: s3source.FromConverter(conv),
	}, s3.NewFromConfig(cfg), db)
	if err != nil {
		log.Fatal(err)
	}
	if err := src.Run(ctx); err != nil {
		log.Fatal(err)
	}
}

// Backfill a trail, then tail it from the bucket's S3 event
// notifications in an SQS queue instead of listing.
func ExampleConfig_queue() {
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion("us-east-1"))
	if err != nil {
		log.Fatal(err)
	}
	db, err := store.Open(store.Options{Dir: "/var/lib/iamd"})
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	cat, err := catalog.Load()
	if err != nil {
		log.Fatal(err)
	}
	conv, err := ingest.NewConverter(ingest.ConverterOptions{Catalog: cat})
	if err != nil {
		log.Fatal(err)
	}
	src, err := s3source.New(s3source.Config{
		Bucket:      "trail",
		Tail:        true,
		Queue:       "https://sqs.us-east-1.amazonaws.com/111122223333/trail-events",
		QueueClient: sqs.NewFromConfig(cfg),
		Decode:      s3source.FromConverter(conv),
	}, s3.NewFromConfig(cfg), db)
	if err != nil {
		log.Fatal(err)
	}
	if err := src.Run(ctx); err != nil {
		log.Fatal(err)
	}
}
