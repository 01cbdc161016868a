package difftest

import (
	"encoding/json"
	"fmt"

	"github.com/iamd/iamd/analyzer/policy/policycase"
)

// Mismatch is one case where the engines disagree or the reference rejected
// the input.
type Mismatch struct {
	Case Case
	Ours policycase.Outcome
	Ref  RefOutcome
	// Difference names the documented difference that explains it, if any.
	Difference string
}

// Replay returns the case as a one-element cases file whose expectation is
// the reference's decision, for `iamd simulate --cases`.
func (m Mismatch) Replay() string {
	c := m.Case
	c.Expected = policycase.Expected{Response: m.Ref.Decision}
	b, err := json.Marshal([]Case{c})
	if err != nil {
		return fmt.Sprintf("(encode case: %v)", err)
	}
	return string(b)
}

func (m Mismatch) String() string {
	return fmt.Sprintf("%s: iamd %s (reason %q, error %q, allows %v, denies %v), reference %s (error %q, allows %v, denies %v, ignored keys %v)",
		m.Case.Label(), m.Ours.Decision, m.Ours.Reason, m.Ours.Error, m.Ours.Allows, m.Ours.Denies,
		m.Ref.Decision, m.Ref.Error, m.Ref.Allows, m.Ref.Denies, m.Ref.IgnoredContextKeys)
}

// Report sums up a comparison.
type Report struct {
	Agreed int
	// Rejected are cases the reference refused or altered (an error, a
	// wildcard simulation, dropped context keys): the generator must not
	// make them.
	Rejected []Mismatch
	// Known are disagreements explained by a documented reference bug or
	// an undecided rule.
	Known []Mismatch
	// Pending are disagreements explained by a documented bug of iamd.
	Pending []Mismatch
	// Unexplained are every other disagreement: failures.
	Unexplained []Mismatch
}

// Compare runs each case through iamd and sets it against the reference's
// outcome for it; ref[i] answers cases[i].
func Compare(cases []Case, ref []RefOutcome) (Report, error) {
	var r Report
	if len(ref) != len(cases) {
		return r, fmt.Errorf("compare: %d reference outcomes for %d cases", len(ref), len(cases))
	}
	for i := range cases {
		c := &cases[i]
		m := Mismatch{Case: *c, Ref: ref[i]}
		if ref[i].Decision == "Error" || ref[i].Wildcard || len(ref[i].IgnoredContextKeys) > 0 {
			m.Ours = policycase.Run(c)
			r.Rejected = append(r.Rejected, m)
			continue
		}
		m.Ours = policycase.Run(c)
		if m.Ours.Decision == ref[i].Decision {
			r.Agreed++
			continue
		}
		d, ok := KnownDifference(c, m.Ours.Decision, ref[i].Decision)
		switch {
		case !ok:
			r.Unexplained = append(r.Unexplained, m)
		case d.Owner == "iamd":
			m.Difference = d.Name
			r.Pending = append(r.Pending, m)
		default:
			m.Difference = d.Name
			r.Known = append(r.Known, m)
		}
	}
	return r, nil
}
