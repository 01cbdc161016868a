package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/iamd/iamd/analyzer/policy"
)

const simTestdata = "../../analyzer/policy/testdata/cli/"

// runIamd runs the root command in-process and returns its output.
func runIamd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

func TestSimulateOneRequest(t *testing.T) {
	alice := "arn:aws:iam::111111111111:user/alice"
	tests := []struct {
		name     string
		args     []string
		decision string
		contains []string
	}{
		{
			name: "deny-without-mfa",
			args: []string{"--action", "s3:DeleteObject", "--resource", "arn:aws:s3:::bucket1/x", "--principal", alice,
				"--identity", simTestdata + "admin.json", "--identity", simTestdata + "deny-delete.json",
				"--context", "aws:MultiFactorAuthPresent=bool:false"},
			decision: "ExplicitlyDenied",
			contains: []string{"deny-delete.json  NoDeleteWithoutMFA"},
		},
		{
			name: "mfa-present",
			args: []string{"--action", "s3:DeleteObject", "--resource", "arn:aws:s3:::bucket1/x", "--principal", alice,
				"--identity", simTestdata + "admin.json", "--identity", simTestdata + "deny-delete.json",
				"--context", "aws:MultiFactorAuthPresent=bool:true"},
			decision: "Allowed",
			contains: []string{"admin.json", "Admin"},
		},
		{
			name: "scp-region-deny",
			args: []string{"--action", "ec2:RunInstances", "--principal", alice, "--identity", simTestdata + "admin.json",
				"--scp", simTestdata + "admin.json," + simTestdata + "scp-eu-only.json", "--context", "aws:RequestedRegion=us-east-1"},
			decision: "ExplicitlyDenied",
			contains: []string{"scp level 0", "EUOnly"},
		},
		{
			name: "boundary-cuts-off",
			args: []string{"--action", "ec2:RunInstances", "--principal", alice, "--identity", simTestdata + "admin.json",
				"--boundary", simTestdata + "boundary-s3.json"},
			decision: "ImplicitlyDenied",
			contains: []string{"permissions boundary does not allow"},
		},
		{
			name: "cross-account-needs-resource-policy",
			args: []string{"--action", "s3:GetObject", "--resource", "arn:aws:s3:::bucket1/x", "--resource-account", "111111111111",
				"--principal", "arn:aws:iam::333333333333:user/mallory", "--identity", simTestdata + "admin.json",
				"--resource-policy", simTestdata + "bucket-policy.json"},
			decision: "ImplicitlyDenied",
			contains: []string{"no resource-based policy allows"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := runIamd(t, append([]string{"simulate"}, tt.args...)...)
			if err != nil {
				t.Fatalf("simulate: %v\n%s", err, out)
			}
			if got := firstField(out, "decision:"); got != tt.decision {
				t.Errorf("decision=%q, want %q\n%s", got, tt.decision, out)
			}
			for _, s := range tt.contains {
				if !strings.Contains(out, s) {
					t.Errorf("output lacks %q:\n%s", s, out)
				}
			}
		})
	}
}

func firstField(out, label string) string {
	for _, line := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(line, label); ok {
			return strings.TrimSpace(rest)
		}
	}
	return ""
}

func TestSimulateJSON(t *testing.T) {
	out, err := runIamd(t, "simulate", "--format", "json", "--action", "s3:GetObject", "--resource", "arn:aws:s3:::bucket1/x",
		"--resource-account", "111111111111", "--principal", "arn:aws:iam::222222222222:user/carol",
		"--identity", simTestdata+"admin.json", "--resource-policy", simTestdata+"bucket-policy.json")
	if err != nil {
		t.Fatalf("simulate: %v\n%s", err, out)
	}
	var got struct {
		Decision string
		Allows   []struct{ Layer, Policy, Sid string }
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("decode %q: %v", out, err)
	}
	if got.Decision != "Allowed" || len(got.Allows) != 2 || got.Allows[1].Layer != "resource" || got.Allows[1].Sid != "PartnerRead" {
		t.Errorf("got %+v, want Allowed by identity Admin and resource PartnerRead", got)
	}
}

func TestSimulateCases(t *testing.T) {
	tests := []struct {
		file     string
		wantExit int
		summary  string
	}{
		{"cases-pass.json", 0, "2 passed, 0 failed"},
		{"cases-one-failing.json", 1, "2 passed, 1 failed"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			out, err := runIamd(t, "simulate", "--cases", simTestdata+tt.file)
			code := 0
			var ex exitError
			if errors.As(err, &ex) {
				code = ex.code
			} else if err != nil {
				t.Fatalf("simulate --cases: %v", err)
			}
			if code != tt.wantExit {
				t.Errorf("exit status %d, want %d", code, tt.wantExit)
			}
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if got := lines[len(lines)-1]; got != tt.summary {
				t.Errorf("last line %q, want %q", got, tt.summary)
			}
			for _, l := range lines[:len(lines)-1] {
				var o struct {
					ID, Decision, Expected string
					Pass                   bool
				}
				if err := json.Unmarshal([]byte(l), &o); err != nil {
					t.Fatalf("line %q: %v", l, err)
				}
				if o.Pass != (o.Decision == o.Expected) {
					t.Errorf("case %s: pass=%v with decision %s expected %s", o.ID, o.Pass, o.Decision, o.Expected)
				}
				if o.ID == "cli/deliberately-wrong-expectation" && (o.Pass || o.Decision != "ImplicitlyDenied") {
					t.Errorf("case %s: got pass=%v decision=%s, want a failing ImplicitlyDenied", o.ID, o.Pass, o.Decision)
				}
			}
		})
	}
}

func TestSimulateBadInput(t *testing.T) {
	alice := "arn:aws:iam::111111111111:user/alice"
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"broken-policy", []string{"--action", "s3:GetObject", "--principal", alice, "--identity", simTestdata + "broken.json"}, "Statement[0].Effect"},
		{"missing-file", []string{"--action", "s3:GetObject", "--principal", alice, "--identity", simTestdata + "nope.json"}, "nope.json"},
		{"bad-context", []string{"--action", "s3:GetObject", "--principal", alice, "--context", "novalue"}, "want key=value"},
		{"bad-bool", []string{"--action", "s3:GetObject", "--principal", alice, "--context", "aws:SecureTransport=bool:yes"}, "want true or false"},
		{"no-action", []string{"--principal", alice}, "--action and --principal are required"},
		{"bad-format", []string{"--action", "s3:GetObject", "--principal", alice, "--format", "xml"}, "want table or json"},
		{"principal-in-identity", []string{"--action", "s3:GetObject", "--principal", alice, "--identity", simTestdata + "bucket-policy.json"}, "has no Principal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := runIamd(t, append([]string{"simulate"}, tt.args...)...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err=%v, want one containing %q (output %q)", err, tt.want, out)
			}
		})
	}
}

func TestParseContextFlags(t *testing.T) {
	tests := []struct {
		flags []string
		key   string
		typ   string
		vals  []string
		multi bool
	}{
		{[]string{"aws:username=alice"}, "aws:username", "string", []string{"alice"}, false},
		{[]string{"aws:SourceArn=arn:aws:sns:us-east-1:111111111111:t"}, "aws:sourcearn", "arn", []string{"arn:aws:sns:us-east-1:111111111111:t"}, false},
		{[]string{"s3:max-keys=numeric:10"}, "s3:max-keys", "numeric", []string{"10"}, false},
		{[]string{"aws:TagKeys=env", "aws:TagKeys=team"}, "aws:tagkeys", "string", []string{"env", "team"}, true},
		{[]string{"aws:SourceIp=ip:203.0.113.5"}, "aws:SourceIp", "ip", []string{"203.0.113.5"}, false},
		{[]string{"note=hello:world"}, "note", "string", []string{"hello:world"}, false},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.flags, ","), func(t *testing.T) {
			var ctx policy.Context
			if err := parseContextFlags(&ctx, tt.flags); err != nil {
				t.Fatal(err)
			}
			v, ok := ctx.Lookup(tt.key)
			if !ok {
				t.Fatalf("key %s missing", tt.key)
			}
			if v.Type.String() != tt.typ || strings.Join(v.Values, "|") != strings.Join(tt.vals, "|") || v.Multi != tt.multi {
				t.Errorf("got %s %v multi=%v, want %s %v multi=%v", v.Type, v.Values, v.Multi, tt.typ, tt.vals, tt.multi)
			}
		})
	}
}

// runIamdSplit runs the root command in-process with stdout and stderr
// apart.
func runIamdSplit(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	root := newRootCmd()
	var out, errb bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetArgs(args)
	err = root.Execute()
	return out.String(), errb.String(), err
}

func writeTemp(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestSimulateRulesAndWarnings: the reason and the rule line name the AWS
// rule that decided (an explicit deny still wins), and a request resource
// that is not one real resource draws a warning on stderr while the
// decision is still printed.
func TestSimulateRulesAndWarnings(t *testing.T) {
	alice := "arn:aws:iam::111111111111:user/alice"
	denyIAM := writeTemp(t, "deny-iam.json", `{"Version":"2012-10-17","Statement":{"Sid":"NoPolicyDeletes","Effect":"Deny","Action":"iam:DeletePolicy","Resource":"*"}}`)
	tests := []struct {
		name             string
		args             []string
		decision, reason string
		rule             string
		warning          string // "" = no warning
	}{
		{"managed policy refused", []string{"--action", "iam:DeletePolicy", "--resource", "arn:aws:iam::aws:policy/ReadOnlyAccess", "--identity", simTestdata + "admin.json"},
			"ImplicitlyDenied", policy.ReasonAWSManagedPolicy, "aws-managed-policy-read-only", ""},
		{"managed policy, explicit deny", []string{"--action", "iam:DeletePolicy", "--resource", "arn:aws:iam::aws:policy/ReadOnlyAccess", "--identity", simTestdata + "admin.json", "--identity", denyIAM},
			"ExplicitlyDenied", policy.ReasonExplicitDeny, "aws-managed-policy-read-only", ""},
		{"caller identity under a deny", []string{"--action", "sts:GetCallerIdentity", "--identity", writeTemp(t, "deny-all.json", `{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"*","Resource":"*"}}`)},
			"Allowed", policy.ReasonGetCallerIdentity, "get-caller-identity-needs-no-permission", ""},
		{"wildcard in the resource", []string{"--action", "s3:GetObject", "--resource", "arn:aws:s3:::bucket1/*", "--identity", simTestdata + "admin.json"},
			"Allowed", policy.ReasonIdentityAllow, "", `resource "arn:aws:s3:::bucket1/*" contains "*"`},
		{"star for an action on a resource", []string{"--action", "s3:GetObject", "--identity", simTestdata + "admin.json"},
			"Allowed", policy.ReasonIdentityAllow, "", `--resource is "*" but s3:GetObject acts on a resource (`},
		{"star for an action without resource type", []string{"--action", "s3:ListAllMyBuckets", "--identity", simTestdata + "admin.json"},
			"Allowed", policy.ReasonIdentityAllow, "", ""},
		{"one named resource", []string{"--action", "s3:GetObject", "--resource", "arn:aws:s3:::bucket1/a.txt", "--identity", simTestdata + "admin.json"},
			"Allowed", policy.ReasonIdentityAllow, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, err := runIamdSplit(t, append([]string{"simulate", "--principal", alice}, tt.args...)...)
			if err != nil {
				t.Fatalf("simulate: %v\n%s%s", err, out, errOut)
			}
			if got := firstField(out, "decision:"); got != tt.decision {
				t.Errorf("decision=%q, want %q\n%s", got, tt.decision, out)
			}
			if got := firstField(out, "reason:"); got != tt.reason {
				t.Errorf("reason=%q, want %q", got, tt.reason)
			}
			if got := firstField(out, "rule:"); !strings.HasPrefix(got, tt.rule) || (tt.rule == "") != (got == "") {
				t.Errorf("rule line %q, want one naming %q", got, tt.rule)
			}
			if tt.warning == "" && errOut != "" || !strings.Contains(errOut, tt.warning) {
				t.Errorf("stderr %q, want a warning containing %q", errOut, tt.warning)
			}
			if strings.Contains(out, "warning") {
				t.Errorf("warning on stdout: %s", out)
			}
		})
	}
	out, _, err := runIamdSplit(t, "simulate", "--format", "json", "--principal", alice, "--action", "s3:GetObject", "--resource", "arn:aws:s3:::b/*", "--identity", simTestdata+"admin.json")
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Decision string
		Warnings []string
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil || got.Decision != "Allowed" || len(got.Warnings) != 1 {
		t.Errorf("JSON %s (err %v), want Allowed with one warning", out, err)
	}
}

// TestSimulateRejectsNotPrincipalAllow pins the decision on NotPrincipal
// with Allow in a resource-based policy: an error naming the statement, not
// a guess.
func TestSimulateRejectsNotPrincipalAllow(t *testing.T) {
	rp := writeTemp(t, "bucket.json", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","NotPrincipal":{"AWS":"arn:aws:iam::111111111111:user/bob"},"Action":"s3:GetObject","Resource":"*"}]}`)
	_, _, err := runIamdSplit(t, "simulate", "--principal", "arn:aws:iam::111111111111:user/alice", "--action", "s3:GetObject",
		"--resource", "arn:aws:s3:::b/x", "--resource-policy", rp)
	if err == nil || !errors.Is(err, policy.ErrUnsupported) || !strings.Contains(err.Error(), "Statement[0].NotPrincipal") {
		t.Fatalf("err=%v, want ErrUnsupported at Statement[0].NotPrincipal", err)
	}
}

// TestSimulateSharedDocCases runs the AWS IAM User Guide cases through the
// command: every one passes.
func TestSimulateSharedDocCases(t *testing.T) {
	const shared = "../../../shared/testdata/policy-eval/aws-iam-user-guide/cases.json"
	if _, err := os.Stat(shared); err != nil {
		t.Skipf("AWS IAM User Guide cases: shared test data not found at %s", shared)
	}
	out, err := runIamd(t, "simulate", "--cases", shared)
	if err != nil {
		t.Fatalf("simulate --cases: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if got, want := lines[len(lines)-1], "78 passed, 0 failed"; got != want {
		t.Errorf("summary %q, want %q", got, want)
	}
}
