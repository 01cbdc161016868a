// Package wildchar is the one rule every matcher of IAM wildcards
// (analyzer/policy's and analyzer/catalog's) follows for what "?" takes.
package wildchar

import "unicode/utf8"

// Len returns the length of the character at s[i], the unit "?" (and a
// template placeholder) matches and "*" grows by: AWS documents "?" as
// "any single character" (IAM User Guide, "IAM JSON policy elements:
// Action", "Resource" and "Condition operators", StringLike), so a
// character is a Unicode code point, its one to four UTF-8 bytes, and a
// byte that is not valid UTF-8 counts as one. Growing "*" by characters
// too keeps "*??" from taking the bytes of one character for two. ASCII,
// all that action names and most ARNs hold, costs one compare. (The
// reference engine, @cloud-copilot/iam-simulate, matches with JavaScript
// regular expressions, whose "." is one UTF-16 unit: the same for every
// character below U+10000, half of one above.)
func Len(s string, i int) int {
	if s[i] < utf8.RuneSelf {
		return 1
	}
	return runeLen(s[i:])
}

// runeLen is Len's slow path, apart so that Len inlines at its callers.
func runeLen(s string) int {
	_, n := utf8.DecodeRuneInString(s)
	return n
}
