package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

const iamFixture = "../../analyzer/iam/testdata/fixtures/account.json"

// execIamd runs the root command in-process (audit with a fixed clock).
func execIamd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRootCmd()
	for _, c := range root.Commands() {
		if c.Name() == "audit" {
			root.RemoveCommand(c)
		}
	}
	root.AddCommand(newAuditCmdAt(func() time.Time { return time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC) }))
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

func TestGrantedCommand(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		contains []string
		absent   []string
		wantErr  string
	}{
		{
			name:     "boundary table",
			args:     []string{"--principal", "bounded"},
			contains: []string{"granted actions: 2", "s3:GetObject", "arn:aws:s3:::logs/*", "boundary-limits-resources: boundary arn:aws:iam::111122223333:policy/boundary-s3-logs"},
			absent:   []string{"ec2:"},
		},
		{
			name:     "group inheritance by ARN",
			args:     []string{"--principal", "arn:aws:iam::111122223333:user/two-keys", "--service", "s3"},
			contains: []string{"granted actions: 2", "s3:ListBucket", "group/readers#inline/read"},
		},
		{
			name:     "service filter empty",
			args:     []string{"--principal", "two-keys", "--service", "ec2"},
			contains: []string{"granted actions: 0"},
		},
		{name: "unknown principal", args: []string{"--principal", "nobody"}, wantErr: `--principal "nobody": no such principal`},
		{name: "unknown service", args: []string{"--principal", "two-keys", "--service", "nosuch"}, wantErr: `--service "nosuch": unknown service prefix`},
		{name: "bad format", args: []string{"--principal", "two-keys", "--format", "xml"}, wantErr: `--format "xml"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := execIamd(t, append([]string{"granted", "--iam", iamFixture}, tc.args...)...)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err=%v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("err=%v\n%s", err, out)
			}
			for _, c := range tc.contains {
				if !strings.Contains(out, c) {
					t.Errorf("output lacks %q:\n%s", c, out)
				}
			}
			for _, c := range tc.absent {
				if strings.Contains(out, c) {
					t.Errorf("output has %q:\n%s", c, out)
				}
			}
		})
	}
	t.Run("json", func(t *testing.T) {
		out, err := execIamd(t, "granted", "--iam", iamFixture, "--principal", "direct", "--format", "json")
		if err != nil {
			t.Fatal(err)
		}
		var got grantedJSON
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if got.Principal != "arn:aws:iam::111122223333:user/direct" || got.Count != 2 || len(got.Grants) != 2 {
			t.Fatalf("got %+v", got)
		}
		if got.Grants[0].Action != "ec2:RunInstances" || !got.Grants[0].AllResources || got.Grants[1].Action != "iam:PassRole" {
			t.Errorf("grants = %+v", got.Grants)
		}
	})
	t.Run("organization SCP removes PassRole", func(t *testing.T) {
		out, err := execIamd(t, "granted", "--iam", iamFixture, "--principal", "direct", "--org", "../../analyzer/iam/testdata/fixtures/org.yaml")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, "granted actions: 1") || strings.Contains(out, "iam:PassRole") {
			t.Errorf("SCP deny of iam:PassRole not applied:\n%s", out)
		}
		out, err = execIamd(t, "audit", "--iam", iamFixture, "--org", "../../analyzer/iam/testdata/fixtures/org.yaml")
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(out, "PassRole+EC2") {
			t.Errorf("audit still reports PassRole+EC2 under the SCP:\n%s", out)
		}
	})
	t.Run("missing file", func(t *testing.T) {
		_, err := execIamd(t, "granted", "--iam", "testdata/nonexistent.json", "--principal", "x")
		if err == nil || !strings.Contains(err.Error(), "nonexistent.json") {
			t.Fatalf("err=%v", err)
		}
	})
}
