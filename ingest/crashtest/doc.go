// Package crashtest holds the crash-safety tests of ingest's sources:
// Kafka (ingest/kafkasource), S3 (ingest/s3source) and files (the
// pipeline of `iamd ingest`). Its tests start ingest in a child process
// (the test binary re-executed), kill it with SIGKILL during the write
// that reaches a random number of stored events (the child reports its
// progress), restart it, and compare everything the store keeps (facts
// with first and last seen, per-day counts, access keys, sessions,
// cross-account recipients, the quarantine, the dedup set) with an
// uninterrupted ingest of the same data, and the usage and key counts
// with the generator's manifest (ingest/trailgen's ground truth):
// nothing lost, nothing counted twice. Its benchmarks measure events/s
// from Kafka, S3 and files on one generated trail (docs/performance.md).
// It has no non-test code.
//
// The default run is a few trials of 1,500 records per source. Setting
// IAMD_CRASH_TRIALS selects the long mode: that many trials per source of
// 30,000 records (IAMD_CRASH_RECORDS) from 400 principals, 2–4 kills
// each, up to a fraction of a second into a write (a second for files),
// production's batch sizes for Kafka and S3, file-source batches that
// Write splits over several Badger transactions (its store has a
// quarter of the default memtable), and a failure unless 90 % of the
// kills landed while events were still missing from the store. The log
// counts kills that fell between the transactions of a split write.
//
//	go test ./ingest/crashtest/                          # a few trials per source
//	IAMD_CRASH_TRIALS=20 go test -timeout 2h ./ingest/crashtest/
//	go test -run '^$' -bench . -benchtime 1x ./ingest/crashtest/
package crashtest
