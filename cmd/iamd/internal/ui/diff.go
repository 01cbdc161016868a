package ui

import (
	"bytes"
	"encoding/json"
	"strings"
)

// diffLine is one line of a unified diff: Op is ' ', '-' or '+', or '…'
// for unchanged lines left out.
type diffLine struct {
	Op   string
	Text string
}

// Class is the line's CSS class.
func (l diffLine) Class() string {
	switch l.Op {
	case "-":
		return "del"
	case "+":
		return "add"
	case "…":
		return "gap"
	}
	return "ctx"
}

// diffContext is how many unchanged lines are kept around a change.
const diffContext = 3

// lineDiff is the shortest edit from a to b (longest common subsequence;
// policies are a few hundred lines at most), with unchanged runs longer
// than the context folded into one "…" line.
func lineDiff(a, b []string) []diffLine {
	n, m := len(a), len(b)
	lcs := make([][]int, n+1)
	for i := range lcs {
		lcs[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var all []diffLine
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && a[i] == b[j]:
			all = append(all, diffLine{" ", a[i]})
			i, j = i+1, j+1
		case i < n && (j == m || lcs[i+1][j] >= lcs[i][j+1]):
			all = append(all, diffLine{"-", a[i]})
			i++
		default:
			all = append(all, diffLine{"+", b[j]})
			j++
		}
	}
	return fold(all)
}

// fold keeps diffContext unchanged lines on each side of a change.
func fold(all []diffLine) []diffLine {
	keep := make([]bool, len(all))
	for k, l := range all {
		if l.Op != " " {
			for d := max(0, k-diffContext); d <= min(len(all)-1, k+diffContext); d++ {
				keep[d] = true
			}
		}
	}
	var out []diffLine
	for k, l := range all {
		if keep[k] {
			out = append(out, l)
		} else if len(out) == 0 || out[len(out)-1].Op != "…" {
			out = append(out, diffLine{"…", ""})
		}
	}
	return out
}

// policyLines is a policy document indented two spaces, one line each;
// nil for no document.
func policyLines(doc json.RawMessage) []string {
	if len(bytes.TrimSpace(doc)) == 0 || string(bytes.TrimSpace(doc)) == "null" {
		return nil
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, doc, "", "  "); err != nil {
		return strings.Split(string(doc), "\n")
	}
	return strings.Split(buf.String(), "\n")
}
