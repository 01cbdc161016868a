//go:build unix

package ingest

import (
	"errors"
	"io"
	"io/fs"
	"syscall"
)

// openInput opens a local file for one sequential read.
//
// os.Open makes every file ready for the runtime's poller: two fcntl
// calls to set non-blocking mode, an epoll registration that fails for a
// regular file and two more fcntl calls to undo the first. A backfill
// opens hundreds of thousands of small files, and on a virtual machine,
// where each system call costs microseconds, those five calls were 2.5 %
// of ingest's CPU. A bare descriptor read with read(2) needs none of them.
func openInput(path string) (io.ReadCloser, error) {
	for {
		fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			return nil, &fs.PathError{Op: "open", Path: path, Err: err}
		}
		return &fdFile{fd: fd, path: path}, nil
	}
}

// fdFile reads a file descriptor with blocking read(2) calls.
type fdFile struct {
	fd   int
	path string
}

func (f *fdFile) Read(b []byte) (int, error) {
	if f.fd < 0 {
		return 0, &fs.PathError{Op: "read", Path: f.path, Err: syscall.EBADF}
	}
	if len(b) == 0 {
		return 0, nil
	}
	for {
		n, err := syscall.Read(f.fd, b)
		switch {
		case errors.Is(err, syscall.EINTR):
			continue
		case err != nil:
			return 0, &fs.PathError{Op: "read", Path: f.path, Err: err}
		case n == 0:
			return 0, io.EOF
		}
		return n, nil
	}
}

func (f *fdFile) Close() error {
	if f.fd < 0 {
		return nil
	}
	err := syscall.Close(f.fd)
	f.fd = -1
	if err != nil {
		return &fs.PathError{Op: "close", Path: f.path, Err: err}
	}
	return nil
}
