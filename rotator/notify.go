package rotator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/iamd/iamd/ingest/backoff"
)

// Event kinds sent to the Notifier.
const (
	EventAnnounce   = "rotation-announced"  // a key reaches MaxAge within NotifyAhead
	EventCreate     = "create-key"          // before CreateAccessKey
	EventFreeSlot   = "delete-expired-key"  // before deleting an inactive key to free a quota slot
	EventDeactivate = "deactivate-key"      // before UpdateAccessKey Inactive
	EventDelete     = "delete-key"          // before DeleteAccessKey of the old key
	EventReactivate = "reactivate-key"      // before rollback's UpdateAccessKey Active
	EventCompensate = "compensate"          // before deleting a new key that could not be delivered or verified
	EventWaiting    = "rotation-waiting"    // a due rotation is blocked (quota)
	EventAlert      = "old-key-used-again"  // the old key was used after its deactivation
	EventForeign    = "key-changed-outside" // IAM shows a change iamd did not make
	EventInUse      = "new-key-in-use"      // a new key to be deleted shows use by others: kept, the rotation stops
)

// Event is one notification. It names keys by ID only; the secret is not
// part of it.
type Event struct {
	Kind        string    `json:"event"`
	User        string    `json:"user"`
	UserARN     string    `json:"userArn"`
	AccessKeyID string    `json:"accessKeyId,omitempty"`
	NewKeyID    string    `json:"newAccessKeyId,omitempty"`
	Phase       Phase     `json:"phase,omitempty"`
	At          time.Time `json:"at"`
	Message     string    `json:"message"`
}

// Notifier receives events before each mutating step, announcements and
// alerts. A failed notification is logged and does not stop the step: the
// decision to act rests on the usage evidence, not on being heard.
type Notifier interface {
	Notify(ctx context.Context, e Event) error
}

// Webhook POSTs each event as JSON to URL and wants a 2xx answer; it
// tries Attempts times (default 3), Backoff apart (default 2 s). The URL
// is treated as a credential: errors and String name its host only.
type Webhook struct {
	URL      string
	Client   *http.Client // default: 10 s timeout
	Attempts int
	Backoff  time.Duration
	// Sleep waits between attempts (default: a timer); tests inject one.
	Sleep func(ctx context.Context, d time.Duration) error
}

var _ Notifier = (*Webhook)(nil)

// String names the webhook by its scheme and host.
func (w *Webhook) String() string { return "webhook " + RedactURL(w.URL) }

// RedactURL returns raw without what may carry a secret: a webhook URL is
// often its own credential (Slack's /services/T…/B…/secret, a ?token=
// query, user:password@). The scheme and host stay, so that an error
// still says where; the rest becomes "[redacted]".
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return redacted
	}
	out := u.Scheme + "://" + u.Host
	if u.User != nil || strings.Trim(u.Path, "/") != "" || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		out += "/" + redacted
	}
	return out
}

// redactURLError rewrites the URL net/http puts in its errors
// (`Post "https://…": …`) in place.
func redactURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		ue.URL = RedactURL(ue.URL)
	}
	return err
}

// Notify posts e.
func (w *Webhook) Notify(ctx context.Context, e Event) error {
	body, err := json.Marshal(e)
	if err != nil {
		return err
	}
	c := w.Client
	if c == nil {
		c = &http.Client{Timeout: 10 * time.Second}
	}
	attempts, wait, sleep := w.Attempts, w.Backoff, w.Sleep
	if attempts <= 0 {
		attempts = 3
	}
	if wait <= 0 {
		wait = 2 * time.Second
	}
	if sleep == nil {
		sleep = backoff.Sleep
	}
	var last error
	for i := range attempts {
		if i > 0 {
			if err := sleep(ctx, wait<<(i-1)); err != nil {
				return err
			}
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
		if err != nil {
			// The parse error quotes the URL whole.
			return fmt.Errorf("%s: not a valid URL", w)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("User-Agent", "iamd-rotator")
		resp, err := c.Do(req)
		if err != nil {
			last = redactURLError(err)
			continue
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		if resp.StatusCode/100 == 2 {
			return nil
		}
		last = fmt.Errorf("status %s", resp.Status)
		if resp.StatusCode/100 == 4 && resp.StatusCode != http.StatusTooManyRequests {
			break
		}
	}
	return fmt.Errorf("webhook %s event: %w", e.Kind, last)
}
