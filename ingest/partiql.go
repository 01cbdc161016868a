package ingest

import "strings"

// partiQLAction returns the action a DynamoDB PartiQL statement needs,
// by its verb, "" for one it does not know. The verb is read like
// partiQLTarget reads it, so a line break or tab after it counts as a
// blank too.
func partiQLAction(stmt string) string {
	s := partiQLScanner{s: stmt}
	switch strings.ToUpper(s.word()) {
	case "SELECT":
		return "dynamodb:PartiQLSelect"
	case "INSERT":
		return "dynamodb:PartiQLInsert"
	case "UPDATE":
		return "dynamodb:PartiQLUpdate"
	case "DELETE":
		return "dynamodb:PartiQLDelete"
	}
	return ""
}

// partiQLTarget returns the table a DynamoDB PartiQL statement acts on,
// and the index for a select from one ("T"."idx"): the identifier after
// UPDATE, INSERT INTO, DELETE FROM, or the first FROM of a SELECT.
// Identifiers are double-quoted (a doubled quote inside stands for one)
// or bare. ok is false when the statement names no table in a way read
// here.
//
//	SELECT * FROM "Music"."ArtistIndex" WHERE Artist='x'
//	INSERT INTO Music VALUE {'Artist':'x'}
//	UPDATE "Music" SET Awards=1 WHERE Artist='x'
//	DELETE FROM "Music" WHERE Artist='x'
func partiQLTarget(stmt string) (table, index string, ok bool) {
	s := partiQLScanner{s: stmt}
	verb := strings.ToUpper(s.word())
	switch verb {
	case "UPDATE":
	case "INSERT":
		if !strings.EqualFold(s.word(), "INTO") {
			return "", "", false
		}
	case "DELETE":
		if !strings.EqualFold(s.word(), "FROM") {
			return "", "", false
		}
	case "SELECT":
		if !s.skipToFrom() {
			return "", "", false
		}
	default:
		return "", "", false
	}
	table, ok = s.ident()
	if !ok {
		return "", "", false
	}
	if s.i < len(s.s) && s.s[s.i] == '.' {
		s.i++
		if index, ok = s.ident(); !ok {
			return "", "", false
		}
	}
	return table, index, true
}

type partiQLScanner struct {
	s string
	i int
}

func (p *partiQLScanner) space() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t' || p.s[p.i] == '\n' || p.s[p.i] == '\r') {
		p.i++
	}
}

// word returns the bare word at the scanner, after blanks.
func (p *partiQLScanner) word() string {
	p.space()
	start := p.i
	for p.i < len(p.s) && isBareIdent(p.s[p.i]) {
		p.i++
	}
	return p.s[start:p.i]
}

// ident reads a quoted or bare identifier that is a possible DynamoDB
// table or index name (or, quoted, a table ARN).
func (p *partiQLScanner) ident() (string, bool) {
	p.space()
	if p.i < len(p.s) && p.s[p.i] == '"' {
		var b strings.Builder
		for j := p.i + 1; j < len(p.s); j++ {
			if p.s[j] != '"' {
				b.WriteByte(p.s[j])
				continue
			}
			if j+1 < len(p.s) && p.s[j+1] == '"' {
				b.WriteByte('"')
				j++
				continue
			}
			p.i = j + 1
			name := b.String()
			return name, validTableName(name)
		}
		return "", false // unterminated
	}
	name := p.word()
	return name, validTableName(name)
}

// skipToFrom moves past the FROM of a select: the first bare word FROM
// outside quoted identifiers, string literals and brackets.
func (p *partiQLScanner) skipToFrom() bool {
	depth := 0
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == '"' || c == '\'':
			end := strings.IndexByte(p.s[p.i+1:], c)
			if end < 0 {
				return false
			}
			p.i += end + 2 // a doubled quote reads as two literals: fine here
		case c == '(' || c == '[' || c == '{':
			depth++
			p.i++
		case c == ')' || c == ']' || c == '}':
			depth--
			p.i++
		case isBareIdent(c):
			w := p.word()
			if depth == 0 && strings.EqualFold(w, "FROM") {
				return true
			}
		default:
			p.i++
		}
	}
	return false
}

func isBareIdent(c byte) bool {
	return c == '_' || c == '-' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// validTableName reports whether s can be a DynamoDB table or index name
// ([a-zA-Z0-9_.-]+, 3 to 255 characters) or a table ARN.
func validTableName(s string) bool {
	if strings.HasPrefix(s, "arn:") {
		return !strings.ContainsAny(s, " \t\n\"'")
	}
	if len(s) < 3 || len(s) > 255 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isBareIdent(c) && c != '.' {
			return false
		}
	}
	return true
}
