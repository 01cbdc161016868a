package ui

import (
	"html/template"
	"net/url"
	"sort"
	"strings"
)

// Filter narrows the lists by account, IAM path and name. It lives in the
// URL (?account=&path=&name=), so that a filtered page is a link to share,
// and the navigation keeps it from page to page.
type Filter struct {
	// Account is a 12-digit account ID: only its principals.
	Account string
	// Path is an IAM path prefix ("/service/"): only principals under it.
	Path string
	// Name is a part of the principal's name, any case.
	Name string
}

func filterOf(q url.Values) Filter {
	f := Filter{Account: strings.TrimSpace(q.Get("account")), Path: strings.TrimSpace(q.Get("path")), Name: strings.TrimSpace(q.Get("name"))}
	if f.Path != "" && !strings.HasPrefix(f.Path, "/") {
		f.Path = "/" + f.Path
	}
	return f
}

// Active reports whether the filter leaves anything out.
func (f Filter) Active() bool { return f.Account != "" || f.Path != "" || f.Name != "" }

// Match reports whether the principal of arn passes the filter.
func (f Filter) Match(arn string) bool {
	p := parseARN(arn)
	if f.Account != "" && p.Account != f.Account {
		return false
	}
	if f.Path != "" && !strings.HasPrefix(p.Path, f.Path) {
		return false
	}
	return f.Name == "" || strings.Contains(strings.ToLower(p.Name), strings.ToLower(f.Name))
}

func (f Filter) values() url.Values {
	v := url.Values{}
	for k, s := range map[string]string{"account": f.Account, "path": f.Path, "name": f.Name} {
		if s != "" {
			v.Set(k, s)
		}
	}
	return v
}

// link is path with the filter and the extra key/value pairs in its
// query. It is built from url.Values, so it is a safe URL to print as is.
func (f Filter) link(path string, kv ...string) template.URL {
	v := f.values()
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	if len(v) == 0 {
		return template.URL(path)
	}
	return template.URL(path + "?" + v.Encode())
}

// principalLink is the principal's page, keeping the filter for the way
// back.
func (f Filter) principalLink(arn string) template.URL { return f.link("/principal", "arn", arn) }

// principalName is what an ARN says of its principal.
type principalName struct {
	Account string
	Kind    string // user, role, root, …
	Path    string // IAM path, "/" when none
	Name    string
}

// parseARN splits arn:aws:iam::ACCOUNT:KIND/PATH/NAME; anything else keeps
// the whole resource part as its name.
func parseARN(arn string) principalName {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) < 6 {
		return principalName{Name: arn}
	}
	p := principalName{Account: parts[4]}
	res := parts[5]
	kind, rest, ok := strings.Cut(res, "/")
	if !ok {
		p.Kind, p.Name, p.Path = res, res, "/"
		return p
	}
	p.Kind = kind
	if i := strings.LastIndexByte(rest, '/'); i >= 0 {
		p.Path, p.Name = "/"+rest[:i+1], rest[i+1:]
	} else {
		p.Path, p.Name = "/", rest
	}
	return p
}

// accountsOf lists the accounts of arns, sorted, for the filter's choice.
func accountsOf(arns []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, a := range arns {
		if acct := parseARN(a).Account; acct != "" && !seen[acct] {
			seen[acct] = true
			out = append(out, acct)
		}
	}
	sort.Strings(out)
	return out
}
