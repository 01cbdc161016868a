package iam

import (
	"bytes"
	"errors"
	"fmt"
	"os"

	"go.yaml.in/yaml/v3"

	"github.com/iamd/iamd/analyzer/policy"
)

// Org is the organization layer that governs the account: the service
// control policies (SCPs) and resource control policies (RCPs) attached
// at each level from the root down to the account.
//
// File format (JSON or YAML; JSON shown):
//
//	{
//	  "scp": [
//	    {"id": "r-abcd", "policies": [ <output of aws organizations describe-policy>, … ]},
//	    {"id": "ou-abcd-11111111", "policies": [ … ]},
//	    {"id": "123456789012", "policies": [ … ]}
//	  ],
//	  "rcp": [ same shape ]
//	}
//
// where each policy is {"Policy": {"PolicySummary": {"Id": …, "Arn": …,
// "Name": …, "Type": "SERVICE_CONTROL_POLICY"}, "Content": "<policy JSON>"}}.
// Levels are root first; every level must allow an action (IAM User Guide,
// reference_policies_evaluation-logic, "service control policies").
type Org struct {
	SCPs []policy.OrgLevel
	RCPs []policy.OrgLevel
}

type orgFile struct {
	SCP []orgLevelFile `yaml:"scp"`
	RCP []orgLevelFile `yaml:"rcp"`
}

type orgLevelFile struct {
	ID       string          `yaml:"id"`
	Policies []orgPolicyFile `yaml:"policies"`
}

type orgPolicyFile struct {
	Policy struct {
		PolicySummary struct {
			ID         string `yaml:"Id"`
			Arn        string `yaml:"Arn"`
			Name       string `yaml:"Name"`
			Type       string `yaml:"Type"`
			AwsManaged bool   `yaml:"AwsManaged"`
		} `yaml:"PolicySummary"`
		Content string `yaml:"Content"`
	} `yaml:"Policy"`
}

// LoadOrgFile reads an organization layer file (see Org).
func LoadOrgFile(path string) (*Org, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load organization policies: %w", err)
	}
	o, err := ParseOrg(data)
	if err != nil {
		return nil, fmt.Errorf("load organization policies %s: %w", path, err)
	}
	return o, nil
}

// ParseOrg parses an organization layer document (see Org). Unknown keys
// are errors; every policy must parse.
func ParseOrg(data []byte) (*Org, error) {
	var f orgFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%w: organization file: %v", ErrMalformed, err)
	}
	o := &Org{}
	var errs []error
	build := func(kind string, levels []orgLevelFile, layer policy.Layer) []policy.OrgLevel {
		var out []policy.OrgLevel
		for i, lv := range levels {
			ol := policy.OrgLevel{OrgIdentifier: lv.ID}
			for j, pf := range lv.Policies {
				field := fmt.Sprintf("%s[%d](%s).policies[%d]", kind, i, lv.ID, j)
				s := pf.Policy.PolicySummary
				name := firstNonEmpty(s.Name, s.ID, s.Arn, field)
				if pf.Policy.Content == "" {
					errs = append(errs, fmt.Errorf("%w: %s (%s): Policy.Content missing", ErrMalformed, field, name))
					continue
				}
				p, err := policy.CompileJSON(name, []byte(pf.Policy.Content))
				if err == nil {
					err = p.CheckLayer(layer)
				}
				if err != nil {
					errs = append(errs, fmt.Errorf("%s (%s): %w", field, name, err))
					continue
				}
				ol.Policies = append(ol.Policies, p)
			}
			out = append(out, ol)
		}
		return out
	}
	o.SCPs = build("scp", f.SCP, policy.LayerSCP)
	o.RCPs = build("rcp", f.RCP, policy.LayerRCP)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return o, nil
}
