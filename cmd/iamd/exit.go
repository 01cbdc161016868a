package main

import (
	"errors"
	"fmt"
)

// exitError ends the program with a given status without printing an
// error line, for commands whose output already says what went wrong
// (simulate --cases exits 1 when a case fails).
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func asExit(err error, target *exitError) bool { return errors.As(err, target) }
