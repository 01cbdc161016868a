package ingest

import (
	"context"
	"errors"
	"fmt"
	"math/bits"
	"slices"

	"github.com/cespare/xxhash/v2"

	"github.com/iamd/iamd/store"
)

// BatchWriter is the store as ingest sees it: one durable write of events,
// quarantined records and checkpoints. *store.DB implements it. Write
// must not keep b or its slices after it returns: the sink fills them
// again.
type BatchWriter interface {
	Write(ctx context.Context, b *store.Batch) (store.WriteResult, error)
}

// CheckpointReader reads a source's checkpoint; *store.DB implements it.
type CheckpointReader interface {
	Checkpoint(ctx context.Context, source string) (store.Checkpoint, bool, error)
}

// DefaultBatchSize is how many records (events and quarantined) a batch
// holds at most, and DefaultBatchFacts how many distinct principal ×
// action × resource facts. Each batch rewrites every fact it touches, so
// the fewer batches the better, but a batch must fit one Badger
// transaction (~1.2 MiB with the store's default memtable), and what
// fills a transaction is distinct facts, not records: 5,000 generated
// records hold ~2,500–2,900 facts and fit, 8,000 (~4,000 facts) do not
// and get split, which costs more than it saves (390,862 generated
// records: 2,000-record batches 7.2–8.5 s, 5,000 → 6.2–6.4 s, 8,000 →
// 5.5–5.9 s, 16,000 → 8.4–8.5 s). Real trails repeat themselves far
// more: 5,000 invictus records hold 844 facts, so they get batches of
// up to 20,000 records, a quarter of the rewrites.
const (
	DefaultBatchSize  = 20000
	DefaultBatchFacts = 3000
)

// DefaultQuarantineSample is how many quarantined records a Sink keeps to
// show: the counts per reason say how much went wrong, a few records say
// where (file, record index, byte offset) and why.
const DefaultQuarantineSample = 10

// SinkOptions configures NewSink.
type SinkOptions struct {
	// BatchSize is the most events plus quarantined records per write.
	// Default DefaultBatchSize.
	BatchSize int
	// BatchFacts ends a batch once its events use this many distinct
	// principal × action × resource facts. Default DefaultBatchFacts.
	BatchFacts int
	// QuarantineSample is how many of the first quarantined records
	// QuarantineSample returns. Default DefaultQuarantineSample; negative
	// keeps none.
	QuarantineSample int
}

// Sink batches Results into store.Batches. A checkpoint added with
// Checkpoint is written in the batch that holds the last result added
// before it, so it never becomes durable ahead of the records it covers.
//
// A full batch is written in the background while the next one fills:
// the write (a Badger transaction, ~15 ms for 5,000 records) used to stop
// every decoding goroutine once the few chunks between them and the
// writer were queued, leaving a quarter of two cores idle. At most one
// write is in flight, batches are written in order, and a write's error
// is returned by the next Add or Flush; Flush waits for everything.
// A Sink is not safe for concurrent use: it is the single writer.
type Sink struct {
	w          BatchWriter
	size       int
	batch      store.Batch
	counts     Counts
	principals map[string]struct{}
	maxFacts   int
	facts      map[uint64]struct{} // hashes of the batch's distinct facts
	// inflight delivers the result of the write in flight; nil when
	// there is none.
	inflight chan writeResult
	// spare is the events slice of the last written batch, for the next.
	spare []store.Event
	// lastPrincipal is the principal last put in principals: consecutive
	// events mostly share one, and comparing is cheaper than hashing.
	lastPrincipal string
	// sample holds the first quarantined records added, without Raw, up
	// to maxSample.
	sample    []store.Quarantined
	maxSample int
}

type writeResult struct {
	res    store.WriteResult
	err    error
	events []store.Event // the batch's slice, free again
}

// NewSink returns a Sink writing to w.
func NewSink(w BatchWriter, opts SinkOptions) (*Sink, error) {
	if w == nil {
		return nil, errors.New("new sink: writer is required")
	}
	if opts.BatchSize < 0 || opts.BatchFacts < 0 {
		return nil, fmt.Errorf("new sink: BatchSize %d or BatchFacts %d is negative", opts.BatchSize, opts.BatchFacts)
	}
	if opts.BatchSize == 0 {
		opts.BatchSize = DefaultBatchSize
	}
	if opts.BatchFacts == 0 {
		opts.BatchFacts = DefaultBatchFacts
	}
	if opts.QuarantineSample == 0 {
		opts.QuarantineSample = DefaultQuarantineSample
	}
	return &Sink{
		w: w, size: opts.BatchSize, principals: map[string]struct{}{},
		maxFacts: opts.BatchFacts, facts: map[uint64]struct{}{},
		maxSample: max(opts.QuarantineSample, 0),
	}, nil
}

// Add counts r and queues a copy of its event or quarantined record,
// starting the write of a batch when it is full. It does not keep r (a
// pointer because a Result is ~500 bytes, copied twice per record when
// passed by value).
func (s *Sink) Add(ctx context.Context, r *Result) error {
	s.counts.Count(r)
	switch r.Kind {
	case KindUsage, KindPermissionless, KindUnmapped:
		if p := r.Event.Principal; p != s.lastPrincipal {
			s.principals[p] = struct{}{}
			s.lastPrincipal = p
		}
		if s.batch.Events == nil {
			s.batch.Events = s.newEvents()
		}
		s.batch.Events = append(s.batch.Events, r.Event)
		s.countFacts(&r.Event)
	case KindQuarantined:
		s.batch.Quarantined = append(s.batch.Quarantined, r.Quarantined)
		if len(s.sample) < s.maxSample {
			q := r.Quarantined
			q.Raw = nil
			s.sample = append(s.sample, q)
		}
	default:
		return nil
	}
	if len(s.batch.Events)+len(s.batch.Quarantined) >= s.size || len(s.facts) >= s.maxFacts {
		return s.start(ctx)
	}
	return nil
}

// countFacts adds the facts ev uses to the batch's distinct facts. The
// three parts are hashed apart and combined (rotated so that swapped
// parts differ): hashing the principal once per event instead of the
// whole triple per use halves the cost, and a rare collision only lets a
// batch grow a little past the limit.
func (s *Sink) countFacts(ev *store.Event) {
	if len(ev.Uses) == 0 {
		return
	}
	p := xxhash.Sum64String(ev.Principal)
	for _, u := range ev.Uses {
		h := p ^ bits.RotateLeft64(xxhash.Sum64String(u.Action), 21) ^ bits.RotateLeft64(xxhash.Sum64String(u.Resource), 42)
		s.facts[h] = struct{}{}
	}
}

// Checkpoint queues a checkpoint covering everything added so far.
func (s *Sink) Checkpoint(cp store.Checkpoint) {
	s.batch.Checkpoints = append(s.batch.Checkpoints, cp)
}

// AddCounts adds counters that are not per record (digest files, files
// read or skipped).
func (s *Sink) AddCounts(c Counts) { s.counts.Add(c) }

// newEvents makes a batch's events slice with room for firstBatchEvents
// (at most the batch size); a batch that needs more grows it, and the
// grown slice is filled again by the batch after next (Sink.spare), so
// growing happens for the first batches only. Room for a full batch
// (20,000 events, 6 MB) from the start was not resident where batches
// end at the fact limit first, but the collector counts it all against
// the heap's limit: on a generated trail (~6,500 events per batch) the
// two slices held 7 MB of the Go heap for nothing, and a fuller heap
// means more collections.
func (s *Sink) newEvents() []store.Event {
	return make([]store.Event, 0, min(s.size, firstBatchEvents))
}

// firstBatchEvents is the room of a new events slice: a generated
// trail's batches end at the fact limit below it, real trails' batches
// grow past it.
const firstBatchEvents = 8192

// Flush writes the queued batch, if any, and returns once every write has
// ended: then everything added is durable, or the error says what failed.
func (s *Sink) Flush(ctx context.Context) error {
	if err := s.start(ctx); err != nil {
		return err
	}
	return s.wait()
}

// start waits for the write in flight, then starts writing the queued
// batch, if any.
func (s *Sink) start(ctx context.Context) error {
	if err := s.wait(); err != nil {
		return err
	}
	b := s.batch
	if len(b.Events) == 0 && len(b.Quarantined) == 0 && len(b.Checkpoints) == 0 {
		return nil
	}
	// New slices: the batch is the writer's until its write ends.
	// The slice of the batch written before is filled again: a fresh
	// one per batch (6 MB at 20,000 events) was allocated and zeroed for
	// nothing. Its old elements are overwritten as the batch fills.
	events := s.spare[:0]
	s.spare = nil
	if cap(events) == 0 {
		events = s.newEvents()
	}
	s.batch = store.Batch{Events: events}
	clear(s.facts)
	done := make(chan writeResult, 1)
	s.inflight = done
	go func() {
		res, err := s.w.Write(ctx, &b)
		if err != nil {
			err = fmt.Errorf("write batch of %d events, %d quarantined, %d checkpoints: %w",
				len(b.Events), len(b.Quarantined), len(b.Checkpoints), err)
		}
		done <- writeResult{res, err, b.Events}
	}()
	return nil
}

// wait collects the write in flight, if any.
func (s *Sink) wait() error {
	if s.inflight == nil {
		return nil
	}
	r := <-s.inflight
	s.inflight = nil
	s.spare = r.events
	if r.err != nil {
		return r.err
	}
	s.counts.Written += int64(r.res.Events)
	s.counts.Duplicates += int64(r.res.Duplicates)
	s.counts.FactWrites += int64(r.res.Facts)
	s.counts.NewFacts += int64(r.res.NewFacts)
	return nil
}

// Counts returns what the sink has seen and written so far.
func (s *Sink) Counts() Counts { return s.counts }

// QuarantineSample returns the first quarantined records added (at most
// SinkOptions.QuarantineSample), in the order added, without their Raw
// bytes. Whether they are written yet is for Counts and Flush to say.
func (s *Sink) QuarantineSample() []store.Quarantined { return slices.Clone(s.sample) }

// Principals returns how many distinct principals the sink has seen.
func (s *Sink) Principals() int { return len(s.principals) }
