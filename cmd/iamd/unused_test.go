package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/iamd/iamd/analyzer/unused"
)

func TestUnusedAndAuditWithTrail(t *testing.T) {
	st, snap, gt := ingestedTrail(t)
	out, err := runIamdStdout(t, "unused", "--store", st, "--iam", snap, "--format", "json", "--window", "30d")
	if err != nil {
		t.Fatalf("unused: %v", err)
	}
	var res unused.Result
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	// Every principal with unused actions in the manifest (and activity)
	// has an unused-permissions finding listing exactly those actions.
	perms := map[string][]string{}
	for _, f := range res.Findings {
		if f.Type == unused.TypePermissions {
			for _, s := range f.Services {
				perms[f.Principal] = append(perms[f.Principal], s.Actions...)
			}
		}
	}
	for _, a := range gt.manifest.Access {
		if len(a.Unused) > 0 && len(a.Used) > 0 && strings.Join(perms[a.Principal], " ") != strings.Join(a.Unused, " ") {
			t.Errorf("%s: unused permissions %q, manifest %q", a.Principal, perms[a.Principal], a.Unused)
		}
	}
	if _, err := runIamdStdout(t, "unused", "--store", st, "--iam", snap, "--exclude", "nonsense"); err == nil {
		t.Error("a bad --exclude was accepted")
	}
	out, err = runIamdStdout(t, "audit", "--store", st, "--iam", snap, "--window", "30d")
	if err != nil {
		t.Fatalf("audit --store: %v", err)
	}
	// The generated trail has root calls: the trail check must say so.
	if !strings.Contains(out, "CT001") || !strings.Contains(out, "root user used") {
		t.Fatalf("audit --store without the root finding:\n%s", out)
	}
}
