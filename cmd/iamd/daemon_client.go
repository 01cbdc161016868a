package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/iamd/iamd/cmd/iamd/internal/api"
	"github.com/iamd/iamd/configs"
)

// The read commands keep working while the daemon holds the store: Badger
// lets one process open a store, so they notice store.ErrLocked and ask
// the daemon's API for the same document instead (the API answers with
// the bytes the command prints with --format json), finding it from the
// daemon's configuration file (--config) or the IAMD_HTTP_* environment.

// addDaemonFlag adds --config: the daemon's configuration, which gives
// the store (when --store is not given) and where to ask when the daemon
// holds it.
func addDaemonFlag(f *pflag.FlagSet, p *string) {
	f.StringVar(p, "config", "", "the daemon's configuration file: its store (unless --store is given), and its API to ask while it holds the store ($"+configs.EnvHTTPAddr+" and $"+configs.EnvHTTPToken+" do too)")
}

// daemonStore returns the store directory of the daemon's configuration
// when --config is given and --store is not.
func daemonStore(f *pflag.FlagSet, store, config string) (string, error) {
	if config == "" || f.Changed("store") {
		return store, nil
	}
	cfg, err := daemonConfig(config)
	if err != nil {
		return "", err
	}
	return cfg.Store.Dir, nil
}

// daemonConfig reads the daemon's configuration as `iamd run` would:
// defaults, the file, the environment.
func daemonConfig(path string) (configs.Config, error) {
	cfg, err := configs.Load(path)
	if err != nil {
		return cfg, err
	}
	if err := cfg.ApplyEnv(os.Getenv); err != nil {
		return cfg, err
	}
	cfg.Resolve()
	return cfg, nil
}

// daemonEndpoint is where the daemon's API answers and its token; ok is
// false when neither --config nor the environment says.
func daemonEndpoint(config string) (base, token string, ok bool, err error) {
	if config == "" && os.Getenv(configs.EnvHTTPAddr) == "" && os.Getenv(configs.EnvHTTPToken) == "" && os.Getenv(configs.EnvHTTPTokenFile) == "" {
		return "", "", false, nil
	}
	cfg, err := daemonConfig(config)
	if err != nil {
		return "", "", false, err
	}
	if token, err = cfg.Token(); err != nil {
		return "", "", false, err
	}
	return "http://" + dialAddr(cfg.HTTP.Listen), token, true, nil
}

// dialAddr turns a listen address into one to connect to: every
// interface is reached on loopback.
func dialAddr(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// fromDaemon answers a read command from the daemon's API after opening
// the store failed with lockErr: path is the endpoint under /api/v1/ with
// the command's flags as query; JSON is printed as the API sends it,
// tables by table (from the same JSON). Without a known daemon it returns
// the one sentence that says how to get there.
func fromDaemon(ctx context.Context, cmd *cobra.Command, config, storeDir string, lockErr error, path string, query url.Values, format string, table func([]byte) error) error {
	var held *heldStoreError
	if errors.As(lockErr, &held) {
		lockErr = held.cause
	}
	base, token, ok, err := daemonEndpoint(config)
	if err != nil {
		return fmt.Errorf("store %s is held by another process and the daemon's configuration does not say where to ask it: %w", storeDir, err)
	}
	if !ok {
		return fmt.Errorf("store %s is held by another iamd process, most likely the daemon (iamd run): give this command --config with the daemon's configuration file, or set $%s and $%s (or $%s), and it asks the daemon's API instead; or stop the daemon first (%w)",
			storeDir, configs.EnvHTTPAddr, configs.EnvHTTPToken, configs.EnvHTTPTokenFile, lockErr)
	}
	for k, v := range query {
		if len(v) == 0 || v[0] == "" {
			delete(query, k)
		}
	}
	u := base + api.Prefix + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("store %s is held by another process; its API at %s does not answer (%v): is the daemon running with this configuration? (%w)", storeDir, base, err, lockErr)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("read the daemon's answer from %s: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(body, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(body))
		}
		return fmt.Errorf("the daemon holding store %s answered %s from %s: %s", storeDir, resp.Status, base, e.Error)
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "store %s is held by the daemon: answered by its API at %s\n", storeDir, base)
	if format == formatJSON {
		_, err := cmd.OutOrStdout().Write(body)
		return err
	}
	return table(body)
}

// renderJSON decodes the API's document into the type the command prints.
func renderJSON[T any](data []byte, print func(*T) error) error {
	var v T
	if err := json.Unmarshal(data, &v); err != nil {
		return fmt.Errorf("the daemon's answer: %w", err)
	}
	return print(&v)
}

// query is the analysis flags as API parameters.
func (a *analysisSource) query() url.Values {
	q := url.Values{}
	q.Set("principal", a.principal)
	q.Set("window", a.window)
	q.Set("at", a.at)
	return q
}

// errFromFile is the error of a command that read the model from a file
// while the daemon holds the store: the daemon reads its own model.
func errFromFile(storeDir string, lockErr error) error {
	var held *heldStoreError
	if errors.As(lockErr, &held) {
		lockErr = held.cause
	}
	return fmt.Errorf("store %s is held by another iamd process, most likely the daemon, which analyses with the snapshots it keeps: leave out --iam, --live and --org to ask its API, or stop it first (%w)", storeDir, lockErr)
}
