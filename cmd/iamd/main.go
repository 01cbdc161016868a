// Command iamd tells which IAM permissions principals actually use, suggests
// least-privilege policies and rotates aged access keys. main only wires
// packages together: it is the one package that imports everything.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"syscall"

	"github.com/spf13/cobra"
)

func main() { os.Exit(run()) }

// defaultMemoryLimit is the Go heap's soft limit when GOMEMLIMIT is unset.
// Badger's caches and memtables are bounded by the store options, but
// without a limit the collector lets garbage from decoding pile up to
// twice the live heap; 192 MiB keeps a long backfill near 256 MiB of RSS.
const defaultMemoryLimit = 192 << 20

func run() int {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRootCmd()
	if err := root.ExecuteContext(ctx); err != nil {
		var ex exitError
		if asExit(err, &ex) {
			return ex.code
		}
		fmt.Fprintln(os.Stderr, "iamd:", err)
		return 1
	}
	return 0
}

// writeHeapProfile writes the heap profile (in-use and allocated) to path.
func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("heap profile: %w", err)
	}
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		f.Close()
		return fmt.Errorf("heap profile %s: %w", path, err)
	}
	return f.Close()
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "iamd",
		Short:         "Which IAM permissions are actually used, least-privilege suggestions, safe key rotation",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	// A CPU profile of any command, for performance work on real input
	// (docs/performance.md says how the figures there were profiled).
	var profile *os.File
	root.PersistentFlags().String("cpuprofile", "", "write a CPU profile of the command to `FILE` (go tool pprof)")
	root.PersistentFlags().String("memprofile", "", "write a heap profile to `FILE` when the command ends (go tool pprof)")
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		path, _ := cmd.Flags().GetString("cpuprofile")
		if path == "" {
			return nil
		}
		f, err := os.Create(path)
		if err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return fmt.Errorf("cpu profile %s: %w", path, err)
		}
		profile = f
		return nil
	}
	root.PersistentPostRunE = func(cmd *cobra.Command, _ []string) error {
		var errs []error
		if profile != nil {
			pprof.StopCPUProfile()
			errs = append(errs, profile.Close())
			profile = nil
		}
		if path, _ := cmd.Flags().GetString("memprofile"); path != "" {
			errs = append(errs, writeHeapProfile(path))
		}
		return errors.Join(errs...)
	}
	// Subcommands, one file each; add one line per command.
	root.AddCommand(newSimulateCmd())
	root.AddCommand(newIngestCmd())
	root.AddCommand(newUsageCmd())
	root.AddCommand(newGrantedCmd())
	root.AddCommand(newAuditCmd())
	root.AddCommand(newGenTrailCmd())
	root.AddCommand(newRepublishCmd())
	root.AddCommand(newSnapshotCmd())
	return root
}
