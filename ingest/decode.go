package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/klauspost/compress/gzip"

	"github.com/iamd/iamd/analyzer/catalog"
	"github.com/iamd/iamd/store"
)

// ConverterOptions configures NewConverter.
type ConverterOptions struct {
	// Catalog validates and canonicalises actions and builds resource
	// ARNs. Required.
	Catalog *catalog.Catalog
	// Mapping is the eventSource/eventName table. Default: the embedded
	// table (LoadMapping).
	Mapping *Mapping
	// Now stamps quarantined records. Default: time.Now.
	Now func() time.Time
	// KeepRaw copies each record's bytes into Event.Raw (the store keeps
	// them only when its raw retention is on). Default: off.
	KeepRaw bool
	// MaxRecordSize is the largest record accepted; a larger JSON value
	// ends the payload with a quarantined "too-large" entry, so garbage
	// input cannot take unbounded memory. Default 16 MiB.
	MaxRecordSize int
}

// DefaultMaxRecordSize is ConverterOptions.MaxRecordSize's default. CloudTrail
// records are at most a few hundred KB.
const DefaultMaxRecordSize = 16 << 20

// ReasonTooLarge is the quarantine reason for a value over MaxRecordSize.
const ReasonTooLarge = "too-large"

// Converter turns CloudTrail payloads into Results. It is immutable and
// safe for concurrent use.
type Converter struct {
	cat     *catalog.Catalog
	mapping *Mapping
	now     func() time.Time
	keepRaw bool
	maxSize int

	// Reused per payload: most log files are small, so a fresh 64 KiB
	// buffer and gzip window per file dominated the allocation profile.
	scanners sync.Pool // *scanner
	gzips    sync.Pool // *gzip.Reader
	// interners outlive a payload so that a small file starts with the
	// strings its predecessors interned.
	interners sync.Pool // *interner
}

func (c *Converter) getScanner(r io.Reader) *scanner {
	if s, ok := c.scanners.Get().(*scanner); ok {
		s.reset(r)
		return s
	}
	return newScanner(r, c.maxSize)
}

func (c *Converter) putScanner(s *scanner) {
	if cap(s.buf) > 1<<20 { // do not keep a buffer grown for a huge record
		return
	}
	s.reset(nil)
	c.scanners.Put(s)
}

func (c *Converter) getGzip(r io.Reader) (*gzip.Reader, error) {
	if z, ok := c.gzips.Get().(*gzip.Reader); ok {
		if err := z.Reset(r); err != nil {
			return nil, err
		}
		return z, nil
	}
	return gzip.NewReader(r)
}

func (c *Converter) putGzip(z *gzip.Reader) { c.gzips.Put(z) }

// NewConverter validates opts and returns a Converter.
func NewConverter(opts ConverterOptions) (*Converter, error) {
	if opts.Catalog == nil {
		return nil, errors.New("new converter: Catalog is required")
	}
	m := opts.Mapping
	if m == nil {
		var err error
		if m, err = LoadMapping(opts.Catalog); err != nil {
			return nil, fmt.Errorf("new converter: %w", err)
		}
	}
	if opts.MaxRecordSize < 0 {
		return nil, fmt.Errorf("new converter: MaxRecordSize %d is negative", opts.MaxRecordSize)
	}
	if opts.MaxRecordSize == 0 {
		opts.MaxRecordSize = DefaultMaxRecordSize
	}
	return &Converter{cat: opts.Catalog, mapping: m, now: nowFunc(opts.Now), keepRaw: opts.KeepRaw, maxSize: opts.MaxRecordSize}, nil
}

// Mapping returns the converter's action mapping.
func (c *Converter) Mapping() *Mapping { return c.mapping }

// Output is a converted payload held in memory (ConvertPayload).
type Output struct {
	Events      []store.Event
	Quarantined []store.Quarantined
	Counts      Counts
}

// ConvertPayload converts one payload held in memory: a whole log file
// (plain or gzipped), one Kafka message holding one record, a
// {"Records":[…]} batch, a JSON array, JSON lines, lookup-events output or
// an EventBridge envelope. where names the payload in quarantine entries
// ("kafka:topic/3@1234"). Bad input never fails the call: it is
// quarantined and counted; the error is only the context's.
func (c *Converter) ConvertPayload(ctx context.Context, where string, payload []byte) (Output, error) {
	var out Output
	counts, err := c.Decode(ctx, where, bytes.NewReader(payload), func(r Result) error {
		switch r.Kind {
		case KindUsage, KindPermissionless, KindUnmapped:
			out.Events = append(out.Events, r.Event)
		case KindQuarantined:
			out.Quarantined = append(out.Quarantined, r.Quarantined)
		}
		return nil
	})
	out.Counts = counts
	return out, err
}

// Decode reads one payload from r record by record (a 1 GB file is never
// held in memory) and calls fn for every record in order, with the counts
// of what it read. The format is detected from the content: gzip by its
// magic bytes, then the JSON shape. Unusable records and unreadable input
// (corrupt JSON, truncated gzip) become KindQuarantined Results naming
// where (record index and byte offset); records before the damage are
// delivered, and so are those after it when the next record's start can be
// found (the next line in JSON lines, the next element starting with
// eventVersion in a Records array). Decode returns an error only when fn
// does or ctx ends.
func (c *Converter) Decode(ctx context.Context, where string, r io.Reader, fn func(Result) error) (Counts, error) {
	strs, ok := c.interners.Get().(*interner)
	if !ok {
		strs = newInterner()
	}
	defer c.interners.Put(strs)
	d := &decoder{c: c, ctx: ctx, where: where, fn: fn, strs: strs}
	err := d.run(r)
	return d.counts, err
}

type decoder struct {
	c      *Converter
	ctx    context.Context
	where  string
	fn     func(Result) error
	counts Counts
	index  int // record index in the payload
	sc     *scanner
	rec    record
	strs   *interner
	// junk holds the top-level junk lines met before the first value,
	// not yet quarantined: if no value follows soon, the input is not
	// JSON and is quarantined once, as a whole (notJSON).
	junk []junkLine
	// values counts the top-level values read.
	values int
}

// junkLine is one line of junk at the top level, copied.
type junkLine struct {
	off int64
	raw []byte
	b   byte
}

// maxLeadingJunk is how many lines of junk may open an input before it
// is judged not to be JSON at all.
const maxLeadingJunk = 16

// repair counts one thing the decoder mended to read on.
func (d *decoder) repair(kind string) {
	if d.counts.Repairs == nil {
		d.counts.Repairs = map[string]int64{}
		d.counts.RepairedFiles = 1
	}
	d.counts.Repairs[kind]++
}

// errStop carries fn's or the context's error out of the decode loops.
type errStop struct{ err error }

func (e errStop) Error() string { return e.err.Error() }

func (d *decoder) run(r io.Reader) error {
	outer := d.c.getScanner(r)
	defer d.c.putScanner(outer)
	d.sc = outer
	if magic := d.sc.peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := d.c.getGzip(d.sc.rest())
		if err != nil {
			return d.fail(ReasonRead, 0, fmt.Errorf("open gzip: %w", err))
		}
		defer d.c.putGzip(gz)
		inner := d.c.getScanner(gz)
		defer d.c.putScanner(inner)
		d.sc = inner
	}
	err := d.top()
	if errors.Is(err, errEnd) {
		return nil
	}
	var stop errStop
	if errors.As(err, &stop) {
		return stop.err
	}
	return err
}

// boundary says where the value after a broken one starts, for
// resynchronising: lineStart in a sequence of top-level values, or else
// the first key of every record in an array. CloudTrail writes
// eventVersion first in every record of its log files (recordKey), and
// lookup-events writes EventId first (lookupKey).
type boundary string

const (
	lineStart boundary = ""
	recordKey          = "eventVersion"
	lookupKey          = "EventId"
)

// find returns the index in b of the first complete boundary, or -1.
func (b boundary) find(p []byte) int {
	if b == lineStart {
		return findLineObject(p)
	}
	return findRecordStart(p, string(b))
}

// top reads the top-level values of the payload.
//
// A top-level value that does not parse is resynchronised at the next line
// that starts with '{' (lineStart): in JSON lines that is the next
// record, so a broken first line, which the scanner cannot yet tell from a
// value spread over many lines, costs only that line. Pretty-printed values
// indent their inner lines, so a column-0 '{' there is the next top-level
// value too.
func (d *decoder) top() error {
	d.sc.skipBOM()
	if b, ok := d.sc.skipSpace(); ok && b != '{' && b != '[' && binaryHead(d.sc.peek(512)) {
		return d.notJSON(d.sc.offset(), "binary data, not JSON")
	}
	first := true
	probe := true // the next value that splits off decides on JSON lines
	lines := false
	for {
		b, ok := d.sc.skipSpace()
		if !ok {
			if err := d.flushJunk(); err != nil {
				return err
			}
			return d.endErr()
		}
		off := d.sc.offset()
		if b == '{' || b == '[' {
			d.values++
			if err := d.flushJunk(); err != nil {
				return err
			}
		}
		switch {
		case b == '[' && first:
			d.sc.advance(1)
			if err := d.array(recordKey); err != nil {
				return err
			}
		case b == '{' && d.sc.hasKeyPrefix("Records"):
			if err := d.wrapper(recordKey); err != nil {
				return err
			}
		case b == '{' && d.sc.hasKeyPrefix("Events"):
			if err := d.wrapper(lookupKey); err != nil {
				return err
			}
		case b == '{' || (b == '[' && !first):
			if lines {
				if err := d.line(); err != nil {
					return err
				}
				break
			}
			raw, err := d.sc.value()
			if err != nil {
				if err := d.resync(off, err, lineStart); err != nil {
					return err
				}
				probe = true
				break
			}
			oneLine := probe && bytes.IndexByte(raw, '\n') < 0
			resynced, err := d.element(off, raw, 0, lineStart)
			if err != nil {
				return err
			}
			// Only now that raw has been handled: nextIsNewline may refill
			// the buffer and move the bytes raw points at.
			if oneLine && !resynced && d.sc.nextIsNewline() {
				// JSON lines: from now on one value per line, so a damaged
				// line costs only that line.
				lines = true
			}
			probe = resynced
		default:
			// Junk between values: quarantine up to the end of the line
			// and go on with the next. Junk before any value is held
			// back: an input that is junk from the start is not JSON,
			// and is quarantined once rather than line by line.
			raw := d.sc.skipLine()
			if d.values == 0 {
				d.junk = append(d.junk, junkLine{off: off, raw: bytes.Clone(raw), b: b})
				if len(d.junk) == maxLeadingJunk {
					return d.notJSON(d.junk[0].off, fmt.Sprintf("no JSON value in the first %d lines", maxLeadingJunk))
				}
				break
			}
			d.repair(RepairJunk)
			if err := d.quarantine(ReasonBadJSON, off, raw, fmt.Errorf("unexpected %q at top level", b)); err != nil {
				return err
			}
		}
		first = false
	}
}

// flushJunk quarantines the junk lines held back, one by one: a value
// followed them, so the input is JSON after all.
func (d *decoder) flushJunk() error {
	junk := d.junk
	d.junk = nil
	for _, j := range junk {
		d.repair(RepairJunk)
		if err := d.quarantine(ReasonBadJSON, j.off, j.raw, fmt.Errorf("unexpected %q at top level", j.b)); err != nil {
			return err
		}
	}
	return nil
}

// notJSON quarantines the whole input, from off, as one entry: it is
// not CloudTrail JSON (an executable, an image, a text file), and a line
// by line account of it would only bury the reason. The entry keeps the
// first bytes, redacted like any other.
func (d *decoder) notJSON(off int64, why string) error {
	var head []byte
	if len(d.junk) > 0 {
		for _, j := range d.junk {
			head = appendCapped(head, j.raw)
			head = appendCapped(head, []byte{'\n'})
		}
		d.junk = nil
	} else {
		head = bytes.Clone(d.sc.pending())
	}
	where := d.where + " (whole input)"
	detail := fmt.Sprintf("%s: not CloudTrail JSON: %s (starts with %q); nothing read from it", where, why, clip(string(head[:min(len(head), 16)]), 16))
	d.index++
	res := Result{Kind: KindQuarantined, Quarantined: d.c.quarantine(where, ReasonNotJSON, detail, head)}
	d.counts.Count(&res)
	if err := d.fn(res); err != nil {
		return errStop{err}
	}
	return errEnd
}

// binaryHead reports whether the first bytes of an input are binary: a
// NUL byte, or bytes that are not UTF-8 text. JSON is UTF-8 text (RFC 8259
// section 8.1), and CloudTrail writes nothing else.
func binaryHead(b []byte) bool {
	if bytes.IndexByte(b, 0) >= 0 {
		return true
	}
	// A multi-byte character cut by the end of the window is not damage.
	for i := 0; i < len(b) && i < len(b)-3; {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			return true
		}
		i += n
	}
	return false
}

// line reads one JSON-lines line as one value.
func (d *decoder) line() error {
	off := d.sc.offset()
	raw, err := d.sc.line()
	if errors.Is(err, errTooLarge) {
		// An over-long line costs only itself.
		return d.quarantine(ReasonTooLarge, off, d.sc.skipLine(), err)
	}
	if err != nil {
		return d.valueErr(off, err)
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return nil
	}
	return d.value(off, raw, 0)
}

// wrapper reads {"Records": [...], ...} or {"Events": [...], ...};
// recKey is the first key of the array's records (array).
func (d *decoder) wrapper(recKey string) error {
	d.sc.advance(1) // {
	for {
		b, ok := d.sc.skipSpace()
		if !ok {
			return d.valueErr(d.sc.offset(), io.ErrUnexpectedEOF)
		}
		if b == '}' {
			d.sc.advance(1)
			return nil
		}
		if b == ',' {
			d.sc.advance(1)
			continue
		}
		off := d.sc.offset()
		key, err := d.sc.value()
		if err != nil {
			return d.valueErr(off, err)
		}
		name := string(key)
		if b, ok = d.sc.skipSpace(); !ok || b != ':' {
			return d.valueErr(d.sc.offset(), errSyntax("expected ':' after key"))
		}
		d.sc.advance(1)
		b, ok = d.sc.skipSpace()
		if !ok {
			return d.valueErr(d.sc.offset(), io.ErrUnexpectedEOF)
		}
		if (name == `"Records"` || name == `"Events"`) && b == '[' {
			d.sc.advance(1)
			if err := d.array(recKey); err != nil {
				return err
			}
			continue
		}
		off = d.sc.offset()
		v, err := d.sc.value()
		if err != nil {
			return d.valueErr(off, err)
		}
		if name == `"Records"` || name == `"Events"` {
			// {"Records":"oops"} would otherwise read as no records and
			// no word.
			if err := d.quarantine(ReasonNotRecord, off, v, fmt.Errorf("%s is %s, want an array of records", name, jsonKind(v))); err != nil {
				return err
			}
		}
	}
}

// array reads the elements of an array whose '[' has been consumed.
//
// A record whose brackets do not balance makes the scanner split off the
// wrong bytes: it either runs on to the end of input or swallows the
// records after it up to the array's ']'. The decoder then resynchronises
// at the next element that starts with key (findRecordStart), which is
// how CloudTrail starts every record, and quarantines the damaged bytes
// before it as one record. If no such element follows (records written
// with another key order), the damage ends the payload as a quarantined
// entry naming its offset: a later '{' cannot be told apart from a nested
// object without knowing the nesting depth, which the damage destroyed.
// The element after the damage must follow a comma: where several
// {"Records":[…]} documents follow one another (one per line, as some
// shippers write them), damage at the end of one also takes the first
// record of the next, which follows a '[', into its quarantined entry.
func (d *decoder) array(key string) error {
	// afterElem: an element was read and no comma has followed it yet.
	afterElem := false
	for {
		b, ok := d.sc.skipSpace()
		if !ok {
			return d.valueErr(d.sc.offset(), io.ErrUnexpectedEOF)
		}
		switch b {
		case ']':
			d.sc.advance(1)
			return nil
		case ',':
			d.sc.advance(1)
			afterElem = false
			continue
		}
		if afterElem {
			d.repair(RepairMissingComma)
		}
		afterElem = true
		off := d.sc.offset()
		if b == '{' {
			// Fast path: parse the record in place in the buffer, one pass.
			// Anything unusual (a record cut by the buffer end, broken
			// JSON) falls back to splitting first, which refills, resyncs
			// and quarantines.
			if raw, ok := d.inPlace(); ok {
				if err := d.dispatch(off, raw, 1); err != nil {
					return err
				}
				continue
			}
		}
		raw, err := d.sc.value()
		if err != nil {
			if err := d.resync(off, err, boundary(key)); err != nil {
				return err
			}
			continue
		}
		if _, err := d.element(off, raw, 1, boundary(key)); err != nil {
			return err
		}
	}
}

// element handles a value the scanner split off at off; next says where
// the following value starts should raw be broken. It reports whether it
// pushed part of raw back to the scanner (split).
func (d *decoder) element(off int64, raw []byte, depth int, next boundary) (bool, error) {
	d.rec = record{}
	if err := parseRecord(raw, &d.rec); err != nil {
		return d.split(off, raw, err, next)
	}
	return false, d.dispatch(off, raw, depth)
}

// split handles raw, just split off by the scanner, that is not a record
// (perr). If raw is not valid JSON and holds the start of a following value
// (next), the scanner split at the wrong place because of broken brackets:
// only the bytes before that start are quarantined and the rest is pushed
// back to the scanner, still in its buffer, to be read again. Otherwise
// raw is one bad value and is quarantined whole: a valid value that is not
// an object (a nested array of records, say) has balanced brackets, so the
// scanner split it off where it ends.
func (d *decoder) split(off int64, raw []byte, perr error, next boundary) (bool, error) {
	if errors.Is(perr, errNotObject) {
		return false, d.quarantine(ReasonBadJSON, off, raw, perr)
	}
	k := next.find(raw[1:])
	if k < 0 {
		return false, d.quarantine(ReasonBadJSON, off, raw, perr)
	}
	cut := 1 + k
	d.sc.start -= len(raw) - cut // raw ends at the scanner position
	d.repair(RepairResync)
	bad := bytes.TrimSpace(raw[:cut])
	if err := parseRecord(bad, &record{}); err != nil {
		perr = err
	}
	return true, d.quarantine(ReasonBadJSON, off, bad, fmt.Errorf("%w; resuming at byte %d", perr, off+int64(cut)))
}

// resync handles a value the scanner could not split off at off (err):
// it quarantines the input up to the start of the next value (next) as one
// record and goes on from there. Without one, or on a read error, the
// damage ends the payload as before.
func (d *decoder) resync(off int64, err error, next boundary) error {
	if errReason(err) == ReasonRead {
		return d.valueErr(off, err)
	}
	skipped, ok := d.sc.seek(next.find)
	if !ok {
		if qerr := d.quarantine(errReason(err), off, skipped, err); qerr != nil {
			return qerr
		}
		return errEnd
	}
	d.repair(RepairResync)
	reason := errReason(err)
	if reason == ReasonTruncated {
		// The scanner ran out of input looking for the value's end, but
		// the input did not end there.
		reason, err = ReasonBadJSON, errSyntax("unclosed string or bracket")
	}
	return d.quarantine(reason, off, bytes.TrimSpace(skipped), fmt.Errorf("%w; resuming at byte %d", err, d.sc.offset()))
}

// inPlace parses the object at the scanner position into d.rec without
// copying it, and consumes it. It reports false (consuming nothing) when
// the buffered bytes do not hold one whole valid record.
func (d *decoder) inPlace() ([]byte, bool) {
	if d.sc.end-d.sc.start < 16<<10 {
		d.sc.fill()
	}
	buf := d.sc.buf[d.sc.start:d.sc.end]
	d.rec = record{}
	n, err := parseRecordPrefix(buf, &d.rec, d.strs)
	if err != nil {
		return nil, false
	}
	d.sc.start += n
	return buf[:n], true
}

// value handles one JSON value of unknown shape: a record or any wrapper.
func (d *decoder) value(off int64, raw []byte, depth int) error {
	d.rec = record{}
	if err := parseRecord(raw, &d.rec); err != nil {
		return d.quarantine(ReasonBadJSON, off, raw, err)
	}
	return d.dispatch(off, raw, depth)
}

// dispatch handles a value already parsed into d.rec.
func (d *decoder) dispatch(off int64, raw []byte, depth int) error {
	r := &d.rec
	switch {
	case r.DigestStart != "" && r.EventName == "":
		d.counts.Digests++
		return nil
	case depth > 3:
		return d.quarantine(ReasonNotRecord, off, raw, errors.New("wrappers nested too deep"))
	case r.Records != nil:
		return d.each(off, r.Records, depth)
	case r.Events != nil && r.EventName == "":
		return d.each(off, r.Events, depth)
	case r.CloudTrailEvent != nil:
		return d.value(off, []byte(*r.CloudTrailEvent), depth+1)
	case r.DetailType != "" && len(r.Detail) > 0 && r.EventName == "":
		return d.value(off, r.Detail, depth+1)
	}
	return d.emitRecord(off, raw)
}

// each handles the elements of an in-memory array (a wrapper inside a
// single message).
func (d *decoder) each(off int64, arr json.RawMessage, depth int) error {
	if k := jsonKind(arr); k != "an array" {
		return d.quarantine(ReasonNotRecord, off, arr, fmt.Errorf("Records or Events is %s, want an array of records", k))
	}
	var elems []json.RawMessage
	if err := json.Unmarshal(arr, &elems); err != nil {
		return d.quarantine(ReasonBadJSON, off, arr, err)
	}
	for _, e := range elems {
		if err := d.value(off, e, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// jsonKind names the kind of JSON value v is, for errors: "an array",
// "an object", "a string", "a number", "null", "true or false".
func jsonKind(v []byte) string {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return "empty"
	}
	switch v[0] {
	case '[':
		return "an array"
	case '{':
		return "an object"
	case '"':
		return "a string"
	case 'n':
		return "null"
	case 't', 'f':
		return "true or false"
	}
	return "a number"
}

func (d *decoder) emitRecord(off int64, raw []byte) error {
	r := &d.rec
	if r.EventName == "" && r.EventTime == "" && r.Timestamp == "" && r.UserIdentity == nil && r.EventSource == "" {
		return d.quarantine(ReasonNotRecord, off, raw, errors.New("JSON object has none of the CloudTrail record fields"))
	}
	res := d.c.convert(func() string { return d.at(off) }, raw, r)
	return d.emit(res)
}

func (d *decoder) emit(res Result) error {
	d.index++
	d.counts.Count(&res)
	if d.index&255 == 0 {
		if err := d.ctx.Err(); err != nil {
			return errStop{err}
		}
	}
	if err := d.fn(res); err != nil {
		return errStop{err}
	}
	return nil
}

func (d *decoder) at(off int64) string {
	return fmt.Sprintf("%s record %d (byte %d)", d.where, d.index, off)
}

func (d *decoder) quarantine(reason string, off int64, raw []byte, err error) error {
	where := d.at(off)
	return d.emit(Result{Kind: KindQuarantined, Quarantined: d.c.quarantine(where, reason, where+": "+err.Error(), raw)})
}

// valueErr quarantines the damage that ends a payload (truncation, a read
// error, broken structure) and stops reading it.
func (d *decoder) valueErr(off int64, err error) error {
	if err := d.quarantine(errReason(err), off, d.sc.pending(), err); err != nil {
		return err
	}
	return errEnd
}

// errReason is the quarantine reason for a scanner error.
func errReason(err error) string {
	switch {
	case errors.Is(err, errTooLarge):
		return ReasonTooLarge
	case errors.Is(err, io.ErrUnexpectedEOF):
		return ReasonTruncated
	case errors.As(err, new(syntaxError)):
		return ReasonBadJSON
	}
	return ReasonRead
}

// fail quarantines an unreadable payload.
func (d *decoder) fail(reason string, off int64, err error) error {
	err = d.quarantine(reason, off, nil, err)
	var stop errStop
	if errors.As(err, &stop) {
		return stop.err
	}
	return err
}

// endErr reports why the top level ended: nil at a clean EOF.
func (d *decoder) endErr() error {
	if err := d.sc.err; err != nil && !errors.Is(err, io.EOF) {
		return d.valueErr(d.sc.offset(), err)
	}
	return nil
}
