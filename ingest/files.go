package ingest

import (
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
)

// DataFile reports whether a file found while walking a directory looks
// like CloudTrail input: .json, .jsonl, .ndjson, optionally .gz, or a bare
// .gz. Files named explicitly are always read, whatever their name.
func DataFile(path string) bool {
	name := strings.ToLower(filepath.Base(path))
	if strings.HasPrefix(name, ".") {
		return false
	}
	name = strings.TrimSuffix(name, ".gz")
	switch filepath.Ext(name) {
	case ".json", ".jsonl", ".ndjson":
		return true
	}
	return strings.HasSuffix(path, ".gz")
}

// errFound stops HasDataFile's walk at the first data file.
var errFound = errors.New("found")

// HasDataFile reports whether the directory dir holds, at any depth, a
// file DataFile accepts: what a directory given to ingest is read for.
// It stops at the first one.
func HasDataFile(dir string) (bool, error) {
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && d.Type().IsRegular() && DataFile(path) {
			return errFound
		}
		return nil
	})
	if errors.Is(err, errFound) {
		return true, nil
	}
	return false, err
}
