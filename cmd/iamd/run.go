package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/iamd/iamd/cmd/iamd/internal/daemon"
	"github.com/iamd/iamd/configs"
	"github.com/iamd/iamd/ingest/s3source"
)

// runOptions are the flags of `iamd run`; set flags override the file and
// the environment.
type runOptions struct {
	config    string
	store     string
	listen    string
	logLevel  string
	logFormat string
}

const runLong = `Run iamd as a daemon: the configured ingest sources (directories, Kafka
topics, S3 buckets) run continuously, the IAM model is refreshed on its
schedule, and the HTTP API (/api/v1/), /healthz, /readyz and /metrics are
served. SIGINT or SIGTERM stops it cleanly: batches in flight are written
and committed, running jobs reach a safe point, the store is closed.

The configuration is read as defaults, then --config FILE, then the IAMD_*
environment, then these flags; "iamd config example" prints every key with
its default, "iamd config check FILE" validates a file.`

func newRunCmd() *cobra.Command {
	var o runOptions
	cmd := &cobra.Command{
		Use:   "run [--config FILE]",
		Short: "Run the daemon: ingest sources, scheduled jobs, HTTP API and metrics",
		Long:  runLong,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadRunConfig(cmd, &o, os.Getenv)
			if err != nil {
				return err
			}
			log := newLogger(cmd.ErrOrStderr(), cfg.Logging)
			return daemon.Run(cmd.Context(), daemon.Options{
				Config: cfg, Logger: log, AWS: daemonAWSClients(), Addons: daemonAddons(),
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.config, "config", "", "configuration file (YAML); default: built-in defaults")
	f.StringVar(&o.store, "store", "", "store directory (overrides store.dir and $"+configs.EnvStore+")")
	f.StringVar(&o.listen, "listen", "", "HTTP listen address (overrides http.listen and $"+configs.EnvHTTPAddr+")")
	f.StringVar(&o.logLevel, "log-level", "", "debug, info, warn or error (overrides logging.level)")
	f.StringVar(&o.logFormat, "log-format", "", "text or json (overrides logging.format)")
	return cmd
}

// loadRunConfig reads defaults, the file, the environment and the flags
// that were set, and validates the result.
func loadRunConfig(cmd *cobra.Command, o *runOptions, getenv func(string) string) (configs.Config, error) {
	cfg, err := configs.Load(o.config)
	if err != nil {
		return configs.Config{}, err
	}
	if err := cfg.ApplyEnv(getenv); err != nil {
		return configs.Config{}, err
	}
	f := cmd.Flags()
	for name, p := range map[string]*string{"store": &cfg.Store.Dir, "listen": &cfg.HTTP.Listen, "log-level": &cfg.Logging.Level, "log-format": &cfg.Logging.Format} {
		if f.Changed(name) {
			v, _ := f.GetString(name)
			*p = v
		}
	}
	if err := validateConfig(&cfg); err != nil {
		where := o.config
		if where == "" {
			where = "configuration"
		}
		return configs.Config{}, fmt.Errorf("%s:\n%w", where, err)
	}
	cfg.Resolve()
	return cfg, nil
}

// newLogger builds the daemon's slog logger.
func newLogger(w io.Writer, l configs.Logging) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(l.Level))
	opts := &slog.HandlerOptions{Level: level}
	if l.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// daemonAWSClients are the clients `iamd ingest --from s3://` uses.
func daemonAWSClients() daemon.AWSClients {
	return daemon.AWSClients{
		S3: func(ctx context.Context, region, endpoint string) (s3source.Client, error) {
			return newS3Client(ctx, region, endpoint)
		},
		SQS: func(ctx context.Context, queueURL, region string) (s3source.QueueClient, error) {
			return newSQSClient(ctx, queueURL, region)
		},
	}
}

// daemonAddons are the parts that plug scheduled jobs and API endpoints
// into the daemon (daemon.Addon): the analysis (its endpoints, the
// principals' utilisation, the suggestions job on suggestions.schedule),
// the rotator (the rotation job on rotation.schedule with the rotation
// section mapped onto its policy, its status endpoints) and the web
// dashboard's pages.
func daemonAddons() []daemon.Addon {
	return []daemon.Addon{analysisAddon(), rotationAddon(), uiAddon}
}

// storeHeldError explains a store another process holds: while `iamd run`
// has it, its API answers what the read commands print.
func storeHeldError(dir string, err error) error { return &heldStoreError{dir: dir, cause: err} }

// heldStoreError is a store another process holds; cause is the store's
// error (store.ErrLocked, with Badger's text).
type heldStoreError struct {
	dir   string
	cause error
}

func (e *heldStoreError) Unwrap() error { return e.cause }

func (e *heldStoreError) Error() string {
	addr := os.Getenv(configs.EnvHTTPAddr)
	if addr == "" {
		addr = configs.DefaultListen
	}
	return fmt.Sprintf("store %s is held by another iamd process, most likely the daemon (iamd run): ask its API instead (curl -H \"Authorization: Bearer $%s\" http://%s/api/v1/ lists its endpoints), or stop the daemon first (%v)",
		e.dir, configs.EnvHTTPToken, dialAddr(addr), e.cause)
}
