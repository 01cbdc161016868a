package kafkasource_test

import (
	"context"
	"log"
	"os/signal"
	"syscall"

	"github.com/iamd/iamd/analyzer/catalog"
	"github.com/iamd/iamd/ingest"
	"github.com/iamd/iamd/ingest/kafkasource"
	"github.com/iamd/iamd/store"
)

// A daemon consumes a CloudTrail topic until SIGTERM, which writes and
// commits the batch in flight before Run returns.
func ExampleSource_Run() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
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
	src, err := kafkasource.New(kafkasource.Config{
		Brokers:         []string{"kafka-1:9092", "kafka-2:9092"},
		Topics:          []string{"cloudtrail"},
		GroupID:         "iamd",
		DeadLetterTopic: "cloudtrail-dead",
		Decode:          kafkasource.FromConverter(conv),
	}, db)
	if err != nil {
		log.Fatal(err)
	}
	if err := src.Run(ctx); err != nil {
		log.Fatal(err)
	}
	log.Printf("written %d events", src.Stats().Written)
}
