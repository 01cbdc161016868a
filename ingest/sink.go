package ingest

import (
	"context"
	"errors"
	"fmt"

	"github.com/iamd/iamd/store"
)

// BatchWriter is the store as ingest sees it: one durable write of events,
// quarantined records and checkpoints. *store.DB implements it.
type BatchWriter interface {
	Write(ctx context.Context, b *store.Batch) (store.WriteResult, error)
}

// CheckpointReader reads a source's checkpoint; *store.DB implements it.
type CheckpointReader interface {
	Checkpoint(ctx context.Context, source string) (store.Checkpoint, bool, error)
}

// DefaultBatchSize is how many records (events and quarantined) a batch
// holds by default. Each batch rewrites every fact it touches, so larger
// batches rewrite less; past ~8,000 generated records a batch no longer
// fits one Badger transaction and the store splits it, which costs more
// than it saves (390,862 generated records: 2,000 → 7.2–8.5 s,
// 5,000 → 6.2–6.4 s, 8,000 → 5.5–5.9 s, 16,000 → 8.4–8.5 s). 5,000 keeps
// a margin for longer ARNs.
const DefaultBatchSize = 5000

// SinkOptions configures NewSink.
type SinkOptions struct {
	// BatchSize is the number of events plus quarantined records per
	// write. Default DefaultBatchSize.
	BatchSize int
}

// Sink batches Results into store.Batches. A checkpoint added with
// Checkpoint is written in the batch that holds the last result added
// before it, so it never becomes durable ahead of the records it covers.
// A Sink is not safe for concurrent use: it is the single writer.
type Sink struct {
	w          BatchWriter
	size       int
	batch      store.Batch
	counts     Counts
	principals map[string]struct{}
}

// NewSink returns a Sink writing to w.
func NewSink(w BatchWriter, opts SinkOptions) (*Sink, error) {
	if w == nil {
		return nil, errors.New("new sink: writer is required")
	}
	if opts.BatchSize < 0 {
		return nil, fmt.Errorf("new sink: BatchSize %d is negative", opts.BatchSize)
	}
	if opts.BatchSize == 0 {
		opts.BatchSize = DefaultBatchSize
	}
	return &Sink{w: w, size: opts.BatchSize, principals: map[string]struct{}{}}, nil
}

// Add counts r and queues its event or quarantined record, writing a
// batch when it is full.
func (s *Sink) Add(ctx context.Context, r Result) error {
	s.counts.Count(&r)
	switch r.Kind {
	case KindUsage, KindPermissionless, KindUnmapped:
		s.principals[r.Event.Principal] = struct{}{}
		s.batch.Events = append(s.batch.Events, r.Event)
	case KindQuarantined:
		s.batch.Quarantined = append(s.batch.Quarantined, r.Quarantined)
	default:
		return nil
	}
	if len(s.batch.Events)+len(s.batch.Quarantined) >= s.size {
		return s.Flush(ctx)
	}
	return nil
}

// AddOutput adds a converted payload and then its checkpoint (if cp is
// not nil): the streaming sources' one call per message or object.
func (s *Sink) AddOutput(ctx context.Context, out Output, cp *store.Checkpoint) error {
	for i := range out.Events {
		ev := &out.Events[i]
		s.principals[ev.Principal] = struct{}{}
		s.batch.Events = append(s.batch.Events, *ev)
	}
	s.batch.Quarantined = append(s.batch.Quarantined, out.Quarantined...)
	s.counts.Add(out.Counts)
	if cp != nil {
		s.batch.Checkpoints = append(s.batch.Checkpoints, *cp)
	}
	if len(s.batch.Events)+len(s.batch.Quarantined) >= s.size {
		return s.Flush(ctx)
	}
	return nil
}

// Checkpoint queues a checkpoint covering everything added so far.
func (s *Sink) Checkpoint(cp store.Checkpoint) {
	s.batch.Checkpoints = append(s.batch.Checkpoints, cp)
}

// AddCounts adds counters that are not per record (digest files, files
// read or skipped).
func (s *Sink) AddCounts(c Counts) { s.counts.Add(c) }

// Flush writes the queued batch, if any.
func (s *Sink) Flush(ctx context.Context) error {
	b := &s.batch
	if len(b.Events) == 0 && len(b.Quarantined) == 0 && len(b.Checkpoints) == 0 {
		return nil
	}
	res, err := s.w.Write(ctx, b)
	if err != nil {
		return fmt.Errorf("write batch of %d events, %d quarantined, %d checkpoints: %w",
			len(b.Events), len(b.Quarantined), len(b.Checkpoints), err)
	}
	s.counts.Written += int64(res.Events)
	s.counts.Duplicates += int64(res.Duplicates)
	// New slices: the writer may keep nothing, but a fake might.
	s.batch = store.Batch{
		Events:      make([]store.Event, 0, cap(b.Events)),
		Quarantined: nil,
	}
	return nil
}

// Counts returns what the sink has seen and written so far.
func (s *Sink) Counts() Counts { return s.counts }

// Principals returns how many distinct principals the sink has seen.
func (s *Sink) Principals() int { return len(s.principals) }
