package main

import (
	"errors"
	"fmt"
	"os"
	"runtime/pprof"

	"github.com/spf13/cobra"
)

// profiles are the --cpuprofile and --memprofile of one command: for
// performance work on real input (docs/performance.md says which figures
// were profiled this way).
type profiles struct {
	cpu     *os.File
	memPath string
}

func (p *profiles) addFlags(root *cobra.Command) {
	root.PersistentFlags().String("cpuprofile", "", "write a CPU profile of the command to `FILE` (go tool pprof)")
	root.PersistentFlags().String("memprofile", "", "write a heap profile to `FILE` when the command ends (go tool pprof)")
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error { return p.start(cmd) }
	root.PersistentPostRunE = func(*cobra.Command, []string) error { return p.stop() }
}

func (p *profiles) start(cmd *cobra.Command) error {
	p.memPath, _ = cmd.Flags().GetString("memprofile")
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
	p.cpu = f
	return nil
}

// stop ends the CPU profile and writes the heap profile. It runs after a
// successful command (PersistentPostRunE) and again after any command,
// since cobra skips the post-run hook when the command fails (^C on a
// backfill is when a profile is wanted most); the second call does
// nothing.
func (p *profiles) stop() error {
	var errs []error
	if p.cpu != nil {
		pprof.StopCPUProfile()
		errs = append(errs, p.cpu.Close())
		p.cpu = nil
	}
	if p.memPath != "" {
		errs = append(errs, writeHeapProfile(p.memPath))
		p.memPath = ""
	}
	return errors.Join(errs...)
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
