package trailgen

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/klauspost/compress/gzip"
)

// ReplicateResult counts what Replicate wrote.
type ReplicateResult struct {
	Files   int   // log files written
	Records int   // records written (source records × times)
	Bytes   int64 // gzipped bytes written
}

var (
	eventIDRE = regexp.MustCompile(`"eventID"\s*:\s*"[^"]*"`)
	baseRE    = regexp.MustCompile(`^(\d{12}_CloudTrail_[a-z0-9-]+_\d{8}T\d{4}Z)_[A-Za-z0-9]{16}\.json(\.gz)?$`)
)

// Replicate copies real CloudTrail log files (`{"Records":[…]}`, plain or
// gzipped) times times into dstDir, gzipped, giving every record of every
// copy a new eventID (a UUID v4 derived from copy number, file, record
// index and the original eventID, so reruns give the same bytes). The
// records are otherwise byte for byte as read. Names keep the CloudTrail
// form <account>_CloudTrail_<region>_<time>_<16 chars>.json.gz with a
// derived suffix when the source has it, else copy<N>-<base>.json.gz.
// It is for benchmarks: a few real files become a large, realistic,
// deduplication-proof input.
func Replicate(ctx context.Context, srcFiles []string, times int, dstDir string) (ReplicateResult, error) {
	var res ReplicateResult
	if times < 1 {
		return res, fmt.Errorf("replicate: times %d, need at least 1", times)
	}
	if err := os.MkdirAll(dstDir, 0o755); err != nil {
		return res, fmt.Errorf("replicate: create %s: %w", dstDir, err)
	}
	type source struct {
		name    string
		records []json.RawMessage
	}
	srcs := make([]source, 0, len(srcFiles))
	for _, path := range srcFiles {
		recs, err := readLogFile(path)
		if err != nil {
			return res, fmt.Errorf("replicate: %w", err)
		}
		srcs = append(srcs, source{name: filepath.Base(path), records: recs})
	}
	var z gzipper
	var body bytes.Buffer
	for k := range times {
		for fi, src := range srcs {
			if err := ctx.Err(); err != nil {
				return res, fmt.Errorf("replicate: copy %d: %w", k, err)
			}
			body.Reset()
			body.WriteString(`{"Records":[`)
			for ri, rec := range src.records {
				if ri > 0 {
					body.WriteByte(',')
				}
				id := replicaID(k, fi, ri, rec)
				if loc := eventIDRE.FindIndex(rec); loc != nil {
					body.Write(rec[:loc[0]])
					body.WriteString(`"eventID":"` + id + `"`)
					body.Write(rec[loc[1]:])
				} else {
					// No eventID: add one after the opening brace.
					i := bytes.IndexByte(rec, '{')
					body.Write(rec[:i+1])
					body.WriteString(`"eventID":"` + id + `"`)
					if rest := bytes.TrimSpace(rec[i+1:]); len(rest) > 0 && rest[0] != '}' {
						body.WriteByte(',')
					}
					body.Write(rec[i+1:])
				}
			}
			body.WriteString("]}")
			gz, err := z.gzip(body.Bytes())
			if err != nil {
				return res, fmt.Errorf("replicate: %s copy %d: %w", src.name, k, err)
			}
			name := replicaName(src.name, k, fi)
			if err := os.WriteFile(filepath.Join(dstDir, name), gz, 0o644); err != nil {
				return res, fmt.Errorf("replicate: write %s: %w", name, err)
			}
			res.Files++
			res.Records += len(src.records)
			res.Bytes += int64(len(gz))
		}
	}
	return res, nil
}

// readLogFile reads the records of one CloudTrail log file.
func readLogFile(path string) ([]json.RawMessage, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		zr, err := gzip.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("read %s: gzip: %w", path, err)
		}
		defer zr.Close()
		r = zr
	}
	var doc struct {
		Records []json.RawMessage `json:"Records"`
	}
	if err := json.NewDecoder(r).Decode(&doc); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	for i, rec := range doc.Records {
		if t := bytes.TrimSpace(rec); len(t) == 0 || t[0] != '{' {
			return nil, fmt.Errorf("read %s: record %d is not an object", path, i)
		}
	}
	return doc.Records, nil
}

func replicaID(copyN, file, rec int, raw []byte) string {
	h := sha256.New()
	fmt.Fprintf(h, "replica %d %d %d ", copyN, file, rec)
	if loc := eventIDRE.FindIndex(raw); loc != nil {
		h.Write(raw[loc[0]:loc[1]])
	}
	var b [16]byte
	copy(b[:], h.Sum(nil))
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return formatUUID(b)
}

func replicaName(base string, copyN, file int) string {
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s %d %d", base, copyN, file)))
	var suffix [16]byte
	for i := range suffix {
		suffix[i] = alnum[int(sum[i])%len(alnum)]
	}
	if m := baseRE.FindStringSubmatch(base); m != nil {
		return m[1] + "_" + string(suffix[:]) + ".json.gz"
	}
	base = strings.TrimSuffix(strings.TrimSuffix(base, ".gz"), ".json")
	return fmt.Sprintf("copy%04d-%s-%s.json.gz", copyN, base, suffix[:6])
}
