package store

// txnSize estimates what a transaction's entries take against Badger's
// limits on one transaction (Txn.checkSize: the entries' count, and the
// sum of each key and value plus 12 bytes, under 15 % of MemTableSize),
// so that Write cuts a batch's events into chunks that fit before it
// writes them. Finding out from ErrTxnTooBig instead cost a whole
// aggregation and most of the reads and writes of each failed attempt:
// when per principal × action totals made the usual batch a little too
// big, every batch was applied about three times (twice failing).
//
// Keys are known exactly as the aggregates are built. A value depends on
// what is stored, which is read only later, so fixed-size values count
// at their bound and the others (action totals, key usage, sessions,
// sign-ins, cross-account lists) at the mean size of their kind in the
// last transaction that wrote some (valueSizes). The budget leaves room
// for a miss; a chunk that still does not fit is halved as before.
type txnSize struct {
	count, bytes int64
}

// entryOverhead is what Badger counts per entry beside key and value:
// the version appended to the key (8, plus 2 of slack) and the meta
// bytes (2).
const entryOverhead = 12

// Bounds of the fixed-size values: two times (at most 10 bytes each as
// varints of Unix nanoseconds) and two counts (a few bytes each).
const (
	factValueBound = 32
	dayValueBound  = 12
	// dedupPerEvent is one event's hash in its hour's segment;
	// dedupPerHour a segment's key, header and next-sequence record.
	dedupPerEvent = 8
	dedupPerHour  = 64
)

// txnBudgetShare is the share of Badger's limits a chunk is sized for;
// the rest absorbs estimates that fall short (values bigger than their
// kind's mean, an owner index entry deleted) and the last event, which
// is added before the check.
const txnBudgetShare = 0.95

// add counts one entry of key length k and value length v.
func (s *txnSize) add(k, v int) {
	s.count++
	s.bytes += int64(k + v + entryOverhead)
}

// over reports whether s has reached budget.
func (s *txnSize) over(budget txnSize) bool {
	return s.count >= budget.count || s.bytes >= budget.bytes
}

// valueKind names the values whose size Write learns from the
// transactions before.
type valueKind int

const (
	valAction valueKind = iota
	valKey
	valSessions
	valSignIns
	valCross
	numValueKinds
)

// valueSizes are the mean value sizes by kind, rounded up; a kind not
// yet written has a generous first guess.
type valueSizes [numValueKinds]int

var firstValueSizes = valueSizes{
	valAction:   256,
	valKey:      512,
	valSessions: 2048,
	valSignIns:  512,
	valCross:    1024,
}

// valueTally sums the value sizes of one transaction by kind.
type valueTally struct {
	sum, n [numValueKinds]int
}

func (t *valueTally) add(k valueKind, size int) {
	t.sum[k] += size
	t.n[k]++
}

// learn replaces each kind's size that t has seen with t's mean.
func (s *valueSizes) learn(t *valueTally) {
	for k := range s {
		if t.n[k] > 0 {
			s[k] = (t.sum[k] + t.n[k] - 1) / t.n[k]
		}
	}
}
