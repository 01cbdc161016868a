// Package store is iamd's usage index: an embedded Badger database that
// aggregates CloudTrail events into per principal × action × resource
// facts, per principal × action totals and per-day counts, per-access-key
// usage, role session names, console sign-ins and the other accounts a
// principal called into (cross-account calls), and keeps ingest
// checkpoints, quarantined records, IAM model snapshots and small State
// records of other components (the rotator's). Ingest writes
// Batches through Write; the analyzer and the rotator read through the
// query methods. It imports nothing of ours.
//
// # Queries
//
// The key layout (keys.go) makes every query a prefix scan or a point
// read: one principal's facts never read another's, a key's usage is one
// read, so "has AKIA… been used since T?" is KeyUsage(id).LastSeen.After(T)
// without touching events. Results are in key order unless a method says
// otherwise.
//
// # Writes
//
// A Batch is one durable unit: the facts of its new events, their dedup
// entries, its quarantined records and its checkpoints are committed in
// one Badger transaction, so a crash never leaves a checkpoint ahead of
// the facts it covers. Events whose ID is already in the dedup set (kept
// for Options.DedupTTL, by hour of event time: dedup.go) are skipped, so
// redelivered records count once.
// Writers are serialized internally; concurrent sources may share a DB.
// When a batch is too big for one transaction, see Write for how it is
// split without losing that promise.
//
// # Upgrades
//
// A store records its schema version (SchemaVersion). Open migrates a
// store of an older version in place, resumably (migrate.go, which says
// how to add a step), and refuses a newer one. Inspect describes a store
// without changing it; Backup and Restore copy it whole, in Badger's
// backup format, so that an upgrade can be undone.
//
// # Memory
//
// Badger is configured for a bounded footprint rather than raw speed
// (measured on 1 M keys: peak RSS ~150 MB instead of ~290 MB with
// Badger's defaults). The defaults, each overridable in Options:
//
//	MemTableSize            8 MiB  (Badger: 64 MiB) one memtable
//	NumMemtables            2      (Badger: 5)      memtables held in memory
//	NumLevelZeroTables      2      (Badger: 5)      L0 tables before compaction starts
//	NumLevelZeroTablesStall 4      (Badger: 15)     L0 tables before writes stall
//	BlockCacheSize          8 MiB  (Badger: 256 MiB)
//	IndexCacheSize          4 MiB  (Badger: 0, i.e. indexes all in memory)
//	BaseTableSize           512 KiB (Badger: 2 MiB)
//	ValueLogFileSize        64 MiB (Badger: 1 GiB)
//	ValueThreshold          4 KiB  (Badger: 1 MiB)  larger values go to the value log
//	NumCompactors           2      (Badger: 4)
//	TableSizeMultiplier     1      (Badger: 2)      SSTables stay BaseTableSize at every level
//	AggregateCache          65,536 entries (~22 MiB at most) of stored aggregates
//	                        Write need not read back (aggcache.go)
//	DedupCache              524,288 event-ID hashes (~10 MiB at most) of recent
//	                        hours of the dedup set (dedup.go)
//	ReleaseFilePages        500 ms how often the pages of the memory-mapped
//	                        tables and value log go back to the kernel
//	                        (filepages.go), so RSS does not grow with the store
//
// With an 8 MiB memtable one Badger transaction holds at most ~1.2 MiB
// of entries (15 % of MemTableSize), which is what bounds a Batch's
// single-transaction size.
//
// Small tables because each compaction runs several table builders at
// once, each buffering about twice a table, and reads its inputs through
// the mappings: on a 10 M-record backfill 512 KiB tables used less heap
// and ~10 % less CPU than 2 MiB ones (docs/performance.md). The price is
// one open file and mapping per 512 KiB of store (~2,000 for 1 GB; Go
// raises the open-file limit to the hard limit at start).
package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"github.com/dgraph-io/ristretto/v2/z"
	"github.com/klauspost/compress/zstd"
)

// SchemaVersion is the layout of keys and values (keys.go, codec.go)
// that this build writes. Open migrates a store of an older version to
// it (migrate.go says how, and how to add a step) and refuses a newer
// one. Bump it on any change that a build reading the old layout would
// get wrong. A record kind under a new key prefix is not one: stores
// without it read as having none, and builds that predate it never look
// at its keys. Cross-account recipients (x) came that way within
// version 2.
//
//	1  first release
//	2  dedup set by hour of event time (dedup.go); version 1's per-event
//	   entries become legacy dedup entries (legacydedup.go)
//	3  Seen entries keep their first sighting (FirstSeen); per principal
//	   × action aggregates (ActionUsage) and console sign-ins
//	   (ConsoleSignIns) that Write keeps up to date, built from the facts
//	   and per-day counts by the migration (migrations.go)
const SchemaVersion = 3

// Defaults for Options fields left zero.
const (
	DefaultDedupTTL                = 45 * 24 * time.Hour
	DefaultMemTableSize            = 8 << 20
	DefaultNumMemtables            = 2
	DefaultNumLevelZeroTables      = 2
	DefaultNumLevelZeroTablesStall = 4
	DefaultBlockCacheSize          = 8 << 20
	DefaultIndexCacheSize          = 4 << 20
	DefaultBaseTableSize           = 512 << 10
	DefaultValueLogFileSize        = 64 << 20
	DefaultValueThreshold          = 4 << 10
	DefaultNumCompactors           = 2
	DefaultTableSizeMultiplier     = 1
	DefaultAggregateCache          = 1 << 16
	DefaultDedupCache              = 1 << 19
	DefaultReleaseFilePages        = 500 * time.Millisecond
)

// Caps on what one stored record keeps.
const (
	// MaxRawSize caps Quarantined.Raw and retained Event.Raw; longer
	// records are truncated.
	MaxRawSize = 64 << 10
	// MaxKeySeen is how many source IPs and user agents a KeyUsage keeps.
	MaxKeySeen = 5
	// MaxSessionSeen is how many session names and source identities a
	// PrincipalSessions keeps.
	MaxSessionSeen = 20
	// MaxRecipientAccounts is how many accounts a CrossAccount keeps.
	MaxRecipientAccounts = 50
	// MaxSignInSeen is how many source IPs a ConsoleSignIns keeps.
	MaxSignInSeen = 10
	// MaxTopResources is how many resources each top list of an
	// ActionUsage keeps: a report lists the top few resources of an
	// action (its default, 5) from them without reading the facts.
	MaxTopResources = 5
	// maxComponent caps principal, action, resource, access key ID and
	// the like: generous for ARNs (S3 object ARNs reach ~1.1 KB) and far
	// below Badger's 65,000-byte key limit with three components.
	maxComponent = 8 << 10
)

// Sentinel errors; callers branch with errors.Is.
var (
	// ErrSchemaMismatch is wrapped by *SchemaError.
	ErrSchemaMismatch = errors.New("store schema version mismatch")
	// ErrInvalid is wrapped by *ValidationError.
	ErrInvalid = errors.New("invalid input")
	// ErrNotFound is returned by lookups that have no "found" result.
	ErrNotFound = errors.New("not found")
	// ErrClosed is returned by every method after Close.
	ErrClosed = errors.New("store closed")
	// ErrTooLarge is returned for a snapshot bigger than the value log
	// allows, or a batch whose parts cannot fit any transaction.
	ErrTooLarge = errors.New("too large")
	// ErrConflict is returned by PutState when the record changed since
	// the caller read it.
	ErrConflict = errors.New("state changed concurrently")
	// ErrNoStore is returned by Open with Options.MustExist when Dir
	// holds no database, and by Inspect and Backup.
	ErrNoStore = errors.New("no such store")
	// ErrLocked is returned by Open (and Inspect, Backup, Restore) when
	// another process has the store open: Badger allows one process per
	// directory. Badger's own error (which names its lock) follows it in
	// the message.
	ErrLocked = errors.New("store is in use by another process")
	// ErrNotStore is returned by Open when Dir holds files but no
	// database: a user's own folder given as the store, which Open
	// would otherwise fill with database files.
	ErrNotStore = errors.New("directory holds other files and no store")
	// ErrNotEmpty is returned by Restore for a target directory that
	// already holds something.
	ErrNotEmpty = errors.New("target not empty")
)

// SchemaError says the database on disk has a schema version this build
// cannot migrate: a newer one (Have > Want), or none at all (Have 0: data
// that no iamd build wrote, or a store from before versions were kept).
type SchemaError struct {
	Dir        string
	Have, Want int
	// Build is the iamd build that created the store or last migrated
	// it, when recorded: one that reads version Have.
	Build string
}

func (e *SchemaError) Error() string {
	switch {
	case e.Have > e.Want:
		msg := fmt.Sprintf("store %s: schema version %d is newer than this build reads (%d, and the versions before it)", e.Dir, e.Have, e.Want)
		if e.Build != "" {
			return msg + "; " + e.Build + " wrote it: use that build or a later one"
		}
		return msg + "; use a later iamd build"
	case e.Have == 0:
		return fmt.Sprintf("store %s: schema version 0 (data without a version record: not an iamd store), this build reads %d", e.Dir, e.Want)
	}
	return fmt.Sprintf("store %s: schema version %d, this build reads %d", e.Dir, e.Have, e.Want)
}

// Unwrap makes errors.Is(err, ErrSchemaMismatch) hold.
func (e *SchemaError) Unwrap() error { return ErrSchemaMismatch }

// ValidationError names the input field that was rejected, e.g.
// "Events[3].Principal".
type ValidationError struct {
	Field  string
	Reason string
}

func (e *ValidationError) Error() string { return e.Field + ": " + e.Reason }

// Unwrap makes errors.Is(err, ErrInvalid) hold.
func (e *ValidationError) Unwrap() error { return ErrInvalid }

// Options configures Open. Zero values take the documented defaults.
type Options struct {
	// Dir is the database directory, created if missing. Required unless
	// InMemory.
	Dir string
	// MustExist makes Open fail with ErrNoStore, creating nothing, when
	// Dir holds no database: a reader given a mistyped directory would
	// otherwise create an empty store and report that it is empty.
	// Default false.
	MustExist bool
	// InMemory keeps everything in memory (tests). Dir is ignored, and
	// values (quarantined records, compressed snapshots) are limited to
	// 1 MiB since there is no value log.
	InMemory bool
	// Logger receives Badger's warnings and errors. Default: discard.
	Logger *slog.Logger
	// Now is the clock. Default: time.Now. It decides dedup and raw
	// expiry (see Write) and default Quarantined.Time / Checkpoint.Updated.
	Now func() time.Time
	// DedupTTL is how long an event ID stays in the dedup set. Default
	// 45 days: longer than any redelivery or file overlap we expect.
	DedupTTL time.Duration
	// RawRetention keeps Event.Raw for this long. Default 0: off, raw
	// records are not kept.
	RawRetention time.Duration
	// OnMigration, if set, is called as Open migrates a store written by
	// an older schema version: when each step starts, after each of its
	// transactions and when it ends (Finished). The store prints
	// nothing; a command shows this as a progress line. It is also
	// logged at Info level.
	OnMigration func(MigrationProgress)
	// SyncWrites fsyncs every commit. Default false: a process crash
	// loses nothing committed; a power loss may lose the last commits,
	// facts and checkpoints together, and ingest then re-reads them.
	SyncWrites bool

	// Badger sizing; see the package doc for why these defaults.
	MemTableSize            int64 // default 8 MiB
	NumMemtables            int   // default 2
	NumLevelZeroTables      int   // default 2
	NumLevelZeroTablesStall int   // default 4
	BlockCacheSize          int64 // default 8 MiB
	IndexCacheSize          int64 // default 4 MiB
	BaseTableSize           int64 // default 512 KiB
	ValueLogFileSize        int64 // default 64 MiB
	ValueThreshold          int64 // default 4 KiB
	NumCompactors           int   // default 2 (Badger's minimum)
	TableSizeMultiplier     int   // default 1: every SSTable BaseTableSize
	// DisableCompression turns off Badger's Snappy block compression:
	// ~35 MiB less Go heap in compaction, but ~35 % more disk and larger
	// memory-mapped tables, so peak RSS was not lower on 2 M events
	// (docs/performance.md). Default false (compressed).
	DisableCompression bool
	// AggregateCache is how many stored fact, day-count, principal and
	// access-key entries Write keeps in memory so that it need not read
	// them back from Badger (~350 bytes each with typical ARNs, more for
	// access keys; the default 65,536 is ~22 MiB at most). It counts
	// against the daemon's memory budget. Default DefaultAggregateCache;
	// negative disables the cache.
	AggregateCache int
	// DedupCache is how many event-ID hashes (of recent hours, see
	// dedup.go) Write keeps in memory so that checking an event for a
	// duplicate reads nothing from Badger; ~20 bytes each, the default
	// 524,288 is ~10 MiB at most. The hours a Write touches stay loaded
	// whatever their size. Negative keeps only those.
	DedupCache int
	// ReleaseFilePages is how often the pages of Badger's memory-mapped
	// tables and value log are handed back to the kernel (Linux; see
	// filepages.go), which keeps the resident set from growing with the
	// store. The pages leave the page cache too, so what is read next
	// comes from disk: a query-heavy process over a large store may want
	// a longer interval. Default 500 ms; negative never.
	ReleaseFilePages time.Duration

	// migrateChunk caps the records one migration transaction rewrites
	// (default migrateChunk); tests lower it.
	migrateChunk int
}

func (o *Options) setDefaults() {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	setDefault(&o.DedupTTL, DefaultDedupTTL)
	setDefault(&o.MemTableSize, DefaultMemTableSize)
	setDefault(&o.NumMemtables, DefaultNumMemtables)
	setDefault(&o.NumLevelZeroTables, DefaultNumLevelZeroTables)
	setDefault(&o.NumLevelZeroTablesStall, DefaultNumLevelZeroTablesStall)
	setDefault(&o.BlockCacheSize, DefaultBlockCacheSize)
	setDefault(&o.IndexCacheSize, DefaultIndexCacheSize)
	setDefault(&o.BaseTableSize, DefaultBaseTableSize)
	setDefault(&o.ValueLogFileSize, DefaultValueLogFileSize)
	setDefault(&o.ValueThreshold, DefaultValueThreshold)
	setDefault(&o.NumCompactors, DefaultNumCompactors)
	setDefault(&o.TableSizeMultiplier, DefaultTableSizeMultiplier)
	setDefault(&o.AggregateCache, DefaultAggregateCache)
	setDefault(&o.DedupCache, DefaultDedupCache)
	setDefault(&o.ReleaseFilePages, DefaultReleaseFilePages)
	setDefault(&o.migrateChunk, defaultMigrateChunk)
}

func setDefault[T int | int64 | time.Duration](p *T, def T) {
	if *p == 0 {
		*p = def
	}
}

// validate returns every problem at once.
func (o *Options) validate() error {
	var errs []error
	bad := func(field, reason string) { errs = append(errs, &ValidationError{Field: field, Reason: reason}) }
	if !o.InMemory && strings.TrimSpace(o.Dir) == "" {
		bad("Dir", "required unless InMemory")
	}
	if o.DedupTTL < time.Hour {
		bad("DedupTTL", fmt.Sprintf("%v is below the 1h minimum", o.DedupTTL))
	}
	if o.RawRetention < 0 {
		bad("RawRetention", "negative")
	}
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"MemTableSize", o.MemTableSize}, {"NumMemtables", int64(o.NumMemtables)},
		{"NumLevelZeroTables", int64(o.NumLevelZeroTables)}, {"BlockCacheSize", o.BlockCacheSize},
		{"IndexCacheSize", o.IndexCacheSize}, {"BaseTableSize", o.BaseTableSize}, {"ValueThreshold", o.ValueThreshold},
		{"TableSizeMultiplier", int64(o.TableSizeMultiplier)},
	} {
		if f.v < 0 {
			bad(f.name, "negative")
		}
	}
	if o.NumLevelZeroTablesStall <= o.NumLevelZeroTables {
		bad("NumLevelZeroTablesStall", fmt.Sprintf("%d must exceed NumLevelZeroTables %d", o.NumLevelZeroTablesStall, o.NumLevelZeroTables))
	}
	if o.NumCompactors < 2 {
		bad("NumCompactors", fmt.Sprintf("%d is below Badger's minimum of 2", o.NumCompactors))
	}
	if o.ValueLogFileSize < 1<<20 || o.ValueLogFileSize >= 2<<30 {
		bad("ValueLogFileSize", fmt.Sprintf("%d outside [1 MiB, 2 GiB)", o.ValueLogFileSize))
	}
	if maxBatch := o.MemTableSize * 15 / 100; o.ValueThreshold > maxBatch || o.ValueThreshold > 1<<20 {
		bad("ValueThreshold", fmt.Sprintf("%d exceeds min(1 MiB, 15%% of MemTableSize = %d)", o.ValueThreshold, maxBatch))
	}
	return errors.Join(errs...)
}

// DB is an open usage index. Its methods are safe for concurrent use.
type DB struct {
	bdb  *badger.DB
	opts Options
	dir  string

	// writeMu serializes Write (read-modify-write of aggregates) and the
	// quarantine sequence.
	writeMu sync.Mutex
	// closeMu guards closed: methods hold it shared, Close exclusively,
	// so Close waits for calls in flight and nothing touches a closed
	// Badger.
	closeMu sync.RWMutex
	closed  bool

	// aggs caches stored aggregates for Write, dedup the dedup set's
	// recent hours; both guarded by writeMu.
	aggs  *aggCache
	dedup *dedupCache
	// txnBuf is reused by each Write's transactions (guarded by writeMu).
	txnBuf *txnBuf
	// valSizes are the value sizes Write sizes its transactions with
	// (txnSize; guarded by writeMu).
	valSizes valueSizes
	// agg is reused by each Write's transactions (newBatchAgg; guarded
	// by writeMu).
	agg *batchAgg
	// legacy bounds the legacy dedup entries (legacydedup.go); zero when
	// there are none. Set by Open, read-only after.
	legacy legacyBounds

	zenc *zstd.Encoder
	zdec *zstd.Decoder

	// mapDir is Dir as /proc/self/maps names it; stopRelease ends the
	// file-page release loop, released says it has ended.
	mapDir      string
	stopRelease chan struct{}
	released    chan struct{}
}

// Open opens (creating if needed) the database in opts.Dir, or an
// in-memory one. A database written by an older schema version is
// migrated first, in place (migrate.go; progress through
// Options.OnMigration); one of a newer version gives a *SchemaError.
func Open(opts Options) (*DB, error) { return open(context.Background(), opts) }

// Migrate brings the existing store in opts.Dir to SchemaVersion as Open
// would, then closes it. Unlike Open it stops between two transactions
// once ctx is done (the next Open or Migrate resumes there).
func Migrate(ctx context.Context, opts Options) error {
	opts.MustExist = true
	db, err := open(ctx, opts)
	if err != nil {
		return err
	}
	return db.Close()
}

func open(ctx context.Context, opts Options) (*DB, error) {
	opts.setDefaults()
	if err := opts.validate(); err != nil {
		return nil, fmt.Errorf("store options: %w", err)
	}
	if !opts.InMemory {
		if err := recoverRestore(opts.Dir); err != nil {
			return nil, err
		}
		if err := checkDir(opts.Dir, opts.MustExist); err != nil {
			return nil, fmt.Errorf("open store %s: %w", opts.Dir, err)
		}
	}
	bdb, err := openBadger(opts, false)
	if err != nil {
		return nil, err
	}
	db := &DB{bdb: bdb, opts: opts, dir: opts.Dir, aggs: newAggCache(opts.AggregateCache), dedup: newDedupCache(opts.DedupCache),
		valSizes: firstValueSizes}
	if opts.InMemory {
		db.dir = "(in memory)"
	}
	if err := db.prepareSchema(ctx); err != nil {
		return nil, errors.Join(err, bdb.Close())
	}
	// Snapshots are large JSON documents that compress ~10×; one encoder
	// and decoder, low-memory, shared (EncodeAll/DecodeAll are safe for
	// concurrent use).
	db.zenc, err = zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithLowerEncoderMem(true))
	if err != nil {
		return nil, errors.Join(fmt.Errorf("open store: zstd encoder: %w", err), bdb.Close())
	}
	db.zdec, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true))
	if err != nil {
		return nil, errors.Join(fmt.Errorf("open store: zstd decoder: %w", err), db.zenc.Close(), bdb.Close())
	}
	if !opts.InMemory && opts.ReleaseFilePages > 0 {
		db.mapDir = resolvedDir(opts.Dir)
		db.stopRelease, db.released = make(chan struct{}), make(chan struct{})
		go func() {
			defer close(db.released)
			db.releaseFilePagesLoop(opts.ReleaseFilePages, db.stopRelease)
		}()
	}
	return db, nil
}

// openBadger opens Badger with opts' sizing; readOnly shares the
// directory with other readers but not with a writer, and changes
// nothing on disk.
func openBadger(opts Options, readOnly bool) (*badger.DB, error) {
	bo := badger.DefaultOptions(opts.Dir).
		WithInMemory(opts.InMemory).
		WithReadOnly(readOnly).
		WithLogger(badgerLogger{opts.Logger.With("component", "store.badger")}).
		WithSyncWrites(opts.SyncWrites).
		WithMemTableSize(opts.MemTableSize).
		WithNumMemtables(opts.NumMemtables).
		WithNumLevelZeroTables(opts.NumLevelZeroTables).
		WithNumLevelZeroTablesStall(opts.NumLevelZeroTablesStall).
		WithBlockCacheSize(opts.BlockCacheSize).
		WithIndexCacheSize(opts.IndexCacheSize).
		WithBaseTableSize(opts.BaseTableSize).
		WithValueLogFileSize(opts.ValueLogFileSize).
		WithValueThreshold(opts.ValueThreshold).
		WithNumCompactors(opts.NumCompactors).
		WithMetricsEnabled(false).
		// Writers are serialized by writeMu, so conflict detection would
		// only cost memory.
		WithDetectConflicts(false)
	// Compaction runs up to 8+ table builders at once, each buffering
	// about twice its table size: with Badger's doubling table size per
	// level that alone reached ~400 MiB of heap on a few million events.
	bo.TableSizeMultiplier = opts.TableSizeMultiplier
	if opts.DisableCompression {
		bo = bo.WithCompression(options.None)
	}
	if opts.InMemory {
		// Without a value log every value must fit the threshold.
		bo = bo.WithDir("").WithValueDir("").WithValueThreshold(min(1<<20, opts.MemTableSize*15/100))
	}
	bdb, err := badger.Open(bo)
	if err != nil && isEmptyMemtableFile(err) {
		// A process killed between creating a memtable file and sizing it
		// leaves an empty file that the next Open refuses once ("Create a
		// new file", dgraph-io/badger#2207) and the one after accepts. A
		// daemon restarted after a crash must not need a second restart.
		opts.Logger.Warn("store open found an empty memtable file left by a crash; retrying", "dir", opts.Dir, "err", err)
		bdb, err = badger.Open(bo)
	}
	if err != nil && isLocked(err) {
		return nil, fmt.Errorf("open store %s: %w: %w", opts.Dir, ErrLocked, err)
	}
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", opts.Dir, err)
	}
	return bdb, nil
}

// Close flushes and closes the database. It waits for calls in flight;
// later calls return ErrClosed. Closing twice returns ErrClosed.
func (db *DB) Close() error {
	db.closeMu.Lock()
	defer db.closeMu.Unlock()
	if db.closed {
		return ErrClosed
	}
	db.closed = true
	if db.stopRelease != nil {
		close(db.stopRelease)
		<-db.released
	}
	db.zenc.Close()
	db.zdec.Close()
	if err := db.bdb.Close(); err != nil {
		return fmt.Errorf("close store %s: %w", db.dir, err)
	}
	return nil
}

// enter takes the shared close lock; callers defer the returned release.
func (db *DB) enter() (func(), error) {
	db.closeMu.RLock()
	if db.closed {
		db.closeMu.RUnlock()
		return nil, ErrClosed
	}
	return db.closeMu.RUnlock, nil
}

// CollectGarbage reclaims value-log space left by rewritten and expired
// values (Badger does not do it by itself). Call it periodically, e.g.
// hourly; it returns nil when there was nothing to reclaim.
func (db *DB) CollectGarbage(ctx context.Context) error {
	release, err := db.enter()
	if err != nil {
		return err
	}
	defer release()
	if db.opts.InMemory {
		return nil
	}
	for ctx.Err() == nil {
		err := db.bdb.RunValueLogGC(0.5)
		if errors.Is(err, badger.ErrNoRewrite) || errors.Is(err, badger.ErrRejected) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("store value log gc: %w", err)
		}
	}
	return ctx.Err()
}

// badgerLogger routes Badger's log to slog at warning level and above:
// its info and debug lines (compaction progress) are noise for operators.
type badgerLogger struct{ l *slog.Logger }

func (b badgerLogger) Errorf(f string, a ...any) {
	b.l.Error(strings.TrimSpace(fmt.Sprintf(f, a...)))
}

func (b badgerLogger) Warningf(f string, a ...any) {
	b.l.Warn(strings.TrimSpace(fmt.Sprintf(f, a...)))
}
func (badgerLogger) Infof(string, ...any)  {}
func (badgerLogger) Debugf(string, ...any) {}

// checkDir decides whether Open may use dir. Badger writes its MANIFEST
// first when it creates a database, so a directory without one holds no
// store (it may not even exist): with mustExist that is ErrNoStore.
// Otherwise a missing or empty directory is fine, and so is one holding
// only files Badger creates before its MANIFEST (a crash during the
// first Open); anything else is someone's folder (ErrNotStore).
func checkDir(dir string, mustExist bool) error {
	_, err := os.Stat(filepath.Join(dir, badger.ManifestFilename))
	switch {
	case err == nil:
		return nil
	case errors.Is(err, fs.ErrNotExist) && mustExist:
		return ErrNoStore
	case !errors.Is(err, fs.ErrNotExist):
		return err
	}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var foreign []string
	for _, e := range entries {
		if !badgerFile(e.Name()) {
			foreign = append(foreign, e.Name())
		}
	}
	if len(foreign) == 0 {
		return nil
	}
	more := ""
	if len(foreign) > 3 {
		more = fmt.Sprintf(" and %d more", len(foreign)-3)
		foreign = foreign[:3]
	}
	return fmt.Errorf("%w (%s%s)", ErrNotStore, strings.Join(foreign, ", "), more)
}

// badgerFile reports whether name is a file Badger keeps in its
// directory.
func badgerFile(name string) bool {
	switch name {
	case "LOCK", "KEYREGISTRY", "DISCARD", badger.ManifestFilename:
		return true
	}
	for _, ext := range [...]string{".vlog", ".sst", ".mem"} {
		if strings.HasSuffix(name, ext) {
			return true
		}
	}
	return false
}

// isLocked recognises Badger's refusal of a directory another process
// holds. Badger formats the flock error into text (y.Wrapf), so the text
// is all there is to match.
func isLocked(err error) bool {
	return strings.Contains(err.Error(), "Cannot acquire directory lock")
}

// isEmptyMemtableFile recognises Badger's refusal of a memtable file that
// a crash left empty. Badger wraps the error without always keeping the
// chain, so the text is the fallback.
func isEmptyMemtableFile(err error) bool {
	return errors.Is(err, z.NewFile) || strings.Contains(err.Error(), z.NewFile.Error())
}
