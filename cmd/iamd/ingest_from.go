package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/spf13/cobra"

	"github.com/iamd/iamd/ingest/kafkasource"
	"github.com/iamd/iamd/ingest/s3source"
)

// kafkaPasswordEnv holds the SASL password: never in the URL, where it
// would reach shell history and process listings.
const kafkaPasswordEnv = "IAMD_KAFKA_PASSWORD"

// fromURLHelp documents the --from URL forms.
const fromURLHelp = `Streaming sources (--from URL):

  kafka://BROKER[,BROKER…]/TOPIC[,TOPIC…][?OPTIONS]
    group=ID          consumer group (default iamd)
    dlq=TOPIC         dead-letter topic for undecodable messages (default: quarantine)
    start=first|last  where a new group starts (default first)
    tls=true          TLS to the brokers
    sasl=plain|scram-sha-256|scram-sha-512, user=NAME   password from $IAMD_KAFKA_PASSWORD
    batch=N           records per store write (default 2000)
    wait=DURATION     longest a batch waits before it is written (default 1s)
  Runs until interrupted (SIGINT/SIGTERM finish the batch in flight and commit).

  s3://BUCKET[/PREFIX][?OPTIONS]
    accounts=ID,…     accounts to read (default: all found under AWSLogs/)
    regions=R,…       regions to read (default: all found)
    org=o-…           organization trail folder (default: discovered)
    since=YYYY-MM-DD  first day to backfill for a new stream (default: everything)
    until=YYYY-MM-DD  last day; with it the run ends after the backfill
    tail=false        end after the backfill (default true unless until is set)
    poll=DURATION     time between polls when tailing (default 1m)
    workers=N         files downloaded and decoded at once (default 4)
    lookback=DURATION re-listed window for late-delivered files (default 1h)
    region=R          the bucket's region (default: from the AWS config)
    endpoint=URL      S3 endpoint (S3-compatible stores); implies path-style
    sqs=QUEUE_URL     after the backfill, tail by receiving the bucket's S3 event
                      notifications (direct or via SNS) from this SQS queue
                      instead of polling; the queue's region comes from its URL
  Credentials come from the standard AWS chain (env, profile, instance role).
`

// fromSource is a parsed --from URL, ready to run.
type fromSource struct {
	kafka *kafkasource.Config
	s3    *s3source.Config
	// s3 client settings
	region, endpoint string
}

// parseFromURL parses a --from URL. Decode, Logger and clients are set
// by the caller.
func parseFromURL(raw string) (fromSource, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error repeats the whole URL, credentials included: keep
		// only the reason.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fromSource{}, fmt.Errorf("--from: not a URL: %w", err)
	}
	q := u.Query()
	var errs []string
	bad := func(format string, a ...any) { errs = append(errs, fmt.Sprintf(format, a...)) }
	dur := func(name string, p *time.Duration) {
		if v := q.Get(name); v != "" {
			d, err := parseDuration(v)
			if err != nil || d <= 0 {
				bad("%s=%q: want a positive duration like 30s or 1d", name, v)
			}
			*p = d
		}
	}
	num := func(name string, p *int) {
		if v := q.Get(name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 {
				bad("%s=%q: want a positive number", name, v)
			}
			*p = n
		}
	}
	day := func(name string, p *time.Time) {
		if v := q.Get(name); v != "" {
			t, err := time.Parse("2006-01-02", v)
			if err != nil {
				bad("%s=%q: want YYYY-MM-DD", name, v)
			}
			*p = t
		}
	}
	list := func(s string) []string {
		var out []string
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
		return out
	}
	known := map[string]bool{}
	var fs fromSource
	switch u.Scheme {
	case "kafka":
		for _, k := range []string{"group", "dlq", "start", "tls", "sasl", "user", "batch", "wait"} {
			known[k] = true
		}
		c := &kafkasource.Config{Brokers: list(u.Host), Topics: list(strings.Trim(u.Path, "/")), GroupID: q.Get("group"), DeadLetterTopic: q.Get("dlq")}
		if len(c.Brokers) == 0 {
			bad("no broker")
		}
		for i, b := range c.Brokers {
			if !strings.Contains(b, ":") {
				c.Brokers[i] = b + ":9092"
			}
		}
		if len(c.Topics) == 0 {
			bad("no topic (kafka://BROKER/TOPIC)")
		}
		switch q.Get("start") {
		case "", "first":
		case "last":
			c.StartLast = true
		default:
			bad("start=%q: want first or last", q.Get("start"))
		}
		if v := q.Get("tls"); v != "" {
			on, err := strconv.ParseBool(v)
			if err != nil {
				bad("tls=%q: want true or false", v)
			}
			if on {
				c.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
			}
		}
		if m := q.Get("sasl"); m != "" {
			c.SASL = kafkasource.SASL{Mechanism: m, Username: q.Get("user"), Password: os.Getenv(kafkaPasswordEnv)}
		}
		num("batch", &c.BatchMaxRecords)
		dur("wait", &c.BatchMaxWait)
		fs.kafka = c
	case "s3":
		for _, k := range []string{"accounts", "regions", "org", "since", "until", "tail", "poll", "workers", "lookback", "region", "endpoint", "sqs"} {
			known[k] = true
		}
		c := &s3source.Config{Bucket: u.Host, Prefix: strings.TrimPrefix(u.Path, "/"), OrgID: q.Get("org"),
			Accounts: list(q.Get("accounts")), Regions: list(q.Get("regions")), Tail: true}
		if c.Bucket == "" {
			bad("no bucket (s3://BUCKET/PREFIX)")
		}
		day("since", &c.Since)
		day("until", &c.Until)
		if !c.Until.IsZero() {
			c.Tail = false
		}
		if v := q.Get("tail"); v != "" {
			on, err := strconv.ParseBool(v)
			if err != nil {
				bad("tail=%q: want true or false", v)
			}
			c.Tail = on
		}
		dur("poll", &c.PollInterval)
		dur("lookback", &c.LookBack)
		num("workers", &c.Workers)
		if v := q.Get("sqs"); v != "" {
			qu, err := url.Parse(v)
			switch {
			case err != nil || (qu.Scheme != "https" && qu.Scheme != "http") || qu.Host == "" || strings.Trim(qu.Path, "/") == "":
				bad("sqs=%q: want the queue URL (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME)", v)
			case !c.Tail:
				bad("sqs= needs tailing (no until=, tail=false)")
			}
			c.Queue = v
		}
		fs.region, fs.endpoint = q.Get("region"), q.Get("endpoint")
		fs.s3 = c
	default:
		return fromSource{}, fmt.Errorf("--from %q: scheme %q: want kafka:// or s3://", u.Redacted(), u.Scheme)
	}
	for k := range q {
		if !known[k] {
			bad("unknown option %q", k)
		}
	}
	if len(errs) > 0 {
		return fromSource{}, fmt.Errorf("--from %q: %s", u.Redacted(), strings.Join(errs, "; "))
	}
	return fs, nil
}

// runIngestFrom runs a streaming source until it ends (an S3 backfill) or
// the command's context is cancelled, then prints what it did.
func runIngestFrom(cmd *cobra.Command, o ingestOptions) error {
	if err := checkFormat(o.format); err != nil {
		return err
	}
	if o.from == "help" {
		_, err := io.WriteString(cmd.OutOrStdout(), fromURLHelp)
		return err
	}
	fs, err := parseFromURL(o.from)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	conv, db, err := openIngest(o.store, o.keepRaw)
	if err != nil {
		return err
	}
	defer db.Close()
	logger := newStreamLogger(cmd.ErrOrStderr())

	var (
		run   func(context.Context) error
		stats func() any
	)
	switch {
	case fs.kafka != nil:
		fs.kafka.Decode, fs.kafka.Logger = kafkasource.FromConverter(conv), logger
		src, err := kafkasource.New(*fs.kafka, db)
		if err != nil {
			return err
		}
		run, stats = src.Run, func() any { return src.Stats() }
	default:
		client, err := newS3Client(ctx, fs.region, fs.endpoint)
		if err != nil {
			return err
		}
		fs.s3.Decode, fs.s3.Logger = s3source.FromConverter(conv), logger
		if fs.s3.Queue != "" {
			if fs.s3.QueueClient, err = newSQSClient(ctx, fs.s3.Queue, fs.region); err != nil {
				return err
			}
		}
		src, err := s3source.New(*fs.s3, client, db)
		if err != nil {
			return err
		}
		run, stats = src.Run, func() any { return src.Stats() }
	}
	runErr := run(ctx)
	if err := writeStreamStats(cmd.OutOrStdout(), o.format, stats()); err != nil {
		return err
	}
	return runErr
}

// loadAWSConfig loads the default credential chain and profile, with the
// region given (or the profile's, else us-east-1).
func loadAWSConfig(ctx context.Context, region string) (aws.Config, error) {
	var opts []func(*config.LoadOptions) error
	if region != "" {
		opts = append(opts, config.WithRegion(region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("aws config: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	return cfg, nil
}

func newS3Client(ctx context.Context, region, endpoint string) (*s3.Client, error) {
	cfg, err := loadAWSConfig(ctx, region)
	if err != nil {
		return nil, err
	}
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
			o.UsePathStyle = true
			o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
			o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
		}
	}), nil
}

// sqsQueueEndpoint returns the region and, for a queue not on AWS
// (ElasticMQ, LocalStack), the endpoint of an SQS queue URL. AWS queue
// URLs name their region: https://sqs.REGION.amazonaws.com/ACCOUNT/NAME.
func sqsQueueEndpoint(queueURL string) (region, endpoint string, err error) {
	u, err := url.Parse(queueURL)
	if err != nil {
		return "", "", fmt.Errorf("sqs queue URL: %w", err)
	}
	host := u.Hostname()
	if rest, ok := strings.CutPrefix(host, "sqs."); ok {
		if r, _, ok := strings.Cut(rest, ".amazonaws.com"); ok && r != "" {
			return r, "", nil
		}
	}
	if strings.HasSuffix(host, ".amazonaws.com") || strings.HasSuffix(host, ".amazonaws.com.cn") {
		return "", "", nil
	}
	return "", u.Scheme + "://" + u.Host, nil
}

func newSQSClient(ctx context.Context, queueURL, region string) (*sqs.Client, error) {
	qRegion, endpoint, err := sqsQueueEndpoint(queueURL)
	if err != nil {
		return nil, err
	}
	if qRegion != "" {
		region = qRegion
	}
	cfg, err := loadAWSConfig(ctx, region)
	if err != nil {
		return nil, err
	}
	return sqs.NewFromConfig(cfg, func(o *sqs.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
	}), nil
}

// writeStreamStats prints a source's Stats as JSON, or as a table of its
// fields.
func writeStreamStats(w io.Writer, format string, stats any) error {
	b, err := json.Marshal(stats)
	if err != nil {
		return err
	}
	if format == "json" {
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, k := range sortedAnyKeys(m) {
		fmt.Fprintf(tw, "%s\t%v\n", k, m[k])
	}
	return tw.Flush()
}

func sortedAnyKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// newStreamLogger logs warnings and errors of a long-running source.
func newStreamLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}
