// Package trailgen generates realistic CloudTrail logs for a synthetic
// account, deterministically from a seed: S3-delivered log files
// (AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/…json.gz), a record
// stream for Kafka (optionally as EventBridge envelopes) and JSON lines,
// together with the ground truth a correct ingest must produce (Manifest),
// a matching IAM snapshot in get-account-authorization-details shape, and a
// helper that multiplies real log files for benchmarks. Nothing reads the
// wall clock: every timestamp follows from Options.Start and the seed.
//
// It imports nothing of ours, so ingest tests and benchmarks can use it
// freely; its own tests check the event → action table against
// analyzer/catalog and run the records through the real ingest converter.
package trailgen

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"slices"
	"time"
)

// Options configure a Generator. Zero counts and times take the default
// noted next to the field; zero rates mean "none" (DefaultOptions sets
// realistic ones).
type Options struct {
	Seed     int64    // drives everything; same seed, same bytes
	Accounts []string // 12-digit account ids; default one account derived from Seed. Principals are spread over them.
	Regions  []string // default us-east-1, eu-west-1; the first gets most traffic

	Users int // IAM users per generation, spread over the accounts; default 8
	Roles int // IAM roles; default 6

	Start time.Time // first event time; default 2026-11-01T00:00:00Z
	Days  int       // span in days; default 1 (Span overrides)
	Span  time.Duration

	Events       int // total records; default 10,000 (EventsPerDay overrides)
	EventsPerDay int

	DeniedRate       float64 // share of principal calls refused (AccessDenied, Client.UnauthorizedOperation)
	ErrorRate        float64 // share of principal calls failing for other reasons (throttling, NoSuchKey…)
	ServiceEventRate float64 // share of records made by AWS services (AWSService callers, AwsServiceEvent)
	AssumedRoleShare float64 // share of principal calls made by role sessions (the rest: users, plus a few root, federated and cross-account calls)

	RecordsPerFile int           // upper bound of records per log file; file sizes vary below it; default 100
	FileWindow     time.Duration // delivery window of a log file; default 5m
	Digests        bool          // also write hourly CloudTrail-Digest files
	TrailName      string        // used in digest names; default "management-events"
	// OrgID, when set ("o-abc123def4"), writes an organization trail:
	// keys start AWSLogs/<OrgID>/<account>/… instead of AWSLogs/<account>/….
	OrgID string
}

// DefaultOptions returns options with realistic rates.
func DefaultOptions(seed int64) Options {
	return Options{
		Seed:             seed,
		DeniedRate:       0.02,
		ErrorRate:        0.01,
		ServiceEventRate: 0.03,
		AssumedRoleShare: 0.55,
	}
}

// Errors returned by New.
var (
	ErrBadOptions = errors.New("trailgen: bad options")
)

// Generator produces one synthetic trail. It is immutable after New and
// safe for concurrent use; every output method regenerates the same trail
// from the seed.
type Generator struct {
	opts  Options
	world *world
	span  time.Duration
	total int
	opIdx map[string]int // opTable index of the operations emitted outside workloads
}

// New validates opts, fills defaults and lays out the synthetic accounts.
func New(opts Options) (*Generator, error) {
	o := opts
	if o.Users == 0 {
		o.Users = 8
	}
	if o.Roles == 0 {
		o.Roles = 6
	}
	if len(o.Regions) == 0 {
		o.Regions = []string{"us-east-1", "eu-west-1"}
	}
	if o.Start.IsZero() {
		o.Start = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	}
	o.Start = o.Start.UTC()
	if o.Days == 0 {
		o.Days = 1
	}
	if o.RecordsPerFile == 0 {
		o.RecordsPerFile = 100
	}
	if o.FileWindow == 0 {
		o.FileWindow = 5 * time.Minute
	}
	if o.TrailName == "" {
		o.TrailName = "management-events"
	}
	var errs []error
	bad := func(field string, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: %s: %s", ErrBadOptions, field, fmt.Sprintf(format, args...)))
	}
	if o.Users < 1 {
		bad("Users", "%d, need at least 1", o.Users)
	}
	if o.Roles < 0 {
		bad("Roles", "%d is negative", o.Roles)
	}
	if o.Days < 0 || o.Span < 0 {
		bad("Days/Span", "negative span")
	}
	if o.Events < 0 || o.EventsPerDay < 0 {
		bad("Events", "negative count")
	}
	if o.RecordsPerFile < 1 {
		bad("RecordsPerFile", "%d, need at least 1", o.RecordsPerFile)
	}
	if o.FileWindow < time.Minute {
		bad("FileWindow", "%s, need at least 1m", o.FileWindow)
	}
	for name, v := range map[string]float64{"DeniedRate": o.DeniedRate, "ErrorRate": o.ErrorRate, "ServiceEventRate": o.ServiceEventRate, "AssumedRoleShare": o.AssumedRoleShare} {
		if v < 0 || v > 1 {
			bad(name, "%g is outside [0,1]", v)
		}
	}
	if o.DeniedRate+o.ErrorRate > 1 {
		bad("DeniedRate+ErrorRate", "%g exceeds 1", o.DeniedRate+o.ErrorRate)
	}
	seen := map[string]bool{}
	for i, a := range o.Accounts {
		if len(a) != 12 || !allDigits(a) {
			bad(fmt.Sprintf("Accounts[%d]", i), "%q is not a 12-digit account id", a)
		}
		if seen[a] {
			bad(fmt.Sprintf("Accounts[%d]", i), "%q repeated", a)
		}
		seen[a] = true
	}
	if o.OrgID != "" && !orgIDRE.MatchString(o.OrgID) {
		bad("OrgID", "%q is not an organization id (o-ab12cd34ef)", o.OrgID)
	}
	for i, r := range o.Regions {
		if r == "" {
			bad(fmt.Sprintf("Regions[%d]", i), "empty")
		}
	}
	if len(errs) > 0 {
		// Sort for a stable message (the rate checks iterate a map).
		slices.SortFunc(errs, func(a, b error) int {
			if a.Error() < b.Error() {
				return -1
			}
			if a.Error() > b.Error() {
				return 1
			}
			return 0
		})
		return nil, errors.Join(errs...)
	}
	if len(o.Accounts) == 0 {
		r := rand.New(rand.NewPCG(uint64(o.Seed), 0xacc0_0000_0000_0001))
		o.Accounts = []string{accountFromSeed(r)}
	}
	span := o.Span
	if span == 0 {
		span = time.Duration(o.Days) * 24 * time.Hour
	}
	total := o.Events
	if o.EventsPerDay > 0 {
		total = int(int64(o.EventsPerDay) * int64(span) / int64(24*time.Hour))
	}
	if total == 0 && o.Events == 0 && o.EventsPerDay == 0 {
		total = 10000
	}
	g := &Generator{opts: o, span: span, total: total, opIdx: map[string]int{}}
	for i, op := range opTable {
		if op.name == opAssumeRole || op.name == opConsoleLogin {
			g.opIdx[op.name] = i
		}
	}
	if len(g.opIdx) != 2 {
		return nil, fmt.Errorf("trailgen: operation table lacks AssumeRole or ConsoleLogin")
	}
	g.world = buildWorld(&g.opts)
	return g, nil
}

var orgIDRE = regexp.MustCompile(`^o-[a-z0-9]{10,32}$`)

func allDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// Options returns the options in effect (defaults filled in).
func (g *Generator) Options() Options {
	o := g.opts
	o.Accounts = slices.Clone(o.Accounts)
	o.Regions = slices.Clone(o.Regions)
	return o
}

// Accounts returns the account ids whose trails are generated.
func (g *Generator) Accounts() []string { return slices.Clone(g.world.accounts) }

// Total returns the number of records one generation writes.
func (g *Generator) Total() int { return g.total }

// Record is one generated CloudTrail record.
type Record struct {
	Account string    // recipientAccountId: whose trail it is delivered to
	Region  string    // awsRegion
	Time    time.Time // eventTime
	EventID string
	// EventSource and EventType are copied from the record for routing
	// (EventBridge source and detail-type).
	EventSource string
	EventType   string
	JSON        []byte // the record, one JSON object; owned by the receiver
}

// Records generates the trail in time order and calls fn with each record.
// It returns the ground truth of what was generated. fn's error stops the
// generation and is returned wrapped.
func (g *Generator) Records(ctx context.Context, fn func(Record) error) (*Manifest, error) {
	rn := newRun(g)
	for i := range g.total {
		if i%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("generate record %d: %w", i, err)
			}
		}
		rec, err := rn.next(i)
		if err != nil {
			return nil, fmt.Errorf("generate record %d: %w", i, err)
		}
		if err := fn(rec); err != nil {
			return nil, fmt.Errorf("emit record %d (%s): %w", i, rec.EventID, err)
		}
	}
	return rn.man.finish(g), nil
}
