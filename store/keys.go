package store

import (
	"encoding/binary"
	"time"
)

// Key layout. Every key starts with one prefix byte; string components
// are separated by sep (0x00, which validation keeps out of every
// component that is not the last), so that each query is a prefix scan:
//
//	m<name>                          meta: schema version and the build that set it,
//	                                 migration in progress, quarantine and dedup
//	                                 sequences, legacy dedup expiry
//	f<principal>0<action>0<resource> Fact                  (factValue)
//	d<principal>0<action>0<day:8>    DayCount              (dayValue)
//	a<principal>0<action>            ActionUsage           (actionValue)
//	p<principal>                     principal index       (empty)
//	k<accessKeyID>                   KeyUsage              (encodeKeyUsage)
//	K<principal>0<accessKeyID>       keys of a principal   (empty)
//	s<principal>                     PrincipalSessions     (encodeSessions)
//	x<principal>                     CrossAccount          (encodeCrossAccount)
//	i<principal>                     ConsoleSignIns        (encodeSignIns)
//	h<hour:8><seq:8>                 dedup segment: event-ID hashes of one hour (dedup.go; Badger TTL)
//	l<hash:8>                        legacy dedup entry from schema 1 (legacydedup.go; expiry, Badger TTL)
//	r<eventID>                       raw record, if retained (expiry, raw; Badger TTL)
//	c<source>                        Checkpoint            (encodeCheckpoint)
//	q<seq:8>                         Quarantined, in arrival order (encodeQuarantined)
//	w<where>                         quarantine index by Where → seq (idempotent rewrites)
//	Q<reason>                        quarantine count per reason (uvarint)
//	n<accountID>0<taken:8>           Snapshot, zstd-compressed data
//	S<kind>0<id>                     State                 (updated, data)
//
// Schema 1 kept the dedup set as u<uuid:16> (canonical lowercase UUID
// event IDs) and e<eventID> (any other), each → uvarint(expiry); the
// migration to 2 moved them to l (migrations.go). Do not reuse u or e.
//
// Fixed-width numbers are big-endian; signed ones have the sign bit
// flipped so that byte order is numeric order.
const (
	pfxMeta        = 'm'
	pfxFact        = 'f'
	pfxDay         = 'd'
	pfxAction      = 'a'
	pfxPrincipal   = 'p'
	pfxKey         = 'k'
	pfxKeyOwner    = 'K'
	pfxSessions    = 's'
	pfxCrossAcct   = 'x'
	pfxSignIns     = 'i'
	pfxDedupHour   = 'h'
	pfxDedupLegacy = 'l'
	pfxRaw         = 'r'
	pfxCheckpoint  = 'c'
	pfxQuarantine  = 'q'
	pfxQWhere      = 'w'
	pfxQReason     = 'Q'
	pfxSnapshot    = 'n'
	pfxState       = 'S'
	sep            = 0x00
	metaSchema     = "schema"
	metaQuarantine = "qseq"
	metaDedupSeq   = "dseq"
	metaBuild      = "build"
	metaMigration  = "migrating"
	metaLegacy     = "legacy"
)

func key(prefix byte, parts ...string) []byte {
	n := 1
	for _, p := range parts {
		n += len(p) + 1
	}
	return appendKey(make([]byte, 0, n+8), prefix, parts...)
}

// appendKey appends key(prefix, parts...) to b.
func appendKey(b []byte, prefix byte, parts ...string) []byte {
	b = append(b, prefix)
	for i, p := range parts {
		if i > 0 {
			b = append(b, sep)
		}
		b = append(b, p...)
	}
	return b
}

// scanPrefix is key(prefix, parts...) followed by a separator: the prefix
// of every key whose leading components are exactly parts.
func scanPrefix(prefix byte, parts ...string) []byte {
	return append(key(prefix, parts...), sep)
}

func factKey(principal, action, resource string) []byte {
	return key(pfxFact, principal, action, resource)
}

// splitKey returns the n sep-separated components after the prefix byte;
// the last takes the rest of the key. ok is false if there are fewer.
func splitKey(k []byte, n int) ([]string, bool) {
	out := make([]string, 0, n)
	rest := k[1:]
	for len(out) < n-1 {
		i := indexByte(rest, sep)
		if i < 0 {
			return nil, false
		}
		out = append(out, string(rest[:i]))
		rest = rest[i+1:]
	}
	return append(out, string(rest)), true
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

func putInt64(b []byte, v int64) []byte {
	return binary.BigEndian.AppendUint64(b, uint64(v)^(1<<63))
}

func getInt64(b []byte) int64 {
	return int64(binary.BigEndian.Uint64(b) ^ (1 << 63))
}

// dayNumber is the number of whole days since the Unix epoch (floored).
func dayNumber(t time.Time) int64 { return unixPeriods(t, 86400) }

// unixPeriods is the number of whole periods of the given seconds since
// the Unix epoch, floored (before 1970 too).
func unixPeriods(t time.Time, seconds int64) int64 {
	s := t.Unix()
	n := s / seconds
	if s < 0 && s%seconds != 0 {
		n--
	}
	return n
}

func dayKey(principal, action string, day int64) []byte {
	return putInt64(scanPrefix(pfxDay, principal, action), day)
}

func snapshotKey(accountID string, taken time.Time) []byte {
	return putInt64(scanPrefix(pfxSnapshot, accountID), taken.UnixNano())
}
