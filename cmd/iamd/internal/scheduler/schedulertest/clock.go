// Package schedulertest is a clock for tests of what the scheduler
// drives: time moves only when the test moves it, and timers fire then,
// so no test sleeps for a schedule. It implements scheduler.Clock and
// imports nothing of ours.
package schedulertest

import (
	"sync"
	"testing"
	"time"
)

// Clock moves only when Set, Advance or AdvanceTo is called.
type Clock struct {
	mu     sync.Mutex
	cond   *sync.Cond
	now    time.Time
	timers map[*timer]bool
}

type timer struct {
	at time.Time
	c  chan time.Time
}

// NewClock returns a clock at now.
func NewClock(now time.Time) *Clock {
	c := &Clock{now: now, timers: map[*timer]bool{}}
	c.cond = sync.NewCond(&c.mu)
	return c
}

// Now is the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// NewTimer fires once the clock reaches now+d; stop cancels it and says
// whether it was pending.
func (c *Clock) NewTimer(d time.Duration) (<-chan time.Time, func() bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &timer{at: c.now.Add(d), c: make(chan time.Time, 1)}
	if d <= 0 {
		t.c <- c.now
	} else {
		c.timers[t] = true
		c.cond.Broadcast()
	}
	return t.c, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		was := c.timers[t]
		delete(c.timers, t)
		return was
	}
}

// Set moves the clock to at without firing timers (the time a process
// was down).
func (c *Clock) Set(at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = at
}

// Advance moves the clock by d and fires the timers that are due.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.moveTo(c.now.Add(d))
}

func (c *Clock) moveTo(at time.Time) {
	c.now = at
	for t := range c.timers {
		if !t.at.After(at) {
			t.c <- at
			delete(c.timers, t)
		}
	}
}

// WaitTimer blocks until a timer due at `at` is pending: whoever set it
// is then idle, waiting for it. It fails the test after 20 s.
func (c *Clock) WaitTimer(t testing.TB, at time.Time) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		for !c.hasTimer(at) {
			c.cond.Wait()
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatalf("no timer set for %s", at)
	}
}

// AdvanceTo waits for a timer due at `at`, then moves the clock there and
// fires it.
func (c *Clock) AdvanceTo(t testing.TB, at time.Time) {
	t.Helper()
	c.WaitTimer(t, at)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.moveTo(at)
}

func (c *Clock) hasTimer(at time.Time) bool {
	for t := range c.timers {
		if t.at.Equal(at) {
			return true
		}
	}
	return false
}
