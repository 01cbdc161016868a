package kafkasource

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/iamd/iamd/ingest"
	"github.com/iamd/iamd/ingest/backoff"
	"github.com/iamd/iamd/store"
)

type topicPartition struct {
	topic     string
	partition int
}

// pending is the batch being accumulated.
type pending struct {
	batch    store.Batch
	last     map[topicPartition]kafka.Message // highest message per partition: what gets committed
	dead     []kafka.Message                  // for the dead-letter topic
	deadWhy  map[string]int64
	quarWhy  map[string]int64
	records  int
	bytes    int
	messages int
}

func newPending() *pending {
	return &pending{last: map[topicPartition]kafka.Message{}, deadWhy: map[string]int64{}, quarWhy: map[string]int64{}}
}

func (p *pending) empty() bool { return p.messages == 0 }

// run is the state of one Run call, owned by its goroutine.
type run struct {
	s      *Source
	r      *kafka.Reader
	dlq    *kafka.Writer
	stored map[topicPartition]int64 // next offset per partition covered by a stored checkpoint
	lag    map[topicPartition]int64
}

// Run consumes until ctx is cancelled or the store refuses writes for
// good. On cancellation it writes and commits the batch in flight (within
// ShutdownTimeout), leaves the group and returns nil.
func (s *Source) Run(ctx context.Context) error {
	r, err := s.newReader()
	if err != nil {
		return err
	}
	dlq, err := s.newDeadLetterWriter()
	if err != nil {
		return errors.Join(err, r.Close())
	}
	st := &run{s: s, r: r, dlq: dlq, stored: map[topicPartition]int64{}, lag: map[topicPartition]int64{}}
	err = st.loop(ctx)
	cerr := r.Close()
	if dlq != nil {
		cerr = errors.Join(cerr, dlq.Close())
	}
	if err != nil {
		return err
	}
	if cerr != nil {
		return fmt.Errorf("kafka source close: %w", cerr)
	}
	return nil
}

func (st *run) loop(ctx context.Context) error {
	s := st.s
	fetchCtx, cancelFetch := context.WithCancel(ctx)
	defer cancelFetch()
	// The fetcher hands messages over a small buffer; with the batch
	// bounds that caps memory at about BatchMaxBytes + 16 messages.
	msgs := make(chan kafka.Message, 16)
	fetchErr := make(chan error, 1)
	go func() {
		defer close(msgs)
		for {
			m, err := st.r.FetchMessage(fetchCtx)
			if err != nil {
				fetchErr <- err
				return
			}
			select {
			case msgs <- m:
			case <-fetchCtx.Done():
				return
			}
		}
	}()
	shutdown := func(p *pending) error {
		cancelFetch()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
		defer cancel()
		return st.flush(sctx, p)
	}

	p := newPending()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return shutdown(p)
		case m, ok := <-msgs:
			if !ok {
				if ctx.Err() != nil {
					return shutdown(p)
				}
				err := <-fetchErr
				return errors.Join(fmt.Errorf("kafka fetch: %w", err), shutdown(p))
			}
			if p.empty() {
				timer.Reset(s.cfg.BatchMaxWait)
			}
			if err := st.add(ctx, p, m); err != nil {
				return errors.Join(err, shutdown(p))
			}
			if p.records >= s.cfg.BatchMaxRecords || p.bytes >= s.cfg.BatchMaxBytes {
				timer.Stop()
				if err := st.flush(ctx, p); err != nil {
					return st.flushFailed(ctx, p, err, shutdown)
				}
				p = newPending()
			}
		case <-timer.C:
			if err := st.flush(ctx, p); err != nil {
				return st.flushFailed(ctx, p, err, shutdown)
			}
			p = newPending()
		}
	}
}

// flushFailed handles a failed flush: after cancellation it retries once
// within the shutdown budget, otherwise it gives up (the messages stay
// uncommitted and are redelivered on restart).
func (st *run) flushFailed(ctx context.Context, p *pending, err error, shutdown func(*pending) error) error {
	if ctx.Err() != nil {
		return shutdown(p)
	}
	return err
}

// storedOffset returns the next offset covered by the partition's
// stored checkpoint (0 if none), reading the store once per partition.
func (st *run) storedOffset(ctx context.Context, tp topicPartition) (int64, error) {
	if off, ok := st.stored[tp]; ok {
		return off, nil
	}
	src := CheckpointSource(tp.topic, tp.partition)
	cp, found, err := st.s.store.Checkpoint(ctx, src)
	if err != nil {
		return 0, fmt.Errorf("read checkpoint %s: %w", src, err)
	}
	var off int64
	if found {
		off, err = strconv.ParseInt(cp.Position, 10, 64)
		if err != nil {
			// A checkpoint we cannot read only costs the skip; dedup
			// still absorbs redelivered events.
			st.s.log.Warn("unreadable checkpoint", "source", src, "position", cp.Position)
			off = 0
		}
	}
	st.stored[tp] = off
	return off, nil
}

// add decodes m into p.
func (st *run) add(ctx context.Context, p *pending, m kafka.Message) error {
	s := st.s
	s.c.messages.Add(1)
	tp := topicPartition{m.Topic, m.Partition}
	p.messages++
	p.bytes += len(m.Value)
	if prev, ok := p.last[tp]; !ok || m.Offset > prev.Offset {
		p.last[tp] = m
	}
	covered, err := st.storedOffset(ctx, tp)
	if err != nil {
		return err
	}
	if m.Offset < covered {
		s.c.redelivered.Add(1)
		return nil
	}
	where := fmt.Sprintf("kafka:%s/%d@%d", m.Topic, m.Partition, m.Offset)
	if len(m.Value) > s.cfg.MaxMessageBytes {
		st.reject(p, m, where, ReasonTooLarge, fmt.Sprintf("%s: %d bytes, limit %d", where, len(m.Value), s.cfg.MaxMessageBytes))
		return nil
	}
	d, err := s.cfg.Decode(where, m.Value)
	if err != nil {
		st.reject(p, m, where, ReasonUndecodable, fmt.Sprintf("%s: %v", where, err))
		return nil
	}
	if st.dlq != nil && len(d.Events) == 0 && len(d.Quarantined) > 0 {
		q := d.Quarantined[0]
		st.reject(p, m, where, q.Reason, q.Detail)
		return nil
	}
	s.c.records.Add(int64(d.Records))
	if len(d.Repairs) > 0 {
		s.c.repaired.Add(1)
		s.log.Warn("message repaired to read it", "message", where, "repairs", d.Repairs)
	}
	p.batch.Events = append(p.batch.Events, d.Events...)
	p.batch.Quarantined = append(p.batch.Quarantined, d.Quarantined...)
	for _, q := range d.Quarantined {
		p.quarWhy[q.Reason]++
	}
	p.records += len(d.Events) + len(d.Quarantined)
	return nil
}

// reject sends m to the dead-letter topic, or quarantines it.
func (st *run) reject(p *pending, m kafka.Message, where, reason, detail string) {
	st.s.c.records.Add(1)
	p.records++
	if st.dlq != nil {
		p.dead = append(p.dead, kafka.Message{
			Key:   m.Key,
			Value: m.Value,
			Headers: append(append([]kafka.Header(nil), m.Headers...),
				kafka.Header{Key: HeaderError, Value: []byte(detail)},
				kafka.Header{Key: HeaderReason, Value: []byte(reason)},
				kafka.Header{Key: HeaderOrigin, Value: []byte(where)}),
		})
		p.deadWhy[reason]++
		return
	}
	raw := ingest.RedactQuarantined(m.Value[:min(len(m.Value), store.MaxRawSize)]) // a new slice
	raw = raw[:min(len(raw), store.MaxRawSize)]
	p.batch.Quarantined = append(p.batch.Quarantined, store.Quarantined{
		Where: where, Reason: reason, Detail: detail, Raw: raw, Time: st.s.cfg.Now(),
	})
	p.quarWhy[reason]++
}

// flush dead-letters, writes and commits p, in that order.
func (st *run) flush(ctx context.Context, p *pending) error {
	s := st.s
	if p.empty() {
		return nil
	}
	if len(p.dead) > 0 {
		if err := st.retry(ctx, "dead-letter write", func() error { return st.dlq.WriteMessages(ctx, p.dead...) }); err != nil {
			return err
		}
	}
	now := s.cfg.Now()
	commit := make([]kafka.Message, 0, len(p.last))
	for tp, m := range p.last {
		p.batch.Checkpoints = append(p.batch.Checkpoints, store.Checkpoint{
			Source:   CheckpointSource(tp.topic, tp.partition),
			Position: strconv.FormatInt(m.Offset+1, 10),
			Updated:  now,
		})
		commit = append(commit, m)
	}
	var res store.WriteResult
	err := st.retry(ctx, "store write", func() (err error) {
		res, err = s.store.Write(ctx, &p.batch)
		return err
	})
	if err != nil {
		return err
	}
	for tp, m := range p.last {
		if m.Offset+1 > st.stored[tp] {
			st.stored[tp] = m.Offset + 1
		}
		st.lag[tp] = max(m.HighWaterMark-m.Offset-1, 0)
	}
	var lag int64
	for _, l := range st.lag {
		lag += l
	}
	s.c.lag.Store(lag)
	s.c.batches.Add(1)
	s.c.events.Add(int64(len(p.batch.Events)))
	s.c.written.Add(int64(res.Events))
	s.c.duplicates.Add(int64(res.Duplicates))
	s.c.lastCheckpoint.Store(now.UnixNano())
	for r, n := range p.quarWhy {
		s.c.add(&s.c.quarantined, r, n)
	}
	for r, n := range p.deadWhy {
		s.c.add(&s.c.deadLettered, r, n)
	}
	// The facts are durable; a failed commit only means redelivery,
	// which the stored checkpoints and dedup absorb. A SIGTERM that comes
	// while the batch is being written must not skip its commit (a
	// graceful stop commits what it wrote), so the commit outlives ctx
	// within the shutdown budget.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
	defer cancel()
	if err := st.r.CommitMessages(cctx, commit...); err != nil {
		s.log.Warn("offset commit failed; messages will be redelivered and skipped", "error", err)
		return nil
	}
	s.c.commits.Add(1)
	return nil
}

// retry runs f up to WriteRetries+1 times with exponential backoff and
// jitter, stopping early on an invalid batch (retrying cannot fix it) or
// when ctx ends.
func (st *run) retry(ctx context.Context, what string, f func() error) error {
	wait := backoff.New(100*time.Millisecond, 10*time.Second, nil)
	var err error
	for attempt := 0; ; attempt++ {
		if err = f(); err == nil {
			return nil
		}
		if errors.Is(err, store.ErrInvalid) || attempt >= st.s.cfg.WriteRetries || ctx.Err() != nil {
			return fmt.Errorf("kafka source %s: %w", what, err)
		}
		d := wait.Next()
		st.s.log.Warn("retrying", "what", what, "error", err, "backoff", d)
		if cerr := backoff.Sleep(ctx, d); cerr != nil {
			return fmt.Errorf("kafka source %s: %w", what, errors.Join(err, cerr))
		}
	}
}
