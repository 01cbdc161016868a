package difftest_test

import (
	"fmt"

	"github.com/iamd/iamd/analyzer/policy/difftest"
	"github.com/iamd/iamd/analyzer/policy/policycase"
)

// A generated case is rebuilt from its seed and index alone, then decided
// by iamd; the differential test sets that decision against the reference's.
func ExampleGenerateOne() {
	c := difftest.GenerateOne(20261123, 4)
	o := policycase.Run(&c)
	fmt.Println(c.Label(), c.Request.Action, o.Decision)
	// Output: gen/20261123/4 iam:PassRole ImplicitlyDenied
}
