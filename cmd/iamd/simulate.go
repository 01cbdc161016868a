package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/iamd/iamd/analyzer/catalog"
	"github.com/iamd/iamd/analyzer/policy"
	"github.com/iamd/iamd/analyzer/policy/policycase"
)

// simulateOptions are the flags of `iamd simulate`.
type simulateOptions struct {
	action          string
	resource        string
	resourceAccount string
	principal       string
	context         []string
	identity        []string
	boundary        string
	scp             []string
	rcp             []string
	resourcePolicy  string
	sessionPolicy   string
	format          string
	cases           string
}

const simulateLong = `Evaluate one request offline against policy files, like
"aws iam simulate-custom-policy", and print the decision with the statements
that allowed and denied it.

Context keys (--context, repeatable):
  key=value          a single-valued string key
  key=TYPE:value     a typed key; TYPE is string, bool, numeric, date, ip,
                     arn or binary (bool must be true/false, date ISO 8601 or
                     epoch seconds, ip an address)
  key=arn:...        a value that is an ARN is typed arn as it stands
  giving the same key more than once makes it a multivalued key (a list),
  which ForAllValues/ForAnyValue conditions test.
Condition operators read every value by their own type, as AWS does; the type
only validates the value here.

Organization policies: each --scp/--rcp is one level, root first; several
policy files on one level are separated by commas (--scp root.json,ou.json is
one level with two policies; --scp root.json --scp ou.json two levels).

A request names one resource. A --resource that contains "*" is matched
literally, not as a pattern of resources, and "*" itself fits only actions
without a resource type: simulate warns on stderr in both cases (to see on
which resources a principal is granted an action, use "iamd granted").

A few calls are decided by an AWS rule besides the policies, and the reason
names it: sts:GetCallerIdentity needs no permission, even under an explicit
deny; changing AWS-managed policies, /aws-reserved/ (IAM Identity Center)
roles or alias/aws/ KMS aliases is refused to every customer principal.

With --cases FILE, run a JSON array of cases (the cases.json format) instead:
one JSON line per case, then "N passed, N failed"; exit status 1 when any case
fails.`

func newSimulateCmd() *cobra.Command {
	var o simulateOptions
	cmd := &cobra.Command{
		Use:   "simulate",
		Short: "Evaluate a request against IAM policies offline (Allowed, ImplicitlyDenied, ExplicitlyDenied)",
		Long:  simulateLong,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.cases != "" {
				return runSimulateCases(cmd.OutOrStdout(), o.cases)
			}
			return runSimulate(cmd.OutOrStdout(), cmd.ErrOrStderr(), &o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.action, "action", "", "action, service:Action (required)")
	f.StringVar(&o.resource, "resource", "*", "resource ARN, or * for actions without a resource type")
	f.StringVar(&o.resourceAccount, "resource-account", "", "account that owns the resource (default: the principal's account)")
	f.StringVar(&o.principal, "principal", "", "caller ARN: IAM user, assumed-role session, role, root or service principal (required)")
	f.StringArrayVar(&o.context, "context", nil, "request context key=value or key=TYPE:value (repeatable)")
	f.StringArrayVar(&o.identity, "identity", nil, "identity-based policy file (repeatable)")
	f.StringVar(&o.boundary, "boundary", "", "permissions boundary policy file")
	f.StringArrayVar(&o.scp, "scp", nil, "SCP files of one organization level, comma-separated (repeatable, root first)")
	f.StringArrayVar(&o.rcp, "rcp", nil, "RCP files of one organization level, comma-separated (repeatable, root first)")
	f.StringVar(&o.resourcePolicy, "resource-policy", "", "resource-based policy file")
	f.StringVar(&o.sessionPolicy, "session-policy", "", "session policy file")
	addFormatFlag(cmd, &o.format, "output format")
	f.StringVar(&o.cases, "cases", "", "run a JSON array of test cases instead of one request")
	return cmd
}

func runSimulateCases(w io.Writer, path string) error {
	cases, err := policycase.LoadFile(path)
	if err != nil {
		return err
	}
	sum, err := policycase.RunAll(cases, w)
	if err != nil {
		return err
	}
	if sum.Failed > 0 {
		return exitError{code: 1}
	}
	return nil
}

func runSimulate(w, errw io.Writer, o *simulateOptions) error {
	if err := checkFormat(o.format); err != nil {
		return err
	}
	if o.action == "" || o.principal == "" {
		return errors.New("--action and --principal are required (or use --cases)")
	}
	warnings, err := checkSimulateRequest(o.action, o.principal)
	if err != nil {
		return err
	}
	req := &policy.Request{Principal: o.principal, Action: o.action, Resource: o.resource, ResourceAccount: o.resourceAccount}
	if err := parseContextFlags(&req.Context, o.context); err != nil {
		return err
	}
	set, err := loadSimulateSet(o)
	if err != nil {
		return err
	}
	set.ResourcePolicyRequired = policy.RequiresResourcePolicy(req.Action, req.Resource)
	more, err := requestWarnings(req)
	if err != nil {
		return err
	}
	warnings = append(warnings, more...)
	for _, wn := range warnings {
		fmt.Fprintln(errw, "warning: "+wn)
	}
	var d policy.Decision
	set.Evaluate(req, &d)
	if o.format == "json" {
		return writeDecisionJSON(w, &d, warnings)
	}
	return writeDecisionTable(w, &d)
}

// checkSimulateRequest refuses an action or principal the evaluation
// would misread, and warns about an action the catalog does not know: a
// decision on it holds only for policies that name it exactly or by a
// wildcard, which may well not be what AWS calls it.
func checkSimulateRequest(action, principal string) (warnings []string, err error) {
	svc, name, ok := strings.Cut(action, ":")
	if !ok || svc == "" || name == "" || strings.ContainsAny(action, "*? ") {
		// Without a prefix "GetObject" matches only a policy's "*" and
		// comes out Allowed against an admin policy: a silent wrong answer.
		return nil, fmt.Errorf("--action %q: want service:Action, e.g. s3:GetObject", action)
	}
	if !strings.HasPrefix(principal, "arn:") && !strings.HasSuffix(principal, ".amazonaws.com") && !strings.HasSuffix(principal, ".amazonaws.com.cn") {
		return nil, fmt.Errorf("--principal %q: want the caller's ARN (arn:aws:iam::111122223333:user/alice, arn:aws:sts::111122223333:assumed-role/Role/session) or a service principal (ec2.amazonaws.com)", principal)
	}
	if strings.HasPrefix(principal, "arn:") && strings.Count(principal, ":") < 5 {
		return nil, fmt.Errorf("--principal %q: not an ARN: want arn:partition:service:region:account:resource", principal)
	}
	cat, err := catalog.Load()
	if err != nil {
		return nil, fmt.Errorf("load action catalog: %w", err)
	}
	if _, ok := cat.Lookup(action); !ok {
		if _, known := cat.Service(svc); !known {
			warnings = append(warnings, fmt.Sprintf("service prefix %q is not in the action catalog (%s@%s): check the spelling", svc, catalog.DataPackage, catalog.DataVersion))
		} else {
			warnings = append(warnings, fmt.Sprintf("action %s is not in the action catalog (%s@%s): check the spelling; the decision holds only for policies that name it", action, catalog.DataPackage, catalog.DataVersion))
		}
	}
	return warnings, nil
}

// requestWarnings says what makes the request unlike a real one: a resource
// with "*" in it (matched literally), or "*" for an action that acts on a
// resource type, where a real request names the resource.
func requestWarnings(req *policy.Request) ([]string, error) {
	warnings := req.Warnings()
	if len(warnings) > 0 {
		warnings[len(warnings)-1] += ` (to see on which resources an action is granted, use "iamd granted")`
	}
	if req.Resource != "*" {
		return warnings, nil
	}
	cat, err := catalog.Load()
	if err != nil {
		return nil, fmt.Errorf("load action catalog: %w", err)
	}
	if a, ok := cat.Lookup(req.Action); ok && !a.WildcardOnly() {
		var types []string
		for _, r := range a.Resources {
			types = append(types, r.Type)
		}
		warnings = append(warnings, fmt.Sprintf(`--resource is "*" but %s acts on a resource (%s): a real request names its ARN, and only statements whose Resource matches "*" apply to this one`,
			a.FullName(), strings.Join(types, ", ")))
	}
	return warnings, nil
}

func loadSimulateSet(o *simulateOptions) (*policy.Set, error) {
	set := &policy.Set{}
	var errs []error
	load := func(path string, l policy.Layer) *policy.Policy {
		p, err := loadPolicyFile(path, l)
		if err != nil {
			errs = append(errs, err)
		}
		return p
	}
	for _, f := range o.identity {
		if p := load(f, policy.LayerIdentity); p != nil {
			set.Identity = append(set.Identity, p)
		}
	}
	if o.boundary != "" {
		if p := load(o.boundary, policy.LayerBoundary); p != nil {
			set.Boundary = []*policy.Policy{p}
		}
	}
	if o.sessionPolicy != "" {
		if p := load(o.sessionPolicy, policy.LayerSession); p != nil {
			set.Session = []*policy.Policy{p}
		}
	}
	if o.resourcePolicy != "" {
		set.Resource = load(o.resourcePolicy, policy.LayerResource)
	}
	levels := func(flags []string, l policy.Layer) []policy.OrgLevel {
		var out []policy.OrgLevel
		for _, lv := range flags {
			level := policy.OrgLevel{OrgIdentifier: lv, Policies: []*policy.Policy{}}
			for _, f := range strings.Split(lv, ",") {
				if p := load(strings.TrimSpace(f), l); p != nil {
					level.Policies = append(level.Policies, p)
				}
			}
			out = append(out, level)
		}
		return out
	}
	set.SCPs = levels(o.scp, policy.LayerSCP)
	set.RCPs = levels(o.rcp, policy.LayerRCP)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return set, nil
}

func loadPolicyFile(path string, l policy.Layer) (*policy.Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s policy: %w", l, err)
	}
	p, err := policy.CompileJSON(filepath.Base(path), data)
	if err != nil {
		return nil, fmt.Errorf("%s policy %s: %w", l, path, err)
	}
	if err := p.CheckLayer(l); err != nil {
		return nil, fmt.Errorf("%s policy %s: %w", l, path, err)
	}
	return p, nil
}

// parseContextFlags reads key=value / key=TYPE:value flags; a key given
// more than once becomes a multivalued key.
func parseContextFlags(ctx *policy.Context, flags []string) error {
	type entry struct {
		key    string
		typ    policy.ValueType
		values []string
	}
	var order []*entry
	byKey := map[string]*entry{}
	for _, f := range flags {
		key, val, ok := strings.Cut(f, "=")
		if !ok || key == "" {
			return fmt.Errorf("--context %q: want key=value or key=TYPE:value", f)
		}
		typ := policy.TypeString
		if strings.HasPrefix(val, "arn:") && !strings.HasPrefix(val, "arn:arn:") {
			typ = policy.TypeARN
		} else if t, rest, ok := strings.Cut(val, ":"); ok {
			if vt, known := policy.ParseValueType(t); known {
				typ, val = vt, rest
			}
		}
		if err := checkContextValue(typ, val); err != nil {
			return fmt.Errorf("--context %q: %w", f, err)
		}
		lk := strings.ToLower(key)
		e := byKey[lk]
		if e == nil {
			e = &entry{key: key, typ: typ}
			byKey[lk] = e
			order = append(order, e)
		} else if e.typ != typ {
			return fmt.Errorf("--context %q: key %s given as both %s and %s", f, key, e.typ, typ)
		}
		e.values = append(e.values, val)
	}
	for _, e := range order {
		if len(e.values) == 1 {
			ctx.SetTyped(e.key, e.typ, e.values[0])
		} else {
			ctx.SetList(e.key, e.typ, e.values)
		}
	}
	return nil
}

func checkContextValue(t policy.ValueType, v string) error {
	switch t {
	case policy.TypeBool:
		if v != "true" && v != "false" {
			return fmt.Errorf("bool value %q: want true or false", v)
		}
	case policy.TypeNumeric:
		if _, err := strconv.ParseFloat(v, 64); err != nil {
			return fmt.Errorf("numeric value %q: %w", v, err)
		}
	case policy.TypeIP:
		if _, err := netip.ParseAddr(v); err != nil {
			return fmt.Errorf("ip value %q: %w", v, err)
		}
	case policy.TypeDate:
		if !policy.ValidDate(v) {
			return fmt.Errorf("date value %q: want ISO 8601 or epoch seconds", v)
		}
	case policy.TypeARN:
		if !strings.HasPrefix(v, "arn:") || strings.Count(v, ":") < 5 {
			return fmt.Errorf("arn value %q: want arn:partition:service:region:account:resource", v)
		}
	}
	return nil
}

type refJSON struct {
	Layer  string `json:"layer"`
	Level  *int   `json:"level,omitempty"`
	Policy string `json:"policy"`
	Sid    string `json:"sid,omitempty"`
	Index  int    `json:"index"`
	Effect string `json:"effect"`
}

func refsJSON(refs []policy.StatementRef) []refJSON {
	out := make([]refJSON, 0, len(refs))
	for _, r := range refs {
		j := refJSON{Layer: r.Layer.String(), Policy: r.Policy, Sid: r.Sid, Index: r.Index, Effect: r.Effect.String()}
		if r.Layer == policy.LayerSCP || r.Layer == policy.LayerRCP {
			lv := r.Level
			j.Level = &lv
		}
		out = append(out, j)
	}
	return out
}

func writeDecisionJSON(w io.Writer, d *policy.Decision, warnings []string) error {
	out := struct {
		Decision string    `json:"decision"`
		Reason   string    `json:"reason"`
		Rule     string    `json:"rule,omitempty"`
		RuleDoc  string    `json:"ruleDoc,omitempty"`
		Allows   []refJSON `json:"allows"`
		Denies   []refJSON `json:"denies"`
		Warnings []string  `json:"warnings,omitempty"`
	}{Decision: d.Result.String(), Reason: d.Reason, Allows: refsJSON(d.Allows), Denies: refsJSON(d.Denies), Warnings: warnings}
	if d.Rule != policy.RuleNone {
		out.Rule, out.RuleDoc = d.Rule.String(), d.Rule.Doc()
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		return fmt.Errorf("write decision: %w", err)
	}
	return nil
}

func writeDecisionTable(w io.Writer, d *policy.Decision) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "decision:\t%s\n", d.Result)
	fmt.Fprintf(tw, "reason:\t%s\n", d.Reason)
	if d.Rule != policy.RuleNone {
		fmt.Fprintf(tw, "rule:\t%s (%s)\n", d.Rule, d.Rule.Doc())
	}
	if len(d.Allows)+len(d.Denies) > 0 {
		fmt.Fprintln(tw, "\nEFFECT\tLAYER\tPOLICY\tSTATEMENT")
		for _, refs := range [][]policy.StatementRef{d.Denies, d.Allows} {
			for _, r := range refs {
				layer := r.Layer.String()
				if r.Layer == policy.LayerSCP || r.Layer == policy.LayerRCP {
					layer = fmt.Sprintf("%s level %d", layer, r.Level)
				}
				stmt := r.Sid
				if stmt == "" {
					stmt = fmt.Sprintf("#%d", r.Index)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Effect, layer, r.Policy, stmt)
			}
		}
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write decision: %w", err)
	}
	return nil
}
