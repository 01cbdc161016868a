package store

// SetMigrateChunk sets how many records one migration transaction
// rewrites, so that tests can stop a migration between transactions.
func SetMigrateChunk(o *Options, n int) { o.migrateChunk = n }

// SetRestoreHook sets the function Restore calls after each step of its
// swap ("staged", "replaced", "renamed", "removed"), where tests kill
// the process.
func SetRestoreHook(o *RestoreOptions, fn func(step string)) { o.hook = fn }
