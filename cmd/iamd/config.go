package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/iamd/iamd/configs"
)

func newConfigCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Print the commented example configuration, or check a configuration file",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "example",
		Short: "Print the example configuration: every key with its default",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := cmd.OutOrStdout().Write(configs.Example)
			return err
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "check FILE",
		Short: "Validate a configuration file as iamd run reads it (IAMD_* environment applied)",
		Long: `Validate a configuration file as "iamd run --config FILE" would read it, with
the IAMD_* environment applied: unknown keys, wrong types and every invalid
value are reported at once, each with its key path. Exit status 1 when
there is a problem.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runConfigCheck(cmd.OutOrStdout(), args[0], os.Getenv)
		},
	})
	return cmd
}

// checkConfig loads, applies the environment and validates path.
func checkConfig(path string, getenv func(string) string) (configs.Config, error) {
	cfg, err := configs.Load(path)
	if err != nil {
		return cfg, err
	}
	if err := cfg.ApplyEnv(getenv); err != nil {
		return cfg, fmt.Errorf("%s: %w", path, err)
	}
	if err := validateConfig(&cfg); err != nil {
		return cfg, fmt.Errorf("%s:\n%w", path, err)
	}
	return cfg, nil
}

func runConfigCheck(w io.Writer, path string, getenv func(string) string) error {
	cfg, err := checkConfig(path, getenv)
	if err != nil {
		var errs configs.Errors
		if errors.As(err, &errs) {
			fmt.Fprintf(w, "%s: %d problem(s)\n", path, len(errs))
			for _, e := range errs {
				fmt.Fprintf(w, "  %s\n", e)
			}
			return exitError{code: 1}
		}
		return err
	}
	var srcs []string
	for i, s := range cfg.Sources.Directory {
		srcs = append(srcs, configs.SourceName(s.Name, "directory", i)+" "+s.Path)
	}
	for i, s := range cfg.Sources.Kafka {
		srcs = append(srcs, configs.SourceName(s.Name, "kafka", i)+" "+strings.Join(s.Topics, ","))
	}
	for i, s := range cfg.Sources.S3 {
		srcs = append(srcs, configs.SourceName(s.Name, "s3", i)+" s3://"+s.Bucket+"/"+s.Prefix)
	}
	model := "none"
	switch {
	case cfg.IAM.File != "":
		model = "file " + cfg.IAM.File
	case cfg.IAM.Live.Enabled:
		model = "live"
	}
	auth := "no token (loopback only)"
	if cfg.HTTP.Token != "" || cfg.HTTP.TokenFile != "" {
		auth = "bearer token"
	}
	fmt.Fprintf(w, "%s: ok\n  sources: %d", path, len(srcs))
	if len(srcs) > 0 {
		fmt.Fprintf(w, " (%s)", strings.Join(srcs, "; "))
	}
	fmt.Fprintf(w, "\n  iam model: %s\n  http: %s, %s\n", model, cfg.HTTP.Listen, auth)
	return nil
}
