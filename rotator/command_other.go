//go:build !unix

package rotator

import "os/exec"

// ownProcessGroup leaves cmd as is: without process groups only the
// command itself is killed on cancellation, and WaitDelay bounds the wait
// for what it started.
func ownProcessGroup(*exec.Cmd) {}
