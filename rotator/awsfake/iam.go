package awsfake

import (
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
)

// maxKeysPerUser is IAM's quota (IAM User Guide, "IAM and AWS STS
// quotas": access keys per user, 2).
const maxKeysPerUser = 2

// iam answers one IAM Query action; the lock is held.
func (f *Fake) iam(action string, form url.Values) reply {
	switch action {
	case "GetAccountAuthorizationDetails":
		return f.authorizationDetails()
	case "ListAccessKeys":
		u := f.users[form.Get("UserName")]
		if u == nil {
			return noSuchUser(form.Get("UserName"))
		}
		var b strings.Builder
		for _, k := range f.userKeys(u.Name) {
			fmt.Fprintf(&b, `<member><UserName>%s</UserName><AccessKeyId>%s</AccessKeyId><Status>%s</Status><CreateDate>%s</CreateDate></member>`,
				xmlText(u.Name), k.ID, status(k.Active), isoTime(k.Created))
		}
		return reply{body: `<UserName>` + xmlText(u.Name) + `</UserName><AccessKeyMetadata>` + b.String() + `</AccessKeyMetadata><IsTruncated>false</IsTruncated>`}
	case "GetAccessKeyLastUsed":
		k := f.keys[form.Get("AccessKeyId")]
		if k == nil {
			return errReply(http.StatusNotFound, "NoSuchEntity", "The Access Key with id "+form.Get("AccessKeyId")+" cannot be found.")
		}
		last := `<ServiceName>N/A</ServiceName><Region>N/A</Region>`
		if !k.LastUsed.IsZero() {
			last = `<LastUsedDate>` + isoTime(k.LastUsed) + `</LastUsedDate><ServiceName>` + k.Service + `</ServiceName><Region>` + f.o.Region + `</Region>`
		}
		return reply{body: `<UserName>` + xmlText(k.User) + `</UserName><AccessKeyLastUsed>` + last + `</AccessKeyLastUsed>`}
	case "CreateAccessKey":
		u := f.users[form.Get("UserName")]
		if u == nil {
			return noSuchUser(form.Get("UserName"))
		}
		if len(f.userKeys(u.Name)) >= maxKeysPerUser {
			return errReply(http.StatusConflict, "LimitExceeded", "Cannot exceed quota for AccessKeysPerUser: 2")
		}
		k := f.newKey(u.Name, f.o.Now(), true)
		return reply{body: fmt.Sprintf(`<AccessKey><UserName>%s</UserName><AccessKeyId>%s</AccessKeyId><Status>Active</Status><SecretAccessKey>%s</SecretAccessKey><CreateDate>%s</CreateDate></AccessKey>`,
			xmlText(u.Name), k.ID, k.Secret, isoTime(k.Created))}
	case "UpdateAccessKey", "DeleteAccessKey":
		k, rep, ok := f.userKey(form)
		if !ok {
			return rep
		}
		if action == "DeleteAccessKey" {
			delete(f.keys, k.ID)
			return reply{}
		}
		switch form.Get("Status") {
		case "Active":
			k.Active = true
		case "Inactive":
			k.Active = false
		default:
			return errReply(http.StatusBadRequest, "ValidationError", "1 validation error detected: Value at 'status' failed to satisfy constraint")
		}
		return reply{}
	}
	return errReply(http.StatusBadRequest, "InvalidAction", "Could not find operation "+action+" for version 2010-05-08")
}

func status(active bool) string {
	if active {
		return "Active"
	}
	return "Inactive"
}

func noSuchUser(name string) reply {
	return errReply(http.StatusNotFound, "NoSuchEntity", "The user with name "+name+" cannot be found.")
}

// userKey finds the key of UserName/AccessKeyId.
func (f *Fake) userKey(form url.Values) (*Key, reply, bool) {
	name := form.Get("UserName")
	if f.users[name] == nil {
		return nil, noSuchUser(name), false
	}
	k := f.keys[form.Get("AccessKeyId")]
	if k == nil || k.User != name {
		return nil, errReply(http.StatusNotFound, "NoSuchEntity", "The Access Key with id "+form.Get("AccessKeyId")+" cannot be found."), false
	}
	return k, reply{}, true
}

// authorizationDetails lists the users (with groups and tags) and their
// groups; one page.
func (f *Fake) authorizationDetails() reply {
	names := make([]string, 0, len(f.users))
	for n := range f.users {
		names = append(names, n)
	}
	sort.Strings(names)
	groups := map[string]bool{}
	var b strings.Builder
	b.WriteString(`<UserDetailList>`)
	for _, n := range names {
		u := f.users[n]
		fmt.Fprintf(&b, `<member><Path>%s</Path><UserName>%s</UserName><UserId>AIDA%s</UserId><Arn>%s</Arn><CreateDate>%s</CreateDate><GroupList>`,
			xmlText(u.Path), xmlText(u.Name), strings.ToUpper(fmt.Sprintf("%016x", hash(u.Name))), xmlText(f.userARN(u)), isoTime(u.Created))
		for _, g := range u.Groups {
			groups[g] = true
			fmt.Fprintf(&b, `<member>%s</member>`, xmlText(g))
		}
		b.WriteString(`</GroupList><UserPolicyList/><AttachedManagedPolicies/><Tags>`)
		keys := make([]string, 0, len(u.Tags))
		for k := range u.Tags {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(&b, `<member><Key>%s</Key><Value>%s</Value></member>`, xmlText(k), xmlText(u.Tags[k]))
		}
		b.WriteString(`</Tags></member>`)
	}
	b.WriteString(`</UserDetailList><GroupDetailList>`)
	gnames := make([]string, 0, len(groups))
	for g := range groups {
		gnames = append(gnames, g)
	}
	sort.Strings(gnames)
	for _, g := range gnames {
		fmt.Fprintf(&b, `<member><Path>/</Path><GroupName>%s</GroupName><GroupId>AGPA%s</GroupId><Arn>arn:aws:iam::%s:group/%s</Arn><CreateDate>2020-01-01T00:00:00Z</CreateDate><GroupPolicyList/><AttachedManagedPolicies/></member>`,
			xmlText(g), strings.ToUpper(fmt.Sprintf("%016x", hash(g))), f.o.AccountID, xmlText(g))
	}
	b.WriteString(`</GroupDetailList><RoleDetailList/><Policies/><IsTruncated>false</IsTruncated>`)
	return reply{body: b.String()}
}

func hash(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}
