package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// Values are a flat sequence of unsigned varints, zigzag varints and
// length-prefixed byte strings, written and read in a fixed order per
// record kind. The schema version (SchemaVersion) covers the layout.
//
// Changing a layout. A field is added at the end of its record, and its
// decoder reads it only when bytes remain (if len(d.b) > 0 { … }), so
// values written before read it as zero and no record is rewritten; the
// change still bumps SchemaVersion, with a step that has no apply
// (migrate.go), because an older build would drop the field when it
// rewrites the record. Removing, reordering or retyping a field bumps it
// with a step that rewrites the records of that kind.
//
// Why not tagged or versioned values: measured by ingesting one trail
// (1 M generated records over 30 days, 225.8 MB gzipped;
// docs/performance.md, "Store value codec"), the store takes 29.1 MB with
// this codec, 29.9 MB (+2.6 %) with a version byte in front of every
// value and 31.2 MB (+7.3 %) with a one-byte tag before every field, a
// lower bound for protobuf. A version byte per value says what the
// store-wide version already says. Tags would let an older build skip
// fields it does not know, but it would drop them when it rewrites the
// record, so a newer store must be refused all the same. Neither buys
// what the migrations do not, and both cost space in every value.

// errCorrupt is wrapped by every decoding failure.
var errCorrupt = errors.New("corrupt value")

type encoder struct{ b []byte }

func (e *encoder) uvarint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *encoder) varint(v int64)   { e.b = binary.AppendVarint(e.b, v) }
func (e *encoder) bytes(v []byte) {
	e.uvarint(uint64(len(v)))
	e.b = append(e.b, v...)
}
func (e *encoder) str(v string) {
	e.uvarint(uint64(len(v)))
	e.b = append(e.b, v...)
}

// time encodes t as Unix nanoseconds; the zero time encodes as 0 and
// decodes back to the zero time.
func (e *encoder) time(t time.Time) {
	if t.IsZero() {
		e.varint(0)
		return
	}
	e.varint(t.UnixNano())
}

func (e *encoder) seen(list []Seen) {
	e.uvarint(uint64(len(list)))
	for _, s := range list {
		e.str(s.Value)
		e.time(s.FirstSeen)
		e.time(s.LastSeen)
		e.uvarint(s.Count)
	}
}

// resources encodes a top list, each resource as the length of the
// prefix it shares with the one before and the rest: the resources of
// one action share most of their ARN.
func (e *encoder) resources(list []ResourceCount) {
	e.uvarint(uint64(len(list)))
	prev := ""
	for _, r := range list {
		n := sharedPrefix(prev, r.Resource)
		e.uvarint(uint64(n))
		e.str(r.Resource[n:])
		e.uvarint(r.Calls)
		e.time(r.LastSeen)
		prev = r.Resource
	}
}

func sharedPrefix(a, b string) int {
	n := min(len(a), len(b))
	for i := range n {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}

// decoder reads what encoder wrote. The first failure sticks: later reads
// return zero values and err reports it, so decode functions check once.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: truncated %s", errCorrupt, what)
	}
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("uvarint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.fail("bytes")
		return nil
	}
	if n == 0 {
		return nil
	}
	v := make([]byte, n)
	copy(v, d.b[:n])
	d.b = d.b[n:]
	return v
}

func (d *decoder) str() string {
	n := d.uvarint()
	if d.err != nil {
		return ""
	}
	if n > uint64(len(d.b)) {
		d.fail("string")
		return ""
	}
	v := string(d.b[:n])
	d.b = d.b[n:]
	return v
}

func (d *decoder) time() time.Time {
	n := d.varint()
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

func (d *decoder) seen() []Seen {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) { // each entry takes at least one byte
		d.fail("seen list")
		return nil
	}
	list := make([]Seen, 0, n)
	for i := uint64(0); i < n && d.err == nil; i++ {
		list = append(list, Seen{Value: d.str(), FirstSeen: d.time(), LastSeen: d.time(), Count: d.uvarint()})
	}
	return list
}

// seenV2 reads a Seen list as schema versions 1 and 2 wrote it, without
// first sightings (the migration to 3 reads them).
func (d *decoder) seenV2() []Seen {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.fail("seen list")
		return nil
	}
	list := make([]Seen, 0, n)
	for i := uint64(0); i < n && d.err == nil; i++ {
		list = append(list, Seen{Value: d.str(), LastSeen: d.time(), Count: d.uvarint()})
	}
	return list
}

func (d *decoder) resources() []ResourceCount {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) { // each entry takes at least one byte
		d.fail("resource list")
		return nil
	}
	var list []ResourceCount
	if n > 0 {
		list = make([]ResourceCount, 0, n)
	}
	prev := ""
	for i := uint64(0); i < n && d.err == nil; i++ {
		shared := d.uvarint()
		if shared > uint64(len(prev)) {
			d.fail("resource prefix")
			return nil
		}
		r := ResourceCount{Resource: prev[:shared] + d.str(), Calls: d.uvarint(), LastSeen: d.time()}
		list = append(list, r)
		prev = r.Resource
	}
	return list
}

// done reports the first error, or trailing bytes, which also mean the
// value is not what this schema version writes.
func (d *decoder) done(what string) error {
	if d.err != nil {
		return fmt.Errorf("decode %s: %w", what, d.err)
	}
	if len(d.b) != 0 {
		return fmt.Errorf("decode %s: %w: %d trailing bytes", what, errCorrupt, len(d.b))
	}
	return nil
}

// factValue is the stored part of a Fact (the key holds principal,
// action and resource).
type factValue struct {
	first, last     time.Time
	allowed, denied uint64
}

func (v factValue) encode(dst []byte) []byte {
	e := encoder{b: dst}
	e.time(v.first)
	e.time(v.last)
	e.uvarint(v.allowed)
	e.uvarint(v.denied)
	return e.b
}

func decodeFactValue(b []byte) (factValue, error) {
	d := decoder{b: b}
	v := factValue{first: d.time(), last: d.time(), allowed: d.uvarint(), denied: d.uvarint()}
	return v, d.done("fact")
}

// merge folds o into v: earliest first, latest last, summed counts.
func (v *factValue) merge(o factValue) {
	if v.first.IsZero() || (!o.first.IsZero() && o.first.Before(v.first)) {
		v.first = o.first
	}
	if o.last.After(v.last) {
		v.last = o.last
	}
	v.allowed += o.allowed
	v.denied += o.denied
}

// add counts one call at t with outcome out.
func (v *factValue) add(t time.Time, out Outcome) {
	v.merge(factValue{first: t, last: t})
	if out == OutcomeDenied {
		v.denied++
	} else {
		v.allowed++
	}
}

type dayValue struct{ allowed, denied uint64 }

func (v dayValue) encode(dst []byte) []byte {
	e := encoder{b: dst}
	e.uvarint(v.allowed)
	e.uvarint(v.denied)
	return e.b
}

func decodeDayValue(b []byte) (dayValue, error) {
	d := decoder{b: b}
	v := dayValue{allowed: d.uvarint(), denied: d.uvarint()}
	return v, d.done("day count")
}

// actionValue is the stored part of an ActionUsage (the key holds
// principal and action).
type actionValue struct {
	first, last, lastDenied     time.Time
	allowed, denied             uint64
	resources, allowedResources uint64
	topAllowed, topDenied       []ResourceCount
}

func (v *actionValue) encode(dst []byte) []byte {
	e := encoder{b: dst}
	e.time(v.first)
	e.time(v.last)
	e.uvarint(v.allowed)
	e.uvarint(v.denied)
	e.time(v.lastDenied)
	e.uvarint(v.resources)
	e.uvarint(v.allowedResources)
	e.resources(v.topAllowed)
	e.resources(v.topDenied)
	return e.b
}

func decodeActionValue(b []byte) (actionValue, error) {
	d := decoder{b: b}
	v := actionValue{first: d.time(), last: d.time(), allowed: d.uvarint(), denied: d.uvarint(), lastDenied: d.time(),
		resources: d.uvarint(), allowedResources: d.uvarint()}
	v.topAllowed = d.resources()
	v.topDenied = d.resources()
	return v, d.done("action usage")
}

// usage returns v as the ActionUsage of principal × action.
func (v *actionValue) usage(principal, action string) ActionUsage {
	return ActionUsage{Principal: principal, Action: action, FirstSeen: v.first, LastSeen: v.last,
		Allowed: v.allowed, Denied: v.denied, LastDenied: v.lastDenied,
		Resources: v.resources, AllowedResources: v.allowedResources, TopAllowed: v.topAllowed, TopDenied: v.topDenied}
}

// addCalls folds a batch's calls of the action into v.
func (v *actionValue) addCalls(c *actionCalls) {
	if v.first.IsZero() || c.first.Before(v.first) {
		v.first = c.first
	}
	if c.last.After(v.last) {
		v.last = c.last
	}
	if c.lastDenied.After(v.lastDenied) {
		v.lastDenied = c.lastDenied
	}
	v.allowed += c.allowed
	v.denied += c.denied
}

// addFact folds the change of one of the action's facts into v: the
// fact's resource, its stored value before the change (found: it had
// one) and after it. Counts only grow, so a resource that enters a top
// list can only push out the last one: the lists stay the exact top
// MaxTopResources whatever order the changes come in.
func (v *actionValue) addFact(resource string, old factValue, found bool, cur factValue) {
	if !found {
		v.resources++
	}
	if old.allowed == 0 && cur.allowed > 0 {
		v.allowedResources++
	}
	if cur.allowed > 0 {
		v.topAllowed = updateTop(v.topAllowed, ResourceCount{Resource: resource, Calls: cur.allowed, LastSeen: cur.last})
	}
	if cur.denied > 0 {
		v.topDenied = updateTop(v.topDenied, ResourceCount{Resource: resource, Calls: cur.denied, LastSeen: cur.last})
	}
}

// updateTop puts r (a resource whose count grew, or stayed with a later
// LastSeen) into list, most calls first, ties by resource, keeping at
// most MaxTopResources. It works in place.
func updateTop(list []ResourceCount, r ResourceCount) []ResourceCount {
	i := 0
	for i < len(list) && list[i].Resource != r.Resource {
		i++
	}
	switch {
	case i < len(list):
		list[i] = r
	case len(list) < MaxTopResources:
		list = append(list, r)
	case topBefore(r, list[len(list)-1]):
		i = len(list) - 1
		list[i] = r
	default:
		return list
	}
	for ; i > 0 && topBefore(list[i], list[i-1]); i-- {
		list[i], list[i-1] = list[i-1], list[i]
	}
	return list
}

func topBefore(a, b ResourceCount) bool {
	if a.Calls != b.Calls {
		return a.Calls > b.Calls
	}
	return a.Resource < b.Resource
}

func encodeSignIns(dst []byte, s ConsoleSignIns) []byte {
	e := encoder{b: dst}
	e.uvarint(s.WithMFA)
	e.uvarint(s.WithoutMFA)
	e.time(s.FirstSeen)
	e.time(s.LastSeen)
	e.time(s.LastWithoutMFA)
	e.uvarint(s.Federated)
	e.time(s.LastFederated)
	e.uvarint(s.Failures)
	e.time(s.LastFailure)
	e.seen(s.SourceIPs)
	return e.b
}

func decodeSignIns(principal string, b []byte) (ConsoleSignIns, error) {
	d := decoder{b: b}
	s := ConsoleSignIns{Principal: principal, WithMFA: d.uvarint(), WithoutMFA: d.uvarint(), FirstSeen: d.time(), LastSeen: d.time(),
		LastWithoutMFA: d.time(), Federated: d.uvarint(), LastFederated: d.time(), Failures: d.uvarint(), LastFailure: d.time()}
	s.SourceIPs = d.seen()
	return s, d.done("console sign-ins")
}

func encodeKeyUsage(dst []byte, k KeyUsage) []byte {
	e := encoder{b: dst}
	e.str(k.Principal)
	e.time(k.FirstSeen)
	e.time(k.LastSeen)
	e.uvarint(k.Calls)
	e.seen(k.SourceIPs)
	e.seen(k.UserAgents)
	return e.b
}

func decodeKeyUsage(id string, b []byte) (KeyUsage, error) {
	d := decoder{b: b}
	k := KeyUsage{AccessKeyID: id, Principal: d.str(), FirstSeen: d.time(), LastSeen: d.time(), Calls: d.uvarint()}
	k.SourceIPs = d.seen()
	k.UserAgents = d.seen()
	return k, d.done("key usage")
}

func encodeSessions(dst []byte, s PrincipalSessions) []byte {
	e := encoder{b: dst}
	e.seen(s.SessionNames)
	e.seen(s.SourceIdentities)
	return e.b
}

func decodeSessions(principal string, b []byte) (PrincipalSessions, error) {
	d := decoder{b: b}
	s := PrincipalSessions{Principal: principal}
	s.SessionNames = d.seen()
	s.SourceIdentities = d.seen()
	return s, d.done("sessions")
}

func encodeCrossAccount(dst []byte, c CrossAccount) []byte {
	e := encoder{b: dst}
	e.str(c.AccountID)
	e.uvarint(uint64(len(c.Recipients)))
	for _, r := range c.Recipients {
		e.str(r.AccountID)
		e.time(r.FirstSeen)
		e.time(r.LastSeen)
		e.uvarint(r.Calls)
	}
	return e.b
}

func decodeCrossAccount(principal string, b []byte) (CrossAccount, error) {
	d := decoder{b: b}
	c := CrossAccount{Principal: principal, AccountID: d.str()}
	n := d.uvarint()
	if n > uint64(len(d.b)) { // each entry takes at least one byte
		d.fail("recipient accounts")
	}
	if d.err == nil {
		c.Recipients = make([]AccountSeen, 0, n)
	}
	for i := uint64(0); i < n && d.err == nil; i++ {
		c.Recipients = append(c.Recipients, AccountSeen{AccountID: d.str(), FirstSeen: d.time(), LastSeen: d.time(), Calls: d.uvarint()})
	}
	return c, d.done("cross-account")
}

func encodeCheckpoint(dst []byte, c Checkpoint) []byte {
	e := encoder{b: dst}
	e.str(c.Position)
	e.time(c.Updated)
	return e.b
}

func decodeCheckpoint(source string, b []byte) (Checkpoint, error) {
	d := decoder{b: b}
	c := Checkpoint{Source: source, Position: d.str(), Updated: d.time()}
	return c, d.done("checkpoint")
}

func encodeQuarantined(dst []byte, q Quarantined) []byte {
	e := encoder{b: dst}
	e.str(q.Where)
	e.str(q.Reason)
	e.str(q.Detail)
	e.bytes(q.Raw)
	e.time(q.Time)
	return e.b
}

func decodeQuarantined(b []byte) (Quarantined, error) {
	d := decoder{b: b}
	q := Quarantined{Where: d.str(), Reason: d.str(), Detail: d.str(), Raw: d.bytes(), Time: d.time()}
	return q, d.done("quarantined record")
}

// addSeen records value seen at t in list (most recent first), keeping at
// most limit entries. An evicted value that comes back starts counting
// again from one.
func addSeen(list []Seen, value string, t time.Time, limit int) []Seen {
	if value == "" {
		return list
	}
	return mergeSeen(list, []Seen{{Value: value, FirstSeen: t, LastSeen: t, Count: 1}}, limit)
}

// mergeSeen folds add into list: counts summed, the earlier FirstSeen
// and the later LastSeen kept, sorted most recent first (ties: higher
// count, then value), capped. A FirstSeen not known (zero, from before
// schema 3) stays unknown: the value was seen before anything added.
func mergeSeen(list, add []Seen, limit int) []Seen {
	return mergeCapped(list, add, func(a, b Seen) bool { return a.Value == b.Value },
		func(dst *Seen, a Seen) {
			dst.Count += a.Count
			if !dst.FirstSeen.IsZero() && a.FirstSeen.Before(dst.FirstSeen) {
				dst.FirstSeen = a.FirstSeen
			}
			if a.LastSeen.After(dst.LastSeen) {
				dst.LastSeen = a.LastSeen
			}
		}, seenBefore, limit)
}

// mergeAccounts folds add into list like mergeSeen: calls summed, the
// earlier FirstSeen and later LastSeen kept, sorted most recent first
// (ties: more calls, then account ID), capped.
func mergeAccounts(list, add []AccountSeen, limit int) []AccountSeen {
	return mergeCapped(list, add, func(a, b AccountSeen) bool { return a.AccountID == b.AccountID },
		func(dst *AccountSeen, a AccountSeen) {
			dst.Calls += a.Calls
			if a.FirstSeen.Before(dst.FirstSeen) {
				dst.FirstSeen = a.FirstSeen
			}
			if a.LastSeen.After(dst.LastSeen) {
				dst.LastSeen = a.LastSeen
			}
		}, accountBefore, limit)
}

// mergeCapped folds each entry of add into the entry of list it is the
// same as (fold), or appends it, then sorts by before and keeps the first
// limit. It works in place on list.
func mergeCapped[T any](list, add []T, same func(a, b T) bool, fold func(dst *T, a T), before func(a, b T) bool, limit int) []T {
	for _, a := range add {
		found := false
		for i := range list {
			if same(list[i], a) {
				fold(&list[i], a)
				found = true
				break
			}
		}
		if !found {
			list = append(list, a)
		}
	}
	// Insertion sort: lists hold a few dozen entries at most.
	for i := 1; i < len(list); i++ {
		for j := i; j > 0 && before(list[j], list[j-1]); j-- {
			list[j], list[j-1] = list[j-1], list[j]
		}
	}
	if len(list) > limit {
		list = list[:limit]
	}
	return list
}

func accountBefore(a, b AccountSeen) bool {
	if !a.LastSeen.Equal(b.LastSeen) {
		return a.LastSeen.After(b.LastSeen)
	}
	if a.Calls != b.Calls {
		return a.Calls > b.Calls
	}
	return a.AccountID < b.AccountID
}

func seenBefore(a, b Seen) bool {
	if !a.LastSeen.Equal(b.LastSeen) {
		return a.LastSeen.After(b.LastSeen)
	}
	if a.Count != b.Count {
		return a.Count > b.Count
	}
	return a.Value < b.Value
}
