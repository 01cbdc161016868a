// Package configs holds iamd's configuration: the types of the YAML file
// `iamd run` reads, their defaults (Default), strict parsing (Parse:
// unknown keys are errors), environment overrides (ApplyEnv) and
// validation that reports every problem at once with its key path
// (Validate). The commented example, iamd.example.yaml, is embedded
// (Example), and so are the IAM policies the daemon needs. It imports
// nothing of ours: the daemon maps these plain fields onto each package's
// own options.
//
// The order is defaults → file → environment → flags → Validate.
package configs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	"go.yaml.in/yaml/v3"
)

// Environment variables that override the file. They cover what differs
// between machines running the same file: where the store is, where the
// API listens, its token and the log format.
const (
	EnvStore               = "IAMD_STORE"                 // store.dir
	EnvHTTPAddr            = "IAMD_HTTP_ADDR"             // http.listen
	EnvHTTPToken           = "IAMD_HTTP_TOKEN"            // http.token (and clears http.token_file)
	EnvHTTPTokenFile       = "IAMD_HTTP_TOKEN_FILE"       // http.token_file (and clears http.token)
	EnvMetricsWithoutToken = "IAMD_METRICS_WITHOUT_TOKEN" // http.metrics_without_token (true/false)
	EnvIAMFile             = "IAMD_IAM_FILE"              // iam.file
	EnvLogLevel            = "IAMD_LOG_LEVEL"             // logging.level
	EnvLogFormat           = "IAMD_LOG_FORMAT"            // logging.format
	// EnvKafkaPassword is the default of sources.kafka[].sasl.password_env,
	// the same variable `iamd ingest --from kafka://…` reads.
	EnvKafkaPassword = "IAMD_KAFKA_PASSWORD"
)

// Config is the whole configuration of `iamd run`.
type Config struct {
	Store       Store       `yaml:"store"`
	Sources     Sources     `yaml:"sources"`
	IAM         IAM         `yaml:"iam"`
	Analysis    Analysis    `yaml:"analysis"`
	Suggestions Suggestions `yaml:"suggestions"`
	Rotation    Rotation    `yaml:"rotation"`
	HTTP        HTTP        `yaml:"http"`
	Logging     Logging     `yaml:"logging"`

	// getenv reads secrets named by the config (token file aside): set
	// by ApplyEnv, os.Getenv when nil.
	getenv func(string) string
}

// Store is the usage index.
type Store struct {
	// Dir is the store directory. Default "": $IAMD_STORE, else
	// $XDG_DATA_HOME/iamd, else ~/.local/share/iamd (as the CLI).
	Dir string `yaml:"dir"`
	// KeepRaw keeps each event's raw record (secrets redacted) this long.
	// Default 0: off.
	KeepRaw Duration `yaml:"keep_raw"`
	// DedupTTL is how long an event ID is remembered to drop redelivered
	// records. Default 45d.
	DedupTTL Duration `yaml:"dedup_ttl"`
	// SyncWrites fsyncs every commit. Default false.
	SyncWrites bool `yaml:"sync_writes"`
	// GCInterval is how often value-log space is reclaimed. Default 1h;
	// 0 never.
	GCInterval Duration `yaml:"gc_interval"`
}

// Sources are the ingest sources the daemon runs continuously.
type Sources struct {
	Directory []DirectorySource `yaml:"directory"`
	Kafka     []KafkaSource     `yaml:"kafka"`
	S3        []S3Source        `yaml:"s3"`
}

// DirectorySource watches a local directory for CloudTrail files (plain
// or gzipped log files, JSON lines) and ingests each new or changed one
// with a per-file checkpoint.
type DirectorySource struct {
	// Name identifies the source in logs, metrics and the API. Default
	// "directory[i]".
	Name string `yaml:"name"`
	// Path is the directory, read recursively. Required.
	Path string `yaml:"path"`
	// Poll is the time between scans. Default 30s.
	Poll Duration `yaml:"poll"`
	// Settle leaves files modified less than this long ago for the next
	// scan, so a file still being written is not read half. Default 5s.
	Settle Duration `yaml:"settle"`
	// Workers decode files at once. Default 0: one per CPU.
	Workers int `yaml:"workers"`
	// Batch is the most records per store write. Default 0: ingest's
	// default (20000).
	Batch int `yaml:"batch"`
}

// KafkaSource consumes CloudTrail records from Kafka topics with a
// consumer group, like `iamd ingest --from kafka://…`.
type KafkaSource struct {
	// Name; default "kafka[i]".
	Name string `yaml:"name"`
	// Brokers are seed brokers, host:port (port 9092 when omitted).
	// Required.
	Brokers []string `yaml:"brokers"`
	// Topics to consume. Required.
	Topics []string `yaml:"topics"`
	// Group is the consumer group. Default "iamd".
	Group string `yaml:"group"`
	// DeadLetterTopic receives undecodable messages. Default "": they
	// are quarantined in the store.
	DeadLetterTopic string `yaml:"dead_letter_topic"`
	// Start is where a new group starts: first or last. Default first.
	Start string `yaml:"start"`
	// TLS to the brokers. Default false.
	TLS bool `yaml:"tls"`
	// SASL authentication. Default: none.
	SASL KafkaSASL `yaml:"sasl"`
	// BatchRecords is the most records per store write. Default 2000.
	BatchRecords int `yaml:"batch_records"`
	// BatchWait is the longest a batch waits before it is written.
	// Default 1s.
	BatchWait Duration `yaml:"batch_wait"`
}

// KafkaSASL configures SASL. The password never sits in the file: it is
// read from the environment variable PasswordEnv.
type KafkaSASL struct {
	// Mechanism: plain, scram-sha-256 or scram-sha-512. Default "": none.
	Mechanism string `yaml:"mechanism"`
	// Username; required with a mechanism.
	Username string `yaml:"username"`
	// PasswordEnv names the variable holding the password. Default
	// IAMD_KAFKA_PASSWORD.
	PasswordEnv string `yaml:"password_env"`
}

// S3Source reads a trail's bucket, like `iamd ingest --from s3://…`.
type S3Source struct {
	// Name; default "s3[i]".
	Name string `yaml:"name"`
	// Bucket holding the trail. Required.
	Bucket string `yaml:"bucket"`
	// Prefix is the trail's key prefix before AWSLogs/. Default "".
	Prefix string `yaml:"prefix"`
	// Accounts and Regions restrict what is read. Default: all found.
	Accounts []string `yaml:"accounts"`
	Regions  []string `yaml:"regions"`
	// Org is an organization trail's o-… folder. Default "": discovered.
	Org string `yaml:"org"`
	// Since is the first day (YYYY-MM-DD) a new stream backfills.
	// Default "": everything.
	Since string `yaml:"since"`
	// Until is the last day (YYYY-MM-DD); with it the source ends after
	// the backfill. Default "": no end.
	Until string `yaml:"until"`
	// Tail keeps reading new files after the backfill. Default true
	// (false when until is set).
	Tail bool `yaml:"tail"`
	// Poll is the time between listings when tailing. Default 1m.
	Poll Duration `yaml:"poll"`
	// Workers download and decode files at once. Default 4.
	Workers int `yaml:"workers"`
	// LookBack is the window listed again for late files. Default 1h.
	LookBack Duration `yaml:"lookback"`
	// Region of the bucket. Default "": from the AWS config.
	Region string `yaml:"region"`
	// Endpoint of an S3-compatible store (MinIO); implies path-style.
	// Default "": AWS.
	Endpoint string `yaml:"endpoint"`
	// SQS is the URL of a queue receiving the bucket's notifications;
	// tailing then receives them instead of listing. Default "": poll.
	SQS string `yaml:"sqs"`
}

// IAM says where the IAM model comes from: a snapshot file, or the live
// account, refreshed on a schedule. Each refresh stores a snapshot when
// the model changed.
type IAM struct {
	// File is a get-account-authorization-details JSON (or iamd
	// snapshot). Default "": none.
	File string `yaml:"file"`
	// Live reads the account through the IAM API.
	Live IAMLive `yaml:"live"`
	// Refresh is the cron schedule of model refreshes. Default "@daily";
	// "" never.
	Refresh string `yaml:"refresh"`
}

// IAMLive configures reading the model from the AWS IAM API with the
// default credential chain.
type IAMLive struct {
	// Enabled reads the live account. Default false.
	Enabled bool `yaml:"enabled"`
	// Profile is a shared-config profile. Default "": default chain.
	Profile string `yaml:"profile"`
	// Region for signing (IAM is global). Default "": us-east-1.
	Region string `yaml:"region"`
	// Endpoint overrides the IAM endpoint. Default "": AWS.
	Endpoint string `yaml:"endpoint"`
}

// Analysis bounds what counts as used.
type Analysis struct {
	// Window is how far back usage counts. Default 90d.
	Window Duration `yaml:"window"`
	// ExcludePrincipals are left out of the analysis, e.g. break-glass
	// roles: ARN patterns (* and ?), path:/PREFIX/ or tag:KEY[=VALUE], as
	// `iamd unused --exclude` takes them. Default none.
	ExcludePrincipals []string `yaml:"exclude_principals"`
	// ExcludeActions are action patterns ("service:Action", * and ?)
	// never suggested for removal. Default none.
	ExcludeActions []string `yaml:"exclude_actions"`
}

// Suggestions are the scheduled least-privilege policy suggestions.
type Suggestions struct {
	// Schedule is a cron spec. Default "@weekly"; "" never.
	Schedule string `yaml:"schedule"`
	// OutDir receives the suggested policies. Default "": "suggestions"
	// inside the store directory.
	OutDir string `yaml:"out_dir"`
	// Grace: principals younger than this, and actions granted less than
	// this long ago, are not suggested for removal. Default 14d.
	Grace Duration `yaml:"grace"`
}

// Rotation is the access-key rotator's schedule and policy. The daemon
// maps it onto the rotator's policy field by field; the AWS clients use
// the iam section's profile, region and endpoint.
type Rotation struct {
	// Enabled runs the rotator on Schedule. Default false.
	Enabled bool `yaml:"enabled"`
	// Schedule is a cron spec. Default "0 3 * * *" (03:00 daily).
	Schedule string `yaml:"schedule"`
	// DryRun plans and reports without changing any key. Default true.
	DryRun bool `yaml:"dry_run"`
	// MaxAge is the key age that starts a rotation. Default 90d.
	MaxAge Duration `yaml:"max_age"`
	// Drain is how long the old key must show no use in CloudTrail
	// before it is deactivated. Default 7d.
	Drain Duration `yaml:"drain"`
	// Recovery is how long a deactivated key is kept before it is
	// deleted. Default 10d.
	Recovery Duration `yaml:"recovery"`
	// NotifyAhead announces a rotation this long before the key is due;
	// 0: never. Default 7d.
	NotifyAhead Duration `yaml:"notify_ahead"`
	// MinOverlap keeps both keys active at least this long after the new
	// one is published. Default 24h.
	MinOverlap Duration `yaml:"min_overlap"`
	// MaxIndexLag: the usage index's silence is no evidence when ingest
	// last wrote longer ago than this; 0: not checked. Default 48h.
	MaxIndexLag Duration `yaml:"max_index_lag"`
	// VerifyTimeout bounds the wait for STS to accept a new key. Default
	// 2m.
	VerifyTimeout Duration `yaml:"verify_timeout"`
	// RetryAborted is how long after a rotation undone by compensation
	// the user is tried again. Default 24h.
	RetryAborted Duration `yaml:"retry_aborted"`
	// StepAttempts is how often one step is tried on transient errors,
	// on top of the SDK's retries. Default 3.
	StepAttempts int `yaml:"step_attempts"`
	// MaxUsersPerRun caps the users one run touches. Default 5.
	MaxUsersPerRun int `yaml:"max_users_per_run"`
	// OptIn rotates only users tagged OptInTag=true. Default false.
	OptIn bool `yaml:"opt_in"`
	// OptInTag is the opt-in tag key; a user tagged with it set to false
	// never rotates. Default iamd-rotate.
	OptInTag string `yaml:"opt_in_tag"`
	// Users selects the users whose keys rotate. Default: every user.
	Users RotationUsers `yaml:"users"`
	// Delivery says where new keys go.
	Delivery RotationDelivery `yaml:"delivery"`
	// Webhook receives a JSON POST before each mutating step. Default "":
	// log lines only.
	Webhook string `yaml:"webhook"`
	// STSEndpoint and SecretsManagerEndpoint override the endpoints (a
	// test stack). Default "": AWS.
	STSEndpoint            string `yaml:"sts_endpoint"`
	SecretsManagerEndpoint string `yaml:"secretsmanager_endpoint"`
}

// RotationUsers chooses users: a user rotates when it matches one include
// rule (or there is none) and no exemption.
type RotationUsers struct {
	// PathPrefixes, Groups and Tags include users by IAM path prefix
	// ("/service/"), group name, or tag (KEY: VALUE; "" any value).
	// Default none: every user.
	PathPrefixes []string          `yaml:"path_prefixes"`
	Groups       []string          `yaml:"groups"`
	Tags         map[string]string `yaml:"tags"`
	// Exemptions win: by tag, group, or user ARN glob. Default none.
	ExemptTags   map[string]string `yaml:"exempt_tags"`
	ExemptGroups []string          `yaml:"exempt_groups"`
	ExemptARNs   []string          `yaml:"exempt_arns"`
}

// RotationDelivery names the delivery targets of new keys.
type RotationDelivery struct {
	// Tag is the user tag that names a user's target. Default
	// iamd-delivery.
	Tag string `yaml:"tag"`
	// Default is the target of untagged users. Default secretsmanager.
	Default string `yaml:"default"`
	// SecretName is the Secrets Manager secret name ({user}, {path},
	// {account}). Default "iamd/access-keys/{user}".
	SecretName string `yaml:"secret_name"`
	// Files are file targets, name: path template. Default none.
	Files map[string]string `yaml:"files"`
	// Commands are command targets, name: [program, args…], that read
	// the key as JSON on stdin. Default none.
	Commands map[string][]string `yaml:"commands"`
}

// HTTP is the API, health and metrics listener.
type HTTP struct {
	// Listen is host:port. Default 127.0.0.1:8080. Beyond loopback a
	// token is required.
	Listen string `yaml:"listen"`
	// Token is the bearer token of the API and metrics. Default "".
	// Prefer token_file or $IAMD_HTTP_TOKEN over the file itself.
	Token string `yaml:"token"`
	// TokenFile holds the token (surrounding white space ignored).
	// Default "".
	TokenFile string `yaml:"token_file"`
	// MetricsWithoutToken serves /metrics without the token. Default
	// false.
	MetricsWithoutToken bool `yaml:"metrics_without_token"`
	// UI serves the read-only web dashboard at / on the same listener,
	// behind the same token (a login form sets a session cookie).
	// Default true.
	UI bool `yaml:"ui"`
}

// Logging configures log/slog.
type Logging struct {
	// Level: debug, info, warn or error. Default info.
	Level string `yaml:"level"`
	// Format: text or json. Default text.
	Format string `yaml:"format"`
}

// Defaults that are not zero values.
const (
	DefaultDedupTTL       = 45 * 24 * time.Hour
	DefaultGCInterval     = time.Hour
	DefaultDirPoll        = 30 * time.Second
	DefaultDirSettle      = 5 * time.Second
	DefaultKafkaGroup     = "iamd"
	DefaultKafkaStart     = "first"
	DefaultKafkaBatch     = 2000
	DefaultKafkaBatchWait = time.Second
	DefaultS3Poll         = time.Minute
	DefaultS3Workers      = 4
	DefaultS3LookBack     = time.Hour
	DefaultIAMRefresh     = "@daily"
	DefaultWindow         = 90 * 24 * time.Hour
	DefaultSuggestions    = "@weekly"
	DefaultGrace          = 14 * 24 * time.Hour
	DefaultRotation       = "0 3 * * *"
	DefaultMaxKeyAge      = 90 * 24 * time.Hour
	DefaultDrain          = 7 * 24 * time.Hour
	DefaultRecovery       = 10 * 24 * time.Hour
	DefaultMaxUsersPerRun = 5
	DefaultNotifyAhead    = 7 * 24 * time.Hour
	DefaultMinOverlap     = 24 * time.Hour
	DefaultMaxIndexLag    = 48 * time.Hour
	DefaultVerifyTimeout  = 2 * time.Minute
	DefaultRetryAborted   = 24 * time.Hour
	DefaultStepAttempts   = 3
	DefaultOptInTag       = "iamd-rotate"
	DefaultDeliveryTag    = "iamd-delivery"
	DefaultDelivery       = "secretsmanager"
	DefaultSecretName     = "iamd/access-keys/{user}"
	DefaultListen         = "127.0.0.1:8080"
	DefaultLogLevel       = "info"
	DefaultLogFormat      = "text"
)

// Default returns the configuration with every default set and no
// sources.
func Default() Config {
	return Config{
		Store: Store{DedupTTL: Duration(DefaultDedupTTL), GCInterval: Duration(DefaultGCInterval)},
		IAM:   IAM{Refresh: DefaultIAMRefresh},
		Analysis: Analysis{
			Window: Duration(DefaultWindow),
		},
		Suggestions: Suggestions{Schedule: DefaultSuggestions, Grace: Duration(DefaultGrace)},
		Rotation: Rotation{
			Schedule: DefaultRotation, DryRun: true, MaxAge: Duration(DefaultMaxKeyAge),
			Drain: Duration(DefaultDrain), Recovery: Duration(DefaultRecovery), MaxUsersPerRun: DefaultMaxUsersPerRun,
			NotifyAhead: Duration(DefaultNotifyAhead), MinOverlap: Duration(DefaultMinOverlap), MaxIndexLag: Duration(DefaultMaxIndexLag),
			VerifyTimeout: Duration(DefaultVerifyTimeout), RetryAborted: Duration(DefaultRetryAborted), StepAttempts: DefaultStepAttempts,
			OptInTag: DefaultOptInTag,
			Delivery: RotationDelivery{Tag: DefaultDeliveryTag, Default: DefaultDelivery, SecretName: DefaultSecretName},
		},
		HTTP:    HTTP{Listen: DefaultListen, UI: true},
		Logging: Logging{Level: DefaultLogLevel, Format: DefaultLogFormat},
	}
}

// DefaultDirectorySource, DefaultKafkaSource and DefaultS3Source are
// what one list entry starts from before its keys are read.
func DefaultDirectorySource() DirectorySource {
	return DirectorySource{Poll: Duration(DefaultDirPoll), Settle: Duration(DefaultDirSettle)}
}

func DefaultKafkaSource() KafkaSource {
	return KafkaSource{Group: DefaultKafkaGroup, Start: DefaultKafkaStart, BatchRecords: DefaultKafkaBatch,
		BatchWait: Duration(DefaultKafkaBatchWait), SASL: KafkaSASL{PasswordEnv: EnvKafkaPassword}}
}

func DefaultS3Source() S3Source {
	return S3Source{Tail: true, Poll: Duration(DefaultS3Poll), Workers: DefaultS3Workers, LookBack: Duration(DefaultS3LookBack)}
}

// UnmarshalYAML starts a list entry from its defaults. The function form
// keeps the decoder's strict mode for the entry's keys.
func (s *DirectorySource) UnmarshalYAML(unmarshal func(any) error) error {
	type plain DirectorySource
	p := plain(DefaultDirectorySource())
	if err := unmarshal(&p); err != nil {
		return err
	}
	*s = DirectorySource(p)
	return nil
}

func (s *KafkaSource) UnmarshalYAML(unmarshal func(any) error) error {
	type plain KafkaSource
	p := plain(DefaultKafkaSource())
	if err := unmarshal(&p); err != nil {
		return err
	}
	*s = KafkaSource(p)
	return nil
}

// UnmarshalYAML also makes until imply tail: false unless tail is given,
// as with `--from s3://…?until=`.
func (s *S3Source) UnmarshalYAML(unmarshal func(any) error) error {
	type plain S3Source
	p := plain(DefaultS3Source())
	if err := unmarshal(&p); err != nil {
		return err
	}
	var keys map[string]any
	if err := unmarshal(&keys); err == nil {
		if _, tail := keys["tail"]; !tail && p.Until != "" {
			p.Tail = false
		}
	}
	*s = S3Source(p)
	return nil
}

// DefaultStoreDir is $IAMD_STORE, else $XDG_DATA_HOME/iamd, else
// ~/.local/share/iamd: the store every command uses when none is given.
func DefaultStoreDir(getenv func(string) string) string {
	if d := getenv(EnvStore); d != "" {
		return d
	}
	if d := getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "iamd")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "share", "iamd")
	}
	return "iamd-data"
}

// Parse reads a YAML configuration over Default. Unknown keys are errors,
// all of them reported with their key path and line; so are values of the
// wrong type. An empty document is the default configuration.
func Parse(r io.Reader) (Config, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return Config{}, fmt.Errorf("read config: %w", err)
	}
	c := Default()
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	if len(root.Content) == 0 {
		return c, nil
	}
	var errs Errors
	unknownKeys(root.Content[0], reflect.TypeOf(c), "", &errs)
	if len(errs) > 0 {
		return Config{}, errs
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	return c, nil
}

// Load parses the file at path; "" is the default configuration.
func Load(path string) (Config, error) {
	if path == "" {
		return Default(), nil
	}
	f, err := os.Open(path)
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	c, err := Parse(f)
	if err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// unknownKeys walks a mapping node against the struct type t and records
// every key that has no field, with its path.
func unknownKeys(n *yaml.Node, t reflect.Type, path string, errs *Errors) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case n.Kind == yaml.AliasNode:
		unknownKeys(n.Alias, t, path, errs)
	case n.Kind == yaml.SequenceNode && t.Kind() == reflect.Slice:
		for i, e := range n.Content {
			unknownKeys(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i), errs)
		}
	case n.Kind == yaml.MappingNode && t.Kind() == reflect.Struct:
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := join(path, k.Value)
			f, ok := fields[k.Value]
			if !ok {
				*errs = append(*errs, &FieldError{Key: p, Err: fmt.Errorf("unknown key (line %d)", k.Line)})
				continue
			}
			unknownKeys(v, f.Type, p, errs)
		}
	}
}

// yamlFields maps the yaml names of t's exported fields to the fields.
func yamlFields(t reflect.Type) map[string]reflect.StructField {
	out := map[string]reflect.StructField{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if !f.IsExported() || name == "-" || name == "" {
			continue
		}
		out[name] = f
	}
	return out
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// ApplyEnv applies the IAMD_* overrides and remembers getenv for the
// secrets the configuration names (the Kafka SASL password). A token from
// the environment replaces a token file from the file, and the other way
// round.
func (c *Config) ApplyEnv(getenv func(string) string) error {
	c.getenv = getenv
	str := func(name string, p *string) bool {
		if v := getenv(name); v != "" {
			*p = v
			return true
		}
		return false
	}
	str(EnvStore, &c.Store.Dir)
	str(EnvHTTPAddr, &c.HTTP.Listen)
	str(EnvIAMFile, &c.IAM.File)
	str(EnvLogLevel, &c.Logging.Level)
	str(EnvLogFormat, &c.Logging.Format)
	if str(EnvHTTPToken, &c.HTTP.Token) {
		c.HTTP.TokenFile = ""
	}
	if str(EnvHTTPTokenFile, &c.HTTP.TokenFile) {
		if getenv(EnvHTTPToken) != "" {
			return fmt.Errorf("%s and %s are both set: give one", EnvHTTPToken, EnvHTTPTokenFile)
		}
		c.HTTP.Token = ""
	}
	if v := getenv(EnvMetricsWithoutToken); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("%s=%q: want true or false", EnvMetricsWithoutToken, v)
		}
		c.HTTP.MetricsWithoutToken = b
	}
	return nil
}

func (c *Config) env(name string) string {
	if c.getenv == nil {
		return os.Getenv(name)
	}
	return c.getenv(name)
}

// Resolve fills what depends on the machine: the store directory when
// none is configured.
func (c *Config) Resolve() {
	if c.Store.Dir == "" {
		c.Store.Dir = DefaultStoreDir(c.env)
	}
}

// Token returns the API bearer token: http.token, or the content of
// http.token_file. "" means none.
func (c *Config) Token() (string, error) {
	if c.HTTP.TokenFile == "" {
		return c.HTTP.Token, nil
	}
	b, err := os.ReadFile(c.HTTP.TokenFile)
	if err != nil {
		return "", fmt.Errorf("http.token_file: %w", err)
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return "", fmt.Errorf("http.token_file: %s is empty", c.HTTP.TokenFile)
	}
	return t, nil
}

// KafkaPassword returns the SASL password of k from the environment.
func (c *Config) KafkaPassword(k KafkaSource) string { return c.env(k.SASL.PasswordEnv) }

// SourceName returns the name of a source: its own, else kind[i].
func SourceName(name, kind string, i int) string {
	if name != "" {
		return name
	}
	return fmt.Sprintf("%s[%d]", kind, i)
}

// IsLoopback reports whether a listen address (host:port) accepts
// connections from this machine only. An empty host, 0.0.0.0 and :: are
// every interface; a host name other than localhost is treated as
// reachable from elsewhere.
func IsLoopback(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// FieldError is one problem of a configuration, at a key path such as
// "sources.kafka[0].brokers".
type FieldError struct {
	Key string
	Err error
}

func (e *FieldError) Error() string { return e.Key + ": " + e.Err.Error() }
func (e *FieldError) Unwrap() error { return e.Err }

// Errors is every problem found; Error prints one per line.
type Errors []*FieldError

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Validate checks the configuration after defaults, file, environment and
// flags, and returns every problem (as Errors), or nil.
func (c *Config) Validate() error {
	var errs Errors
	bad := func(key, format string, a ...any) {
		errs = append(errs, &FieldError{Key: key, Err: fmt.Errorf(format, a...)})
	}
	nonNegative := func(key string, d Duration) {
		if d < 0 {
			bad(key, "%s is negative", d)
		}
	}
	schedule := func(key, spec string) {
		if spec == "" {
			return
		}
		if _, err := cron.ParseStandard(spec); err != nil {
			bad(key, "%q: %v (want 5 fields like \"0 3 * * *\" or @daily, @weekly, @every 6h)", spec, err)
		}
	}

	nonNegative("store.keep_raw", c.Store.KeepRaw)
	if c.Store.DedupTTL < Duration(time.Hour) {
		bad("store.dedup_ttl", "%s is below the 1h minimum", c.Store.DedupTTL)
	}
	nonNegative("store.gc_interval", c.Store.GCInterval)

	names := map[string]string{}
	name := func(key, n string) {
		if prev, ok := names[n]; ok {
			bad(key, "name %q is also used by %s", n, prev)
		}
		names[n] = key
	}
	for i, s := range c.Sources.Directory {
		key := fmt.Sprintf("sources.directory[%d]", i)
		name(key, SourceName(s.Name, "directory", i))
		if strings.TrimSpace(s.Path) == "" {
			bad(key+".path", "required")
		}
		if s.Poll <= 0 {
			bad(key+".poll", "%s: want a positive duration", s.Poll)
		}
		nonNegative(key+".settle", s.Settle)
		if s.Workers < 0 {
			bad(key+".workers", "%d is negative", s.Workers)
		}
		if s.Batch < 0 {
			bad(key+".batch", "%d is negative", s.Batch)
		}
	}
	for i, k := range c.Sources.Kafka {
		key := fmt.Sprintf("sources.kafka[%d]", i)
		name(key, SourceName(k.Name, "kafka", i))
		if len(k.Brokers) == 0 {
			bad(key+".brokers", "at least one broker required")
		}
		for j, b := range k.Brokers {
			if _, _, err := net.SplitHostPort(WithKafkaPort(b)); err != nil || strings.TrimSpace(b) == "" {
				bad(fmt.Sprintf("%s.brokers[%d]", key, j), "%q is not host:port", b)
			}
		}
		if len(k.Topics) == 0 {
			bad(key+".topics", "at least one topic required")
		}
		for j, t := range k.Topics {
			if t == "" {
				bad(fmt.Sprintf("%s.topics[%d]", key, j), "empty")
			} else if t == k.DeadLetterTopic {
				bad(key+".dead_letter_topic", "%q is also consumed", t)
			}
		}
		if k.Group == "" {
			bad(key+".group", "empty")
		}
		if k.Start != "first" && k.Start != "last" {
			bad(key+".start", "%q: want first or last", k.Start)
		}
		switch k.SASL.Mechanism {
		case "":
		case "plain", "scram-sha-256", "scram-sha-512":
			if k.SASL.Username == "" {
				bad(key+".sasl.username", "required with sasl.mechanism")
			}
			if k.SASL.PasswordEnv == "" {
				bad(key+".sasl.password_env", "required with sasl.mechanism")
			} else if c.env(k.SASL.PasswordEnv) == "" {
				bad(key+".sasl.password_env", "$%s is empty", k.SASL.PasswordEnv)
			}
		default:
			bad(key+".sasl.mechanism", "%q: want plain, scram-sha-256 or scram-sha-512", k.SASL.Mechanism)
		}
		if k.BatchRecords <= 0 {
			bad(key+".batch_records", "%d: want a positive number", k.BatchRecords)
		}
		if k.BatchWait <= 0 {
			bad(key+".batch_wait", "%s: want a positive duration", k.BatchWait)
		}
	}
	for i, s := range c.Sources.S3 {
		key := fmt.Sprintf("sources.s3[%d]", i)
		name(key, SourceName(s.Name, "s3", i))
		if s.Bucket == "" {
			bad(key+".bucket", "required")
		}
		if s.Org != "" && !strings.HasPrefix(s.Org, "o-") {
			bad(key+".org", "%q does not start with o-", s.Org)
		}
		for j, a := range s.Accounts {
			if len(a) != 12 || strings.Trim(a, "0123456789") != "" {
				bad(fmt.Sprintf("%s.accounts[%d]", key, j), "%q is not a 12-digit account ID", a)
			}
		}
		since, sinceErr := ParseDay(s.Since)
		if sinceErr != nil {
			bad(key+".since", "%v", sinceErr)
		}
		until, untilErr := ParseDay(s.Until)
		if untilErr != nil {
			bad(key+".until", "%v", untilErr)
		}
		if sinceErr == nil && untilErr == nil && !until.IsZero() && until.Before(since) {
			bad(key+".until", "%s is before since %s", s.Until, s.Since)
		}
		if s.Poll <= 0 {
			bad(key+".poll", "%s: want a positive duration", s.Poll)
		}
		if s.Workers <= 0 {
			bad(key+".workers", "%d: want a positive number", s.Workers)
		}
		nonNegative(key+".lookback", s.LookBack)
		if s.Endpoint != "" {
			if u, err := url.Parse(s.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				bad(key+".endpoint", "%q: want a URL like http://minio:9000", s.Endpoint)
			}
		}
		if s.SQS != "" {
			if u, err := url.Parse(s.SQS); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || strings.Trim(u.Path, "/") == "" {
				bad(key+".sqs", "%q: want the queue URL (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME)", s.SQS)
			}
			if !s.Tail {
				bad(key+".sqs", "needs tail (no until, tail: true)")
			}
		}
	}

	if c.IAM.File != "" && c.IAM.Live.Enabled {
		bad("iam.file", "give iam.file or iam.live.enabled, not both")
	}
	if !c.IAM.Live.Enabled && !c.Rotation.Enabled && (c.IAM.Live.Profile != "" || c.IAM.Live.Region != "" || c.IAM.Live.Endpoint != "") {
		bad("iam.live", "profile, region and endpoint apply only with enabled: true (or rotation.enabled: true)")
	}
	schedule("iam.refresh", c.IAM.Refresh)

	if c.Analysis.Window <= 0 {
		bad("analysis.window", "%s: want a positive duration", c.Analysis.Window)
	}
	for i, p := range c.Analysis.ExcludePrincipals {
		key := fmt.Sprintf("analysis.exclude_principals[%d]", i)
		switch {
		case p == "*", strings.HasPrefix(p, "arn:"):
		case strings.HasPrefix(p, "path:"):
			if !strings.HasPrefix(strings.TrimPrefix(p, "path:"), "/") {
				bad(key, "%q: a path starts with / (path:/service/)", p)
			}
		case strings.HasPrefix(p, "tag:"):
			if k, _, _ := strings.Cut(strings.TrimPrefix(p, "tag:"), "="); k == "" {
				bad(key, "%q: want tag:KEY or tag:KEY=VALUE", p)
			}
		default:
			bad(key, "%q: want an ARN pattern (arn:aws:iam::*:role/breakglass-*), path:/PREFIX/ or tag:KEY[=VALUE]", p)
		}
	}
	for i, a := range c.Analysis.ExcludeActions {
		if svc, act, ok := strings.Cut(a, ":"); !ok || svc == "" || act == "" {
			bad(fmt.Sprintf("analysis.exclude_actions[%d]", i), "%q: want service:Action, wildcards allowed (s3:Get*)", a)
		}
	}

	schedule("suggestions.schedule", c.Suggestions.Schedule)
	nonNegative("suggestions.grace", c.Suggestions.Grace)

	schedule("rotation.schedule", c.Rotation.Schedule)
	if c.Rotation.Enabled && c.Rotation.Schedule == "" {
		bad("rotation.schedule", "required when rotation is enabled")
	}
	if c.Rotation.MaxAge <= 0 {
		bad("rotation.max_age", "%s: want a positive duration", c.Rotation.MaxAge)
	}
	nonNegative("rotation.drain", c.Rotation.Drain)
	nonNegative("rotation.recovery", c.Rotation.Recovery)
	if c.Rotation.MaxUsersPerRun <= 0 {
		bad("rotation.max_users_per_run", "%d: want a positive number", c.Rotation.MaxUsersPerRun)
	}
	for _, k := range []struct{ key, url string }{{"rotation.webhook", c.Rotation.Webhook},
		{"rotation.sts_endpoint", c.Rotation.STSEndpoint}, {"rotation.secretsmanager_endpoint", c.Rotation.SecretsManagerEndpoint}} {
		if k.url == "" {
			continue
		}
		if u, err := url.Parse(k.url); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			if k.key == "rotation.webhook" {
				// Not quoted back: a webhook URL is often its own credential.
				bad(k.key, "want an http(s) URL (the value is not shown: it may carry a token)")
				continue
			}
			bad(k.key, "%q: want an http(s) URL", k.url)
		}
	}

	listenOK := false
	if _, port, err := net.SplitHostPort(c.HTTP.Listen); err != nil {
		bad("http.listen", "%q: want host:port, e.g. 127.0.0.1:8080", c.HTTP.Listen)
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		bad("http.listen", "%q: port %q is not a number up to 65535", c.HTTP.Listen, port)
	} else {
		listenOK = true
	}
	hasToken := c.HTTP.Token != ""
	if c.HTTP.Token != "" && c.HTTP.TokenFile != "" {
		bad("http.token", "give http.token or http.token_file, not both")
	}
	if c.HTTP.TokenFile != "" {
		if _, err := c.Token(); err != nil {
			errs = append(errs, &FieldError{Key: "http.token_file", Err: errors.Unwrap(err)})
		} else {
			hasToken = true
		}
	}
	if listenOK && !hasToken && !IsLoopback(c.HTTP.Listen) {
		bad("http.token", "required: http.listen %q is reachable beyond this machine (set $%s or http.token_file)", c.HTTP.Listen, EnvHTTPToken)
	}

	switch c.Logging.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("logging.level", "%q: want debug, info, warn or error", c.Logging.Level)
	}
	switch c.Logging.Format {
	case "text", "json":
	default:
		bad("logging.format", "%q: want text or json", c.Logging.Format)
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}

// WithKafkaPort adds Kafka's default port to a broker without one.
func WithKafkaPort(b string) string {
	if strings.Contains(b, ":") {
		return b
	}
	return net.JoinHostPort(b, "9092")
}

// ParseDay reads YYYY-MM-DD; "" is the zero time.
func ParseDay(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q: want YYYY-MM-DD", s)
	}
	return t, nil
}
