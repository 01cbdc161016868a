package iam

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseCredentialReport(t *testing.T) {
	const head = "user,arn,password_enabled,password_last_used,mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated\n"
	tests := []struct {
		name    string
		csv     string
		wantErr string
		check   func(t *testing.T, rows []CredentialRow)
	}{
		{
			name: "rows",
			csv:  head + "<root_account>,arn:aws:iam::1:root,not_supported,no_information,true,false,N/A,N/A,N/A,false,N/A\nann,arn:aws:iam::1:user/ann,true,2026-11-01T10:00:00+00:00,false,true,2026-01-02T00:00:00+00:00,N/A,N/A,false,N/A\n",
			check: func(t *testing.T, rows []CredentialRow) {
				if len(rows) != 2 {
					t.Fatalf("rows=%d, want 2", len(rows))
				}
				if r := rows[0]; r.User != RootUser || r.PasswordEnabled || !r.MFAActive || r.Keys[0].Present() {
					t.Errorf("root row = %+v", r)
				}
				r := rows[1]
				if !r.PasswordEnabled || r.MFAActive || !r.PasswordLastUsed.Equal(time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)) {
					t.Errorf("ann row = %+v", r)
				}
				if k := r.Keys[0]; !k.Active || !k.Present() || !k.LastUsed.IsZero() || k.LastUsedService != "" {
					t.Errorf("ann key 1 = %+v", k)
				}
			},
		},
		{name: "bad date", csv: head + "ann,arn:aws:iam::1:user/ann,true,last tuesday,false,false,N/A,N/A,N/A,false,N/A\n", wantErr: "line 2 column password_last_used"},
		{name: "no arn column", csv: "user,password_enabled\nann,true\n", wantErr: "no arn column"},
		{name: "empty", csv: "", wantErr: "credential report header"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rows, err := ParseCredentialReport(strings.NewReader(tc.csv))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err=%v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, rows)
		})
	}
}

func TestParseOrg(t *testing.T) {
	t.Run("json", func(t *testing.T) {
		o, err := ParseOrg([]byte(`{"scp":[{"id":"r-1","policies":[{"Policy":{"PolicySummary":{"Id":"p-FullAWSAccess","Name":"FullAWSAccess"},"Content":"{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":\"*\"}]}"}}]}]}`))
		if err != nil {
			t.Fatal(err)
		}
		if len(o.SCPs) != 1 || o.SCPs[0].OrgIdentifier != "r-1" || len(o.SCPs[0].Policies) != 1 || o.SCPs[0].Policies[0].Name() != "FullAWSAccess" {
			t.Errorf("org = %+v", o)
		}
	})
	tests := []struct {
		name, doc, want string
	}{
		{"unknown key", `{"scps":[]}`, "field scps not found"},
		{"broken policy", `{"scp":[{"id":"r-1","policies":[{"Policy":{"PolicySummary":{"Name":"bad"},"Content":"{\"Statement\":{\"Effect\":\"Allow\"}}"}}]}]}`, "scp[0](r-1).policies[0] (bad)"},
		{"principal in SCP", `{"scp":[{"id":"r-1","policies":[{"Policy":{"PolicySummary":{"Name":"p"},"Content":"{\"Statement\":{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"*\",\"Resource\":\"*\"}}"}}]}]}`, "scp[0](r-1).policies[0] (p)"},
		{"no content", `{"rcp":[{"id":"r-1","policies":[{"Policy":{"PolicySummary":{"Name":"p"}}}]}]}`, "Policy.Content missing"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseOrg([]byte(tc.doc))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err=%v, want %q", err, tc.want)
			}
		})
	}
	if _, err := ParseOrg([]byte(`{"scps":[]}`)); !errors.Is(err, ErrMalformed) {
		t.Errorf("unknown key error %v is not ErrMalformed", err)
	}
}
