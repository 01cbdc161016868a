// Package dirsource watches a local directory for CloudTrail files and
// ingests each new or changed one with ingest's file pipeline: the same
// decoding, batching and per-file checkpoints as `iamd ingest DIR`, run
// again every poll, so a file is read once (a file whose checkpoint
// matches its size and modification time is skipped) and a file that
// grows or is replaced is read again (the store's eventID dedup absorbs
// the records it had). It imports ingest and store.
//
// A file modified less than Settle ago is left for a later poll, so one
// still being copied in is not read half.
package dirsource

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/iamd/iamd/ingest"
)

// Defaults for Config fields left zero.
const (
	DefaultPoll   = 30 * time.Second
	DefaultSettle = 5 * time.Second
)

// Store is what the source needs of the usage index; *store.DB has it.
type Store interface {
	ingest.BatchWriter
	ingest.CheckpointReader
}

// Config configures a Source.
type Config struct {
	// Dir is the directory, read recursively. Required.
	Dir string
	// Converter decodes files. Required.
	Converter *ingest.Converter
	// Poll is the time between scans. Default 30 s.
	Poll time.Duration
	// Settle leaves files modified less than this long ago for a later
	// scan. Default 5 s; negative: none.
	Settle time.Duration
	// Workers decode files at once. Default: one per CPU.
	Workers int
	// BatchSize is the most records per store write. Default
	// ingest.DefaultBatchSize.
	BatchSize int
	// Logger; default discard.
	Logger *slog.Logger
	// Now is the clock deciding Settle and stamping checkpoints. Default
	// time.Now.
	Now func() time.Time
}

// Stats are a source's counters since New.
type Stats struct {
	Polls       int64            // completed scans
	Files       int64            // files read (new or changed)
	Pending     int64            // files of the last scan left to settle
	Records     int64            // records decoded
	Events      int64            // events handed to the store
	Written     int64            // events the store counted (new)
	Duplicates  int64            // events the store already had
	NewFacts    int64            // facts the store did not hold before
	Quarantined map[string]int64 // reason → records
	Repaired    int64            // files the decoder had to mend to read
	LastPoll    time.Time        // end of the last completed scan
}

// Source polls a directory into a Store.
type Source struct {
	cfg   Config
	store Store
	log   *slog.Logger

	polls, pending, lastPoll atomic.Int64
	mu                       sync.Mutex
	counts                   ingest.Counts
}

// New validates cfg.
func New(cfg Config, st Store) (*Source, error) {
	var errs []error
	if cfg.Dir == "" {
		errs = append(errs, errors.New("Dir is required"))
	}
	if cfg.Converter == nil {
		errs = append(errs, errors.New("Converter is required"))
	}
	if st == nil {
		errs = append(errs, errors.New("store is required"))
	}
	if cfg.Poll < 0 || cfg.Workers < 0 || cfg.BatchSize < 0 {
		errs = append(errs, errors.New("Poll, Workers and BatchSize must not be negative"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("directory source: %w", err)
	}
	if cfg.Poll == 0 {
		cfg.Poll = DefaultPoll
	}
	if cfg.Settle == 0 {
		cfg.Settle = DefaultSettle
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Source{cfg: cfg, store: st, log: cfg.Logger.With("component", "ingest.dir", "dir", cfg.Dir)}, nil
}

// Run scans the directory every Poll until ctx is cancelled, then returns
// nil; a file being read when ctx ends is read again next time (what was
// written of it is deduplicated). A directory that cannot be read or a
// store write that fails ends Run with the error.
func (s *Source) Run(ctx context.Context) error {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if err := s.Poll(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		t.Reset(s.cfg.Poll)
	}
}

// Poll scans the directory once and ingests the settled files that are
// new or changed.
func (s *Source) Poll(ctx context.Context) error {
	fi, err := os.Stat(s.cfg.Dir)
	if err != nil {
		return fmt.Errorf("directory source: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("directory source: %s is not a directory", s.cfg.Dir)
	}
	cutoff := s.cfg.Now().Add(-s.cfg.Settle)
	var files []string
	var pending int64
	walkErr := ingest.WalkInputs([]string{s.cfg.Dir}, func(in ingest.Input) error {
		if s.cfg.Settle > 0 && in.MTime.After(cutoff) {
			pending++
			return nil
		}
		files = append(files, in.Path)
		return nil
	})
	if walkErr != nil {
		// A file removed during the walk is not a reason to stop.
		s.log.Warn("some files could not be listed", "err", walkErr)
	}
	s.pending.Store(pending)
	if len(files) > 0 {
		p, err := ingest.NewPipeline(ingest.PipelineOptions{
			Converter: s.cfg.Converter, Writer: s.store, Checkpoints: s.store,
			BatchSize: s.cfg.BatchSize, Workers: s.cfg.Workers, Now: s.cfg.Now,
			Logger: s.cfg.Logger, QuarantineSample: -1,
		})
		if err != nil {
			return err
		}
		sum, err := p.Run(ctx, files)
		s.add(sum.Counts)
		if sum.Files > 0 {
			s.log.Info("files ingested", "files", sum.Files, "events", sum.Events, "new", sum.Written,
				"duplicates", sum.Duplicates, "quarantined", sum.QuarantinedTotal(), "repaired", sum.RepairedFiles)
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("directory source %s: %w", s.cfg.Dir, err)
		}
	}
	s.polls.Add(1)
	s.lastPoll.Store(s.cfg.Now().UnixNano())
	return nil
}

func (s *Source) add(c ingest.Counts) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.counts.Quarantined
	s.counts.Files += c.Files
	s.counts.Records += c.Records
	s.counts.Events += c.Events
	s.counts.Written += c.Written
	s.counts.Duplicates += c.Duplicates
	s.counts.NewFacts += c.NewFacts
	s.counts.RepairedFiles += c.RepairedFiles
	for k, v := range c.Quarantined {
		if q == nil {
			q = map[string]int64{}
		}
		q[k] += v
	}
	s.counts.Quarantined = q
}

// Stats returns a snapshot of the counters; safe while Run runs.
func (s *Source) Stats() Stats {
	s.mu.Lock()
	c := s.counts
	q := make(map[string]int64, len(c.Quarantined))
	for k, v := range c.Quarantined {
		q[k] = v
	}
	s.mu.Unlock()
	st := Stats{
		Polls: s.polls.Load(), Pending: s.pending.Load(), Files: c.Files, Records: c.Records, Events: c.Events,
		Written: c.Written, Duplicates: c.Duplicates, NewFacts: c.NewFacts, Quarantined: q, Repaired: c.RepairedFiles,
	}
	if ns := s.lastPoll.Load(); ns != 0 {
		st.LastPoll = time.Unix(0, ns).UTC()
	}
	return st
}
