package main

import (
	"context"
	"errors"
	"io"
	"slices"
	"sort"
	"time"

	"github.com/iamd/iamd/analyzer/evidence"
	"github.com/iamd/iamd/analyzer/iam"
	"github.com/iamd/iamd/analyzer/model"
	"github.com/iamd/iamd/analyzer/report"
	"github.com/iamd/iamd/rotator"
)

// runAuditWithTrail is `iamd audit --store`: the model checks of every
// account with a model, and the trail checks of the window.
func runAuditWithTrail(ctx context.Context, w io.Writer, o *auditOptions, failOn iam.Severity) error {
	src := o.trail
	src.src, src.now = o.src, o.now
	a, r, err := src.report(ctx, 0, 0)
	if err != nil {
		return err
	}
	defer a.db.Close()
	audits, err := auditStore(ctx, a, r, o.keyMaxAge, o.now)
	var (
		errs = []error{err}
		all  []iam.Finding
	)
	for _, au := range audits {
		all = append(all, au.findings...)
		if err := writeAudit(w, o.format, au.account, au.findings, iam.SkippedChecks(au.account)); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return failOnFindings(all, failOn)
}

// accountAudit is one account's findings, most severe first.
type accountAudit struct {
	account  *iam.Account
	findings []iam.Finding
}

// auditStore audits the newest model of each account in a's scope and
// adds the trail checks of r's window to the account of their principal
// (`iamd audit --store` and the dashboard). An account whose audit fails
// is left out and its error joined to the others.
func auditStore(ctx context.Context, a *analysis, r *report.Report, keyMaxAge time.Duration, now func() time.Time) ([]accountAudit, error) {
	trail, err := evidence.Audit(ctx, a.db, r, evidence.Options{})
	if err != nil {
		return nil, err
	}
	rotations, err := rotator.Notes(ctx, a.db)
	if err != nil {
		return nil, err
	}
	var (
		errs []error
		out  []accountAudit
	)
	a.scope.Models.Each(func(m *model.Model) {
		if tl, _ := a.scope.Models.Timeline(m.Account.ID); tl.Current() != m {
			return // only the newest model of each account
		}
		fs, err := iam.Audit(a.cat, m.Account, iam.AuditOptions{KeyMaxAge: keyMaxAge, Now: now, Org: m.Org, Rotations: rotations})
		if err != nil {
			errs = append(errs, err)
			return
		}
		for _, f := range trail {
			if iam.AccountOf(f.Principal) == m.Account.ID {
				fs = append(fs, f)
			}
		}
		sort.SliceStable(fs, func(i, j int) bool { return severityRank(fs[i].Severity) < severityRank(fs[j].Severity) })
		out = append(out, accountAudit{account: m.Account, findings: fs})
	})
	return out, errors.Join(errs...)
}

// severityRank orders severities most severe first.
func severityRank(s iam.Severity) int {
	i := slices.Index([]iam.Severity{iam.SeverityCritical, iam.SeverityHigh, iam.SeverityMedium, iam.SeverityLow, iam.SeverityInfo}, s)
	if i < 0 {
		return 5
	}
	return i
}
