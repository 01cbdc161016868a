// Package crashtest holds the crash-safety tests of the streaming ingest
// sources (ingest/kafkasource, ingest/s3source). Its tests start ingest
// in a child process (the test binary re-executed), kill it with SIGKILL
// at random moments, restart it, and compare the store with a reference
// ingest of the same data: nothing lost, nothing counted twice. Its
// benchmarks measure events/s from Kafka, S3 and files on one generated
// trail (docs/performance.md). It has no non-test code.
//
//	go test ./ingest/crashtest/                          # a few trials per source
//	IAMD_CRASH_TRIALS=100 go test -timeout 1h ./ingest/crashtest/
//	go test -run '^$' -bench . -benchtime 1x ./ingest/crashtest/
package crashtest
