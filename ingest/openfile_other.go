//go:build !unix

package ingest

import (
	"io"
	"os"
)

// openInput opens a local file for one sequential read.
func openInput(path string) (io.ReadCloser, error) { return os.Open(path) }
