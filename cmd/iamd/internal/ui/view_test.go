package ui

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/iamd/iamd/rotator"
	"github.com/iamd/iamd/store"
)

func TestStack(t *testing.T) {
	for _, tc := range []struct {
		name  string
		width int
		parts []int
		want  []int // widths of the non-zero parts
	}{
		{"even", 200, []int{1, 1}, []int{100, 100}},
		{"thirds", 200, []int{1, 1, 1}, []int{67, 67, 66}},
		{"tiny part stays visible", 200, []int{1000, 1}, []int{199, 1}},
		{"zero part left out", 200, []int{3, 0, 1}, []int{150, 50}},
		{"many tiny parts", 3, []int{1, 1, 1, 100}, []int{1, 1, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var parts []part
			for _, n := range tc.parts {
				parts = append(parts, part{N: n, Class: "c", Label: "l"})
			}
			segs := stack(tc.width, parts...)
			var got []int
			x, sum := 0, 0
			for _, s := range segs {
				if s.X != x {
					t.Errorf("segment at %d, want %d (contiguous)", s.X, x)
				}
				x += s.W
				sum += s.W
				got = append(got, s.W)
			}
			if sum != tc.width {
				t.Errorf("widths add up to %d, want %d", sum, tc.width)
			}
			if len(tc.want) == len(got) {
				for i := range got {
					if got[i] != tc.want[i] {
						t.Errorf("widths %v, want %v", got, tc.want)
						break
					}
				}
			} else if tc.name != "many tiny parts" {
				t.Errorf("widths %v, want %v", got, tc.want)
			}
		})
	}
	if segs := stack(200); segs != nil {
		t.Errorf("stack of nothing = %v", segs)
	}
}

func TestLineDiff(t *testing.T) {
	a := strings.Split("a b c d e f g h i j k", " ")
	b := strings.Split("a b c D e f g h i j k x", " ")
	var got []string
	for _, l := range lineDiff(a, b) {
		got = append(got, l.Op+l.Text)
	}
	want := " a| b| c|-d|+D| e| f| g|…| i| j| k|+x"
	if strings.Join(got, "|") != want {
		t.Errorf("lineDiff =\n%s\nwant\n%s", strings.Join(got, "|"), want)
	}
	if d := lineDiff(a, a); len(d) != 1 || d[0].Op != "…" {
		t.Errorf("no change gives %v, want one fold", d)
	}
	if d := lineDiff(nil, []string{"x"}); len(d) != 1 || d[0].Op != "+" {
		t.Errorf("from nothing: %v", d)
	}
	if got := policyLines([]byte(`{"a":[1,2]}`)); strings.Join(got, "|") != `{|  "a": [|    1,|    2|  ]|}` {
		t.Errorf("policyLines = %q", got)
	}
	if policyLines(nil) != nil || policyLines([]byte("null")) != nil {
		t.Errorf("no document gives lines")
	}
}

func TestParseARNAndFilter(t *testing.T) {
	for arn, want := range map[string]principalName{
		"arn:aws:iam::111122223333:user/alice":            {Account: "111122223333", Kind: "user", Path: "/", Name: "alice"},
		"arn:aws:iam::111122223333:role/service/ci/build": {Account: "111122223333", Kind: "role", Path: "/service/ci/", Name: "build"},
		"arn:aws:iam::111122223333:root":                  {Account: "111122223333", Kind: "root", Path: "/", Name: "root"},
		"not-an-arn":                                      {Name: "not-an-arn"},
	} {
		if got := parseARN(arn); got != want {
			t.Errorf("parseARN(%q) = %+v, want %+v", arn, got, want)
		}
	}
	build := "arn:aws:iam::111122223333:role/service/ci/build"
	for _, tc := range []struct {
		query string
		match bool
	}{
		{"", true},
		{"account=111122223333", true},
		{"account=444455556666", false},
		{"path=/service/", true},
		{"path=service/ci", true},
		{"path=/other/", false},
		{"name=BUI", true},
		{"name=deploy", false},
		{"account=111122223333&path=/service/&name=build", true},
	} {
		q, _ := url.ParseQuery(tc.query)
		if got := filterOf(q).Match(build); got != tc.match {
			t.Errorf("filter %q on %s: %v, want %v", tc.query, build, got, tc.match)
		}
	}
	f := Filter{Account: "111122223333", Name: "a b"}
	if got := string(f.link("/unused", "x", "1")); got != "/unused?account=111122223333&name=a+b&x=1" {
		t.Errorf("link = %s", got)
	}
}

func TestAgo(t *testing.T) {
	now := fixtureNow
	for d, want := range map[time.Duration]string{
		10 * time.Second:      "just now",
		5 * time.Minute:       "5 min ago",
		3 * time.Hour:         "3 h ago",
		47 * time.Hour:        "47 h ago",
		72 * time.Hour:        "3 d ago",
		-2 * time.Hour:        "in 2 h",
		-100 * 24 * time.Hour: "in 100 d",
	} {
		if got := ago(now, now.Add(-d)); got != want {
			t.Errorf("ago(-%s) = %q, want %q", d, got, want)
		}
	}
	if ago(now, time.Time{}) != "never" {
		t.Errorf("ago(zero) is not never")
	}
	if got := thousands(1234567); got != "1,234,567" {
		t.Errorf("thousands = %s", got)
	}
}

// TestRotationKeys: a rotation's keys join the list (a new key CloudTrail
// has not seen yet), fill the status and creation the model leaves out,
// and say their part; the model's own values win.
func TestRotationKeys(t *testing.T) {
	created := fixtureNow.AddDate(0, 0, -120)
	rot := &Rotation{
		Users: []rotator.UserReport{{UserARN: alice, Phase: rotator.PhaseDraining,
			OldKey: &rotator.KeyReport{ID: "AKIAOLD", Status: "Active", Created: created},
			NewKey: &rotator.KeyReport{ID: "AKIANEW", Status: "Active", Created: fixtureNow}}},
		Keys: []AccessKey{
			{User: alice, ID: "AKIAOLD", Calls: 7},
			{User: alice, ID: "AKIAMODEL", Status: "Inactive", Created: created},
			{User: deploy, ID: "AKIAOTHER"},
		},
	}
	var got []string
	for _, k := range rotationKeys(rot) {
		got = append(got, fmt.Sprintf("%s %s %s %s %d %q", parseARN(k.User).Name, k.ID, k.Status, k.Created.Format(time.DateOnly), k.Calls, k.part))
	}
	want := []string{ // by user ARN: role/… before user/…
		`deploy AKIAOTHER  0001-01-01 0 ""`,
		`alice AKIAMODEL Inactive 2026-07-25 0 ""`,
		`alice AKIANEW Active 2026-11-22 0 "new key, draining"`,
		`alice AKIAOLD Active 2026-07-25 7 "old key, draining"`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("rotationKeys =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestStillUsing: only a draining rotation names who still signs with the
// old key, from the drain decision when there is one.
func TestStillUsing(t *testing.T) {
	ip := store.Seen{Value: "198.51.100.7"}
	ua := store.Seen{Value: "legacy-cron/1.0"}
	old := &rotator.KeyReport{ID: "AKIAOLD", SourceIPs: []store.Seen{ip, {Value: "10.0.0.1"}}, UserAgents: []store.Seen{ua}}
	for _, tc := range []struct {
		name string
		us   rotator.UserReport
		want string
	}{
		{"from the key's usage", rotator.UserReport{OldKey: old}, "198.51.100.7 10.0.0.1 legacy-cron/1.0"},
		{"from the drain decision", rotator.UserReport{OldKey: old, Drain: &rotator.DrainDecision{SourceIPs: []store.Seen{ip}}}, "198.51.100.7"},
		{"no old key", rotator.UserReport{}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, s := range stillUsing(tc.us) {
				got = append(got, s.Value)
			}
			if strings.Join(got, " ") != tc.want {
				t.Errorf("stillUsing = %v, want %s", got, tc.want)
			}
		})
	}
}
