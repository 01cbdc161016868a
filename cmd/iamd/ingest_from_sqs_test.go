package main

import (
	"strings"
	"testing"
)

func TestParseFromURLQueue(t *testing.T) {
	for _, tc := range []struct {
		name, url string
		want      string // the queue, or the error substring
		err       bool
	}{
		{name: "aws queue", url: "s3://trail/logs?sqs=https://sqs.eu-west-1.amazonaws.com/111122223333/trail-events",
			want: "https://sqs.eu-west-1.amazonaws.com/111122223333/trail-events"},
		{name: "escaped", url: "s3://trail?sqs=https%3A%2F%2Fsqs.us-east-1.amazonaws.com%2F111122223333%2Fq",
			want: "https://sqs.us-east-1.amazonaws.com/111122223333/q"},
		{name: "not a URL", url: "s3://trail?sqs=trail-events", want: `sqs="trail-events": want the queue URL`, err: true},
		{name: "no queue path", url: "s3://trail?sqs=https://sqs.us-east-1.amazonaws.com/", want: "want the queue URL", err: true},
		{name: "with until", url: "s3://trail?until=2026-11-20&sqs=https://sqs.us-east-1.amazonaws.com/1/q", want: "sqs= needs tailing", err: true},
		{name: "tail false", url: "s3://trail?tail=false&sqs=https://sqs.us-east-1.amazonaws.com/1/q", want: "sqs= needs tailing", err: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs, err := parseFromURL(tc.url)
			if tc.err {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("parseFromURL(%q) error %v, want one containing %q", tc.url, err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := fs.s3.Queue; got != tc.want || !fs.s3.Tail {
				t.Errorf("parseFromURL(%q) queue %q tail=%v, want %q tail=true", tc.url, got, fs.s3.Tail, tc.want)
			}
		})
	}
}

func TestSQSQueueEndpoint(t *testing.T) {
	for _, tc := range []struct {
		url, region, endpoint string
	}{
		{"https://sqs.eu-west-1.amazonaws.com/111122223333/q", "eu-west-1", ""},
		{"https://sqs.cn-north-1.amazonaws.com.cn/111122223333/q", "cn-north-1", ""},
		{"https://queue.amazonaws.com/111122223333/q", "", ""},
		{"http://localhost:9324/000000000000/q", "", "http://localhost:9324"},
	} {
		t.Run(tc.url, func(t *testing.T) {
			region, endpoint, err := sqsQueueEndpoint(tc.url)
			if err != nil || region != tc.region || endpoint != tc.endpoint {
				t.Errorf("sqsQueueEndpoint()=%q,%q,%v, want %q,%q", region, endpoint, err, tc.region, tc.endpoint)
			}
		})
	}
}
