package store

import "time"

// Outcome says whether AWS authorized a call. Calls that failed for any
// reason other than authorization (throttling, NoSuchEntity, validation)
// were authorized, so they count as Allowed: the permission was used.
type Outcome uint8

const (
	OutcomeAllowed Outcome = iota
	OutcomeDenied
)

// String returns "allowed" or "denied".
func (o Outcome) String() string {
	if o == OutcomeDenied {
		return "denied"
	}
	return "allowed"
}

// SignIn is the outcome of a console sign-in record; SignInNone on every
// other record.
type SignIn uint8

const (
	SignInNone SignIn = iota
	SignInSuccess
	SignInFailure
)

// Use is one IAM action on one resource. A single CloudTrail record can
// carry several (kms:ReEncrypt needs ReEncryptFrom and ReEncryptTo;
// CopyObject needs PutObject on the target and GetObject on the source).
type Use struct {
	Action   string // "s3:GetObject", catalog casing
	Resource string // ARN, or "*" when the call names none we can build
}

// Event is one CloudTrail record reduced to what the usage index keeps.
// Ingest builds Events; the store aggregates them into Facts, KeyUsage,
// PrincipalSessions and CrossAccount and keeps the record itself (Raw) only when raw
// retention is configured.
type Event struct {
	ID                 string    // CloudTrail eventID: the dedup key
	Time               time.Time // eventTime, UTC
	Principal          string    // ARN charged with the call; the role ARN for assumed-role sessions
	PrincipalType      string    // userIdentity.type: IAMUser, AssumedRole, Root, FederatedUser, …
	AccountID          string    // the principal's account
	RecipientAccountID string    // the account that received the call; differs for cross-account calls (CrossAccount)
	SessionName        string    // role session name or federated user name; "" for IAM users
	SourceIdentity     string    // sts SourceIdentity, the person behind a role session
	AccessKeyID        string    // "" when the record has none (console, some service calls)
	SourceIP           string
	UserAgent          string
	Region             string
	EventSource        string // "s3.amazonaws.com"
	EventName          string // "GetObject"
	ErrorCode          string // raw errorCode, "" on success
	Outcome            Outcome
	Uses               []Use
	// SignIn and MFAUsed are set on console sign-in records
	// (signin.amazonaws.com ConsoleLogin) only: responseElements.
	// ConsoleLogin and additionalEventData.MFAUsed. The store keeps them
	// per principal (ConsoleSignIns).
	SignIn  SignIn
	MFAUsed bool
	// Raw is the record as read. It is kept only when the store's
	// Options.RawRetention is set (truncated to MaxRawSize); nil is fine.
	Raw []byte
}

// Fact is the aggregate for one principal × action × resource.
type Fact struct {
	Principal string
	Action    string
	Resource  string
	FirstSeen time.Time
	LastSeen  time.Time
	Allowed   uint64 // calls AWS authorized (including those that then failed for other reasons)
	Denied    uint64 // calls AWS refused for lack of permission
}

// DayCount is one day of activity of a principal × action.
type DayCount struct {
	Day     time.Time // midnight UTC
	Allowed uint64
	Denied  uint64
}

// KeyUsage is what the index knows about one access key ID. The secret
// never reaches the store: CloudTrail does not carry it and nothing here
// has a field for it.
type KeyUsage struct {
	AccessKeyID string
	Principal   string // owner principal ARN (the user, or the role for session keys)
	FirstSeen   time.Time
	LastSeen    time.Time
	Calls       uint64
	SourceIPs   []Seen // most recent first, a few at most
	UserAgents  []Seen // most recent first, a few at most
}

// Seen is a value with when it was first and last seen and how often.
type Seen struct {
	Value string
	// FirstSeen is when the value entered its list: when it was first
	// seen, unless the list was full at some point (it holds its cap of
	// entries), evicted it and it came back. Zero when not known: values
	// recorded before schema version 3, in a store migrated from it.
	FirstSeen time.Time
	LastSeen  time.Time
	Count     uint64
}

// ConsoleSignIns are a principal's console sign-ins (ConsoleLogin
// records). Counts cover everything the store has seen, not a window;
// the times say when.
type ConsoleSignIns struct {
	Principal string
	// WithMFA and WithoutMFA count successful password sign-ins (an IAM
	// user or the root user, userIdentity type IAMUser or Root) by
	// additionalEventData.MFAUsed; FirstSeen and LastSeen are the first
	// and last of them.
	WithMFA, WithoutMFA uint64
	FirstSeen, LastSeen time.Time
	LastWithoutMFA      time.Time
	// Federated counts successful sign-ins through federation (a role
	// session from a SAML or IAM Identity Center sign-in, a federated
	// user): the identity provider does the MFA there, so MFAUsed says
	// nothing about it, and the principal's own password is not used.
	Federated     uint64
	LastFederated time.Time
	// Failures counts refused sign-ins (responseElements.ConsoleLogin
	// Failure: wrong password, failed MFA) charged to the principal.
	Failures    uint64
	LastFailure time.Time
	// SourceIPs are the addresses of successful sign-ins, most recent
	// first, at most MaxSignInSeen.
	SourceIPs []Seen
}

// ActionUsage sums up one principal × action: its calls, counted once
// per record however many resources the record names (as DayCount
// counts them), and its resources (the Facts of the pair) with the most
// used ones. Write keeps it beside the facts, so that a reader that
// wants an action's totals reads one record instead of one per
// resource.
type ActionUsage struct {
	Principal string
	Action    string
	// FirstSeen and LastSeen are the first and last call, allowed or
	// refused.
	FirstSeen, LastSeen time.Time
	Allowed, Denied     uint64
	// LastDenied is the last refused call (zero: none). In a store
	// migrated from schema version 2 it is, for the calls before the
	// migration, the last call of the latest fact that has refused
	// calls: those stores kept no separate time.
	LastDenied time.Time
	// Resources counts the pair's facts (distinct resources);
	// AllowedResources those with allowed calls.
	Resources, AllowedResources uint64
	// TopAllowed are the resources with the most allowed calls, most
	// first (ties by resource), at most MaxTopResources, each with its
	// fact's Allowed and LastSeen; TopDenied likewise by refused calls,
	// with the fact's Denied.
	TopAllowed, TopDenied []ResourceCount
}

// ResourceCount is one resource of an ActionUsage's top list.
type ResourceCount struct {
	Resource string
	Calls    uint64
	LastSeen time.Time // the fact's last call, allowed or refused
}

// PrincipalSessions lists who acted inside a principal: role session names
// and sts source identities, with the last time each was seen.
type PrincipalSessions struct {
	Principal        string
	SessionNames     []Seen
	SourceIdentities []Seen
}

// CrossAccount lists the accounts other than its own that a principal's
// calls landed in: the recipientAccountId of its records where that
// differs from userIdentity.accountId. The resource of such a call is
// often "*", so its Fact alone does not say which account it touched.
type CrossAccount struct {
	Principal string
	// AccountID is the principal's own account (userIdentity.accountId)
	// as of its latest cross-account call.
	AccountID string
	// Recipients are the accounts called into, most recent first, at
	// most MaxRecipientAccounts. An evicted account that comes back
	// starts counting again from one.
	Recipients []AccountSeen
}

// AccountSeen is one account a principal called into, with when and how
// often.
type AccountSeen struct {
	AccountID string
	FirstSeen time.Time
	LastSeen  time.Time
	Calls     uint64
}

// Checkpoint is the resume position of one ingest source (a file, an S3
// account/region prefix, a Kafka partition). It is written in the same
// transaction as the facts it covers, so a crash never separates them.
type Checkpoint struct {
	Source   string // "file:/path", "s3://bucket/AWSLogs/…/us-east-1", "kafka:topic/3"
	Position string // source-specific: byte offset, last object key, message offset
	Updated  time.Time
}

// Quarantined is an input record that could not be used, kept so it can
// be inspected and replayed. Where names the input precisely (file and
// record index, object key and offset, topic/partition/offset).
type Quarantined struct {
	Where  string
	Reason string // short stable reason id: "bad-json", "no-event-time", …
	Detail string // the error text
	Raw    []byte // the record as read, capped by the writer
	Time   time.Time
}

// Batch is the unit of a durable write: facts for its events, the
// quarantined records and the checkpoints that cover them, all in one
// transaction. Events already in the dedup set are skipped.
type Batch struct {
	Events      []Event
	Quarantined []Quarantined
	Checkpoints []Checkpoint
}

// WriteResult counts what a Batch write did.
type WriteResult struct {
	Events     int // events newly counted
	Duplicates int // events skipped because their ID was already counted
	Facts      int // distinct fact keys updated
	NewFacts   int // of those, keys the store did not hold before
}

// Snapshot is one IAM model snapshot (the JSON of
// get-account-authorization-details or its live equivalent) with the time
// it was taken. Versions are kept so two snapshots can be diffed.
type Snapshot struct {
	AccountID string
	Taken     time.Time
	Data      []byte
}
