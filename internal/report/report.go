// Package report writes nfx's one-page HTML report: each stage's
// architecture drawn from the model, the monthly cost of each stage as a
// chart, and the diff between consecutive stages. The page is
// self-contained: no script, style or font is fetched.
package report

import (
	"bytes"
	"fmt"
	"math"
	"strings"

	"github.com/nextflow-crm/nfx/internal/compliance"
	"github.com/nextflow-crm/nfx/internal/migrate"
	"github.com/nextflow-crm/nfx/internal/model"
	"github.com/nextflow-crm/nfx/internal/stagediff"
)

// Stage is what the report shows of one stage: what a diff compares.
type Stage = stagediff.Side

// box is one part in a stage's diagram.
type box struct {
	X, Y, W, H int
	Title      string
	Lines      []string
}

type diagram struct {
	Name     string
	Runtime  string
	Width    int
	Height   int
	Boxes    []box
	Arrows   []arrow
	Subtitle string
}

type arrow struct{ X1, Y1, X2, Y2 int }

type bar struct {
	Name         string
	X, Y, W, H   int
	Label        string
	MaxY, MaxH   int
	HasMax       bool
	MaxLabel     string
	LabelX       int
	ValueY       int
	MaxLabelY    int
	StageLabelY  int
	Total, Max   float64
	OneTimeLabel string
}

type page struct {
	// LineY are the vertical offsets of a box's text lines.
	LineY    []int
	Diagrams []diagram
	Bars     []bar
	ChartW   int
	ChartH   int
	Diffs    []*stagediff.Diff
	Capacity []capRow
	// Compliance is each stage's compliance counts and failing controls.
	Compliance []compRow
	Currency   string
	// Migrations are the migration records.
	Migrations []*migrate.Journal
}

// wrap breaks text into lines of at most n characters.
func wrap(s string, n int) []string {
	var lines []string
	var cur string
	for _, w := range strings.Fields(s) {
		if cur != "" && len(cur)+1+len(w) > n {
			lines = append(lines, cur)
			cur = w
			continue
		}
		if cur != "" {
			cur += " "
		}
		cur += w
	}
	if cur != "" {
		lines = append(lines, cur)
	}
	return lines
}

// rows are the diagram's rows by part kind: the edge on top, the apps and
// the AI in the middle, the data stores below.
var rows = [][]model.Kind{
	{model.KindEdge},
	{model.KindWeb, model.KindWorker, model.KindAI},
	{model.KindDatabase, model.KindCache, model.KindVector},
}

// perRow is how many boxes fit across the diagram.
const perRow = 3

// layout draws a stage from its parts: rows by kind, three boxes across,
// an arrow from the edge to each public app and from each part to the
// parts it needs.
func layout(s Stage) diagram {
	prof, _ := model.ProfileOf(s.Config.Stage)
	d := diagram{Name: string(s.Config.Stage), Runtime: prof.Runtime, Width: 760}
	app := model.Build(s.Config)
	text := map[string]string{}
	for _, p := range s.Describe {
		text[p.Name] = p.Text
	}
	at := map[string]box{}
	y := 10
	for _, kinds := range rows {
		var names []string
		for _, k := range kinds {
			for _, p := range app.PartsOf(k) {
				if _, ok := text[p.Name]; ok {
					names = append(names, p.Name)
				}
			}
		}
		for len(names) > 0 {
			n := min(perRow, len(names))
			line := names[:n]
			names = names[n:]
			gap := (d.Width - n*230) / (n + 1)
			for i, name := range line {
				lines := wrap(text[name], 34)
				if len(lines) > 4 {
					lines = append(lines[:3], lines[3]+" …")
				}
				b := box{X: gap + i*(230+gap), Y: y, W: 230, H: 100, Title: name, Lines: lines}
				at[name] = b
				d.Boxes = append(d.Boxes, b)
			}
			y += 150
		}
	}
	d.Height = y - 20
	link := func(from, to box) {
		switch {
		case from.Y == to.Y && from.X < to.X:
			d.Arrows = append(d.Arrows, arrow{from.X + from.W, from.Y + from.H/2, to.X, to.Y + to.H/2})
		case from.Y == to.Y:
			d.Arrows = append(d.Arrows, arrow{from.X, from.Y + from.H/2, to.X + to.W, to.Y + to.H/2})
		case from.Y < to.Y:
			d.Arrows = append(d.Arrows, arrow{from.X + from.W/2, from.Y + from.H, to.X + to.W/2, to.Y})
		default:
			d.Arrows = append(d.Arrows, arrow{from.X + from.W/2, from.Y, to.X + to.W/2, to.Y + to.H})
		}
	}
	for _, p := range app.Parts {
		src, ok := at[p.Name]
		if !ok {
			continue
		}
		if p.Kind == model.KindEdge {
			for _, q := range app.PublicParts() {
				if dst, ok := at[q.Name]; ok {
					link(src, dst)
				}
			}
			continue
		}
		seen := map[string]bool{}
		for _, e := range p.Needs {
			q, ok := app.Offering(e)
			if !ok || seen[q.Name] {
				continue
			}
			seen[q.Name] = true
			if dst, ok := at[q.Name]; ok {
				link(src, dst)
			}
		}
	}
	d.Subtitle = fmt.Sprintf("%s · designed for %d%s concurrent users · %.2f %% uptime", prof.Runtime, prof.Users[0], usersMax(prof), prof.Uptime)
	return d
}

func usersMax(p model.Profile) string {
	if p.Users[1] == 0 {
		return "+"
	}
	return fmt.Sprintf("-%d", p.Users[1])
}

// Render writes the report for the stages, in growth order.
//
// migrations are the project's migration records, shown with their sizes,
// durations, write downtime and verification.
func Render(stages []Stage, migrations []*migrate.Journal) ([]byte, error) {
	if len(stages) == 0 {
		return nil, fmt.Errorf("report: no stages")
	}
	pg := page{ChartW: 760, ChartH: 300, Currency: stages[0].Cost.Currency, LineY: []int{40, 56, 72, 88}, Migrations: migrations}
	var maxV float64
	for _, s := range stages {
		pg.Diagrams = append(pg.Diagrams, layout(s))
		pg.Capacity = append(pg.Capacity, capacityRow(s))
		if r := s.Compliance; r != nil {
			row := compRow{Stage: r.Stage, Pass: r.Counts[compliance.Pass], Fail: r.Counts[compliance.Fail], Outside: r.Counts[compliance.Outside], Manual: r.Counts[compliance.Manual]}
			for _, f := range r.Failed() {
				row.Failing = append(row.Failing, f.ID)
			}
			pg.Compliance = append(pg.Compliance, row)
		}
		maxV = math.Max(maxV, math.Max(s.Cost.MonthlyTotal, s.Cost.MonthlyMax))
	}
	plot := 220.0
	for i, s := range stages {
		x := 90 + i*220
		h := int(s.Cost.MonthlyTotal / maxV * plot)
		b := bar{Name: string(s.Config.Stage), X: x, W: 90, H: max(h, 1), Y: 250 - max(h, 1),
			Label: short(s.Cost.MonthlyTotal), LabelX: x + 45, StageLabelY: 270, Total: s.Cost.MonthlyTotal, Max: s.Cost.MonthlyMax}
		b.ValueY = b.Y - 6
		if s.Cost.MonthlyMax > s.Cost.MonthlyTotal*1.001 {
			mh := int(s.Cost.MonthlyMax / maxV * plot)
			b.HasMax, b.MaxH, b.MaxY, b.MaxLabel = true, mh, 250-mh, "max "+short(s.Cost.MonthlyMax)
			b.MaxLabelY = b.MaxY - 6
			b.ValueY = b.Y + 16
		}
		if s.Cost.OneTimeTotal > 0 {
			b.OneTimeLabel = "+ " + short(s.Cost.OneTimeTotal) + " one-time"
		}
		pg.Bars = append(pg.Bars, b)
	}
	for i := 0; i+1 < len(stages); i++ {
		a, b := stages[i], stages[i+1]
		pg.Diffs = append(pg.Diffs, stagediff.Compute(a, b))
	}
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, pg); err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	return buf.Bytes(), nil
}

// short writes an amount as thousands, millions or billions.
func short(v float64) string {
	switch {
	case v >= 1e9:
		return fmt.Sprintf("%.2fB", v/1e9)
	case v >= 1e6:
		return fmt.Sprintf("%.1fM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.1fk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}

// compRow is one stage's line of the compliance table.
type compRow struct {
	Stage                       string
	Pass, Fail, Outside, Manual int
	Failing                     []string
}

// capRow is one stage's line of the capacity table.
type capRow struct {
	Stage, Users, AI, Response, Uptime, Seed, Note string
}

func capacityRow(s Stage) capRow {
	r := capRow{Stage: string(s.Config.Stage)}
	e := s.Capacity
	if e == nil {
		r.Note = "not estimated"
		return r
	}
	r.Users = fmt.Sprintf("%d", e.ConcurrentUsers)
	r.AI = fmt.Sprintf("%.1f", e.AIRequestsPerSecond)
	r.Response = fmt.Sprintf("%.2f s", e.ResponseSeconds)
	// Three decimals: 99.985 is not the seed's 99.99.
	r.Uptime = fmt.Sprintf("%.3f %%", e.UptimePercent)
	var seed []string
	for _, c := range e.Seed {
		mark := "✓"
		if !c.Within {
			mark = "✗"
		}
		seed = append(seed, fmt.Sprintf("%s %s %s", mark, c.Metric, c.Seed))
	}
	r.Seed = strings.Join(seed, "; ")
	if x := e.Reach; x != nil {
		var need []string
		if x.MoreGPUs > 0 {
			n := fmt.Sprintf("%.0f AI requests/s: %d more GPU nodes", x.AIRequestsPerSecond, x.MoreGPUs)
			if x.APIBudget > 0 {
				n += fmt.Sprintf(" or an AI API budget of %s VND a month", short(x.APIBudget))
			}
			need = append(need, n)
		}
		if x.CRMReplicas > 0 {
			need = append(need, fmt.Sprintf("%d CRM replicas", x.CRMReplicas))
		}
		r.Note = "the seed's figures need " + strings.Join(need, "; ")
	}
	if sb := e.Standby; sb != nil {
		n := "the data also in " + sb.Region + ", no cluster there: the uptime is one region's"
		if sb.FailoverMinutes > 0 {
			n = fmt.Sprintf("two regions (a warm cluster in %s): the uptime counts %.0f-minute failovers", sb.Region, sb.FailoverMinutes)
			if sb.FailoverMinutesForSeed > 0 && sb.FailoverMinutesForSeed < sb.FailoverMinutes {
				n += fmt.Sprintf("; the seed's takes them within %.0f", sb.FailoverMinutesForSeed)
			}
		}
		if r.Note != "" {
			r.Note += "; "
		}
		r.Note += n
	}
	for _, g := range e.Engines {
		n := fmt.Sprintf("%s: %d x %s for %.0f AI requests/s", g.Engine, g.GPUsForSeed, g.GPU, e.EnginesFor)
		if g.GPUMonthlyVND > 0 {
			n += fmt.Sprintf(" (%s VND a month)", short(g.GPUMonthlyVND))
		}
		n += fmt.Sprintf(", last token %.2f s (the wait's 95th percentile, the mean answer)", g.LastTokenP95)
		if !g.MeetsResponse {
			n += " (beyond the plan's response time)"
		}
		if r.Note != "" {
			r.Note += "; "
		}
		r.Note += n
	}
	return r
}
