package iam

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// CredentialRow is one row of the IAM credential report
// (id_credentials_getting-report.html#id_credentials_understanding_the_report_format).
type CredentialRow struct {
	User             string
	ARN              string
	PasswordEnabled  bool
	PasswordLastUsed time.Time
	MFAActive        bool
	Keys             [2]ReportKey
}

// ReportKey is the access_key_N_* columns of a credential report row.
type ReportKey struct {
	Active          bool
	LastRotated     time.Time // zero: "N/A", no such key
	LastUsed        time.Time // zero: never used
	LastUsedService string
	LastUsedRegion  string
}

// Present reports whether the report lists a key in this slot.
func (k ReportKey) Present() bool { return !k.LastRotated.IsZero() }

// RootUser is the user column of the root row of a credential report.
const RootUser = "<root_account>"

// ParseCredentialReport reads the CSV content of GetCredentialReport.
// Missing optional columns are tolerated; a missing user or arn column, or a
// malformed timestamp, is an error naming the line and column.
func ParseCredentialReport(r io.Reader) ([]CredentialRow, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	head, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("credential report header: %w", err)
	}
	col := map[string]int{}
	for i, h := range head {
		col[strings.TrimSpace(h)] = i
	}
	if _, ok := col["user"]; !ok {
		return nil, fmt.Errorf("credential report header: %w: no user column", ErrMalformed)
	}
	if _, ok := col["arn"]; !ok {
		return nil, fmt.Errorf("credential report header: %w: no arn column", ErrMalformed)
	}
	var out []CredentialRow
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("credential report line %d: %w", line, err)
		}
		get := func(name string) string {
			if i, ok := col[name]; ok && i < len(rec) {
				return strings.TrimSpace(rec[i])
			}
			return ""
		}
		var errs []error
		date := func(name string) time.Time {
			v := get(name)
			switch v {
			case "", "N/A", "no_information", "not_supported":
				return time.Time{}
			}
			t, err := ParseTime(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("credential report line %d column %s: %w", line, name, err))
			}
			return t
		}
		row := CredentialRow{
			User:             get("user"),
			ARN:              get("arn"),
			PasswordEnabled:  get("password_enabled") == "true",
			PasswordLastUsed: date("password_last_used"),
			MFAActive:        get("mfa_active") == "true",
		}
		for n := range 2 {
			p := fmt.Sprintf("access_key_%d_", n+1)
			row.Keys[n] = ReportKey{
				Active:          get(p+"active") == "true",
				LastRotated:     date(p + "last_rotated"),
				LastUsed:        date(p + "last_used_date"),
				LastUsedService: naToEmpty(get(p + "last_used_service")),
				LastUsedRegion:  naToEmpty(get(p + "last_used_region")),
			}
		}
		if err := errors.Join(errs...); err != nil {
			return nil, err
		}
		out = append(out, row)
	}
}

func naToEmpty(s string) string {
	if s == "N/A" {
		return ""
	}
	return s
}

// ApplyCredentialReport merges credential-report rows into the users and
// the root user. Keys already known with ids (from ListAccessKeys) keep
// their ids; the report's key slots are matched to them by creation time.
func (a *Account) ApplyCredentialReport(rows []CredentialRow) {
	for _, r := range rows {
		var p *Principal
		if r.User == RootUser {
			p = a.root(r.ARN)
		} else if q, ok := a.byARN[r.ARN]; ok && q.Kind == KindUser {
			p = q
		}
		if p == nil {
			a.Warnings = append(a.Warnings, Warning{Entity: r.ARN, Field: "CredentialReport", Message: "user in the credential report is not in the snapshot"})
			continue
		}
		c := p.Credentials
		if c == nil {
			c = &Credentials{}
			p.Credentials = c
		}
		c.SignInKnown = true
		c.PasswordEnabled, c.PasswordLastUsed, c.MFAActive = r.PasswordEnabled, r.PasswordLastUsed, r.MFAActive
		for _, rk := range r.Keys {
			if !rk.Present() {
				continue
			}
			status := "Inactive"
			if rk.Active {
				status = "Active"
			}
			matched := false
			for i := range c.AccessKeys {
				k := &c.AccessKeys[i]
				if k.Created.Equal(rk.LastRotated) {
					matched = true
					if !k.LastUsedKnown {
						k.LastUsed, k.LastUsedService, k.LastUsedRegion, k.LastUsedKnown = rk.LastUsed, rk.LastUsedService, rk.LastUsedRegion, true
					}
				}
			}
			if !matched {
				c.AccessKeys = append(c.AccessKeys, AccessKey{Status: status, Created: rk.LastRotated, LastUsed: rk.LastUsed,
					LastUsedService: rk.LastUsedService, LastUsedRegion: rk.LastUsedRegion, LastUsedKnown: true})
			}
		}
	}
}

// root returns the root principal, creating it when the snapshot named no
// account (the report's root ARN then gives the account id).
func (a *Account) root(arn string) *Principal {
	for _, p := range a.Principals {
		if p.Kind == KindRoot {
			return p
		}
	}
	id := AccountOf(arn)
	if id == "" {
		return nil
	}
	if a.ID == "" {
		a.ID = id
	}
	p := &Principal{Kind: KindRoot, ARN: "arn:aws:iam::" + id + ":root", Name: RootUser, ID: id}
	a.Principals = append(a.Principals, p)
	a.index()
	return p
}
