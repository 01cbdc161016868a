package rotator_test

import (
	"strings"
	"testing"
	"time"

	"github.com/iamd/iamd/rotator"
)

// A compensation deletes the new key even when the target cannot revoke
// it: a key left behind would stay active forever, the rotation would
// compensate again at every run and notify each time. Before
// publication the key was only staged, so a failed revoke is a warning;
// after a publish attempt it fails the step, which the next run repeats
// (compensating, never publishing the deleted key).
func TestCompensationDeletesWhenRevokeFails(t *testing.T) {
	for _, tc := range []struct {
		name  string
		tags  map[string]string
		fault func(e *env)
		// published: a publish was attempted, so the failed revoke keeps
		// the step for the next run.
		published bool
	}{
		{name: "secrets manager refuses every call", fault: func(e *env) { e.fake.Fail("DescribeSecret", 1000, 400, "AccessDeniedException") }},
		{name: "delivery command fails", tags: map[string]string{"iamd-delivery": "ci"}},
		{name: "publish and revoke fail", fault: func(e *env) { e.fake.Fail("UpdateSecretVersionStage", 1000, 500, "InternalServiceError") }, published: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(p *rotator.Policy) { p.Delivery.Commands = map[string][]string{"ci": {"/bin/false"}} })
			old := e.aged("zed", 100*day, tc.tags)
			if tc.fault != nil {
				tc.fault(e)
			}
			u := e.user(e.run(), "zed")
			if keys := e.fake.Keys("zed"); len(keys) != 1 || keys[0].ID != old || !keys[0].Active {
				t.Fatalf("keys after the compensation = %+v, want the old key alone, active (report %+v)", keys, u)
			}
			if tc.published {
				if u.Phase != rotator.PhaseVerified || u.Step != rotator.StepCompensate || u.Error == "" {
					t.Fatalf("after a failed revoke of a possibly published key: %+v, want verified, step compensate, an error", u)
				}
				e.fake.ClearFaults()
			} else if u.Phase != rotator.PhaseAborted || u.Error != "" || !strings.Contains(strings.Join(u.Actions, "\n"), "could not revoke") {
				t.Fatalf("after a failed revoke of a staged key: %+v, want aborted with a warning and no error", u)
			}
			for range 2 {
				e.clk.add(time.Hour) // inside RetryAborted: no new attempt
				u = e.user(e.run(), "zed")
			}
			if u.Phase != rotator.PhaseAborted || u.Step != "" {
				t.Errorf("after more runs: %+v, want aborted", u)
			}
			if n := len(e.events(rotator.EventCompensate)); n != 1 {
				t.Errorf("compensate webhooks = %d, want 1", n)
			}
			if cur := e.fake.CurrentHistory("iamd/access-keys/zed"); len(cur) != 0 {
				t.Errorf("AWSCURRENT was set %d times: a compensated key was published", len(cur))
			}
			if e.fake.Count("CreateAccessKey") != 1 {
				t.Errorf("CreateAccessKey called %d times, want 1", e.fake.Count("CreateAccessKey"))
			}
		})
	}
}
