package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/spf13/cobra"

	"github.com/iamd/iamd/analyzer/iam"
	"github.com/iamd/iamd/cmd/iamd/internal/analysis"
	"github.com/iamd/iamd/cmd/iamd/internal/listing"
	"github.com/iamd/iamd/store"
)

// runAuditWithTrail is `iamd audit --store`: the model checks of every
// account with a model, and the trail checks of the window. While the
// daemon holds the store its API answers the same documents.
func runAuditWithTrail(ctx context.Context, cmd *cobra.Command, o *auditOptions, failOn iam.Severity) error {
	src := o.trail
	src.src, src.now = o.src, o.now
	run, p, err := src.openStore(ctx, true)
	if errors.Is(err, store.ErrLocked) {
		return auditFromDaemon(ctx, cmd, &src, err, o, failOn)
	}
	if err != nil {
		return err
	}
	defer run.db.Close()
	audits, err := analysis.Audit(ctx, run.db, run.cat, p, analysis.AuditOptions{KeyMaxAge: o.keyMaxAge, Now: o.now})
	if err != nil {
		return err
	}
	docs := make([]listing.Audit, 0, len(audits))
	for _, a := range audits {
		docs = append(docs, a.Document())
	}
	return writeAudits(cmd, o.format, docs, failOn)
}

// auditFromDaemon asks GET /api/v1/audit of the daemon holding the store.
func auditFromDaemon(ctx context.Context, cmd *cobra.Command, src *analysisSource, lockErr error, o *auditOptions, failOn iam.Severity) error {
	q := url.Values{}
	q.Set("window", src.window)
	q.Set("at", src.at)
	q.Set("key_max_age", formatDuration(o.keyMaxAge))
	// Asked for a table whatever the format: --fail-on reads the findings.
	return src.fromDaemon(ctx, cmd, lockErr, "audit", q, formatTable, func(body []byte) error {
		dec := json.NewDecoder(strings.NewReader(string(body)))
		var docs []listing.Audit
		for dec.More() {
			var d listing.Audit
			if err := dec.Decode(&d); err != nil {
				return fmt.Errorf("the daemon's audit: %w", err)
			}
			docs = append(docs, d)
		}
		return writeAudits(cmd, o.format, docs, failOn)
	})
}

// writeAudits prints each account's audit and applies --fail-on to all.
func writeAudits(cmd *cobra.Command, format string, docs []listing.Audit, failOn iam.Severity) error {
	var (
		errs []error
		all  []iam.Finding
	)
	for _, d := range docs {
		all = append(all, d.Findings...)
		if err := writeAudit(cmd.OutOrStdout(), format, d); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	return failOnFindings(all, failOn)
}
