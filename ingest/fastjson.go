package ingest

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/bits"
	"unsafe"
)

// This file decodes the fields of a record that ingest reads straight from
// the bytes, skipping everything else without building it. encoding/json
// scans each record twice (validate, then decode) and allocates for every
// field it visits; on real CloudTrail (1.26 KB a record, most of it in
// requestParameters/responseElements we never look at) it ran at about a
// third of the gunzip speed, this at about twice that (docs/performance.md).
// The skipped parts are checked for structure (balanced brackets, closed
// strings, known literals) but not fully validated. The differential fuzz
// test holds it to encoding/json's answers.

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
// starts at p.i (a '"'), and whether it holds escapes.
//
// Most strings in a record are short keys and values, for which two
// bytes.IndexByte calls (quote, then backslash) cost more in call
// overhead than in scanning, and string scanning was 14 % of decoding.
// So the first bytes are scanned eight at a time for either byte in a
// word (SWAR); a string still open after that is left to IndexByte's
// vector loop.
func (p *jsonParser) stringEnd() (int, bool, error) {
	b := p.b
	j := p.i + 1
	for n := 0; n < swarWords && j+8 <= len(b); n++ {
		x := binary.LittleEndian.Uint64(b[j:])
		q := x ^ (swarLow * '"')
		s := x ^ (swarLow * '\\')
		if m := ((q-swarLow)&^q | (s-swarLow)&^s) & swarHigh; m != 0 {
			j += bits.TrailingZeros64(m) >> 3
			if b[j] == '"' {
				return j + 1, false, nil
			}
			return p.escapedEnd(j)
		}
		j += 8
	}
	k := bytes.IndexByte(b[j:], '"')
	if k < 0 {
		return 0, false, p.errf("unterminated string")
	}
	bs := bytes.IndexByte(b[j:j+k], '\\')
	if bs < 0 {
		return j + k + 1, false, nil
	}
	return p.escapedEnd(j + bs)
}

// Constants of the word-at-a-time byte search: a word with 0x01 (0x80) in
// every byte. The lowest byte flagged by (x-low)&^x&high is exactly the
// first zero byte of x; higher flags may be borrows, so only the lowest
// is used.
const (
	swarLow   = 0x0101010101010101
	swarHigh  = 0x8080808080808080
	swarWords = 4
)

// escapedEnd finishes stringEnd from m, the index of a backslash.
func (p *jsonParser) escapedEnd(m int) (int, bool, error) {
	for m < len(p.b) {
		switch p.b[m] {
		case '\\':
			m += 2
		case '"':
			return m + 1, true, nil
		default:
			m++
		}
	}
	return 0, false, p.errf("unterminated string")
}

// str reads a string value; a value of another type is skipped and gives "".
func (p *jsonParser) str() (string, error) { return p.readString(-1) }

// istr is str for a value that repeats across records: interned when the
// parser has an interner.
func (p *jsonParser) istr(slot int) (string, error) { return p.readString(slot) }

// viewStr is str without a copy when the string has no escapes: the result
// shares the parsed bytes and is valid only while they are. For values
// that are read during the record's conversion and never kept (its time).
func (p *jsonParser) viewStr() (string, error) { return p.readString(slotView) }

// slotView asks readString for a string sharing the input (viewStr).
const slotView = -2

func (p *jsonParser) readString(slot int) (string, error) {
	p.ws()
	if p.i >= len(p.b) {
		return "", p.errf("unexpected end")
	}
	if p.b[p.i] != '"' {
		return "", p.skip()
	}
	end, esc, err := p.stringEnd()
	if err != nil {
		return "", err
	}
	raw := p.b[p.i:end]
	p.i = end
	if !esc {
		body := raw[1 : len(raw)-1]
		switch {
		case slot == slotView && len(body) > 0:
			return unsafe.String(&body[0], len(body)), nil
		case slot >= 0 && p.strs != nil:
			return p.strs.str(slot, body), nil
		}
		return string(body), nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", p.errf("bad string escape")
	}
	return s, nil
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
		end, esc, err := p.stringEnd()
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
		if esc {
			var k string
			if json.Unmarshal(p.b[end-len(key)-2:end], &k) != nil {
				return p.errf("bad key escape")
			}
			key = []byte(k)
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
	if err != nil {
		return err
	}
	p := &jsonParser{b: raw, i: n}
	p.ws()
	if p.i != len(p.b) {
		return p.errf("data after the record")
	}
	return nil
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
	var err error
	if err = p.object(func(k []byte) error {
		if unreadRecordKey(k) {
			return p.skip()
		}
		switch string(fold(k, &buf)) {
		case "eventid":
			r.EventID, err = p.str()
		case "eventtime":
			r.EventTime, err = p.viewStr()
		case "@timestamp":
			r.Timestamp, err = p.viewStr()
		case "eventsource":
			r.EventSource, err = p.istr(slotEventSource)
		case "eventname":
			r.EventName, err = p.istr(slotEventName)
		case "eventtype":
			r.EventType, err = p.istr(slotEventType)
		case "awsregion":
			r.AWSRegion, err = p.istr(slotRegion)
		case "sourceipaddress":
			r.SourceIPAddress, err = p.istr(slotSourceIP)
		case "useragent":
			r.UserAgent, err = p.istr(slotUserAgent)
		case "errorcode":
			r.ErrorCode, err = p.istr(slotErrorCode)
		case "recipientaccountid":
			r.RecipientAccountID, err = p.istr(slotRecipient)
		case "detail-type":
			r.DetailType, err = p.str()
		case "digeststarttime":
			r.DigestStart, err = p.str()
		case "cloudtrailevent":
			p.ws()
			if p.i < len(p.b) && p.b[p.i] == '"' {
				var s string
				if s, err = p.str(); err == nil {
					r.CloudTrailEvent = &s
				}
			} else {
				err = p.skip()
			}
		case "useridentity":
			if p.isObject() {
				r.ui, r.sc = userIdentity{}, sessionContext{}
				r.UserIdentity = &r.ui
				err = p.userIdentity(r.UserIdentity, &r.sc)
			} else {
				err = p.skip()
			}
		case "requestparameters":
			// Parsed here for the resource fields rather than skipped
			// and parsed again by the conversion.
			p.ws()
			start := p.i
			if p.isObject() {
				r.params = requestParams{}
				err = p.params(&r.params)
			} else {
				err = p.skip()
			}
			if err == nil {
				r.RequestParameters = p.b[start:p.i]
			}
		case "resources":
			r.Resources, err = p.rawValue()
		case "records":
			r.Records, err = p.rawValue()
			if err == nil && bytes.Equal(r.Records, []byte("null")) {
				r.Records = nil
			}
		case "events":
			r.Events, err = p.rawValue()
			if err == nil && bytes.Equal(r.Events, []byte("null")) {
				r.Events = nil
			}
		case "detail":
			r.Detail, err = p.rawValue()
			if err == nil && bytes.Equal(r.Detail, []byte("null")) {
				r.Detail = nil
			}
		default:
			err = p.skip()
		}
		return err
	}); err != nil {
		return 0, err
	}
	return p.i, nil
}

// unreadRecordKey reports whether k is a record field, spelt as CloudTrail
// spells it, that nothing reads: half of a record's keys, passed over
// before the key is lowercased for the case-insensitive match.
func unreadRecordKey(k []byte) bool {
	switch string(k) {
	case "eventVersion", "responseElements", "readOnly", "managementEvent", "eventCategory", "requestID",
		"tlsDetails", "additionalEventData", "errorMessage", "vpcEndpointId", "sessionCredentialFromConsole",
		"sharedEventID", "apiVersion", "serviceEventDetails":
		return true
	}
	return false
}

// userIdentity parses into u, keeping a session context in sc.
func (p *jsonParser) userIdentity(u *userIdentity, sc *sessionContext) error {
	var err error
	var buf [64]byte
	return p.object(func(k []byte) error {
		switch string(fold(k, &buf)) {
		case "type":
			u.Type, err = p.istr(slotUserType)
		case "principalid":
			u.PrincipalID, err = p.istr(slotPrincipalID)
		case "arn":
			u.ARN, err = p.istr(slotUserARN)
		case "accountid":
			u.AccountID, err = p.istr(slotUserAccount)
		case "accesskeyid":
			u.AccessKeyID, err = p.istr(slotAccessKey)
		case "username":
			u.UserName, err = p.istr(slotUserName)
		case "invokedby":
			u.InvokedBy, err = p.istr(slotInvokedBy)
		case "identityprovider":
			u.IdentityProvider, err = p.istr(slotIdP)
		case "sourceidentity":
			u.SourceIdentity, err = p.istr(slotSourceIdentity)
		case "sessioncontext":
			if p.isObject() {
				u.SessionContext = sc
				err = p.sessionContext(u.SessionContext)
			} else {
				err = p.skip()
			}
		case "onbehalfof":
			if p.isObject() {
				u.OnBehalfOf = &onBehalfOf{}
				err = p.object(func(k []byte) error {
					switch string(fold(k, &buf)) {
					case "userid":
						u.OnBehalfOf.UserID, err = p.str()
					case "identitystorearn":
						u.OnBehalfOf.IdentityStoreARN, err = p.str()
					default:
						err = p.skip()
					}
					return err
				})
			} else {
				err = p.skip()
			}
		default:
			err = p.skip()
		}
		return err
	})
}

func (p *jsonParser) sessionContext(sc *sessionContext) error {
	var err error
	var buf [64]byte
	return p.object(func(k []byte) error {
		switch string(fold(k, &buf)) {
		case "sourceidentity":
			sc.SourceIdentity, err = p.istr(slotSourceIdentity)
		case "sessionissuer":
			if !p.isObject() {
				return p.skip()
			}
			si := &sc.SessionIssuer
			err = p.object(func(k []byte) error {
				switch string(fold(k, &buf)) {
				case "type":
					si.Type, err = p.istr(slotIssuerType)
				case "arn":
					si.ARN, err = p.istr(slotIssuerARN)
				case "accountid":
					si.AccountID, err = p.istr(slotIssuerAccount)
				case "username":
					si.UserName, err = p.istr(slotIssuerName)
				default:
					err = p.skip()
				}
				return err
			})
		default:
			err = p.skip()
		}
		return err
	})
}

// fold lowercases an ASCII key into buf, since encoding/json (and so the
// reference) matches field names case-insensitively and some re-exported
// records lower-case them. Keys longer than buf match nothing anyway.
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

// params parses the requestParameters object at p.i into rp: the fields
// used to build resource ARNs. Like parseRecord it leaves fields of other
// types empty.
func (p *jsonParser) params(rp *requestParams) error {
	var err error
	var buf [64]byte
	return p.object(func(k []byte) error {
		switch string(fold(k, &buf)) {
		case "bucketname":
			rp.BucketName, err = p.str()
		case "key":
			rp.Key, err = p.str()
		case "x-amz-copy-source":
			rp.CopySource, err = p.str()
		case "username":
			rp.UserName, err = p.str()
		case "rolename":
			rp.RoleName, err = p.str()
		case "groupname":
			rp.GroupName, err = p.str()
		case "policyarn":
			rp.PolicyARN, err = p.str()
		case "functionname":
			rp.FunctionName, err = p.str()
		case "tablename":
			rp.TableName, err = p.str()
		case "queueurl":
			rp.QueueURL, err = p.str()
		case "topicarn":
			rp.TopicARN, err = p.str()
		case "keyid":
			rp.KeyID, err = p.str()
		case "secretid":
			rp.SecretID, err = p.str()
		case "name":
			rp.Name, err = p.str()
		case "instanceid":
			rp.InstanceID, err = p.str()
		case "loggroupname":
			rp.LogGroupName, err = p.str()
		case "path":
			rp.Path, err = p.str()
		case "rolearn":
			rp.RoleARN, err = p.str()
		case "sourcekeyid":
			rp.SourceKeyID, err = p.str()
		case "destinationkeyid":
			rp.DestinationKeyID, err = p.str()
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
			v, err = p.str()
			rp.sourceIdentity = v != ""
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
