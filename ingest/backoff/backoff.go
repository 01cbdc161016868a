// Package backoff spaces the retries of a failing call: exponentially
// growing waits, capped, with jitter, so that the sources of several iamd
// instances (or the partitions of one) that failed together, at a broker
// restart or an S3 outage, do not all retry in the same instant. It
// imports nothing of ours.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Backoff hands out the waits between the attempts of one retry loop. It
// is not safe for concurrent use; each loop owns one.
type Backoff struct {
	min, max time.Duration
	rand     func() float64
	cur      time.Duration // the ceiling of the next wait; 0 before the first
}

// New returns a Backoff whose waits start near min and double up to max.
// rand returns values in [0, 1); nil means math/rand/v2's Float64. Tests
// inject a fixed source to know the waits. A max below min is taken as
// min.
func New(min, max time.Duration, rand func() float64) *Backoff {
	if max < min {
		max = min
	}
	return &Backoff{min: min, max: max, rand: rand}
}

// Next returns the wait before the next attempt and grows the one after.
//
// The wait is "equal jitter" (AWS Architecture Blog, "Exponential Backoff
// And Jitter"): with d the exponential ceiling (min, 2·min, … up to max),
// a uniform pick between d/2 and d. Half of d is kept as a floor so that a peer
// that is down is not retried at once; the other half spreads the loops
// that failed together.
func (b *Backoff) Next() time.Duration {
	if b.cur == 0 {
		b.cur = b.min
	}
	d := b.cur
	b.cur = min(b.cur*2, b.max)
	f := b.float()
	return d/2 + time.Duration(f*float64(d-d/2))
}

// Reset starts the waits over from min, after a success.
func (b *Backoff) Reset() { b.cur = 0 }

func (b *Backoff) float() float64 {
	f := 0.0
	if b.rand != nil {
		f = b.rand()
	} else {
		f = rand.Float64()
	}
	// A source outside [0, 1) must not stretch the wait past its ceiling
	// or below its floor.
	return min(max(f, 0), 1)
}

// Sleep waits d or until ctx ends, whichever is first, and returns
// ctx.Err() in the second case.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
