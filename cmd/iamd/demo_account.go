package main

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"sort"
	"strings"
	"time"

	"github.com/iamd/iamd/analyzer/iam"
	"github.com/iamd/iamd/ingest/trailgen"
	"github.com/iamd/iamd/rotator"
)

// demoKey is one access key of the demo account, the same in the IAM
// snapshot (the AccessKeys that `snapshot save --live` stores), in the
// in-process IAM the rotation talks to, and in the trail when it is used.
type demoKey struct {
	user     string
	id       string
	created  time.Time
	lastUsed time.Time // zero: never used
	service  string    // of the last use
	calls    uint64    // in the trail
}

// demoAccount is the generated account as iamd finds it. gen-trail's
// snapshot lists users, roles and policies; a real account also has
// access keys of various ages, and leftovers nobody uses any more, which
// the demo adds so that every finding has something to find.
type demoAccount struct {
	details *iam.Details
	keys    []demoKey
	// rotate is the user whose rotation the demo runs: its only key is
	// past the maximum age and a workload calls with it every day. It is
	// tagged for opt-in rotation.
	rotate string
	// spare is a user given a second, never used active key.
	spare string
	// leftovers are the ARNs of the idle user and role added.
	leftovers []string
}

// Names of what the demo adds to the generated account.
const (
	demoIdleUser = "former-contractor"
	demoIdleRole = "legacy-etl"
)

// furnishAccount adds the access keys the trail shows (each created a
// seeded number of days before now, last used when the trail last shows
// it), an idle user with an old key, an idle role, and a second unused
// key on one user; and picks the user whose key the demo rotates.
func furnishAccount(d *iam.Details, m *trailgen.Manifest, now time.Time) (*demoAccount, error) {
	a := &demoAccount{details: d}
	users := map[string]*iam.UserDetail{}
	for i := range d.UserDetailList.Items {
		u := &d.UserDetailList.Items[i]
		users[u.Arn] = u
	}
	byUser := map[string][]int{}
	for _, k := range m.Keys {
		u, ok := users[k.Principal]
		if !ok || !strings.HasPrefix(k.AccessKeyID, "AKIA") {
			continue // session keys (ASIA…) are not IAM user keys
		}
		age := time.Duration(30+demoHash(k.AccessKeyID)%330) * rotator.Day
		byUser[u.UserName] = append(byUser[u.UserName], len(a.keys))
		a.keys = append(a.keys, demoKey{user: u.UserName, id: k.AccessKeyID, created: now.Add(-age).Truncate(rotator.Day),
			lastUsed: k.LastSeen, service: lastService(m, k.Principal), calls: k.Calls})
	}

	// The user to rotate and the one given a spare key: the two busiest
	// users whose only key is past the rotation age.
	var due []demoKey
	for _, idx := range byUser {
		if k := a.keys[idx[0]]; len(idx) == 1 && now.Sub(k.created) > rotator.DefaultMaxAge {
			due = append(due, k)
		}
	}
	sort.Slice(due, func(i, j int) bool {
		if due[i].calls != due[j].calls {
			return due[i].calls > due[j].calls
		}
		return due[i].user < due[j].user
	})
	if len(due) < 2 {
		return nil, fmt.Errorf("the generated account has %d users with one aged key, want 2 (try another --seed or more --users)", len(due))
	}
	a.rotate, a.spare = due[0].user, due[1].user
	for i := range d.UserDetailList.Items {
		if u := &d.UserDetailList.Items[i]; u.UserName == a.rotate {
			u.Tags.Items = append(u.Tags.Items, iam.TagDetail{Key: rotator.DefaultOptInTag, Value: "true"})
		}
	}
	a.keys = append(a.keys, demoKey{user: a.spare, id: demoKeyID(m.Seed, a.spare), created: now.Add(-200 * rotator.Day).Truncate(rotator.Day)})

	// The leftovers: a contractor who left, with a key last used months
	// ago, and a role of a retired job.
	account := m.Accounts[0]
	long := iam.NewTime(now.AddDate(-2, 0, 0).Truncate(rotator.Day))
	idleUser := iam.UserDetail{Path: "/contractors/", UserName: demoIdleUser, UserID: "AIDA" + demoKeyID(m.Seed, "user")[4:],
		Arn: "arn:aws:iam::" + account + ":user/contractors/" + demoIdleUser, CreateDate: long}
	idleUser.GroupList.Items = []string{"developers"}
	d.UserDetailList.Items = append(d.UserDetailList.Items, idleUser)
	a.keys = append(a.keys, demoKey{user: demoIdleUser, id: demoKeyID(m.Seed, demoIdleUser), created: now.Add(-400 * rotator.Day).Truncate(rotator.Day),
		lastUsed: now.Add(-160*rotator.Day - 5*time.Hour).Truncate(time.Second), service: "s3"})
	trust, err := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": []any{map[string]any{
		"Effect": "Allow", "Principal": map[string]any{"Service": "glue.amazonaws.com"}, "Action": "sts:AssumeRole"}}})
	if err != nil {
		return nil, err
	}
	access, err := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": []any{map[string]any{
		"Sid": "EtlData", "Effect": "Allow", "Action": []string{"s3:GetObject", "s3:PutObject", "s3:ListBucket", "glue:StartJobRun", "glue:GetJobRun"}, "Resource": "*"}}})
	if err != nil {
		return nil, err
	}
	idleRole := iam.RoleDetail{Path: "/", RoleName: demoIdleRole, RoleID: "AROA" + demoKeyID(m.Seed, "role")[4:], Arn: "arn:aws:iam::" + account + ":role/" + demoIdleRole,
		CreateDate: long, AssumeRolePolicyDocument: iam.Doc{JSON: trust},
		RoleLastUsed: &iam.RoleLastUsedDetail{LastUsedDate: iam.NewTime(now.Add(-210 * rotator.Day).Truncate(time.Second)), Region: "us-east-1"}}
	idleRole.RolePolicyList.Items = []iam.InlineDetail{{PolicyName: demoIdleRole + "-access", PolicyDocument: iam.Doc{JSON: access}}}
	d.RoleDetailList.Items = append(d.RoleDetailList.Items, idleRole)
	a.leftovers = []string{idleUser.Arn, idleRole.Arn}

	// The snapshot's AccessKeys, as the live loader stores them.
	sort.Slice(a.keys, func(i, j int) bool {
		if a.keys[i].user != a.keys[j].user {
			return a.keys[i].user < a.keys[j].user
		}
		return a.keys[i].created.Before(a.keys[j].created)
	})
	for i := range d.UserDetailList.Items {
		u := &d.UserDetailList.Items[i]
		for _, k := range a.keys {
			if k.user == u.UserName {
				u.AccessKeys.Items = append(u.AccessKeys.Items, iam.AccessKeyDetail{AccessKeyID: k.id, Status: "Active",
					CreateDate: iam.NewTime(k.created), LastUsedDate: iam.NewTime(k.lastUsed), LastUsedService: k.service})
			}
		}
	}
	return a, nil
}

// lastService is the service of principal's most recent call, as
// GetAccessKeyLastUsed names it ("s3").
func lastService(m *trailgen.Manifest, principal string) string {
	var last trailgen.UsageCount
	for _, u := range m.Usage {
		if u.Principal == principal && u.Allowed > 0 && u.LastSeen.After(last.LastSeen) {
			last = u
		}
	}
	service, _, _ := strings.Cut(last.Action, ":")
	return service
}

func demoHash(s string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(s))
	return h.Sum32()
}

// demoKeyID is a stable access key id for name: AKIA and 16 characters of
// IAM's alphabet.
func demoKeyID(seed int64, name string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	h := fnv.New64a()
	fmt.Fprintf(h, "%d/%s", seed, name)
	v := h.Sum64()
	b := []byte("AKIA")
	for range 16 {
		b = append(b, alphabet[v%32])
		v = v/32 ^ v<<7
	}
	return string(b)
}
