package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// Write commits a Batch: facts, day counts, key usage, sessions,
// cross-account recipients and dedup entries for its new events, then its quarantined records, then its
// checkpoints. Events whose ID is in the dedup set, or repeats an earlier
// event of the same batch, are skipped and counted as Duplicates.
//
// Invalid input (an Event without ID, Principal or Time, a Use without
// Action or Resource, a checkpoint without Source, …) is rejected before
// anything is written, with a *ValidationError naming the field.
//
// Atomicity. A batch whose entries fit one Badger transaction by Write's
// estimate (txnSize: ~1.2 MiB of keys and values with the default
// MemTableSize, of which the estimate fills 95 %; a 1,000-event batch
// takes ~0.3 MiB) is committed as exactly one transaction: all or
// nothing. A bigger batch is split rather than refused, because ingest
// cannot know the encoded size in advance. The split keeps the promise
// that a checkpoint is never durable before the facts it covers:
//
//  1. events go in chunks, each as many as fit by the estimate (halved
//     should one still not fit); each chunk's transaction holds the
//     facts of its events together with their dedup segments, so a
//     crash after it and a redelivery of the whole batch counts those
//     events once — every chunk is idempotent;
//  2. quarantined records follow; they are keyed by Where, so writing one
//     again replaces it instead of adding a copy — idempotent too;
//  3. checkpoints come last, after everything they cover is committed.
//
// A failed split write (context cancelled, disk error) may therefore
// leave some events of the batch counted without its checkpoint; the
// caller retries or redelivers and dedup absorbs the overlap. The
// WriteResult of a split write sums its transactions (a fact touched in
// two chunks counts twice in Facts) and, on error, counts what was
// committed. The chunks are sized by the store, not by its callers: a
// batch's size in Badger depends on ARN lengths, on stored values and on
// how many keys are new, which a caller cannot see.
//
// Dedup expiry is decided by Options.Now: each dedup segment (one per
// hour of event time a transaction touches, dedup.go) stores its expiry
// by that clock, and a segment past it no longer counts. Badger's own
// TTL on the segment (wall clock, the same duration) is there to reclaim
// space; with a clock that runs behind the wall clock (a frozen test
// clock, a replay) a segment read back from Badger after its wall-clock
// TTL is gone even though Options.Now says it has not expired.
//
// Write never retries; it is safe for concurrent use (writers are
// serialized). The context is checked before each commit.
func (db *DB) Write(ctx context.Context, b *Batch) (WriteResult, error) {
	if b == nil {
		return WriteResult{}, fmt.Errorf("store write: %w", &ValidationError{Field: "Batch", Reason: "nil"})
	}
	if err := validateBatch(b); err != nil {
		return WriteResult{}, fmt.Errorf("store write: %w", err)
	}
	release, err := db.enter()
	if err != nil {
		return WriteResult{}, err
	}
	defer release()
	db.writeMu.Lock()
	defer db.writeMu.Unlock()
	if err := ctx.Err(); err != nil {
		return WriteResult{}, fmt.Errorf("store write: %w", err)
	}

	now := db.opts.Now()
	res, n, err := db.writeOne(ctx, b, now)
	switch {
	case errors.Is(err, badger.ErrTxnTooBig):
		// The estimate fell short: start again with half the events it
		// let into the transaction.
		res, err = db.writeSplit(ctx, b, now, 0, max(n/2, 1))
	case err == nil && n < len(b.Events):
		var rest WriteResult
		rest, err = db.writeSplit(ctx, b, now, n, len(b.Events)-n)
		res.add(rest)
	}
	if err != nil {
		return res, fmt.Errorf("store write: %w", err)
	}
	return res, nil
}

// add sums o into r.
func (r *WriteResult) add(o WriteResult) {
	r.Events += o.Events
	r.Duplicates += o.Duplicates
	r.Facts += o.Facts
	r.NewFacts += o.NewFacts
}

// txnBudget is what one transaction's entries are sized for (txnSize).
func (db *DB) txnBudget() txnSize {
	return txnSize{
		count: int64(float64(db.bdb.MaxBatchCount()) * txnBudgetShare),
		bytes: int64(float64(db.bdb.MaxBatchSize()) * txnBudgetShare),
	}
}

// reserve estimates the quarantined records and checkpoints of a batch,
// which share the first transaction with its events.
func reserve(b *Batch) txnSize {
	var s txnSize
	for i := range b.Quarantined {
		q := &b.Quarantined[i]
		// The record (its Where index and the record itself) and its
		// reason's count.
		s.add(1+len(q.Where), 10)
		s.add(9, 64+len(q.Where)+len(q.Reason)+len(q.Detail)+min(len(q.Raw), MaxRawSize))
		s.add(1+len(q.Reason), 10)
	}
	for i := range b.Checkpoints {
		c := &b.Checkpoints[i]
		s.add(1+len(c.Source), 32+len(c.Position))
	}
	if len(b.Quarantined) > 0 {
		s.add(8, 10) // the quarantine sequence
	}
	return s
}

// writeOne commits the whole batch in one transaction if its events
// fit one by their estimated size (txnSize). Otherwise it commits the
// events that fit, alone, and returns how many (n); Write has writeSplit
// write the rest. On ErrTxnTooBig nothing is committed and n is how many
// events the transaction held.
func (db *DB) writeOne(ctx context.Context, b *Batch, now time.Time) (WriteResult, int, error) {
	txn := db.bdb.NewTransaction(true)
	defer txn.Discard()
	budget := db.txnBudget()
	r := reserve(b)
	budget.count, budget.bytes = budget.count-r.count, budget.bytes-r.bytes
	res, n, done, err := db.applyEvents(txn, b.Events, now, budget)
	if err == nil && n == len(b.Events) {
		err = db.applyQuarantine(txn, b.Quarantined, now)
		if err == nil {
			err = applyCheckpoints(txn, b.Checkpoints, now)
		}
	}
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		db.abandon(done)
		return WriteResult{}, n, err
	}
	if err := txn.Commit(); err != nil {
		db.resetCaches()
		return WriteResult{}, 0, fmt.Errorf("commit: %w", err)
	}
	db.committed(done)
	return res, n, nil
}

// writeSplit commits the events from from on, then the quarantined
// records and checkpoints of a batch too big for one transaction, in
// several, the events in chunks of at most size; see Write for why each
// step is safe on its own.
func (db *DB) writeSplit(ctx context.Context, b *Batch, now time.Time, from, size int) (WriteResult, error) {
	var (
		res, pending WriteResult
		done         applied
	)
	budget := db.txnBudget()
	err := db.chunked(ctx, "events", from, len(b.Events), size, func(txn *badger.Txn, lo, hi int) (n int, err error) {
		pending, n, done, err = db.applyEvents(txn, b.Events[lo:hi], now, budget)
		return n, err
	}, func() {
		res.add(pending)
		db.committed(done)
	}, func() { db.abandon(done) })
	if err != nil {
		return res, err
	}
	err = db.chunked(ctx, "quarantined records", 0, len(b.Quarantined), len(b.Quarantined), func(txn *badger.Txn, lo, hi int) (int, error) {
		return hi - lo, db.applyQuarantine(txn, b.Quarantined[lo:hi], now)
	}, nil, nil)
	if err != nil {
		return res, err
	}
	err = db.chunked(ctx, "checkpoints", 0, len(b.Checkpoints), len(b.Checkpoints), func(txn *badger.Txn, lo, hi int) (int, error) {
		return hi - lo, applyCheckpoints(txn, b.Checkpoints[lo:hi], now)
	}, nil, nil)
	return res, err
}

// chunked applies items [from,n) in as few transactions as fit, offering
// each at most size items: apply applies the first of [lo,hi) that fit
// its budget and says how many (at least one), or on ErrTxnTooBig how
// many it held, and the next offer is half that. Each chunk that fits is
// committed, then committed (if set) is called; abandoned (if set) is
// called after an apply whose transaction is not committed.
func (db *DB) chunked(ctx context.Context, what string, from, n, size int, apply func(txn *badger.Txn, lo, hi int) (int, error), committed, abandoned func()) error {
	size = max(size, 1)
	for lo := from; lo < n; {
		hi := min(lo+size, n)
		txn := db.bdb.NewTransaction(true)
		applied, err := apply(txn, lo, hi)
		if err == nil {
			err = ctx.Err()
		}
		if err != nil && abandoned != nil {
			abandoned()
		}
		if errors.Is(err, badger.ErrTxnTooBig) {
			txn.Discard()
			held := min(max(applied, 1), hi-lo)
			if held == 1 {
				return fmt.Errorf("%s [%d]: %w for one transaction", what, lo, ErrTooLarge)
			}
			size = held / 2
			continue
		}
		if err == nil {
			if err = txn.Commit(); err != nil {
				// Badger's state after a failed commit is not known.
				db.resetCaches()
			}
		}
		txn.Discard()
		if err != nil {
			return fmt.Errorf("%s [%d:%d]: %w", what, lo, hi, err)
		}
		if committed != nil {
			committed()
		}
		lo += applied
	}
	return nil
}

// keyAgg is one access key's usage within a batch.
type keyAgg struct {
	id          string
	owner       string
	ownerTime   time.Time
	first, last time.Time
	calls       uint64
	ips, uas    seenSet
}

type sessAgg struct {
	names, idents seenSet
}

// crossAgg is one principal's cross-account calls within a batch.
type crossAgg struct {
	account     string // the caller's own account at accountTime
	accountTime time.Time
	recipients  map[string]*AccountSeen
}

// add counts one call at t from account into recipient.
func (c *crossAgg) add(account, recipient string, t time.Time) {
	if c.account == "" || !t.Before(c.accountTime) {
		c.account, c.accountTime = account, t
	}
	r := c.recipients[recipient]
	if r == nil {
		c.recipients[recipient] = &AccountSeen{AccountID: recipient, FirstSeen: t, LastSeen: t, Calls: 1}
		return
	}
	r.Calls++
	if t.Before(r.FirstSeen) {
		r.FirstSeen = t
	}
	if t.After(r.LastSeen) {
		r.LastSeen = t
	}
}

// seenSet is a batch's values of one Seen list (a key's source IPs, a
// role's session names, …), each with when and how often it was seen.
// Most hold one or two values, so a slice searched in order costs less
// than a map and a Seen allocated per value (a third of the allocations
// of aggregating a trail with many session keys); a map indexes the
// slice once it grows past seenSetIndexAt.
type seenSet struct {
	list []Seen
	idx  map[string]int32
}

const seenSetIndexAt = 16

// bump counts v seen at t; an empty v is not counted.
func (s *seenSet) bump(v string, t time.Time) {
	if v == "" {
		return
	}
	i := -1
	if s.idx != nil {
		if j, ok := s.idx[v]; ok {
			i = int(j)
		}
	} else {
		for j := range s.list {
			if s.list[j].Value == v {
				i = j
				break
			}
		}
	}
	if i < 0 {
		s.list = append(s.list, Seen{Value: v, FirstSeen: t, LastSeen: t, Count: 1})
		switch {
		case s.idx != nil:
			s.idx[v] = int32(len(s.list) - 1)
		case len(s.list) > seenSetIndexAt:
			s.idx = make(map[string]int32, 2*len(s.list))
			for j := range s.list {
				s.idx[s.list[j].Value] = int32(j)
			}
		}
		return
	}
	e := &s.list[i]
	e.Count++
	if t.Before(e.FirstSeen) {
		e.FirstSeen = t
	}
	if t.After(e.LastSeen) {
		e.LastSeen = t
	}
}

// reset empties s, keeping the slice's memory.
func (s *seenSet) reset() {
	s.list, s.idx = s.list[:0], nil
}

// actionCalls are a batch's calls of one principal × action.
type actionCalls struct {
	first, last, lastDenied time.Time
	allowed, denied         uint64
}

func (c *actionCalls) add(t time.Time, out Outcome) {
	if c.first.IsZero() || t.Before(c.first) {
		c.first = t
	}
	if t.After(c.last) {
		c.last = t
	}
	if out == OutcomeDenied {
		c.denied++
		if t.After(c.lastDenied) {
			c.lastDenied = t
		}
	} else {
		c.allowed++
	}
}

// signInAgg is one principal's console sign-ins within a batch.
type signInAgg struct {
	s   ConsoleSignIns
	ips seenSet
}

// add counts one sign-in record. A password sign-in is one of an IAM
// user or the root user; any other identity signed in through
// federation.
func (a *signInAgg) add(ev *Event, t time.Time) {
	s := &a.s
	switch {
	case ev.SignIn == SignInFailure:
		s.Failures++
		s.LastFailure = later(s.LastFailure, t)
		return
	case ev.PrincipalType == "IAMUser" || ev.PrincipalType == "Root":
		if ev.MFAUsed {
			s.WithMFA++
		} else {
			s.WithoutMFA++
			s.LastWithoutMFA = later(s.LastWithoutMFA, t)
		}
		s.FirstSeen = earlier(s.FirstSeen, t)
		s.LastSeen = later(s.LastSeen, t)
	default:
		s.Federated++
		s.LastFederated = later(s.LastFederated, t)
	}
	a.ips.bump(ev.SourceIP, t)
}

// mergeSignIns folds a batch's sign-ins into the stored ones.
func mergeSignIns(cur *ConsoleSignIns, add *signInAgg) {
	a := &add.s
	cur.WithMFA += a.WithMFA
	cur.WithoutMFA += a.WithoutMFA
	cur.Federated += a.Federated
	cur.Failures += a.Failures
	cur.FirstSeen = earlier(cur.FirstSeen, a.FirstSeen)
	cur.LastSeen = later(cur.LastSeen, a.LastSeen)
	cur.LastWithoutMFA = later(cur.LastWithoutMFA, a.LastWithoutMFA)
	cur.LastFederated = later(cur.LastFederated, a.LastFederated)
	cur.LastFailure = later(cur.LastFailure, a.LastFailure)
	cur.SourceIPs = mergeSeen(cur.SourceIPs, add.ips.list, MaxSignInSeen)
}

// earlier returns the earlier of a and b, a zero time counting as none.
func earlier(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

// later returns the later of a and b.
func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// applyEvents aggregates the new events in memory (many events → few
// keys) and read-modify-writes each aggregate once in txn, together with
// the dedup segments of those events: one pass over the events (dedup,
// then aggregate), then one write step per kind of key.
//
// It takes the events in order until their estimated entries reach
// budget (txnSize), at least one, and returns how many it took (n): the
// transaction holds those. On ErrTxnTooBig n is how many it had taken.
//
// Allocation matters here (a batch touches thousands of keys): keys are
// built in a scratch buffer and looked up without copying, aggregates
// live in slices indexed by the maps, and the keys, values and entries
// handed to Badger are carved from a few slabs (txnBuf) rather than
// allocated one by one.
//
// It returns the fact, day-count and principal values and the dedup
// hashes it wrote, for the caller to put into the caches once (and only
// if) txn has committed (DB.committed).
func (db *DB) applyEvents(txn *badger.Txn, events []Event, now time.Time, budget txnSize) (res WriteResult, n int, done applied, err error) {
	if len(events) == 0 {
		return res, 0, done, nil
	}
	a := newBatchAgg(db, len(events), now)
	done.dedupMark = db.dedup.clock + 1
	// Set before any hash is added, so that a failed transaction can take
	// back what the cache was told (DB.abandon).
	done.dedup = a.window.added

	for i := range events {
		if i%legacyBlock == 0 {
			// By blocks: the events past the budget are not looked up.
			if a.legacy, err = db.legacyDuplicates(txn, events[i:min(i+legacyBlock, len(events))], a.nowUnix); err != nil {
				return res, n, done, err
			}
		}
		ev := &events[i]
		counted, err := a.count(txn, ev)
		if err != nil {
			return res, n, done, fmt.Errorf("event %q: %w", ev.ID, err)
		}
		n = i + 1
		if !counted {
			res.Duplicates++
			continue
		}
		res.Events++
		a.add(ev)
		if a.size.over(budget) {
			break
		}
	}
	// What this transaction's values take sizes the next one's chunks.
	defer db.valSizes.learn(&a.tally)

	clear(a.puts[:cap(a.puts)])
	puts := a.puts[:0]
	defer func() { a.puts = puts }()
	if puts, err = a.writeFacts(txn, puts, &res); err != nil {
		return res, n, done, err
	}
	if puts, err = a.writeActions(txn, puts); err != nil {
		return res, n, done, err
	}
	if puts, err = a.writeDays(txn, puts); err != nil {
		return res, n, done, err
	}
	if puts, err = a.writePrincipals(txn, puts); err != nil {
		return res, n, done, err
	}
	if puts, err = a.writeKeys(txn, puts); err != nil {
		return res, n, done, err
	}
	if err = a.writeSessions(txn); err != nil {
		return res, n, done, err
	}
	if err = a.writeCross(txn); err != nil {
		return res, n, done, err
	}
	if err = a.writeSignIns(txn); err != nil {
		return res, n, done, err
	}
	if done.dedupSeq, err = a.writeDedup(txn); err != nil {
		return res, n, done, err
	}
	if err = a.writeRaws(txn); err != nil {
		return res, n, done, err
	}
	done.puts = puts
	return res, n, done, nil
}

// legacyBlock is how many events applyEvents looks up in the legacy
// dedup entries at a time.
const legacyBlock = 1024

// batchAgg is what one transaction's events add up to, by key, before
// anything is written: facts, action totals, day counts, principals,
// access keys, sessions, cross-account recipients, console sign-ins, raw
// records, and the dedup window with the hashes of the counted events.
type batchAgg struct {
	db  *DB
	now time.Time

	window     dedupWindow
	legacy     map[uint64]bool  // schema-1 dedup entries that match events of the batch (legacydedup.go)
	factIdx    map[string]int32 // fact key → index in facts
	facts      []factAgg
	actIdx     map[string]int32 // action-usage key → index in acts
	acts       []actAgg
	dayIdx     map[string]int32 // day-count key → index in days
	days       []dayAgg
	principals map[string]struct{}
	keyIdx     map[string]int32 // access key ID → index in keys
	keys       []keyAgg
	sessions   map[string]*sessAgg
	cross      map[string]*crossAgg  // nil until a cross-account call
	signIns    map[string]*signInAgg // nil until a console sign-in
	raws       []*badger.Entry
	// puts are the values to cache once the transaction commits.
	puts []aggPut

	buf     *txnBuf
	scratch []byte

	// size estimates the transaction's entries, with value sizes from
	// sizes; tally sums the sizes of the values written.
	size  txnSize
	sizes valueSizes
	tally valueTally

	nowUnix     int64
	dedupExpiry int64  // by Options.Now, stored in the segments
	wallExpiry  uint64 // by the wall clock, Badger's TTL of temporary keys
}

// newBatchAgg returns the DB's batchAgg emptied, for a transaction of
// at most that many events; the caller holds writeMu. Its maps and
// slices are reused from one transaction to the next: allocating them
// afresh, sized for the events offered, was a tenth of Write's
// allocations. Nothing of the transaction before is referenced from
// them by then (the caches hold copies of the values, the keys are
// strings).
func newBatchAgg(db *DB, events int, now time.Time) *batchAgg {
	a := db.agg
	if a == nil {
		n := min(events, 4096)
		a = &batchAgg{
			factIdx:    make(map[string]int32, n),
			actIdx:     make(map[string]int32, n/4),
			dayIdx:     make(map[string]int32, n/2),
			principals: make(map[string]struct{}),
			keyIdx:     make(map[string]int32),
			sessions:   make(map[string]*sessAgg),
		}
		db.agg = a
	}
	clear(a.factIdx)
	clear(a.actIdx)
	clear(a.dayIdx)
	clear(a.principals)
	clear(a.keyIdx)
	clear(a.sessions)
	clear(a.raws)
	*a = batchAgg{
		db:          db,
		now:         now,
		window:      dedupWindow{added: map[int64]*[]uint64{}},
		factIdx:     a.factIdx,
		facts:       a.facts[:0],
		actIdx:      a.actIdx,
		acts:        a.acts[:0],
		dayIdx:      a.dayIdx,
		days:        a.days[:0],
		principals:  a.principals,
		keyIdx:      a.keyIdx,
		keys:        a.keys[:0],
		sessions:    a.sessions,
		raws:        a.raws[:0],
		puts:        a.puts[:0],
		scratch:     a.scratch,
		buf:         db.takeTxnBuf(events),
		sizes:       db.valSizes,
		nowUnix:     now.Unix(),
		dedupExpiry: now.Add(db.opts.DedupTTL).Unix(),
		wallExpiry:  uint64(time.Now().Add(db.opts.DedupTTL).Unix()),
	}
	return a
}

// count decides whether ev counts or is a duplicate, and if it counts
// adds its hash to the dedup cache and to the batch's segments.
func (a *batchAgg) count(txn *badger.Txn, ev *Event) (bool, error) {
	hour, hash := dedupHour(ev.Time.UTC()), dedupHash(ev.ID)
	// The same rule inside the batch as against the store (its hour or
	// either neighbour), so that how events fall into batches never
	// decides what counts: a second ingest of the same input must find
	// every event it counted the first time.
	if err := a.window.move(a.db.dedup, txn, hour, a.nowUnix); err != nil {
		return false, err
	}
	if a.window.seen(hash, a.nowUnix) || a.legacy[hash] {
		return false, nil
	}
	// Only counted events are anchors, in the batch as in the store.
	if len(*a.window.cur) == 0 {
		a.size.add(dedupPerHour, 0)
	}
	a.window.add(a.db.dedup, hash, a.dedupExpiry)
	a.size.bytes += dedupPerEvent
	return true, nil
}

// add aggregates a counted event.
func (a *batchAgg) add(ev *Event) {
	t := ev.Time.UTC()
	if _, ok := a.principals[ev.Principal]; !ok {
		a.principals[ev.Principal] = struct{}{}
		a.size.add(1+len(ev.Principal), 0)
	}
	a.addUses(ev, t)
	if ev.AccessKeyID != "" {
		a.addKey(ev, t)
	}
	if ev.SessionName != "" || ev.SourceIdentity != "" {
		a.addSession(ev, t)
	}
	// One compare for the common same-account call. An event without
	// either account (not from ingest) says nothing about crossing.
	if ev.RecipientAccountID != ev.AccountID && ev.RecipientAccountID != "" && ev.AccountID != "" {
		a.addCross(ev, t)
	}
	if ev.SignIn != SignInNone {
		a.addSignIn(ev, t)
	}
	if a.db.opts.RawRetention > 0 && len(ev.Raw) > 0 {
		a.addRaw(ev)
	}
}

// addUses counts each use in its fact, and each action once in its
// action totals and its day.
func (a *batchAgg) addUses(ev *Event, t time.Time) {
	day := dayNumber(t)
	var actions map[string]struct{}
	if len(ev.Uses) > 1 {
		actions = make(map[string]struct{}, len(ev.Uses))
	}
	for j, u := range ev.Uses {
		// The same action on the same resource twice in one record
		// (rare) is one use.
		if dupUse(ev.Uses[:j], u) {
			continue
		}
		a.scratch = appendKey(a.scratch[:0], pfxFact, ev.Principal, u.Action, u.Resource)
		fi, ok := a.factIdx[string(a.scratch)]
		if !ok {
			fi = int32(len(a.facts))
			k := string(a.scratch)
			a.factIdx[k] = fi
			a.facts = append(a.facts, factAgg{key: k, act: a.action(ev.Principal, u.Action)})
			a.size.add(len(k), factValueBound)
		}
		a.facts[fi].v.add(t, ev.Outcome)
		if actions != nil {
			if _, ok := actions[u.Action]; ok {
				continue
			}
			actions[u.Action] = struct{}{}
		}
		a.acts[a.facts[fi].act].calls.add(t, ev.Outcome)
		a.scratch = putInt64(append(appendKey(a.scratch[:0], pfxDay, ev.Principal, u.Action), sep), day)
		di, ok := a.dayIdx[string(a.scratch)]
		if !ok {
			di = int32(len(a.days))
			k := string(a.scratch)
			a.dayIdx[k] = di
			a.days = append(a.days, dayAgg{key: k})
			a.size.add(len(k), dayValueBound)
		}
		if ev.Outcome == OutcomeDenied {
			a.days[di].v.denied++
		} else {
			a.days[di].v.allowed++
		}
	}
}

// action returns the index in acts of principal × action, adding it.
// It is looked up once per new fact of the batch, not per use.
func (a *batchAgg) action(principal, action string) int32 {
	a.scratch = appendKey(a.scratch[:0], pfxAction, principal, action)
	ai, ok := a.actIdx[string(a.scratch)]
	if !ok {
		ai = int32(len(a.acts))
		k := string(a.scratch)
		a.actIdx[k] = ai
		a.acts = append(a.acts, actAgg{key: k})
		a.size.add(len(k), a.sizes[valAction])
	}
	return ai
}

func (a *batchAgg) addSignIn(ev *Event, t time.Time) {
	sa := a.signIns[ev.Principal]
	if sa == nil {
		if a.signIns == nil {
			a.signIns = make(map[string]*signInAgg)
		}
		sa = &signInAgg{s: ConsoleSignIns{Principal: ev.Principal}}
		a.signIns[ev.Principal] = sa
		a.size.add(1+len(ev.Principal), a.sizes[valSignIns])
	}
	sa.add(ev, t)
}

func (a *batchAgg) addKey(ev *Event, t time.Time) {
	ki, ok := a.keyIdx[ev.AccessKeyID]
	if !ok {
		ki = int32(len(a.keys))
		a.keyIdx[ev.AccessKeyID] = ki
		if len(a.keys) < cap(a.keys) {
			// Keep the lists' memory of the batch before.
			a.keys = a.keys[:ki+1]
			ips, uas := a.keys[ki].ips, a.keys[ki].uas
			ips.reset()
			uas.reset()
			a.keys[ki] = keyAgg{id: ev.AccessKeyID, first: t, last: t, ips: ips, uas: uas}
		} else {
			a.keys = append(a.keys, keyAgg{id: ev.AccessKeyID, first: t, last: t})
		}
		// The usage and its owner index entry.
		a.size.add(1+len(ev.AccessKeyID), a.sizes[valKey])
		a.size.add(2+len(ev.Principal)+len(ev.AccessKeyID), 0)
	}
	ka := &a.keys[ki]
	if ka.owner == "" || !t.Before(ka.ownerTime) {
		ka.owner, ka.ownerTime = ev.Principal, t
	}
	if t.Before(ka.first) {
		ka.first = t
	}
	if t.After(ka.last) {
		ka.last = t
	}
	ka.calls++
	ka.ips.bump(ev.SourceIP, t)
	ka.uas.bump(ev.UserAgent, t)
}

func (a *batchAgg) addSession(ev *Event, t time.Time) {
	sa := a.sessions[ev.Principal]
	if sa == nil {
		sa = &sessAgg{}
		a.sessions[ev.Principal] = sa
		a.size.add(1+len(ev.Principal), a.sizes[valSessions])
	}
	sa.names.bump(ev.SessionName, t)
	sa.idents.bump(ev.SourceIdentity, t)
}

func (a *batchAgg) addCross(ev *Event, t time.Time) {
	ca := a.cross[ev.Principal]
	if ca == nil {
		if a.cross == nil {
			a.cross = make(map[string]*crossAgg)
		}
		ca = &crossAgg{recipients: map[string]*AccountSeen{}}
		a.cross[ev.Principal] = ca
		a.size.add(1+len(ev.Principal), a.sizes[valCross])
	}
	ca.add(ev.AccountID, ev.RecipientAccountID, t)
}

func (a *batchAgg) addRaw(ev *Event) {
	e := encoder{}
	e.uvarint(uint64(a.now.Add(a.db.opts.RawRetention).Unix()))
	e.bytes(capRaw(ev.Raw))
	k := key(pfxRaw, ev.ID)
	a.raws = append(a.raws, badger.NewEntry(k, e.b).WithTTL(a.db.opts.RawRetention))
	a.size.add(len(k), len(e.b))
}

// writeFacts merges each fact's additions into its stored value (from the
// cache, else read) and writes it, counting Facts and NewFacts.
func (a *batchAgg) writeFacts(txn *badger.Txn, puts []aggPut, res *WriteResult) ([]aggPut, error) {
	db, buf := a.db, a.buf
	for i := range a.facts {
		kb := buf.str(a.facts[i].key)
		cached, found := db.aggs.get(kb)
		v := cached.fact
		if !found {
			val, ok, err := getCopy(txn, kb, &a.scratch)
			if err != nil {
				return puts, err
			}
			if found = ok; found {
				if v, err = decodeFactValue(val); err != nil {
					return puts, fmt.Errorf("read %q: %w", kb, err)
				}
			} else {
				res.NewFacts++
			}
		}
		f := &a.facts[i]
		f.prev, f.found = v, found
		v.merge(f.v)
		f.merged = v
		start := len(buf.b)
		buf.b = v.encode(buf.b)
		enc := buf.since(start)
		if err := buf.set(txn, kb, enc, 0); err != nil {
			return puts, err
		}
		if !db.aggs.enabled() {
			continue
		}
		// Cache what a read would return: the value decoded from its
		// encoding (which rounds times to what the encoding holds).
		v, err := decodeFactValue(enc)
		if err != nil {
			return puts, fmt.Errorf("encode %q: %w", kb, err)
		}
		puts = append(puts, aggPut{key: a.facts[i].key, v: aggValue{fact: v}})
	}
	res.Facts = len(a.facts)
	return puts, nil
}

// writeActions merges each principal × action's calls and the changes
// of its facts (writeFacts has run) into its stored totals.
func (a *batchAgg) writeActions(txn *badger.Txn, puts []aggPut) ([]aggPut, error) {
	db, buf := a.db, a.buf
	for i := range a.acts {
		act := &a.acts[i]
		act.kb = buf.str(act.key)
		if c, ok := db.aggs.get(act.kb); ok {
			var err error
			if act.v, err = decodeActionValue(c.enc); err != nil {
				return puts, fmt.Errorf("cached %q: %w", act.key, err)
			}
		} else {
			val, found, err := getCopy(txn, act.kb, &a.scratch)
			if err != nil {
				return puts, err
			}
			if found {
				if act.v, err = decodeActionValue(val); err != nil {
					return puts, fmt.Errorf("read %q: %w", act.key, err)
				}
			}
		}
		act.v.addCalls(&act.calls)
	}
	for i := range a.facts {
		f := &a.facts[i]
		a.acts[f.act].v.addFact(factResource(f.key), f.prev, f.found, f.merged)
	}
	for i := range a.acts {
		act := &a.acts[i]
		start := len(buf.b)
		buf.b = act.v.encode(buf.b)
		enc := buf.since(start)
		a.tally.add(valAction, len(enc))
		if err := buf.set(txn, act.kb, enc, 0); err != nil {
			return puts, err
		}
		if db.aggs.enabled() {
			// A copy: the slab is reused by the next transaction.
			puts = append(puts, aggPut{key: act.key, v: aggValue{enc: bytes.Clone(enc)}})
		}
	}
	return puts, nil
}

// factResource is the resource of a fact key.
func factResource(k string) string {
	n := 0
	for i := 1; i < len(k); i++ {
		if k[i] == sep {
			if n++; n == 2 {
				return k[i+1:]
			}
		}
	}
	return ""
}

// writeSignIns merges each principal's console sign-ins. Like sessions
// they are not cached: few per batch.
func (a *batchAgg) writeSignIns(txn *badger.Txn) error {
	for p, add := range a.signIns {
		k := key(pfxSignIns, p)
		s := ConsoleSignIns{Principal: p}
		if err := getValue(txn, k, func(b []byte) (err error) { s, err = decodeSignIns(p, b); return err }); err != nil {
			return err
		}
		mergeSignIns(&s, add)
		enc := encodeSignIns(nil, s)
		a.tally.add(valSignIns, len(enc))
		if err := txn.Set(k, enc); err != nil {
			return err
		}
	}
	return nil
}

// writeDays adds each day count's additions to its stored value.
func (a *batchAgg) writeDays(txn *badger.Txn, puts []aggPut) ([]aggPut, error) {
	db, buf := a.db, a.buf
	for i := range a.days {
		kb := buf.str(a.days[i].key)
		cached, ok := db.aggs.get(kb)
		v := cached.day
		if !ok {
			val, found, err := getCopy(txn, kb, &a.scratch)
			if err != nil {
				return puts, err
			}
			if found {
				if v, err = decodeDayValue(val); err != nil {
					return puts, fmt.Errorf("read %q: %w", kb, err)
				}
			}
		}
		v.allowed += a.days[i].v.allowed
		v.denied += a.days[i].v.denied
		start := len(buf.b)
		buf.b = v.encode(buf.b)
		if err := buf.set(txn, kb, buf.since(start), 0); err != nil {
			return puts, err
		}
		puts = append(puts, aggPut{key: a.days[i].key, v: aggValue{day: v}})
	}
	return puts, nil
}

// writePrincipals adds the principals the store does not know yet.
func (a *batchAgg) writePrincipals(txn *badger.Txn, puts []aggPut) ([]aggPut, error) {
	for p := range a.principals {
		pk := key(pfxPrincipal, p)
		if _, ok := a.db.aggs.get(pk); ok {
			continue
		}
		if _, err := txn.Get(pk); errors.Is(err, badger.ErrKeyNotFound) {
			if err := txn.Set(pk, nil); err != nil {
				return puts, err
			}
		} else if err != nil {
			return puts, fmt.Errorf("read principal %q: %w", p, err)
		}
		puts = append(puts, aggPut{key: string(pk)})
	}
	return puts, nil
}

// writeKeys merges each access key's usage (mergeKey).
func (a *batchAgg) writeKeys(txn *badger.Txn, puts []aggPut) ([]aggPut, error) {
	for i := range a.keys {
		put, err := a.mergeKey(txn, &a.keys[i])
		if err != nil {
			return puts, err
		}
		if put.key != "" {
			puts = append(puts, put)
		}
	}
	return puts, nil
}

// writeSessions merges each principal's session names and source
// identities into its stored lists.
func (a *batchAgg) writeSessions(txn *badger.Txn) error {
	for p, add := range a.sessions {
		sk := key(pfxSessions, p)
		s := PrincipalSessions{Principal: p}
		if err := getValue(txn, sk, func(b []byte) (err error) { s, err = decodeSessions(p, b); return err }); err != nil {
			return err
		}
		s.SessionNames = mergeSeen(s.SessionNames, add.names.list, MaxSessionSeen)
		s.SourceIdentities = mergeSeen(s.SourceIdentities, add.idents.list, MaxSessionSeen)
		enc := encodeSessions(nil, s)
		a.tally.add(valSessions, len(enc))
		if err := txn.Set(sk, enc); err != nil {
			return err
		}
	}
	return nil
}

// writeCross merges each principal's cross-account recipients.
func (a *batchAgg) writeCross(txn *badger.Txn) error {
	for p, add := range a.cross {
		if err := mergeCrossAccount(txn, p, add, &a.tally); err != nil {
			return err
		}
	}
	return nil
}

// writeDedup writes one dedup segment per hour the counted events fall
// in, and returns the next segment number (0 when none was written).
func (a *batchAgg) writeDedup(txn *badger.Txn) (uint64, error) {
	var hours []int64
	for h, hs := range a.window.added {
		if len(*hs) > 0 {
			hours = append(hours, h)
		}
	}
	if len(hours) == 0 {
		return 0, nil
	}
	slices.Sort(hours)
	seq, err := a.db.nextDedupSeq(txn, len(hours))
	if err != nil {
		return 0, err
	}
	for i, h := range hours {
		// Sorted, so that the same events make the same segment.
		hs := *a.window.added[h]
		slices.Sort(hs)
		e := badger.NewEntry(dedupSegmentKey(h, seq+uint64(i)), encodeDedupSegment(a.dedupExpiry, hs)).
			WithTTL(a.db.opts.DedupTTL)
		if err := txn.SetEntry(e); err != nil {
			return 0, err
		}
	}
	return seq + uint64(len(hours)), nil
}

// writeRaws writes the raw records kept for RawRetention.
func (a *batchAgg) writeRaws(txn *badger.Txn) error {
	for _, e := range a.raws {
		if err := txn.SetEntry(e); err != nil {
			return err
		}
	}
	return nil
}

// applied is what a transaction wrote that the caches learn once it has
// committed.
//
// The dedup cache is the exception: it learns each counted event's hash
// at once, as the batch's own look-ups need it, and a transaction that
// does not commit takes them back (abandon).
type applied struct {
	puts      []aggPut
	dedup     map[int64]*[]uint64 // hashes added to the dedup cache, by hour
	dedupSeq  uint64              // the next segment number
	dedupMark uint64              // dedupCache clock when the transaction began
}

// committed updates the caches with a committed transaction's writes.
func (db *DB) committed(a applied) {
	db.aggs.apply(a.puts)
	if a.dedupSeq != 0 {
		db.dedup.seq = a.dedupSeq
	}
	db.dedup.evict(a.dedupMark)
}

// abandon takes back from the dedup cache what a transaction that will
// not commit added to it.
func (db *DB) abandon(a applied) {
	for h, hashes := range a.dedup {
		db.dedup.remove(h, *hashes)
	}
}

// resetCaches forgets what the caches hold after a failed commit, when
// Badger's state is not known.
func (db *DB) resetCaches() {
	db.aggs.reset()
	db.dedup.reset()
}

// dedupWindow is what deciding whether an event is a duplicate needs
// for one hour: the cached sets of the hour and its neighbours, which
// hold the hashes of this batch's counted events too (added at once, so
// that each event costs three look-ups, not six plus a later insert).
// Events arrive roughly in time order, so Write looks the sets up once
// per change of hour instead of per event (the per-event look-ups were a
// quarter of Write's CPU). Index 0 is the hour itself, 1 the one before,
// 2 the one after.
type dedupWindow struct {
	hour   int64
	valid  bool
	cached [3]*dedupHourSet
	// added holds the hashes this batch added, by hour; cur is the
	// current hour's.
	added map[int64]*[]uint64
	cur   *[]uint64
}

// move points w at hour, loading what it needs. Valid until the cache
// evicts, which Write does only after the batch.
func (w *dedupWindow) move(c *dedupCache, txn *badger.Txn, hour, now int64) error {
	if w.valid && w.hour == hour {
		return nil
	}
	w.valid = false
	for k, h := range [3]int64{hour, hour - 1, hour + 1} {
		s, err := c.hour(txn, h, now)
		if err != nil {
			return err
		}
		w.cached[k] = s
	}
	w.cur = w.added[hour]
	if w.cur == nil {
		w.cur = new([]uint64)
		w.added[hour] = w.cur
	}
	w.hour, w.valid = hour, true
	return nil
}

// seen says whether hash was counted in the window's hours (unexpired at
// now), by this batch or before it.
func (w *dedupWindow) seen(hash uint64, now int64) bool {
	for _, s := range w.cached {
		if int64(s.hashes[hash]) > now {
			return true
		}
	}
	return false
}

// add counts hash in the window's hour until expiry.
func (w *dedupWindow) add(c *dedupCache, hash uint64, expiry int64) {
	c.insert(w.cached[0], hash, expiry)
	*w.cur = append(*w.cur, hash)
}

func dupUse(before []Use, u Use) bool {
	for _, b := range before {
		if b == u {
			return true
		}
	}
	return false
}

// getCopy copies the value at k into *scratch (reusing its memory) and
// returns it; found is false for a missing key.
func getCopy(txn *badger.Txn, k []byte, scratch *[]byte) (val []byte, found bool, err error) {
	item, err := txn.Get(k)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read %q: %w", k, err)
	}
	val, err = item.ValueCopy((*scratch)[:0])
	if err != nil {
		return nil, false, fmt.Errorf("read %q: %w", k, err)
	}
	*scratch = val
	return val, true, nil
}

// factAgg and dayAgg are a batch's additions to one fact or day count.
// A factAgg also keeps, once writeFacts has run, the stored value before
// (prev; found: there was one) and after (merged), for the action
// totals; act is its principal × action in the batch's acts.
type factAgg struct {
	key          string
	act          int32
	found        bool
	v            factValue
	prev, merged factValue
}

// actAgg is a batch's calls of one principal × action and, from
// writeActions on, its stored totals with them.
type actAgg struct {
	key   string
	kb    []byte // key in the transaction's slab
	calls actionCalls
	v     actionValue
}

type dayAgg struct {
	key string
	v   dayValue
}

// txnBuf carves the keys, values and entries of one transaction from a
// few growing slabs. Badger keeps referencing them until the
// transaction ends, which is safe: when a slab grows, the slices and
// entries already handed out keep pointing into the old array, which
// nothing writes to again.
type txnBuf struct {
	b       []byte
	entries []badger.Entry
}

// takeTxnBuf returns the DB's txnBuf emptied, for a transaction of that
// many events; the caller holds writeMu. The previous transaction has
// ended by then (committed or discarded), so Badger no longer reads the
// slabs, and reusing them saves allocating and zeroing a few MB per
// Write.
func (db *DB) takeTxnBuf(events int) *txnBuf {
	if db.txnBuf == nil {
		// A first guess; the slabs grow with the new keys of the batch.
		db.txnBuf = &txnBuf{b: make([]byte, 0, events*32), entries: make([]badger.Entry, 0, events)}
	}
	t := db.txnBuf
	t.b, t.entries = t.b[:0], t.entries[:0]
	return t
}

// since returns what was appended to the slab from start on, with its
// capacity clipped so that later appends cannot reach into it.
func (t *txnBuf) since(start int) []byte {
	return t.b[start:len(t.b):len(t.b)]
}

// str copies s into the slab.
func (t *txnBuf) str(s string) []byte {
	start := len(t.b)
	t.b = append(t.b, s...)
	return t.since(start)
}

// set writes k=v with expiry expiresAt (0: none) through an entry taken
// from the slab.
func (t *txnBuf) set(txn *badger.Txn, k, v []byte, expiresAt uint64) error {
	t.entries = append(t.entries, badger.Entry{Key: k, Value: v, ExpiresAt: expiresAt})
	return txn.SetEntry(&t.entries[len(t.entries)-1])
}

// getValue calls fn with the value at k; a missing key is not an error
// and fn is not called.
func getValue(txn *badger.Txn, k []byte, fn func([]byte) error) error {
	item, err := txn.Get(k)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read %q: %w", k, err)
	}
	if err := item.Value(fn); err != nil {
		return fmt.Errorf("read %q: %w", k, err)
	}
	return nil
}

// isTemporaryKey reports whether id is an STS temporary access key ID
// (ASIA…). Each role session has its own, valid for at most 36 hours, so
// a busy account mints thousands a day.
func isTemporaryKey(id string) bool { return strings.HasPrefix(id, "ASIA") }

// mergeKey folds add into the stored usage of access key id. Temporary
// keys get a Badger TTL (wallExpiry, the dedup horizon) on both the
// usage and the owner index, renewed by every write, so session keys do
// not pile up forever; long-term keys (AKIA…) are kept for good.
//
// The stored usage comes from db.aggs when it holds the key and, for a
// temporary key, its TTL is safely ahead (keyCacheMargin): Badger
// decides expiry by the wall clock, and near the deadline only Badger
// knows. The returned aggPut caches what was written (its key is ""
// when the cache is off). Keys, value and entries come from the
// transaction's slab.
func (a *batchAgg) mergeKey(txn *badger.Txn, add *keyAgg) (aggPut, error) {
	db, buf, id := a.db, a.buf, add.id
	start := len(buf.b)
	buf.b = appendKey(buf.b, pfxKey, id)
	kk := buf.since(start)
	var cur KeyUsage
	found := false
	if c, ok := db.aggs.get(kk); ok && (c.expires == 0 || uint64(time.Now().Add(keyCacheMargin).Unix()) < c.expires) {
		found = true
		var err error
		if cur, err = decodeKeyUsage(id, c.enc); err != nil {
			return aggPut{}, fmt.Errorf("cached %q: %w", kk, err)
		}
	} else {
		val, ok, err := getCopy(txn, kk, &a.scratch)
		if err != nil {
			return aggPut{}, err
		}
		if ok {
			found = true
			if cur, err = decodeKeyUsage(id, val); err != nil {
				return aggPut{}, fmt.Errorf("read %q: %w", kk, err)
			}
		}
	}
	oldOwner := cur.Principal
	if !found {
		cur = KeyUsage{AccessKeyID: id, FirstSeen: add.first, LastSeen: add.last}
	}
	// The owner is the principal of the latest call: keys do not change
	// hands, but if records disagree the newest wins.
	if !found || !add.ownerTime.Before(cur.LastSeen) {
		cur.Principal = add.owner
	}
	if add.first.Before(cur.FirstSeen) {
		cur.FirstSeen = add.first
	}
	if add.last.After(cur.LastSeen) {
		cur.LastSeen = add.last
	}
	cur.Calls += add.calls
	cur.SourceIPs = mergeSeen(cur.SourceIPs, add.ips.list, MaxKeySeen)
	cur.UserAgents = mergeSeen(cur.UserAgents, add.uas.list, MaxKeySeen)
	var expires uint64
	if isTemporaryKey(id) {
		expires = a.wallExpiry
	}
	start = len(buf.b)
	buf.b = encodeKeyUsage(buf.b, cur)
	enc := buf.since(start)
	a.tally.add(valKey, len(enc))
	if err := buf.set(txn, kk, enc, expires); err != nil {
		return aggPut{}, err
	}
	if cur.Principal != oldOwner && oldOwner != "" {
		if err := txn.Delete(key(pfxKeyOwner, oldOwner, id)); err != nil {
			return aggPut{}, err
		}
	}
	if cur.Principal != oldOwner || expires != 0 {
		start = len(buf.b)
		buf.b = appendKey(buf.b, pfxKeyOwner, cur.Principal, id)
		if err := buf.set(txn, buf.since(start), nil, expires); err != nil {
			return aggPut{}, err
		}
	}
	if !db.aggs.enabled() {
		return aggPut{}, nil
	}
	// A copy: the slab is reused by the next transaction.
	return aggPut{key: string(kk), v: aggValue{enc: bytes.Clone(enc), expires: expires}}, nil
}

// mergeCrossAccount folds add into the stored CrossAccount of principal.
// Like sessions it is not cached: few principals per batch call into
// other accounts.
func mergeCrossAccount(txn *badger.Txn, principal string, add *crossAgg, tally *valueTally) error {
	k := key(pfxCrossAcct, principal)
	c := CrossAccount{Principal: principal}
	if err := getValue(txn, k, func(b []byte) (err error) { c, err = decodeCrossAccount(principal, b); return err }); err != nil {
		return err
	}
	// The own account of the latest call wins, as for a key's owner. The
	// stored list is most recent first, so its head is the latest call
	// stored (an evicted account was older still).
	if len(c.Recipients) == 0 || !add.accountTime.Before(c.Recipients[0].LastSeen) {
		c.AccountID = add.account
	}
	rs := make([]AccountSeen, 0, len(add.recipients))
	for _, r := range add.recipients {
		rs = append(rs, *r)
	}
	c.Recipients = mergeAccounts(c.Recipients, rs, MaxRecipientAccounts)
	enc := encodeCrossAccount(nil, c)
	tally.add(valCross, len(enc))
	return txn.Set(k, enc)
}

// keyCacheMargin is how long before its Badger TTL a cached temporary
// key stops being trusted and is read from Badger instead.
const keyCacheMargin = time.Hour

func capRaw(b []byte) []byte {
	if len(b) > MaxRawSize {
		return b[:MaxRawSize]
	}
	return b
}

// applyQuarantine stores records in arrival order. A record whose Where
// is already stored replaces it (same sequence number), which makes
// re-ingesting the same input idempotent.
func (db *DB) applyQuarantine(txn *badger.Txn, qs []Quarantined, now time.Time) error {
	if len(qs) == 0 {
		return nil
	}
	seqKey := key(pfxMeta, metaQuarantine)
	var next uint64
	if err := getValue(txn, seqKey, func(b []byte) error {
		d := decoder{b: b}
		next = d.uvarint()
		return d.done("quarantine sequence")
	}); err != nil {
		return err
	}
	delta := map[string]int64{}
	for _, q := range qs {
		if q.Time.IsZero() {
			q.Time = now
		}
		q.Time = q.Time.UTC()
		q.Raw = capRaw(q.Raw)
		wk := key(pfxQWhere, q.Where)
		var seq uint64
		found := false
		if err := getValue(txn, wk, func(b []byte) error {
			d := decoder{b: b}
			seq, found = d.uvarint(), true
			return d.done("quarantine index")
		}); err != nil {
			return err
		}
		qk := putInt64([]byte{pfxQuarantine}, int64(seq))
		if found {
			if err := getValue(txn, qk, func(b []byte) error {
				old, err := decodeQuarantined(b)
				delta[old.Reason]--
				return err
			}); err != nil {
				return err
			}
		} else {
			seq = next
			next++
			qk = putInt64([]byte{pfxQuarantine}, int64(seq))
			e := encoder{}
			e.uvarint(seq)
			if err := txn.Set(wk, e.b); err != nil {
				return err
			}
		}
		delta[q.Reason]++
		if err := txn.Set(qk, encodeQuarantined(nil, q)); err != nil {
			return err
		}
	}
	e := encoder{}
	e.uvarint(next)
	if err := txn.Set(seqKey, e.b); err != nil {
		return err
	}
	return applyReasonDelta(txn, delta)
}

// applyReasonDelta adds delta to the per-reason quarantine counts,
// deleting counts that reach zero.
func applyReasonDelta(txn *badger.Txn, delta map[string]int64) error {
	for reason, d := range delta {
		if d == 0 {
			continue
		}
		rk := key(pfxQReason, reason)
		var n uint64
		if err := getValue(txn, rk, func(b []byte) error {
			dd := decoder{b: b}
			n = dd.uvarint()
			return dd.done("quarantine count")
		}); err != nil {
			return err
		}
		if int64(n)+d <= 0 {
			if err := txn.Delete(rk); err != nil {
				return err
			}
			continue
		}
		ce := encoder{}
		ce.uvarint(uint64(int64(n) + d))
		if err := txn.Set(rk, ce.b); err != nil {
			return err
		}
	}
	return nil
}

func applyCheckpoints(txn *badger.Txn, cps []Checkpoint, now time.Time) error {
	for _, c := range cps {
		if c.Updated.IsZero() {
			c.Updated = now
		}
		if err := txn.Set(key(pfxCheckpoint, c.Source), encodeCheckpoint(nil, c)); err != nil {
			return err
		}
	}
	return nil
}

// validateBatch rejects what the key layout cannot hold or what makes no
// fact, naming the first bad field. Field names are built only on error:
// this runs for every event.
func validateBatch(b *Batch) error {
	for i := range b.Events {
		if field, reason := validateEvent(&b.Events[i]); field != "" {
			name := fmt.Sprintf("Events[%d]", i)
			if field != "ID" {
				name = fmt.Sprintf("Events[%d] (id %s)", i, b.Events[i].ID)
			}
			return &ValidationError{Field: name + "." + field, Reason: reason}
		}
	}
	for i, q := range b.Quarantined {
		if reason := checkComponent(q.Where, true); reason != "" {
			return &ValidationError{Field: fmt.Sprintf("Quarantined[%d].Where", i), Reason: reason}
		}
		if reason := checkComponent(q.Reason, true); reason != "" {
			return &ValidationError{Field: fmt.Sprintf("Quarantined[%d].Reason", i), Reason: reason}
		}
	}
	for i, c := range b.Checkpoints {
		if reason := checkComponent(c.Source, true); reason != "" {
			return &ValidationError{Field: fmt.Sprintf("Checkpoints[%d].Source", i), Reason: reason}
		}
	}
	return nil
}

// validateEvent returns the bad field of ev relative to the event and
// why, or "" if ev is fine.
func validateEvent(ev *Event) (field, reason string) {
	if ev.ID == "" {
		return "ID", "empty (the dedup key is required)"
	}
	if len(ev.ID) > maxComponent {
		return "ID", fmt.Sprintf("%d bytes, limit %d", len(ev.ID), maxComponent)
	}
	if r := checkComponent(ev.Principal, true); r != "" {
		return "Principal", r
	}
	if ev.Time.IsZero() {
		return "Time", "zero"
	}
	if ev.Outcome != OutcomeAllowed && ev.Outcome != OutcomeDenied {
		return "Outcome", fmt.Sprintf("unknown value %d", ev.Outcome)
	}
	if r := checkComponent(ev.AccessKeyID, false); r != "" {
		return "AccessKeyID", r
	}
	for j, u := range ev.Uses {
		if r := checkComponent(u.Action, true); r != "" {
			return fmt.Sprintf("Uses[%d].Action", j), r
		}
		if r := checkComponent(u.Resource, true); r != "" {
			return fmt.Sprintf("Uses[%d].Resource", j), r
		}
	}
	return "", ""
}

// component checks a string that becomes part of a key.
func component(field, v string, required bool) error {
	if reason := checkComponent(v, required); reason != "" {
		return &ValidationError{Field: field, Reason: reason}
	}
	return nil
}

// checkComponent returns why v cannot be a key component, or "".
func checkComponent(v string, required bool) string {
	switch {
	case v == "" && required:
		return "empty"
	case len(v) > maxComponent:
		return fmt.Sprintf("%d bytes, limit %d", len(v), maxComponent)
	case strings.IndexByte(v, sep) >= 0:
		return "contains a NUL byte"
	}
	return ""
}
