package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	badger "github.com/dgraph-io/badger/v4"
)

// BackupInfo describes a backup written or restored.
type BackupInfo struct {
	Version int   // schema version of the store in the backup
	Bytes   int64 // size of the backup stream
}

// Backup writes the whole store in dir to w in Badger's backup format
// (badger.DB.Backup: every key with its versions and TTL, readable by
// Restore and by Badger's own restore tool). It takes the store as it is,
// whatever its schema version and without migrating it: a backup taken
// before an upgrade is how the upgrade is undone. It opens the store
// read-only (but see openAsIs for a store a crash left), so it changes
// nothing in dir and fails with ErrLocked while another process (a
// running daemon) has the store open.
func Backup(ctx context.Context, dir string, w io.Writer) (BackupInfo, error) {
	var info BackupInfo
	bdb, err := openAsIs(dir)
	if err != nil {
		return info, err
	}
	defer bdb.Close()
	err = bdb.View(func(txn *badger.Txn) error {
		st, err := readSchemaState(txn)
		info.Version = st.version
		return err
	})
	if err != nil {
		return info, fmt.Errorf("back up store %s: %w", dir, err)
	}
	cw := &countingWriter{ctx: ctx, w: w}
	if _, err := bdb.Backup(cw, 0); err != nil {
		return info, fmt.Errorf("back up store %s: %w", dir, err)
	}
	info.Bytes = cw.n
	return info, nil
}

// RestoreOptions configures Restore.
type RestoreOptions struct {
	// Replace lets Restore replace a store that dir already holds (never
	// a directory holding other files). Default false: a dir that holds
	// anything is refused with ErrNotEmpty.
	Replace bool
}

// restoreMaxPendingWrites bounds the batches Badger's loader has in
// flight, as Badger's own restore tool does.
const restoreMaxPendingWrites = 256

// Restore loads a backup written by Backup into dir, which must not exist
// or be empty (or, with Replace, hold a store not in use). It loads into
// a new directory beside dir and renames it into place only once the
// whole backup is in, so a truncated backup or a crash leaves dir as it
// was. The store keeps the schema version it had when backed up; the
// next Open migrates it if it is older than this build's.
func Restore(ctx context.Context, dir string, r io.Reader, opts RestoreOptions) (BackupInfo, error) {
	var info BackupInfo
	if err := checkRestoreTarget(dir, opts.Replace); err != nil {
		return info, err
	}
	parent := filepath.Dir(filepath.Clean(dir))
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return info, fmt.Errorf("restore store %s: %w", dir, err)
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(filepath.Clean(dir))+".restore-")
	if err != nil {
		return info, fmt.Errorf("restore store %s: %w", dir, err)
	}
	keep := false
	defer func() {
		if !keep {
			os.RemoveAll(tmp)
		}
	}()
	if info, err = loadBackup(ctx, tmp, r); err != nil {
		return info, fmt.Errorf("restore store %s: %w", dir, err)
	}
	// Checked again: the target may have changed during the load.
	if err := checkRestoreTarget(dir, opts.Replace); err != nil {
		return info, err
	}
	if err := os.RemoveAll(dir); err != nil {
		return info, fmt.Errorf("restore store %s: remove the store it replaces: %w", dir, err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		return info, fmt.Errorf("restore store %s: %w", dir, err)
	}
	keep = true
	return info, nil
}

// loadBackup loads the backup r into a new database in dir.
func loadBackup(ctx context.Context, dir string, r io.Reader) (BackupInfo, error) {
	var info BackupInfo
	o := Options{Dir: dir}
	o.setDefaults()
	bdb, err := openBadger(o, false)
	if err != nil {
		return info, err
	}
	cr := &countingReader{ctx: ctx, r: r}
	err = bdb.Load(cr, restoreMaxPendingWrites)
	info.Bytes = cr.n
	if err != nil {
		return info, errors.Join(fmt.Errorf("load backup at byte %d: %w", cr.n, err), bdb.Close())
	}
	err = bdb.View(func(txn *badger.Txn) error {
		st, err := readSchemaState(txn)
		if err != nil {
			return err
		}
		if st.empty || st.version == 0 {
			return errors.New("the backup holds no iamd store (no schema version)")
		}
		info.Version = st.version
		return nil
	})
	return info, errors.Join(err, bdb.Close())
}

// checkRestoreTarget returns why dir cannot receive a restored store:
// not empty (unless replace and it holds only a store), or a store in
// use.
func checkRestoreTarget(dir string, replace bool) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("restore store %s: %w", dir, err)
	}
	if len(entries) == 0 {
		return nil
	}
	var foreign []string
	for _, e := range entries {
		if !isBadgerFile(e.Name()) {
			foreign = append(foreign, e.Name())
		}
	}
	switch {
	case len(foreign) > 0:
		return fmt.Errorf("restore store %s: %w: it holds files that are not part of a store (%s); restore into an empty directory",
			dir, ErrNotEmpty, strings.Join(foreign[:min(3, len(foreign))], ", "))
	case !replace:
		return fmt.Errorf("restore store %s: %w: it holds a store; restore into an empty directory, or replace that store", dir, ErrNotEmpty)
	}
	// A store in use must not be replaced under its process: a read-only
	// open fails while another process holds it.
	bdb, err := openAsIs(dir)
	if err != nil {
		return fmt.Errorf("restore store %s: %w", dir, err)
	}
	return bdb.Close()
}

// isBadgerFile says whether name is one of the files Badger keeps in a
// database directory.
func isBadgerFile(name string) bool {
	switch name {
	case badger.ManifestFilename, "KEYREGISTRY", "LOCK", "DISCARD":
		return true
	}
	for _, ext := range []string{".sst", ".vlog", ".mem"} {
		if strings.HasSuffix(name, ext) {
			return true
		}
	}
	return false
}

// countingWriter counts what it passes on and stops once ctx is done.
type countingWriter struct {
	ctx context.Context
	w   io.Writer
	n   int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// countingReader counts what it reads and stops once ctx is done.
type countingReader struct {
	ctx context.Context
	r   io.Reader
	n   int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
