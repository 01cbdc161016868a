package ingest

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestOpenInput(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "trail.json")
	want := bytes.Repeat([]byte(`{"Records":[]}`), 10000) // several reads
	if err := os.WriteFile(path, want, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := openInput(path)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(f)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("read %d bytes, err %v; want %d bytes", len(got), err, len(want))
	}
	if n, err := f.Read(make([]byte, 8)); n != 0 || err != io.EOF {
		t.Errorf("read after the end = %d, %v; want 0, EOF", n, err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Errorf("second close: %v", err)
	}
	if _, err := f.Read(make([]byte, 8)); err == nil {
		t.Error("read after close: no error")
	}

	_, err = openInput(filepath.Join(dir, "missing.json"))
	var pe *fs.PathError
	if !errors.Is(err, fs.ErrNotExist) || !errors.As(err, &pe) || !strings.Contains(err.Error(), "missing.json") {
		t.Errorf("missing file: err = %v, want a path error naming it", err)
	}
	if d, err := openInput(dir); err == nil {
		_, err = d.Read(make([]byte, 8))
		d.Close()
		if err == nil || !strings.Contains(err.Error(), dir) {
			t.Errorf("reading a directory: err = %v, want an error naming it", err)
		}
	}
}
