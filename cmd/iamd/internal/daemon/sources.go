package daemon

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/segmentio/kafka-go"

	"github.com/iamd/iamd/configs"
	"github.com/iamd/iamd/ingest"
	"github.com/iamd/iamd/ingest/dirsource"
	"github.com/iamd/iamd/ingest/kafkasource"
	"github.com/iamd/iamd/ingest/s3source"
	"github.com/iamd/iamd/store"
)

// Source states.
const (
	StateStarting = "starting" // probing the source before it runs
	StateRunning  = "running"
	StateBackoff  = "backoff" // failed; waiting to restart
	StateFinished = "finished"
	StateStopped  = "stopped"
)

// Restart backoff: exponential from backoffBase to backoffMax with jitter.
const (
	backoffBase = time.Second
	backoffMax  = 5 * time.Minute
)

// counters is what every source reports, whatever its kind; the numbers
// of the instances a restart replaced are carried over, so the metrics
// only grow.
type counters struct {
	Records     int64            `json:"records"`
	Events      int64            `json:"events"`
	Written     int64            `json:"written"`
	Duplicates  int64            `json:"duplicates"`
	NewFacts    int64            `json:"new_facts,omitempty"` // facts new to the store; sources that report it (directory)
	Quarantined map[string]int64 `json:"quarantined"`
	// Repaired are the files or messages the decoder had to mend to read
	// (every record may have been recovered: the input is still damaged).
	Repaired int64 `json:"repaired"`
}

func (c *counters) add(o counters) {
	c.Records += o.Records
	c.Events += o.Events
	c.Written += o.Written
	c.Duplicates += o.Duplicates
	c.NewFacts += o.NewFacts
	c.Repaired += o.Repaired
	for k, v := range o.Quarantined {
		if c.Quarantined == nil {
			c.Quarantined = map[string]int64{}
		}
		c.Quarantined[k] += v
	}
}

// instance is one running source object.
type instance struct {
	run   func(ctx context.Context) error
	stats func() (counters, gauges)
}

// gauges are a source's current values (not summed over restarts).
type gauges struct {
	KafkaLag    *int64   `json:"kafka_lag,omitempty"`
	S3NewestAge *float64 `json:"s3_newest_object_age_seconds,omitempty"`
}

// supervised runs one configured source: probe, run, and on failure
// restart with backoff, reporting its state.
type supervised struct {
	name, kind string
	build      func(ctx context.Context) (instance, error)
	probe      func(ctx context.Context) error
	log        *slog.Logger
	rand       func() float64 // jitter in [0,1)
	// wait sleeps d or until ctx ends (tests shorten it).
	wait func(ctx context.Context, d time.Duration) bool

	mu        sync.Mutex
	state     string
	connected bool
	lastErr   string
	restarts  int64
	since     time.Time
	base      counters
	cur       *instance
}

// SourceStatus is one source in /api/v1/sources.
type SourceStatus struct {
	Name      string    `json:"name"`
	Kind      string    `json:"kind"`
	State     string    `json:"state"`
	Connected bool      `json:"connected"`
	Since     time.Time `json:"since"`
	Restarts  int64     `json:"restarts"`
	LastError string    `json:"last_error,omitempty"`
	counters
	gauges
}

func (s *supervised) status() SourceStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := SourceStatus{Name: s.name, Kind: s.kind, State: s.state, Connected: s.connected, Since: s.since,
		Restarts: s.restarts, LastError: s.lastErr}
	st.counters.add(s.base)
	if s.cur != nil {
		c, g := s.cur.stats()
		st.counters.add(c)
		st.gauges = g
	}
	if st.Quarantined == nil {
		st.Quarantined = map[string]int64{}
	}
	return st
}

func (s *supervised) set(state string, connected bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.state, s.connected, s.since = state, connected, time.Now().UTC()
	if err != nil {
		s.lastErr = err.Error()
	}
}

// retire adds the counters of the instance that ended to the base.
func (s *supervised) retire() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur != nil {
		c, _ := s.cur.stats()
		s.base.add(c)
		s.cur = nil
	}
}

// backoff is the wait before restart number attempt (0-based): doubling
// from backoffBase up to backoffMax, the upper half of it jittered so
// that sources failing together do not retry together.
func backoff(attempt int, rnd float64) time.Duration {
	d := backoffMax
	if attempt < 20 {
		d = min(backoffBase<<attempt, backoffMax)
	}
	return d/2 + time.Duration(rnd*float64(d/2))
}

// supervise runs the source until ctx ends or it finishes. A failure
// (probe or run) is logged and reported, and the source is started again
// after a backoff; the counter of consecutive failures resets once a run
// has lasted longer than the longest backoff.
func (s *supervised) supervise(ctx context.Context) {
	attempt := 0
	for ctx.Err() == nil {
		s.set(StateStarting, false, nil)
		started := time.Now()
		err := s.probe(ctx)
		var inst instance
		if err == nil {
			inst, err = s.build(ctx)
		}
		if err == nil {
			s.mu.Lock()
			s.cur = &inst
			s.mu.Unlock()
			s.set(StateRunning, true, nil)
			err = inst.run(ctx)
			s.retire()
		}
		if ctx.Err() != nil {
			break
		}
		if err == nil {
			s.set(StateFinished, true, nil)
			s.log.Info("source finished")
			return
		}
		if time.Since(started) > backoffMax {
			attempt = 0
		}
		d := backoff(attempt, s.rand())
		attempt++
		s.mu.Lock()
		s.restarts++
		s.mu.Unlock()
		s.set(StateBackoff, false, err)
		s.log.Error("source failed; restarting after backoff", "err", err, "backoff", d.Round(time.Millisecond), "attempt", attempt)
		if !s.wait(ctx, d) {
			break
		}
	}
	s.set(StateStopped, false, nil)
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// AWSClients build the S3 and SQS clients of s3 sources; cmd/iamd passes
// the ones `iamd ingest --from s3://` uses (default credential chain).
type AWSClients struct {
	S3  func(ctx context.Context, region, endpoint string) (s3source.Client, error)
	SQS func(ctx context.Context, queueURL, region string) (s3source.QueueClient, error)
}

// sourceSet builds the supervised sources of a configuration.
type sourceSet struct {
	cfg  configs.Config
	db   *store.DB
	conv *ingest.Converter
	aws  AWSClients
	log  *slog.Logger
}

func (b sourceSet) build() ([]*supervised, error) {
	var out []*supervised
	add := func(name, kind string, probe func(context.Context) error, build func(context.Context) (instance, error)) {
		out = append(out, &supervised{name: name, kind: kind, probe: probe, build: build, state: StateStarting,
			log: b.log.With("source", name), rand: rand.Float64, wait: sleepCtx, since: time.Now().UTC()})
	}
	for i, d := range b.cfg.Sources.Directory {
		d := d
		add(configs.SourceName(d.Name, "directory", i), "directory",
			func(context.Context) error {
				fi, err := os.Stat(d.Path)
				if err == nil && !fi.IsDir() {
					err = fmt.Errorf("%s is not a directory", d.Path)
				}
				return err
			},
			func(context.Context) (instance, error) {
				src, err := dirsource.New(dirsource.Config{Dir: d.Path, Converter: b.conv, Poll: d.Poll.D(), Settle: settle(d.Settle.D()),
					Workers: d.Workers, BatchSize: d.Batch, Logger: b.log.With("source", configs.SourceName(d.Name, "directory", i))}, b.db)
				if err != nil {
					return instance{}, err
				}
				return instance{run: src.Run, stats: func() (counters, gauges) {
					st := src.Stats()
					return counters{Records: st.Records, Events: st.Events, Written: st.Written, Duplicates: st.Duplicates,
						NewFacts: st.NewFacts, Quarantined: st.Quarantined, Repaired: st.Repaired}, gauges{}
				}}, nil
			})
	}
	for i, k := range b.cfg.Sources.Kafka {
		k := k
		name := configs.SourceName(k.Name, "kafka", i)
		kc := kafkasource.Config{
			Topics: k.Topics, GroupID: k.Group, DeadLetterTopic: k.DeadLetterTopic, StartLast: k.Start == "last",
			BatchMaxRecords: k.BatchRecords, BatchMaxWait: k.BatchWait.D(),
			Decode: kafkasource.FromConverter(b.conv), Logger: b.log.With("source", name),
		}
		for _, br := range k.Brokers {
			kc.Brokers = append(kc.Brokers, configs.WithKafkaPort(br))
		}
		if k.TLS {
			kc.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		if k.SASL.Mechanism != "" {
			kc.SASL = kafkasource.SASL{Mechanism: k.SASL.Mechanism, Username: k.SASL.Username, Password: b.cfg.KafkaPassword(k)}
		}
		add(name, "kafka",
			func(ctx context.Context) error { return probeKafka(ctx, kc) },
			func(context.Context) (instance, error) {
				src, err := kafkasource.New(kc, b.db)
				if err != nil {
					return instance{}, err
				}
				return instance{run: src.Run, stats: func() (counters, gauges) {
					st := src.Stats()
					lag := st.Lag
					return counters{Records: st.Records, Events: st.Events, Written: st.Written, Duplicates: st.Duplicates,
						Quarantined: st.Quarantined, Repaired: st.Repaired}, gauges{KafkaLag: &lag}
				}}, nil
			})
	}
	for i, s := range b.cfg.Sources.S3 {
		s := s
		name := configs.SourceName(s.Name, "s3", i)
		since, _ := configs.ParseDay(s.Since)
		until, _ := configs.ParseDay(s.Until)
		if b.aws.S3 == nil {
			return nil, fmt.Errorf("%s: no S3 client factory", name)
		}
		var client s3source.Client
		getClient := func(ctx context.Context) (s3source.Client, error) {
			if client != nil {
				return client, nil
			}
			c, err := b.aws.S3(ctx, s.Region, s.Endpoint)
			if err != nil {
				return nil, err
			}
			client = c
			return c, nil
		}
		add(name, "s3",
			func(ctx context.Context) error {
				c, err := getClient(ctx)
				if err != nil {
					return err
				}
				return probeS3(ctx, c, s.Bucket, s.Prefix)
			},
			func(ctx context.Context) (instance, error) {
				c, err := getClient(ctx)
				if err != nil {
					return instance{}, err
				}
				sc := s3source.Config{Bucket: s.Bucket, Prefix: s.Prefix, OrgID: s.Org, Accounts: s.Accounts, Regions: s.Regions,
					Since: since, Until: until, Tail: s.Tail, PollInterval: s.Poll.D(), Workers: s.Workers, LookBack: s.LookBack.D(),
					Queue: s.SQS, Decode: s3source.FromConverter(b.conv), Logger: b.log.With("source", name)}
				if s.SQS != "" {
					if b.aws.SQS == nil {
						return instance{}, errors.New("no SQS client factory")
					}
					if sc.QueueClient, err = b.aws.SQS(ctx, s.SQS, s.Region); err != nil {
						return instance{}, err
					}
				}
				src, err := s3source.New(sc, c, b.db)
				if err != nil {
					return instance{}, err
				}
				return instance{run: src.Run, stats: func() (counters, gauges) {
					st := src.Stats()
					age := st.Lag.Seconds()
					g := gauges{}
					if st.Objects > 0 {
						g.S3NewestAge = &age
					}
					return counters{Records: st.Records, Events: st.Events, Written: st.Written, Duplicates: st.Duplicates,
						Quarantined: st.Quarantined, Repaired: st.Repaired}, g
				}}, nil
			})
	}
	return out, nil
}

// settle maps the config's 0 (no settling) to dirsource's "none".
func settle(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

// probeKafka dials a seed broker and reads the topics' partitions: the
// brokers are reachable and the topics exist.
func probeKafka(ctx context.Context, c kafkasource.Config) error {
	mech, err := c.SASLMechanism()
	if err != nil {
		return err
	}
	d := &kafka.Dialer{Timeout: 10 * time.Second, DualStack: true, TLS: c.TLS, SASLMechanism: mech}
	var errs []error
	for _, b := range c.Brokers {
		conn, err := d.DialContext(ctx, "tcp", b)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		_, err = conn.ReadPartitions(c.Topics...)
		conn.Close()
		if err != nil {
			return fmt.Errorf("kafka topics %v: %w", c.Topics, err)
		}
		return nil
	}
	return fmt.Errorf("no kafka broker reachable: %w", errors.Join(errs...))
}

// probeS3 lists one key of the trail's prefix: the bucket exists and the
// credentials may list it (the s3:ListBucket the source needs anyway).
func probeS3(ctx context.Context, c s3source.Client, bucket, prefix string) error {
	_, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix), MaxKeys: aws.Int32(1)})
	if err != nil {
		return fmt.Errorf("list s3://%s/%s: %w", bucket, prefix, err)
	}
	return nil
}
