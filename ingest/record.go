package ingest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/iamd/iamd/store"
)

// record is the part of a CloudTrail record ingest reads. Unknown fields
// are skipped by the decoder; requestParameters is kept raw and decoded
// only for the services whose resources we build.
type record struct {
	EventID string `json:"eventID"`
	// EventTime and Timestamp share the parsed bytes (parseRecordPrefix):
	// they are read only while the record is converted, never kept.
	EventTime          string          `json:"eventTime"`
	Timestamp          string          `json:"@timestamp"` // Logstash renames eventTime
	EventSource        string          `json:"eventSource"`
	EventName          string          `json:"eventName"`
	EventType          string          `json:"eventType"`
	AWSRegion          string          `json:"awsRegion"`
	SourceIPAddress    string          `json:"sourceIPAddress"`
	UserAgent          string          `json:"userAgent"`
	ErrorCode          string          `json:"errorCode"`
	RecipientAccountID string          `json:"recipientAccountId"`
	UserIdentity       *userIdentity   `json:"userIdentity"`
	RequestParameters  json.RawMessage `json:"requestParameters"`
	Resources          json.RawMessage `json:"resources"` // decoded only for mapped events
	// ResponseElements and AdditionalEventData are decoded only for a
	// console sign-in (signInOf).
	ResponseElements    json.RawMessage `json:"responseElements"`
	AdditionalEventData json.RawMessage `json:"additionalEventData"`

	// Wrapper shapes, so one decode also classifies the value.
	Records         json.RawMessage `json:"Records"`
	Events          json.RawMessage `json:"Events"`
	CloudTrailEvent *string         `json:"CloudTrailEvent"`
	DetailType      string          `json:"detail-type"`
	Detail          json.RawMessage `json:"detail"`
	DigestStart     string          `json:"digestStartTime"`

	// Where the parser keeps UserIdentity and its session context: one
	// allocation each per record was 1.5 % of ingest. They belong to the
	// record and are reset with it.
	ui userIdentity
	sc sessionContext

	// params holds the resource fields of RequestParameters, which the
	// parser reads on its way through.
	params requestParams
}

type userIdentity struct {
	Type             string          `json:"type"`
	PrincipalID      string          `json:"principalId"`
	ARN              string          `json:"arn"`
	AccountID        string          `json:"accountId"`
	AccessKeyID      string          `json:"accessKeyId"`
	UserName         string          `json:"userName"`
	InvokedBy        string          `json:"invokedBy"`
	IdentityProvider string          `json:"identityProvider"`
	SourceIdentity   string          `json:"sourceIdentity"`
	SessionContext   *sessionContext `json:"sessionContext"`
	OnBehalfOf       *onBehalfOf     `json:"onBehalfOf"`
}

type onBehalfOf struct {
	UserID           string `json:"userId"`
	IdentityStoreARN string `json:"identityStoreArn"`
}

type sessionContext struct {
	SessionIssuer struct {
		Type      string `json:"type"`
		ARN       string `json:"arn"`
		AccountID string `json:"accountId"`
		UserName  string `json:"userName"`
	} `json:"sessionIssuer"`
	SourceIdentity string `json:"sourceIdentity"`
}

// unmarshalRecord decodes one JSON value into r with encoding/json, the
// reference for parseRecord (fastjson.go) in the differential tests. A field
// of an unexpected JSON type (a number where a string belongs, as
// hand-edited samples have) leaves that field empty instead of losing the
// record.
func unmarshalRecord(raw []byte, r *record) error {
	err := json.Unmarshal(raw, r)
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return nil
	}
	return err
}

// parseEventTime accepts the eventTime forms seen in the wild: CloudTrail's
// own RFC 3339 with Z, and the space-separated forms of hand-written or
// re-exported records (treated as UTC).
func parseEventTime(s string) (time.Time, bool) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), true
	}
	for _, l := range [...]string{
		"2006-01-02 15:04:05.999999999",
		"2006-01-02 15:04:05.999999999Z07:00",
		"2006-01-02T15:04:05.999999999",
	} {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// syntheticID gives a record without eventID a stable ID, so ingesting the
// same input twice still deduplicates.
func syntheticID(raw []byte) string {
	h := sha256.Sum256(raw)
	return "sha256:" + hex.EncodeToString(h[:16])
}

// clean drops NUL bytes (the store's key separator) and caps the length of
// a string that becomes part of a store key.
func clean(s string) string {
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "")
	}
	if len(s) > maxComponent {
		s = s[:maxComponent]
	}
	return s
}

// maxComponent is below the store's per-component limit (8 KiB).
const maxComponent = 4 << 10

// convert turns one decoded record into a Result. at names the record for
// quarantine entries (called only then); raw is its bytes.
func (c *Converter) convert(at func() string, raw []byte, r *record) Result {
	var where string
	q := func(reason, detail string) Result {
		return Result{Kind: KindQuarantined, Quarantined: c.quarantine(where, reason, detail, raw)}
	}
	ts := r.EventTime
	if ts == "" {
		ts = r.Timestamp
	}
	if ts == "" || r.EventName == "" || r.EventSource == "" {
		where = at()
	}
	if ts == "" {
		return q(ReasonNoEventTime, where+": record has no eventTime")
	}
	t, ok := parseEventTime(ts)
	if !ok {
		where = at()
		return q(ReasonBadTime, fmt.Sprintf("%s: eventTime %q is not a time", where, clip(ts, 64)))
	}
	if r.EventName == "" {
		return q(ReasonNoEventName, where+": record has no eventName")
	}
	if r.EventSource == "" {
		return q(ReasonNoSource, where+": record has no eventSource")
	}

	id := clean(r.EventID)
	if id == "" {
		id = syntheticID(raw)
	}
	ev := store.Event{
		ID:                 id,
		Time:               t,
		RecipientAccountID: clean(r.RecipientAccountID),
		SourceIP:           clean(r.SourceIPAddress),
		UserAgent:          clean(r.UserAgent),
		Region:             clean(r.AWSRegion),
		EventSource:        clean(r.EventSource),
		EventName:          clean(r.EventName),
		ErrorCode:          clean(r.ErrorCode),
	}
	if isDenied(r.ErrorCode) {
		ev.Outcome = store.OutcomeDenied
	}

	kind := c.attribute(r, &ev)
	if kind != 0 {
		return Result{Kind: kind}
	}
	if ev.EventName == "ConsoleLogin" && ev.EventSource == "signin.amazonaws.com" {
		ev.SignIn, ev.MFAUsed = signInOf(r)
	}

	m := c.mapping.resolve(r.EventSource, r.EventName, r.RequestParameters)
	switch {
	case m.permissionless:
		kind = KindPermissionless
	case len(m.actions) == 0:
		kind = KindUnmapped
	default:
		kind = KindUsage
		ev.Uses = c.uses(r, &ev, m)
	}
	if c.keepRaw {
		ev.Raw = append([]byte(nil), RedactSecrets(raw)...)
	}
	res := Result{Kind: kind, Event: ev}
	if kind == KindUnmapped {
		res.Unmapped = ev.EventSource + "/" + ev.EventName
	}
	return res
}

func (c *Converter) quarantine(where, reason, detail string, raw []byte) store.Quarantined {
	// Damaged by definition: redaction fails closed. Cut first, so a
	// 16 MiB record is not copied to keep 64 KiB; a secret the cut splits
	// is masked to the end of what is kept.
	raw = RedactQuarantined(raw[:min(len(raw), store.MaxRawSize)])
	raw = raw[:min(len(raw), store.MaxRawSize)]
	return store.Quarantined{
		Where:  where,
		Reason: reason,
		Detail: detail,
		Raw:    raw,
		Time:   c.now(),
	}
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// isDenied reports whether an errorCode means AWS refused the call for
// lack of permission. Everything else (throttling, NoSuch…, validation)
// happened after authorization, so the permission counts as used.
func isDenied(code string) bool {
	if code == "" {
		return false
	}
	switch code {
	case "AccessDenied", "AccessDeniedException", "Client.UnauthorizedOperation",
		"UnauthorizedOperation", "VpceAccessDenied", "Client.AccessDenied",
		"AuthorizationError", "AuthorizationErrorException", "AccessDeniedFault":
		return true
	}
	return false
}

// signInOf reads a console sign-in record: responseElements.ConsoleLogin
// says Success or Failure, additionalEventData.MFAUsed Yes or No (AWS
// CloudTrail User Guide, "AWS Management Console sign-in events"). A
// record without the outcome (not a shape CloudTrail writes: hand-made
// samples) counts as a success, as a sign-in record that does not say it
// failed; MFA counts only when the record says Yes.
func signInOf(r *record) (store.SignIn, bool) {
	out := store.SignInSuccess
	if v := objectString(r.ResponseElements, "consolelogin"); v == "Failure" {
		out = store.SignInFailure
	}
	return out, objectString(r.AdditionalEventData, "mfaused") == "Yes"
}

// objectString returns the string member name (matched case-insensitively,
// as the record's fields are) of the JSON object raw; "" when raw is not
// an object, lacks it, or it is not a string. Of two members of the same
// name the last string wins, as with encoding/json.
func objectString(raw []byte, name string) string {
	p := &jsonParser{b: raw}
	if !p.isObject() {
		return ""
	}
	var out string
	var buf [64]byte
	err := p.object(func(k []byte) error {
		if string(fold(k, &buf)) == name {
			return p.setStr(&out)
		}
		return p.skip()
	})
	if err != nil {
		return ""
	}
	return out
}
