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
)

// runAuditWithTrail is `iamd audit --store`: the model checks of every
// account with a model, and the trail checks of the window.
func runAuditWithTrail(ctx context.Context, w io.Writer, o *auditOptions, keyMaxAge time.Duration) error {
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
	var errs []error
	a.scope.Models.Each(func(m *model.Model) {
		if tl, _ := a.scope.Models.Timeline(m.Account.ID); tl.Current() != m {
			return // only the newest model of each account
		}
		fs, err := iam.Audit(a.cat, m.Account, iam.AuditOptions{KeyMaxAge: keyMaxAge, Now: o.now, Org: m.Org})
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
		if err := writeAudit(w, o.format, m.Account, fs); err != nil {
			errs = append(errs, err)
		}
	})
	return errors.Join(errs...)
}

// severityRank orders severities most severe first.
func severityRank(s iam.Severity) int {
	i := slices.Index([]iam.Severity{iam.SeverityCritical, iam.SeverityHigh, iam.SeverityMedium, iam.SeverityLow, iam.SeverityInfo}, s)
	if i < 0 {
		return 5
	}
	return i
}
