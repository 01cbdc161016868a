package catalog

import (
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

// charCases are wildcard cases over non-ASCII input, where "?" must take
// one character (a code point) and never one byte of it. analyzer/policy
// has the same table for its matchers.
var charCases = []struct {
	pat, s string
	want   bool
}{
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

func TestGlobCharacters(t *testing.T) {
	for _, tc := range charCases {
		if got := glob(tc.pat, tc.s); got != tc.want {
			t.Errorf("glob(%q, %q) = %v, want %v", tc.pat, tc.s, got, tc.want)
		}
	}
}

// A placeholder takes one or more characters, never a part of one.
func TestMatchTemplateCharacters(t *testing.T) {
	for _, tc := range []struct {
		t, s string
		want bool
	}{
		{"${a}", "é", true},
		{"${a}${b}", "é", false},
		{"${a}${b}", "éa", true},
		{"${a}${b}${c}", "日本", false},
		{"${a}${b}", "日本", true},
		{"x/<id>", "x/日", true},
		{"x/<id>.y", "x/日本.y", true},
		{"x/<id><n>.y", "x/日.y", false},
		{"${a}${b}", "\xff\xfe", true},
	} {
		if got := matchTemplate(tc.t, tc.s); got != tc.want {
			t.Errorf("matchTemplate(%q, %q) = %v, want %v", tc.t, tc.s, got, tc.want)
		}
	}
}

// FuzzGlob holds glob to a regular expression built from the pattern,
// whose "." is one character as "?" must be. Run it with
// go test -run '^$' -fuzz FuzzGlob ./analyzer/catalog.
func FuzzGlob(f *testing.F) {
	for _, tc := range charCases {
		f.Add(tc.pat, tc.s)
	}
	f.Add("get*object?", "getbucketobjects")
	f.Fuzz(func(t *testing.T, pat, s string) {
		if !utf8.ValidString(pat) || !utf8.ValidString(s) {
			return
		}
		var b strings.Builder
		b.WriteString("^(?s)")
		for _, r := range pat {
			switch r {
			case '*':
				b.WriteString(".*")
			case '?':
				b.WriteString(".")
			default:
				b.WriteString(regexp.QuoteMeta(string(r)))
			}
		}
		b.WriteString("$")
		if got, want := glob(pat, s), regexp.MustCompile(b.String()).MatchString(s); got != want {
			t.Fatalf("glob(%q, %q) = %v, regexp says %v", pat, s, got, want)
		}
	})
}
