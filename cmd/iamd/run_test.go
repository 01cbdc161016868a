package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRunConfigOrder: defaults, then the file, then the environment, then
// the flags that were set.
func TestRunConfigOrder(t *testing.T) {
	file := filepath.Join(t.TempDir(), "iamd.yaml")
	if err := os.WriteFile(file, []byte("store: {dir: /from/file}\nhttp: {listen: '127.0.0.1:1111'}\nlogging: {level: warn, format: json}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"IAMD_STORE": "/from/env", "IAMD_HTTP_ADDR": "127.0.0.1:2222"}
	for _, tc := range []struct {
		name                 string
		flags                []string
		store, listen, level string
	}{
		{"file and env", nil, "/from/env", "127.0.0.1:2222", "warn"},
		{"flags win", []string{"--store", "/from/flag", "--log-level", "debug"}, "/from/flag", "127.0.0.1:2222", "debug"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := newRunCmd()
			if err := cmd.ParseFlags(append([]string{"--config", file}, tc.flags...)); err != nil {
				t.Fatal(err)
			}
			var o runOptions
			o.config = file
			cfg, err := loadRunConfig(cmd, &o, func(k string) string { return env[k] })
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Store.Dir != tc.store || cfg.HTTP.Listen != tc.listen || cfg.Logging.Level != tc.level || cfg.Logging.Format != "json" {
				t.Errorf("store %q listen %q level %q format %q; want %q %q %q json", cfg.Store.Dir, cfg.HTTP.Listen, cfg.Logging.Level, cfg.Logging.Format, tc.store, tc.listen, tc.level)
			}
		})
	}
	cmd := newRunCmd()
	if err := cmd.ParseFlags([]string{"--listen", "0.0.0.0:8080", "--log-format", "xml"}); err != nil {
		t.Fatal(err)
	}
	_, err := loadRunConfig(cmd, &runOptions{}, func(string) string { return "" })
	if err == nil || !strings.Contains(err.Error(), "http.token: required") || !strings.Contains(err.Error(), "logging.format") {
		t.Fatalf("invalid flags: %v, want both problems", err)
	}
}
