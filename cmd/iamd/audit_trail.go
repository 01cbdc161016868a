package main

import (
	"context"
	"errors"
	"io"

	"github.com/iamd/iamd/analyzer/iam"
	"github.com/iamd/iamd/cmd/iamd/internal/analysis"
)

// runAuditWithTrail is `iamd audit --store`: the model checks of every
// account with a model, and the trail checks of the window.
func runAuditWithTrail(ctx context.Context, w io.Writer, o *auditOptions, failOn iam.Severity) error {
	src := o.trail
	src.src, src.now = o.src, o.now
	run, p, err := src.openStore(ctx, true)
	if err != nil {
		return err
	}
	defer run.db.Close()
	audits, err := analysis.Audit(ctx, run.db, run.cat, p, analysis.AuditOptions{KeyMaxAge: o.keyMaxAge, Now: o.now})
	if err != nil {
		return err
	}
	var (
		errs []error
		all  []iam.Finding
	)
	for _, a := range audits {
		all = append(all, a.Findings...)
		if err := writeAudit(w, o.format, a); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	return failOnFindings(all, failOn)
}
