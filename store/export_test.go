package store

// SetMigrateChunk sets how many records one migration transaction
// rewrites, so that tests can stop a migration between transactions.
func SetMigrateChunk(o *Options, n int) { o.migrateChunk = n }
