package s3source

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/iamd/iamd/ingest/backoff"
	"github.com/iamd/iamd/store"
)

// Run backfills every stream, then (with Tail) polls, or with Queue
// receives notifications, until ctx is cancelled. A failing poll is
// retried with exponential backoff and jitter; a cancelled context ends
// Run with nil after the batch in flight is written (files are written
// whole, with their checkpoint).
func (s *Source) Run(ctx context.Context) error {
	retry := backoff.New(time.Second, 5*time.Minute, nil)
	for {
		err := s.poll(ctx)
		if ctx.Err() != nil {
			return nil
		}
		wait := s.cfg.PollInterval
		if err != nil {
			if !s.cfg.Tail {
				return err
			}
			wait = retry.Next()
			s.log.Warn("poll failed; retrying", "error", err, "backoff", wait)
		} else {
			s.c.polls.Add(1)
			retry.Reset()
			if !s.cfg.Tail {
				return nil
			}
			if s.cfg.Queue != "" {
				return s.tailQueue(ctx)
			}
		}
		if backoff.Sleep(ctx, wait) != nil {
			return nil
		}
	}
}

// poll catches every stream up once.
func (s *Source) poll(ctx context.Context) error {
	streams, err := s.discover(ctx)
	if err != nil {
		return err
	}
	s.c.streams.Store(int64(len(streams)))
	var errs []error
	for _, st := range streams {
		if err := s.catchUp(ctx, st); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// listDirs returns the sub-folder names under prefix.
func (s *Source) listDirs(ctx context.Context, prefix string) ([]string, error) {
	var out []string
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{
		Bucket: aws.String(s.cfg.Bucket), Prefix: aws.String(prefix), Delimiter: aws.String("/"),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list s3://%s/%s: %w", s.cfg.Bucket, prefix, err)
		}
		for _, cp := range page.CommonPrefixes {
			out = append(out, strings.TrimSuffix(strings.TrimPrefix(aws.ToString(cp.Prefix), prefix), "/"))
		}
	}
	return out, nil
}

// discover returns the streams to read, in a stable order.
func (s *Source) discover(ctx context.Context) ([]stream, error) {
	root := s.cfg.Prefix + "AWSLogs/"
	type acct struct{ org, id string }
	var accts []acct
	switch {
	case len(s.cfg.Accounts) > 0 && len(s.cfg.Regions) > 0:
		var out []stream
		for _, a := range s.cfg.Accounts {
			for _, r := range s.cfg.Regions {
				out = append(out, stream{base: streamBase(s.cfg.Prefix, s.cfg.OrgID, a, r), account: a, region: r})
			}
		}
		return out, nil
	case s.cfg.OrgID != "":
		ids, err := s.listDirs(ctx, root+s.cfg.OrgID+"/")
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			accts = append(accts, acct{s.cfg.OrgID, id})
		}
	default:
		dirs, err := s.listDirs(ctx, root)
		if err != nil {
			return nil, err
		}
		for _, d := range dirs {
			if !strings.HasPrefix(d, "o-") {
				accts = append(accts, acct{"", d})
				continue
			}
			ids, err := s.listDirs(ctx, root+d+"/")
			if err != nil {
				return nil, err
			}
			for _, id := range ids {
				accts = append(accts, acct{d, id})
			}
		}
	}
	var out []stream
	for _, a := range accts {
		if len(s.cfg.Accounts) > 0 && !slices.Contains(s.cfg.Accounts, a.id) {
			continue
		}
		base := root
		if a.org != "" {
			base += a.org + "/"
		}
		base += a.id + "/CloudTrail/"
		regions := s.cfg.Regions
		if len(regions) == 0 {
			var err error
			if regions, err = s.listDirs(ctx, base); err != nil {
				return nil, err
			}
		}
		for _, r := range regions {
			out = append(out, stream{base: base + r + "/", account: a.id, region: r})
		}
	}
	return out, nil
}

// startAfter is where a stream's listing starts.
func (s *Source) startAfter(st stream, pos position) string {
	if pos.Last == "" {
		if s.cfg.Since.IsZero() {
			return ""
		}
		return st.base + s.cfg.Since.UTC().Format("2006/01/02/")
	}
	t, ok := keyTime(pos.Last)
	if !ok {
		return pos.Last
	}
	lb := t.Add(-s.cfg.LookBack)
	return st.base + lb.Format("2006/01/02/") + st.account + "_CloudTrail_" + st.region + "_" + lb.Format("20060102T1504Z")
}

// afterUntil reports whether key lies in a day folder after Until.
func (s *Source) afterUntil(st stream, key string) bool {
	if s.cfg.Until.IsZero() {
		return false
	}
	rest := strings.TrimPrefix(key, st.base)
	return len(rest) >= 10 && rest[:10] > s.cfg.Until.UTC().Format("2006/01/02")
}

// file is one downloaded and decoded object.
type file struct {
	key      string
	modified time.Time
	d        Decoded
	err      error // fatal: the poll stops before this file
}

// catchUp reads one stream from its checkpoint to the newest file.
func (s *Source) catchUp(ctx context.Context, st stream) error {
	src := s.checkpointSource(st)
	cp, _, err := s.store.Checkpoint(ctx, src)
	if err != nil {
		return fmt.Errorf("read checkpoint %s: %w", src, err)
	}
	pos, err := parsePosition(cp.Position)
	if err != nil {
		s.log.Warn("unreadable checkpoint; reading the stream from Since", "source", src, "error", err)
		pos = position{}
	}
	in := &s3.ListObjectsV2Input{Bucket: aws.String(s.cfg.Bucket), Prefix: aws.String(st.base)}
	if sa := s.startAfter(st, pos); sa != "" {
		in.StartAfter = aws.String(sa)
	}
	b := &batcher{s: s, src: src, pos: pos}
	p := s3.NewListObjectsV2Paginator(s.client, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return errors.Join(fmt.Errorf("list %s: %w", src, err), b.flush(ctx))
		}
		var todo []string
		mod := map[string]time.Time{}
		done := false
		for _, o := range page.Contents {
			key := aws.ToString(o.Key)
			switch {
			case s.afterUntil(st, key):
				done = true
			case strings.Contains(key, "CloudTrail-Digest") || !(strings.HasSuffix(key, ".json.gz") || strings.HasSuffix(key, ".json")):
				s.c.digests.Add(1)
			case b.seen(key):
				s.c.skipped.Add(1)
			default:
				todo = append(todo, key)
				mod[key] = aws.ToTime(o.LastModified)
			}
			if done {
				break
			}
		}
		if err := s.readAll(ctx, todo, mod, b); err != nil {
			return errors.Join(err, b.flush(ctx))
		}
		if done {
			break
		}
	}
	return b.flush(ctx)
}

// readAll downloads and decodes keys with Workers goroutines and hands
// the files to b in key order.
func (s *Source) readAll(ctx context.Context, keys []string, mod map[string]time.Time, b *batcher) error {
	for lo := 0; lo < len(keys); lo += s.cfg.Workers {
		if err := ctx.Err(); err != nil {
			return err
		}
		hi := min(lo+s.cfg.Workers, len(keys))
		files := make([]file, hi-lo)
		var wg sync.WaitGroup
		for i := lo; i < hi; i++ {
			wg.Go(func() { files[i-lo] = s.readFile(ctx, keys[i], mod[keys[i]]) })
		}
		wg.Wait()
		for _, f := range files {
			if f.err != nil {
				return f.err
			}
			if err := b.add(ctx, f); err != nil {
				return err
			}
		}
	}
	return nil
}

// readFile downloads and decodes one object. Download failures other
// than a missing object are fatal for this poll (the checkpoint stays
// before the file, so the next poll retries); everything else is
// quarantined.
func (s *Source) readFile(ctx context.Context, key string, modified time.Time) file {
	where := "s3://" + s.cfg.Bucket + "/" + key
	f := file{key: key, modified: modified}
	quarantine := func(reason, detail string) file {
		f.d = Decoded{Records: 1, Quarantined: []store.Quarantined{{Where: where, Reason: reason, Detail: detail, Time: s.cfg.Now()}}}
		return f
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.cfg.Bucket), Key: aws.String(key)})
	if err != nil {
		if isNotFound(err) {
			return quarantine(ReasonRead, fmt.Sprintf("get %s: %v", where, err))
		}
		f.err = fmt.Errorf("get %s: %w", where, err)
		return f
	}
	defer out.Body.Close()
	var buf bytes.Buffer
	n, err := io.Copy(&buf, io.LimitReader(out.Body, s.cfg.MaxObjectBytes+1))
	if err != nil {
		f.err = fmt.Errorf("read %s: %w", where, err)
		return f
	}
	if n > s.cfg.MaxObjectBytes {
		return quarantine(ReasonTooLarge, fmt.Sprintf("%s: larger than %d bytes", where, s.cfg.MaxObjectBytes))
	}
	d, err := s.cfg.Decode(where, buf.Bytes())
	if err != nil {
		return quarantine(ReasonUndecodable, fmt.Sprintf("%s: %v", where, err))
	}
	f.d = d
	return f
}

func isNotFound(err error) bool {
	var nk interface{ ErrorCode() string }
	if errors.As(err, &nk) {
		switch nk.ErrorCode() {
		case "NoSuchKey", "NotFound":
			return true
		}
	}
	return false
}

// batcher accumulates whole files into a store batch for one stream.
type batcher struct {
	s     *Source
	src   string
	pos   position
	batch store.Batch
	files []file
	nrec  int
}

func (b *batcher) seen(key string) bool {
	if key == b.pos.Last {
		return true
	}
	i := sort.SearchStrings(b.pos.Recent, key)
	return i < len(b.pos.Recent) && b.pos.Recent[i] == key
}

func (b *batcher) add(ctx context.Context, f file) error {
	b.files = append(b.files, f)
	b.batch.Events = append(b.batch.Events, f.d.Events...)
	b.batch.Quarantined = append(b.batch.Quarantined, f.d.Quarantined...)
	b.nrec += len(f.d.Events) + len(f.d.Quarantined)
	if b.nrec >= b.s.cfg.BatchMaxRecords {
		return b.flush(ctx)
	}
	return nil
}

// flush writes the files so far with the advanced checkpoint. It uses a
// context that outlives cancellation (bounded), so a shutdown finishes
// the batch in flight.
func (b *batcher) flush(ctx context.Context) error {
	if len(b.files) == 0 {
		return nil
	}
	s := b.s
	next := b.pos
	recent := append([]string(nil), next.Recent...)
	if next.Last != "" {
		recent = append(recent, next.Last)
	}
	for _, f := range b.files {
		recent = append(recent, f.key)
		if f.key > next.Last {
			next.Last = f.key
		}
	}
	// Keep the keys within LookBack of the newest.
	sort.Strings(recent)
	recent = slices.Compact(recent)
	if t, ok := keyTime(next.Last); ok {
		cut := t.Add(-s.cfg.LookBack)
		recent = slices.DeleteFunc(recent, func(k string) bool {
			kt, ok := keyTime(k)
			return k == next.Last || (ok && kt.Before(cut))
		})
	} else {
		recent = slices.DeleteFunc(recent, func(k string) bool { return k == next.Last })
	}
	if len(recent) > s.cfg.MaxRecent {
		recent = recent[len(recent)-s.cfg.MaxRecent:]
	}
	next.Recent = recent
	now := s.cfg.Now()
	b.batch.Checkpoints = []store.Checkpoint{{Source: b.src, Position: next.String(), Updated: now}}

	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	res, err := s.store.Write(wctx, &b.batch)
	if err != nil {
		return fmt.Errorf("store write %s: %w", b.src, err)
	}
	s.c.objects.Add(int64(len(b.files)))
	for _, f := range b.files {
		s.c.records.Add(int64(f.d.Records))
		if len(f.d.Repairs) > 0 {
			// Every record may have been recovered; the file is still
			// not what CloudTrail writes, and someone should know.
			s.c.repaired.Add(1)
			s.log.Warn("log file repaired to read it", "object", "s3://"+s.cfg.Bucket+"/"+f.key, "repairs", f.d.Repairs)
		}
		if len(f.d.Quarantined) > 0 {
			s.c.mu.Lock()
			if s.c.quarantined == nil {
				s.c.quarantined = map[string]int64{}
			}
			for _, q := range f.d.Quarantined {
				s.c.quarantined[q.Reason]++
			}
			s.c.mu.Unlock()
		}
		if ns := f.modified.UnixNano(); !f.modified.IsZero() && ns > s.c.newest.Load() {
			s.c.newest.Store(ns)
		}
	}
	s.c.events.Add(int64(len(b.batch.Events)))
	s.c.written.Add(int64(res.Events))
	s.c.duplicates.Add(int64(res.Duplicates))
	s.c.lastCheckpoint.Store(now.UnixNano())
	b.pos = next
	b.batch = store.Batch{}
	b.files = nil
	b.nrec = 0
	return nil
}
