package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/iamd/iamd/ingest/trailgen"
)

func TestGenTrail(t *testing.T) {
	base := []string{"gen-trail", "--seed", "7", "--users", "4", "--roles", "3", "--events", "600", "--days", "1"}
	t.Run("s3 layout with manifest and snapshot", func(t *testing.T) {
		dir := t.TempDir()
		out := filepath.Join(dir, "trail")
		manifest := filepath.Join(dir, "manifest.json")
		snapshot := filepath.Join(dir, "iam.json")
		if _, err := runIamd(t, append(base, "--out", out, "--manifest", manifest, "--iam-snapshot", snapshot, "--digests")...); err != nil {
			t.Fatalf("gen-trail: %v", err)
		}
		var m trailgen.Manifest
		data, err := os.ReadFile(manifest)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatalf("manifest: %v", err)
		}
		if m.Records != 600 || m.Seed != 7 || len(m.Usage) == 0 || len(m.Keys) == 0 {
			t.Fatalf("manifest: records %d seed %d usage %d keys %d", m.Records, m.Seed, len(m.Usage), len(m.Keys))
		}
		records, logs, digests := 0, 0, 0
		err = filepath.WalkDir(out, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, _ := filepath.Rel(out, path)
			fn, err := trailgen.ParseLogFileName(filepath.ToSlash(rel))
			if err != nil {
				return err
			}
			if fn.Digest {
				digests++
				return nil
			}
			logs++
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			defer f.Close()
			zr, err := gzip.NewReader(f)
			if err != nil {
				return err
			}
			body, err := io.ReadAll(zr)
			if err != nil {
				return err
			}
			var lf struct{ Records []json.RawMessage }
			if err := json.Unmarshal(body, &lf); err != nil {
				return err
			}
			records += len(lf.Records)
			return nil
		})
		if err != nil {
			t.Fatalf("walk output: %v", err)
		}
		if records != 600 || logs != len(m.Files) || digests == 0 {
			t.Fatalf("%d records in %d log files (manifest %d files), %d digests", records, logs, len(m.Files), digests)
		}
		snap, err := os.ReadFile(snapshot)
		if err != nil {
			t.Fatal(err)
		}
		var details struct {
			UserDetailList []struct{ Arn string }
			RoleDetailList []struct{ Arn string }
		}
		if err := json.Unmarshal(snap, &details); err != nil {
			t.Fatalf("snapshot: %v", err)
		}
		if len(details.UserDetailList) != 4 || len(details.RoleDetailList) != 3 {
			t.Fatalf("snapshot has %d users, %d roles", len(details.UserDetailList), len(details.RoleDetailList))
		}
	})
	t.Run("jsonl to stdout is the same as to a file", func(t *testing.T) {
		stdout, err := runIamdStdout(t, append(base, "--layout", "jsonl", "--out", "-")...)
		if err != nil {
			t.Fatalf("gen-trail: %v", err)
		}
		dir := t.TempDir()
		if _, err := runIamd(t, append(base, "--layout", "jsonl", "--out", dir)...); err != nil {
			t.Fatalf("gen-trail: %v", err)
		}
		file, err := os.ReadFile(filepath.Join(dir, "cloudtrail.jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		if got := bytes.Count(file, []byte("\n")); got != 600 {
			t.Fatalf("%d lines, want 600", got)
		}
		if !bytes.Equal(file, []byte(stdout)) {
			t.Fatal("stdout and file output differ")
		}
	})
	t.Run("eventbridge", func(t *testing.T) {
		dir := t.TempDir()
		if _, err := runIamd(t, append(base, "--layout", "eventbridge", "--out", dir)...); err != nil {
			t.Fatalf("gen-trail: %v", err)
		}
		data, err := os.ReadFile(filepath.Join(dir, "eventbridge.jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		first, _, _ := bytes.Cut(data, []byte("\n"))
		var env struct {
			DetailType string          `json:"detail-type"`
			Detail     json.RawMessage `json:"detail"`
		}
		if err := json.Unmarshal(first, &env); err != nil || !strings.HasSuffix(env.DetailType, "via CloudTrail") || len(env.Detail) == 0 {
			t.Fatalf("first envelope %s: %v", first, err)
		}
	})
	t.Run("replicate", func(t *testing.T) {
		src := t.TempDir()
		if _, err := runIamd(t, append(base, "--layout", "s3", "--out", src)...); err != nil {
			t.Fatalf("gen-trail: %v", err)
		}
		dst := t.TempDir()
		glob := filepath.Join(src, "AWSLogs", "*", "CloudTrail", "*", "*", "*", "*", "*.json.gz")
		if _, err := runIamd(t, "gen-trail", "--replicate", glob, "--times", "3", "--out", dst); err != nil {
			t.Fatalf("gen-trail --replicate: %v", err)
		}
		srcFiles, _ := filepath.Glob(glob)
		dstFiles, _ := filepath.Glob(filepath.Join(dst, "*.json.gz"))
		if len(srcFiles) == 0 || len(dstFiles) != 3*len(srcFiles) {
			t.Fatalf("%d source files, %d copies", len(srcFiles), len(dstFiles))
		}
	})
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"replicate nothing", []string{"gen-trail", "--out", "x", "--replicate", "/nonexistent/*.json"}, "matches no file"},
		{"bad org", []string{"gen-trail", "--out", "x", "--org-id", "acme"}, "OrgID"},
		{"no out", []string{"gen-trail"}, "--out is required"},
		{"bad layout", []string{"gen-trail", "--out", "x", "--layout", "csv"}, `--layout "csv"`},
		{"bad rate", []string{"gen-trail", "--out", "x", "--denied-rate", "2"}, "DeniedRate"},
		{"s3 to stdout", []string{"gen-trail", "--out", "-"}, "needs a directory"},
		{"bad start", []string{"gen-trail", "--out", "x", "--start", "yesterday"}, "--start"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := runIamd(t, c.args...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to contain %q", err, c.want)
			}
		})
	}
}

// runIamdStdout runs the root command and returns stdout alone.
func runIamdStdout(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRootCmd()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}
