package unused

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteJSON writes the result as indented JSON.
func WriteJSON(w io.Writer, r *Result) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

func lastText(f Finding) string {
	if f.Type == TypePermissions {
		return "-"
	}
	if f.LastUsed.IsZero() {
		return "never"
	}
	return f.LastUsed.UTC().Format("2006-01-02") + " (" + f.LastUsedFrom + ")"
}

func what(f Finding) string {
	if f.AccessKeyID != "" {
		return f.AccessKeyID
	}
	if len(f.Services) == 0 {
		return "-"
	}
	var parts []string
	for _, s := range f.Services {
		if s.Unused {
			parts = append(parts, s.Service+" (service unused)")
		} else {
			parts = append(parts, fmt.Sprintf("%s: %s", s.Service, strings.Join(s.Actions, " ")))
		}
	}
	return strings.Join(parts, "; ")
}

// WriteTable writes one line per finding.
func WriteTable(w io.Writer, r *Result) error {
	fmt.Fprintf(w, "window %s … %s: %d findings\n", r.Window.Start.UTC().Format(time.RFC3339), r.Window.End.UTC().Format(time.RFC3339), len(r.Findings))
	if len(r.Excluded) > 0 {
		fmt.Fprintf(w, "excluded: %s\n", strings.Join(r.Excluded, ", "))
	}
	if len(r.Findings) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nTYPE\tSTATUS\tPRINCIPAL\tLAST USED\tWHAT\tDETAIL")
	for _, f := range r.Findings {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", f.Type, f.Status, f.Principal, lastText(f), what(f), f.Detail)
	}
	return tw.Flush()
}

// WriteMarkdown writes the findings as a Markdown table.
func WriteMarkdown(w io.Writer, r *Result) error {
	fmt.Fprintf(w, "# Unused access\n\nWindow %s … %s, %d findings.\n\n", r.Window.Start.UTC().Format(time.RFC3339), r.Window.End.UTC().Format(time.RFC3339), len(r.Findings))
	if len(r.Findings) == 0 {
		return nil
	}
	fmt.Fprintln(w, "| type | status | principal | last used | what | detail |\n| --- | --- | --- | --- | --- | --- |")
	esc := strings.NewReplacer("|", `\|`, "*", `\*`, "_", `\_`)
	for _, f := range r.Findings {
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |\n", f.Type, f.Status, esc.Replace(f.Principal), lastText(f), esc.Replace(what(f)), esc.Replace(f.Detail))
	}
	return nil
}
