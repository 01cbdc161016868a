// Package difftest checks that iamd's policy engine (analyzer/policy) decides
// like an independent reference engine, the npm package
// @cloud-copilot/iam-simulate, on thousands of generated policy/request
// pairs, and measures how much faster ours is.
//
// Generate makes seeded, reproducible cases in the policycase format (the
// format of the shared AWS IAM User Guide cases and of iam-simulate's
// coreEngineTests). Reference runs them through the pinned package in one
// Node process (node/driver.js), installed by node/install.sh into
// IAMD_NODE_CACHE. Known reference bugs are excluded by the precise predicate
// KnownDifference, documented in KNOWN_DIFFERENCES.md.
//
// It imports analyzer/policy and analyzer/policy/policycase only; nothing
// else in iamd imports it.
package difftest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/iamd/iamd/analyzer/policy/policycase"
)

// Case is a policy-evaluation case (the shared cases.json format).
type Case = policycase.Case

// OrgLevel is one level of SCPs or RCPs in a Case.
type OrgLevel = policycase.OrgLevel

// CacheEnv names the variable that points at the reference install; its
// default is $HOME/.cache/iamd/iam-simulate (see node/install.sh).
const CacheEnv = "IAMD_NODE_CACHE"

// ErrNoReference means node or the reference package is not installed.
var ErrNoReference = errors.New("reference engine not installed")

// CacheDir returns the reference install directory: $IAMD_NODE_CACHE, or
// $HOME/.cache/iamd/iam-simulate.
func CacheDir() (string, error) {
	if d := os.Getenv(CacheEnv); d != "" {
		return d, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find reference cache: %w", err)
	}
	return filepath.Join(home, ".cache", "iamd", "iam-simulate"), nil
}

// RefOutcome is the reference's answer for one case, one line of the
// driver's output.
type RefOutcome struct {
	Line     int    `json:"line"`
	ID       string `json:"id,omitempty"`
	Decision string `json:"decision"`
	// Error is set when the reference rejected the case (Decision "Error").
	Error string `json:"error,omitempty"`
	// IgnoredContextKeys are request keys the reference dropped because
	// they are not valid for the action; a generated case must have none.
	IgnoredContextKeys []string `json:"ignoredContextKeys,omitempty"`
	// Wildcard is true when the reference ran a wildcard-resource
	// simulation (a resource ARN with *), which generated cases avoid.
	Wildcard bool     `json:"wildcard,omitempty"`
	Allows   []string `json:"allows,omitempty"`
	Denies   []string `json:"denies,omitempty"`
}

// Reference runs the node driver.
type Reference struct {
	node   string
	driver string
	cache  string
}

// NewReference finds node and the installed reference package. driver is
// the path of node/driver.js. It returns an error wrapping ErrNoReference
// when either is missing, so tests can skip with that message.
func NewReference(driver string) (*Reference, error) {
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, fmt.Errorf("%w: node not on PATH", ErrNoReference)
	}
	cache, err := CacheDir()
	if err != nil {
		return nil, err
	}
	pkg := filepath.Join(cache, "node_modules", "@cloud-copilot", "iam-simulate", "package.json")
	if _, err := os.Stat(pkg); err != nil {
		return nil, fmt.Errorf("%w: %s missing (run analyzer/policy/difftest/node/install.sh)", ErrNoReference, pkg)
	}
	if _, err := os.Stat(driver); err != nil {
		return nil, fmt.Errorf("reference driver: %w", err)
	}
	return &Reference{node: node, driver: driver, cache: cache}, nil
}

// Version returns the installed reference package's version.
func (r *Reference) Version() (string, error) {
	data, err := os.ReadFile(filepath.Join(r.cache, "node_modules", "@cloud-copilot", "iam-simulate", "package.json"))
	if err != nil {
		return "", fmt.Errorf("read reference version: %w", err)
	}
	var p struct {
		Version string `json:"version"`
	}
	if err := json.Unmarshal(data, &p); err != nil {
		return "", fmt.Errorf("decode reference package.json: %w", err)
	}
	return p.Version, nil
}

func (r *Reference) command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, r.node, append([]string{r.driver}, args...)...)
	cmd.Env = append(os.Environ(), "NODE_PATH="+filepath.Join(r.cache, "node_modules"))
	return cmd
}

// Decide runs every case through one driver process and returns the
// outcomes in case order.
func (r *Reference) Decide(ctx context.Context, cases []Case) ([]RefOutcome, error) {
	cmd := r.command(ctx)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("reference stdin: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("reference stdout: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start reference: %w", err)
	}
	werr := make(chan error, 1)
	go func() { werr <- writeLines(stdin, cases) }()

	out := make([]RefOutcome, 0, len(cases))
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	var derr error
	for sc.Scan() {
		var o RefOutcome
		if err := json.Unmarshal(sc.Bytes(), &o); err != nil {
			derr = fmt.Errorf("decode reference line %d: %w", len(out)+1, err)
			// Stop the driver; Wait below reaps it.
			cmd.Process.Kill()
			io.Copy(io.Discard, stdout)
			break
		}
		out = append(out, o)
	}
	if derr != nil {
		<-werr
		cmd.Wait()
		return nil, derr
	}
	errs := []error{sc.Err(), <-werr, cmd.Wait()}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("reference: %w (stderr: %s)", err, strings.TrimSpace(stderr.String()))
	}
	if len(out) != len(cases) {
		return nil, fmt.Errorf("reference answered %d of %d cases (stderr: %s)", len(out), len(cases), strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// BenchResult is the driver's timing report.
type BenchResult struct {
	Cases              int     `json:"cases"`
	Decisions          int     `json:"decisions"`
	Seconds            float64 `json:"seconds"`
	DecisionsPerSecond float64 `json:"decisionsPerSecond"`
	// CPUSeconds is the Node process's user+system time in the timed loop.
	CPUSeconds            float64 `json:"cpuSeconds"`
	DecisionsPerCPUSecond float64 `json:"decisionsPerCpuSecond"`
}

// Bench times the reference on cases, looping for at least seconds on one
// Node thread after a warm-up pass.
func (r *Reference) Bench(ctx context.Context, cases []Case, seconds float64) (BenchResult, error) {
	cmd := r.command(ctx, "--bench", fmt.Sprint(seconds))
	var in, stdout, stderr bytes.Buffer
	if err := writeLines(nopCloser{&in}, cases); err != nil {
		return BenchResult{}, err
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = &in, &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return BenchResult{}, fmt.Errorf("reference bench: %w (stderr: %s)", err, strings.TrimSpace(stderr.String()))
	}
	var b BenchResult
	if err := json.Unmarshal(stdout.Bytes(), &b); err != nil {
		return BenchResult{}, fmt.Errorf("decode reference bench: %w", err)
	}
	return b, nil
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

func writeLines(w io.WriteCloser, cases []Case) error {
	bw := bufio.NewWriterSize(w, 1<<16)
	for i := range cases {
		b, err := json.Marshal(&cases[i])
		if err != nil {
			w.Close()
			return fmt.Errorf("encode case %d: %w", i, err)
		}
		bw.Write(b)
		bw.WriteByte('\n')
	}
	if err := bw.Flush(); err != nil {
		w.Close()
		return fmt.Errorf("write cases to reference: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("close reference stdin: %w", err)
	}
	return nil
}
