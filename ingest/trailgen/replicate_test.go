package trailgen

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"testing"
)

// readReplicas reads every record of the files in dir, by file name.
func readReplicas(t *testing.T, dir string) (map[string][]byte, []map[string]any) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	var recs []map[string]any
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		files[e.Name()] = data
		var doc struct{ Records []map[string]any }
		if err := json.Unmarshal(gunzip(t, e.Name(), data), &doc); err != nil {
			t.Fatalf("%s: %v", e.Name(), err)
		}
		recs = append(recs, doc.Records...)
	}
	return files, recs
}

func TestReplicate(t *testing.T) {
	src, err := filepath.Glob("testdata/replicate/*")
	if err != nil || len(src) != 3 {
		t.Fatalf("fixtures: %v %v", src, err)
	}
	sort.Strings(src)
	var orig []map[string]any
	for _, p := range src {
		recs, err := readLogFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			var m map[string]any
			if err := json.Unmarshal(r, &m); err != nil {
				t.Fatal(err)
			}
			orig = append(orig, m)
		}
	}
	const times = 4
	dst := t.TempDir()
	res, err := Replicate(context.Background(), src, times, dst)
	if err != nil {
		t.Fatalf("Replicate: %v", err)
	}
	files, recs := readReplicas(t, dst)
	t.Run("counts", func(t *testing.T) {
		if res.Files != 3*times || len(files) != 3*times {
			t.Fatalf("Files = %d, on disk %d, want %d", res.Files, len(files), 3*times)
		}
		if got, want := len(recs), len(orig)*times; got != want || res.Records != want {
			t.Fatalf("records on disk %d, result %d, want %d", got, res.Records, want)
		}
	})
	t.Run("distinct event ids", func(t *testing.T) {
		ids := map[string]bool{}
		for _, r := range recs {
			id, _ := r["eventID"].(string)
			if !uuid4RE.MatchString(id) || ids[id] {
				t.Fatalf("eventID %q missing, malformed or repeated", id)
			}
			ids[id] = true
		}
	})
	t.Run("records otherwise unchanged", func(t *testing.T) {
		want := map[string]int{}
		for _, r := range orig {
			delete(r, "eventID")
			b, _ := json.Marshal(r)
			want[string(b)] += times
		}
		for _, r := range recs {
			delete(r, "eventID")
			b, _ := json.Marshal(r)
			want[string(b)]--
		}
		for k, n := range want {
			if n != 0 {
				t.Fatalf("record %s off by %d", k, n)
			}
		}
	})
	t.Run("names", func(t *testing.T) {
		cloudtrail := 0
		for name := range files {
			if baseRE.MatchString(name) {
				cloudtrail++
			}
		}
		if cloudtrail != 2*times {
			t.Fatalf("%d CloudTrail-named copies, want %d", cloudtrail, 2*times)
		}
	})
	t.Run("deterministic", func(t *testing.T) {
		dst2 := t.TempDir()
		if _, err := Replicate(context.Background(), src, times, dst2); err != nil {
			t.Fatal(err)
		}
		files2, _ := readReplicas(t, dst2)
		for name, data := range files {
			if !bytes.Equal(files2[name], data) {
				t.Fatalf("%s differs between runs", name)
			}
		}
	})
	t.Run("errors", func(t *testing.T) {
		bad := filepath.Join(t.TempDir(), "bad.json")
		if err := os.WriteFile(bad, []byte(`{"Records":[1]}`), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			name  string
			src   []string
			times int
		}{
			{"zero times", src, 0},
			{"missing file", []string{"testdata/replicate/nope.json"}, 1},
			{"not an object", []string{bad}, 1},
		} {
			t.Run(c.name, func(t *testing.T) {
				if _, err := Replicate(context.Background(), c.src, c.times, t.TempDir()); err == nil {
					t.Fatal("Replicate succeeded")
				}
			})
		}
	})
}

// TestReplicateShared multiplies the real invictus-ir log files.
func TestReplicateShared(t *testing.T) {
	const dir = "../../../shared/testdata/cloudtrail/invictus-ir-aws_dataset/CloudTrail"
	if _, err := os.Stat(dir); err != nil {
		t.Skip("replicate: shared test data not found at " + dir)
	}
	src, _ := filepath.Glob(dir + "/*.json")
	if len(src) == 0 {
		t.Fatalf("replicate: no *.json log files in %s", dir)
	}
	n := 0
	for _, p := range src {
		recs, err := readLogFile(p)
		if err != nil {
			t.Fatal(err)
		}
		n += len(recs)
	}
	dst := t.TempDir()
	res, err := Replicate(context.Background(), src, 2, dst)
	if err != nil {
		t.Fatal(err)
	}
	if res.Records != 2*n || res.Files != 2*len(src) || n != 2900 {
		t.Fatalf("Replicate = %+v from %d records in %d files", res, n, len(src))
	}
	_, recs := readReplicas(t, dst)
	ids := map[string]bool{}
	for _, r := range recs {
		ids[r["eventID"].(string)] = true
	}
	if len(ids) != 2*n {
		t.Fatalf("%d distinct eventIDs, want %d", len(ids), 2*n)
	}
}
