package backoff

import (
	"context"
	"errors"
	"testing"
	"time"
)

// seq returns a random source that yields vs in turn.
func seq(vs ...float64) func() float64 {
	i := 0
	return func() float64 {
		v := vs[i%len(vs)]
		i++
		return v
	}
}

func TestNext(t *testing.T) {
	for _, tc := range []struct {
		name string
		rand func() float64
		want []time.Duration
	}{
		// The floor of each ceiling: half of 1, 2, 4, 8, 8 s.
		{"floor", seq(0), []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second}},
		// The ceilings themselves, capped at max.
		{"ceiling", seq(1), []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 8 * time.Second}},
		{"middle", seq(0.5), []time.Duration{750 * time.Millisecond, 1500 * time.Millisecond, 3 * time.Second, 6 * time.Second, 6 * time.Second}},
		// A source out of range is held to [0, 1].
		{"out of range", seq(-3, 7), []time.Duration{500 * time.Millisecond, 2 * time.Second, 2 * time.Second, 8 * time.Second, 4 * time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := New(time.Second, 8*time.Second, tc.rand)
			for i, want := range tc.want {
				if got := b.Next(); got != want {
					t.Fatalf("wait %d = %v, want %v", i, got, want)
				}
			}
		})
	}
}

func TestReset(t *testing.T) {
	b := New(100*time.Millisecond, time.Minute, seq(1))
	for range 5 {
		b.Next()
	}
	b.Reset()
	if got, want := b.Next(), 100*time.Millisecond; got != want {
		t.Fatalf("Next() after Reset = %v, want %v", got, want)
	}
}

// Two loops that fail together with different random draws wait
// different times: the point of the jitter.
func TestJitterSpreads(t *testing.T) {
	a := New(time.Second, time.Minute, seq(0.1))
	b := New(time.Second, time.Minute, seq(0.9))
	for i := range 6 {
		if wa, wb := a.Next(), b.Next(); wa == wb {
			t.Fatalf("wait %d: both loops wait %v", i, wa)
		}
	}
}

// The default source stays within each ceiling's bounds.
func TestDefaultSource(t *testing.T) {
	b := New(time.Millisecond, 64*time.Millisecond, nil)
	ceil := time.Millisecond
	for i := range 1000 {
		got := b.Next()
		if got < ceil/2 || got > ceil {
			t.Fatalf("wait %d = %v, want within [%v, %v]", i, got, ceil/2, ceil)
		}
		ceil = min(ceil*2, 64*time.Millisecond)
	}
}

func TestMaxBelowMin(t *testing.T) {
	b := New(time.Second, time.Millisecond, seq(1))
	for range 3 {
		if got := b.Next(); got != time.Second {
			t.Fatalf("Next() = %v, want the minimum 1s", got)
		}
	}
}

func TestSleep(t *testing.T) {
	if err := Sleep(context.Background(), time.Millisecond); err != nil {
		t.Fatalf("Sleep() = %v, want nil", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	if err := Sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("Sleep(cancelled) = %v, want context.Canceled", err)
	}
	if time.Since(start) > time.Minute {
		t.Fatal("Sleep did not return when its context ended")
	}
}
