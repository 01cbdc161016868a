// Package kafkasource ingests CloudTrail records from Kafka topics into the
// usage index, crash-safe and exactly-once in effect. It imports store and
// ingest (and the Kafka client). Decoding a message's payload is a
// DecodeFunc, so tests can inject their own; FromConverter adapts the
// ingest Converter, which reads every shape a message may hold.
//
// # Delivery
//
// A consumer-group Reader fetches messages; many messages are decoded and
// accumulated into one store.Batch (bounded by BatchMaxRecords,
// BatchMaxBytes and BatchMaxWait). The batch, with one store.Checkpoint per
// partition ("kafka:<topic>/<partition>", Position = next offset), is
// written to the store in one durable unit, and only then are the
// messages' offsets committed to Kafka. A crash between the write and the
// commit makes Kafka redeliver messages whose events are already stored:
// the store's eventID dedup absorbs them, and messages below the stored
// checkpoint of their partition are skipped outright, so neither events,
// quarantined records nor counters are doubled. A crash before the write
// loses nothing: the offsets were not committed.
//
// A message may hold one CloudTrail record, a {"Records":[…]} batch or an
// EventBridge envelope; the DecodeFunc handles all three. A message that
// cannot be decoded at all (or yields only quarantined records) goes to
// the dead-letter topic when one is configured, with the error in the
// "iamd-error" header and its origin in "iamd-origin"; without one it is
// quarantined in the store. Either way it is counted and the consumer
// keeps going. Dead-lettering is at-least-once: a crash after producing
// to the dead-letter topic and before the store write produces it again.
//
// # Rebalances
//
// Offsets are committed synchronously (CommitInterval 0) after each
// write, so when kafka-go's group handling revokes partitions the only
// uncommitted messages are those of the batch in flight; the new owner
// receives them again, and nothing is lost. A commit that lands after the
// partition moved may set its offset back, which again only redelivers.
//
// # Scale-out
//
// Several iamd instances may share one GroupID: Kafka spreads the
// partitions over them. Each instance has its own store, so each holds
// the facts of the messages it consumed. To give each instance a whole
// set of principals (so one store answers for a principal), key the topic
// by principal ARN: Kafka's default partitioner sends all of one
// principal's records to one partition. `iamd republish --from-topic X
// --to-topic Y` turns an unkeyed topic (CloudTrail as shipped, batches
// and envelopes) into a principal-keyed one: one message per record, key
// = the principal ARN that ingest attributes the record to. A rebalance
// moves partitions, and with them principals, between instances; the
// facts of a moved principal are then split between two stores, and a
// batch in flight during the move can be counted once in each (never
// twice in one). Static membership (one instance per fixed set of
// partitions) avoids that.
package kafkasource

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"

	"github.com/iamd/iamd/ingest"
	"github.com/iamd/iamd/store"
)

// Defaults for Config fields left zero.
const (
	DefaultGroupID         = "iamd"
	DefaultBatchMaxRecords = 2000
	DefaultBatchMaxBytes   = 8 << 20
	DefaultBatchMaxWait    = time.Second
	DefaultFetchMaxWait    = 500 * time.Millisecond
	DefaultSessionTimeout  = 30 * time.Second
	DefaultHeartbeat       = 3 * time.Second
	DefaultRebalance       = 30 * time.Second
	DefaultMaxMessageBytes = 10 << 20
	DefaultShutdownTimeout = 30 * time.Second
	DefaultWriteRetries    = 5
)

// Header names on dead-lettered messages.
const (
	HeaderError  = "iamd-error"
	HeaderOrigin = "iamd-origin"
	HeaderReason = "iamd-reason"
)

// Reasons counted by the source itself (the DecodeFunc's quarantine
// reasons are counted as it reports them).
const (
	ReasonUndecodable = "undecodable"     // DecodeFunc returned an error
	ReasonTooLarge    = "message-too-big" // payload above MaxMessageBytes
)

// Sentinel errors.
var (
	// ErrConfig is wrapped by every configuration error.
	ErrConfig = errors.New("kafka source config")
)

// Decoded is what one payload became.
type Decoded struct {
	Records     int                 // records read from the payload
	Events      []store.Event       // events of principals
	Quarantined []store.Quarantined // records that could not be used
	Repairs     map[string]int64    // what the decoder mended to read the payload: kind → count
}

// DecodeFunc decodes one payload. where names it ("kafka:topic/2@1234")
// for quarantine entries. An error means the payload as a whole could not
// be read; per-record problems are Quarantined entries.
type DecodeFunc func(where string, payload []byte) (Decoded, error)

// Store is what the source needs of the usage index; *store.DB has it.
type Store interface {
	Write(ctx context.Context, b *store.Batch) (store.WriteResult, error)
	Checkpoint(ctx context.Context, source string) (store.Checkpoint, bool, error)
}

var _ Store = (*store.DB)(nil)

// SASL configures SASL authentication.
type SASL struct {
	// Mechanism is "plain", "scram-sha-256" or "scram-sha-512". Default
	// "": no SASL.
	Mechanism string
	Username  string
	Password  string // never logged
}

// String prints the mechanism and user name, never the password, so a
// Config or SASL that reaches fmt (%v, %+v, %s) or an error stays clean.
func (s SASL) String() string {
	pw := ""
	if s.Password != "" {
		pw = "[REDACTED]"
	}
	return fmt.Sprintf("{Mechanism:%s Username:%s Password:%s}", s.Mechanism, s.Username, pw)
}

// GoString is String for %#v.
func (s SASL) GoString() string { return "kafkasource.SASL" + s.String() }

// MarshalJSON writes the redacted form, for slog's JSON handler and any
// status dump.
func (s SASL) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// LogValue keeps the password out of slog output.
func (s SASL) LogValue() slog.Value {
	return slog.StringValue(s.String())
}

// Config configures a Source.
type Config struct {
	// Brokers are "host:port" seed brokers. Required.
	Brokers []string
	// Topics to consume. Required.
	Topics []string
	// GroupID is the consumer group. Default "iamd".
	GroupID string
	// TLS, when set, is used for broker connections. Default nil: plain TCP.
	TLS *tls.Config
	// SASL authentication. Default: none.
	SASL SASL
	// DeadLetterTopic receives messages that cannot be decoded. Default
	// "": off, such messages are quarantined in the store.
	DeadLetterTopic string
	// StartLast makes a group with no committed offset start at the end
	// of each partition. Default false: from the first offset.
	StartLast bool

	// BatchMaxRecords flushes a batch once it holds this many records.
	// Default 2000.
	BatchMaxRecords int
	// BatchMaxBytes flushes a batch once its messages' payloads reach
	// this many bytes; it bounds in-flight memory. Default 8 MiB.
	BatchMaxBytes int
	// BatchMaxWait flushes a non-empty batch this long after its first
	// message. Default 1 s.
	BatchMaxWait time.Duration
	// FetchMaxWait is how long a broker fetch waits for data. Default 500 ms.
	FetchMaxWait time.Duration
	// SessionTimeout is the group session timeout: how long a member that
	// stopped heartbeating (a killed process) keeps its partitions.
	// Default 30 s. Brokers refuse values below their
	// group.min.session.timeout.ms (6 s by default).
	SessionTimeout time.Duration
	// HeartbeatInterval is how often the member heartbeats; it must be
	// below SessionTimeout. Default 3 s.
	HeartbeatInterval time.Duration
	// RebalanceTimeout is how long the coordinator waits for members to
	// rejoin during a rebalance. Default 30 s.
	RebalanceTimeout time.Duration
	// MaxMessageBytes caps one message's payload; larger ones are
	// dead-lettered or quarantined. Default 10 MiB.
	MaxMessageBytes int
	// ShutdownTimeout bounds the final write and commit after the
	// context is cancelled. Default 30 s.
	ShutdownTimeout time.Duration
	// WriteRetries is how many times a failed store write is retried
	// (with exponential backoff) before Run returns the error; the
	// messages stay uncommitted. Default 5.
	WriteRetries int

	// Decode decodes a message payload. Required.
	Decode DecodeFunc
	// Logger; default discard.
	Logger *slog.Logger
	// Now is the clock for checkpoints and stats. Default time.Now.
	Now func() time.Time
}

func (c *Config) setDefaults() {
	if c.GroupID == "" {
		c.GroupID = DefaultGroupID
	}
	def(&c.BatchMaxRecords, DefaultBatchMaxRecords)
	def(&c.BatchMaxBytes, DefaultBatchMaxBytes)
	def(&c.BatchMaxWait, DefaultBatchMaxWait)
	def(&c.FetchMaxWait, DefaultFetchMaxWait)
	def(&c.SessionTimeout, DefaultSessionTimeout)
	def(&c.HeartbeatInterval, DefaultHeartbeat)
	def(&c.RebalanceTimeout, DefaultRebalance)
	def(&c.MaxMessageBytes, DefaultMaxMessageBytes)
	def(&c.ShutdownTimeout, DefaultShutdownTimeout)
	def(&c.WriteRetries, DefaultWriteRetries)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

func def[T int | time.Duration](p *T, v T) {
	if *p == 0 {
		*p = v
	}
}

// Validate returns every problem of c (after defaults).
func (c *Config) Validate() error {
	var errs []error
	bad := func(field, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%w: %s: %s", ErrConfig, field, fmt.Sprintf(format, a...)))
	}
	if len(c.Brokers) == 0 {
		bad("Brokers", "at least one broker required")
	}
	for i, b := range c.Brokers {
		if !strings.Contains(b, ":") {
			bad(fmt.Sprintf("Brokers[%d]", i), "%q is not host:port", b)
		}
	}
	if len(c.Topics) == 0 {
		bad("Topics", "at least one topic required")
	}
	for i, t := range c.Topics {
		if t == "" {
			bad(fmt.Sprintf("Topics[%d]", i), "empty")
		}
		if t == c.DeadLetterTopic {
			bad("DeadLetterTopic", "%q is also consumed", t)
		}
	}
	if c.Decode == nil {
		bad("Decode", "required")
	}
	switch c.SASL.Mechanism {
	case "", "plain", "scram-sha-256", "scram-sha-512":
	default:
		bad("SASL.Mechanism", "%q: want plain, scram-sha-256 or scram-sha-512", c.SASL.Mechanism)
	}
	if c.SASL.Mechanism != "" && c.SASL.Username == "" {
		bad("SASL.Username", "required with SASL")
	}
	if c.HeartbeatInterval >= c.SessionTimeout {
		bad("HeartbeatInterval", "%v is not below SessionTimeout %v", c.HeartbeatInterval, c.SessionTimeout)
	}
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"BatchMaxRecords", int64(c.BatchMaxRecords)}, {"BatchMaxBytes", int64(c.BatchMaxBytes)},
		{"BatchMaxWait", int64(c.BatchMaxWait)}, {"FetchMaxWait", int64(c.FetchMaxWait)},
		{"MaxMessageBytes", int64(c.MaxMessageBytes)}, {"ShutdownTimeout", int64(c.ShutdownTimeout)},
		{"WriteRetries", int64(c.WriteRetries)},
	} {
		if f.v < 0 {
			bad(f.name, "negative")
		}
	}
	return errors.Join(errs...)
}

// SASLMechanism returns the kafka-go SASL mechanism of c.SASL (nil
// without SASL).
func (c *Config) SASLMechanism() (sasl.Mechanism, error) {
	switch c.SASL.Mechanism {
	case "":
		return nil, nil
	case "plain":
		return plain.Mechanism{Username: c.SASL.Username, Password: c.SASL.Password}, nil
	case "scram-sha-256":
		return scram.Mechanism(scram.SHA256, c.SASL.Username, c.SASL.Password)
	case "scram-sha-512":
		return scram.Mechanism(scram.SHA512, c.SASL.Username, c.SASL.Password)
	}
	return nil, fmt.Errorf("%w: SASL.Mechanism %q", ErrConfig, c.SASL.Mechanism)
}

// Stats are a source's counters.
type Stats struct {
	Messages       int64            // messages fetched
	Redelivered    int64            // messages skipped: already covered by a stored checkpoint
	Records        int64            // records decoded
	Events         int64            // events handed to the store
	Written        int64            // events the store counted (new)
	Duplicates     int64            // events the store already had
	Quarantined    map[string]int64 // reason → records quarantined in the store
	Repaired       int64            // messages the decoder had to mend to read (a warning names each)
	DeadLettered   map[string]int64 // reason → messages sent to the dead-letter topic
	Batches        int64            // store writes
	Commits        int64            // offset commits
	Lag            int64            // messages behind the high-water marks, summed over partitions seen
	LastCheckpoint time.Time        // time of the last durable write
}

// counters are updated by the run loop and read by Stats.
type counters struct {
	messages, redelivered, records, events, written, duplicates atomic.Int64
	batches, commits, lag, lastCheckpoint                       atomic.Int64
	repaired                                                    atomic.Int64

	mu           sync.Mutex
	quarantined  map[string]int64
	deadLettered map[string]int64
}

func (c *counters) add(m *map[string]int64, reason string, n int64) {
	c.mu.Lock()
	if *m == nil {
		*m = map[string]int64{}
	}
	(*m)[reason] += n
	c.mu.Unlock()
}

// Source consumes Kafka topics into a Store. Create it with New and start
// it with Run.
type Source struct {
	cfg   Config
	store Store
	log   *slog.Logger
	c     counters
}

// New validates cfg and returns a Source writing to st.
func New(cfg Config, st Store) (*Source, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if st == nil {
		return nil, fmt.Errorf("%w: nil store", ErrConfig)
	}
	if _, err := cfg.SASLMechanism(); err != nil {
		return nil, fmt.Errorf("%w: SASL: %w", ErrConfig, err)
	}
	return &Source{cfg: cfg, store: st, log: cfg.Logger.With("component", "ingest.kafka")}, nil
}

// Stats returns a snapshot of the counters; safe to call while Run runs.
func (s *Source) Stats() Stats {
	st := Stats{
		Messages:    s.c.messages.Load(),
		Redelivered: s.c.redelivered.Load(),
		Records:     s.c.records.Load(),
		Events:      s.c.events.Load(),
		Written:     s.c.written.Load(),
		Duplicates:  s.c.duplicates.Load(),
		Batches:     s.c.batches.Load(),
		Commits:     s.c.commits.Load(),
		Lag:         s.c.lag.Load(),
		Repaired:    s.c.repaired.Load(),
	}
	if ns := s.c.lastCheckpoint.Load(); ns != 0 {
		st.LastCheckpoint = time.Unix(0, ns).UTC()
	}
	s.c.mu.Lock()
	st.Quarantined = cloneMap(s.c.quarantined)
	st.DeadLettered = cloneMap(s.c.deadLettered)
	s.c.mu.Unlock()
	return st
}

func cloneMap(m map[string]int64) map[string]int64 {
	out := make(map[string]int64, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// CheckpointSource is the store checkpoint name of a partition.
func CheckpointSource(topic string, partition int) string {
	return "kafka:" + topic + "/" + strconv.Itoa(partition)
}

func (s *Source) dialer() (*kafka.Dialer, error) {
	mech, err := s.cfg.SASLMechanism()
	if err != nil {
		return nil, err
	}
	return &kafka.Dialer{Timeout: 10 * time.Second, DualStack: true, TLS: s.cfg.TLS, SASLMechanism: mech}, nil
}

func (s *Source) newReader() (*kafka.Reader, error) {
	d, err := s.dialer()
	if err != nil {
		return nil, err
	}
	start := kafka.FirstOffset
	if s.cfg.StartLast {
		start = kafka.LastOffset
	}
	rc := kafka.ReaderConfig{
		Brokers:           s.cfg.Brokers,
		GroupID:           s.cfg.GroupID,
		GroupTopics:       s.cfg.Topics,
		Dialer:            d,
		MaxBytes:          s.cfg.MaxMessageBytes,
		MaxWait:           s.cfg.FetchMaxWait,
		SessionTimeout:    s.cfg.SessionTimeout,
		HeartbeatInterval: s.cfg.HeartbeatInterval,
		RebalanceTimeout:  s.cfg.RebalanceTimeout,
		StartOffset:       start,
		CommitInterval:    0, // synchronous: a commit returns once the broker has it
		ErrorLogger:       kafka.LoggerFunc(func(f string, a ...any) { s.log.Warn("kafka reader", "error", fmt.Sprintf(f, a...)) }),
	}
	if err := rc.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return kafka.NewReader(rc), nil
}

func (s *Source) newDeadLetterWriter() (*kafka.Writer, error) {
	if s.cfg.DeadLetterTopic == "" {
		return nil, nil
	}
	mech, err := s.cfg.SASLMechanism()
	if err != nil {
		return nil, err
	}
	var tr kafka.RoundTripper = kafka.DefaultTransport
	if s.cfg.TLS != nil || mech != nil {
		tr = &kafka.Transport{TLS: s.cfg.TLS, SASL: mech}
	}
	return &kafka.Writer{
		Addr:         kafka.TCP(s.cfg.Brokers...),
		Topic:        s.cfg.DeadLetterTopic,
		Balancer:     &kafka.Hash{},
		RequiredAcks: kafka.RequireAll,
		BatchTimeout: 10 * time.Millisecond,
		// One attempt per write: run.retry already retries a failed
		// dead-letter write WriteRetries times with backoff, and the
		// writer's own default (10 attempts) would multiply with it (60
		// attempts at the defaults) and hold the partition that long.
		MaxAttempts: 1,
		Transport:   tr,
		ErrorLogger: kafka.LoggerFunc(func(f string, a ...any) { s.log.Warn("kafka dead-letter writer", "error", fmt.Sprintf(f, a...)) }),
	}, nil
}

// FromConverter adapts the ingest decoders (every payload shape a message
// may hold) to a DecodeFunc.
func FromConverter(c *ingest.Converter) DecodeFunc {
	return func(where string, payload []byte) (Decoded, error) {
		out, err := c.ConvertPayload(context.Background(), where, payload)
		return Decoded{Records: int(out.Counts.Records), Events: out.Events, Quarantined: out.Quarantined, Repairs: out.Counts.Repairs}, err
	}
}
