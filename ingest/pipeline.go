package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/iamd/iamd/store"
)

// Stdin is the path that means standard input.
const Stdin = "-"

// PipelineOptions configures NewPipeline.
type PipelineOptions struct {
	// Converter decodes payloads. Required.
	Converter *Converter
	// Writer receives batches. Required.
	Writer BatchWriter
	// Checkpoints, when set, lets Run skip files whose checkpoint says
	// they were read whole at their current size and modification time.
	Checkpoints CheckpointReader
	// BatchSize and BatchFacts: see SinkOptions. Defaults
	// DefaultBatchSize and DefaultBatchFacts.
	BatchSize  int
	BatchFacts int
	// QuarantineSample: see SinkOptions. Default DefaultQuarantineSample;
	// negative keeps none.
	QuarantineSample int
	// Workers is how many files are decoded at once. Default GOMAXPROCS.
	// Batches are written by one writer.
	Workers int
	// Now stamps checkpoints. Default time.Now.
	Now func() time.Time
	// Logger gets one line per unreadable path. Default: discard.
	Logger *slog.Logger
	// Stdin is read for the path "-". Default os.Stdin.
	Stdin io.Reader
	// Progress, if set, is called with the number of input bytes read,
	// from several goroutines.
	Progress func(n int64)
}

// Pipeline reads files and directories, converts them on several
// goroutines and writes batches with one writer, with a checkpoint per
// file.
type Pipeline struct {
	opts PipelineOptions
	log  *slog.Logger
	// chunks recycles the []Result of chunks the writer has consumed:
	// allocating 512 Results per file was 40 % of all allocation on a
	// backfill of small CloudTrail files.
	chunks sync.Pool
}

func (p *Pipeline) newChunk() []Result {
	if c, ok := p.chunks.Get().(*[]Result); ok {
		return (*c)[:0]
	}
	return make([]Result, 0, chunkSize)
}

// recycle returns a consumed chunk's slice to the pool, cleared so that
// it keeps no record alive.
func (p *Pipeline) recycle(rs []Result) {
	if cap(rs) != chunkSize {
		return
	}
	clear(rs)
	rs = rs[:0]
	p.chunks.Put(&rs)
}

// Summary is what a Run did.
type Summary struct {
	Counts
	Principals int `json:"principals"`
	// Quarantine holds the first quarantined records of the run (see
	// PipelineOptions.QuarantineSample), without Raw: where each was and
	// why. Not in Summary's JSON: callers choose the fields they print.
	Quarantine []store.Quarantined `json:"-"`
	// Repaired holds the first inputs the decoder had to mend (as many
	// as QuarantineSample), with what it mended; Counts.RepairedFiles
	// counts them all.
	Repaired []RepairedFile `json:"-"`
}

// RepairedFile is an input the decoder had to mend to read it: even when
// every record was recovered, the file is not what CloudTrail wrote.
type RepairedFile struct {
	Path    string           `json:"path"`
	Repairs map[string]int64 `json:"repairs"` // repair kind (Repair…) → occurrences
}

// NewPipeline validates opts.
func NewPipeline(opts PipelineOptions) (*Pipeline, error) {
	var errs []error
	if opts.Converter == nil {
		errs = append(errs, errors.New("Converter is required"))
	}
	if opts.Writer == nil {
		errs = append(errs, errors.New("Writer is required"))
	}
	if opts.Workers < 0 {
		errs = append(errs, fmt.Errorf("Workers %d is negative", opts.Workers))
	}
	if opts.BatchSize < 0 || opts.BatchFacts < 0 {
		errs = append(errs, fmt.Errorf("BatchSize %d or BatchFacts %d is negative", opts.BatchSize, opts.BatchFacts))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("new pipeline: %w", err)
	}
	if opts.Workers == 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	if opts.Stdin == nil {
		opts.Stdin = os.Stdin
	}
	opts.Now = nowFunc(opts.Now)
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Pipeline{opts: opts, log: log.With("component", "ingest.pipeline")}, nil
}

// Input is one file to read.
type Input struct {
	Path  string // as given or found; "-" for stdin
	Size  int64
	MTime time.Time
}

// Source is the checkpoint source name of a file.
func (in Input) Source() string {
	if in.Path == Stdin {
		return ""
	}
	abs, err := filepath.Abs(in.Path)
	if err != nil {
		abs = in.Path
	}
	return "file:" + abs
}

// Position is the checkpoint position of a file read whole: its size and
// modification time, so a changed file is read again.
func (in Input) Position() string {
	return fmt.Sprintf("size=%d mtime=%d", in.Size, in.MTime.UnixNano())
}

// ExpandPaths lists the inputs under paths: files as given (any name),
// directories recursively (only names DataFile accepts, in lexical
// order), "-" as is.
func ExpandPaths(paths []string) ([]Input, error) {
	var out []Input
	err := WalkInputs(paths, func(in Input) error {
		out = append(out, in)
		return nil
	})
	return out, err
}

// WalkInputs calls fn for each input of ExpandPaths in the same order,
// without holding the list: a backfill of a trail's bucket copy is
// hundreds of thousands of files. A path that cannot be read is skipped
// and named in the returned error; an error from fn stops the walk and is
// returned.
func WalkInputs(paths []string, fn func(Input) error) error {
	var errs []error
	for _, p := range paths {
		if p == Stdin {
			if err := fn(Input{Path: Stdin}); err != nil {
				return errors.Join(append([]error{err}, errs...)...)
			}
			continue
		}
		fi, err := os.Stat(p)
		if err != nil {
			errs = append(errs, fmt.Errorf("read input: %w", err))
			continue
		}
		if !fi.IsDir() {
			if err := fn(Input{Path: p, Size: fi.Size(), MTime: fi.ModTime()}); err != nil {
				return errors.Join(append([]error{err}, errs...)...)
			}
			continue
		}
		var stop error
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() || !d.Type().IsRegular() || !DataFile(path) {
				return nil
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			if err := fn(Input{Path: path, Size: info.Size(), MTime: info.ModTime()}); err != nil {
				stop = err
				return filepath.SkipAll
			}
			return nil
		})
		if stop != nil {
			return errors.Join(append([]error{stop}, errs...)...)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("walk %s: %w", p, err))
		}
	}
	return errors.Join(errs...)
}

// chunk is a run of results of one file; the last chunk of a file carries
// its checkpoint and counters.
type chunk struct {
	results []Result
	cp      *store.Checkpoint
	counts  Counts
	repair  *RepairedFile
}

const chunkSize = 512

// Run reads paths (see ExpandPaths) and writes what they hold. A path that
// cannot be read is logged and the others are read; the error then names
// it. Bad records are counted and quarantined, not errors. The error is
// otherwise the writer's or the context's.
func (p *Pipeline) Run(ctx context.Context, paths []string) (Summary, error) {
	sink, err := NewSink(p.opts.Writer, SinkOptions{BatchSize: p.opts.BatchSize, BatchFacts: p.opts.BatchFacts, QuarantineSample: p.opts.QuarantineSample})
	if err != nil {
		return Summary{}, err
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The walk runs ahead of the workers: it stats each file and reads its
	// checkpoint, and with an unbuffered queue the workers waited for it
	// a quarter of the time on small files.
	jobs := make(chan Input, 256)
	chunks := make(chan chunk, 2*p.opts.Workers)
	var wg sync.WaitGroup
	for range p.opts.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for in := range jobs {
				if err := p.decodeFile(ctx, in, chunks); err != nil {
					return // context ended
				}
			}
		}()
	}
	// The walk feeds the workers as it goes. Unchanged files (their
	// checkpoint says they were read whole) are counted by the writer
	// loop below, which owns the sink.
	var (
		pathErr, walkErr error
		walked           = make(chan struct{})
	)
	go func() {
		defer close(walked)
		defer close(jobs)
		pathErr = WalkInputs(paths, func(in Input) error {
			if p.opts.Checkpoints != nil && in.Path != Stdin {
				cp, ok, err := p.opts.Checkpoints.Checkpoint(ctx, in.Source())
				if err != nil {
					if ctx.Err() != nil {
						// The run is ending (a failed write, ^C):
						// not this file's fault.
						return ctx.Err()
					}
					walkErr = fmt.Errorf("read checkpoint of %s: %w", in.Path, err)
					return walkErr
				}
				if ok && cp.Position == in.Position() {
					if p.opts.Progress != nil {
						p.opts.Progress(in.Size)
					}
					return p.send(ctx, chunks, chunk{counts: Counts{FilesUnchanged: 1}})
				}
			}
			select {
			case jobs <- in:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
		if walkErr != nil {
			cancel()
		}
	}()
	go func() {
		<-walked
		wg.Wait()
		close(chunks)
	}()

	var (
		werr     error
		repaired []RepairedFile
	)
	maxRepaired := p.opts.QuarantineSample
	if maxRepaired == 0 {
		maxRepaired = DefaultQuarantineSample
	}
	for ch := range chunks {
		if werr != nil {
			continue // drain so workers can finish
		}
		for i := range ch.results {
			if werr = sink.Add(ctx, &ch.results[i]); werr != nil {
				cancel()
				break
			}
		}
		// Sink.Add copied each Result into its batch.
		p.recycle(ch.results)
		if werr == nil {
			sink.AddCounts(ch.counts)
			if ch.cp != nil {
				sink.Checkpoint(*ch.cp)
			}
			if ch.repair != nil && len(repaired) < maxRepaired {
				repaired = append(repaired, *ch.repair)
			}
		}
	}
	if werr == nil {
		werr = sink.Flush(ctx)
	}
	sum := Summary{Counts: sink.Counts(), Principals: sink.Principals(), Quarantine: sink.QuarantineSample(), Repaired: repaired}
	if walkErr != nil && werr == nil {
		return sum, walkErr
	}
	if werr == nil {
		werr = ctx.Err()
	}
	if pathErr != nil && !errors.Is(pathErr, context.Canceled) && !errors.Is(pathErr, context.DeadlineExceeded) {
		p.log.Warn("some inputs cannot be read", "err", pathErr)
	} else {
		pathErr = nil
	}
	return sum, errors.Join(werr, pathErr)
}

// send hands c to the writer loop unless ctx ends first.
func (p *Pipeline) send(ctx context.Context, out chan<- chunk, c chunk) error {
	select {
	case out <- c:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// decodeFile converts one input into chunks. It returns an error only when
// the context ends.
func (p *Pipeline) decodeFile(ctx context.Context, in Input, out chan<- chunk) error {
	send := func(c chunk) error { return p.send(ctx, out, c) }
	var r io.Reader
	name := in.Path
	if in.Path == Stdin {
		r = p.opts.Stdin
		name = "stdin"
	} else {
		f, err := openInput(in.Path)
		if err != nil {
			q := p.opts.Converter.quarantine(name, ReasonRead, fmt.Sprintf("open %s: %v", name, err), nil)
			return send(chunk{results: []Result{{Kind: KindQuarantined, Quarantined: q}}, counts: Counts{Files: 1}})
		}
		defer f.Close()
		r = f
	}
	if p.opts.Progress != nil {
		r = &progressReader{r: r, fn: p.opts.Progress}
	}
	cur := p.newChunk()
	counts, err := p.opts.Converter.Decode(ctx, name, r, func(res Result) error {
		cur = append(cur, res)
		if len(cur) == chunkSize {
			if err := send(chunk{results: cur}); err != nil {
				return err
			}
			cur = p.newChunk()
		}
		return nil
	})
	if err != nil {
		return err
	}
	last := chunk{results: cur, counts: Counts{Files: 1, Digests: counts.Digests, RepairedFiles: counts.RepairedFiles, Repairs: counts.Repairs}}
	if counts.RepairedFiles > 0 {
		last.repair = &RepairedFile{Path: name, Repairs: counts.Repairs}
	}
	if in.Path != Stdin {
		last.cp = &store.Checkpoint{Source: in.Source(), Position: in.Position(), Updated: p.opts.Now()}
	}
	return send(last)
}

type progressReader struct {
	r  io.Reader
	fn func(int64)
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 {
		p.fn(int64(n))
	}
	return n, err
}
