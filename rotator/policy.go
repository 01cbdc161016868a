package rotator

import (
	"errors"
	"fmt"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/iamd/iamd/analyzer/iam"
)

// Day is 24 hours: the unit the policy speaks in.
const Day = 24 * time.Hour

// Defaults of Policy (DefaultPolicy).
const (
	// DefaultMaxAge is CIS AWS Foundations 1.14 and Security Hub IAM.3:
	// access keys are rotated every 90 days or less.
	DefaultMaxAge         = 90 * Day
	DefaultDrain          = 7 * Day
	DefaultRecovery       = 10 * Day
	DefaultNotifyAhead    = 7 * Day
	DefaultMinOverlap     = 24 * time.Hour
	DefaultMaxIndexLag    = 48 * time.Hour
	DefaultMaxUsersPerRun = 5
	DefaultVerifyTimeout  = 2 * time.Minute
	DefaultStepAttempts   = 3
	DefaultRetryAborted   = 24 * time.Hour
	DefaultOptInTag       = "iamd-rotate"
	DefaultDeliveryTag    = "iamd-delivery"
	DefaultSecretName     = "iamd/access-keys/{user}"
	// TargetSecretsManager is the built-in delivery target: one Secrets
	// Manager secret per user, named by DeliveryPolicy.SecretName.
	TargetSecretsManager = "secretsmanager"
)

// Policy says which access keys rotate, when, and how carefully. Start
// from DefaultPolicy; the daemon's configuration fills the same fields.
type Policy struct {
	// MaxAge is the age at which an active key is rotated (default 90 days).
	MaxAge time.Duration
	// Drain is how long the old key must show no use, in the usage index
	// and in GetAccessKeyLastUsed, before it is deactivated (default 7 days).
	Drain time.Duration
	// Recovery is how long a deactivated key stays (inactive, so it can be
	// reactivated by rollback) before it is deleted (default 10 days). A
	// use of the key after its deactivation restarts the window.
	Recovery time.Duration
	// NotifyAhead announces a rotation this long before the key reaches
	// MaxAge (default 7 days; 0: no announcement).
	NotifyAhead time.Duration
	// MinOverlap is the shortest time both keys stay active after the new
	// one is published (default 24 hours): CloudTrail delivers a call
	// within minutes but guarantees no bound (AWS CloudTrail FAQ), the
	// usage index ingests it later still and GetAccessKeyLastUsed lags
	// too, so a call made just before the switch must have time to show
	// up before the old key is judged idle.
	MinOverlap time.Duration
	// MaxIndexLag is how far behind the usage index may be for its
	// silence to count as evidence (default 48 hours; 0: not checked):
	// every ingest source that wrote a checkpoint within the drain window
	// must have written one within MaxIndexLag, and the newest CloudTrail
	// event in the index must be that recent too. A stopped ingest, a
	// stalled source or a backlog being replayed must not look like an
	// idle key. Within it, the drain window ends where the index has seen
	// CloudTrail up to (see DecideDrain), so a lagging index delays the
	// deactivation by its lag rather than shortening the window.
	MaxIndexLag time.Duration
	// DryRun plans and reports only: no AWS change, no store write, no
	// delivery, no webhook (default true).
	DryRun bool
	// MaxUsersPerRun caps the rotations one run starts (default 5), so a
	// wrong selection cannot touch the whole account at once. Rotations
	// already in progress always advance.
	MaxUsersPerRun int
	// VerifyTimeout bounds the wait for a new key to be accepted by STS
	// (default 2 minutes; IAM is eventually consistent and refuses a new
	// key with InvalidClientTokenId for a few seconds, 10–20 s at worst).
	VerifyTimeout time.Duration
	// StepAttempts is how often one step is tried on transient errors,
	// on top of the SDK's own retries (default 3).
	StepAttempts int
	// RetryAborted is how long after a compensated (aborted) rotation the
	// user is tried again (default 24 hours).
	RetryAborted time.Duration
	// Users selects the users whose keys rotate.
	Users Selector
	// Delivery says where new keys go.
	Delivery DeliveryPolicy
	// WebhookURL receives a JSON POST before each mutating step, for each
	// announcement and for each alert ("": log lines only).
	WebhookURL string
}

// Selector chooses users. A user is selected when it matches at least one
// include rule (or there is none), matches no exemption, carries the
// opt-in tag when OptIn is set, and is not tagged OptInTag=false.
type Selector struct {
	// OptIn rotates only users tagged OptInTag=true (default false: every
	// selected user).
	OptIn bool
	// OptInTag is the opt-in tag key (default "iamd-rotate"). A user
	// tagged with it set to "false" is never rotated, opt-in or not.
	OptInTag string
	// PathPrefixes, Groups and Tags are include rules: a user path prefix
	// ("/service/"), a group name, a tag key=value ("" value: any value).
	PathPrefixes []string
	Groups       []string
	Tags         map[string]string
	// Exemptions win over include rules: a tag key=value ("" value: any),
	// a group name, a user ARN glob (path.Match syntax, "*" stops at "/").
	ExemptTags   map[string]string
	ExemptGroups []string
	ExemptARNs   []string
}

// DeliveryPolicy names the delivery targets. A user's target is the value
// of its Tag, else Default. Targets are named here, never described by the
// tag itself: a tag value that could name a path or a command would let
// anyone allowed to tag users write files or run programs where the
// rotator runs.
type DeliveryPolicy struct {
	// Tag is the user tag that names the target (default "iamd-delivery").
	Tag string
	// Default is the target of untagged users (default "secretsmanager").
	Default string
	// SecretName is the Secrets Manager secret name template of the
	// "secretsmanager" target (default "iamd/access-keys/{user}").
	// {user} is the user name, {path} its IAM path without slashes at the
	// ends, {account} the account id.
	SecretName string
	// Files are file targets: name → path template (same placeholders).
	// The key is staged in PATH.pending (0600) and renamed to PATH once
	// verified; the key it replaces is kept as PATH.previous.
	Files map[string]string
	// Commands are command targets: name → argv. The command gets one JSON
	// object on stdin per step ("deliver", "promote", "revoke"; see
	// CommandMessage) and must exit 0.
	Commands map[string][]string
}

// DefaultPolicy returns the documented defaults: dry-run on, 90-day
// maximum age, 7-day drain, 10-day recovery, at most 5 new rotations per
// run, delivery to Secrets Manager.
func DefaultPolicy() Policy {
	return Policy{
		MaxAge:         DefaultMaxAge,
		Drain:          DefaultDrain,
		Recovery:       DefaultRecovery,
		NotifyAhead:    DefaultNotifyAhead,
		MinOverlap:     DefaultMinOverlap,
		MaxIndexLag:    DefaultMaxIndexLag,
		DryRun:         true,
		MaxUsersPerRun: DefaultMaxUsersPerRun,
		VerifyTimeout:  DefaultVerifyTimeout,
		StepAttempts:   DefaultStepAttempts,
		RetryAborted:   DefaultRetryAborted,
		Users:          Selector{OptInTag: DefaultOptInTag},
		Delivery:       DeliveryPolicy{Tag: DefaultDeliveryTag, Default: TargetSecretsManager, SecretName: DefaultSecretName},
	}
}

// FieldError is one invalid policy field; Validate joins them.
type FieldError struct {
	Field string // "drain", "delivery.files.ci"
	Value string
	Err   error
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("rotation policy %s %q: %v", e.Field, e.Value, e.Err)
}

func (e *FieldError) Unwrap() error { return e.Err }

// ErrInvalidPolicy is wrapped by every FieldError.
var ErrInvalidPolicy = errors.New("invalid")

func invalid(field, value, why string) error {
	return &FieldError{Field: field, Value: value, Err: fmt.Errorf("%w: %s", ErrInvalidPolicy, why)}
}

// Validate returns every problem of p, each a *FieldError.
func (p Policy) Validate() error {
	var errs []error
	dur := func(field string, d time.Duration, min time.Duration) {
		if d < min {
			errs = append(errs, invalid(field, d.String(), "must be at least "+min.String()))
		}
	}
	dur("max_age", p.MaxAge, Day)
	dur("drain", p.Drain, time.Hour)
	dur("recovery", p.Recovery, 0)
	dur("notify_ahead", p.NotifyAhead, 0)
	dur("min_overlap", p.MinOverlap, 0)
	dur("max_index_lag", p.MaxIndexLag, 0)
	dur("verify_timeout", p.VerifyTimeout, time.Second)
	dur("retry_aborted", p.RetryAborted, 0)
	if p.NotifyAhead >= p.MaxAge && p.MaxAge > 0 {
		errs = append(errs, invalid("notify_ahead", p.NotifyAhead.String(), "must be shorter than max_age"))
	}
	if p.MaxUsersPerRun < 1 {
		errs = append(errs, invalid("max_users_per_run", fmt.Sprint(p.MaxUsersPerRun), "must be at least 1"))
	}
	if p.StepAttempts < 1 {
		errs = append(errs, invalid("step_attempts", fmt.Sprint(p.StepAttempts), "must be at least 1"))
	}
	if p.Users.OptInTag == "" {
		errs = append(errs, invalid("users.opt_in_tag", "", "must not be empty"))
	}
	for _, g := range p.Users.ExemptARNs {
		if _, err := path.Match(g, ""); err != nil {
			errs = append(errs, invalid("users.exempt_arns", g, err.Error()))
		}
	}
	for _, pp := range p.Users.PathPrefixes {
		if !strings.HasPrefix(pp, "/") {
			errs = append(errs, invalid("users.path_prefixes", pp, "an IAM path starts with /"))
		}
	}
	d := p.Delivery
	if d.Tag == "" {
		errs = append(errs, invalid("delivery.tag", "", "must not be empty"))
	}
	if !strings.Contains(d.SecretName, "{user}") {
		errs = append(errs, invalid("delivery.secret_name", d.SecretName, "must contain {user}: one secret per user"))
	}
	names := map[string]bool{TargetSecretsManager: true}
	for name, tmpl := range d.Files {
		if names[name] {
			errs = append(errs, invalid("delivery.files."+name, tmpl, "target name already used"))
		}
		names[name] = true
		if !strings.Contains(tmpl, "{user}") || !strings.HasPrefix(tmpl, "/") {
			errs = append(errs, invalid("delivery.files."+name, tmpl, "want an absolute path template containing {user}"))
		}
	}
	for name, argv := range d.Commands {
		if names[name] {
			errs = append(errs, invalid("delivery.commands."+name, strings.Join(argv, " "), "target name already used"))
		}
		names[name] = true
		if len(argv) == 0 || argv[0] == "" {
			errs = append(errs, invalid("delivery.commands."+name, "", "want a program and its arguments"))
		}
	}
	if !names[d.Default] {
		errs = append(errs, invalid("delivery.default", d.Default, "names no target"))
	}
	if p.WebhookURL != "" {
		u, err := url.Parse(p.WebhookURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			errs = append(errs, invalid("webhook_url", RedactURL(p.WebhookURL), "want an http(s) URL"))
		}
	}
	return errors.Join(errs...)
}

// Selects reports whether u's keys rotate under s, and if not, why.
func (s Selector) Selects(u *iam.Principal) (bool, string) {
	if u.Kind != iam.KindUser {
		return false, "not an IAM user"
	}
	tag := s.OptInTag
	if tag == "" {
		tag = DefaultOptInTag
	}
	if v, ok := u.Tags[tag]; ok && strings.EqualFold(v, "false") {
		return false, "tagged " + tag + "=false"
	}
	for k, v := range s.ExemptTags {
		if tv, ok := u.Tags[k]; ok && (v == "" || tv == v) {
			return false, "exempt by tag " + k
		}
	}
	for _, g := range s.ExemptGroups {
		if slices.Contains(u.Groups, g) {
			return false, "exempt as member of group " + g
		}
	}
	for _, glob := range s.ExemptARNs {
		if ok, _ := path.Match(glob, u.ARN); ok {
			return false, "exempt by ARN pattern " + glob
		}
	}
	if s.OptIn && !strings.EqualFold(u.Tags[tag], "true") {
		return false, "not opted in (tag " + tag + "=true)"
	}
	if len(s.PathPrefixes) == 0 && len(s.Groups) == 0 && len(s.Tags) == 0 {
		return true, ""
	}
	for _, pp := range s.PathPrefixes {
		if strings.HasPrefix(u.Path, pp) {
			return true, ""
		}
	}
	for _, g := range s.Groups {
		if slices.Contains(u.Groups, g) {
			return true, ""
		}
	}
	for k, v := range s.Tags {
		if tv, ok := u.Tags[k]; ok && (v == "" || tv == v) {
			return true, ""
		}
	}
	return false, "matches no path, group or tag rule"
}
