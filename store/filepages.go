package store

import (
	"path/filepath"
	"time"
)

// Badger reads and writes its SSTables and value log through shared
// memory mappings (it has no read/write-syscall mode), and every page of
// them it touches stays in the process's resident set until the kernel
// needs the memory: a store of 130 MB showed as 143 MB of file-backed
// RSS on top of the Go heap, growing with the store. Those pages are
// page cache, not process memory, but RSS is what operators and
// container limits see. So the DB periodically advises the kernel to
// page them out (Linux MADV_PAGEOUT, filepages_linux.go): dirty pages
// are written back, clean ones dropped, and the next access faults them
// in again. The advice never discards data, also not when a range was
// unmapped and reused meanwhile: on anonymous memory it only swaps (or,
// without swap, does nothing). Memtable files (*.mem) are left alone:
// they are bounded by MemTableSize × NumMemtables and written all the
// time.

// releaseFilePagesLoop pages out the store's table and value-log
// mappings every interval until done is closed.
func (db *DB) releaseFilePagesLoop(interval time.Duration, done <-chan struct{}) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			if err := releaseFilePages(db.mapDir); err != nil {
				db.opts.Logger.Debug("store: release file pages", "dir", db.dir, "err", err)
			}
		}
	}
}

// isPagedOutFile says whether a mapped file of the store is one whose
// pages releaseFilePages hands back.
func isPagedOutFile(name string) bool {
	switch filepath.Ext(name) {
	case ".sst", ".vlog":
		return true
	}
	return false
}

// resolvedDir is dir as /proc/self/maps names it: absolute, without
// symbolic links.
func resolvedDir(dir string) string {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return dir
	}
	if r, err := filepath.EvalSymlinks(abs); err == nil {
		return r
	}
	return abs
}
