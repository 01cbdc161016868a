// Package crashtest holds the crash-safety tests of the key rotator. Its
// tests run the rotator in a child process (the test binary re-executed)
// against an in-process fake of IAM, STS and Secrets Manager
// (rotator/awsfake) and an on-disk store, kill it with SIGKILL at every
// transition (after the record says a step began, after the AWS call
// returned, while AWS is doing the work, after the result was written),
// restart it, and check the invariants after every run: no user without
// a working key, no orphan key, no second new key, no used key deleted.
// It has no non-test code.
//
//	go test ./rotator/crashtest/
package crashtest
