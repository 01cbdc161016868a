package main

import (
	"context"
	"errors"
	"io"
	"slices"
	"sort"

	"github.com/iamd/iamd/analyzer/evidence"
	"github.com/iamd/iamd/analyzer/iam"
	"github.com/iamd/iamd/analyzer/model"
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
	trail, err := evidence.Audit(ctx, a.db, r, evidence.Options{})
	if err != nil {
		return err
	}
	rotations, err := rotator.Notes(ctx, a.db)
	if err != nil {
		return err
	}
	var (
		errs []error
		all  []iam.Finding
	)
	a.scope.Models.Each(func(m *model.Model) {
		if tl, _ := a.scope.Models.Timeline(m.Account.ID); tl.Current() != m {
			return // only the newest model of each account
		}
		fs, err := iam.Audit(a.cat, m.Account, iam.AuditOptions{KeyMaxAge: o.keyMaxAge, Now: o.now, Org: m.Org, Rotations: rotations})
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
		all = append(all, fs...)
		if err := writeAudit(w, o.format, m.Account, fs, iam.SkippedChecks(m.Account)); err != nil {
			errs = append(errs, err)
		}
	})
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	return failOnFindings(all, failOn)
}

// severityRank orders severities most severe first.
func severityRank(s iam.Severity) int {
	i := slices.Index([]iam.Severity{iam.SeverityCritical, iam.SeverityHigh, iam.SeverityMedium, iam.SeverityLow, iam.SeverityInfo}, s)
	if i < 0 {
		return 5
	}
	return i
}
