package ui

import (
	"fmt"
	"sort"

	"github.com/iamd/iamd/analyzer/report"
)

// segment is one coloured part of a stacked bar, in SVG units.
type segment struct {
	X, Y, W int
	Class   string
	Title   string
}

// part is one quantity of a stacked bar.
type part struct {
	N     int
	Class string
	Label string
}

// stack splits width among the parts in proportion (largest remainder,
// so the widths add up to width exactly), giving every non-zero part at
// least one unit so that it stays visible.
func stack(width int, parts ...part) []segment {
	total := 0
	for _, p := range parts {
		total += p.N
	}
	if total == 0 || width <= 0 {
		return nil
	}
	ws := make([]int, len(parts))
	type rem struct {
		i int
		r float64
	}
	var rems []rem
	used := 0
	for i, p := range parts {
		exact := float64(p.N) * float64(width) / float64(total)
		ws[i] = int(exact)
		if p.N > 0 && ws[i] == 0 {
			ws[i] = 1
		}
		used += ws[i]
		rems = append(rems, rem{i, exact - float64(int(exact))})
	}
	sort.SliceStable(rems, func(a, b int) bool { return rems[a].r > rems[b].r })
	for k := 0; used < width; k = (k + 1) % len(rems) {
		if parts[rems[k].i].N > 0 {
			ws[rems[k].i]++
			used++
		}
	}
	for used > width { // minimum widths overshot: take from the widest
		widest := 0
		for i := range ws {
			if ws[i] > ws[widest] {
				widest = i
			}
		}
		ws[widest]--
		used--
	}
	var out []segment
	x := 0
	for i, p := range parts {
		if ws[i] > 0 {
			out = append(out, segment{X: x, W: ws[i], Class: p.Class, Title: fmt.Sprintf("%s: %d", p.Label, p.N)})
		}
		x += ws[i]
	}
	return out
}

// barWidth is the width of a principal's used / unused / unobservable bar.
const barWidth = 200

func grantBar(used, unusedN, unobservable int) []segment {
	return stack(barWidth, part{used, "used", "used"}, part{unusedN, "unused", "unused"}, part{unobservable, "unobs", "unobservable"})
}

// serviceChart is a principal's used / unused / unobservable actions per
// service, one bar per service, each bar the service's granted actions.
type serviceChart struct {
	Width, Height int
	LabelX, BarX  int
	BarW, NumX    int
	Rows          []serviceRow
}

type serviceRow struct {
	Y, TextY                     int
	Service                      string
	Used, Unused, Other, Granted int
	Segs                         []segment
}

const (
	chartRowH   = 24
	chartLabelW = 170
	chartBarW   = 360
)

// newServiceChart lays out the chart: services with the most unused
// actions first. Other are granted actions neither used nor unused: those
// CloudTrail cannot show.
func newServiceChart(p *report.PrincipalReport) *serviceChart {
	unusedBy := map[string]int{}
	for _, a := range p.Unused {
		unusedBy[a.Service]++
	}
	var rows []serviceRow
	for _, s := range p.Utilisation.Services {
		un := unusedBy[s.Service]
		other := max(s.Granted-s.Used-un, 0)
		rows = append(rows, serviceRow{Service: s.Service, Used: s.Used, Unused: un, Other: other, Granted: s.Granted})
	}
	if len(rows) == 0 {
		return nil
	}
	sort.SliceStable(rows, func(i, j int) bool {
		if rows[i].Unused != rows[j].Unused {
			return rows[i].Unused > rows[j].Unused
		}
		return rows[i].Service < rows[j].Service
	})
	c := &serviceChart{LabelX: chartLabelW - 8, BarX: chartLabelW, BarW: chartBarW, NumX: chartLabelW + chartBarW + 10}
	c.Width = c.NumX + 130
	for i := range rows {
		r := &rows[i]
		r.Y = i*chartRowH + 4
		r.TextY = r.Y + 12
		r.Segs = stack(chartBarW, part{r.Used, "used", "used"}, part{r.Unused, "unused", "unused"}, part{r.Other, "unobs", "unobservable"})
		for k := range r.Segs {
			r.Segs[k].X += c.BarX
			r.Segs[k].Y = r.Y
		}
	}
	c.Rows = rows
	c.Height = len(rows)*chartRowH + 4
	return c
}
