package policy

import (
	"strings"
	"testing"
)

// charCases are wildcard cases over non-ASCII input, where "?" must take
// one character (a code point) and never one byte of it. analyzer/catalog
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

func TestWildcardCharacters(t *testing.T) {
	for _, tc := range charCases {
		t.Run(tc.pat+" "+tc.s, func(t *testing.T) {
			p := compilePattern(tc.pat, false, true)
			if got := p.match(tc.s, nil, false); got != tc.want {
				t.Errorf("pattern %q .match(%q) = %v, want %v", tc.pat, tc.s, got, tc.want)
			}
			if got := globLower(strings.ToLower(tc.pat), tc.s); got != tc.want {
				t.Errorf("globLower(%q, %q) = %v, want %v", tc.pat, tc.s, got, tc.want)
			}
			// Through an action pattern as the evaluator compiles it.
			if got := globLower("svc:"+strings.ToLower(tc.pat), "svc:"+tc.s); got != tc.want {
				t.Errorf("globLower(svc:%q, svc:%q) = %v, want %v", tc.pat, tc.s, got, tc.want)
			}
		})
	}
}
