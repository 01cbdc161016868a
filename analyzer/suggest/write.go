package suggest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/iamd/iamd/analyzer/iam"
	"github.com/iamd/iamd/analyzer/report"
)

// FolderName is the folder of a principal's suggestion under --out:
// account_kind_name ("111122223333_role_app").
func FolderName(arn string) string {
	if e, ok := entityOf(arn); ok {
		return fileName(e.account + "_" + e.kind + "_" + e.name)
	}
	return fileName(strings.TrimPrefix(arn, "arn:aws:"))
}

// Output is what Write puts in a principal's folder besides the policy
// documents.
type Output struct {
	*Suggestion
	GeneratedCommands Commands `json:"generated_commands"`
	InPlaceCommands   Commands `json:"in_place_commands"`
	// Changes is the difference with the previous run (nil: first run).
	Changes *Diff `json:"changes_since_previous_run,omitempty"`
}

// Write writes the suggestion into dir/FolderName(principal): the policy
// documents of each suggestion that passed its self-check
// (generated-N.json, inplace-NAME.json, with the originals for rollback),
// review.md and suggestion.json. It returns the folder.
func Write(dir string, sg *Suggestion, p *iam.Principal, changes *Diff) (string, error) {
	folder := filepath.Join(dir, FolderName(sg.Principal))
	if err := os.MkdirAll(folder, 0o755); err != nil {
		return "", fmt.Errorf("write suggestion of %s: %w", sg.Principal, err)
	}
	out := Output{Suggestion: sg, GeneratedCommands: GeneratedCommands(sg, p), InPlaceCommands: InPlaceCommands(sg), Changes: changes}
	files := map[string][]byte{}
	genOK := sg.Check.Generated == nil || sg.Check.Generated.Passed
	ipOK := sg.Check.InPlace == nil || sg.Check.InPlace.Passed
	if sg.Generated != nil && genOK {
		for i, d := range sg.Generated.Documents {
			files[fmt.Sprintf("generated-%d.json", i+1)] = indent(d)
		}
	}
	if p != nil {
		for _, in := range p.Inline {
			files["original-"+fileName(in.Name)+".json"] = indentRaw(in.Raw)
		}
	}
	if sg.InPlace != nil && ipOK {
		for _, pc := range sg.InPlace.Policies {
			files["original-"+fileName(pc.Name)+".json"] = indentRaw(pc.Original)
			if pc.Suggested != nil {
				// As rewritten: untouched statements keep their bytes.
				files["inplace-"+fileName(pc.Name)+".json"] = append(append([]byte(nil), pc.Suggested...), '\n')
			}
		}
	}
	files["suggestion.json"] = indent(out)
	var review bytes.Buffer
	writeReview(&review, &out)
	files["review.md"] = review.Bytes()
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(folder, name), data, 0o644); err != nil {
			return "", fmt.Errorf("write suggestion of %s: %w", sg.Principal, err)
		}
	}
	return folder, nil
}

func indent(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	return b.Bytes()
}

func indentRaw(raw []byte) []byte {
	var b bytes.Buffer
	if err := json.Indent(&b, raw, "", "  "); err != nil {
		return raw
	}
	b.WriteByte('\n')
	return b.Bytes()
}

func dayText(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02")
}

func md(s string) string { return strings.NewReplacer("|", `\|`, "*", `\*`, "_", `\_`).Replace(s) }

func stmts(ss []report.Statement) string {
	var out []string
	for _, s := range ss {
		out = append(out, s.Short())
	}
	if len(out) == 0 {
		return "-"
	}
	return strings.Join(out, "; ")
}

// writeReview writes the Markdown a reviewer reads: what goes and why,
// what stays and the evidence, the self-check and the commands.
func writeReview(w io.Writer, o *Output) {
	sg := o.Suggestion
	fmt.Fprintf(w, "# Least-privilege suggestion for %s\n\n", md(sg.Principal))
	fmt.Fprintf(w, "Window %s … %s (%d days).", dayText(sg.Window.Start), dayText(sg.Window.End), sg.Window.Days())
	if sg.Model != "" {
		fmt.Fprintf(w, " Compared with today's grants in: %s.", md(sg.Model))
	}
	fmt.Fprintln(w)
	for _, n := range sg.Notes {
		fmt.Fprintf(w, "\n> %s\n", md(n))
	}
	status := "passed"
	if !sg.Check.Passed {
		status = "**FAILED**: the failed suggestion's documents were not written"
	}
	fmt.Fprintf(w, "\nSelf-check by iamd's policy engine: %s.\n", status)
	if d := o.Changes; d != nil {
		fmt.Fprintf(w, "\n## Changes since the run of %s\n\n", dayText(d.Previous))
		writeList(w, "New in the generated policy", d.GeneratedAdded)
		writeList(w, "Gone from the generated policy", d.GeneratedRemoved)
		writeList(w, "Newly unused (removed in place)", d.RemovedAdded)
		writeList(w, "Used again or no longer granted (no longer removed)", d.RemovedGone)
		fmt.Fprintf(w, "Unchanged: %d generated permissions, %d removals.\n", d.GeneratedUnchanged, d.RemovedUnchanged)
	}
	if len(sg.Removed) > 0 {
		fmt.Fprintf(w, "\n## What goes (%d actions, not used in the window)\n\n| action | access level | resources | granted by | first granted |\n| --- | --- | --- | --- | --- |\n", len(sg.Removed))
		for _, r := range sg.Removed {
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", r.Action, r.Level, md(strings.Join(r.Resources, ", ")), md(stmts(r.GrantedBy)), dayText(r.FirstGranted))
		}
	}
	if len(sg.Kept) > 0 {
		fmt.Fprintf(w, "\n## Kept although unused (%d)\n\n", len(sg.Kept))
		for _, k := range sg.Kept {
			fmt.Fprintf(w, "- %s (%s): %s\n", k.Action, k.Reason, md(k.Detail))
		}
	}
	if len(sg.Evidence) > 0 {
		fmt.Fprintf(w, "\n## What stays: the calls of the window (%d actions)\n\n| action | calls | last used | resources | allowed by |\n| --- | ---: | --- | --- | --- |\n", len(sg.Evidence))
		for _, e := range sg.Evidence {
			var rs []string
			for _, r := range e.Resources {
				rs = append(rs, fmt.Sprintf("%s (%d)", r.Resource, r.Calls))
			}
			fmt.Fprintf(w, "| %s | %d | %s | %s | %s |\n", e.Action, e.Calls, dayText(e.LastUsed), md(strings.Join(rs, ", ")), md(stmts(e.AllowedBy)))
		}
	}
	if s := sg.Sessions; s != nil {
		fmt.Fprintln(w, "\n## Who used it")
		fmt.Fprintln(w)
		for _, x := range s.SourceIdentities {
			fmt.Fprintf(w, "- source identity %s: %d calls (%.0f%%), last %s\n", md(x.Name), x.Calls, 100*x.Share, dayText(x.LastSeen))
		}
		for _, x := range s.SessionNames {
			fmt.Fprintf(w, "- session %s: %d calls (%.0f%%), last %s\n", md(x.Name), x.Calls, 100*x.Share, dayText(x.LastSeen))
		}
	}
	if len(sg.Excluded) > 0 {
		fmt.Fprintln(w, "\n## Observed calls no suggestion grants")
		fmt.Fprintln(w)
		for _, e := range sg.Excluded {
			fmt.Fprintf(w, "- %s\n", md(e))
		}
	}
	fmt.Fprintf(w, "\n## Conditions\n\n%s\n", ConditionsNote)
	writeCheck(w, "generated policy", sg.Check.Generated)
	writeCheck(w, "in-place policies", sg.Check.InPlace)
	writeCommands(w, "Generated policy", o.GeneratedCommands, sg.Check.Generated)
	writeCommands(w, "In place", o.InPlaceCommands, sg.Check.InPlace)
}

func writeList(w io.Writer, title string, list []string) {
	if len(list) == 0 {
		return
	}
	fmt.Fprintf(w, "%s (%d):\n\n", title, len(list))
	for _, x := range list {
		fmt.Fprintf(w, "- %s\n", md(x))
	}
	fmt.Fprintln(w)
}

func writeCheck(w io.Writer, what string, c *CheckResult) {
	if c == nil {
		return
	}
	result := "passed"
	if !c.Passed {
		result = "FAILED"
	}
	fmt.Fprintf(w, "\n## Self-check of the %s: %s (%d engine decisions)\n", what, result, c.Evaluations)
	if len(c.Failures) > 0 {
		fmt.Fprintln(w)
	}
	for _, f := range c.Failures {
		fmt.Fprintf(w, "- %s: %s %s: %s\n", f.Check, f.Action, md(f.Resource), md(f.Detail))
	}
}

func writeCommands(w io.Writer, what string, c Commands, check *CheckResult) {
	if len(c.Apply) == 0 || (check != nil && !check.Passed) {
		return
	}
	fmt.Fprintf(w, "\n## %s: apply (printed, never run by iamd)\n\n```sh\n%s\n```\n", what, strings.Join(c.Apply, "\n"))
	if len(c.Rollback) > 0 {
		fmt.Fprintf(w, "\nRoll back:\n\n```sh\n%s\n```\n", strings.Join(c.Rollback, "\n"))
	}
}
