package ui

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/iamd/iamd/analyzer/iam"
	"github.com/iamd/iamd/analyzer/report"
	"github.com/iamd/iamd/analyzer/suggest"
	"github.com/iamd/iamd/analyzer/unused"
	"github.com/iamd/iamd/analyzer/usage"
	"github.com/iamd/iamd/cmd/iamd/internal/listing"
	"github.com/iamd/iamd/cmd/iamd/internal/scheduler"
	"github.com/iamd/iamd/rotator"
	"github.com/iamd/iamd/store"
)

// fakeData is a Data of Func fields; a nil field answers errNoData.
type fakeData struct {
	report     func(principal string) (*report.Report, error)
	unused     func() (*unused.Result, error)
	audit      func() ([]listing.Audit, error)
	suggestion func(principal string) (*suggest.Output, error)
	rotation   func() (*Rotation, error)
	health     func() (*Health, error)
}

var errNoData = errors.New("store unreadable: fixture error")

func (f fakeData) Report(_ context.Context, p string) (*report.Report, error) {
	if f.report == nil {
		return nil, errNoData
	}
	return f.report(p)
}

func (f fakeData) Unused(context.Context) (*unused.Result, error) {
	if f.unused == nil {
		return nil, errNoData
	}
	return f.unused()
}

func (f fakeData) Audit(context.Context) ([]listing.Audit, error) {
	if f.audit == nil {
		return nil, errNoData
	}
	return f.audit()
}

func (f fakeData) Suggestion(_ context.Context, p string) (*suggest.Output, error) {
	if f.suggestion == nil {
		return nil, errNoData
	}
	return f.suggestion(p)
}

func (f fakeData) Rotation(context.Context) (*Rotation, error) {
	if f.rotation == nil {
		return nil, errNoData
	}
	return f.rotation()
}

func (f fakeData) Health(context.Context) (*Health, error) {
	if f.health == nil {
		return nil, errNoData
	}
	return f.health()
}

// fixtureNow is the fixtures' clock.
var fixtureNow = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

const (
	acctA   = "111122223333"
	acctB   = "444455556666"
	alice   = "arn:aws:iam::111122223333:user/alice"
	deploy  = "arn:aws:iam::111122223333:role/service/deploy"
	rootA   = "arn:aws:iam::111122223333:root"
	partner = "arn:aws:iam::444455556666:role/partner-sync"
	// hostile is a session name that tries to inject markup: every page
	// must show it as text.
	hostile = `<script>alert("x")</script>`
)

func day(d int) time.Time { return fixtureNow.AddDate(0, 0, -d) }

func stmt(policy, sid string) report.Statement {
	return report.Statement{Policy: policy, Sid: sid, Layer: "identity"}
}

// fixtureReport has one principal of each status: an over-granted user,
// a role with sessions (one named to inject markup), the root user and a
// role of an account without a model.
func fixtureReport() *report.Report {
	window := usage.Window{Start: day(90), End: day(1)}
	return &report.Report{
		Window:               window,
		Models:               []report.ModelRef{{Account: acctA, Taken: day(1), Source: "store"}},
		AccountsWithoutModel: []string{acctB},
		Principals: []report.PrincipalReport{
			{Principal: partner, Account: acctB, Status: report.StatusNoModel,
				Used: []report.UsedAction{{Action: "s3:GetObject", Calls: 3, FirstUsed: day(30), LastUsed: day(2),
					Resources: []report.ResourceUse{{Resource: "arn:aws:s3:::drop/x", Calls: 3, LastUsed: day(2)}}, ResourceCount: 1}}},
			{Principal: rootA, Account: acctA, Kind: "root", Status: report.StatusRoot,
				Used:        []report.UsedAction{{Action: "iam:ListUsers", Level: "List", Calls: 1, FirstUsed: day(5), LastUsed: day(5), GrantedNow: true}},
				Utilisation: report.Utilisation{Used: 1, Granted: 20000, Ratio: 0.00005}},
			{Principal: deploy, Account: acctA, Kind: "role", Status: report.StatusAnalysed, Created: day(400),
				Used: []report.UsedAction{{Action: "s3:PutObject", Level: "Write", Calls: 40, FirstUsed: day(60), LastUsed: day(1),
					Resources:     []report.ResourceUse{{Resource: "arn:aws:s3:::artifacts/a", Calls: 30, LastUsed: day(1)}, {Resource: "arn:aws:s3:::artifacts/b", Calls: 10, LastUsed: day(3)}},
					ResourceCount: 7, AllowedBy: []report.Statement{stmt("arn:aws:iam::111122223333:policy/deploy", "Artifacts")}, GrantedNow: true}},
				Unused: []report.UnusedAction{
					{Action: "s3:DeleteObject", Service: "s3", Level: "Write", Resources: []string{"arn:aws:s3:::artifacts/*"}, GrantedBy: []report.Statement{stmt("arn:aws:iam::111122223333:policy/deploy", "Artifacts")}},
				},
				Unobservable: []report.UnobservableAction{{Action: "s3:GetObjectTorrent", Reason: "data-event", Detail: "no data events in the trail"}},
				Sessions: &report.Sessions{SessionNames: []report.Share{
					{Name: "ci-1234", Calls: 30, Share: 0.75, LastSeen: day(1)},
					{Name: hostile, Calls: 10, Share: 0.25, LastSeen: day(3)},
				}},
				Utilisation: report.Utilisation{Used: 1, Granted: 3, Ratio: 1.0 / 3, Services: []report.ServiceUtilisation{{Service: "s3", Used: 1, Granted: 3, Ratio: 1.0 / 3}}}},
			{Principal: alice, Account: acctA, Kind: "user", Status: report.StatusAnalysed, Created: day(500),
				Used: []report.UsedAction{{Action: "ec2:DescribeInstances", Level: "List", Calls: 12, FirstUsed: day(80), LastUsed: day(2),
					Resources: []report.ResourceUse{{Resource: "*", Calls: 12, LastUsed: day(2)}}, ResourceCount: 1,
					AllowedBy: []report.Statement{stmt(alice+"#inline/alice-access", "Ec2Read")}, GrantedNow: true}},
				Unused: []report.UnusedAction{
					{Action: "ec2:TerminateInstances", Service: "ec2", Level: "Write", Resources: []string{"*"}, Conditional: true, GrantedBy: []report.Statement{stmt(alice+"#inline/alice-access", "Ec2Write")}},
					{Action: "iam:CreateUser", Service: "iam", Level: "Write", Resources: []string{"*"}, ServiceUnused: true, GrantedBy: []report.Statement{stmt(alice+"#inline/alice-access", "")}},
					{Action: "iam:DeleteUser", Service: "iam", Level: "Write", Resources: []string{"*"}, ServiceUnused: true, GrantedBy: []report.Statement{stmt(alice+"#inline/alice-access", "")}},
				},
				Denied: []report.DeniedAction{{Action: "kms:Decrypt", Calls: 4, LastDenied: day(3), Resources: []string{"arn:aws:kms:us-east-1:111122223333:key/k1"}}},
				Utilisation: report.Utilisation{Used: 1, Granted: 4, Ratio: 0.25, Services: []report.ServiceUtilisation{
					{Service: "ec2", Used: 1, Granted: 2, Ratio: 0.5}, {Service: "iam", Used: 0, Granted: 2, Ratio: 0}}}},
		},
	}
}

// fixtureData answers every method with small, hand-made documents.
func fixtureData() fakeData {
	rep := fixtureReport()
	return fakeData{
		report: func(p string) (*report.Report, error) {
			if p == "" {
				return rep, nil
			}
			one := *rep
			one.Principals = nil
			for _, pr := range rep.Principals {
				if pr.Principal == p {
					one.Principals = append(one.Principals, pr)
				}
			}
			return &one, nil
		},
		unused: func() (*unused.Result, error) {
			return &unused.Result{Window: rep.Window, Findings: []unused.Finding{
				{Type: unused.TypeRole, Status: unused.StatusUnused, Principal: "arn:aws:iam::111122223333:role/old-etl", Created: day(700), LastUsed: day(200), LastUsedFrom: "model", Detail: "no call and no AssumeRole into it in the window"},
				{Type: unused.TypeAccessKey, Status: unused.StatusUnused, Principal: alice, AccessKeyID: "AKIAEXAMPLEOLD00001", Created: day(300), Detail: "active key not used in the window"},
				{Type: unused.TypeUser, Status: unused.StatusTooNew, Principal: "arn:aws:iam::111122223333:user/new-hire", Created: day(3), Detail: "created 3 days ago"},
				{Type: unused.TypePermissions, Status: unused.StatusUnused, Principal: alice, Created: day(500), Detail: "3 of 4 granted actions unused",
					Services: []unused.Service{{Service: "ec2", Actions: []string{"ec2:TerminateInstances"}}, {Service: "iam", Unused: true, Actions: []string{"iam:CreateUser", "iam:DeleteUser"}}}},
			}}, nil
		},
		audit: func() ([]listing.Audit, error) {
			return []listing.Audit{{Account: acctA, Warnings: []string{"policy arn:aws:iam::aws:policy/Gone is attached but not in the snapshot"},
				Findings: []iam.Finding{
					{Rule: "IAM011", Severity: iam.SeverityHigh, Principal: alice, Title: "can escalate privileges", Method: "CreateAccessKey",
						Evidence: []string{"iam:CreateAccessKey on * by alice-access"}, Fix: "limit iam:CreateAccessKey to the user's own ARN"},
					{Rule: "CT001", Severity: iam.SeverityCritical, Principal: rootA, Title: "root user used", Evidence: []string{"1 call in the window"}, Fix: "use an IAM role"},
					{Rule: "IAM008", Severity: iam.SeverityLow, Principal: alice, Title: "policies attached to the user instead of a group", Fix: "use groups"},
				},
				Skipped: []iam.SkippedCheck{{Rules: []string{"IAM002"}, Check: "console users without MFA", Principals: []string{alice}, Reason: "no credential report", Fix: "iamd snapshot save --live"}},
			}}, nil
		},
		suggestion: func(p string) (*suggest.Output, error) {
			if p != alice {
				return nil, nil
			}
			sg := &suggest.Suggestion{Principal: alice, Kind: "user", Window: rep.Window, Compared: true, Model: "store " + acctA,
				Generated: &suggest.Generated{Documents: []suggest.Document{{Version: "2012-10-17", Statement: []suggest.Stmt{{Sid: "Ec2Read", Effect: "Allow", Action: []string{"ec2:DescribeInstances"}, Resource: []string{"*"}}}}},
					Permissions: []string{"ec2:DescribeInstances *"}},
				InPlace: &suggest.InPlace{Policies: []suggest.PolicyChange{{Name: "alice-access", Change: "inline", Removed: []string{"ec2:TerminateInstances", "iam:CreateUser", "iam:DeleteUser"},
					Original:  json.RawMessage(`{"Version":"2012-10-17","Statement":[{"Sid":"Ec2Read","Effect":"Allow","Action":"ec2:DescribeInstances","Resource":"*"},{"Sid":"Ec2Write","Effect":"Allow","Action":"ec2:TerminateInstances","Resource":"*","Condition":{"Bool":{"aws:MultiFactorAuthPresent":"true"}}},{"Effect":"Allow","Action":["iam:CreateUser","iam:DeleteUser"],"Resource":"*"}]}`),
					Suggested: json.RawMessage(`{"Version":"2012-10-17","Statement":[{"Sid":"Ec2Read","Effect":"Allow","Action":"ec2:DescribeInstances","Resource":"*"}]}`)}}},
				Removed: []suggest.Removal{
					{Action: "ec2:TerminateInstances", Level: "Write", Resources: []string{"*"}, GrantedBy: []report.Statement{stmt(alice+"#inline/alice-access", "Ec2Write")}, FirstGranted: day(500)},
					{Action: "iam:CreateUser", Level: "Write", Resources: []string{"*"}, GrantedBy: []report.Statement{stmt(alice+"#inline/alice-access", "")}},
					{Action: "iam:DeleteUser", Level: "Write", Resources: []string{"*"}, GrantedBy: []report.Statement{stmt(alice+"#inline/alice-access", "")}},
				},
				Kept:       []suggest.Kept{{Action: "iam:ChangePassword", Reason: "shared-through-group", Detail: "granted through a group"}},
				Check:      suggest.Check{Passed: true, Generated: &suggest.CheckResult{Passed: true, Evaluations: 12}, InPlace: &suggest.CheckResult{Passed: true, Evaluations: 9}},
				Conditions: "Conditions are kept as written.",
				Notes:      []string{"alice is in group developers, whose policies other members share."},
			}
			return &suggest.Output{Suggestion: sg,
				InPlaceCommands:   suggest.Commands{Apply: []string{"aws iam put-user-policy --user-name alice --policy-name alice-access --policy-document file://inplace-alice-access.json"}, Rollback: []string{"aws iam put-user-policy --user-name alice --policy-name alice-access --policy-document file://original-alice-access.json"}},
				GeneratedCommands: suggest.Commands{Apply: []string{"aws iam create-policy --policy-name iamd-alice-generated-1 --policy-document file://generated-1.json"}, Rollback: []string{"aws iam delete-policy --policy-arn arn:aws:iam::111122223333:policy/iamd-alice-generated-1"}},
				Changes:           &suggest.Diff{Previous: day(7), GeneratedAdded: []string{"ec2:DescribeInstances *"}, RemovedAdded: []string{"iam:DeleteUser"}, RemovedUnchanged: 2},
			}, nil
		},
		rotation: func() (*Rotation, error) {
			seen := []store.Seen{{Value: "203.0.113.9", LastSeen: day(1), Count: 3}}
			return &Rotation{
				Users: []rotator.UserReport{{User: "alice", UserARN: alice, Phase: rotator.PhaseDraining, Target: "secretsmanager",
					Reason: "the old key was used 1 day ago", Next: "deactivate the old key once idle", NextAt: fixtureNow.Add(6 * 24 * time.Hour),
					OldKey: &rotator.KeyReport{ID: "AKIAEXAMPLEOLD00001", Status: "Active", Created: day(120), AgeDays: 120, LastUsed: day(1), SourceIPs: seen, UserAgents: []store.Seen{{Value: "aws-cli/2.15 " + hostile, LastSeen: day(2), Count: 1}}},
					NewKey: &rotator.KeyReport{ID: "AKIAEXAMPLENEW00002", Status: "Active", Created: day(2), AgeDays: 2},
					Alerts: []rotator.Alert{{At: day(1), KeyID: "AKIAEXAMPLEOLD00000", LastSeen: day(1), SourceIPs: seen}}}},
				Keys: []AccessKey{
					{User: alice, ID: "AKIAEXAMPLEOLD00001", Status: "Active", Created: day(120), FirstSeen: day(90), LastSeen: day(1), Calls: 40, SourceIPs: seen},
					{User: alice, ID: "AKIAEXAMPLENEW00002", Status: "Active", Created: day(2)},
				},
			}, nil
		},
		health: func() (*Health, error) {
			lastEnd, next := day(1), fixtureNow.Add(3*time.Hour)
			return &Health{
				Sources: []Source{
					{Name: "trail", Kind: "s3", State: "running", Connected: true, Since: day(2), Records: 120000, Written: 119000, Quarantined: 3, Lag: "newest object 4m0s old"},
					{Name: "stream", Kind: "kafka", State: "backoff", Restarts: 2, LastError: "dial tcp 10.0.0.9:9092: connection refused", Lag: "12 messages"},
				},
				Quarantined:  map[string]uint64{"malformed-json": 2, "unknown-event": 1},
				IndexUpdated: fixtureNow.Add(-2 * time.Minute),
				Model:        Model{Configured: true, Account: acctA, Taken: day(1)},
				Jobs: []scheduler.Status{
					{Name: "suggestions", Schedule: "@weekly", LastEnd: &lastEnd, LastOutcome: "ok", NextRun: &next, Runs: 3},
					{Name: "iam-refresh", Schedule: "@daily", LastEnd: &lastEnd, LastOutcome: "error", LastError: "live IAM: throttled", NextRun: &next, Runs: 9, Failures: 1},
				},
			}, nil
		},
	}
}
