package store

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"
)

func TestEachDayCountOf(t *testing.T) {
	db, _ := openMem(t, nil)
	ctx := context.Background()
	day := 24 * time.Hour
	mustWrite(t, db, &Batch{Events: []Event{
		ev("1", alice, t0, use("s3:GetObject", bucketA)),
		ev("2", alice, t0.Add(day), use("s3:GetObject", bucketB)),
		denied(ev("3", alice, t0.Add(day), use("s3:PutObject", bucketA))),
		ev("4", alice, t0.Add(2*day), use("ec2:DescribeInstances", "*")),
		// bob's newest day is later than alice's: LastActivity is global.
		ev("5", bob, t0.Add(5*day), use("s3:GetObject", bucketA)),
		// Day 0 of the epoch has zero bytes in its key: the separator
		// check must not mistake them for one.
		ev("6", bob, time.Unix(3600, 0).UTC(), use("s3:GetObject", bucketA)),
	}})
	var got []string
	err := db.EachDayCountOf(ctx, alice, func(action string, d DayCount) error {
		got = append(got, fmt.Sprintf("%s %s %d/%d", action, d.Day.Format("01-02"), d.Allowed, d.Denied))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"ec2:DescribeInstances 11-03 1/0", "s3:GetObject 11-01 1/0", "s3:GetObject 11-02 1/0", "s3:PutObject 11-02 0/1"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("EachDayCountOf(alice) = %q, want %q", got, want)
	}
	var bobDays []string
	if err := db.EachDayCountOf(ctx, bob, func(action string, d DayCount) error {
		bobDays = append(bobDays, action+" "+d.Day.Format("2006-01-02"))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"s3:GetObject 1970-01-01", "s3:GetObject 2026-11-06"}; !reflect.DeepEqual(bobDays, want) {
		t.Fatalf("EachDayCountOf(bob) = %q, want %q", bobDays, want)
	}
}
