package policy

import (
	"strings"
	"testing"

	"github.com/iamd/iamd/analyzer/internal/wildcardcases"
)

func TestWildcardCharacters(t *testing.T) {
	for _, tc := range wildcardcases.Characters() {
		t.Run(tc.Pat+" "+tc.S, func(t *testing.T) {
			p := compilePattern(tc.Pat, false, true)
			if got := p.match(tc.S, nil, false); got != tc.Want {
				t.Errorf("pattern %q .match(%q) = %v, want %v", tc.Pat, tc.S, got, tc.Want)
			}
			if got := globLower(strings.ToLower(tc.Pat), tc.S); got != tc.Want {
				t.Errorf("globLower(%q, %q) = %v, want %v", tc.Pat, tc.S, got, tc.Want)
			}
			// Through an action pattern as the evaluator compiles it.
			if got := globLower("svc:"+strings.ToLower(tc.Pat), "svc:"+tc.S); got != tc.Want {
				t.Errorf("globLower(svc:%q, svc:%q) = %v, want %v", tc.Pat, tc.S, got, tc.Want)
			}
		})
	}
}
