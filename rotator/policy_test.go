package rotator

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/iamd/iamd/analyzer/iam"
)

func TestDefaultPolicyIsValid(t *testing.T) {
	p := DefaultPolicy()
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	if !p.DryRun || p.MaxAge != 90*Day || p.Drain != 7*Day || p.Recovery != 10*Day || p.Delivery.SecretName != "iamd/access-keys/{user}" {
		t.Errorf("defaults = %+v", p)
	}
}

func TestPolicyValidate(t *testing.T) {
	tests := []struct {
		name  string
		mod   func(*Policy)
		field string
	}{
		{"short drain", func(p *Policy) { p.Drain = time.Minute }, "drain"},
		{"no users per run", func(p *Policy) { p.MaxUsersPerRun = 0 }, "max_users_per_run"},
		{"announce after due", func(p *Policy) { p.NotifyAhead = 100 * Day }, "notify_ahead"},
		{"secret name without user", func(p *Policy) { p.Delivery.SecretName = "shared" }, "delivery.secret_name"},
		{"relative file", func(p *Policy) { p.Delivery.Files = map[string]string{"disk": "keys/{user}"} }, "delivery.files.disk"},
		{"empty command", func(p *Policy) { p.Delivery.Commands = map[string][]string{"ci": nil} }, "delivery.commands.ci"},
		{"target name reused", func(p *Policy) { p.Delivery.Files = map[string]string{"secretsmanager": "/k/{user}"} }, "delivery.files.secretsmanager"},
		{"unknown default", func(p *Policy) { p.Delivery.Default = "vault" }, "delivery.default"},
		{"bad webhook", func(p *Policy) { p.WebhookURL = "ftp://x" }, "webhook_url"},
		{"bad glob", func(p *Policy) { p.Users.ExemptARNs = []string{"arn:["} }, "users.exempt_arns"},
		{"path without slash", func(p *Policy) { p.Users.PathPrefixes = []string{"ci/"} }, "users.path_prefixes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := DefaultPolicy()
			tc.mod(&p)
			err := p.Validate()
			var fe *FieldError
			if !errors.As(err, &fe) || !errors.Is(err, ErrInvalidPolicy) {
				t.Fatalf("Validate() = %v, want a FieldError", err)
			}
			if !strings.Contains(err.Error(), "rotation policy "+tc.field+" ") {
				t.Errorf("error %q does not name %s", err, tc.field)
			}
		})
	}
	t.Run("every problem at once", func(t *testing.T) {
		p := DefaultPolicy()
		p.Drain, p.MaxUsersPerRun = 0, 0
		if got := strings.Count(p.Validate().Error(), "rotation policy"); got != 2 {
			t.Errorf("%d problems reported, want 2", got)
		}
	})
}

func TestSelector(t *testing.T) {
	user := func(name, path string, groups []string, tags map[string]string) *iam.Principal {
		return &iam.Principal{Kind: iam.KindUser, Name: name, Path: path, ARN: "arn:aws:iam::111122223333:user" + path + name, Groups: groups, Tags: tags}
	}
	ci := user("deploy", "/ci/", []string{"deployers"}, map[string]string{"team": "platform"})
	human := user("alice", "/", []string{"admins"}, nil)
	optedIn := user("svc", "/", nil, map[string]string{"iamd-rotate": "true"})
	optedOut := user("legacy", "/ci/", nil, map[string]string{"iamd-rotate": "false"})
	role := &iam.Principal{Kind: iam.KindRole, Name: "r", ARN: "arn:aws:iam::111122223333:role/r"}
	tests := []struct {
		name string
		sel  Selector
		want map[*iam.Principal]bool
	}{
		{"all", Selector{}, map[*iam.Principal]bool{ci: true, human: true, optedIn: true, optedOut: false, role: false}},
		{"opt-in", Selector{OptIn: true}, map[*iam.Principal]bool{ci: false, human: false, optedIn: true, optedOut: false}},
		{"path", Selector{PathPrefixes: []string{"/ci/"}}, map[*iam.Principal]bool{ci: true, human: false, optedOut: false}},
		{"group", Selector{Groups: []string{"deployers"}}, map[*iam.Principal]bool{ci: true, human: false}},
		{"tag any value", Selector{Tags: map[string]string{"team": ""}}, map[*iam.Principal]bool{ci: true, human: false}},
		{"exempt group", Selector{ExemptGroups: []string{"admins"}}, map[*iam.Principal]bool{ci: true, human: false}},
		{"exempt tag", Selector{ExemptTags: map[string]string{"team": "platform"}}, map[*iam.Principal]bool{ci: false, human: true}},
		{"exempt ARN glob", Selector{ExemptARNs: []string{"arn:aws:iam::*:user/ci/*"}}, map[*iam.Principal]bool{ci: false, human: true}},
		{"exemption beats include", Selector{PathPrefixes: []string{"/ci/"}, ExemptGroups: []string{"deployers"}}, map[*iam.Principal]bool{ci: false}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for p, want := range tc.want {
				if got, why := tc.sel.Selects(p); got != want {
					t.Errorf("Selects(%s) = %v (%s), want %v", p.Name, got, why, want)
				}
			}
		})
	}
}

func TestSecretNeverPrints(t *testing.T) {
	const s = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	cred := Credential{UserName: "alice", AccessKeyID: "AKIAEXAMPLE", Secret: NewSecret(s)}
	var logBuf bytes.Buffer
	slog.New(slog.NewJSONHandler(&logBuf, nil)).Info("x", "cred", cred, "secret", cred.Secret)
	slog.New(slog.NewTextHandler(&logBuf, nil)).Info("x", "cred", cred, "secret", cred.Secret)
	js, _ := json.Marshal(cred)
	outs := []string{
		fmt.Sprint(cred), fmt.Sprintf("%v %+v %#v %s %q %x %X", cred, cred, cred, cred.Secret, cred.Secret, cred.Secret, cred.Secret),
		string(js), logBuf.String(), fmt.Errorf("wrapped: %v", cred).Error(),
	}
	for _, o := range outs {
		if strings.Contains(o, s) || strings.Contains(o, fmt.Sprintf("%x", s)) {
			t.Errorf("secret printed: %s", o)
		}
		if !strings.Contains(o, redacted) {
			t.Errorf("no %s marker in %s", redacted, o)
		}
	}
	if cred.Secret.Reveal() != s {
		t.Error("Reveal lost the secret")
	}
}
