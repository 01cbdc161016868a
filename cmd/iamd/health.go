package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/iamd/iamd/configs"
)

// newHealthCmd is `iamd health`: the container health check, for images
// without curl.
func newHealthCmd() *cobra.Command {
	var addr string
	var ready bool
	cmd := &cobra.Command{
		Use:   "health",
		Short: "Exit 0 when a running daemon answers /healthz (or /readyz with --ready)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path := "/healthz"
			if ready {
				path = "/readyz"
			}
			return checkHealth(cmd.Context(), cmd.OutOrStdout(), addr, path)
		},
	}
	def := os.Getenv(configs.EnvHTTPAddr)
	if def == "" {
		def = configs.DefaultListen
	}
	cmd.Flags().StringVar(&addr, "addr", def, "the daemon's listen address (env "+configs.EnvHTTPAddr+")")
	cmd.Flags().BoolVar(&ready, "ready", false, "check /readyz: store open, sources connected, model loaded")
	return cmd
}

func checkHealth(ctx context.Context, w io.Writer, addr, path string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--addr %q: want host:port", addr)
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+net.JoinHostPort(host, port)+path, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	fmt.Fprintf(w, "%s", body)
	if resp.StatusCode != http.StatusOK {
		return exitError{code: 1}
	}
	return nil
}
