package configs

import (
	"bufio"
	"bytes"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/iamd/iamd/analyzer/catalog"
	"github.com/iamd/iamd/analyzer/policy"
)

// awsCall is one line of aws-calls.txt.
type awsCall struct {
	line               int
	service, operation string
	action, variant    string
	where              []string
	resource           string
	context            map[string]string
}

func readCalls(t *testing.T) []awsCall {
	t.Helper()
	data, err := os.ReadFile("aws-calls.txt")
	if err != nil {
		t.Fatal(err)
	}
	var out []awsCall
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 6 && len(f) != 7 {
			t.Fatalf("aws-calls.txt:%d: %d columns, want 6 or 7", n, len(f))
		}
		c := awsCall{line: n, service: f[0], operation: f[1], action: f[2], variant: f[3], resource: f[5], context: map[string]string{}}
		if f[4] != "-" {
			c.where = strings.Split(f[4], ",")
		}
		if len(f) == 7 {
			k, v, ok := strings.Cut(f[6], "=")
			if !ok {
				t.Fatalf("aws-calls.txt:%d: context %q is not key=value", n, f[6])
			}
			c.context[k] = v
		}
		switch c.variant {
		case "analysis", "rotation", "tool", "free":
		default:
			t.Fatalf("aws-calls.txt:%d: policy %q: want analysis, rotation, tool or free", n, c.variant)
		}
		out = append(out, c)
	}
	return out
}

// sdkCalls finds, in the repository's non-test Go files, every use of an
// operation's Input type of an aws-sdk-go-v2 service package: each call
// (direct or through a paginator) builds one. It returns
// "service Operation" → package directories.
func sdkCalls(t *testing.T, root string) map[string]map[string]bool {
	t.Helper()
	const sdk = "github.com/aws/aws-sdk-go-v2/service/"
	out := map[string]map[string]bool{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		services := map[string]string{} // import name → service
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			svc, ok := strings.CutPrefix(p, sdk)
			if !ok || strings.Contains(svc, "/") {
				continue
			}
			alias := svc
			if imp.Name != nil {
				alias = imp.Name.Name
			}
			services[alias] = svc
		}
		if len(services) == 0 {
			return nil
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		ast.Inspect(f, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			id, ok := sel.X.(*ast.Ident)
			if !ok {
				return true
			}
			svc, ok := services[id.Name]
			op, isInput := strings.CutSuffix(sel.Sel.Name, "Input")
			if !ok || !isInput || op == "" {
				return true
			}
			k := svc + " " + op
			if out[k] == nil {
				out[k] = map[string]bool{}
			}
			out[k][filepath.ToSlash(rel)] = true
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestAWSCallsMatchCode keeps aws-calls.txt honest: every SDK call in the
// code is listed with the directory that makes it, and every listed call
// of a directory that exists is still made there.
func TestAWSCallsMatchCode(t *testing.T) {
	calls := readCalls(t)
	found := sdkCalls(t, "..")
	if len(found) == 0 {
		t.Fatal("found no AWS SDK call in the repository: the scan is broken")
	}
	listed := map[string]awsCall{}
	for _, c := range calls {
		listed[c.service+" "+c.operation] = c
	}
	for k, dirs := range found {
		c, ok := listed[k]
		if !ok {
			t.Errorf("%s is called in %v but not listed in aws-calls.txt", k, keys(dirs))
			continue
		}
		for d := range dirs {
			if !contains(c.where, d) {
				t.Errorf("aws-calls.txt:%d: %s is also called in %s", c.line, k, d)
			}
		}
	}
	for _, c := range calls {
		k := c.service + " " + c.operation
		for _, d := range c.where {
			if _, err := os.Stat(filepath.Join("..", d)); err != nil {
				continue // the package that will make the call is not there yet
			}
			if !found[k][d] {
				t.Errorf("aws-calls.txt:%d: %s is listed for %s, which does not call it", c.line, k, d)
			}
		}
	}
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestPolicies evaluates each shipped policy with our engine: every call
// of its variant is allowed on its example resource, and no other catalog
// action is allowed on any of those resources or on "*".
func TestPolicies(t *testing.T) {
	cat, err := catalog.Load()
	if err != nil {
		t.Fatal(err)
	}
	calls := readCalls(t)
	for _, tc := range []struct {
		file     string
		doc      []byte
		variants []string
	}{
		{"iam-policy-analysis.json", PolicyAnalysis, []string{"analysis"}},
		{"iam-policy-rotation.json", PolicyRotation, []string{"analysis", "rotation"}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			onDisk, err := os.ReadFile(tc.file)
			if err != nil || !bytes.Equal(onDisk, tc.doc) {
				t.Fatalf("embedded %s differs from the file (%v)", tc.file, err)
			}
			p, err := policy.CompileJSON(tc.file, tc.doc)
			if err != nil {
				t.Fatal(err)
			}
			set := &policy.Set{Identity: []*policy.Policy{p}}
			allowed := func(action, resource string, ctx map[string]string) bool {
				req := &policy.Request{Principal: "arn:aws:iam::111122223333:role/iamd", Action: action, Resource: resource}
				for k, v := range ctx {
					req.Context.Set(k, v)
				}
				var d policy.Decision
				// A call that needs no permission is allowed whatever the
				// policy says (policy.ServiceRule): it says nothing of
				// what the policy grants.
				return set.Evaluate(req, &d) == policy.Allowed && !d.Rule.NoPermissionNeeded()
			}
			want := map[string]bool{}
			resources := map[string]map[string]string{"*": nil}
			for _, c := range calls {
				if !contains(tc.variants, c.variant) {
					continue
				}
				if _, ok := cat.Lookup(c.action); !ok {
					t.Errorf("aws-calls.txt:%d: %s is not in the action catalog", c.line, c.action)
				}
				want[strings.ToLower(c.action)] = true
				resources[c.resource] = c.context
				if !allowed(c.action, c.resource, c.context) {
					t.Errorf("%s does not allow %s (%s %s) on %s", tc.file, c.action, c.service, c.operation, c.resource)
				}
			}
			if len(want) == 0 {
				t.Fatal("no calls for this policy")
			}
			checked := 0
			for id := range cat.Len() {
				a := cat.ActionAt(id).FullName()
				if want[strings.ToLower(a)] {
					continue
				}
				for r, ctx := range resources {
					checked++
					if allowed(a, r, ctx) {
						t.Errorf("%s allows %s on %s, which no listed call needs", tc.file, a, r)
					}
				}
			}
			t.Logf("%d listed actions allowed; %d other action × resource requests denied", len(want), checked)
		})
	}
}
