// Package report tells, per principal over a tracking window, which
// granted actions it used (with calls, resources and the statements that
// allowed them), which it holds but never used, which it was refused,
// which of its calls today's model no longer allows and why, which
// granted actions CloudTrail cannot show, who acted inside a role, and
// how much of what it holds it uses.
//
// A Report is data (JSON-tagged structs): the CLI, the HTTP API and the
// dashboard share it; rendering to a table or Markdown is the separate
// step in render.go. Each day of activity is judged against the IAM model
// in force that day (analyzer/model), with our own engine. The package
// reads usage through analyzer/usage and models through analyzer/model,
// and never scans raw events.
package report

import (
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/iamd/iamd/analyzer/catalog"
	"github.com/iamd/iamd/analyzer/iam"
	"github.com/iamd/iamd/analyzer/policy"
	"github.com/iamd/iamd/analyzer/usage"
)

// Report is the analysis of some principals over one window.
type Report struct {
	Window usage.Window `json:"window"`
	// Models are the IAM models the days were judged against.
	Models []ModelRef `json:"models"`
	// AccountsWithoutModel are accounts with activity but no snapshot:
	// their principals are listed with usage only.
	AccountsWithoutModel []string          `json:"accounts_without_model,omitempty"`
	Principals           []PrincipalReport `json:"principals"`
}

// ModelRef names one IAM model.
type ModelRef struct {
	Account string    `json:"account"`
	Taken   time.Time `json:"taken,omitzero"`
	Source  string    `json:"source"` // "store" or the file
}

// Status of a principal in the report.
const (
	// StatusAnalysed: the principal is in its account's model.
	StatusAnalysed = "analysed"
	// StatusRoot: the account root user, granted everything SCPs allow;
	// its unused actions are not listed.
	StatusRoot = "root"
	// StatusNoModel: its account has no IAM model; usage only.
	StatusNoModel = "no-model"
	// StatusNotInModel: its account has a model, which does not hold it
	// (deleted since, or charged by ingest under another name).
	StatusNotInModel = "not-in-model"
)

// PrincipalReport is one principal's used-vs-granted analysis.
type PrincipalReport struct {
	Principal string    `json:"principal"`
	Account   string    `json:"account"`
	Kind      string    `json:"kind,omitempty"` // user, role, root; "" when not in the model
	Status    string    `json:"status"`
	Created   time.Time `json:"created,omitzero"`
	// CreatedInWindow: created after the window opened, so what it did
	// not use yet says little.
	CreatedInWindow bool `json:"created_in_window,omitempty"`
	// UnknownPolicies apply but are not in the snapshot (or did not
	// parse): the real granted set may differ.
	UnknownPolicies []string `json:"unknown_policies,omitempty"`

	Used         []UsedAction         `json:"used"`
	Unused       []UnusedAction       `json:"unused"`
	Denied       []DeniedAction       `json:"denied"`
	NotGranted   []NotGrantedAction   `json:"not_granted"`
	Unobservable []UnobservableAction `json:"unobservable"`
	Sessions     *Sessions            `json:"sessions,omitempty"`
	Utilisation  Utilisation          `json:"utilisation"`
}

// Statement names a policy statement: the policy (managed policy ARN,
// or OWNER#inline/NAME), its Sid and 0-based index, and where it sits.
type Statement struct {
	Policy string `json:"policy"`
	Sid    string `json:"sid,omitempty"`
	Index  int    `json:"index"`
	Layer  string `json:"layer"`
}

func statementOf(r policy.StatementRef) Statement {
	return Statement{Policy: r.Policy, Sid: r.Sid, Index: r.Index, Layer: r.Layer.String()}
}

// Short is the statement as a table shows it: "alice-access/ReadS3",
// "ReadOnlyAccess#0".
func (s Statement) Short() string {
	name := s.Policy
	if i := strings.Index(name, "#inline/"); i >= 0 {
		name = name[i+len("#inline/"):]
	} else if i := strings.LastIndexByte(name, '/'); i >= 0 && strings.HasPrefix(name, "arn:") {
		name = name[i+1:]
	}
	if s.Sid != "" {
		return name + "/" + s.Sid
	}
	return name + "#" + strconv.Itoa(s.Index)
}

// ResourceUse is one resource an action touched.
type ResourceUse struct {
	Resource string    `json:"resource"`
	Calls    uint64    `json:"calls"`
	LastUsed time.Time `json:"last_used"`
}

// UsedAction is a granted action with allowed calls in the window.
type UsedAction struct {
	Action    string    `json:"action"`
	Level     string    `json:"access_level,omitempty"`
	Calls     uint64    `json:"calls"`
	FirstUsed time.Time `json:"first_used"`
	LastUsed  time.Time `json:"last_used"`
	// Resources are the most used resources (Report options' Top), and
	// ResourceCount how many there were.
	Resources     []ResourceUse `json:"resources"`
	ResourceCount int           `json:"resource_count"`
	// AllowedBy are the statements that allowed it (engine explanation
	// for the most used resource, under the newest model that allowed it).
	AllowedBy []Statement `json:"allowed_by,omitempty"`
	// GrantedNow is false when today's model no longer grants it (it is
	// then also in NotGranted).
	GrantedNow bool `json:"granted_now"`
	// CallsUngrantedThatDay counts calls on days whose model did not
	// grant the action (granted since, or by something outside the
	// model).
	CallsUngrantedThatDay uint64 `json:"calls_ungranted_that_day,omitempty"`
}

// UnusedAction is an action granted today with no allowed call in the
// window.
type UnusedAction struct {
	Action      string      `json:"action"`
	Service     string      `json:"service"`
	Level       string      `json:"access_level"`
	Resources   []string    `json:"resources"` // resource scope of the grant
	Conditional bool        `json:"conditional"`
	GrantedBy   []Statement `json:"granted_by"`
	// ServiceUnused: no action of the service was used in the window.
	ServiceUnused bool `json:"service_unused"`
}

// DeniedAction is an action attempted and refused in the window.
type DeniedAction struct {
	Action     string    `json:"action"`
	Calls      uint64    `json:"calls"`
	LastDenied time.Time `json:"last_denied"`
	// Resources are the resources refused on (most refused first).
	Resources []string `json:"resources"`
	// GrantedNow: today's model grants the action (on some resource).
	GrantedNow bool `json:"granted_now"`
}

// Reasons of NotGrantedAction.
const (
	NotGrantedEarlierSnapshot = "earlier-snapshot"
	NotGrantedResourcePolicy  = "resource-policy"
	NotGrantedActionMapping   = "action-mapping"
	NotGrantedUnexplained     = "unexplained"
)

// NotGrantedAction is an action with allowed calls in the window that
// today's model does not allow (on the resources listed).
type NotGrantedAction struct {
	Action    string    `json:"action"`
	Calls     uint64    `json:"calls"`
	LastUsed  time.Time `json:"last_used"`
	Resources []string  `json:"resources"`
	Reason    string    `json:"reason"`
	Detail    string    `json:"detail"`
}

// UnobservableAction is a granted action CloudTrail cannot show: never
// counted as unused, never removed by a suggestion.
type UnobservableAction struct {
	Action string `json:"action"`
	Reason string `json:"reason"`
	Detail string `json:"detail"`
}

// Sessions are who acted inside a role.
type Sessions struct {
	SessionNames     []Share `json:"session_names,omitempty"`
	SourceIdentities []Share `json:"source_identities,omitempty"`
}

// Share is one session name or source identity with its share of the
// sessions' calls (of those the index keeps).
type Share struct {
	Name     string    `json:"name"`
	Calls    uint64    `json:"calls"`
	Share    float64   `json:"share"`
	LastSeen time.Time `json:"last_seen"`
}

// Utilisation is used / granted actions, overall and per service.
type Utilisation struct {
	Used     int                  `json:"used"`
	Granted  int                  `json:"granted"`
	Ratio    float64              `json:"ratio"`
	Services []ServiceUtilisation `json:"services,omitempty"`
}

// ServiceUtilisation is used / granted actions of one service.
type ServiceUtilisation struct {
	Service string  `json:"service"`
	Used    int     `json:"used"`
	Granted int     `json:"granted"`
	Ratio   float64 `json:"ratio"`
}

func ratio(used, granted int) float64 {
	if granted == 0 {
		return 0
	}
	return float64(used) / float64(granted)
}

// Find returns the report of one principal.
func (r *Report) Find(arn string) (*PrincipalReport, bool) {
	i := sort.Search(len(r.Principals), func(i int) bool { return r.Principals[i].Principal >= arn })
	if i < len(r.Principals) && r.Principals[i].Principal == arn {
		return &r.Principals[i], true
	}
	return nil, false
}

// levelOf returns an action's access level ("" when not in the catalog).
func levelOf(cat *catalog.Catalog, action string) string {
	if a, ok := cat.Lookup(action); ok {
		return a.Level.String()
	}
	return ""
}

// kindOf is the report's kind of a model principal.
func kindOf(p *iam.Principal) string { return string(p.Kind) }
