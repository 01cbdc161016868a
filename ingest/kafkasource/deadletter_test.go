package kafkasource_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/iamd/iamd/ingest/kafkasource"
)

// A dead-letter topic that refuses every write gets WriteRetries+1
// produce attempts in all: the writer does not retry inside each of the
// source's own retries (kafka-go's default would make it ten each).
func TestDeadLetterWriteAttemptsBounded(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "trail", "trail-dlq"))
	if err != nil {
		t.Fatalf("kfake: %v", err)
	}
	t.Cleanup(c.Close)
	addr := c.ListenAddrs()[0]
	produce(t, addr, "trail", kafka.Message{Value: []byte(`{not json`)})

	var attempts atomic.Int64
	c.ControlKey(int16(kmsg.Produce), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		req := kreq.(*kmsg.ProduceRequest)
		if len(req.Topics) == 0 || req.Topics[0].Topic != "trail-dlq" {
			return nil, nil, false
		}
		c.KeepControl()
		attempts.Add(1)
		resp := req.ResponseKind().(*kmsg.ProduceResponse)
		for _, rt := range req.Topics {
			t := kmsg.NewProduceResponseTopic()
			t.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				p := kmsg.NewProduceResponseTopicPartition()
				p.Partition = rp.Partition
				p.ErrorCode = kerr.NotLeaderForPartition.Code // retriable
				t.Partitions = append(t.Partitions, p)
			}
			resp.Topics = append(resp.Topics, t)
		}
		return resp, nil, true
	})

	db := openStore(t, "")
	defer db.Close()
	cfg := testConfig(addr, "trail")
	cfg.DeadLetterTopic = "trail-dlq"
	cfg.WriteRetries = 2
	src, err := kafkasource.New(cfg, db)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := src.Run(ctx); err == nil || !strings.Contains(err.Error(), "dead-letter write") {
		t.Fatalf("Run() = %v, want the dead-letter write error", err)
	}
	if got, want := attempts.Load(), int64(cfg.WriteRetries+1); got != want {
		t.Fatalf("dead-letter produce attempts = %d, want %d", got, want)
	}
	if st := src.Stats(); st.Commits != 0 {
		t.Fatalf("committed %d times after a failed dead-letter write", st.Commits)
	}
}
