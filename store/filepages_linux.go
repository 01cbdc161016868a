package store

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// releaseFilePages advises the kernel to page out every mapping of a
// table or value-log file in dir (see filepages.go).
func releaseFilePages(dir string) error {
	ranges, err := mappedRanges("/proc/self/maps", dir)
	if err != nil {
		return err
	}
	for _, r := range ranges {
		// The range may have been unmapped since maps was read: EINVAL or
		// ENOMEM, harmless, and MADV_PAGEOUT never discards contents.
		_, _, _ = unix.Syscall(unix.SYS_MADVISE, r.start, r.end-r.start, unix.MADV_PAGEOUT)
	}
	return nil
}

type addrRange struct{ start, end uintptr }

// mappedRanges lists the address ranges of the maps file that map a
// table or value-log file directly inside dir.
func mappedRanges(mapsPath, dir string) ([]addrRange, error) {
	b, err := os.ReadFile(mapsPath)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", mapsPath, err)
	}
	var out []addrRange
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		// address perms offset dev inode pathname; the pathname may
		// contain spaces, so it is what follows the fifth field.
		line := sc.Bytes()
		var fields [5][]byte
		rest := line
		ok := true
		for i := range fields {
			rest = bytes.TrimLeft(rest, " ")
			j := bytes.IndexByte(rest, ' ')
			if j < 0 {
				ok = false
				break
			}
			fields[i], rest = rest[:j], rest[j:]
		}
		if !ok {
			continue
		}
		path := string(bytes.TrimSpace(rest))
		if filepath.Dir(path) != dir || !isPagedOutFile(path) {
			continue
		}
		lo, hi, found := bytes.Cut(fields[0], []byte("-"))
		if !found {
			continue
		}
		start, err1 := strconv.ParseUint(string(lo), 16, 64)
		end, err2 := strconv.ParseUint(string(hi), 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			continue
		}
		out = append(out, addrRange{uintptr(start), uintptr(end)})
	}
	return out, sc.Err()
}
