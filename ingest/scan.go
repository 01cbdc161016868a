package ingest

import (
	"bytes"
	"errors"
	"io"
)

// syntaxError is broken JSON structure found while splitting values.
type syntaxError string

func (e syntaxError) Error() string { return "JSON syntax: " + string(e) }

func errSyntax(msg string) error { return syntaxError(msg) }

// scanner splits a JSON stream into top-level values without decoding
// them: it only tracks strings and nesting, so it runs at memory speed and
// holds one value at a time. Decoding the value is the caller's job.
type scanner struct {
	r     io.Reader
	buf   []byte
	start int   // first unread byte
	end   int   // end of buffered data
	base  int64 // input offset of buf[0]
	err   error // sticky read error; io.EOF at the end
	max   int
}

func newScanner(r io.Reader, max int) *scanner {
	return &scanner{r: r, buf: make([]byte, 64<<10), max: max}
}

func (s *scanner) reset(r io.Reader) {
	s.r = r
	s.start, s.end, s.base, s.err = 0, 0, 0, nil
}

// fill reads more input, keeping buf[start:end]. It returns false when
// nothing more can be read.
func (s *scanner) fill() bool {
	if s.err != nil {
		return false
	}
	if s.start > 0 && s.start == s.end {
		s.base += int64(s.start)
		s.start, s.end = 0, 0
	}
	if s.end == len(s.buf) {
		if s.start > 0 {
			n := copy(s.buf, s.buf[s.start:s.end])
			s.base += int64(s.start)
			s.start, s.end = 0, n
		} else {
			nb := make([]byte, 2*len(s.buf))
			copy(nb, s.buf[:s.end])
			s.buf = nb
		}
	}
	for range 100 {
		n, err := s.r.Read(s.buf[s.end:])
		s.end += n
		if err != nil {
			s.err = err
			return n > 0
		}
		if n > 0 {
			return true
		}
	}
	s.err = io.ErrNoProgress
	return false
}

// offset is the input offset of the next unread byte.
func (s *scanner) offset() int64 { return s.base + int64(s.start) }

func (s *scanner) advance(n int) { s.start += n }

// peek returns up to n buffered bytes without consuming them.
func (s *scanner) peek(n int) []byte {
	for s.end-s.start < n && s.fill() {
	}
	return s.buf[s.start:min(s.end, s.start+n)]
}

// rest returns a reader of the unread input (buffered bytes first). It
// reads s's buffer, so s must not be used again while it is in use.
//
// Input that fits in the buffer (a CloudTrail log file is ~10 KB gzipped)
// is read to its end first and returned as a *bytes.Reader: gzip then
// decodes straight from memory (klauspost has a decoder loop for it)
// instead of through a bufio.Reader copying from a MultiReader, and the
// read that finds the end is the one the MultiReader would have made.
func (s *scanner) rest() io.Reader {
	for s.err == nil && s.end < len(s.buf) {
		s.fill()
	}
	buffered := bytes.NewReader(s.buf[s.start:s.end])
	s.start = s.end
	if s.err != nil {
		if errors.Is(s.err, io.EOF) {
			return buffered
		}
		return io.MultiReader(buffered, errReader{s.err})
	}
	return io.MultiReader(buffered, s.r)
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// pending returns (a prefix of) the unread bytes, for quarantine entries.
func (s *scanner) pending() []byte {
	n := min(s.end-s.start, 4<<10)
	return s.buf[s.start : s.start+n]
}

func (s *scanner) skipBOM() {
	if b := s.peek(3); bytes.Equal(b, []byte{0xef, 0xbb, 0xbf}) {
		s.advance(3)
	}
}

// skipSpace skips whitespace and returns the next byte.
func (s *scanner) skipSpace() (byte, bool) {
	for {
		for s.start < s.end {
			switch c := s.buf[s.start]; c {
			case ' ', '\t', '\n', '\r':
				s.start++
			default:
				return c, true
			}
		}
		if !s.fill() {
			return 0, false
		}
	}
}

// nextIsNewline reports whether only spaces and tabs come before the next
// newline (or the end).
func (s *scanner) nextIsNewline() bool {
	for i := s.start; ; i++ {
		if i == s.end {
			rel := i - s.start
			if !s.fill() {
				return true
			}
			i = s.start + rel
		}
		switch s.buf[i] {
		case ' ', '\t', '\r':
		case '\n':
			return true
		default:
			return false
		}
	}
}

// hasKeyPrefix reports whether the unread input starts with {"key":
// (whitespace allowed), without consuming it.
func (s *scanner) hasKeyPrefix(key string) bool {
	b := s.peek(64 + len(key))
	i := 0
	ws := func() {
		for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
			i++
		}
	}
	if i >= len(b) || b[i] != '{' {
		return false
	}
	i++
	ws()
	want := `"` + key + `"`
	if !bytes.HasPrefix(b[i:], []byte(want)) {
		return false
	}
	i += len(want)
	ws()
	return i < len(b) && b[i] == ':'
}

// line returns the bytes up to the next newline (or the end), consumed.
func (s *scanner) line() ([]byte, error) {
	from := s.start
	for {
		if j := bytes.IndexByte(s.buf[from:s.end], '\n'); j >= 0 {
			l := s.buf[s.start : from+j]
			s.start = from + j + 1
			return l, nil
		}
		if s.end-s.start > s.max {
			return nil, errTooLarge
		}
		rel := s.end - s.start
		if !s.fill() {
			l := s.buf[s.start:s.end]
			s.start = s.end
			if s.err != nil && !errors.Is(s.err, io.EOF) {
				return l, s.err
			}
			return l, nil
		}
		from = s.start + rel
	}
}

// skipLine consumes up to and including the next newline and returns what
// it skipped (capped).
func (s *scanner) skipLine() []byte {
	var skipped []byte
	for {
		if j := bytes.IndexByte(s.buf[s.start:s.end], '\n'); j >= 0 {
			skipped = appendCapped(skipped, s.buf[s.start:s.start+j])
			s.start += j + 1
			return skipped
		}
		skipped = appendCapped(skipped, s.buf[s.start:s.end])
		s.start = s.end
		if !s.fill() {
			return skipped
		}
	}
}

func appendCapped(dst, src []byte) []byte {
	if room := 4<<10 - len(dst); room > 0 {
		dst = append(dst, src[:min(room, len(src))]...)
	}
	return dst
}

// value consumes one JSON value (object, array, string or literal) and
// returns its bytes, valid until the next call. It checks nesting and
// string boundaries only. A value cut short by the end of input gives
// io.ErrUnexpectedEOF (or the read error).
func (s *scanner) value() ([]byte, error) {
	if s.start == s.end && !s.fill() {
		return nil, s.eofErr()
	}
	i := s.start // scan position
	depth := 0
	more := func() bool {
		if s.end-s.start > s.max {
			return false
		}
		rel := i - s.start
		ok := s.fill()
		i = s.start + rel
		return ok
	}
	first := s.buf[i]
	switch first {
	case '{', '[':
	case '"':
	case '}', ']', ',', ':':
		return nil, errSyntax("unexpected " + string(first))
	default:
		// literal: up to a delimiter
		for {
			for i < s.end {
				switch s.buf[i] {
				case ',', '}', ']', ' ', '\t', '\n', '\r', ':':
					v := s.buf[s.start:i]
					s.start = i
					return v, nil
				}
				i++
			}
			if !more() {
				if s.end-s.start > s.max {
					return nil, errTooLarge
				}
				v := s.buf[s.start:i]
				s.start = i
				return v, nil
			}
		}
	}
	inString := false
	for {
		for i < s.end {
			if inString {
				j := bytes.IndexByte(s.buf[i:s.end], '"')
				if j < 0 {
					i = s.end
					break
				}
				i += j
				// An escaped quote has an odd number of backslashes before it.
				k := i - 1
				for k >= s.start && s.buf[k] == '\\' {
					k--
				}
				i++
				if (i-2-k)%2 == 1 {
					continue
				}
				inString = false
				if depth == 0 {
					v := s.buf[s.start:i]
					s.start = i
					return v, nil
				}
				continue
			}
			switch s.buf[i] {
			case '"':
				inString = true
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					i++
					v := s.buf[s.start:i]
					s.start = i
					return v, nil
				}
				if depth < 0 {
					return nil, errSyntax("unbalanced " + string(s.buf[i]))
				}
			}
			i++
		}
		if !more() {
			if s.end-s.start > s.max {
				return nil, errTooLarge
			}
			return nil, s.eofErr()
		}
	}
}

func (s *scanner) eofErr() error {
	if s.err == nil || errors.Is(s.err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return s.err
}

// seekTail is how many bytes seek keeps unconsumed when it refills: a
// match that straddles the end of the buffer is found after the refill.
const seekTail = 256

// seek consumes input up to the next match of find after the first unread
// byte and returns what it skipped (capped, for quarantine entries) and
// whether it found a match. find returns the index of the first complete
// match in b, or -1. The skipped bytes are discarded as the search goes,
// so seeking through a large input does not grow the buffer. Without a
// match it consumes everything up to the end of input.
func (s *scanner) seek(find func(b []byte) int) ([]byte, bool) {
	var skipped []byte
	from := s.start + 1 // never match at the damaged value's own start
	for {
		if from < s.end {
			if j := find(s.buf[from:s.end]); j >= 0 {
				skipped = appendCapped(skipped, s.buf[s.start:from+j])
				s.start = from + j
				return skipped, true
			}
		}
		if keep := min(max(from, s.end-seekTail), s.end); keep > s.start {
			skipped = appendCapped(skipped, s.buf[s.start:keep])
			s.start = keep
		}
		if !s.fill() {
			skipped = appendCapped(skipped, s.buf[s.start:s.end])
			s.start = s.end
			return skipped, false
		}
		from = s.start
	}
}

// findLineObject finds a newline directly followed by '{': in JSON lines,
// the start of the next record.
func findLineObject(b []byte) int { return bytes.Index(b, []byte("\n{")) }

// findRecordStart finds an array element that starts with key: a ','
// then '{' then "key" then ':', whitespace allowed in between. In valid
// JSON that byte sequence is always structure, never string content,
// because the quote before the key would end any string it was in.
func findRecordStart(b []byte, key string) int {
	for i := 0; ; i++ {
		j := bytes.IndexByte(b[i:], ',')
		if j < 0 {
			return -1
		}
		i += j
		k := skipWS(b, i+1)
		if k >= len(b) || b[k] != '{' {
			continue
		}
		k = skipWS(b, k+1)
		if k >= len(b) || b[k] != '"' || !bytes.HasPrefix(b[k+1:], []byte(key)) {
			continue
		}
		k += 1 + len(key)
		if k >= len(b) || b[k] != '"' {
			continue
		}
		if k = skipWS(b, k+1); k < len(b) && b[k] == ':' {
			return i
		}
	}
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}
