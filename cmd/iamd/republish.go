package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/spf13/cobra"

	"github.com/iamd/iamd/analyzer/catalog"
	"github.com/iamd/iamd/ingest"
	"github.com/iamd/iamd/ingest/kafkasource"
)

// republishOptions are the flags of `iamd republish`.
type republishOptions struct {
	brokers   []string
	fromTopic string
	toTopic   string
	group     string
	batch     int
	wait      time.Duration
	idle      time.Duration
	tls       bool
	sasl      string
	user      string
	format    string
}

func newRepublishCmd() *cobra.Command {
	var o republishOptions
	cmd := &cobra.Command{
		Use:   "republish --brokers B --from-topic X --to-topic Y",
		Short: "Re-key a CloudTrail topic by principal ARN, one message per record",
		Long: `Read CloudTrail from an unkeyed Kafka topic (single records, {"Records":[…]}
batches, EventBridge envelopes) and write one message per record to another
topic, keyed by the principal ARN ingest attributes the record to. With the
target topic keyed by principal, every record of a principal lands in one
partition, so each iamd instance of a consumer group owns a set of
principals.

Offsets of the source topic are committed only after the target topic has
acknowledged the records (acks=all): a crash republishes the batch in
flight again, and iamd's eventID dedup absorbs the copies. Records that
cannot be decoded are passed on unkeyed, so the consumer quarantines them;
records of AWS services and unnamed callers carry no usage and are dropped
(counted). The SASL password comes from $` + kafkaPasswordEnv + `.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cat, err := catalog.Load()
			if err != nil {
				return err
			}
			conv, err := ingest.NewConverter(ingest.ConverterOptions{Catalog: cat, KeepRaw: true})
			if err != nil {
				return err
			}
			st, runErr := republish(cmd.Context(), o, conv, newStreamLogger(cmd.ErrOrStderr()))
			if err := writeStreamStats(cmd.OutOrStdout(), o.format, st); err != nil {
				return err
			}
			return runErr
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&o.brokers, "brokers", nil, "Kafka brokers host:port (comma-separated)")
	f.StringVar(&o.fromTopic, "from-topic", "", "unkeyed source topic")
	f.StringVar(&o.toTopic, "to-topic", "", "principal-keyed target topic")
	f.StringVar(&o.group, "group", "iamd-republish", "consumer group on the source topic")
	f.IntVar(&o.batch, "batch", 500, "source messages per produce/commit cycle")
	durationFlag(f, &o.wait, "wait", time.Second, "longest a batch waits for more messages")
	durationFlag(f, &o.idle, "idle", 0, "exit after this long without messages (default: run until interrupted)")
	f.BoolVar(&o.tls, "tls", false, "TLS to the brokers")
	f.StringVar(&o.sasl, "sasl", "", "SASL mechanism: plain, scram-sha-256 or scram-sha-512")
	f.StringVar(&o.user, "user", "", "SASL user name")
	addFormatFlag(cmd, &o.format, "summary format")
	return cmd
}

// republishStats counts what republish did.
type republishStats struct {
	Messages     int64 // source messages read
	Records      int64 // records decoded
	Published    int64 // messages written to the target topic
	Unkeyed      int64 // undecodable records passed on without a key
	Dropped      int64 // records of services and unnamed callers
	Commits      int64
	LastCommitAt time.Time
}

func (o *republishOptions) validate() error {
	var errs []error
	if len(o.brokers) == 0 {
		errs = append(errs, errors.New("--brokers: required"))
	}
	if o.fromTopic == "" || o.toTopic == "" {
		errs = append(errs, errors.New("--from-topic and --to-topic: required"))
	}
	if o.fromTopic != "" && o.fromTopic == o.toTopic {
		errs = append(errs, errors.New("--to-topic: must differ from --from-topic"))
	}
	if o.batch <= 0 || o.wait <= 0 || o.idle < 0 {
		errs = append(errs, errors.New("--batch, --wait: must be positive; --idle: not negative"))
	}
	if err := checkFormat(o.format); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// republish runs until ctx is cancelled (finishing the batch in flight)
// or, with --idle, until the source topic has been quiet that long.
func republish(ctx context.Context, o republishOptions, conv *ingest.Converter, logger *slog.Logger) (republishStats, error) {
	var st republishStats
	if err := o.validate(); err != nil {
		return st, err
	}
	// The source's config builds the SASL mechanism and validates it.
	kc := kafkasource.Config{SASL: kafkasource.SASL{Mechanism: o.sasl, Username: o.user, Password: os.Getenv(kafkaPasswordEnv)}}
	mech, err := kc.SASLMechanism()
	if err != nil {
		return st, err
	}
	var tlsCfg *tls.Config
	if o.tls {
		tlsCfg = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	errLog := kafka.LoggerFunc(func(f string, a ...any) { logger.Warn("kafka", "error", fmt.Sprintf(f, a...)) })
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: o.brokers, GroupID: o.group, GroupTopics: []string{o.fromTopic},
		Dialer:  &kafka.Dialer{Timeout: 10 * time.Second, DualStack: true, TLS: tlsCfg, SASLMechanism: mech},
		MaxWait: min(o.wait, 500*time.Millisecond), StartOffset: kafka.FirstOffset, ErrorLogger: errLog,
	})
	defer r.Close()
	w := &kafka.Writer{
		Addr: kafka.TCP(o.brokers...), Topic: o.toTopic, Balancer: &kafka.Hash{}, RequiredAcks: kafka.RequireAll,
		BatchSize: o.batch, BatchTimeout: 10 * time.Millisecond, Transport: &kafka.Transport{TLS: tlsCfg, SASL: mech},
		ErrorLogger: errLog,
	}
	defer w.Close()

	lastMsg := time.Now()
	for {
		if ctx.Err() != nil {
			return st, nil
		}
		in := fetchBatch(ctx, r, o.batch, o.wait)
		if len(in) == 0 {
			if o.idle > 0 && time.Since(lastMsg) >= o.idle {
				return st, nil
			}
			continue
		}
		lastMsg = time.Now()
		var out []kafka.Message
		for _, m := range in {
			st.Messages++
			where := fmt.Sprintf("kafka:%s/%d@%d", m.Topic, m.Partition, m.Offset)
			_, err := conv.Decode(context.WithoutCancel(ctx), where, bytes.NewReader(m.Value), func(res ingest.Result) error {
				st.Records++
				switch res.Kind {
				case ingest.KindUsage, ingest.KindPermissionless, ingest.KindUnmapped:
					out = append(out, kafka.Message{Key: []byte(res.Event.Principal), Value: res.Event.Raw})
				case ingest.KindQuarantined:
					st.Unkeyed++
					out = append(out, kafka.Message{Value: res.Quarantined.Raw})
				default:
					st.Dropped++
				}
				return nil
			})
			if err != nil {
				return st, fmt.Errorf("republish: decode %s: %w", where, err)
			}
		}
		// Finish the batch in flight even when interrupted.
		bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		if len(out) > 0 {
			if err := w.WriteMessages(bctx, out...); err != nil {
				cancel()
				return st, fmt.Errorf("republish: write %s: %w", o.toTopic, err)
			}
		}
		st.Published += int64(len(out))
		err := r.CommitMessages(bctx, in...)
		cancel()
		if err != nil {
			return st, fmt.Errorf("republish: commit %s: %w", o.fromTopic, err)
		}
		st.Commits++
		st.LastCommitAt = time.Now().UTC()
	}
}

// fetchBatch fetches up to n messages, waiting at most wait after the
// call (a message left unread by a timed-out fetch stays queued).
func fetchBatch(ctx context.Context, r *kafka.Reader, n int, wait time.Duration) []kafka.Message {
	fctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	var in []kafka.Message
	for len(in) < n {
		m, err := r.FetchMessage(fctx)
		if err != nil {
			break
		}
		in = append(in, m)
	}
	return in
}
