// Command iamd tells which IAM permissions principals actually use, suggests
// least-privilege policies and rotates aged access keys. main only wires
// packages together: it is the one package that imports everything.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() { os.Exit(run()) }

func run() int {
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

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "iamd",
		Short:         "Which IAM permissions are actually used, least-privilege suggestions, safe key rotation",
		SilenceUsage:  true,
		SilenceErrors: true,
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
