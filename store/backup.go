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

	// hook is called after each step of the swap (restoreSwap).
	hook func(step string)
}

// restoreMaxPendingWrites bounds the batches Badger's loader has in
// flight, as Badger's own restore tool does.
const restoreMaxPendingWrites = 256

// Restore loads a backup written by Backup into dir, which must not exist
// or be empty (or, with Replace, hold a store not in use). It loads into
// a sibling directory, syncs it, and only then swaps it into place by
// renames (restoreSwap), so that a truncated backup, a backup of a newer
// schema or a crash at any point leaves a whole store at dir: the one it
// held, or the restored one. The store keeps the schema version it had
// when backed up; the next Open migrates it if it is older than this
// build's. A backup newer than this build reads is refused, with both
// versions, before anything is replaced.
func Restore(ctx context.Context, dir string, r io.Reader, opts RestoreOptions) (BackupInfo, error) {
	var info BackupInfo
	dir = filepath.Clean(dir)
	if err := recoverRestore(dir); err != nil {
		return info, err
	}
	if err := checkRestoreTarget(dir, opts.Replace); err != nil {
		return info, err
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return info, fmt.Errorf("restore store %s: %w", dir, err)
	}
	staged, replaced := restorePaths(dir)
	// A staged store without a replaced one is a restore that stopped
	// before its swap began: dir still holds what it held.
	if err := os.RemoveAll(staged); err != nil {
		return info, fmt.Errorf("restore store %s: remove an unfinished restore: %w", dir, err)
	}
	keep := false
	defer func() {
		if !keep {
			os.RemoveAll(staged)
		}
	}()
	info, err := loadBackup(ctx, staged, r)
	if err != nil {
		return info, fmt.Errorf("restore store %s: %w", dir, err)
	}
	if err := syncTree(staged); err != nil {
		return info, fmt.Errorf("restore store %s: sync the restored store: %w", dir, err)
	}
	// Checked again: the target may have changed during the load.
	if err := checkRestoreTarget(dir, opts.Replace); err != nil {
		return info, err
	}
	keep = true
	if err := restoreSwap(dir, staged, replaced, opts.hook); err != nil {
		return info, fmt.Errorf("restore store %s: %w", dir, err)
	}
	return info, nil
}

// restorePaths are the siblings of dir a restore uses: staged holds the
// restored store until it is renamed to dir, replaced holds the store dir
// held while the two are swapped. Fixed names, so that the next Open or
// Restore finds them after a crash.
func restorePaths(dir string) (staged, replaced string) {
	base := filepath.Join(filepath.Dir(dir), "."+filepath.Base(dir))
	return base + ".restore-staged", base + ".restore-replaced"
}

// restoreSwap puts the complete, synced store in staged at dir: dir (if
// it holds anything) is renamed to replaced, staged to dir, each rename
// made durable by a sync of the parent, then replaced is removed. A crash
// between the two renames leaves no dir, but both siblings:
// recoverRestore, run by Open, Backup, Inspect and Restore, finishes the
// swap. hook, if set, is called after each step (tests kill the process
// there).
func restoreSwap(dir, staged, replaced string, hook func(step string)) error {
	step := func(name string) {
		if hook != nil {
			hook(name)
		}
	}
	step("staged")
	parent := filepath.Dir(dir)
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return err
	case len(entries) == 0:
		// An empty directory (a mount point, one made by hand): rename
		// replaces it as is.
	default:
		if err := os.RemoveAll(replaced); err != nil {
			return err
		}
		if err := os.Rename(dir, replaced); err != nil {
			return fmt.Errorf("move the store it replaces aside: %w", err)
		}
		if err := syncDir(parent); err != nil {
			return err
		}
		step("replaced")
	}
	if err := os.Rename(staged, dir); err != nil {
		return fmt.Errorf("put the restored store in place: %w", err)
	}
	if err := syncDir(parent); err != nil {
		return err
	}
	step("renamed")
	if err := os.RemoveAll(replaced); err != nil {
		return fmt.Errorf("remove the store it replaced: %w", err)
	}
	step("removed")
	return nil
}

// recoverRestore finishes a restore a crash stopped inside restoreSwap:
// with the replaced store set aside, the staged one is complete (it was
// synced before the swap began), so it goes to dir if dir is missing;
// the replaced one is removed once dir holds the restored store.
func recoverRestore(dir string) error {
	dir = filepath.Clean(dir)
	staged, replaced := restorePaths(dir)
	if _, err := os.Stat(replaced); errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return fmt.Errorf("store %s: look for an interrupted restore: %w", dir, err)
	}
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		from := staged
		if _, err := os.Stat(staged); err != nil {
			// Not reachable by restoreSwap (dir goes aside only once
			// the restored store is complete); give the old one back.
			from = replaced
		}
		if err := os.Rename(from, dir); err != nil {
			return fmt.Errorf("store %s: finish an interrupted restore: %w", dir, err)
		}
		if err := syncDir(filepath.Dir(dir)); err != nil {
			return fmt.Errorf("store %s: finish an interrupted restore: %w", dir, err)
		}
	}
	if err := os.RemoveAll(replaced); err != nil {
		return fmt.Errorf("store %s: finish an interrupted restore: %w", dir, err)
	}
	return nil
}

// syncTree syncs every file under dir, then each directory, so that a
// store renamed into place is on disk whole.
func syncTree(dir string) error {
	var dirs []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			dirs = append(dirs, p)
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		return errors.Join(f.Sync(), f.Close())
	})
	if err != nil {
		return err
	}
	for _, d := range dirs {
		if err := syncDir(d); err != nil {
			return err
		}
	}
	return nil
}

// syncDir makes the entries of dir (a rename, a new file) durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
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
		// Refused before anything is replaced: this build could neither
		// open nor migrate it.
		return st.check("in the backup", SchemaVersion)
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
		if !badgerFile(e.Name()) {
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
