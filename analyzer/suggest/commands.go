package suggest

import (
	"fmt"
	"strings"

	"github.com/iamd/iamd/analyzer/iam"
)

// Commands are the AWS CLI commands that would apply a suggestion and
// those that would undo it. iamd prints them and never runs them.
type Commands struct {
	Apply    []string `json:"apply"`
	Rollback []string `json:"rollback"`
}

// entity is how the IAM CLI names a principal: "user"/"role" and its name.
type entity struct {
	kind, name, account string
}

func entityOf(arn string) (entity, bool) {
	rest, ok := strings.CutPrefix(arn, "arn:aws:iam::")
	if !ok {
		return entity{}, false
	}
	acct, res, _ := strings.Cut(rest, ":")
	kind, path, _ := strings.Cut(res, "/")
	if kind != "user" && kind != "role" {
		return entity{}, false
	}
	return entity{kind: kind, name: path[strings.LastIndexByte(path, '/')+1:], account: acct}, true
}

func (e entity) flag() string { return "--" + e.kind + "-name " + shellQuote(e.name) }

// generatedName is the managed policy name of a generated document.
func generatedName(e entity, i int) string { return fmt.Sprintf("iamd-%s-generated-%d", e.name, i) }

// copyName is the managed policy name of an in-place copy.
func copyName(e entity, policyName string) string { return "iamd-" + e.name + "-" + policyName }

// GeneratedCommands replace the principal's policies with the generated
// ones: create and attach them first, then take away its inline and
// attached policies and (for a user) its groups, after checking the
// workload still runs.
func GeneratedCommands(sg *Suggestion, p *iam.Principal) Commands {
	var c Commands
	e, ok := entityOf(sg.Principal)
	if !ok || sg.Generated == nil {
		return c
	}
	var arns []string
	for i := range sg.Generated.Documents {
		name := generatedName(e, i+1)
		arn := "arn:aws:iam::" + e.account + ":policy/" + name
		arns = append(arns, arn)
		c.Apply = append(c.Apply,
			fmt.Sprintf("aws iam create-policy --policy-name %s --policy-document file://generated-%d.json", name, i+1),
			fmt.Sprintf("aws iam attach-%s-policy %s --policy-arn %s", e.kind, e.flag(), arn))
	}
	if p != nil {
		c.Apply = append(c.Apply, "# after checking that the workload still runs, take the old grants away:")
		for _, in := range p.Inline {
			c.Apply = append(c.Apply, fmt.Sprintf("aws iam delete-%s-policy %s --policy-name %s", e.kind, e.flag(), shellQuote(in.Name)))
			c.Rollback = append(c.Rollback, fmt.Sprintf("aws iam put-%s-policy %s --policy-name %s --policy-document file://original-%s.json",
				e.kind, e.flag(), shellQuote(in.Name), fileName(in.Name)))
		}
		for _, at := range p.Attached {
			c.Apply = append(c.Apply, fmt.Sprintf("aws iam detach-%s-policy %s --policy-arn %s", e.kind, e.flag(), at.ARN))
			c.Rollback = append(c.Rollback, fmt.Sprintf("aws iam attach-%s-policy %s --policy-arn %s", e.kind, e.flag(), at.ARN))
		}
		for _, g := range p.Groups {
			c.Apply = append(c.Apply, fmt.Sprintf("aws iam remove-user-from-group %s --group-name %s", e.flag(), shellQuote(g)))
			c.Rollback = append(c.Rollback, fmt.Sprintf("aws iam add-user-to-group %s --group-name %s", e.flag(), shellQuote(g)))
		}
	}
	for _, arn := range arns {
		c.Rollback = append(c.Rollback,
			fmt.Sprintf("aws iam detach-%s-policy %s --policy-arn %s", e.kind, e.flag(), arn),
			"aws iam delete-policy --policy-arn "+arn)
	}
	return c
}

// InPlaceCommands apply the in-place suggestion policy by policy.
func InPlaceCommands(sg *Suggestion) Commands {
	var c Commands
	e, ok := entityOf(sg.Principal)
	if !ok || sg.InPlace == nil {
		return c
	}
	for _, pc := range sg.InPlace.Policies {
		f := fileName(pc.Name)
		switch pc.Change {
		case ChangeInline:
			c.Apply = append(c.Apply, fmt.Sprintf("aws iam put-%s-policy %s --policy-name %s --policy-document file://inplace-%s.json", e.kind, e.flag(), shellQuote(pc.Name), f))
			c.Rollback = append(c.Rollback, fmt.Sprintf("aws iam put-%s-policy %s --policy-name %s --policy-document file://original-%s.json", e.kind, e.flag(), shellQuote(pc.Name), f))
		case ChangeInlineDeleted:
			c.Apply = append(c.Apply, fmt.Sprintf("aws iam delete-%s-policy %s --policy-name %s", e.kind, e.flag(), shellQuote(pc.Name)))
			c.Rollback = append(c.Rollback, fmt.Sprintf("aws iam put-%s-policy %s --policy-name %s --policy-document file://original-%s.json", e.kind, e.flag(), shellQuote(pc.Name), f))
		case ChangeManaged:
			// A managed policy keeps at most five versions: delete an old
			// non-default one first if it has five.
			c.Apply = append(c.Apply, fmt.Sprintf("aws iam create-policy-version --policy-arn %s --policy-document file://inplace-%s.json --set-as-default", pc.ARN, f))
			c.Rollback = append(c.Rollback, fmt.Sprintf("aws iam set-default-policy-version --policy-arn %s --version-id %s", pc.ARN, pc.DefaultVersion))
		case ChangeManagedCopy:
			arn := "arn:aws:iam::" + e.account + ":policy/" + copyName(e, f)
			c.Apply = append(c.Apply,
				fmt.Sprintf("aws iam create-policy --policy-name %s --policy-document file://inplace-%s.json", copyName(e, f), f),
				fmt.Sprintf("aws iam attach-%s-policy %s --policy-arn %s", e.kind, e.flag(), arn),
				fmt.Sprintf("aws iam detach-%s-policy %s --policy-arn %s", e.kind, e.flag(), pc.ARN))
			c.Rollback = append(c.Rollback,
				fmt.Sprintf("aws iam attach-%s-policy %s --policy-arn %s", e.kind, e.flag(), pc.ARN),
				fmt.Sprintf("aws iam detach-%s-policy %s --policy-arn %s", e.kind, e.flag(), arn),
				"aws iam delete-policy --policy-arn "+arn)
		case ChangeDetach:
			c.Apply = append(c.Apply, fmt.Sprintf("aws iam detach-%s-policy %s --policy-arn %s", e.kind, e.flag(), pc.ARN))
			c.Rollback = append(c.Rollback, fmt.Sprintf("aws iam attach-%s-policy %s --policy-arn %s", e.kind, e.flag(), pc.ARN))
		}
	}
	return c
}

// fileName keeps the characters IAM allows in names ([\w+=,.@-]) that are
// also safe in a file name.
func fileName(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', strings.ContainsRune("+=,.@-_", r):
			return r
		}
		return '_'
	}, s)
}

// shellQuote quotes a name for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+=,.@-_/:") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
