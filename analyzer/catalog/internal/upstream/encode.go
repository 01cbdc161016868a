package upstream

import (
	"bufio"
	"bytes"
	"fmt"
	"go/format"
	"io"
	"sort"
	"strconv"
	"strings"
)

// FormatVersion is the version of the compact catalog encoding written by
// Encode (the second field of its header line).
const FormatVersion = 1

// knownConditionType reports whether s is a condition value type the
// encoding accepts: the types of the IAM condition operators (IAM User Guide,
// "IAM JSON policy elements: Condition operators").
func knownConditionType(s string) bool {
	switch s {
	case "String", "ArrayOfString", "ARN", "ArrayOfARN", "Bool", "ArrayOfBool",
		"Numeric", "ArrayOfNumeric", "Date", "ArrayOfDate", "IPAddress", "ArrayOfIPAddress",
		"Binary", "ArrayOfBinary":
		return true
	}
	return false
}

// levelCode maps an upstream access level to its one-letter code. The
// compound levels map to the classic five: a tagging or permissions action is
// also a write, and the more specific level is what reviewers look for.
func levelCode(s string) (byte, error) {
	switch s {
	case "List":
		return 'L', nil
	case "Read":
		return 'R', nil
	case "Write":
		return 'W', nil
	case "Tagging", "Tagging, Write":
		return 'T', nil
	case "Permissions management", "Permissions management, Write":
		return 'P', nil
	}
	return 0, fmt.Errorf("unknown access level %q", s)
}

type keyRef struct{ key, typ string }

// Encode writes the compact catalog encoding of s to w (uncompressed). The
// encoding is line-oriented text, one record a line, tab-separated fields:
//
//	iamcatalog <format> <package> <version> <#services> <#actions> <#keys> <#resourceTypes> <#actionResources> <#actionKeys> <#resourceTypeKeys> <#serviceKeys>
//	K <conditionKey> <type> <"g" when global, else empty>
//	S <prefix> <name> <key ids>
//	R <resourceType> <arn format> <key ids>
//	A <prefix:Action> <level L|R|W|T|P> <resource ids, "+" = required> <key ids>
//
// All K lines come first; then each service (sorted by prefix) is an S line
// followed by its R lines (sorted by lowercased name) and its A lines (sorted
// by lowercased name, which makes the catalog's dense ids and prefix search
// work without building an index). Id lists are comma-separated decimal
// indexes: key ids into the K lines, resource ids into the service's R lines.
// The output is deterministic for a given snapshot.
func Encode(s *Snapshot, w io.Writer) error {
	if s.Source.Package == "" || s.Source.Version == "" {
		return fmt.Errorf("snapshot has no package name or version")
	}
	services := append([]string(nil), s.Services...)
	sort.Strings(services)
	for i, svc := range services {
		if err := checkField("service prefix", svc, "\t\n,:"); err != nil {
			return err
		}
		if svc != strings.ToLower(svc) {
			return fmt.Errorf("service prefix %q is not lowercase", svc)
		}
		if i > 0 && services[i-1] == svc {
			return fmt.Errorf("service prefix %q listed twice", svc)
		}
		if _, ok := s.Actions[svc]; !ok {
			return fmt.Errorf("service %q has no actions file", svc)
		}
	}

	// Condition key table: globals first, then each service's keys.
	var keys []keyRef
	keyID := map[keyRef]int{}
	global := map[string]int{}
	addKey := func(k keyRef) (int, error) {
		if id, ok := keyID[k]; ok {
			return id, nil
		}
		if err := checkField("condition key", k.key, "\t\n,"); err != nil {
			return 0, err
		}
		if !knownConditionType(k.typ) {
			return 0, fmt.Errorf("condition key %q: unknown type %q", k.key, k.typ)
		}
		keyID[k] = len(keys)
		keys = append(keys, k)
		return len(keys) - 1, nil
	}
	for _, g := range s.GlobalConditionKeys {
		id, err := addKey(keyRef{g.Key, g.Type})
		if err != nil {
			return fmt.Errorf("global %w", err)
		}
		if _, dup := global[g.Key]; !dup {
			global[g.Key] = id
		}
	}
	nGlobal := len(keys)
	svcKeys := make(map[string][]int, len(services))
	svcKeyByName := make(map[string]map[string]int, len(services))
	anyKey := map[string]int{}
	for _, svc := range services {
		m := s.ConditionKeys[svc]
		byName := make(map[string]int, len(m))
		for _, lk := range sortedKeys(m) {
			ck := m[lk]
			id, err := addKey(keyRef{ck.Key, ck.Type})
			if err != nil {
				return fmt.Errorf("service %s: %w", svc, err)
			}
			svcKeys[svc] = append(svcKeys[svc], id)
			byName[ck.Key] = id
			if _, ok := anyKey[ck.Key]; !ok {
				anyKey[ck.Key] = id
			}
		}
		svcKeyByName[svc] = byName
	}
	resolve := func(svc, key string) (int, error) {
		if id, ok := svcKeyByName[svc][key]; ok {
			return id, nil
		}
		if id, ok := global[key]; ok {
			return id, nil
		}
		if id, ok := anyKey[key]; ok {
			return id, nil
		}
		return 0, fmt.Errorf("service %s: condition key %q is in no condition key table", svc, key)
	}

	var body bytes.Buffer
	var nActions, nRTs, nActRes, nActKeys, nRTKeys, nSvcKeys int
	for i, k := range keys {
		g := ""
		if i < nGlobal {
			g = "g"
		}
		fmt.Fprintf(&body, "K\t%s\t%s\t%s\n", k.key, k.typ, g)
	}
	for _, svc := range services {
		name := s.ServiceNames[svc]
		if err := checkField("service name", name, "\t\n"); err != nil {
			return err
		}
		body.WriteString("S\t" + svc + "\t" + name + "\t")
		writeIDs(&body, svcKeys[svc])
		nSvcKeys += len(svcKeys[svc])
		body.WriteByte('\n')

		rts := s.ResourceTypes[svc]
		rtNames := sortedKeys(rts)
		rtID := make(map[string]int, len(rtNames))
		for i, lk := range rtNames {
			rt := rts[lk]
			if err := checkField("resource type", rt.Key, "\t\n,"); err != nil {
				return fmt.Errorf("service %s: %w", svc, err)
			}
			if err := checkField("ARN format", rt.ARN, "\t\n"); err != nil {
				return fmt.Errorf("service %s: %w", svc, err)
			}
			if strings.Count(rt.ARN, ":") < 5 || !strings.HasPrefix(rt.ARN, "arn:") {
				return fmt.Errorf("service %s resource type %s: malformed ARN format %q", svc, rt.Key, rt.ARN)
			}
			rtID[strings.ToLower(rt.Key)] = i
			ids, err := resolveAll(resolve, svc, rt.ConditionKeys)
			if err != nil {
				return fmt.Errorf("resource type %s: %w", rt.Key, err)
			}
			body.WriteString("R\t" + rt.Key + "\t" + rt.ARN + "\t")
			writeIDs(&body, ids)
			body.WriteByte('\n')
			nRTs++
			nRTKeys += len(ids)
		}

		acts := s.Actions[svc]
		for _, lk := range sortedKeys(acts) {
			a := acts[lk]
			if err := checkField("action name", a.Name, "\t\n,:*?"); err != nil {
				return fmt.Errorf("service %s: %w", svc, err)
			}
			if strings.ToLower(a.Name) != lk {
				return fmt.Errorf("service %s: action key %q does not match name %q", svc, lk, a.Name)
			}
			lvl, err := levelCode(a.AccessLevel)
			if err != nil {
				return fmt.Errorf("action %s:%s: %w", svc, a.Name, err)
			}
			body.WriteString("A\t" + svc + ":" + a.Name + "\t")
			body.WriteByte(lvl)
			body.WriteByte('\t')
			for i, r := range a.ResourceTypes {
				id, ok := rtID[strings.ToLower(r.Name)]
				if !ok {
					return fmt.Errorf("action %s:%s: unknown resource type %q", svc, a.Name, r.Name)
				}
				if i > 0 {
					body.WriteByte(',')
				}
				if r.Required {
					body.WriteByte('+')
				}
				body.WriteString(strconv.Itoa(id))
			}
			nActRes += len(a.ResourceTypes)
			ids, err := resolveAll(resolve, svc, a.ConditionKeys)
			if err != nil {
				return fmt.Errorf("action %s:%s: %w", svc, a.Name, err)
			}
			body.WriteByte('\t')
			writeIDs(&body, ids)
			body.WriteByte('\n')
			nActKeys += len(ids)
			nActions++
		}
	}

	bw := bufio.NewWriter(w)
	for _, f := range []string{s.Source.Package, s.Source.Version} {
		if err := checkField("source", f, "\t\n"); err != nil {
			return err
		}
	}
	fmt.Fprintf(bw, "iamcatalog\t%d\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n", FormatVersion,
		s.Source.Package, s.Source.Version, len(services), nActions, len(keys), nRTs, nActRes, nActKeys, nRTKeys, nSvcKeys)
	if _, err := bw.Write(body.Bytes()); err != nil {
		return fmt.Errorf("write catalog: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write catalog: %w", err)
	}
	return nil
}

func resolveAll(resolve func(svc, key string) (int, error), svc string, keys []string) ([]int, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	ids := make([]int, len(keys))
	for i, k := range keys {
		id, err := resolve(svc, k)
		if err != nil {
			return nil, err
		}
		ids[i] = id
	}
	return ids, nil
}

func writeIDs(b *bytes.Buffer, ids []int) {
	for i, id := range ids {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(id))
	}
}

func checkField(what, v, forbidden string) error {
	if v == "" {
		return fmt.Errorf("empty %s", what)
	}
	if strings.ContainsAny(v, forbidden) {
		return fmt.Errorf("%s %q contains one of %q", what, v, forbidden)
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// VersionFile returns the Go source of the small generated file that records
// the provenance of the embedded data in package pkg.
func VersionFile(pkg string, src Source) ([]byte, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "// Code generated by gencatalog from %s@%s; DO NOT EDIT.\n\n", src.Package, src.Version)
	fmt.Fprintf(&b, "package %s\n\n", pkg)
	fmt.Fprintf(&b, "// DataPackage is the npm package the embedded catalog was generated from.\n")
	fmt.Fprintf(&b, "const DataPackage = %q\n\n", src.Package)
	fmt.Fprintf(&b, "// DataVersion is the version of DataPackage the embedded catalog was generated from.\n")
	fmt.Fprintf(&b, "const DataVersion = %q\n\n", src.Version)
	fmt.Fprintf(&b, "// DataLicense is the license of the embedded data (text in LICENSE-iam-data.txt).\n")
	fmt.Fprintf(&b, "const DataLicense = %q\n", src.License)
	out, err := format.Source(b.Bytes())
	if err != nil {
		return nil, fmt.Errorf("format version file: %w", err)
	}
	return out, nil
}
