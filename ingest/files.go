package ingest

import (
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
