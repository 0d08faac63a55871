// Package stagediff says what changes when NextFlow moves from one stage to
// another: how each part runs, the resources added and removed by type, the
// capacity and uptime targets, and the migration steps. It reads plans and
// the model; it runs nothing.
package stagediff

import (
	"fmt"
	"sort"
	"strings"

	"github.com/nextflow-crm/nfx/internal/capacity"
	"github.com/nextflow-crm/nfx/internal/compliance"
	"github.com/nextflow-crm/nfx/internal/cost"
	"github.com/nextflow-crm/nfx/internal/files"
	"github.com/nextflow-crm/nfx/internal/migrate"
	"github.com/nextflow-crm/nfx/internal/model"
	"github.com/nextflow-crm/nfx/internal/plan"
	"github.com/nextflow-crm/nfx/internal/roi"
)

// Part is one logical part on both stages.
type Part struct {
	Name string     `json:"name"`
	Kind model.Kind `json:"kind"`
	From string     `json:"from"`
	To   string     `json:"to"`
}

// TypeChange is how many resources of one type each stage has.
type TypeChange struct {
	Type string `json:"type"`
	From int    `json:"from"`
	To   int    `json:"to"`
}

// Targets are a stage's design targets, from the seed.
type Targets struct {
	Users  string  `json:"users"`
	Uptime float64 `json:"uptimePercent"`
}

// Diff is the whole difference between two stages.
type Diff struct {
	From    string       `json:"from"`
	To      string       `json:"to"`
	Parts   []Part       `json:"parts"`
	Added   []TypeChange `json:"added"`
	Removed []TypeChange `json:"removed"`
	Changed []TypeChange `json:"changed"`
	// Resources counts every resource of each stage.
	Resources   [2]int     `json:"resources"`
	Targets     [2]Targets `json:"targets"`
	UptimeDelta float64    `json:"uptimeDeltaPercentPoints"`
	// MonthlyCostDelta and OneTimeCostDelta are in Currency; nil where the
	// cost of a stage could not be computed.
	MonthlyCostDelta *float64 `json:"monthlyCostDelta"`
	OneTimeCostDelta *float64 `json:"oneTimeCostDelta"`
	Currency         string   `json:"currency,omitempty"`
	// MonthlyCost is each stage's monthly total.
	MonthlyCost [2]float64 `json:"monthlyCost"`
	// Migration is the plan of nfx migrate between the stages, and the
	// write downtime it expects.
	Migration         []Step `json:"migration"`
	MigrationDowntime string `json:"migrationDowntime,omitempty"`
	// Capacity is each stage's estimate (nil where it could not be made)
	// and CapacityDelta the change, where both could.
	Capacity      [2]*Capacity `json:"capacity"`
	CapacityDelta *Capacity    `json:"capacityDelta"`
	// Business is the move's business case (nfx roi), nil where the
	// capacity model has no estimate of a stage.
	Business *roi.Case `json:"business,omitempty"`
}

// BusinessCase weighs the move between two sides with the from stage's
// business figures (nextflow:business); where the plan states its own
// case for the move, nfx's computation from the plan's inputs is set
// beside it.
func BusinessCase(from, to Side) (*roi.Case, error) {
	var st [2]roi.Stage
	for i, s := range []Side{from, to} {
		if s.Cost == nil {
			return nil, fmt.Errorf("stage %s: not priced, so the move cannot be weighed", s.Config.Stage)
		}
		if s.Capacity == nil {
			return nil, fmt.Errorf("stage %s: the capacity model has no estimate of it (see nfx capacity --stage %s), so the move cannot be weighed", s.Config.Stage, s.Config.Stage)
		}
		var err error
		if st[i], err = roi.StageOf(s.Cost, s.Capacity); err != nil {
			return nil, err
		}
	}
	c := roi.Compute(st[0], st[1], from.Config.Business)
	if p, ok := roi.LookupPlan(from.Config.Stage, to.Config.Stage); ok {
		c.Plan = p.Check(from.Config.Business)
	}
	return c, nil
}

// Capacity is the capacity model's estimate of a stage, or a difference
// of two.
type Capacity struct {
	Users               int     `json:"concurrentUsers"`
	AIRequestsPerSecond float64 `json:"aiRequestsPerSecond"`
	ResponseSeconds     float64 `json:"responseSeconds"`
	UptimePercent       float64 `json:"uptimePercent"`
}

func summary(e *capacity.Estimate) *Capacity {
	if e == nil {
		return nil
	}
	return &Capacity{Users: e.ConcurrentUsers, AIRequestsPerSecond: e.AIRequestsPerSecond, ResponseSeconds: e.ResponseSeconds, UptimePercent: e.UptimePercent}
}

func (c *Capacity) text() string {
	if c == nil {
		return "not estimated"
	}
	return fmt.Sprintf("%d users, %.1f AI requests/s, %.2f s, %.2f %% uptime", c.Users, c.AIRequestsPerSecond, c.ResponseSeconds, c.UptimePercent)
}

func (c *Capacity) delta() string {
	return fmt.Sprintf("%+d users, %+.1f AI requests/s, %+.2f s, %+.2f uptime points", c.Users, c.AIRequestsPerSecond, c.ResponseSeconds, c.UptimePercent)
}

// Step is one migration step of the seed.
type Step struct {
	Phase string `json:"phase"`
	Text  string `json:"text"`
}

// Side is one stage of a diff: its configuration, how it runs each of its
// parts (in the app's order), and its plan.
type Side struct {
	Config   *model.Config
	Describe []model.PartText
	Plan     *plan.Plan
	// Cost is the stage's estimate, if it could be priced.
	Cost *cost.Estimate
	// Capacity is the stage's capacity estimate, if it could be made.
	Capacity *capacity.Estimate
	// Files are the stage's rendered files.
	Files files.Set
	// Compliance is the stage's compliance report (every framework), where
	// the report made one.
	Compliance *compliance.Report
}

// Compute compares two stages.
func Compute(from, to Side) *Diff {
	d := &Diff{From: string(from.Config.Stage), To: string(to.Config.Stage)}
	d.Parts = parts(from.Describe, to.Describe)
	fc, tc := countTypes(from.Plan), countTypes(to.Plan)
	for _, t := range union(fc, tc) {
		c := TypeChange{Type: t, From: fc[t], To: tc[t]}
		switch {
		case c.From == 0:
			d.Added = append(d.Added, c)
		case c.To == 0:
			d.Removed = append(d.Removed, c)
		case c.From != c.To:
			d.Changed = append(d.Changed, c)
		}
	}
	d.Resources = [2]int{len(from.Plan.Resources), len(to.Plan.Resources)}
	pf, _ := model.ProfileOf(from.Config.Stage)
	pt, _ := model.ProfileOf(to.Config.Stage)
	d.Targets = [2]Targets{targets(pf), targets(pt)}
	d.UptimeDelta = pt.Uptime - pf.Uptime
	d.Migration, d.MigrationDowntime = Migration(from.Config, to.Config)
	d.Capacity = [2]*Capacity{summary(from.Capacity), summary(to.Capacity)}
	if a, b := d.Capacity[0], d.Capacity[1]; a != nil && b != nil {
		d.CapacityDelta = &Capacity{Users: b.Users - a.Users, AIRequestsPerSecond: b.AIRequestsPerSecond - a.AIRequestsPerSecond,
			ResponseSeconds: b.ResponseSeconds - a.ResponseSeconds, UptimePercent: b.UptimePercent - a.UptimePercent}
	}
	if from.Cost != nil && to.Cost != nil && from.Cost.Currency == to.Cost.Currency {
		m := to.Cost.MonthlyTotal - from.Cost.MonthlyTotal
		o := to.Cost.OneTimeTotal - from.Cost.OneTimeTotal
		d.MonthlyCostDelta, d.OneTimeCostDelta, d.Currency = &m, &o, to.Cost.Currency
		d.MonthlyCost = [2]float64{from.Cost.MonthlyTotal, to.Cost.MonthlyTotal}
	}
	if c, err := BusinessCase(from, to); err == nil {
		d.Business = c
	}
	return d
}

// parts pairs the two stages' parts by name: the from stage's order, then
// the parts only the to stage has.
func parts(from, to []model.PartText) []Part {
	var out []Part
	idx := map[string]int{}
	for _, p := range from {
		idx[p.Name] = len(out)
		out = append(out, Part{Name: p.Name, Kind: p.Kind, From: p.Text})
	}
	for _, p := range to {
		if i, ok := idx[p.Name]; ok {
			out[i].To = p.Text
			continue
		}
		out = append(out, Part{Name: p.Name, Kind: p.Kind, To: p.Text})
	}
	for i := range out {
		out[i].From, out[i].To = orNone(out[i].From), orNone(out[i].To)
	}
	return out
}

func orNone(s string) string {
	if s == "" {
		return "not run"
	}
	return s
}

func targets(p model.Profile) Targets {
	u := fmt.Sprintf("%d-%d concurrent users", p.Users[0], p.Users[1])
	if p.Users[1] == 0 {
		u = fmt.Sprintf("%d+ concurrent users", p.Users[0])
	}
	return Targets{Users: u, Uptime: p.Uptime}
}

func countTypes(p *plan.Plan) map[string]int {
	out := map[string]int{}
	for _, r := range p.Resources {
		out[r.Type]++
	}
	return out
}

func union(a, b map[string]int) []string {
	set := map[string]bool{}
	for k := range a {
		set[k] = true
	}
	for k := range b {
		set[k] = true
	}
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Migration is the migration's plan between two stages, as nfx migrate
// runs it (its steps, checks and downtime); moving back down is a
// rollback of the migration that brought the stack up.
func Migration(from, to *model.Config) ([]Step, string) {
	if from.Stage.Index() > to.Stage.Index() {
		return []Step{{"rollback", fmt.Sprintf("Moving from %s back to %s is the rollback of the migration %s -> %s: `nfx migrate rollback --from %s --to %s` returns traffic and writes to %s while it is kept.", from.Stage, to.Stage, to.Stage, from.Stage, to.Stage, from.Stage, to.Stage)}}, ""
	}
	p, err := migrate.NewPlan(from, to)
	if err != nil {
		return nil, ""
	}
	var out []Step
	for _, c := range p.Checks {
		if !c.OK {
			out = append(out, Step{"check", fmt.Sprintf("%s: %s -> %s fails; fix: %s", c.What, c.From, c.To, c.Fix)})
		}
	}
	for _, st := range p.Steps {
		phase := st.Phase
		if st.Frozen {
			phase += ", writes frozen"
		}
		out = append(out, Step{phase, fmt.Sprintf("`%s` %s: %s", st.ID, st.Title, st.Detail)})
	}
	return out, fmt.Sprintf("PostgreSQL in %s mode; %s", p.Mode, p.Downtime)
}

// Text renders the diff for a terminal.
func (d *Diff) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "nfx diff: %s -> %s\n\nParts\n", d.From, d.To)
	for _, p := range d.Parts {
		fmt.Fprintf(&b, "  %-9s %s\n  %-9s -> %s\n", p.Name, p.From, "", p.To)
	}
	fmt.Fprintf(&b, "\nResources: %d -> %d\n", d.Resources[0], d.Resources[1])
	for _, g := range []struct {
		sign string
		list []TypeChange
	}{{"+", d.Added}, {"-", d.Removed}, {"~", d.Changed}} {
		for _, c := range g.list {
			fmt.Fprintf(&b, "  %s %-80s %d -> %d\n", g.sign, c.Type, c.From, c.To)
		}
	}
	fmt.Fprintf(&b, "\nTargets (seed): %s, %.2f %% uptime -> %s, %.2f %% uptime (%+.2f points)\n",
		d.Targets[0].Users, d.Targets[0].Uptime, d.Targets[1].Users, d.Targets[1].Uptime, d.UptimeDelta)
	fmt.Fprintf(&b, "Capacity (estimated): %s -> %s\n", d.Capacity[0].text(), d.Capacity[1].text())
	if d.CapacityDelta != nil {
		fmt.Fprintf(&b, "  change: %s\n", d.CapacityDelta.delta())
	}
	if d.MonthlyCostDelta != nil {
		fmt.Fprintf(&b, "Cost: %.0f -> %.0f %s a month (%+.0f), %+.0f %s one-time\n", d.MonthlyCost[0], d.MonthlyCost[1], d.Currency, *d.MonthlyCostDelta, *d.OneTimeCostDelta, d.Currency)
	}
	if len(d.Migration) > 0 {
		fmt.Fprintf(&b, "\nMigration (nfx migrate plan --from %s --to %s)\n", d.From, d.To)
		for i, s := range d.Migration {
			fmt.Fprintf(&b, "  %2d. [%s] %s\n", i+1, s.Phase, s.Text)
		}
		if d.MigrationDowntime != "" {
			fmt.Fprintf(&b, "  Downtime: %s.\n", d.MigrationDowntime)
		}
	}
	if d.Business != nil {
		b.WriteString("\n" + d.Business.Text())
	}
	return b.String()
}

// Markdown renders the diff as a pull-request comment.
func (d *Diff) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "### nfx diff: `%s` → `%s`\n\n| part | %s | %s |\n|---|---|---|\n", d.From, d.To, d.From, d.To)
	for _, p := range d.Parts {
		fmt.Fprintf(&b, "| %s | %s | %s |\n", p.Name, esc(p.From), esc(p.To))
	}
	fmt.Fprintf(&b, "\n**Resources:** %d → %d\n\n", d.Resources[0], d.Resources[1])
	if len(d.Added)+len(d.Removed)+len(d.Changed) > 0 {
		b.WriteString("<details><summary>Resources by type</summary>\n\n| | type | " + d.From + " | " + d.To + " |\n|---|---|---|---|\n")
		for _, g := range []struct {
			sign string
			list []TypeChange
		}{{"➕", d.Added}, {"➖", d.Removed}, {"✏️", d.Changed}} {
			for _, c := range g.list {
				fmt.Fprintf(&b, "| %s | `%s` | %d | %d |\n", g.sign, c.Type, c.From, c.To)
			}
		}
		b.WriteString("\n</details>\n\n")
	}
	fmt.Fprintf(&b, "**Targets (seed):** %s, %.2f %% uptime → %s, %.2f %% uptime (%+.2f points)\n\n",
		d.Targets[0].Users, d.Targets[0].Uptime, d.Targets[1].Users, d.Targets[1].Uptime, d.UptimeDelta)
	fmt.Fprintf(&b, "**Capacity (estimated):** %s → %s", d.Capacity[0].text(), d.Capacity[1].text())
	if d.CapacityDelta != nil {
		fmt.Fprintf(&b, " (%s)", d.CapacityDelta.delta())
	}
	b.WriteString("\n\n")
	if d.MonthlyCostDelta != nil {
		fmt.Fprintf(&b, "**Cost:** %.0f → %.0f %s a month (%+.0f), %+.0f %s one-time\n\n", d.MonthlyCost[0], d.MonthlyCost[1], d.Currency, *d.MonthlyCostDelta, *d.OneTimeCostDelta, d.Currency)
	}
	if len(d.Migration) > 0 {
		b.WriteString("**Migration**\n\n")
		for i, s := range d.Migration {
			fmt.Fprintf(&b, "%d. *%s*: %s\n", i+1, s.Phase, s.Text)
		}
		if d.MigrationDowntime != "" {
			fmt.Fprintf(&b, "\n*Downtime:* %s.\n", d.MigrationDowntime)
		}
	}
	if d.Business != nil {
		b.WriteString("\n" + d.Business.Markdown())
	}
	return b.String()
}

func esc(s string) string { return strings.ReplaceAll(s, "|", "\\|") }
