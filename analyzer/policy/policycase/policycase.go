// Package policycase loads policy-evaluation cases, runs them through the
// policy engine and reports each outcome. The format is the one of
// testdata/policy-eval/aws-iam-user-guide/cases.json, which is also the
// format of the coreEngineTests cases of the npm package
// @cloud-copilot/iam-simulate, so one runner drives the table test, the
// differential test and `iamd simulate --cases`.
//
// It imports only analyzer/policy.
package policycase

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/iamd/iamd/analyzer/policy"
)

// Case is one request, its policies and the expected decision.
type Case struct {
	ID   string `json:"id,omitempty"`
	Name string `json:"name,omitempty"`

	Request                 Request           `json:"request"`
	IdentityPolicies        []json.RawMessage `json:"identityPolicies"`
	PermissionBoundaries    []json.RawMessage `json:"permissionBoundaries,omitempty"`
	ResourcePolicy          json.RawMessage   `json:"resourcePolicy,omitempty"`
	ServiceControlPolicies  []OrgLevel        `json:"serviceControlPolicies,omitempty"`
	ResourceControlPolicies []OrgLevel        `json:"resourceControlPolicies,omitempty"`
	SessionPolicy           json.RawMessage   `json:"sessionPolicy,omitempty"`
	Expected                Expected          `json:"expected"`
	Note                    string            `json:"note,omitempty"`
}

// Request is the case's request. Context values are a string or a list of
// strings (a multivalued key); condition operators read them by their own
// type.
type Request struct {
	Principal string                     `json:"principal"`
	Action    string                     `json:"action"`
	Resource  Resource                   `json:"resource"`
	Context   map[string]json.RawMessage `json:"context,omitempty"`
}

// Resource is the resource ARN and the account that owns it.
type Resource struct {
	Resource  string `json:"resource"`
	AccountID string `json:"accountId"`
}

// OrgLevel is one level of SCPs or RCPs, root first.
type OrgLevel struct {
	OrgIdentifier string            `json:"orgIdentifier"`
	Policies      []json.RawMessage `json:"policies"`
}

// Expected is the expected outcome: a decision (Allowed, ImplicitlyDenied,
// ExplicitlyDenied) in Response, or, for cases about broken policies, a
// text that the policy error must contain in Error.
type Expected struct {
	Response string `json:"response,omitempty"`
	Error    string `json:"error,omitempty"`
}

// Label is the case's id, or its name.
func (c *Case) Label() string {
	if c.ID != "" {
		return c.ID
	}
	return c.Name
}

// Load reads a JSON array of cases.
func Load(r io.Reader) ([]Case, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read cases: %w", err)
	}
	var cases []Case
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&cases); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, fmt.Errorf("decode cases at byte %d: %w", se.Offset, err)
		}
		return nil, fmt.Errorf("decode cases: %w", err)
	}
	for i := range cases {
		c := &cases[i]
		if c.Expected.Response != "" {
			if _, err := policy.ParseResult(c.Expected.Response); err != nil {
				return nil, fmt.Errorf("case %d (%s): expected.response: %w", i, c.Label(), err)
			}
		} else if c.Expected.Error == "" {
			return nil, fmt.Errorf("case %d (%s): expected needs response or error", i, c.Label())
		}
	}
	return cases, nil
}

// LoadFile reads a JSON array of cases from a file.
func LoadFile(path string) ([]Case, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open cases: %w", err)
	}
	defer f.Close()
	cases, err := Load(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cases, nil
}

// Build compiles the case's policies and request. Policy names in
// explanations are "identity[i]", "boundary[i]", "session", "resource",
// "scp[level][i]" and "rcp[level][i]". Set.ResourcePolicyRequired follows
// policy.RequiresResourcePolicy (role trust and KMS key policies).
func (c *Case) Build() (*policy.Request, *policy.Set, error) {
	req := &policy.Request{
		Principal:       c.Request.Principal,
		Action:          c.Request.Action,
		Resource:        c.Request.Resource.Resource,
		ResourceAccount: c.Request.Resource.AccountID,
	}
	for k, raw := range c.Request.Context {
		if err := setContext(&req.Context, k, raw); err != nil {
			return nil, nil, err
		}
	}
	set := &policy.Set{ResourcePolicyRequired: policy.RequiresResourcePolicy(req.Action, req.Resource)}
	var errs []error
	compile := func(name string, raw json.RawMessage, l policy.Layer) *policy.Policy {
		p, err := policy.CompileJSON(name, documentBytes(raw))
		if err == nil {
			err = p.CheckLayer(l)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
			return nil
		}
		return p
	}
	for i, raw := range c.IdentityPolicies {
		set.Identity = appendNonNil(set.Identity, compile(fmt.Sprintf("identity[%d]", i), raw, policy.LayerIdentity))
	}
	for i, raw := range c.PermissionBoundaries {
		set.Boundary = appendNonNil(set.Boundary, compile(fmt.Sprintf("boundary[%d]", i), raw, policy.LayerBoundary))
	}
	if present(c.SessionPolicy) {
		set.Session = appendNonNil(set.Session, compile("session", c.SessionPolicy, policy.LayerSession))
	}
	if present(c.ResourcePolicy) {
		set.Resource = compile("resource", c.ResourcePolicy, policy.LayerResource)
	}
	levels := func(kind string, ls []OrgLevel, l policy.Layer) []policy.OrgLevel {
		var out []policy.OrgLevel
		for i, lv := range ls {
			ol := policy.OrgLevel{OrgIdentifier: lv.OrgIdentifier, Policies: []*policy.Policy{}}
			for j, raw := range lv.Policies {
				ol.Policies = appendNonNil(ol.Policies, compile(fmt.Sprintf("%s[%d][%d]", kind, i, j), raw, l))
			}
			out = append(out, ol)
		}
		return out
	}
	set.SCPs = levels("scp", c.ServiceControlPolicies, policy.LayerSCP)
	set.RCPs = levels("rcp", c.ResourceControlPolicies, policy.LayerRCP)
	if len(errs) > 0 {
		return nil, nil, errors.Join(errs...)
	}
	return req, set, nil
}

// setContext stores one context key: a string, number or boolean, or a
// list of them (a multivalued key).
func setContext(ctx *policy.Context, key string, raw json.RawMessage) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return fmt.Errorf("request.context %q: %w", key, err)
	}
	scalar := func(v any) (string, policy.ValueType, bool) {
		switch x := v.(type) {
		case string:
			return x, policy.TypeString, true
		case json.Number:
			return x.String(), policy.TypeNumeric, true
		case bool:
			if x {
				return "true", policy.TypeBool, true
			}
			return "false", policy.TypeBool, true
		}
		return "", 0, false
	}
	if list, ok := v.([]any); ok {
		vals := make([]string, 0, len(list))
		typ := policy.TypeString
		for _, e := range list {
			s, t, ok := scalar(e)
			if !ok {
				return fmt.Errorf("request.context %q: list elements must be strings, numbers or booleans", key)
			}
			vals, typ = append(vals, s), t
		}
		ctx.SetList(key, typ, vals)
		return nil
	}
	s, t, ok := scalar(v)
	if !ok {
		return fmt.Errorf("request.context %q: want a string, number, boolean or a list of them", key)
	}
	ctx.SetTyped(key, t, s)
	return nil
}

// documentBytes returns the policy text: a policy may be given as a JSON
// object or as a JSON string holding the document (as IAM APIs return it),
// which lets cases carry malformed documents.
func documentBytes(raw json.RawMessage) []byte {
	var s string
	if t := bytes.TrimSpace(raw); len(t) > 0 && t[0] == '"' && json.Unmarshal(t, &s) == nil {
		return []byte(s)
	}
	return raw
}

func present(raw json.RawMessage) bool {
	s := strings.TrimSpace(string(raw))
	return s != "" && s != "null"
}

func appendNonNil(ps []*policy.Policy, p *policy.Policy) []*policy.Policy {
	if p == nil {
		return ps
	}
	return append(ps, p)
}

// Outcome is the report of one case, one JSON line in `iamd simulate
// --cases`.
type Outcome struct {
	ID       string `json:"id,omitempty"`
	Name     string `json:"name,omitempty"`
	Decision string `json:"decision"`
	Expected string `json:"expected"`
	Pass     bool   `json:"pass"`
	Error    string `json:"error,omitempty"`
	Reason   string `json:"reason,omitempty"`
	// Rule names the AWS service rule that decided (policy.ServiceRule),
	// when one did.
	Rule   string   `json:"rule,omitempty"`
	Allows []string `json:"allows,omitempty"`
	Denies []string `json:"denies,omitempty"`
	// Warnings say what makes the request unlike a real one
	// (policy.Request.Warnings); the case is decided anyway.
	Warnings []string `json:"warnings,omitempty"`
}

// Run evaluates one case. A case whose policies do not compile has
// Decision "Error" and passes only when Expected.Error is part of the
// error text.
func Run(c *Case) Outcome {
	out := Outcome{ID: c.ID, Name: c.Name, Expected: c.Expected.Response}
	if c.Expected.Response == "" {
		out.Expected = "error containing " + c.Expected.Error
	}
	req, set, err := c.Build()
	if err != nil {
		out.Decision, out.Error = "Error", err.Error()
		out.Pass = c.Expected.Error != "" && strings.Contains(err.Error(), c.Expected.Error)
		return out
	}
	var d policy.Decision
	set.Evaluate(req, &d)
	out.Decision, out.Reason, out.Warnings = d.Result.String(), d.Reason, req.Warnings()
	if d.Rule != policy.RuleNone {
		out.Rule = d.Rule.String()
	}
	for _, r := range d.Allows {
		out.Allows = append(out.Allows, r.String())
	}
	for _, r := range d.Denies {
		out.Denies = append(out.Denies, r.String())
	}
	out.Pass = c.Expected.Response != "" && out.Decision == c.Expected.Response
	return out
}

// Summary counts outcomes.
type Summary struct {
	Passed, Failed int
}

func (s Summary) String() string { return fmt.Sprintf("%d passed, %d failed", s.Passed, s.Failed) }

// RunAll runs every case and writes one JSON line per case followed by a
// closing "N passed, N failed" line.
func RunAll(cases []Case, w io.Writer) (Summary, error) {
	var sum Summary
	enc := json.NewEncoder(w)
	for i := range cases {
		o := Run(&cases[i])
		if o.Pass {
			sum.Passed++
		} else {
			sum.Failed++
		}
		if err := enc.Encode(o); err != nil {
			return sum, fmt.Errorf("write outcome of case %s: %w", cases[i].Label(), err)
		}
	}
	if _, err := fmt.Fprintln(w, sum.String()); err != nil {
		return sum, fmt.Errorf("write summary: %w", err)
	}
	return sum, nil
}
