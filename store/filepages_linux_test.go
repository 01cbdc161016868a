package store

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestMappedRanges(t *testing.T) {
	maps := `00400000-00c00000 r-xp 00000000 fd:01 123 /usr/bin/iamd
7f0000000000-7f0000200000 r--s 00000000 fd:01 200 /data/my store/000001.sst
7f0000200000-7f0000400000 rw-s 00000000 fd:01 201 /data/my store/000002.vlog
7f0000400000-7f0000c00000 rw-s 00000000 fd:01 202 /data/my store/00003.mem
7f0000c00000-7f0000e00000 r--s 00000000 fd:01 203 /data/other/000001.sst
7f0000e00000-7f0001000000 r--s 00000000 fd:01 204 /data/my store/sub/000009.sst
7f0001000000-7f0001200000 r--s 00000000 fd:01 205 /data/my store/000004.sst (deleted)
7f0001200000-7f0001400000 rw-p 00000000 00:00 0 
7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0                          [stack]
garbage line
7f00zz-7f01 r--s 00000000 fd:01 206 /data/my store/000005.sst
`
	path := filepath.Join(t.TempDir(), "maps")
	if err := os.WriteFile(path, []byte(maps), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := mappedRanges(path, "/data/my store")
	if err != nil {
		t.Fatal(err)
	}
	want := []addrRange{{0x7f0000000000, 0x7f0000200000}, {0x7f0000200000, 0x7f0000400000}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("mappedRanges = %x, want %x", got, want)
	}
	if _, err := mappedRanges(filepath.Join(t.TempDir(), "missing"), "/x"); err == nil {
		t.Error("mappedRanges of a missing file: no error")
	}
}

// TestReleaseFilePages writes until Badger has flushed tables, then checks
// that their resident pages drop after releaseFilePages and that every
// fact reads back unchanged.
func TestReleaseFilePages(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(Options{Dir: dir, MemTableSize: 1 << 20, ValueThreshold: 64, ReleaseFilePages: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if db.stopRelease != nil {
		t.Fatal("release loop started with ReleaseFilePages < 0")
	}
	w := newWorkload(7)
	ctx := context.Background()
	mapDir := resolvedDir(dir)
	for i := 0; residentKB(t, mapDir) < 1024; i++ {
		if i == 200 {
			t.Fatalf("no 1 MiB of resident table pages after %d batches", i)
		}
		if _, err := db.Write(ctx, w.batch(1000)); err != nil {
			t.Fatal(err)
		}
	}
	before := dump(t, db)
	resident := residentKB(t, mapDir)
	if err := releaseFilePages(mapDir); err != nil {
		t.Fatal(err)
	}
	after := residentKB(t, mapDir)
	t.Logf("resident table and value-log pages: %d KiB before, %d KiB after", resident, after)
	if after > resident/2 {
		t.Errorf("resident pages %d KiB after release, %d KiB before: want at most half", after, resident)
	}
	if got := dump(t, db); !reflect.DeepEqual(got, before) {
		t.Errorf("store contents changed by the release: %d keys before, %d after", len(before), len(got))
	}
}

// residentKB sums the Rss of the mappings of dir's tables and value log.
func residentKB(t *testing.T, dir string) int64 {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Skipf("no /proc/self/smaps: %v", err)
	}
	defer f.Close()
	var sum int64
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Fields(line)
		if len(fields) >= 5 && strings.Contains(fields[0], "-") && !strings.HasSuffix(fields[0], ":") {
			path := ""
			if len(fields) >= 6 {
				path = strings.Join(fields[5:], " ")
			}
			in = filepath.Dir(path) == dir && isPagedOutFile(path)
			continue
		}
		if v, ok := strings.CutPrefix(line, "Rss:"); in && ok {
			sum += parseKB(v) >> 10
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return sum
}
