package trailgen

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"
)

// FileSink receives generated files by their S3 key (slash-separated),
// e.g. a directory (DirSink) or an S3 bucket in tests.
type FileSink interface {
	WriteFile(ctx context.Context, name string, data []byte) error
}

// DirSink writes files under a local directory, creating parents.
type DirSink struct{ Dir string }

// WriteFile writes data to Dir/name.
func (d DirSink) WriteFile(_ context.Context, name string, data []byte) error {
	p := filepath.Join(d.Dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("create directory for %s: %w", name, err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}

// SinkFunc adapts a function to FileSink.
type SinkFunc func(ctx context.Context, name string, data []byte) error

// WriteFile calls f.
func (f SinkFunc) WriteFile(ctx context.Context, name string, data []byte) error {
	return f(ctx, name, data)
}

// LogFileName is a parsed CloudTrail log or digest object key.
type LogFileName struct {
	Account  string
	Region   string
	OrgID    string    // organization trails only
	Time     time.Time // delivery time stamp in the name (minute resolution for logs)
	Digest   bool
	Suffix   string // the 16 random characters of a log file
	Trail    string // digest files only
	Compress bool   // ends in .gz
}

var (
	logKeyRE    = regexp.MustCompile(`^(?:.*/)?AWSLogs/(?:(o-[a-z0-9]+)/)?(\d{12})/CloudTrail/([a-z0-9-]+)/(\d{4})/(\d{2})/(\d{2})/(\d{12})_CloudTrail_([a-z0-9-]+)_(\d{8}T\d{4}Z)_([A-Za-z0-9]{16})\.json(\.gz)?$`)
	digestKeyRE = regexp.MustCompile(`^(?:.*/)?AWSLogs/(?:(o-[a-z0-9]+)/)?(\d{12})/CloudTrail-Digest/([a-z0-9-]+)/(\d{4})/(\d{2})/(\d{2})/(\d{12})_CloudTrail-Digest_([a-z0-9-]+)_(.+)_([a-z0-9-]+)_(\d{8}T\d{6}Z)\.json(\.gz)?$`)
)

// ParseLogFileName parses an S3 key of a CloudTrail log file or digest
// file in the standard delivery layout, checking that the folder and the
// file name agree.
func ParseLogFileName(key string) (LogFileName, error) {
	if m := logKeyRE.FindStringSubmatch(key); m != nil {
		t, err := time.Parse("20060102T1504Z", m[9])
		if err != nil {
			return LogFileName{}, fmt.Errorf("parse log file name %q: time: %w", key, err)
		}
		if m[2] != m[7] || m[3] != m[8] || t.Format("2006/01/02") != m[4]+"/"+m[5]+"/"+m[6] {
			return LogFileName{}, fmt.Errorf("parse log file name %q: folder and name disagree", key)
		}
		return LogFileName{OrgID: m[1], Account: m[2], Region: m[3], Time: t, Suffix: m[10], Compress: m[11] != ""}, nil
	}
	if m := digestKeyRE.FindStringSubmatch(key); m != nil {
		t, err := time.Parse("20060102T150405Z", m[11])
		if err != nil {
			return LogFileName{}, fmt.Errorf("parse digest file name %q: time: %w", key, err)
		}
		if m[2] != m[7] || m[3] != m[8] || m[3] != m[10] || t.Format("2006/01/02") != m[4]+"/"+m[5]+"/"+m[6] {
			return LogFileName{}, fmt.Errorf("parse digest file name %q: folder and name disagree", key)
		}
		return LogFileName{OrgID: m[1], Account: m[2], Region: m[3], Time: t, Digest: true, Trail: m[9], Compress: m[12] != ""}, nil
	}
	return LogFileName{}, fmt.Errorf("parse log file name %q: not a CloudTrail log or digest key", key)
}

// logKey builds the S3 key of a log file; org is "" or "o-…/".
func logKey(org, acct, region string, t time.Time, suffix string) string {
	return fmt.Sprintf("AWSLogs/%s%s/CloudTrail/%s/%s/%s_CloudTrail_%s_%s_%s.json.gz",
		org, acct, region, t.Format("2006/01/02"), acct, region, t.Format("20060102T1504Z"), suffix)
}

func digestKey(org, acct, region, trail string, t time.Time) string {
	return fmt.Sprintf("AWSLogs/%s%s/CloudTrail-Digest/%s/%s/%s_CloudTrail-Digest_%s_%s_%s_%s.json.gz",
		org, acct, region, t.Format("2006/01/02"), acct, region, trail, region, t.Format("20060102T150405Z"))
}

// gzipper compresses deterministically (no name, no mod time), reusing
// one writer: a new compressor per small file dominates the cost otherwise.
type gzipper struct {
	zw *gzip.Writer
}

func (z *gzipper) gzip(data []byte) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(len(data)/6 + 64)
	if z.zw == nil {
		z.zw = gzip.NewWriter(&buf)
	} else {
		z.zw.Reset(&buf)
	}
	zw := z.zw
	if _, err := zw.Write(data); err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	return buf.Bytes(), nil
}

type fileKey struct{ account, region string }

type fileBuf struct {
	window   time.Time
	target   int
	body     bytes.Buffer
	n        int
	min, max time.Time
}

type digestEntry struct {
	key      string
	hash     string
	min, max time.Time
}

// logWriter groups records into log files as CloudTrail delivers them:
// per account and region, per delivery window, several files per window.
type logWriter struct {
	g       *Generator
	sink    FileSink
	r       *rand.Rand
	open    map[fileKey]*fileBuf
	window  time.Time
	files   []FileInfo
	digests map[fileKey][]digestEntry // hour's files, per account/region
	prevDig map[fileKey]string
	bucket  string
	org     string // "" or "o-…/"
	gz      gzipper
}

// WriteLogFiles generates the trail as gzipped CloudTrail log files in the
// S3 delivery layout (AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/
// <account>_CloudTrail_<region>_<YYYYMMDDTHHmmZ>_<16 chars>.json.gz, each
// {"Records":[…]}), plus hourly digest files when Options.Digests is set.
// The manifest lists the files.
func (g *Generator) WriteLogFiles(ctx context.Context, sink FileSink) (*Manifest, error) {
	lw := &logWriter{
		g:       g,
		sink:    sink,
		r:       rand.New(rand.NewPCG(uint64(g.opts.Seed), 0xf11e_0003_0000_0003)),
		open:    map[fileKey]*fileBuf{},
		digests: map[fileKey][]digestEntry{},
		prevDig: map[fileKey]string{},
		bucket:  "aws-cloudtrail-logs-" + g.world.accounts[0],
	}
	if g.opts.OrgID != "" {
		lw.org = g.opts.OrgID + "/"
	}
	m, err := g.Records(ctx, func(rec Record) error { return lw.add(ctx, rec) })
	if err != nil {
		return nil, err
	}
	if err := lw.flushAll(ctx); err != nil {
		return nil, err
	}
	if err := lw.writeDigests(ctx, time.Time{}); err != nil {
		return nil, err
	}
	m.Files = lw.files
	return m, nil
}

func (lw *logWriter) add(ctx context.Context, rec Record) error {
	win := rec.Time.Truncate(lw.g.opts.FileWindow)
	if win.After(lw.window) {
		if err := lw.flushAll(ctx); err != nil {
			return err
		}
		if lw.g.opts.Digests && !lw.window.IsZero() && win.Truncate(time.Hour).After(lw.window.Truncate(time.Hour)) {
			if err := lw.writeDigests(ctx, win.Truncate(time.Hour)); err != nil {
				return err
			}
		}
		lw.window = win
	}
	k := fileKey{rec.Account, rec.Region}
	fb := lw.open[k]
	if fb == nil {
		max := lw.g.opts.RecordsPerFile
		fb = &fileBuf{window: win, target: max/4 + lw.r.IntN(max-max/4) + 1, min: rec.Time}
		fb.body.WriteString(`{"Records":[`)
		lw.open[k] = fb
	} else {
		fb.body.WriteByte(',')
	}
	fb.body.Write(rec.JSON)
	fb.n++
	fb.max = rec.Time
	if fb.n >= fb.target {
		delete(lw.open, k)
		return lw.flush(ctx, k, fb)
	}
	return nil
}

func (lw *logWriter) flushAll(ctx context.Context) error {
	keys := make([]fileKey, 0, len(lw.open))
	for k := range lw.open {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].account != keys[j].account {
			return keys[i].account < keys[j].account
		}
		return keys[i].region < keys[j].region
	})
	for _, k := range keys {
		fb := lw.open[k]
		delete(lw.open, k)
		if err := lw.flush(ctx, k, fb); err != nil {
			return err
		}
	}
	return nil
}

func (lw *logWriter) flush(ctx context.Context, k fileKey, fb *fileBuf) error {
	fb.body.WriteString("]}")
	// Delivered at the end of its window (CloudTrail delivers about every 5 minutes).
	name := logKey(lw.org, k.account, k.region, fb.window.Add(lw.g.opts.FileWindow), randString(lw.r, alnum, 16))
	gz, err := lw.gz.gzip(fb.body.Bytes())
	if err != nil {
		return fmt.Errorf("log file %s: %w", name, err)
	}
	if err := lw.sink.WriteFile(ctx, name, gz); err != nil {
		return fmt.Errorf("write log file %s: %w", name, err)
	}
	lw.files = append(lw.files, FileInfo{Name: name, Records: fb.n})
	if lw.g.opts.Digests {
		sum := sha256.Sum256(fb.body.Bytes())
		lw.digests[k] = append(lw.digests[k], digestEntry{key: name, hash: hex.EncodeToString(sum[:]), min: fb.min, max: fb.max})
	}
	return nil
}

// writeDigests writes one digest file per account/region for the files of
// the hour before end (all pending when end is zero).
func (lw *logWriter) writeDigests(ctx context.Context, end time.Time) error {
	if !lw.g.opts.Digests {
		return nil
	}
	keys := make([]fileKey, 0, len(lw.digests))
	for k := range lw.digests {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].account != keys[j].account {
			return keys[i].account < keys[j].account
		}
		return keys[i].region < keys[j].region
	})
	for _, k := range keys {
		entries := lw.digests[k]
		delete(lw.digests, k)
		if len(entries) == 0 {
			continue
		}
		digEnd := end
		if digEnd.IsZero() {
			digEnd = entries[len(entries)-1].max.Truncate(time.Hour).Add(time.Hour)
		}
		name := digestKey(lw.org, k.account, k.region, lw.g.opts.TrailName, digEnd)
		type logFile struct {
			S3Bucket        string `json:"s3Bucket"`
			S3Object        string `json:"s3Object"`
			HashValue       string `json:"hashValue"`
			HashAlgorithm   string `json:"hashAlgorithm"`
			NewestEventTime string `json:"newestEventTime"`
			OldestEventTime string `json:"oldestEventTime"`
		}
		doc := struct {
			AWSAccountID                string    `json:"awsAccountId"`
			DigestStartTime             string    `json:"digestStartTime"`
			DigestEndTime               string    `json:"digestEndTime"`
			DigestS3Bucket              string    `json:"digestS3Bucket"`
			DigestS3Object              string    `json:"digestS3Object"`
			DigestPublicKeyFingerprint  string    `json:"digestPublicKeyFingerprint"`
			DigestSignatureAlgorithm    string    `json:"digestSignatureAlgorithm"`
			NewestEventTime             string    `json:"newestEventTime"`
			OldestEventTime             string    `json:"oldestEventTime"`
			PreviousDigestS3Bucket      *string   `json:"previousDigestS3Bucket"`
			PreviousDigestS3Object      *string   `json:"previousDigestS3Object"`
			PreviousDigestHashValue     *string   `json:"previousDigestHashValue"`
			PreviousDigestHashAlgorithm *string   `json:"previousDigestHashAlgorithm"`
			LogFiles                    []logFile `json:"logFiles"`
		}{
			AWSAccountID:               k.account,
			DigestStartTime:            digEnd.Add(-time.Hour).Format(timeLayout),
			DigestEndTime:              digEnd.Format(timeLayout),
			DigestS3Bucket:             lw.bucket,
			DigestS3Object:             name,
			DigestPublicKeyFingerprint: randString(lw.r, hexd, 32),
			DigestSignatureAlgorithm:   "SHA256withRSA",
			OldestEventTime:            entries[0].min.Format(timeLayout),
			NewestEventTime:            entries[len(entries)-1].max.Format(timeLayout),
		}
		if prev, ok := lw.prevDig[k]; ok {
			b, alg := lw.bucket, "SHA-256"
			parts := strings.SplitN(prev, "|", 2)
			doc.PreviousDigestS3Bucket, doc.PreviousDigestS3Object = &b, &parts[0]
			doc.PreviousDigestHashValue, doc.PreviousDigestHashAlgorithm = &parts[1], &alg
		}
		for _, e := range entries {
			doc.LogFiles = append(doc.LogFiles, logFile{S3Bucket: lw.bucket, S3Object: e.key, HashValue: e.hash, HashAlgorithm: "SHA-256",
				NewestEventTime: e.max.Format(timeLayout), OldestEventTime: e.min.Format(timeLayout)})
		}
		data, err := json.Marshal(doc)
		if err != nil {
			return fmt.Errorf("digest %s: %w", name, err)
		}
		sum := sha256.Sum256(data)
		lw.prevDig[k] = name + "|" + hex.EncodeToString(sum[:])
		gz, err := lw.gz.gzip(data)
		if err != nil {
			return fmt.Errorf("digest %s: %w", name, err)
		}
		if err := lw.sink.WriteFile(ctx, name, gz); err != nil {
			return fmt.Errorf("write digest %s: %w", name, err)
		}
	}
	return nil
}

// WriteJSONLines generates the trail as JSON lines, one record per line,
// or one EventBridge envelope per line when eventBridge is set.
func (g *Generator) WriteJSONLines(ctx context.Context, w io.Writer, eventBridge bool) (*Manifest, error) {
	bw := bufio.NewWriterSize(w, 256<<10)
	m, err := g.Records(ctx, func(rec Record) error {
		data := rec.JSON
		if eventBridge {
			var err error
			if data, err = EventBridgeEnvelope(rec); err != nil {
				return err
			}
		}
		if _, err := bw.Write(data); err != nil {
			return fmt.Errorf("write: %w", err)
		}
		return bw.WriteByte('\n')
	})
	if err != nil {
		return nil, err
	}
	if err := bw.Flush(); err != nil {
		return nil, fmt.Errorf("write json lines: %w", err)
	}
	return m, nil
}

// EventBridgeEnvelope wraps a record as EventBridge delivers CloudTrail
// events ("detail-type": "AWS API Call via CloudTrail", "detail": record).
// The envelope id is derived from the eventID, so it is deterministic too.
func EventBridgeEnvelope(rec Record) ([]byte, error) {
	detailType := "AWS API Call via CloudTrail"
	switch rec.EventType {
	case "AwsServiceEvent":
		detailType = "AWS Service Event via CloudTrail"
	case "AwsConsoleSignIn":
		detailType = "AWS Console Sign In via CloudTrail"
	}
	svc, _, _ := strings.Cut(rec.EventSource, ".")
	sum := sha256.Sum256([]byte("eventbridge:" + rec.EventID))
	var id [16]byte
	copy(id[:], sum[:16])
	id[6] = id[6]&0x0f | 0x40
	id[8] = id[8]&0x3f | 0x80
	// Built by hand: every envelope field is a plain token (no escaping
	// needed), and re-encoding the record through json.Marshal would
	// validate and copy it again.
	// rec.JSON is embedded as is (Records produces valid objects; a full
	// json.Valid scan would cost more than generating the record).
	if t := bytes.TrimSpace(rec.JSON); len(t) < 2 || t[0] != '{' || t[len(t)-1] != '}' {
		return nil, fmt.Errorf("eventbridge envelope for %s: record is not a JSON object", rec.EventID)
	}
	for _, v := range []string{rec.Account, rec.Region, svc} {
		if strings.ContainsAny(v, "\"\\") || strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 }) {
			return nil, fmt.Errorf("eventbridge envelope for %s: %q needs escaping", rec.EventID, v)
		}
	}
	data := make([]byte, 0, len(rec.JSON)+256)
	data = append(data, `{"version":"0","id":"`...)
	data = append(data, formatUUID(id)...)
	data = append(data, `","detail-type":"`...)
	data = append(data, detailType...)
	data = append(data, `","source":"aws.`...)
	data = append(data, svc...)
	data = append(data, `","account":"`...)
	data = append(data, rec.Account...)
	data = append(data, `","time":"`...)
	data = rec.Time.UTC().AppendFormat(data, timeLayout)
	data = append(data, `","region":"`...)
	data = append(data, rec.Region...)
	data = append(data, `","resources":[],"detail":`...)
	data = append(data, rec.JSON...)
	data = append(data, '}')
	return data, nil
}
