package main

import (
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/klauspost/compress/zstd"

	"github.com/iamd/iamd/store"
)

// The schema 1 writer, frozen: keys and values as the store wrote them
// from 0bb9ac5 until 8df75c1 (store/keys.go and store/codec.go of those
// commits), written from the model's aggregates rather than by replaying
// Write, which no longer exists in that form.

// v1DedupTTL was schema 1's default DedupTTL: a dedup entry counts until
// Options.Now + this.
const v1DedupTTL = 45 * 24 * time.Hour

// farFuture is the wall-clock Badger TTL of entries that had one. Badger
// expires by the wall clock, so the real TTLs (45 days) would make the
// committed store lose them some weeks after it was generated; the
// expiry values by Options.Now, which the store decides by, are real.
var farFuture = uint64(time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC).Unix())

// v1enc is schema 1's value encoder.
type v1enc struct{ b []byte }

func (e *v1enc) uvarint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *v1enc) varint(v int64)   { e.b = binary.AppendVarint(e.b, v) }
func (e *v1enc) str(v string)     { e.uvarint(uint64(len(v))); e.b = append(e.b, v...) }
func (e *v1enc) bytes(v []byte)   { e.uvarint(uint64(len(v))); e.b = append(e.b, v...) }
func (e *v1enc) time(t time.Time) {
	if t.IsZero() {
		e.varint(0)
		return
	}
	e.varint(t.UnixNano())
}
func (e *v1enc) seen(list []store.Seen) {
	e.uvarint(uint64(len(list)))
	for _, s := range list {
		e.str(s.Value)
		e.time(s.LastSeen)
		e.uvarint(s.Count)
	}
}

// v1key is schema 1's key: a prefix byte and NUL-separated parts.
func v1key(prefix byte, parts ...string) []byte {
	return append([]byte{prefix}, strings.Join(parts, "\x00")...)
}

// v1int64 is a fixed-width signed number, sign bit flipped.
func v1int64(b []byte, v int64) []byte {
	return binary.BigEndian.AppendUint64(b, uint64(v)^(1<<63))
}

// v1DedupKey packs canonical lowercase UUIDs into 16 bytes under u; any
// other ID is kept as is under e.
func v1DedupKey(id string) []byte {
	if u, ok := v1UUID(id); ok {
		return append([]byte{'u'}, u[:]...)
	}
	return v1key('e', id)
}

func v1UUID(s string) ([16]byte, bool) {
	var u [16]byte
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return u, false
	}
	hex := strings.ReplaceAll(s, "-", "")
	for i := range 16 {
		hi, lo := hexLower(hex[2*i]), hexLower(hex[2*i+1])
		if hi < 0 || lo < 0 {
			return u, false
		}
		u[i] = byte(hi<<4 | lo)
	}
	return u, true
}

func hexLower(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	}
	return -1
}

// writeV1 writes m as schema 1 into the empty Badger database bdb.
func writeV1(bdb *badger.DB, m *model) error {
	wb := bdb.NewWriteBatch()
	defer wb.Cancel()
	set := func(k, v []byte, expiresAt uint64) error {
		return wb.SetEntry(&badger.Entry{Key: k, Value: v, ExpiresAt: expiresAt})
	}
	var e v1enc
	val := func() []byte { b := e.b; e = v1enc{}; return b }

	e.uvarint(1)
	if err := set(v1key('m', "schema"), val(), 0); err != nil {
		return err
	}
	for _, f := range m.facts {
		e.time(f.FirstSeen)
		e.time(f.LastSeen)
		e.uvarint(f.Allowed)
		e.uvarint(f.Denied)
		if err := set(v1key('f', f.Principal, f.Action, f.Resource), val(), 0); err != nil {
			return err
		}
	}
	for _, d := range m.days {
		e.uvarint(d.allowed)
		e.uvarint(d.denied)
		k := v1int64(append(v1key('d', d.principal, d.action), 0), d.day.Unix()/86400)
		if err := set(k, val(), 0); err != nil {
			return err
		}
	}
	principals := map[string]bool{}
	for _, ev := range m.counted {
		principals[ev.Principal] = true
	}
	for p := range principals {
		if err := set(v1key('p', p), nil, 0); err != nil {
			return err
		}
	}
	for id, k := range m.keys {
		// Schema 1 gave temporary (ASIA) keys and their owner index a TTL.
		var exp uint64
		if strings.HasPrefix(id, "ASIA") {
			exp = farFuture
		}
		e.str(k.Principal)
		e.time(k.FirstSeen)
		e.time(k.LastSeen)
		e.uvarint(k.Calls)
		e.seen(k.SourceIPs)
		e.seen(k.UserAgents)
		if err := set(v1key('k', id), val(), exp); err != nil {
			return err
		}
		if err := set(v1key('K', k.Principal, id), nil, exp); err != nil {
			return err
		}
	}
	for p, s := range m.sessions {
		e.seen(s.SessionNames)
		e.seen(s.SourceIdentities)
		if err := set(v1key('s', p), val(), 0); err != nil {
			return err
		}
	}
	dedupExpiry := uint64(genClock.Add(v1DedupTTL).Unix())
	for _, ev := range m.counted {
		e.uvarint(dedupExpiry)
		if err := set(v1DedupKey(ev.ID), val(), farFuture); err != nil {
			return err
		}
		if ev.Raw != nil {
			e.uvarint(uint64(genClock.Add(rawRetention).Unix()))
			e.bytes(ev.Raw)
			if err := set(v1key('r', ev.ID), val(), farFuture); err != nil {
				return err
			}
		}
	}
	for src, c := range m.cps {
		e.str(c.Position)
		e.time(c.Updated)
		if err := set(v1key('c', src), val(), 0); err != nil {
			return err
		}
	}
	counts := map[string]uint64{}
	for seq, q := range m.qs {
		e.str(q.Where)
		e.str(q.Reason)
		e.str(q.Detail)
		e.bytes(q.Raw)
		e.time(q.Time)
		if err := set(v1int64([]byte{'q'}, int64(seq)), val(), 0); err != nil {
			return err
		}
		e.uvarint(uint64(seq))
		if err := set(v1key('w', q.Where), val(), 0); err != nil {
			return err
		}
		counts[q.Reason]++
	}
	for reason, n := range counts {
		e.uvarint(n)
		if err := set(v1key('Q', reason), val(), 0); err != nil {
			return err
		}
	}
	e.uvarint(uint64(len(m.qs)))
	if err := set(v1key('m', "qseq"), val(), 0); err != nil {
		return err
	}
	zenc, err := zstd.NewWriter(nil)
	if err != nil {
		return err
	}
	defer zenc.Close()
	for _, s := range m.f.snapshots {
		k := v1int64(append(v1key('n', s.AccountID), 0), s.Taken.UnixNano())
		if err := set(k, zenc.EncodeAll(s.Data, nil), 0); err != nil {
			return err
		}
	}
	for _, s := range m.f.states {
		e.time(s.Updated)
		e.bytes(s.Data)
		if err := set(v1key('S', s.Kind, s.ID), val(), 0); err != nil {
			return err
		}
	}
	if err := wb.Flush(); err != nil {
		return fmt.Errorf("write schema 1 store: %w", err)
	}
	return nil
}
