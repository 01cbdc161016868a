// Package wildcardcases holds the wildcard cases over non-ASCII input
// that every matcher of IAM patterns must agree on (analyzer/policy's and
// analyzer/catalog's): "?" takes one character (a code point), never one
// byte of it, and a byte that is not UTF-8 counts as one character.
package wildcardcases

// Case is a pattern, an input and whether the pattern matches it.
type Case struct {
	Pat, S string
	Want   bool
}

// Characters returns the cases.
func Characters() []Case {
	return []Case{
		{"?", "é", true},   // 2 bytes
		{"?", "日", true},   // 3 bytes
		{"?", "😀", true},   // 4 bytes
		{"??", "é", false}, // one character is not two
		{"??", "日", false},
		{"??", "日本", true},
		{"*??", "日", false}, // "*" must not stop inside a character
		{"*??", "日本", true},
		{"a?c", "aéc", true},
		{"a?c", "a日c", true},
		{"a??c", "aéc", false},
		{"*?", "\xff", true}, // a byte that is not UTF-8 is one character
		{"??", "\xff\xfe", true},
		{"?", "\xff\xfe", false},
		{"x*y", "x日本y", true},
		{"*本", "日本", true},
		{"?本", "日本", true},
		{"?本", "本", false},
		{"ü*", "über", true},
		{"*?r", "üer", true},
	}
}
