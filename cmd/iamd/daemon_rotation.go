package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/iamd/iamd/analyzer/suggest"
	"github.com/iamd/iamd/cmd/iamd/internal/analysis"
	"github.com/iamd/iamd/cmd/iamd/internal/api"
	"github.com/iamd/iamd/cmd/iamd/internal/daemon"
	"github.com/iamd/iamd/cmd/iamd/internal/scheduler"
	"github.com/iamd/iamd/configs"
	"github.com/iamd/iamd/rotator"
	"github.com/iamd/iamd/store"
)

// rotationJob is the scheduler name of the key rotation.
const rotationJob = "rotation"

// The last rotation run's report is kept as a State record (gzipped JSON:
// one line per user with a key can outgrow store.MaxStateSize) so that the
// API shows what a dry run would do.
const (
	rotationRunKind = "rotation-run"
	rotationRunID   = "last"
)

// rotationPolicy maps the configuration's rotation section onto the
// rotator's policy, key by key (TestRotationPolicyTakesEveryKey holds it
// to every key).
func rotationPolicy(r configs.Rotation) rotator.Policy {
	p := rotator.DefaultPolicy()
	p.DryRun = r.DryRun
	p.MaxAge = r.MaxAge.D()
	p.Drain = r.Drain.D()
	p.Recovery = r.Recovery.D()
	p.NotifyAhead = r.NotifyAhead.D()
	p.MinOverlap = r.MinOverlap.D()
	p.MaxIndexLag = r.MaxIndexLag.D()
	p.VerifyTimeout = r.VerifyTimeout.D()
	p.RetryAborted = r.RetryAborted.D()
	p.StepAttempts = r.StepAttempts
	p.MaxUsersPerRun = r.MaxUsersPerRun
	p.WebhookURL = r.Webhook
	p.Users = rotator.Selector{
		OptIn: r.OptIn, OptInTag: r.OptInTag,
		PathPrefixes: r.Users.PathPrefixes, Groups: r.Users.Groups, Tags: r.Users.Tags,
		ExemptTags: r.Users.ExemptTags, ExemptGroups: r.Users.ExemptGroups, ExemptARNs: r.Users.ExemptARNs,
	}
	p.Delivery = rotator.DeliveryPolicy{
		Tag: r.Delivery.Tag, Default: r.Delivery.Default, SecretName: r.Delivery.SecretName,
		Files: r.Delivery.Files, Commands: r.Delivery.Commands,
	}
	return p
}

// rotationConfigKey names the configuration key of a policy field the
// rotator reports ("users.opt_in_tag" → "rotation.opt_in_tag").
func rotationConfigKey(field string) string {
	switch field {
	case "users.opt_in_tag":
		return "rotation.opt_in_tag"
	case "webhook_url":
		return "rotation.webhook"
	}
	return "rotation." + field
}

// validateConfig is configs' validation plus the suggester's of the kept
// action patterns and the rotator's of the policy the rotation section
// maps to, each problem once with its key.
func validateConfig(cfg *configs.Config) error {
	var errs configs.Errors
	if err := cfg.Validate(); err != nil && !errors.As(err, &errs) {
		return err
	}
	seen := map[string]bool{}
	for _, e := range errs {
		seen[e.Key] = true
	}
	for i, a := range cfg.Analysis.ExcludeActions {
		key := fmt.Sprintf("analysis.exclude_actions[%d]", i)
		if err := suggest.CheckActionPattern(a); err != nil && !seen[key] {
			errs = append(errs, &configs.FieldError{Key: key, Err: err})
		}
	}
	var joined interface{ Unwrap() []error }
	if err := rotationPolicy(cfg.Rotation).Validate(); err != nil {
		list := []error{err}
		if errors.As(err, &joined) {
			list = joined.Unwrap()
		}
		for _, e := range list {
			var fe *rotator.FieldError
			if !errors.As(e, &fe) {
				errs = append(errs, &configs.FieldError{Key: "rotation", Err: e})
				continue
			}
			key := rotationConfigKey(fe.Field)
			if seen[key] {
				continue // configs said it already
			}
			errs = append(errs, &configs.FieldError{Key: key, Err: fmt.Errorf("%q: %w", fe.Value, fe.Err)})
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}

// rotationAddon is the key rotation in the daemon: the job on
// rotation.schedule when enabled (dry run unless rotation.dry_run is
// false), GET /api/v1/rotation (iamd rotate status) and
// /api/v1/rotation/last-run, and the rotation gauges. The AWS clients
// take the iam section's profile, region and endpoint.
func rotationAddon() daemon.Addon {
	return func(h daemon.Handles) (daemon.Additions, error) {
		cfg := h.Config
		policy := rotationPolicy(cfg.Rotation)
		log := h.Logger.With("component", "rotation")
		status := func(ctx context.Context) ([]rotator.UserReport, error) {
			return analysis.RotationStatus(ctx, h.Store, policy, h.Now)
		}
		if err := h.Metrics.Register(&rotationCollector{status: status, log: log}); err != nil {
			return daemon.Additions{}, err
		}
		a := daemon.Additions{Routes: []daemon.Route{
			{Pattern: "GET " + api.Prefix + "rotation", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				st, err := status(r.Context())
				if err != nil {
					apiFail(w, r, log, err)
					return
				}
				api.WriteJSON(w, http.StatusOK, st)
			})},
			{Pattern: "GET " + api.Prefix + "rotation/last-run", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				rep, ok, err := lastRotationRun(r.Context(), h.Store)
				switch {
				case err != nil:
					apiFail(w, r, log, err)
				case !ok:
					api.WriteJSON(w, http.StatusNotFound, map[string]string{"error": "no rotation run yet (rotation.enabled, rotation.schedule)"})
				default:
					api.WriteJSON(w, http.StatusOK, rep)
				}
			})},
		}}
		if !cfg.Rotation.Enabled {
			return a, nil
		}
		e := awsEndpoints{profile: cfg.IAM.Live.Profile, region: cfg.IAM.Live.Region, iam: cfg.IAM.Live.Endpoint,
			sts: cfg.Rotation.STSEndpoint, secretsManager: cfg.Rotation.SecretsManagerEndpoint}
		a.Jobs = append(a.Jobs, daemon.ScheduledJob{Spec: cfg.Rotation.Schedule, Job: scheduler.JobFunc(rotationJob, func(ctx context.Context) error {
			return runRotationJob(ctx, h, policy, e, log)
		})})
		return a, nil
	}
}

// runRotationJob is one scheduled rotation run. The clients are built
// per run, so that credentials missing at start fail a run, not the
// daemon.
func runRotationJob(ctx context.Context, h daemon.Handles, policy rotator.Policy, e awsEndpoints, log *slog.Logger) error {
	c, err := newAWSClients(ctx, e)
	if err != nil {
		return fmt.Errorf("rotation: AWS clients: %w", err)
	}
	o := rotator.Options{Policy: policy, States: h.Store, Usage: h.Store, Now: h.Now, Logger: h.Logger}
	c.apply(&o, policy, h.Now)
	r, err := rotator.New(o)
	if err != nil {
		return err
	}
	rep, err := r.Run(ctx)
	if err != nil {
		return err
	}
	if err := keepRotationRun(ctx, h.Store, rep); err != nil {
		return err
	}
	log.Info("rotation run", "dry_run", rep.DryRun, "users", len(rep.Users), "started", rep.Started, "errors", rep.Errors)
	if rep.Errors > 0 {
		var failed []string
		for _, u := range rep.Users {
			if u.Error != "" {
				failed = append(failed, u.User+": "+u.Error)
			}
		}
		return fmt.Errorf("rotation: %d users failed: %s", rep.Errors, strings.Join(failed, "; "))
	}
	return nil
}

func keepRotationRun(ctx context.Context, db *store.DB, rep *rotator.Report) error {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if err := json.NewEncoder(zw).Encode(rep); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	if err := db.PutState(ctx, store.State{Kind: rotationRunKind, ID: rotationRunID, Data: b.Bytes()}, nil); err != nil {
		return fmt.Errorf("keep the rotation run: %w", err)
	}
	return nil
}

func lastRotationRun(ctx context.Context, db *store.DB) (*rotator.Report, bool, error) {
	st, ok, err := db.GetState(ctx, rotationRunKind, rotationRunID)
	if err != nil || !ok {
		return nil, false, err
	}
	zr, err := gzip.NewReader(bytes.NewReader(st.Data))
	if err != nil {
		return nil, false, fmt.Errorf("the last rotation run: %w", err)
	}
	data, err := io.ReadAll(zr)
	if err != nil {
		return nil, false, fmt.Errorf("the last rotation run: %w", err)
	}
	var rep rotator.Report
	if err := json.Unmarshal(data, &rep); err != nil {
		return nil, false, fmt.Errorf("the last rotation run: %w", err)
	}
	return &rep, true, nil
}

var (
	descRotationUsers = prometheus.NewDesc("rotation_users",
		"Users with a rotation record, by phase (planned, draining, recovering, done…).", []string{"phase"}, nil)
	descRotationAlerts = prometheus.NewDesc("rotation_alerts",
		"Rotated-out keys seen in use again after their deactivation.", nil, nil)
)

// rotationPhases are exported at 0 too, so that a dashboard's series
// exist before the first rotation.
var rotationPhases = []rotator.Phase{rotator.PhaseAnnounced, rotator.PhaseWaiting, rotator.PhasePlanned, rotator.PhaseCreated,
	rotator.PhaseDelivered, rotator.PhaseVerified, rotator.PhaseDraining, rotator.PhaseDeactivated, rotator.PhaseRecovering,
	rotator.PhaseDeleted, rotator.PhaseAborted, rotator.PhaseRolledBack}

// rotationCollector reads the rotation records at scrape time: a handful
// of small records, one key-usage read each.
type rotationCollector struct {
	status func(ctx context.Context) ([]rotator.UserReport, error)
	log    *slog.Logger
}

func (c *rotationCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descRotationUsers
	ch <- descRotationAlerts
}

func (c *rotationCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := c.status(ctx)
	if err != nil {
		c.log.Warn("rotation metrics", "err", err)
		return
	}
	phases := map[rotator.Phase]int{}
	alerts := 0
	for _, u := range st {
		phases[u.Phase]++
		alerts += len(u.Alerts)
	}
	for _, ph := range rotationPhases {
		ch <- prometheus.MustNewConstMetric(descRotationUsers, prometheus.GaugeValue, float64(phases[ph]), string(ph))
	}
	ch <- prometheus.MustNewConstMetric(descRotationAlerts, prometheus.GaugeValue, float64(alerts))
}
