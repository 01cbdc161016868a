package store

import (
	"context"
	"fmt"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// NewestEvent returns the start of the hour of the newest event Write has
// counted within DedupTTL, ignoring hours that begin more than an hour
// after Options.Now (a record dated ahead by a wrong clock would
// otherwise pass for recent forever); zero when there is none.
//
// It is an event-time watermark: how far CloudTrail's events, rather than
// ingest's writes, have reached the index. A checkpoint written a minute
// ago says ingest runs, not that it is current: one replaying a backlog
// writes fresh checkpoints for old events. The dedup set holds one
// segment key per hour of event time (dedup.go), so this reads a single
// key, whatever the store's size.
func (db *DB) NewestEvent(ctx context.Context) (time.Time, error) {
	var newest time.Time
	err := db.view(ctx, "newest event", func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Reverse: true, Prefix: []byte{pfxDedupHour}})
		defer it.Close()
		// Backwards, Seek finds the last key at or before its argument:
		// the last segment of an hour before this one.
		it.Seek(dedupHourPrefix(dedupHour(db.opts.Now()) + 2))
		if !it.ValidForPrefix([]byte{pfxDedupHour}) {
			return nil
		}
		k := it.Item().Key()
		if len(k) < 9 {
			return fmt.Errorf("%w: dedup segment key %x", errCorrupt, k)
		}
		newest = time.Unix(getInt64(k[1:9])*3600, 0).UTC()
		return nil
	})
	return newest, err
}
