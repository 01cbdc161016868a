package daemon

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/iamd/iamd/cmd/iamd/internal/scheduler"
	"github.com/iamd/iamd/store"
)

// MetricPrefix starts every metric name the daemon exports.
const MetricPrefix = "iamd_"

// metrics are the daemon's Prometheus metrics. Source counters are read
// from the sources at scrape time (sourceCollector); job runs are
// counted as they end; store sizes are sampled by a loop, since counting
// them walks every key.
type metrics struct {
	reg *prometheus.Registry

	jobRuns     *prometheus.CounterVec
	jobDuration *prometheus.HistogramVec

	storeKeys  *prometheus.GaugeVec
	storeBytes *prometheus.GaugeVec
}

func newMetrics(sources func() []SourceStatus, jobs func() []scheduler.Status, model *Model) *metrics {
	reg := prometheus.NewRegistry()
	prefixed := prometheus.WrapRegistererWithPrefix(MetricPrefix, reg)
	prefixed.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := &metrics{
		reg: reg,
		jobRuns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricPrefix + "job_runs_total", Help: "Scheduled job runs by outcome (ok, error, cancelled, skipped).",
		}, []string{"job", "outcome"}),
		jobDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: MetricPrefix + "job_duration_seconds", Help: "Duration of scheduled job runs by outcome.",
			Buckets: []float64{0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600},
		}, []string{"job", "outcome"}),
		storeKeys: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: MetricPrefix + "store_records", Help: "Records the store holds, by kind (facts, principals, access_keys, quarantined, snapshots, checkpoints).",
		}, []string{"kind"}),
		storeBytes: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: MetricPrefix + "store_size_bytes", Help: "On-disk size of the store, by part (lsm, vlog).",
		}, []string{"part"}),
	}
	reg.MustRegister(m.jobRuns, m.jobDuration, m.storeKeys, m.storeBytes, &sourceCollector{sources: sources},
		&stateCollector{jobs: jobs, model: model})
	return m
}

// observeJob is the scheduler's Observe hook.
func (m *metrics) observeJob(job, outcome string, d time.Duration) {
	m.jobRuns.WithLabelValues(job, outcome).Inc()
	if outcome != scheduler.OutcomeSkipped {
		m.jobDuration.WithLabelValues(job, outcome).Observe(d.Seconds())
	}
}

// sampleStore updates the store gauges now and every interval until ctx
// ends.
func (m *metrics) sampleStore(ctx context.Context, db *store.DB, interval time.Duration, log *slog.Logger) {
	for {
		st, err := db.Stats(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			log.Warn("store stats", "err", err)
		} else {
			for kind, n := range map[string]int64{"facts": st.Facts, "principals": st.Principals, "access_keys": st.Keys,
				"quarantined": st.Quarantined, "snapshots": st.Snapshots, "checkpoints": st.Checkpoints} {
				m.storeKeys.WithLabelValues(kind).Set(float64(n))
			}
			m.storeBytes.WithLabelValues("lsm").Set(float64(st.LSMBytes))
			m.storeBytes.WithLabelValues("vlog").Set(float64(st.VLogBytes))
		}
		if !sleepCtx(ctx, interval) {
			return
		}
	}
}

var (
	descRecords = prometheus.NewDesc(MetricPrefix+"ingest_records_total",
		"CloudTrail records read, by source.", []string{"source", "kind"}, nil)
	descEvents = prometheus.NewDesc(MetricPrefix+"ingest_events_total",
		"Events of principals handed to the store, by source.", []string{"source", "kind"}, nil)
	descWritten = prometheus.NewDesc(MetricPrefix+"ingest_events_written_total",
		"Events the store counted as new, by source.", []string{"source", "kind"}, nil)
	descDuplicates = prometheus.NewDesc(MetricPrefix+"ingest_duplicates_total",
		"Events the store already had (redelivered), by source.", []string{"source", "kind"}, nil)
	descFacts = prometheus.NewDesc(MetricPrefix+"ingest_new_facts_total",
		"Facts new to the store (principal × action × resource not held before), by source (sources that report it).", []string{"source", "kind"}, nil)
	descQuarantined = prometheus.NewDesc(MetricPrefix+"ingest_quarantined_total",
		"Records quarantined, by source and reason.", []string{"source", "kind", "reason"}, nil)
	descRepaired = prometheus.NewDesc(MetricPrefix+"ingest_repaired_total",
		"Files or messages the decoder had to mend to read (records without separating commas, a resync after damage), by source.", []string{"source", "kind"}, nil)
	descUp = prometheus.NewDesc(MetricPrefix+"source_up",
		"1 while the source runs connected, 0 while it starts, backs off or has stopped.", []string{"source", "kind", "state"}, nil)
	descRestarts = prometheus.NewDesc(MetricPrefix+"source_restarts_total",
		"Restarts of a failed source.", []string{"source", "kind"}, nil)
	descKafkaLag = prometheus.NewDesc(MetricPrefix+"kafka_lag_messages",
		"Messages behind the partitions' high-water marks.", []string{"source"}, nil)
	descS3Age = prometheus.NewDesc(MetricPrefix+"s3_newest_object_age_seconds",
		"Age of the newest log object ingested.", []string{"source"}, nil)
	descNextRun = prometheus.NewDesc(MetricPrefix+"job_next_run_timestamp_seconds",
		"When a scheduled job runs next (Unix time).", []string{"job"}, nil)
	descRunning = prometheus.NewDesc(MetricPrefix+"job_running",
		"1 while a scheduled job runs.", []string{"job"}, nil)
	descModel = prometheus.NewDesc(MetricPrefix+"iam_model_loaded",
		"1 when an IAM model is loaded.", nil, nil)
	descModelSaved = prometheus.NewDesc(MetricPrefix+"iam_snapshots_saved_total",
		"IAM snapshots stored because the model changed.", nil, nil)
)

// sourceCollector reads the sources' counters at scrape time.
type sourceCollector struct{ sources func() []SourceStatus }

func (c *sourceCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRecords, descEvents, descWritten, descDuplicates, descFacts, descQuarantined, descRepaired,
		descUp, descRestarts, descKafkaLag, descS3Age} {
		ch <- d
	}
}

func (c *sourceCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.sources() {
		counter := func(d *prometheus.Desc, v int64, labels ...string) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), append([]string{s.Name, s.Kind}, labels...)...)
		}
		counter(descRecords, s.Records)
		counter(descEvents, s.Events)
		counter(descWritten, s.Written)
		counter(descDuplicates, s.Duplicates)
		if s.Kind == "directory" {
			counter(descFacts, s.NewFacts)
		}
		for reason, n := range s.Quarantined {
			counter(descQuarantined, n, reason)
		}
		counter(descRepaired, s.Repaired)
		counter(descRestarts, s.Restarts)
		up := 0.0
		if s.State == StateRunning && s.Connected {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, up, s.Name, s.Kind, s.State)
		if s.KafkaLag != nil {
			ch <- prometheus.MustNewConstMetric(descKafkaLag, prometheus.GaugeValue, float64(*s.KafkaLag), s.Name)
		}
		if s.S3NewestAge != nil {
			ch <- prometheus.MustNewConstMetric(descS3Age, prometheus.GaugeValue, *s.S3NewestAge, s.Name)
		}
	}
}

// stateCollector exports job schedules and the model's state.
type stateCollector struct {
	jobs  func() []scheduler.Status
	model *Model
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descNextRun
	ch <- descRunning
	ch <- descModel
	ch <- descModelSaved
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	for _, j := range c.jobs() {
		if j.NextRun != nil {
			ch <- prometheus.MustNewConstMetric(descNextRun, prometheus.GaugeValue, float64(j.NextRun.Unix()), j.Name)
		}
		running := 0.0
		if j.Running {
			running = 1
		}
		ch <- prometheus.MustNewConstMetric(descRunning, prometheus.GaugeValue, running, j.Name)
	}
	loaded := 0.0
	if c.model.Current() != nil {
		loaded = 1
	}
	ch <- prometheus.MustNewConstMetric(descModel, prometheus.GaugeValue, loaded)
	ch <- prometheus.MustNewConstMetric(descModelSaved, prometheus.CounterValue, float64(c.model.saved.Load()))
}
