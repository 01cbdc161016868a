package ingest

import (
	"bytes"
	"strings"
	"unicode/utf8"
)

// redactedValue replaces a secret string value.
const redactedValue = "REDACTED"

// credentialNames are the member names, lowercased, whose values are
// credentials in what CloudTrail records (responseElements and
// requestParameters), from the API references:
//   - secretAccessKey: IAM CreateAccessKey AccessKey, STS Credentials
//     (AssumeRole*, GetSessionToken, GetFederationToken), IAM Identity
//     Center GetRoleCredentials RoleCredentials
//     (https://docs.aws.amazon.com/IAM/latest/APIReference/API_AccessKey.html,
//     https://docs.aws.amazon.com/STS/latest/APIReference/API_Credentials.html,
//     https://docs.aws.amazon.com/singlesignon/latest/PortalAPIReference/API_RoleCredentials.html)
//   - sessionToken: the same STS and Identity Center credentials, and
//     Cognito Identity Credentials
//   - secretKey: Cognito Identity GetCredentialsForIdentity Credentials
//     (https://docs.aws.amazon.com/cognitoidentity/latest/APIReference/API_Credentials.html)
//   - servicePassword: IAM CreateServiceSpecificCredential and
//     ResetServiceSpecificCredential ServiceSpecificCredential
//   - password, newPassword, oldPassword, previousPassword,
//     proposedPassword, masterUserPassword, dbPassword: IAM login
//     profiles and ChangePassword, Cognito ChangePassword, RDS, Redshift
//     GetClusterCredentials
//   - privateKey: IoT CreateKeysAndCertificate KeyPair, ACM
//     ExportCertificate
//   - accessToken, refreshToken, idToken, clientSecret: Cognito user pool
//     AuthenticationResult and app clients, IAM Identity Center OIDC
//     CreateToken and RegisterClient
//   - secretString, secretBinary: Secrets Manager
//   - authorizationToken: ECR and CodeArtifact GetAuthorizationToken
//
// CloudTrail hides most of these itself (HIDDEN_DUE_TO_SECURITY_REASONS);
// the credentials of STS, Cognito Identity and CreateAccessKey it does not.
var credentialNames = []string{
	"secretaccesskey", "sessiontoken", "secretkey", "servicepassword",
	"password", "newpassword", "oldpassword", "previouspassword", "proposedpassword", "masteruserpassword", "dbpassword",
	"privatekey", "accesstoken", "refreshtoken", "idtoken", "clientsecret",
	"secretstring", "secretbinary", "authorizationtoken",
}

// credentialByLen indexes credentialNames by length: the intact-record
// scan compares a string only with the names of its length.
var credentialByLen = func() (m [32][]string) {
	for _, n := range credentialNames {
		m[len(n)] = append(m[len(n)], n)
	}
	return m
}()

// maxNameLen bounds the member names the scan decodes: the longest
// credential name spelt entirely in \u escapes at depth 2, with room.
const maxNameLen = 512

// RedactSecrets returns raw, a well-formed record, with the string value
// of every credential member (credentialNames, matched case-insensitively,
// also when spelt with \u escapes) replaced by redactedValue. Raw bytes of
// intact records that reach the store (Event.Raw) pass through here. raw
// is returned unchanged (not copied) when it holds no such member.
//
// It works on bytes, not a parse. Members inside a JSON string are found
// too: a lookup-events record is a string in CloudTrailEvent, where the
// member reads \"sessionToken\":\"…\" (and with more backslashes when
// wrapped again).
//
// Damaged records need more than this: RedactQuarantined.
func RedactSecrets(raw []byte) []byte {
	var out []byte
	last := 0 // raw[last:] is not yet copied to out
	for i := 0; i < len(raw); i++ {
		j := bytes.IndexByte(raw[i:], '"')
		if j < 0 {
			break
		}
		i += j
		// The quote's escape depth: the backslashes just before it,
		// which the member's other quotes must share.
		bs := backslashesBefore(raw, i, 0)
		end, ok := secretMember(raw, i, bs)
		if !ok {
			continue
		}
		// raw[i:end] is `"name"`; find `: "value"` after it.
		k := skipGap(raw, end, bs)
		if k >= len(raw) || raw[k] != ':' {
			continue
		}
		k = skipGap(raw, k+1, bs)
		if !quoteAt(raw, k, bs) {
			continue
		}
		start := k + bs + 1
		stop := valueEnd(raw, start, bs)
		out = append(out, raw[last:start]...)
		out = append(out, redactedValue...)
		last = stop
		i = stop
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

// namePrefix marks the first two letters, lowercased, of the credential
// names: most member names start otherwise, and the scan of an intact
// record stops there (RedactSecrets runs on every record kept raw).
var namePrefix = func() (t [26 * 26]bool) {
	for _, n := range credentialNames {
		t[int(n[0]-'a')*26+int(n[1]-'a')] = true
	}
	return t
}()

// mayStartName reports whether b, the bytes after an opening quote, may
// start a credential name: its first two letters start one, or it
// starts with an escape.
func mayStartName(b []byte) bool {
	if len(b) < 2 {
		return false
	}
	if b[0] == '\\' || b[1] == '\\' {
		return true
	}
	c0, c1 := b[0]|0x20, b[1]|0x20 // ASCII lower case; others fail the range check
	return 'a' <= c0 && c0 <= 'z' && 'a' <= c1 && c1 <= 'z' && namePrefix[int(c0-'a')*26+int(c1-'a')]
}

// maxPlainName is the longest credential name.
var maxPlainName = func() (m int) {
	for _, n := range credentialNames {
		m = max(m, len(n))
	}
	return m
}()

// secretMember reports whether raw[i:], a quote at escape depth bs,
// starts a quoted credential name, and returns the index after its
// closing quote.
func secretMember(raw []byte, i, bs int) (int, bool) {
	if i+1 >= len(raw) || !mayStartName(raw[i+1:]) {
		return 0, false
	}
	if bs == 0 {
		// The common case, a member of the record itself: without an
		// escape, the name's closing quote comes within the longest
		// name's length.
		w := raw[i+1 : min(len(raw), i+2+maxPlainName)]
		j := bytes.IndexByte(w, '"')
		if j >= 0 && bytes.IndexByte(w[:j], '\\') < 0 {
			name := w[:j]
			if len(name) < len(credentialByLen) {
				for _, n := range credentialByLen[len(name)] {
					if equalFoldASCII(name, n) {
						return i + 2 + j, true
					}
				}
			}
			return 0, false
		}
		if j < 0 && bytes.IndexByte(w, '\\') < 0 {
			return 0, false
		}
	}
	limit := i + 1 + maxNameLen
	// The closing quote: the next quote with the same escape prefix.
	from := i + 1
	for {
		j := bytes.IndexByte(raw[from:min(len(raw), limit)], '"')
		if j < 0 {
			return 0, false
		}
		q := from + j
		if r := backslashesBefore(raw, q, i+1); r == bs {
			name := raw[i+1 : q-bs]
			if bytes.IndexByte(name, '\\') < 0 {
				if len(name) >= len(credentialByLen) {
					return 0, false
				}
				for _, n := range credentialByLen[len(name)] {
					if equalFoldASCII(name, n) {
						return q + 1, true
					}
				}
				return 0, false
			}
			return q + 1, isCredentialName(unescapeName(name))
		} else if r < bs {
			return 0, false // a quote that closes an enclosing string
		}
		from = q + 1
	}
}

// equalFoldASCII reports whether b equals the lowercase ASCII name
// ignoring case.
func equalFoldASCII(b []byte, name string) bool {
	for k := range b {
		c := b[k]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != name[k] {
			return false
		}
	}
	return true
}

func isCredentialName(name string) bool {
	for _, n := range credentialNames {
		if name == n {
			return true
		}
	}
	return false
}

// unescapeName decodes a member name written with JSON escapes, at any
// depth of quoting (a run of backslashes, then u and four hex digits, or
// one escaped character), and lowercases it. A name is what a JSON parser
// would read: "session\u0054oken" is sessionToken.
func unescapeName(b []byte) string {
	var sb strings.Builder
	for k := 0; k < len(b); k++ {
		c := b[k]
		if c == '\\' {
			for k < len(b) && b[k] == '\\' {
				k++
			}
			if k >= len(b) {
				break
			}
			if b[k] == 'u' && k+4 < len(b) {
				if r, ok := hex4(b[k+1 : k+5]); ok {
					sb.WriteRune(toLower(r))
					k += 4
					continue
				}
			}
			c = b[k]
		}
		sb.WriteRune(toLower(rune(c)))
	}
	return sb.String()
}

func toLower(r rune) rune {
	if 'A' <= r && r <= 'Z' {
		return r + 'a' - 'A'
	}
	return r
}

func hex4(b []byte) (rune, bool) {
	var r rune
	for _, c := range b {
		switch {
		case '0' <= c && c <= '9':
			r = r<<4 | rune(c-'0')
		case 'a' <= c && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case 'A' <= c && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
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

// RedactQuarantined returns raw, a record that could not be used, with
// its secrets masked. A quarantined record is damaged by definition, so
// this fails closed: after the member-by-member pass of RedactSecrets it
//
//   - masks whatever follows a credential-looking word, quoted or not,
//     up to the next structural boundary (',', '{', '}', '[', ']' or a
//     line end): a stray byte before the value, a value without quotes,
//     a stray quote inside it, a name with a damaged letter
//     ("secretAccessKez") or spelt with \u escapes all end masked;
//   - masks every run shaped like a secret key or session token, with or
//     without its name: 40 or more characters of the base64 alphabet
//     holding letters and digits (a secret access key is 40, session
//     tokens hundreds).
//
// It masks more than the secrets (any value after a word such as
// "token", a long base64 run that was an S3 key): a quarantined record
// is kept to show why it failed, not for its values. The result is
// always a new slice.
func RedactQuarantined(raw []byte) []byte {
	out := bytes.Clone(RedactSecrets(raw))
	out = maskAfterNames(out)
	maskTokenRuns(out)
	return out
}

// credentialStems mark a word as credential-looking wherever they occur
// in it (clientSecret, x-amz-security-token, nextToken: masking a value
// that was no secret costs a quarantined record nothing).
var credentialStems = []string{"secret", "token", "password", "passwd", "privatekey", "credential"}

// credentialWord reports whether w, a word of a damaged record, looks
// like the name of a credential: it holds a stem, or it is one edit away
// from a credential name or stem (a damaged letter).
func credentialWord(w string) bool {
	if len(w) < 5 {
		return false
	}
	for _, s := range credentialStems {
		if strings.Contains(w, s) {
			return true
		}
	}
	for _, n := range credentialNames {
		if oneEdit(w, n) {
			return true
		}
	}
	for _, s := range credentialStems {
		if len(s) >= 6 && oneEdit(w, s) {
			return true
		}
	}
	return false
}

// oneEdit reports whether a and b differ by at most one substituted,
// inserted or deleted byte.
func oneEdit(a, b string) bool {
	if len(a) < len(b) {
		a, b = b, a
	}
	if len(a)-len(b) > 1 {
		return false
	}
	i := 0
	for i < len(b) && a[i] == b[i] {
		i++
	}
	if i == len(b) {
		return true
	}
	if len(a) == len(b) {
		return a[i+1:] == b[i+1:]
	}
	return a[i+1:] == b[i:]
}

// maskAfterNames masks the value after every credential-looking word of
// raw (see RedactQuarantined).
func maskAfterNames(raw []byte) []byte {
	var out []byte
	last := 0
	for i := 0; i < len(raw); {
		ws, we, w := nextWord(raw, i)
		if ws < 0 {
			break
		}
		i = we
		if !credentialWord(w) {
			continue
		}
		// The value starts after the name's closing quotes, a ':' (or
		// '=') and the gap around it; whatever else stands there (a stray
		// byte, an opening quote) is masked with the value.
		k := we
		for k < len(raw) && (raw[k] == '"' || raw[k] == '\\' || raw[k] == ' ' || raw[k] == '\t' || raw[k] == '\r') {
			k++
		}
		if k < len(raw) && (raw[k] == ':' || raw[k] == '=') {
			k++
		}
		for k < len(raw) && (raw[k] == ' ' || raw[k] == '\t' || raw[k] == '\r') {
			k++
		}
		if k >= len(raw) || raw[k] == '{' || raw[k] == '[' {
			continue // an object's members are names of their own
		}
		end := k
		for end < len(raw) && !maskEnd(raw[end]) {
			end++
		}
		if end == k || redactedAlready(raw[k:end]) {
			continue
		}
		out = append(out, raw[last:k]...)
		out = append(out, `"`+redactedValue+`"`...)
		last, i = end, end
	}
	if out == nil {
		return raw
	}
	return append(out, raw[last:]...)
}

// maskEnd reports whether c ends a masked value: JSON structure, or a
// line end (JSON lines, and the escaped \n of pretty-printed strings
// is masked with the value, which errs the safe way).
func maskEnd(c byte) bool {
	switch c {
	case ',', '{', '}', '[', ']', '\n':
		return true
	}
	return false
}

// redactedAlready reports whether v is a value RedactSecrets or an
// earlier mask left: "REDACTED" in any quoting, with the escaped white
// space of a pretty-printed string around it.
func redactedAlready(v []byte) bool {
	before, after, ok := bytes.Cut(v, []byte(redactedValue))
	if !ok {
		return false
	}
	for _, part := range [][]byte{before, after} {
		for k, c := range part {
			switch {
			case c == '"' || c == '\\' || c == ' ' || c == '\t' || c == '\r':
			case (c == 'n' || c == 'r' || c == 't') && k > 0 && part[k-1] == '\\':
			default:
				return false
			}
		}
	}
	return true
}

// nextWord finds the next word of raw at or after i: a run of letters,
// digits, '_' and '-' and of \u escapes (read as the letters they spell),
// lowercased without its '_' and '-'. It returns -1 when there is none.
func nextWord(raw []byte, i int) (start, end int, word string) {
	for i < len(raw) && !wordByte(raw, i) {
		i++
	}
	if i >= len(raw) {
		return -1, -1, ""
	}
	start = i
	var sb strings.Builder
	for i < len(raw) && wordByte(raw, i) {
		c := raw[i]
		if c == '\\' {
			for raw[i] == '\\' {
				i++
			}
			r, _ := hex4(raw[i+1 : i+5])
			i += 5
			if r < utf8.RuneSelf {
				sb.WriteRune(toLower(r))
			}
			continue
		}
		i++
		switch {
		case c == '_' || c == '-':
		case 'A' <= c && c <= 'Z':
			sb.WriteByte(c + 'a' - 'A')
		default:
			sb.WriteByte(c)
		}
		if sb.Len() > 64 {
			// Not a name: skip the rest of the run.
			for i < len(raw) && wordByte(raw, i) {
				i++
			}
			return start, i, ""
		}
	}
	return start, i, sb.String()
}

// wordByte reports whether raw[i] continues a word: a letter, digit, '_',
// '-', or the start of a \u escape (any number of backslashes, u, four
// hex digits) of a letter or digit.
func wordByte(raw []byte, i int) bool {
	c := raw[i]
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '_', c == '-':
		return true
	case c != '\\':
		return false
	}
	for i < len(raw) && raw[i] == '\\' {
		i++
	}
	if i+5 > len(raw) || raw[i] != 'u' {
		return false
	}
	r, ok := hex4(raw[i+1 : i+5])
	return ok && r < utf8.RuneSelf && (('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z') || ('0' <= r && r <= '9') || r == '_' || r == '-')
}

// minTokenRun is the shortest run of base64 characters masked without a
// name: an AWS secret access key is 40 characters.
const minTokenRun = 40

// maskTokenRuns overwrites, in place, every run of raw that is shaped
// like a secret key or token (see RedactQuarantined) with 'X'.
func maskTokenRuns(raw []byte) {
	for i := 0; i < len(raw); {
		if !base64Byte(raw[i]) {
			i++
			continue
		}
		j := i
		letters, digits := false, false
		for j < len(raw) && base64Byte(raw[j]) {
			c := raw[j]
			letters = letters || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z')
			digits = digits || ('0' <= c && c <= '9')
			j++
		}
		if j-i >= minTokenRun && letters && digits {
			for k := i; k < j; k++ {
				raw[k] = 'X'
			}
		}
		i = j
	}
}

func base64Byte(c byte) bool {
	return ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9') || c == '+' || c == '/' || c == '='
}
