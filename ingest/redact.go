package ingest

import (
	"bytes"
)

// redactedValue replaces a secret string value.
const redactedValue = "REDACTED"

// RedactSecrets returns raw with the string value of every member named
// secretAccessKey or sessionToken (matched case-insensitively) replaced by redactedValue.
// It works on bytes, not a parse, so it also cleans records that are
// malformed JSON and end up in quarantine. CreateAccessKey and STS
// responseElements carry such values (accessKey.secretAccessKey,
// credentials.sessionToken); raw bytes that reach the store (quarantine
// entries, Event.Raw) pass through here so a secret never lands in the
// usage index; sources that quarantine undecodable bytes themselves call
// it too. raw is returned unchanged (not copied) when it holds no such
// member.
//
// Members inside a JSON string are found too: a lookup-events record is
// a string in CloudTrailEvent, where the member reads
// \"sessionToken\":\"…\" (and with more backslashes when wrapped
// again). A damaged file of those is quarantined as it is, so the escaped
// form must be cleaned as well as the plain one. A name spelt with \u
// escapes ("session\u0054oken") is not recognised: CloudTrail and the AWS
// tools never write names that way.
func RedactSecrets(raw []byte) []byte {
	var out []byte
	last := 0 // raw[last:] is not yet copied to out
	for i := 0; i < len(raw); i++ {
		if raw[i] != '"' {
			continue
		}
		// The quote's escape depth: the backslashes just before it,
		// which the member's other quotes must share.
		bs := backslashesBefore(raw, i, 0)
		end, ok := secretMember(raw, i, bs)
		if !ok {
			continue
		}
		// raw[i:end] is `"name"`; find `: "value"` after it.
		j := skipGap(raw, end, bs)
		if j >= len(raw) || raw[j] != ':' {
			continue
		}
		j = skipGap(raw, j+1, bs)
		if !quoteAt(raw, j, bs) {
			continue
		}
		start := j + bs + 1
		k := valueEnd(raw, start, bs)
		out = append(out, raw[last:start]...)
		out = append(out, redactedValue...)
		last = k
		i = k
	}
	if out == nil {
		return raw
	}
	return append(out, raw[last:]...)
}

// backslashesBefore counts the backslashes ending at raw[i-1], not
// looking before raw[from].
func backslashesBefore(raw []byte, i, from int) int {
	n := 0
	for i-n-1 >= from && raw[i-n-1] == '\\' {
		n++
	}
	return n
}

// quoteAt reports whether raw[j:] starts with a quote escaped bs times
// over: bs backslashes, then '"'.
func quoteAt(raw []byte, j, bs int) bool {
	if j+bs >= len(raw) || raw[j+bs] != '"' {
		return false
	}
	for _, c := range raw[j : j+bs] {
		if c != '\\' {
			return false
		}
	}
	return true
}

// secretMember reports whether raw[i:] starts with a secret member name
// quoted at escape depth bs and returns the index after its closing
// quote.
func secretMember(raw []byte, i, bs int) (int, bool) {
	for _, f := range [...]string{"secretAccessKey", "sessionToken"} {
		end := i + 1 + len(f)
		if quoteAt(raw, end, bs) && bytes.EqualFold(raw[i+1:end], []byte(f)) {
			return end + bs + 1, true
		}
	}
	return 0, false
}

// valueEnd returns where the string value starting at raw[start] ends:
// the index of its closing quote's escape run (or of the quote). At depth
// 0 that is the first unescaped quote. Inside a string (bs > 0) it is the
// first quote escaped at most bs times: a quote the value holds carries
// more backslashes, one with fewer closes an enclosing string, and
// stopping there can only redact more, never less. An unterminated value
// (truncated record) runs to the end.
func valueEnd(raw []byte, start, bs int) int {
	k := start
	for k < len(raw) {
		switch {
		case raw[k] == '\\' && bs == 0:
			k += 2
			continue
		case raw[k] == '"' && bs == 0:
			return k
		case raw[k] == '"':
			if r := backslashesBefore(raw, k, start); r <= bs {
				return k - r
			}
		}
		k++
	}
	return len(raw)
}

// skipGap skips the white space between a member's parts; inside a string
// (bs > 0) that may also be escaped as \n, \r or \t.
func skipGap(b []byte, i, bs int) int {
	for i < len(b) {
		switch c := b[i]; {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '\\' && bs > 0:
			j := i
			for j < len(b) && b[j] == '\\' {
				j++
			}
			if j < len(b) && (b[j] == 'n' || b[j] == 'r' || b[j] == 't') {
				i = j + 1
				continue
			}
			return i
		default:
			return i
		}
	}
	return i
}
