// Package s3source ingests CloudTrail log files from an S3 bucket into the
// usage index: a backfill from a start date, then tailing for new files,
// crash-safe and exactly-once in effect. It imports store and ingest
// (and the S3 client). Decoding a file is a DecodeFunc so tests can
// inject their own; FromConverter adapts the ingest Converter.
//
// # Layout
//
// CloudTrail delivers to
//
//	<prefix>AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/<account>_CloudTrail_<region>_<YYYYMMDDTHHmmZ>_<id>.json.gz
//
// and organization trails to <prefix>AWSLogs/<org-id>/<account>/CloudTrail/….
// Each account × region prefix is a stream. Accounts and regions are
// discovered by listing with Delimiter "/" at every poll (new accounts
// appear), or taken from Config. Digest files (CloudTrail-Digest/) are
// skipped and counted.
//
// # Checkpoints and late delivery
//
// Keys of a stream sort by delivery time. Each stream has a checkpoint
// ("s3://<bucket>/<stream prefix>") whose Position holds the last key
// ingested and the keys ingested within LookBack before it. It is
// written in the same store.Batch as the facts of the files it covers,
// so a crash never separates them. A poll lists from LookBack before
// the last key (ListObjectsV2 StartAfter, through the SDK paginator) and
// skips keys in the recent set: a file delivered late with a key older
// than the checkpoint is still read, and one already read is not. Should
// a file be read twice anyway, the store's eventID dedup absorbs it.
//
// Files are downloaded and decoded concurrently (Workers), and written in
// key order so a checkpoint never passes a file that is not stored.
//
// # SQS notifications
//
// With Queue set (and Tail), Run backfills by listing once, then tails
// by receiving the bucket's S3 event notifications from an SQS queue
// (long polling) instead of listing every PollInterval. Direct and
// SNS-wrapped notifications are accepted. The files a batch of messages
// names are written per stream with the same checkpoint as polling
// (last key, recent keys), and a message is deleted only after every
// file it names is durably written. A message whose file could not be
// read or written stays in the queue and comes back after its
// visibility timeout. Test events, digest files, other buckets and keys
// outside Prefix/OrgID/Accounts/Regions are counted as ignored and
// deleted. A malformed message is counted, logged by message ID (never
// its body), quarantined in the store and then deleted: the store keeps
// the evidence, so the queue's redrive policy is not needed for it.
package s3source

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/iamd/iamd/ingest"
	"github.com/iamd/iamd/store"
)

// Defaults for Config fields left zero.
const (
	DefaultWorkers         = 4
	DefaultPollInterval    = time.Minute
	DefaultLookBack        = time.Hour
	DefaultBatchMaxRecords = 2000
	DefaultMaxObjectBytes  = 512 << 20
	DefaultMaxRecent       = 5000
)

// Quarantine reasons of the source itself.
const (
	ReasonRead        = "read-error"  // the object could not be downloaded
	ReasonUndecodable = "undecodable" // DecodeFunc returned an error
	ReasonTooLarge    = "object-too-big"
)

// ErrConfig is wrapped by every configuration error.
var ErrConfig = errors.New("s3 source config")

// Decoded is what one file became.
type Decoded struct {
	Records     int
	Events      []store.Event
	Quarantined []store.Quarantined
	// Repairs says what the decoder mended to read the file (records
	// without separating commas, a resync after damage): kind → count.
	Repairs map[string]int64
}

// DecodeFunc decodes one file (plain or gzipped). where is
// "s3://bucket/key". An error means the file as a whole is unreadable.
type DecodeFunc func(where string, payload []byte) (Decoded, error)

// Store is what the source needs of the usage index; *store.DB has it.
type Store interface {
	Write(ctx context.Context, b *store.Batch) (store.WriteResult, error)
	Checkpoint(ctx context.Context, source string) (store.Checkpoint, bool, error)
}

var _ Store = (*store.DB)(nil)

// Client is the part of the S3 API the source uses; *s3.Client has it.
type Client interface {
	s3.ListObjectsV2APIClient
	GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

var _ Client = (*s3.Client)(nil)

var _ QueueClient = (*sqs.Client)(nil)

// Config configures a Source.
type Config struct {
	// Bucket holding the trail. Required.
	Bucket string
	// Prefix is the trail's S3 key prefix, before "AWSLogs/". Default "".
	Prefix string
	// OrgID, for an organization trail, is the "o-…" folder under
	// AWSLogs/. Default "": discovered when listing.
	OrgID string
	// Accounts and Regions restrict the streams. Default: all found by
	// listing.
	Accounts []string
	Regions  []string
	// Since is the first day to backfill for a stream without a
	// checkpoint. Default zero: from the first file.
	Since time.Time
	// Until, when set, ends the run after the files of that day. Default
	// zero: no end.
	Until time.Time
	// Tail keeps polling for new files after the backfill. Default false:
	// Run returns once every stream is caught up.
	Tail bool
	// PollInterval is the time between polls when tailing. Default 1 m.
	PollInterval time.Duration
	// Workers download and decode files concurrently. Default 4.
	Workers int
	// LookBack is how far before the checkpoint's key a poll lists again
	// for late-delivered files. Default 1 h.
	LookBack time.Duration
	// MaxRecent caps the keys a checkpoint remembers. Default 5000.
	MaxRecent int
	// BatchMaxRecords flushes a store batch once it holds this many
	// records (whole files are never split). Default 2000.
	BatchMaxRecords int
	// MaxObjectBytes caps one object; larger ones are quarantined.
	// Default 512 MiB.
	MaxObjectBytes int64

	// Queue is the URL of an SQS queue receiving the bucket's S3 event
	// notifications (directly or through SNS). With it, tailing
	// receives notifications instead of listing. Requires Tail and
	// QueueClient. Default "": poll.
	Queue string
	// QueueClient receives from and deletes on Queue; *sqs.Client has it.
	QueueClient QueueClient
	// QueueWait is the long-polling wait of one receive (whole seconds,
	// at most 20). Default 20 s.
	QueueWait time.Duration
	// QueueMessages is the most messages one receive returns (1–10).
	// Default 10.
	QueueMessages int

	// Decode decodes a file. Required.
	Decode DecodeFunc
	// Logger; default discard.
	Logger *slog.Logger
	// Now is the clock for lag and checkpoints. Default time.Now.
	Now func() time.Time
}

func (c *Config) setDefaults() {
	def(&c.Workers, DefaultWorkers)
	def(&c.PollInterval, DefaultPollInterval)
	def(&c.LookBack, DefaultLookBack)
	def(&c.MaxRecent, DefaultMaxRecent)
	def(&c.BatchMaxRecords, DefaultBatchMaxRecords)
	def(&c.MaxObjectBytes, DefaultMaxObjectBytes)
	def(&c.QueueWait, DefaultQueueWait)
	def(&c.QueueMessages, DefaultQueueMessages)
	if c.Prefix != "" && !strings.HasSuffix(c.Prefix, "/") {
		c.Prefix += "/"
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

func def[T int | int64 | time.Duration](p *T, v T) {
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
	if c.Bucket == "" {
		bad("Bucket", "required")
	}
	if c.Decode == nil {
		bad("Decode", "required")
	}
	if c.OrgID != "" && !strings.HasPrefix(c.OrgID, "o-") {
		bad("OrgID", "%q does not start with o-", c.OrgID)
	}
	for i, a := range c.Accounts {
		if len(a) != 12 || strings.Trim(a, "0123456789") != "" {
			bad(fmt.Sprintf("Accounts[%d]", i), "%q is not a 12-digit account ID", a)
		}
	}
	if !c.Until.IsZero() && c.Until.Before(c.Since) {
		bad("Until", "before Since")
	}
	if c.Workers < 0 || c.PollInterval < 0 || c.LookBack < 0 || c.BatchMaxRecords < 0 || c.MaxObjectBytes < 0 || c.MaxRecent < 0 {
		bad("Workers/PollInterval/LookBack/BatchMaxRecords/MaxObjectBytes/MaxRecent", "negative")
	}
	if c.Queue != "" {
		if !c.Tail {
			bad("Queue", "requires Tail")
		}
		if c.QueueClient == nil {
			bad("QueueClient", "required with Queue")
		}
		if c.QueueWait < 0 || c.QueueWait > 20*time.Second {
			bad("QueueWait", "%v: want 0–20s", c.QueueWait)
		}
		if c.QueueMessages < 0 || c.QueueMessages > 10 {
			bad("QueueMessages", "%d: want 1–10", c.QueueMessages)
		}
	}
	return errors.Join(errs...)
}

// Stats are a source's counters.
type Stats struct {
	Streams        int64            // account × region prefixes found
	Objects        int64            // log files read
	Digests        int64            // digest and non-log files skipped
	Skipped        int64            // files listed again within LookBack and already ingested
	Records        int64            // records decoded
	Events         int64            // events handed to the store
	Written        int64            // events the store counted (new)
	Duplicates     int64            // events the store already had
	Quarantined    map[string]int64 // reason → records
	Repaired       int64            // log files the decoder had to mend to read (a warning names each)
	Polls          int64            // completed passes over all streams
	Lag            time.Duration    // age of the newest object ingested, by the injected clock
	LastCheckpoint time.Time
	// Queue mode only.
	Messages  int64 // notifications received
	Deleted   int64 // notifications deleted after their files were written
	Malformed int64 // notifications that were not S3 event notifications (quarantined)
	Ignored   int64 // test events and notifications of no file in scope
}

type counters struct {
	streams, objects, digests, skipped, records, events, written, duplicates, polls atomic.Int64
	repaired                                                                        atomic.Int64
	newest, lastCheckpoint                                                          atomic.Int64
	messages, deleted, malformed, ignored                                           atomic.Int64

	mu          sync.Mutex
	quarantined map[string]int64
}

// Source reads a CloudTrail bucket into a Store.
type Source struct {
	cfg    Config
	client Client
	store  Store
	log    *slog.Logger
	c      counters
}

// New validates cfg and returns a Source.
func New(cfg Config, client Client, st Store) (*Source, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if client == nil || st == nil {
		return nil, fmt.Errorf("%w: nil client or store", ErrConfig)
	}
	return &Source{cfg: cfg, client: client, store: st, log: cfg.Logger.With("component", "ingest.s3", "bucket", cfg.Bucket)}, nil
}

// Stats returns a snapshot of the counters.
func (s *Source) Stats() Stats {
	st := Stats{
		Streams: s.c.streams.Load(), Objects: s.c.objects.Load(), Digests: s.c.digests.Load(),
		Skipped: s.c.skipped.Load(), Records: s.c.records.Load(), Events: s.c.events.Load(),
		Written: s.c.written.Load(), Duplicates: s.c.duplicates.Load(), Polls: s.c.polls.Load(),
		Messages: s.c.messages.Load(), Deleted: s.c.deleted.Load(), Malformed: s.c.malformed.Load(), Ignored: s.c.ignored.Load(),
		Repaired: s.c.repaired.Load(),
	}
	if ns := s.c.newest.Load(); ns != 0 {
		st.Lag = max(s.cfg.Now().Sub(time.Unix(0, ns)), 0)
	}
	if ns := s.c.lastCheckpoint.Load(); ns != 0 {
		st.LastCheckpoint = time.Unix(0, ns).UTC()
	}
	s.c.mu.Lock()
	st.Quarantined = make(map[string]int64, len(s.c.quarantined))
	for k, v := range s.c.quarantined {
		st.Quarantined[k] = v
	}
	s.c.mu.Unlock()
	return st
}

// position is a stream checkpoint's Position.
type position struct {
	Last   string   `json:"last"`
	Recent []string `json:"recent,omitempty"` // keys ingested within LookBack before Last, sorted
}

func parsePosition(s string) (position, error) {
	var p position
	if s == "" {
		return p, nil
	}
	if err := json.Unmarshal([]byte(s), &p); err != nil {
		return p, fmt.Errorf("checkpoint position: %w", err)
	}
	sort.Strings(p.Recent)
	return p, nil
}

func (p position) String() string {
	b, _ := json.Marshal(p)
	return string(b)
}

// keyTime returns the delivery time in a CloudTrail file name
// (…_20261123T1605Z_…), ok=false if there is none.
func keyTime(key string) (time.Time, bool) {
	name := key[strings.LastIndexByte(key, '/')+1:]
	for _, part := range strings.Split(name, "_") {
		if len(part) == 14 && part[8] == 'T' && part[13] == 'Z' {
			if t, err := time.Parse("20060102T1504Z", part); err == nil {
				return t, true
			}
		}
	}
	return time.Time{}, false
}

// stream is one account × region prefix.
type stream struct {
	base    string // "<prefix>AWSLogs/[<org>/]<account>/CloudTrail/<region>/"
	account string
	region  string
}

// checkpointSource names the stream's checkpoint.
func (s *Source) checkpointSource(st stream) string {
	return "s3://" + s.cfg.Bucket + "/" + strings.TrimSuffix(st.base, "/")
}

// CheckpointSource is the checkpoint name of one account × region stream
// (org is "" for a non-organization trail).
func CheckpointSource(bucket, prefix, org, account, region string) string {
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	return "s3://" + bucket + "/" + strings.TrimSuffix(streamBase(prefix, org, account, region), "/")
}

func streamBase(prefix, org, account, region string) string {
	b := prefix + "AWSLogs/"
	if org != "" {
		b += org + "/"
	}
	return b + account + "/CloudTrail/" + region + "/"
}

// FromConverter adapts the ingest decoders (plain or gzipped log files)
// to a DecodeFunc.
func FromConverter(c *ingest.Converter) DecodeFunc {
	return func(where string, payload []byte) (Decoded, error) {
		out, err := c.ConvertPayload(context.Background(), where, payload)
		return Decoded{Records: int(out.Counts.Records), Events: out.Events, Quarantined: out.Quarantined, Repairs: out.Counts.Repairs}, err
	}
}
