package rotator

import (
	"fmt"
	"log/slog"
	"time"
)

// redacted is what a Secret prints as, wherever it is formatted.
const redacted = "[redacted]"

// Secret is an access key's secret. It lives only in memory between
// CreateAccessKey and the delivery; every way Go can print it (fmt verbs,
// JSON, slog) prints "[redacted]", so a Credential passed to a logger or
// an error by mistake does not leak it. Reveal is the one way to read it,
// used by the delivery targets alone.
type Secret struct{ v string }

// NewSecret wraps s.
func NewSecret(s string) Secret { return Secret{v: s} }

// Reveal returns the secret itself, for a delivery target.
func (s Secret) Reveal() string { return s.v }

// Empty reports whether there is no secret.
func (s Secret) Empty() bool { return s.v == "" }

func (Secret) String() string   { return redacted }
func (Secret) GoString() string { return redacted }

// Format prints "[redacted]" for every verb (%v, %+v, %#v, %s, %q, %x…).
func (Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(redacted)) }

// MarshalJSON writes "[redacted]".
func (Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// MarshalText writes "[redacted]" (used by encoders that prefer text).
func (Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// LogValue makes slog print "[redacted]".
func (Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// Credential is a new access key as CreateAccessKey returned it.
type Credential struct {
	UserName    string
	AccessKeyID string
	Secret      Secret
	Created     time.Time
}
