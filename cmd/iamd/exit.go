package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

// Exit statuses. Scripts and CI pipelines branch on them; the README's
// command table documents them.
const (
	exitOK      = 0
	exitFailure = 1 // an error, printed on stderr (simulate --cases: a case failed)
	// exitFindings: audit --fail-on found a finding at or above the
	// severity given.
	exitFindings = 3
	// exitNoInput: ingest --strict found no CloudTrail input in the paths
	// given.
	exitNoInput = 4
)

// exitError ends the program with a given status. Without a message it
// prints nothing, for commands whose output already says what went wrong
// (simulate --cases exits 1 when a case fails).
type exitError struct {
	code int
	msg  string
}

func (e exitError) Error() string {
	if e.msg != "" {
		return e.msg
	}
	return fmt.Sprintf("exit status %d", e.code)
}

func asExit(err error, target *exitError) bool { return errors.As(err, target) }

// execute runs the command tree and returns the exit status, printing
// the error, if any, to stderr. prof's profiles are stopped whatever the
// outcome.
func execute(ctx context.Context, root *cobra.Command, prof *profiles, stderr io.Writer) int {
	err := root.ExecuteContext(ctx)
	if perr := prof.stop(); perr != nil {
		fmt.Fprintln(stderr, "iamd:", perr)
	}
	if err == nil {
		return exitOK
	}
	var ex exitError
	if asExit(err, &ex) {
		if ex.msg != "" {
			fmt.Fprintln(stderr, "iamd:", ex.msg)
		}
		return ex.code
	}
	fmt.Fprintln(stderr, "iamd:", err)
	return exitFailure
}
