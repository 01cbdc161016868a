package ingest

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/bits"
	"unicode"
	"unicode/utf8"
	"unsafe"
)

// This file decodes the fields of a record that ingest reads straight from
// the bytes, skipping everything else without building it. encoding/json
// scans each record twice (validate, then decode) and allocates for every
// field it visits; on real CloudTrail (1.26 KB a record, most of it in
// requestParameters/responseElements we never look at) it ran at about a
// third of the gunzip speed, this at about twice that (docs/performance.md).
// The skipped parts are validated as encoding/json validates them
// (brackets, strings with their escapes and control bytes, numbers,
// literals) without being built. FuzzParseRecord holds the parser to
// encoding/json's answers on arbitrary input: the same accept or reject,
// the same field values, down to duplicate keys (the last wins; objects
// merge), values of the wrong type (ignored) and null (ignored, or nil
// for a pointer), case-insensitive keys (Unicode folding included), and
// invalid UTF-8.
//
// Invalid UTF-8 in a string is replaced by U+FFFD, one per bad byte, as
// encoding/json does: CloudTrail writes only valid UTF-8, so such bytes
// mean damage, and leaving them raw let them into store keys, where a
// report or the JSON API would print them as U+FFFD anyway, so that two
// different keys could print as one. Replacing them at the parser makes
// every string ingest keeps valid UTF-8.

type jsonParser struct {
	b []byte
	i int
	// strs, if set, interns the strings istr reads.
	strs *interner
}

// interner hands out one string per distinct value of the fields that
// repeat from record to record (event source and name, region, user
// agent, identity ARNs, …), so decoding them allocates nothing after
// their first sighting: converting them afresh took a third of the time
// ingest spent allocating. Event IDs and times, unique per record, are
// not interned.
//
// Each field has a slot holding its last value, compared before the map:
// consecutive records of a log file mostly share region, account, event
// source and caller, and the compare costs a fraction of hashing the
// value into the map, which had become 6 % of ingest.
type interner struct {
	m    map[string]string
	last [numSlots]string
}

// The interned fields, one slot each.
const (
	slotEventSource = iota
	slotEventName
	slotEventType
	slotRegion
	slotSourceIP
	slotUserAgent
	slotErrorCode
	slotRecipient
	slotUserType
	slotPrincipalID
	slotUserARN
	slotUserAccount
	slotAccessKey
	slotUserName
	slotInvokedBy
	slotIdP
	slotSourceIdentity
	slotIssuerType
	slotIssuerARN
	slotIssuerAccount
	slotIssuerName
	numSlots
)

// maxInterned bounds an interner; it starts over when full.
const maxInterned = 4096

// maxInternedLen keeps long values (policy documents in odd fields) out.
const maxInternedLen = 256

func newInterner() *interner { return &interner{m: make(map[string]string, 256)} }

// str returns b as a string, the same one for every equal b.
func (in *interner) str(slot int, b []byte) string {
	if len(b) > maxInternedLen {
		return string(b)
	}
	if s := in.last[slot]; s == string(b) {
		return s
	}
	s, ok := in.m[string(b)]
	if !ok {
		s = string(b)
		if len(in.m) >= maxInterned {
			clear(in.m)
		}
		in.m[s] = s
	}
	in.last[slot] = s
	return s
}

func (p *jsonParser) errf(format string, a ...any) error {
	return fmt.Errorf("JSON syntax at byte %d: %s", p.i, fmt.Sprintf(format, a...))
}

func (p *jsonParser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// stringEnd returns the index after the closing quote of the string that
// starts at p.i (a '"'), and what it holds (escapes, bytes beyond ASCII).
// A control byte (below 0x20) or a bad escape in the string is an error,
// as in encoding/json.
//
// Strings are scanned eight bytes at a time (SWAR, stopBytes) up to the
// first byte that is not plain: the quote, a backslash, a control byte
// or a byte beyond ASCII. CloudTrail's strings are mostly plain ASCII and
// short, so the loop mostly ends at its closing quote in a word or two;
// the rest is left to escapedEnd, byte by byte. (An IndexByte for the
// quote, whose vector loop wins on long strings, would need a second pass
// for the other bytes: string scanning is a seventh of decoding.)
func (p *jsonParser) stringEnd() (int, strInfo, error) {
	b := p.b
	j := p.i + 1
	for ; j+8 <= len(b); j += 8 {
		x := binary.LittleEndian.Uint64(b[j:])
		if m := stopBytes(x); m != 0 {
			j += bits.TrailingZeros64(m) >> 3
			if b[j] == '"' {
				return j + 1, 0, nil
			}
			return p.escapedEnd(j)
		}
	}
	return p.escapedEnd(j)
}

// strInfo says what stringEnd found in a string.
type strInfo uint8

const (
	strEscaped  strInfo = 1 << iota // a backslash escape
	strNonASCII                     // a byte of 0x80 or above
)

// stopBytes flags (0x80 in a byte of the result) the bytes of the word x
// that end stringEnd's fast loop: quotes, backslashes, control bytes and
// bytes beyond ASCII. The lowest flag is exact; higher ones may be
// borrows. Flipping bit 1 maps the quote (0x22) to 0x20 and keeps the
// control bytes below it, while no other byte goes below 0x21, so one
// "less than 0x21" test finds both.
func stopBytes(x uint64) uint64 {
	t := x ^ (swarLow * 0x02)
	s := x ^ (swarLow * '\\')
	return ((t-swarLow*0x21)&^t | (s-swarLow)&^s | x) & swarHigh
}

// Constants of the word-at-a-time byte search: a word with 0x01 (0x80) in
// every byte. The lowest byte flagged by (x-low)&^x&high is exactly the
// first zero byte of x; higher flags may be borrows, so only the lowest
// is used.
const (
	swarLow  = 0x0101010101010101
	swarHigh = 0x8080808080808080
)

// escapedEnd finishes stringEnd from m, byte by byte, checking escapes
// and control bytes as encoding/json does and noting bytes beyond ASCII.
func (p *jsonParser) escapedEnd(m int) (int, strInfo, error) {
	b := p.b
	var info strInfo
	for m < len(b) {
		c := b[m]
		switch {
		case c == '"':
			return m + 1, info, nil
		case c < 0x20:
			p.i = m
			return 0, 0, p.errf("control byte %#02x in a string", c)
		case c != '\\':
			if c >= utf8.RuneSelf {
				info |= strNonASCII
			}
			m++
			continue
		}
		if m+1 >= len(b) {
			break
		}
		info |= strEscaped
		switch b[m+1] {
		case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			m += 2
		case 'u':
			if m+6 > len(b) || !isHex4(b[m+2:m+6]) {
				p.i = m
				return 0, 0, p.errf("bad \\u escape in a string")
			}
			m += 6
		default:
			p.i = m
			return 0, 0, p.errf("bad escape \\%c in a string", b[m+1])
		}
	}
	return 0, 0, p.errf("unterminated string")
}

func isHex4(h []byte) bool {
	for _, c := range h[:4] {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// str reads a string value; a value of another type is skipped and gives "".
func (p *jsonParser) str() (string, error) {
	s, _, err := p.readString(-1)
	return s, err
}

// setStr reads a value into *dst if it is a string; a value of another
// type (null included) is skipped and leaves *dst as it was, as
// encoding/json does, so that of two members of the same name the last
// string wins.
func (p *jsonParser) setStr(dst *string) error { return p.setString(dst, -1) }

// setIstr is setStr for a value that repeats across records: interned
// when the parser has an interner.
func (p *jsonParser) setIstr(dst *string, slot int) error { return p.setString(dst, slot) }

// setView is setStr without a copy when the string has no escapes: the
// result shares the parsed bytes and is valid only while they are. For
// values that are read during the record's conversion and never kept
// (its time).
func (p *jsonParser) setView(dst *string) error { return p.setString(dst, slotView) }

func (p *jsonParser) setString(dst *string, slot int) error {
	s, ok, err := p.readString(slot)
	if ok {
		*dst = s
	}
	return err
}

// slotView asks readString for a string sharing the input (setView).
const slotView = -2

// readString reads a string value, and ok true; a value of another type
// is skipped and gives ok false.
func (p *jsonParser) readString(slot int) (string, bool, error) {
	p.ws()
	if p.i >= len(p.b) {
		return "", false, p.errf("unexpected end")
	}
	if p.b[p.i] != '"' {
		return "", false, p.skip()
	}
	end, info, err := p.stringEnd()
	if err != nil {
		return "", false, err
	}
	raw := p.b[p.i:end]
	p.i = end
	// Invalid UTF-8 takes the slow path, which replaces it (see the top
	// of this file).
	if body := raw[1 : len(raw)-1]; info == 0 || info == strNonASCII && utf8.Valid(body) {
		switch {
		case slot == slotView && len(body) > 0:
			return unsafe.String(&body[0], len(body)), true, nil
		case slot >= 0 && p.strs != nil:
			return p.strs.str(slot, body), true, nil
		}
		return string(body), true, nil
	}
	return p.unquote(raw)
}

// unquote is readString's slow path: escapes and invalid UTF-8, left to
// encoding/json (apart, so that its result's address does not move
// readString's to the heap).
func (p *jsonParser) unquote(raw []byte) (string, bool, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false, p.errf("bad string: %v", err)
	}
	return s, true, nil
}

// rawValue returns the bytes of the next value.
func (p *jsonParser) rawValue() ([]byte, error) {
	p.ws()
	start := p.i
	if err := p.skip(); err != nil {
		return nil, err
	}
	return p.b[start:p.i], nil
}

// skip passes over one value, checking its grammar (strings are only
// scanned for their end: escapes and control bytes inside them are not
// checked).
//
// Most of a record is skipped (responseElements, tlsDetails, the parts
// of requestParameters nobody reads), so this is a loop over one byte
// stack rather than a descent through object and elements, whose calls
// and callbacks per value cost more than the scanning.
func (p *jsonParser) skip() error {
	const (
		stValue        = iota // a value must follow
		stValueOrClose        // after '[': a value or ']'
		stKeyOrClose          // after '{': a key or '}'
		stKey                 // after ',' in an object
		stColon               // after a key
		stAfter               // after a value: ',' or a closing bracket, or done
	)
	var stack [maxSkipDepth / 64]uint64 // bit set: that level is an object
	depth := 0
	inObject := func() bool { return stack[(depth-1)/64]>>((depth-1)%64)&1 == 1 }
	b := p.b
	st := stValue
	for {
		if st == stAfter && depth == 0 {
			return nil
		}
		p.ws()
		if p.i >= len(b) {
			return p.errf("unexpected end")
		}
		c := b[p.i]
		switch st {
		case stAfter:
			obj := inObject()
			switch {
			case c == ',' && obj:
				st = stKey
			case c == ',':
				st = stValue
			case (c == '}' && obj) || (c == ']' && !obj):
				depth--
			default:
				return p.errf("unexpected %q after a value", c)
			}
			p.i++
			continue
		case stColon:
			if c != ':' {
				return p.errf("expected : after key")
			}
			p.i++
			st = stValue
			continue
		case stKeyOrClose, stKey:
			if c == '}' && st == stKeyOrClose {
				p.i++
				depth--
				st = stAfter
				continue
			}
			if c != '"' {
				return p.errf("expected object key")
			}
			end, _, err := p.stringEnd()
			if err != nil {
				return err
			}
			p.i = end
			st = stColon
			continue
		case stValueOrClose:
			if c == ']' {
				p.i++
				depth--
				st = stAfter
				continue
			}
		}
		// A value.
		st = stAfter
		switch {
		case c == '"':
			end, _, err := p.stringEnd()
			if err != nil {
				return err
			}
			p.i = end
		case c == '{' || c == '[':
			if depth == maxSkipDepth {
				return p.errf("nested deeper than %d", maxSkipDepth)
			}
			w, bit := depth/64, uint64(1)<<(depth%64)
			if c == '{' {
				stack[w] |= bit
				st = stKeyOrClose
			} else {
				stack[w] &^= bit
				st = stValueOrClose
			}
			depth++
			p.i++
		case c == 't':
			if err := p.lit("true"); err != nil {
				return err
			}
		case c == 'f':
			if err := p.lit("false"); err != nil {
				return err
			}
		case c == 'n':
			if err := p.lit("null"); err != nil {
				return err
			}
		case c == '-' || (c >= '0' && c <= '9'):
			if err := p.number(); err != nil {
				return err
			}
		default:
			return p.errf("unexpected %q", c)
		}
	}
}

// maxSkipDepth bounds the nesting skip accepts; CloudTrail records nest a
// dozen levels at most.
const maxSkipDepth = 512

// number passes over a number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func (p *jsonParser) number() error {
	b, i := p.b, p.i
	digits := func() int {
		n := 0
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
			n++
		}
		return n
	}
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case digits() == 0:
		return p.errf("bad number")
	}
	if i < len(b) && b[i] == '.' {
		i++
		if digits() == 0 {
			return p.errf("bad number")
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if digits() == 0 {
			return p.errf("bad number")
		}
	}
	p.i = i
	return nil
}

func (p *jsonParser) lit(s string) error {
	if !bytes.HasPrefix(p.b[p.i:], []byte(s)) {
		return p.errf("bad literal")
	}
	p.i += len(s)
	return nil
}

// object walks the members of an object at p.i, calling field with each
// key (unescaped only when it has no escapes, which CloudTrail keys never
// have) positioned at the value; field must consume the value.
func (p *jsonParser) object(field func(key []byte) error) error {
	p.ws()
	if p.i >= len(p.b) || p.b[p.i] != '{' {
		return p.errf("expected object")
	}
	p.i++
	p.ws()
	if p.i < len(p.b) && p.b[p.i] == '}' {
		p.i++
		return nil
	}
	for {
		p.ws()
		if p.i >= len(p.b) || p.b[p.i] != '"' {
			return p.errf("expected object key")
		}
		end, info, err := p.stringEnd()
		if err != nil {
			return err
		}
		key := p.b[p.i+1 : end-1]
		p.i = end
		p.ws()
		if p.i >= len(p.b) || p.b[p.i] != ':' {
			return p.errf("expected : after key")
		}
		p.i++
		if info&strEscaped != 0 {
			var k string
			if json.Unmarshal(p.b[end-len(key)-2:end], &k) != nil {
				return p.errf("bad key escape")
			}
			key = []byte(k)
		}
		if info != 0 {
			key = foldKey(key)
		}
		if err := field(key); err != nil {
			return err
		}
		if more, err := p.more('}', "object"); !more {
			return err
		}
	}
}

// more consumes what follows a value in an object or array: true after
// a comma, false (and no error) after the closing bracket.
func (p *jsonParser) more(closing byte, in string) (bool, error) {
	p.ws()
	if p.i >= len(p.b) {
		return false, p.errf("unexpected end in %s", in)
	}
	switch p.b[p.i] {
	case ',':
		p.i++
		return true, nil
	case closing:
		p.i++
		return false, nil
	}
	return false, p.errf("expected , or %c in %s", closing, in)
}

// isObject reports whether the next value is an object (else it is
// skipped by the caller).
func (p *jsonParser) isObject() bool {
	p.ws()
	return p.i < len(p.b) && p.b[p.i] == '{'
}

// parseRecord fills r from raw. It returns an error only for broken JSON;
// fields of unexpected types are left empty.
func parseRecord(raw []byte, r *record) error {
	n, err := parseRecordPrefix(raw, r, nil)
	if errors.Is(err, errNotObject) {
		// A value, but is it the only one? ("000" is not.)
		p := &jsonParser{b: raw}
		p.ws()
		if p.skip() == nil {
			n = p.i
		}
	} else if err != nil {
		return err
	}
	p := &jsonParser{b: raw, i: n}
	p.ws()
	if p.i != len(p.b) {
		return p.errf("data after the record")
	}
	return err
}

// parseRecordPrefix parses the record that starts raw and returns how many
// bytes it took; what follows is not looked at. strs may be nil.
func parseRecordPrefix(raw []byte, r *record, strs *interner) (int, error) {
	p := &jsonParser{b: raw, strs: strs}
	var buf [64]byte
	p.ws()
	if !p.isObject() {
		if err := p.skip(); err != nil {
			return 0, err
		}
		return 0, errNotObject
	}
	if err := p.object(func(k []byte) error {
		if unreadRecordKey(k) {
			return p.skip()
		}
		switch string(fold(k, &buf)) {
		case "eventid":
			return p.setStr(&r.EventID)
		case "eventtime":
			return p.setView(&r.EventTime)
		case "@timestamp":
			return p.setView(&r.Timestamp)
		case "eventsource":
			return p.setIstr(&r.EventSource, slotEventSource)
		case "eventname":
			return p.setIstr(&r.EventName, slotEventName)
		case "eventtype":
			return p.setIstr(&r.EventType, slotEventType)
		case "awsregion":
			return p.setIstr(&r.AWSRegion, slotRegion)
		case "sourceipaddress":
			return p.setIstr(&r.SourceIPAddress, slotSourceIP)
		case "useragent":
			return p.setIstr(&r.UserAgent, slotUserAgent)
		case "errorcode":
			return p.setIstr(&r.ErrorCode, slotErrorCode)
		case "recipientaccountid":
			return p.setIstr(&r.RecipientAccountID, slotRecipient)
		case "detail-type":
			return p.setStr(&r.DetailType)
		case "digeststarttime":
			return p.setStr(&r.DigestStart)
		case "cloudtrailevent":
			// A string is a wrapped record; null clears it; another
			// type is ignored (encoding/json would point at "").
			if p.isNull() {
				r.CloudTrailEvent = nil
				return p.skip()
			}
			s, ok, err := p.readString(-1)
			if ok {
				r.CloudTrailEvent = &s
			}
			return err
		case "useridentity":
			// As encoding/json treats a pointer to a struct: null clears
			// it; any other value allocates it if needed, an object then
			// fills it (merging with an earlier userIdentity member), a
			// value of another type leaves it empty.
			if p.isNull() {
				r.UserIdentity = nil
				return p.skip()
			}
			if r.UserIdentity == nil {
				r.ui, r.sc = userIdentity{}, sessionContext{}
				r.UserIdentity = &r.ui
			}
			if !p.isObject() {
				return p.skip()
			}
			return p.userIdentity(r.UserIdentity, &r.sc)
		case "requestparameters":
			// Parsed here for the resource fields rather than skipped
			// and parsed again by the conversion.
			p.ws()
			start := p.i
			r.params = requestParams{}
			var err error
			if p.isObject() {
				err = p.params(&r.params)
			} else {
				err = p.skip()
			}
			if err == nil {
				r.RequestParameters = p.b[start:p.i]
			}
			return err
		case "resources":
			return p.setRaw(&r.Resources, false)
		case "responseelements":
			return p.setRaw(&r.ResponseElements, false)
		case "additionaleventdata":
			return p.setRaw(&r.AdditionalEventData, false)
		case "records":
			return p.setRaw(&r.Records, true)
		case "events":
			return p.setRaw(&r.Events, true)
		case "detail":
			return p.setRaw(&r.Detail, true)
		}
		return p.skip()
	}); err != nil {
		return 0, err
	}
	return p.i, nil
}

// setRaw reads the next value's bytes into *dst; with nullIsNil, null
// gives nil (the decoder branches on a wrapper's field being set).
func (p *jsonParser) setRaw(dst *json.RawMessage, nullIsNil bool) error {
	v, err := p.rawValue()
	if err != nil {
		return err
	}
	if nullIsNil && string(v) == "null" {
		v = nil
	}
	*dst = v
	return nil
}

// isNull reports whether the next value is null.
func (p *jsonParser) isNull() bool {
	p.ws()
	return bytes.HasPrefix(p.b[p.i:], []byte("null"))
}

// unreadRecordKey reports whether k is a record field, spelt as CloudTrail
// spells it, that nothing reads: half of a record's keys, passed over
// before the key is lowercased for the case-insensitive match.
func unreadRecordKey(k []byte) bool {
	switch string(k) {
	case "eventVersion", "readOnly", "managementEvent", "eventCategory", "requestID",
		"tlsDetails", "errorMessage", "vpcEndpointId", "sessionCredentialFromConsole",
		"sharedEventID", "apiVersion", "serviceEventDetails":
		return true
	}
	return false
}

// userIdentity parses into u, keeping a session context in sc. Its
// pointers follow encoding/json as the record's userIdentity does.
func (p *jsonParser) userIdentity(u *userIdentity, sc *sessionContext) error {
	var buf [64]byte
	return p.object(func(k []byte) error {
		switch string(fold(k, &buf)) {
		case "type":
			return p.setIstr(&u.Type, slotUserType)
		case "principalid":
			return p.setIstr(&u.PrincipalID, slotPrincipalID)
		case "arn":
			return p.setIstr(&u.ARN, slotUserARN)
		case "accountid":
			return p.setIstr(&u.AccountID, slotUserAccount)
		case "accesskeyid":
			return p.setIstr(&u.AccessKeyID, slotAccessKey)
		case "username":
			return p.setIstr(&u.UserName, slotUserName)
		case "invokedby":
			return p.setIstr(&u.InvokedBy, slotInvokedBy)
		case "identityprovider":
			return p.setIstr(&u.IdentityProvider, slotIdP)
		case "sourceidentity":
			return p.setIstr(&u.SourceIdentity, slotSourceIdentity)
		case "sessioncontext":
			if p.isNull() {
				u.SessionContext = nil
				return p.skip()
			}
			if u.SessionContext == nil {
				*sc = sessionContext{}
				u.SessionContext = sc
			}
			if !p.isObject() {
				return p.skip()
			}
			return p.sessionContext(u.SessionContext)
		case "onbehalfof":
			if p.isNull() {
				u.OnBehalfOf = nil
				return p.skip()
			}
			if u.OnBehalfOf == nil {
				u.OnBehalfOf = &onBehalfOf{}
			}
			if !p.isObject() {
				return p.skip()
			}
			o := u.OnBehalfOf
			return p.object(func(k []byte) error {
				switch string(fold(k, &buf)) {
				case "userid":
					return p.setStr(&o.UserID)
				case "identitystorearn":
					return p.setStr(&o.IdentityStoreARN)
				}
				return p.skip()
			})
		}
		return p.skip()
	})
}

func (p *jsonParser) sessionContext(sc *sessionContext) error {
	var buf [64]byte
	return p.object(func(k []byte) error {
		switch string(fold(k, &buf)) {
		case "sourceidentity":
			return p.setIstr(&sc.SourceIdentity, slotSourceIdentity)
		case "sessionissuer":
			if !p.isObject() {
				return p.skip()
			}
			si := &sc.SessionIssuer
			return p.object(func(k []byte) error {
				switch string(fold(k, &buf)) {
				case "type":
					return p.setIstr(&si.Type, slotIssuerType)
				case "arn":
					return p.setIstr(&si.ARN, slotIssuerARN)
				case "accountid":
					return p.setIstr(&si.AccountID, slotIssuerAccount)
				case "username":
					return p.setIstr(&si.UserName, slotIssuerName)
				}
				return p.skip()
			})
		}
		return p.skip()
	})
}

// fold lowercases an ASCII key into buf, since encoding/json (and so the
// reference) matches field names case-insensitively and some re-exported
// records lower-case them. Keys longer than buf match nothing anyway; a
// key beyond ASCII has been through foldKey.
func fold(k []byte, buf *[64]byte) []byte {
	if len(k) > len(buf) {
		return k
	}
	for i, c := range k {
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	return buf[:len(k)]
}

// foldKey prepares a key with bytes beyond ASCII for fold, by
// encoding/json's rule of matching names, each character as
// unicode.ToUpper(unicode.ToLower(r)): a few characters fold to ASCII
// letters ("ſ" to S, the Kelvin sign to K, dotless "ı" to I), so
// "eventſource" names eventSource there too. It returns a copy with
// those characters replaced, or k itself when some character stays
// beyond ASCII (no field name is). The object walker calls it for a key
// stringEnd found beyond ASCII, or escaped: the names CloudTrail writes
// never are, so the copy costs nothing in practice.
func foldKey(k []byte) []byte {
	out := make([]byte, 0, len(k))
	for i := 0; i < len(k); {
		r, size := utf8.DecodeRune(k[i:])
		i += size
		if r >= utf8.RuneSelf {
			r = unicode.ToUpper(unicode.ToLower(r))
		}
		if r >= utf8.RuneSelf {
			return k
		}
		out = append(out, byte(r))
	}
	return out
}

// params parses the requestParameters object at p.i into rp: the fields
// used to build resource ARNs. Like parseRecord it leaves fields of other
// types empty.
func (p *jsonParser) params(rp *requestParams) error {
	var err error
	var buf [64]byte
	return p.object(func(k []byte) error {
		switch string(fold(k, &buf)) {
		case "bucketname":
			err = p.setStr(&rp.BucketName)
		case "key":
			err = p.setStr(&rp.Key)
		case "x-amz-copy-source":
			err = p.setStr(&rp.CopySource)
		case "username":
			err = p.setStr(&rp.UserName)
		case "rolename":
			err = p.setStr(&rp.RoleName)
		case "groupname":
			err = p.setStr(&rp.GroupName)
		case "policyarn":
			err = p.setStr(&rp.PolicyARN)
		case "functionname":
			err = p.setStr(&rp.FunctionName)
		case "tablename":
			err = p.setStr(&rp.TableName)
		case "queueurl":
			err = p.setStr(&rp.QueueURL)
		case "topicarn":
			err = p.setStr(&rp.TopicARN)
		case "keyid":
			err = p.setStr(&rp.KeyID)
		case "secretid":
			err = p.setStr(&rp.SecretID)
		case "name":
			err = p.setStr(&rp.Name)
		case "instanceid":
			err = p.setStr(&rp.InstanceID)
		case "loggroupname":
			err = p.setStr(&rp.LogGroupName)
		case "path":
			err = p.setStr(&rp.Path)
		case "rolearn":
			err = p.setStr(&rp.RoleARN)
		case "snapshotid":
			err = p.setStr(&rp.SnapshotID)
		case "trailname":
			err = p.setStr(&rp.TrailName)
		case "sourcekeyid":
			err = p.setStr(&rp.SourceKeyID)
		case "destinationkeyid":
			err = p.setStr(&rp.DestinationKeyID)
		// Lists of items, read only for the calls that need them
		// (deletedKeys, transactTables, partiQLTables): kept raw,
		// which costs no more than skipping them.
		case "delete":
			rp.delete, err = p.rawValue()
		case "transactitems":
			rp.transactItems, err = p.rawValue()
		case "statement":
			rp.statement, err = p.rawValue()
		case "statements", "transactstatements":
			rp.statements, err = p.rawValue()
		case "sourceidentity":
			var v string
			var ok bool
			if v, ok, err = p.readString(-1); ok {
				rp.sourceIdentity = v != ""
			}
		case "tags", "principaltags":
			var v []byte
			v, err = p.rawValue()
			rp.tags = len(v) > 2 && (v[0] == '[' || v[0] == '{')
		case "names":
			err = p.strings(func(s string) { rp.Names = append(rp.Names, s) })
		case "instancesset":
			if !p.isObject() {
				return p.skip()
			}
			err = p.object(func(k []byte) error {
				var buf [64]byte
				if string(fold(k, &buf)) != "items" {
					return p.skip()
				}
				return p.objects(func() error {
					return p.object(func(k []byte) error {
						var buf [64]byte
						if string(fold(k, &buf)) != "instanceid" {
							return p.skip()
						}
						id, err := p.str()
						if id != "" {
							rp.instanceIDs = append(rp.instanceIDs, id)
						}
						return err
					})
				})
			})
		default:
			err = p.skip()
		}
		return err
	})
}

// parseResources returns the ARNs of a resources array.
func parseResources(raw []byte) ([]string, error) {
	p := &jsonParser{b: raw}
	var out []string
	err := p.objects(func() error {
		var err error
		var buf [64]byte
		return p.object(func(k []byte) error {
			if string(fold(k, &buf)) != "arn" {
				return p.skip()
			}
			var a string
			if a, err = p.str(); a != "" {
				out = append(out, a)
			}
			return err
		})
	})
	return out, err
}

// strings calls fn with each string of an array (other values skipped).
// A value that is not an array is skipped.
func (p *jsonParser) strings(fn func(string)) error {
	return p.elements(func() error {
		s, err := p.str()
		if s != "" {
			fn(s)
		}
		return err
	})
}

// objects calls fn positioned at each object element of an array (other
// elements skipped). A value that is not an array is skipped.
func (p *jsonParser) objects(fn func() error) error {
	return p.elements(func() error {
		if !p.isObject() {
			return p.skip()
		}
		return fn()
	})
}

func (p *jsonParser) elements(fn func() error) error {
	p.ws()
	if p.i >= len(p.b) || p.b[p.i] != '[' {
		return p.skip()
	}
	p.i++
	p.ws()
	if p.i < len(p.b) && p.b[p.i] == ']' {
		p.i++
		return nil
	}
	for {
		if err := fn(); err != nil {
			return err
		}
		if more, err := p.more(']', "array"); !more {
			return err
		}
	}
}
