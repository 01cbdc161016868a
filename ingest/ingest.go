// Package ingest turns CloudTrail records into store.Events: who (the
// principal ARN) did which IAM actions on which resources, with which access
// key, when, allowed or denied. It reads every shape CloudTrail arrives in
// (S3 log files plain or gzipped, JSON arrays, JSON lines, lookup-events
// output, EventBridge envelopes, Logstash-shaped records), counts and
// quarantines what it cannot use, and writes batches with checkpoints
// through the narrow BatchWriter interface. It imports store and
// analyzer/catalog, nothing else of ours.
//
// The streaming sources (Kafka, S3) use two pieces: Converter.Decode (or
// ConvertPayload) turns one payload into Results, and Sink batches them into
// store.Batches with the source's checkpoint.
package ingest

import (
	"errors"
	"maps"
	"time"

	"github.com/iamd/iamd/store"
)

// Errors. Only ErrMapping reaches callers; the others steer the decoder.
var (
	// ErrMapping is wrapped by errors in the mapping table.
	ErrMapping = errors.New("invalid action mapping")
	// errEnd ends a payload after its damage was quarantined.
	errEnd = errors.New("end of usable input")
	// errNotObject: a JSON value that is not an object where a record belongs.
	errNotObject = errors.New("not a JSON object")
	// errTooLarge: a JSON value longer than the record size limit.
	errTooLarge = errors.New("JSON value exceeds the record size limit")
)

// Kind classifies one input record.
type Kind uint8

// The kinds of record. Only KindUsage, KindPermissionless and KindUnmapped
// carry a store.Event (a principal made the call); the others are counted.
const (
	// KindUsage is a call by a principal mapped to catalog actions.
	KindUsage Kind = iota + 1
	// KindPermissionless is a call that needs no IAM permission
	// (sts:GetCallerIdentity, console sign-in, …). Its Event has no Uses
	// but still records the access key's use.
	KindPermissionless
	// KindUnmapped is a call by a principal whose event name maps to no
	// catalog action. Its Event has no Uses.
	KindUnmapped
	// KindServiceEvent is a call by an AWS service (userIdentity type
	// AWSService, or a service event with only invokedBy): not a principal.
	KindServiceEvent
	// KindNonPrincipal is a call whose caller cannot be named (no
	// userIdentity, type Unknown, HIDDEN_DUE_TO_SECURITY_REASONS).
	KindNonPrincipal
	// KindQuarantined is a record that could not be used; see Quarantined.
	KindQuarantined
)

// String returns the kind's short name.
func (k Kind) String() string {
	switch k {
	case KindUsage:
		return "usage"
	case KindPermissionless:
		return "permissionless"
	case KindUnmapped:
		return "unmapped"
	case KindServiceEvent:
		return "service-event"
	case KindNonPrincipal:
		return "non-principal"
	case KindQuarantined:
		return "quarantined"
	}
	return "unknown"
}

// Quarantine reasons (store.Quarantined.Reason).
const (
	ReasonBadJSON     = "bad-json"      // a record that is not valid JSON
	ReasonTruncated   = "truncated"     // input ended inside a record (or a gzip stream)
	ReasonRead        = "read-error"    // the input could not be read (I/O, gzip header)
	ReasonNoEventTime = "no-event-time" // neither eventTime nor @timestamp
	ReasonBadTime     = "bad-event-time"
	ReasonNoEventName = "no-event-name"
	ReasonNoSource    = "no-event-source"
	ReasonNotRecord   = "not-a-record" // a JSON value that is not a CloudTrail record object
	ReasonNotJSON     = "not-json"     // a whole input that is not JSON (a binary file, a text file), quarantined once
)

// Result is what one input record became.
type Result struct {
	Kind Kind
	// Event is set for KindUsage, KindPermissionless and KindUnmapped.
	Event store.Event
	// Quarantined is set for KindQuarantined.
	Quarantined store.Quarantined
	// Unmapped is "eventSource/eventName" for KindUnmapped.
	Unmapped string
}

// Counts are what converting and writing some input found. The zero value
// is ready to use.
type Counts struct {
	Records        int64            `json:"records"`         // records read (a digest file is not a record)
	Events         int64            `json:"events"`          // events of principals handed to the store
	Written        int64            `json:"written"`         // events the store counted (new)
	Duplicates     int64            `json:"duplicates"`      // events the store already had
	NewFacts       int64            `json:"new_facts"`       // facts the store did not hold before: distinct facts this input added
	Denied         int64            `json:"denied"`          // events refused for lack of permission
	Failed         int64            `json:"failed"`          // authorized calls that failed otherwise (throttling, NoSuch…)
	Usage          int64            `json:"usage"`           // events mapped to catalog actions
	Permissionless int64            `json:"permissionless"`  // calls that need no permission
	ServiceEvents  int64            `json:"service_events"`  // AWS service callers and service events
	NonPrincipal   int64            `json:"non_principal"`   // callers that cannot be named
	Digests        int64            `json:"digests"`         // CloudTrail digest files skipped
	Files          int64            `json:"files"`           // inputs read
	FilesUnchanged int64            `json:"files_unchanged"` // inputs skipped because their checkpoint matched
	RepairedFiles  int64            `json:"repaired_files"`  // inputs the decoder had to repair (Repairs says how)
	Quarantined    map[string]int64 `json:"quarantined"`     // reason → records
	Unmapped       map[string]int64 `json:"unmapped"`        // "eventSource/eventName" → records
	// Repairs counts what the decoder mended to read on: a comma missing
	// between records, a resynchronisation after damage (its bytes are
	// quarantined), junk between values. Repair kind → occurrences.
	Repairs map[string]int64 `json:"repairs"`
	// FactWrites is how many fact keys the store rewrote, summed over
	// batches: a fact in two batches counts twice, and which records
	// share a batch depends on how the decoding goroutines interleave,
	// so identical input gives a different sum from run to run. A cost
	// measure for benchmarks, left out of summaries.
	FactWrites int64 `json:"-"`
}

// Repair kinds (Counts.Repairs).
const (
	RepairMissingComma = "missing-comma" // records of an array not separated by a comma
	RepairResync       = "resync"        // reading resumed at the next record after damage
	RepairJunk         = "junk-skipped"  // bytes between values that are not JSON, skipped
)

// Count adds one Result.
func (c *Counts) Count(r *Result) {
	c.Records++
	switch r.Kind {
	case KindUsage, KindPermissionless, KindUnmapped:
		c.Events++
		if r.Event.Outcome == store.OutcomeDenied {
			c.Denied++
		} else if r.Event.ErrorCode != "" {
			c.Failed++
		}
		switch r.Kind {
		case KindUsage:
			c.Usage++
		case KindPermissionless:
			c.Permissionless++
		default:
			if c.Unmapped == nil {
				c.Unmapped = map[string]int64{}
			}
			c.Unmapped[r.Unmapped]++
		}
	case KindServiceEvent:
		c.ServiceEvents++
	case KindNonPrincipal:
		c.NonPrincipal++
	case KindQuarantined:
		if c.Quarantined == nil {
			c.Quarantined = map[string]int64{}
		}
		c.Quarantined[r.Quarantined.Reason]++
	}
}

// Add adds o to c.
func (c *Counts) Add(o Counts) {
	c.Records += o.Records
	c.Events += o.Events
	c.Written += o.Written
	c.Duplicates += o.Duplicates
	c.FactWrites += o.FactWrites
	c.NewFacts += o.NewFacts
	c.Denied += o.Denied
	c.Failed += o.Failed
	c.Usage += o.Usage
	c.Permissionless += o.Permissionless
	c.ServiceEvents += o.ServiceEvents
	c.NonPrincipal += o.NonPrincipal
	c.Digests += o.Digests
	c.Files += o.Files
	c.FilesUnchanged += o.FilesUnchanged
	c.RepairedFiles += o.RepairedFiles
	c.Quarantined = addMap(c.Quarantined, o.Quarantined)
	c.Unmapped = addMap(c.Unmapped, o.Unmapped)
	c.Repairs = addMap(c.Repairs, o.Repairs)
}

func addMap(dst, src map[string]int64) map[string]int64 {
	if len(src) == 0 {
		return dst
	}
	if dst == nil {
		return maps.Clone(src)
	}
	for k, v := range src {
		dst[k] += v
	}
	return dst
}

// QuarantinedTotal is the number of quarantined records.
func (c *Counts) QuarantinedTotal() int64 {
	var n int64
	for _, v := range c.Quarantined {
		n += v
	}
	return n
}

// UnmappedTotal is the number of events with no mapped action.
func (c *Counts) UnmappedTotal() int64 {
	var n int64
	for _, v := range c.Unmapped {
		n += v
	}
	return n
}

// Classified is the share of usable records (read minus quarantined)
// that were attributed and mapped, or classified as permissionless,
// service event or non-principal: everything except unmapped.
func (c *Counts) Classified() float64 {
	usable := c.Records - c.QuarantinedTotal()
	if usable <= 0 {
		return 1
	}
	return float64(usable-c.UnmappedTotal()) / float64(usable)
}

// nowFunc returns now, or time.Now when nil.
func nowFunc(now func() time.Time) func() time.Time {
	if now == nil {
		return time.Now
	}
	return now
}
