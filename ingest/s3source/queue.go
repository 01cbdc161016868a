package s3source

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/iamd/iamd/ingest/backoff"
	"github.com/iamd/iamd/store"
)

// Defaults of the queue mode.
const (
	DefaultQueueWait     = 20 * time.Second // SQS long-polling maximum
	DefaultQueueMessages = 10               // SQS ReceiveMessage maximum
)

// ReasonNotification quarantines an SQS message that is not an S3 event
// notification the source can read.
const ReasonNotification = "bad-notification"

// QueueClient is the part of the SQS API the queue mode uses; *sqs.Client
// has it.
type QueueClient interface {
	ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, opts ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	DeleteMessageBatch(ctx context.Context, in *sqs.DeleteMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error)
}

// notification is an S3 event notification; SNS-wrapped ones carry it
// JSON-encoded in Message.
type notification struct {
	Type    string `json:"Type"`    // "Notification" when wrapped by SNS
	Message string `json:"Message"` // the S3 notification, SNS only
	Event   string `json:"Event"`   // "s3:TestEvent"
	Records []struct {
		EventSource string `json:"eventSource"`
		EventName   string `json:"eventName"`
		EventTime   string `json:"eventTime"`
		S3          struct {
			Bucket struct {
				Name string `json:"name"`
			} `json:"bucket"`
			Object struct {
				Key string `json:"key"`
			} `json:"object"`
		} `json:"s3"`
	} `json:"Records"`
}

// created is one object named by a notification: its key (decoded) and
// the time S3 reported its creation.
type created struct {
	key string
	at  time.Time
}

// parseNotification returns the objects of the ObjectCreated records
// for bucket in body; test=true for an s3:TestEvent. Records of other
// buckets and other event types are dropped.
func parseNotification(body, bucket string) (objs []created, test bool, err error) {
	var n notification
	if err := json.Unmarshal([]byte(body), &n); err != nil {
		return nil, false, fmt.Errorf("message body: %w", err)
	}
	if n.Type == "Notification" {
		if n.Message == "" {
			return nil, false, errors.New("SNS notification without Message")
		}
		inner := n.Message
		n = notification{}
		if err := json.Unmarshal([]byte(inner), &n); err != nil {
			return nil, false, fmt.Errorf("SNS Message: %w", err)
		}
	}
	if n.Event == "s3:TestEvent" {
		return nil, true, nil
	}
	if n.Records == nil {
		return nil, false, errors.New("no Records and not an s3:TestEvent")
	}
	for i, r := range n.Records {
		if r.EventSource != "" && r.EventSource != "aws:s3" {
			return nil, false, fmt.Errorf("Records[%d].eventSource %q: want aws:s3", i, r.EventSource)
		}
		if r.S3.Object.Key == "" {
			return nil, false, fmt.Errorf("Records[%d].s3.object.key: missing", i)
		}
		if !strings.HasPrefix(r.EventName, "ObjectCreated:") || r.S3.Bucket.Name != bucket {
			continue
		}
		// S3 notifications carry the key form-encoded ("+" for a space).
		k, err := url.QueryUnescape(r.S3.Object.Key)
		if err != nil {
			return nil, false, fmt.Errorf("Records[%d].s3.object.key: %w", i, err)
		}
		at, _ := time.Parse(time.RFC3339Nano, r.EventTime) // only for Lag: zero if absent or odd
		objs = append(objs, created{key: k, at: at})
	}
	return objs, false, nil
}

// streamOf returns the stream a log file key belongs to, ok=false for
// keys outside Prefix, the configured org, accounts and regions, and
// for digest and non-log files.
func (s *Source) streamOf(key string) (stream, bool) {
	root := s.cfg.Prefix + "AWSLogs/"
	rest, ok := strings.CutPrefix(key, root)
	if !ok || !(strings.HasSuffix(key, ".json.gz") || strings.HasSuffix(key, ".json")) {
		return stream{}, false
	}
	parts := strings.Split(rest, "/")
	org := ""
	if len(parts) > 0 && strings.HasPrefix(parts[0], "o-") {
		org, parts = parts[0], parts[1:]
	}
	// <account>/CloudTrail/<region>/YYYY/MM/DD/<name>
	if len(parts) != 7 || parts[1] != "CloudTrail" {
		return stream{}, false
	}
	account, region := parts[0], parts[2]
	switch {
	case s.cfg.OrgID != "" && org != s.cfg.OrgID,
		len(s.cfg.Accounts) > 0 && !slices.Contains(s.cfg.Accounts, account),
		len(s.cfg.Regions) > 0 && !slices.Contains(s.cfg.Regions, region):
		return stream{}, false
	}
	return stream{base: streamBase(s.cfg.Prefix, org, account, region), account: account, region: region}, true
}

// tailQueue receives S3 event notifications until ctx is cancelled.
// Receive failures are retried with exponential backoff and jitter.
func (s *Source) tailQueue(ctx context.Context) error {
	retry := backoff.New(time.Second, 5*time.Minute, nil)
	for {
		err := s.receiveOnce(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err == nil {
			retry.Reset()
			continue
		}
		wait := retry.Next()
		s.log.Warn("queue receive failed; retrying", "queue", s.cfg.Queue, "error", err, "backoff", wait)
		if backoff.Sleep(ctx, wait) != nil {
			return nil
		}
	}
}

// pending is one received message and what its deletion waits for.
type pending struct {
	msg     sqstypes.Message
	streams []string // checkpoint sources whose write must succeed
	failed  bool     // a file could not be read: leave the message
}

// receiveOnce receives one batch of messages, ingests the files they
// name stream by stream (facts and checkpoint in one store write per
// stream), then deletes the messages whose files are all written.
// Messages whose write failed stay in the queue and are delivered again
// after the visibility timeout; the store's dedup absorbs repeats.
func (s *Source) receiveOnce(ctx context.Context) error {
	out, err := s.cfg.QueueClient.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl:            aws.String(s.cfg.Queue),
		MaxNumberOfMessages: int32(s.cfg.QueueMessages),
		WaitTimeSeconds:     int32(s.cfg.QueueWait / time.Second),
	})
	if err != nil {
		return fmt.Errorf("receive from %s: %w", s.cfg.Queue, err)
	}
	if len(out.Messages) == 0 {
		return nil
	}
	s.c.messages.Add(int64(len(out.Messages)))

	var (
		msgs       []*pending
		keysOf     = map[string][]string{} // checkpoint source → keys
		malformed  store.Batch
		ownerOfKey = map[string][]*pending{}
		createdAt  = map[string]time.Time{} // key → notified creation time, for Lag
	)
	for _, m := range out.Messages {
		p := &pending{msg: m}
		msgs = append(msgs, p)
		id := aws.ToString(m.MessageId)
		objs, test, err := parseNotification(aws.ToString(m.Body), s.cfg.Bucket)
		switch {
		case err != nil:
			// The body is not logged: it is not ours to print. The error
			// names the field; the message ID lets an operator find it.
			s.c.malformed.Add(1)
			s.log.Warn("malformed queue message; quarantined and deleted", "queue", s.cfg.Queue, "message_id", id, "error", err)
			malformed.Quarantined = append(malformed.Quarantined, store.Quarantined{
				Where: "sqs:" + s.cfg.Queue + "#" + id, Reason: ReasonNotification, Detail: err.Error(), Time: s.cfg.Now()})
			p.streams = append(p.streams, "")
			continue
		case test:
			s.c.ignored.Add(1)
			continue
		}
		inScope := false
		for _, o := range objs {
			k := o.key
			st, ok := s.streamOf(k)
			if !ok {
				continue
			}
			inScope = true
			src := s.checkpointSource(st)
			if len(ownerOfKey[k]) == 0 {
				keysOf[src] = append(keysOf[src], k)
			}
			ownerOfKey[k] = append(ownerOfKey[k], p)
			if o.at.After(createdAt[k]) {
				createdAt[k] = o.at
			}
			if !slices.Contains(p.streams, src) {
				p.streams = append(p.streams, src)
			}
		}
		if !inScope {
			s.c.ignored.Add(1)
		}
	}

	written := map[string]bool{}
	var errs []error
	if len(malformed.Quarantined) > 0 {
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		_, err := s.store.Write(wctx, &malformed)
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("store write quarantined messages: %w", err))
		} else {
			s.countQuarantined(malformed.Quarantined)
			written[""] = true
		}
	}
	srcs := make([]string, 0, len(keysOf))
	for src := range keysOf {
		srcs = append(srcs, src)
	}
	slices.Sort(srcs)
	for _, src := range srcs {
		failed, err := s.ingestKeys(ctx, src, keysOf[src], createdAt)
		for _, k := range failed {
			for _, p := range ownerOfKey[k] {
				p.failed = true
			}
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		written[src] = true
	}

	var del []sqstypes.DeleteMessageBatchRequestEntry
	for i, p := range msgs {
		ok := !p.failed
		for _, src := range p.streams {
			ok = ok && written[src]
		}
		if ok {
			del = append(del, sqstypes.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: p.msg.ReceiptHandle})
		}
	}
	if len(del) > 0 {
		// Deleting must not be cut short by shutdown: the facts are
		// written, and an undeleted message only costs a re-read.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		res, err := s.cfg.QueueClient.DeleteMessageBatch(dctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(s.cfg.Queue), Entries: del})
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("delete from %s: %w", s.cfg.Queue, err))
		} else {
			s.c.deleted.Add(int64(len(res.Successful)))
			for _, f := range res.Failed {
				s.log.Warn("queue message not deleted; it will be read again", "queue", s.cfg.Queue,
					"entry", aws.ToString(f.Id), "code", aws.ToString(f.Code), "error", aws.ToString(f.Message))
			}
		}
	}
	return errors.Join(errs...)
}

// ingestKeys reads the files of one stream named by notifications and
// writes them with the advanced checkpoint. Keys the checkpoint already
// covers are skipped. failed are keys that could not be downloaded
// (their messages stay in the queue).
func (s *Source) ingestKeys(ctx context.Context, src string, keys []string, createdAt map[string]time.Time) (failed []string, err error) {
	cp, _, err := s.store.Checkpoint(ctx, src)
	if err != nil {
		return keys, fmt.Errorf("read checkpoint %s: %w", src, err)
	}
	pos, err := parsePosition(cp.Position)
	if err != nil {
		s.log.Warn("unreadable checkpoint; starting it afresh", "source", src, "error", err)
		pos = position{}
	}
	slices.Sort(keys)
	keys = slices.Compact(keys)
	b := &batcher{s: s, src: src, pos: pos}
	var todo []string
	for _, k := range keys {
		if b.seen(k) {
			s.c.skipped.Add(1)
			continue
		}
		todo = append(todo, k)
	}
	for lo := 0; lo < len(todo); lo += s.cfg.Workers {
		hi := min(lo+s.cfg.Workers, len(todo))
		files := make([]file, hi-lo)
		var wg sync.WaitGroup
		for i := lo; i < hi; i++ {
			wg.Go(func() { files[i-lo] = s.readFile(ctx, todo[i], createdAt[todo[i]]) })
		}
		wg.Wait()
		for _, f := range files {
			if f.err != nil {
				s.log.Warn("object not read; its message stays in the queue", "source", src, "error", f.err)
				failed = append(failed, f.key)
				continue
			}
			if err := b.add(ctx, f); err != nil {
				return keys, err
			}
		}
	}
	if err := b.flush(ctx); err != nil {
		return keys, err
	}
	return failed, nil
}

func (s *Source) countQuarantined(qs []store.Quarantined) {
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	if s.c.quarantined == nil {
		s.c.quarantined = map[string]int64{}
	}
	for _, q := range qs {
		s.c.quarantined[q.Reason]++
	}
}
