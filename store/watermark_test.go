package store

import (
	"context"
	"testing"
	"time"
)

// NewestEvent is the hour of the newest event counted, whatever order
// the events came in, and ignores a record dated far ahead of the clock.
func TestNewestEvent(t *testing.T) {
	ctx := context.Background()
	db, clk := openMem(t, nil)
	hour := func(at time.Time) time.Time { return at.Truncate(time.Hour) }
	for _, tc := range []struct {
		name   string
		events []Event
		want   time.Time
	}{
		{name: "empty store", want: time.Time{}},
		{name: "one event", events: []Event{ev("a", alice, t0.Add(-30*time.Hour), use("s3:GetObject", bucketA))}, want: hour(t0.Add(-30 * time.Hour))},
		{name: "a newer one", events: []Event{ev("b", alice, t0.Add(-5*time.Hour-10*time.Minute), use("s3:GetObject", bucketA))}, want: hour(t0.Add(-5*time.Hour - 10*time.Minute))},
		{name: "a backlog older than it", events: []Event{ev("c", bob, t0.Add(-20*24*time.Hour), use("s3:GetObject", bucketB))}, want: hour(t0.Add(-5*time.Hour - 10*time.Minute))},
		{name: "an event dated a day ahead of the clock", events: []Event{ev("d", bob, t0.Add(24*time.Hour), use("s3:GetObject", bucketB))}, want: hour(t0.Add(-5*time.Hour - 10*time.Minute))},
		{name: "within the hour ahead of the clock", events: []Event{ev("e", bob, t0.Add(40*time.Minute), use("s3:GetObject", bucketB))}, want: hour(t0.Add(40 * time.Minute))},
	} {
		if len(tc.events) > 0 {
			mustWrite(t, db, &Batch{Events: tc.events})
		}
		got, err := db.NewestEvent(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !got.Equal(tc.want) {
			t.Errorf("%s: NewestEvent() = %v, want %v", tc.name, got, tc.want)
		}
	}
	// The event dated ahead counts once the clock reaches its hour.
	clk.Add(24 * time.Hour)
	if got, err := db.NewestEvent(ctx); err != nil || !got.Equal(hour(t0.Add(24*time.Hour))) {
		t.Errorf("a day later: NewestEvent() = %v, %v; want %v", got, err, hour(t0.Add(24*time.Hour)))
	}
}
