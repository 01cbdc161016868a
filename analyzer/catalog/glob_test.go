package catalog

import (
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/iamd/iamd/analyzer/internal/wildcardcases"
)

func TestGlobCharacters(t *testing.T) {
	for _, tc := range wildcardcases.Characters() {
		if got := glob(tc.Pat, tc.S); got != tc.Want {
			t.Errorf("glob(%q, %q) = %v, want %v", tc.Pat, tc.S, got, tc.Want)
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
	for _, tc := range wildcardcases.Characters() {
		f.Add(tc.Pat, tc.S)
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
