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
func RedactSecrets(raw []byte) []byte {
	var out []byte
	last := 0 // raw[last:] is not yet copied to out
	for i := 0; i < len(raw); i++ {
		if raw[i] != '"' {
			continue
		}
		end, ok := secretMember(raw, i)
		if !ok {
			continue
		}
		// raw[i:end] is `"name"`; find `: "value"` after it.
		j := skipSpace(raw, end)
		if j >= len(raw) || raw[j] != ':' {
			continue
		}
		j = skipSpace(raw, j+1)
		if j >= len(raw) || raw[j] != '"' {
			continue
		}
		start := j + 1
		k := start
		for k < len(raw) && raw[k] != '"' {
			if raw[k] == '\\' {
				k++
			}
			k++
		}
		// An unterminated value (truncated record) is cut at the end.
		k = min(k, len(raw))
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

// secretMember reports whether raw[i:] starts with a quoted secret member
// name and returns the index after its closing quote.
func secretMember(raw []byte, i int) (int, bool) {
	for _, f := range [...]string{"secretAccessKey", "sessionToken"} {
		end := i + 1 + len(f)
		if end < len(raw) && raw[end] == '"' && bytes.EqualFold(raw[i+1:end], []byte(f)) {
			return end + 1, true
		}
	}
	return 0, false
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}
