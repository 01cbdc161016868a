package main

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/iamd/iamd/analyzer/catalog"
)

// Set by the release build, e.g.
//
//	go build -ldflags "-X main.version=1.2.0 -X main.commit=$(git rev-parse HEAD) -X main.buildDate=$(date -u +%FT%TZ)" ./cmd/iamd
//
// Left empty, they come from the build information Go records (the module
// version with go install, the VCS revision and commit time with go build
// in a checkout).
var (
	version   string
	commit    string
	buildDate string
)

// versionInfo is what `iamd version` prints.
type versionInfo struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	Modified  bool   `json:"modified,omitempty"` // built from a checkout with uncommitted changes
	BuildDate string `json:"buildDate"`
	GoVersion string `json:"goVersion"`
	Platform  string `json:"platform"`
	// Catalog is the npm package the embedded action catalog was
	// generated from, with its version.
	Catalog string `json:"catalog"`
}

// readVersion combines the -ldflags values with the build information.
func readVersion() versionInfo {
	v := versionInfo{
		Version: version, Commit: commit, BuildDate: buildDate,
		GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH,
		Catalog: catalog.DataPackage + "@" + catalog.DataVersion,
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if v.Commit == "" {
					v.Commit = s.Value
				}
			case "vcs.time":
				if v.BuildDate == "" {
					// The commit's time: the build's own time is not
					// recorded, and the commit's makes builds reproducible.
					v.BuildDate = s.Value
				}
			case "vcs.modified":
				v.Modified = v.Modified || (s.Value == "true" && commit == "")
			}
		}
	}
	for _, p := range []*string{&v.Version, &v.Commit, &v.BuildDate} {
		if *p == "" {
			*p = "unknown"
		}
	}
	if v.Version == "unknown" {
		v.Version = "devel"
	}
	return v
}

// String is the one line --version prints.
func (v versionInfo) String() string {
	c := v.Commit
	if len(c) > 12 {
		c = c[:12]
	}
	if v.Modified {
		c += "+modified"
	}
	return fmt.Sprintf("iamd %s (commit %s, built %s, %s %s, catalog %s)", v.Version, c, v.BuildDate, v.GoVersion, v.Platform, v.Catalog)
}

func newVersionCmd() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit, build date, Go version and action catalog version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return writeVersion(cmd.OutOrStdout(), readVersion(), format)
		},
	}
	addFormatFlag(cmd, &format, "output format")
	return cmd
}

func writeVersion(w io.Writer, v versionInfo, format string) error {
	if format == formatJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	c := v.Commit
	if v.Modified {
		c += " (modified)"
	}
	_, err := fmt.Fprintf(w, "version:    %s\ncommit:     %s\nbuilt:      %s\ngo:         %s %s\ncatalog:    %s\n",
		v.Version, c, v.BuildDate, v.GoVersion, v.Platform, v.Catalog)
	return err
}
