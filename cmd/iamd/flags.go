package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Output formats every command that prints a report accepts.
const (
	formatTable = "table"
	formatJSON  = "json"
	// formatMarkdown is for the reports a reviewer reads (report, unused).
	formatMarkdown = "md"
)

// formatValue is a --format flag: checked when the flags are parsed, so
// a bad format fails before anything is opened or created.
type formatValue struct {
	p       *string
	allowed []string // default: table and json
}

func (f formatValue) String() string {
	if f.p == nil {
		return ""
	}
	return *f.p
}
func (f formatValue) Type() string { return "format" }
func (f formatValue) Set(s string) error {
	if err := checkFormat(s, f.allowed...); err != nil {
		return err
	}
	*f.p = s
	return nil
}

// checkFormat accepts the output formats: allowed, or table and json when
// none are given.
func checkFormat(s string, allowed ...string) error {
	if len(allowed) == 0 {
		allowed = []string{formatTable, formatJSON}
	}
	if slices.Contains(allowed, s) {
		return nil
	}
	return fmt.Errorf("--format %q: want %s", s, formatList(allowed))
}

// formatList is "table or json", "table, json or md".
func formatList(allowed []string) string {
	if len(allowed) == 1 {
		return allowed[0]
	}
	return strings.Join(allowed[:len(allowed)-1], ", ") + " or " + allowed[len(allowed)-1]
}

// addFormatFlag adds --format (shorthand -o, also spelt --output as in
// the AWS CLI and kubectl) to cmd's flags, writing to p, default table;
// allowed are the formats (default table and json).
func addFormatFlag(cmd *cobra.Command, p *string, usage string, allowed ...string) {
	addFormatFlagTo(cmd.Flags(), p, usage, allowed...)
}

// addFormatFlagTo is addFormatFlag on a flag set of one's choice (a
// command's persistent flags).
func addFormatFlagTo(f *pflag.FlagSet, p *string, usage string, allowed ...string) {
	*p = formatTable
	if len(allowed) == 0 {
		allowed = []string{formatTable, formatJSON}
	}
	f.VarP(formatValue{p, allowed}, "format", "o", usage+": "+formatList(allowed)+" (also --output)")
	f.SetNormalizeFunc(outputAlias)
}

// outputAlias reads --output as --format.
func outputAlias(_ *pflag.FlagSet, name string) pflag.NormalizedName {
	if name == "output" {
		name = "format"
	}
	return pflag.NormalizedName(name)
}

// parseDuration reads a duration in days ("30d") or as Go writes one
// ("720h", "90s"). Every duration flag takes both: retention and ages are
// thought of in days.
func parseDuration(s string) (time.Duration, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseFloat(d, 64)
		if err != nil || n < 0 || n > 100*365 {
			return 0, fmt.Errorf("%q: want a number of days like 30d, or a duration like 720h", s)
		}
		return time.Duration(n * float64(24*time.Hour)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q: want a number of days like 30d, or a duration like 720h", s)
	}
	return d, nil
}

// durationValue is a duration flag that also takes days (parseDuration).
type durationValue time.Duration

func (d *durationValue) String() string { return formatDuration(time.Duration(*d)) }
func (d *durationValue) Type() string   { return "duration" }
func (d *durationValue) Set(s string) error {
	v, err := parseDuration(s)
	if err != nil {
		return err
	}
	*d = durationValue(v)
	return nil
}

// formatDuration prints whole days as days, as they were most likely
// given.
func formatDuration(d time.Duration) string {
	if d != 0 && d%(24*time.Hour) == 0 {
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	}
	return d.String()
}

// durationFlag adds a duration flag that takes days to f.
func durationFlag(f *pflag.FlagSet, p *time.Duration, name string, value time.Duration, usage string) {
	*p = value
	f.Var((*durationValue)(p), name, usage)
}

// writeJSON writes v as indented JSON, the form of every command's -o json.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
