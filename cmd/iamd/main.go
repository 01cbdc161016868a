// Command iamd tells which IAM permissions principals actually use, suggests
// least-privilege policies and rotates aged access keys. main only wires
// packages together: it is the one package that imports everything.
package main

import (
	"context"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/spf13/cobra"
)

func main() { os.Exit(run()) }

// defaultMemoryLimit is the Go heap's soft limit when GOMEMLIMIT is unset.
// Badger's caches and memtables are bounded by the store options, but
// without a limit the collector lets garbage from decoding pile up to
// twice the live heap; 192 MiB keeps the Go part of a long backfill near
// 200 MB of RSS. Badger's memory-mapped files come on top, in proportion
// to the store (docs/performance.md, "Generated backfill").
const defaultMemoryLimit = 192 << 20

func run() int {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root, prof := newRoot()
	return execute(ctx, root, prof, os.Stderr)
}

func newRootCmd() *cobra.Command {
	root, _ := newRoot()
	return root
}

// newRoot builds the command tree and the profiles its flags start; run
// stops them whether or not the command succeeded.
func newRoot() (*cobra.Command, *profiles) {
	prof := &profiles{}
	root := &cobra.Command{
		Use:           "iamd",
		Short:         "Which IAM permissions are actually used, least-privilege suggestions, safe key rotation",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       readVersion().String(),
	}
	root.SetVersionTemplate("{{.Version}}\n")
	prof.addFlags(root)
	// Subcommands, one file each; add one line per command.
	root.AddCommand(newSimulateCmd())
	root.AddCommand(newIngestCmd())
	root.AddCommand(newUsageCmd())
	root.AddCommand(newQuarantineCmd())
	root.AddCommand(newGrantedCmd())
	root.AddCommand(newAuditCmd())
	root.AddCommand(newGenTrailCmd())
	root.AddCommand(newRepublishCmd())
	root.AddCommand(newSnapshotCmd())
	root.AddCommand(newStoreCmd())
	root.AddCommand(newVersionCmd())
	root.AddCommand(newRotateCmd())
	root.AddCommand(newReportCmd())
	root.AddCommand(newUnusedCmd())
	root.AddCommand(newSuggestCmd())
	root.AddCommand(newJobsCmd())
	root.AddCommand(newRunCmd())
	root.AddCommand(newConfigCmd())
	root.AddCommand(newHealthCmd())
	root.AddCommand(newLoadCmd())
	root.AddCommand(newDemoCmd())
	return root, prof
}
