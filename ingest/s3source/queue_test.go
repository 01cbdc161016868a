package s3source_test

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/iamd/iamd/ingest/s3source"
	"github.com/iamd/iamd/store"
)

const queueURL = "https://sqs.us-east-1.amazonaws.com/111122223333/trail-events"

// events is an ordered record of store writes and queue deletes, shared
// by the fake queue and the store wrapper, so tests can check that a
// message is deleted only after its write.
type events struct {
	mu  sync.Mutex
	log []string
}

func (e *events) add(s string) {
	e.mu.Lock()
	e.log = append(e.log, s)
	e.mu.Unlock()
}

func (e *events) snapshot() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.log)
}

type sqsMessage struct {
	id, body, receipt string
	inflight, deleted bool
}

// fakeSQS speaks the SQS AWS JSON 1.0 protocol (POST / with
// X-Amz-Target: AmazonSQS.<Op>) for ReceiveMessage, DeleteMessage and
// DeleteMessageBatch. A received message stays invisible until expire.
type fakeSQS struct {
	ev       *events
	mu       sync.Mutex
	msgs     []*sqsMessage
	receives atomic.Int64
	// failDeletes makes DeleteMessageBatch report every entry as failed.
	failDeletes   atomic.Bool
	deleteBatches atomic.Int64
	badReq        atomic.Value // string: the last protocol violation
}

func (q *fakeSQS) send(id, body string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.msgs = append(q.msgs, &sqsMessage{id: id, body: body, receipt: "rh-" + id + "-" + fmt.Sprint(len(q.msgs))})
}

// expire makes in-flight messages visible again, as a visibility timeout
// would.
func (q *fakeSQS) expire() {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, m := range q.msgs {
		if !m.deleted {
			m.inflight = false
			m.receipt += "x"
		}
	}
}

func (q *fakeSQS) state() (deleted, left []string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, m := range q.msgs {
		if m.deleted {
			deleted = append(deleted, m.id)
		} else {
			left = append(left, m.id)
		}
	}
	return deleted, left
}

func (q *fakeSQS) fail(w http.ResponseWriter, status int, typ, msg string) {
	q.badReq.Store(typ + ": " + msg)
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"__type": "com.amazonaws.sqs#" + typ, "message": msg})
}

func (q *fakeSQS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/" || r.Header.Get("Content-Type") != "application/x-amz-json-1.0" {
		q.fail(w, http.StatusBadRequest, "InvalidRequest", fmt.Sprintf("%s %s %s", r.Method, r.URL.Path, r.Header.Get("Content-Type")))
		return
	}
	var in struct {
		QueueURL            string `json:"QueueUrl"`
		MaxNumberOfMessages int
		WaitTimeSeconds     int
		ReceiptHandle       string
		Entries             []struct{ ID, ReceiptHandle string } `json:"Entries"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		q.fail(w, http.StatusBadRequest, "InvalidRequest", err.Error())
		return
	}
	if in.QueueURL != queueURL {
		q.fail(w, http.StatusBadRequest, "QueueDoesNotExist", in.QueueURL)
		return
	}
	deleteOne := func(receipt string) bool {
		for _, m := range q.msgs {
			if m.receipt == receipt && m.inflight && !m.deleted {
				m.deleted = true
				q.ev.add("delete " + m.id)
				return true
			}
		}
		return false
	}
	out := map[string]any{}
	switch op := r.Header.Get("X-Amz-Target"); op {
	case "AmazonSQS.ReceiveMessage":
		q.receives.Add(1)
		var msgs []map[string]string
		// Long polling: wait a little for a message, bounded by the
		// request (the test's) context.
		for range 20 {
			q.mu.Lock()
			for _, m := range q.msgs {
				if len(msgs) < max(in.MaxNumberOfMessages, 1) && !m.inflight && !m.deleted {
					m.inflight = true
					sum := md5.Sum([]byte(m.body))
					msgs = append(msgs, map[string]string{"MessageId": m.id, "ReceiptHandle": m.receipt, "Body": m.body, "MD5OfBody": hex.EncodeToString(sum[:])})
				}
			}
			q.mu.Unlock()
			if len(msgs) > 0 || in.WaitTimeSeconds == 0 {
				break
			}
			select {
			case <-r.Context().Done():
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
		if len(msgs) > 0 {
			out["Messages"] = msgs
		}
	case "AmazonSQS.DeleteMessage":
		q.mu.Lock()
		ok := deleteOne(in.ReceiptHandle)
		q.mu.Unlock()
		if !ok {
			q.fail(w, http.StatusBadRequest, "ReceiptHandleIsInvalid", in.ReceiptHandle)
			return
		}
	case "AmazonSQS.DeleteMessageBatch":
		var okIDs, failed []map[string]any
		q.mu.Lock()
		for _, e := range in.Entries {
			if !q.failDeletes.Load() && deleteOne(e.ReceiptHandle) {
				okIDs = append(okIDs, map[string]any{"Id": e.ID})
			} else {
				failed = append(failed, map[string]any{"Id": e.ID, "Code": "ReceiptHandleIsInvalid", "SenderFault": true, "Message": "stale"})
			}
		}
		q.mu.Unlock()
		q.deleteBatches.Add(1) // after the entries: a test may flip failDeletes once it sees this
		out["Successful"], out["Failed"] = okIDs, failed
	default:
		q.fail(w, http.StatusBadRequest, "InvalidAction", op)
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	json.NewEncoder(w).Encode(out)
}

// recordingStore logs each write into events and fails while fail is set.
type recordingStore struct {
	db   *store.DB
	ev   *events
	fail atomic.Bool
}

var errDiskFull = errors.New("disk full")

func (s *recordingStore) Write(ctx context.Context, b *store.Batch) (store.WriteResult, error) {
	if s.fail.Load() {
		s.ev.add("write failed")
		return store.WriteResult{}, errDiskFull
	}
	res, err := s.db.Write(ctx, b)
	if err == nil && (len(b.Events) > 0 || len(b.Quarantined) > 0) {
		s.ev.add(fmt.Sprintf("write events=%d quarantined=%d", len(b.Events), len(b.Quarantined)))
	}
	return res, err
}

func (s *recordingStore) Checkpoint(ctx context.Context, source string) (store.Checkpoint, bool, error) {
	return s.db.Checkpoint(ctx, source)
}

// s3Notification is an S3 event notification of one created object; the
// key is form-encoded as S3 sends it.
func s3Notification(bucket, key string) string {
	b, _ := json.Marshal(map[string]any{"Records": []any{map[string]any{
		"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
		"eventTime": "2026-11-23T12:05:00.000Z", "eventName": "ObjectCreated:Put",
		"s3": map[string]any{"bucket": map[string]any{"name": bucket}, "object": map[string]any{"key": url.QueryEscape(key), "size": 100}},
	}}})
	return string(b)
}

func snsWrapped(inner string) string {
	b, _ := json.Marshal(map[string]string{"Type": "Notification", "MessageId": "sns-1",
		"TopicArn": "arn:aws:sns:us-east-1:111122223333:trail", "Message": inner})
	return string(b)
}

// queueHarness runs a Source in queue mode against gofakes3, the fake
// queue and the real store.
type queueHarness struct {
	f      *fixture
	q      *fakeSQS
	st     *recordingStore
	ev     *events
	src    *s3source.Source
	cancel context.CancelFunc
	done   chan error
}

// startQueue starts Run; before, if set, puts objects for the backfill.
func startQueue(t *testing.T, edit func(*s3source.Config), before func(*fixture)) *queueHarness {
	t.Helper()
	h := &queueHarness{f: newFixture(t), ev: &events{}}
	if before != nil {
		before(h.f)
	}
	h.q = &fakeSQS{ev: h.ev}
	ts := httptest.NewServer(h.q)
	t.Cleanup(ts.Close)
	client := sqs.New(sqs.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(ts.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
	})
	h.st = &recordingStore{db: openStore(t), ev: h.ev}
	cfg := s3source.Config{Bucket: "trail", Decode: decode, Workers: 2, Tail: true,
		Queue: queueURL, QueueClient: client, QueueWait: time.Second,
		Now: func() time.Time { return time.Date(2026, 11, 23, 12, 30, 0, 0, time.UTC) }}
	if edit != nil {
		edit(&cfg)
	}
	src, err := s3source.New(cfg, h.f.client, h.st)
	if err != nil {
		t.Fatal(err)
	}
	h.src = src
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel, h.done = cancel, make(chan error, 1)
	go func() { h.done <- src.Run(ctx) }()
	t.Cleanup(func() { h.stop(t) })
	// The backfill is over once the queue is asked.
	h.waitFor(t, "first receive", func() bool { return h.q.receives.Load() > 0 })
	return h
}

func (h *queueHarness) stop(t *testing.T) {
	t.Helper()
	if h.cancel == nil {
		return
	}
	h.cancel()
	h.cancel = nil
	select {
	case err := <-h.done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if v := h.q.badReq.Load(); v != nil {
		t.Errorf("fake SQS saw a bad request: %v", v)
	}
}

func (h *queueHarness) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; log %q", what, h.ev.snapshot())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestQueueNotifications(t *testing.T) {
	day := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	const acct, region = "111122223333", "us-east-1"
	for _, tc := range []struct {
		name string
		edit func(*s3source.Config)
		// setup puts objects and returns the message bodies by ID.
		setup     func(f *fixture) map[string]string
		wantLog   []string
		wantStats string
		wantQuar  map[string]uint64
	}{
		{
			name: "direct notification",
			setup: func(f *fixture) map[string]string {
				return map[string]string{"m1": s3Notification("trail", f.putLog("", acct, region, day, 3))}
			},
			wantLog:   []string{"write events=3 quarantined=0", "delete m1"},
			wantStats: "messages=1 deleted=1 malformed=0 ignored=0 objects=1 written=3 skipped=0 lag=25m0s",
		},
		{
			name: "SNS-wrapped",
			setup: func(f *fixture) map[string]string {
				return map[string]string{"m1": snsWrapped(s3Notification("trail", f.putLog("o-abc123/", acct, region, day, 2)))}
			},
			wantLog:   []string{"write events=2 quarantined=0", "delete m1"},
			wantStats: "messages=1 deleted=1 malformed=0 ignored=0 objects=1 written=2 skipped=0 lag=25m0s",
		},
		{
			name: "test event",
			setup: func(*fixture) map[string]string {
				return map[string]string{"m1": `{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2026-11-23T12:00:00.000Z","Bucket":"trail","RequestId":"R","HostId":"H"}`}
			},
			wantLog:   []string{"delete m1"},
			wantStats: "messages=1 deleted=1 malformed=0 ignored=1 objects=0 written=0 skipped=0 lag=0s",
		},
		{
			name: "malformed body",
			setup: func(*fixture) map[string]string {
				return map[string]string{"m1": `{"Records":[{"s3":`, "m2": `{"hello":"world"}`}
			},
			wantLog:   []string{"write events=0 quarantined=2", "delete m1", "delete m2"},
			wantStats: "messages=2 deleted=2 malformed=2 ignored=0 objects=0 written=0 skipped=0 lag=0s",
			wantQuar:  map[string]uint64{s3source.ReasonNotification: 2},
		},
		{
			name: "key outside the prefix",
			edit: func(c *s3source.Config) { c.Prefix = "cloudtrail" },
			setup: func(f *fixture) map[string]string {
				return map[string]string{"m1": s3Notification("trail", f.putLog("", acct, region, day, 2))}
			},
			wantLog:   []string{"delete m1"},
			wantStats: "messages=1 deleted=1 malformed=0 ignored=1 objects=0 written=0 skipped=0 lag=0s",
		},
		{
			name: "other account, digest and other bucket",
			edit: func(c *s3source.Config) { c.Accounts = []string{"444455556666"} },
			setup: func(f *fixture) map[string]string {
				digest := "AWSLogs/444455556666/CloudTrail-Digest/us-east-1/2026/11/23/444455556666_CloudTrail-Digest_us-east-1_trail_us-east-1_20261123T1200Z.json.gz"
				f.put(digest, []byte("{}"))
				return map[string]string{
					"m1": s3Notification("trail", f.putLog("", acct, region, day, 2)),
					"m2": s3Notification("trail", digest),
					"m3": s3Notification("other-bucket", f.putLog("", "444455556666", region, day, 2)),
				}
			},
			wantLog:   []string{"delete m1", "delete m2", "delete m3"},
			wantStats: "messages=3 deleted=3 malformed=0 ignored=3 objects=0 written=0 skipped=0 lag=0s",
		},
		{
			name: "two messages, one file twice",
			setup: func(f *fixture) map[string]string {
				k := f.putLog("", acct, region, day, 4)
				return map[string]string{"m1": s3Notification("trail", k), "m2": snsWrapped(s3Notification("trail", k))}
			},
			wantLog:   []string{"write events=4 quarantined=0", "delete m1", "delete m2"},
			wantStats: "messages=2 deleted=2 malformed=0 ignored=0 objects=1 written=4 skipped=0 lag=25m0s",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := startQueue(t, tc.edit, nil)
			bodies := tc.setup(h.f)
			ids := make([]string, 0, len(bodies))
			for id := range bodies {
				ids = append(ids, id)
			}
			slices.Sort(ids)
			for _, id := range ids {
				h.q.send(id, bodies[id])
			}
			h.waitFor(t, "all messages deleted", func() bool { _, left := h.q.state(); return len(left) == 0 })
			h.stop(t)
			if got := h.ev.snapshot(); !slices.Equal(got, tc.wantLog) {
				t.Errorf("log %q, want %q", got, tc.wantLog)
			}
			st := h.src.Stats()
			if got := fmt.Sprintf("messages=%d deleted=%d malformed=%d ignored=%d objects=%d written=%d skipped=%d lag=%v",
				st.Messages, st.Deleted, st.Malformed, st.Ignored, st.Objects, st.Written, st.Skipped, st.Lag); got != tc.wantStats {
				t.Errorf("stats %s, want %s", got, tc.wantStats)
			}
			q, err := h.st.db.QuarantineCounts(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if len(q) != len(tc.wantQuar) {
				t.Errorf("store quarantine %v, want %v", q, tc.wantQuar)
			}
			for k, v := range tc.wantQuar {
				if q[k] != v {
					t.Errorf("store quarantine %v, want %v", q, tc.wantQuar)
				}
			}
		})
	}
}

// A failed store write leaves the message in the queue; once the
// visibility timeout returns it and the store works again, it is
// ingested and only then deleted.
func TestQueueWriteFailureKeepsMessage(t *testing.T) {
	h := startQueue(t, nil, nil)
	evTime := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	key := h.f.putLog("", "111122223333", "us-east-1", evTime, 3)
	h.st.fail.Store(true)
	h.q.send("m1", s3Notification("trail", key))
	h.waitFor(t, "failed write", func() bool { return slices.Contains(h.ev.snapshot(), "write failed") })
	// Another receive round passes without a delete.
	n := h.q.receives.Load()
	h.waitFor(t, "next receive", func() bool { return h.q.receives.Load() > n+1 })
	if deleted, left := h.q.state(); len(deleted) != 0 || !slices.Equal(left, []string{"m1"}) {
		t.Fatalf("after a failed write: deleted %v left %v, want m1 left", deleted, left)
	}
	if seen, err := h.st.db.Seen(context.Background(), "ev-1", evTime); err != nil || seen {
		t.Fatalf("Seen(ev-1)=%v, %v: want not stored", seen, err)
	}

	h.st.fail.Store(false)
	h.q.expire()
	h.waitFor(t, "delete", func() bool { _, left := h.q.state(); return len(left) == 0 })
	h.stop(t)
	if got, want := h.ev.snapshot(), []string{"write failed", "write events=3 quarantined=0", "delete m1"}; !slices.Equal(got, want) {
		t.Errorf("log %q, want %q", got, want)
	}
	if seen, err := h.st.db.Seen(context.Background(), "ev-1", evTime); err != nil || !seen {
		t.Errorf("Seen(ev-1)=%v, %v: want stored", seen, err)
	}
	cp, ok, err := h.st.db.Checkpoint(context.Background(), s3source.CheckpointSource("trail", "", "", "111122223333", "us-east-1"))
	if err != nil || !ok || !strings.Contains(cp.Position, key) {
		t.Errorf("checkpoint %+v ok=%v err=%v, want it at %s", cp, ok, err, key)
	}
}

// A notification of a file the backfill already read is skipped by the
// checkpoint and deleted.
func TestQueueSkipsFileCoveredByCheckpoint(t *testing.T) {
	var key string
	h := startQueue(t, nil, func(f *fixture) {
		key = f.putLog("", "111122223333", "us-east-1", time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC), 2)
	})
	h.q.send("m1", s3Notification("trail", key))
	h.waitFor(t, "delete", func() bool { _, left := h.q.state(); return len(left) == 0 })
	h.stop(t)
	if got, want := h.ev.snapshot(), []string{"write events=2 quarantined=0", "delete m1"}; !slices.Equal(got, want) {
		t.Errorf("log %q, want %q", got, want)
	}
	if st := h.src.Stats(); st.Skipped != 1 || st.Objects != 1 || st.Deleted != 1 {
		t.Errorf("stats skipped=%d objects=%d deleted=%d, want 1 1 1", st.Skipped, st.Objects, st.Deleted)
	}
}

// A message whose delete fails after its write (as after a crash between
// the two) comes back; the checkpoint skips its file and the retry
// deletes it.
func TestQueueRedeliveryAfterFailedDelete(t *testing.T) {
	h := startQueue(t, nil, nil)
	key := h.f.putLog("", "111122223333", "us-east-1", time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC), 3)
	h.q.failDeletes.Store(true)
	h.q.send("m1", s3Notification("trail", key))
	h.waitFor(t, "delete attempt", func() bool { return h.q.deleteBatches.Load() > 0 })
	h.q.failDeletes.Store(false)
	h.q.expire()
	h.waitFor(t, "delete", func() bool { _, left := h.q.state(); return len(left) == 0 })
	h.stop(t)
	if got, want := h.ev.snapshot(), []string{"write events=3 quarantined=0", "delete m1"}; !slices.Equal(got, want) {
		t.Errorf("log %q, want %q", got, want)
	}
	st := h.src.Stats()
	if got, want := fmt.Sprintf("messages=%d deleted=%d objects=%d skipped=%d written=%d", st.Messages, st.Deleted, st.Objects, st.Skipped, st.Written),
		"messages=2 deleted=1 objects=1 skipped=1 written=3"; got != want {
		t.Errorf("stats %s, want %s", got, want)
	}
}
