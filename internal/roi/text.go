package roi

import (
	"fmt"
	"strings"

	"github.com/nextflow-crm/nfx/internal/cost"
)

// Item is one line of the case as rendered: a label and its value.
type Item struct{ Label, Value string }

// Items are the case's lines, shared by the text, the Markdown and the
// report.
func (c *Case) Items() []Item {
	m := cost.Money
	out := []Item{
		{"running cost a month", fmt.Sprintf("%s -> %s VND as paid (%s)", m(c.From.Monthly), m(c.To.Monthly), signed(c.MonthlyDelta))},
		{"users served at once", fmt.Sprintf("%d -> %d (the capacity model)", c.From.Users, c.To.Users)},
		{"uptime", fmt.Sprintf("%.2f %% -> %.2f %% (%.1f h -> %.1f h of downtime a month)", c.From.UptimePercent, c.To.UptimePercent, c.From.DowntimeHours, c.To.DowntimeHours)},
	}
	inv := "none"
	if len(c.InvestmentLines) > 0 {
		var parts []string
		for _, l := range c.InvestmentLines {
			parts = append(parts, fmt.Sprintf("%s %s (%s)", l.Item, m(l.Amount), l.Detail))
		}
		inv = m(c.Investment) + " VND: " + strings.Join(parts, "; ")
	}
	out = append(out, Item{"one-time investment", inv})
	pay := fmt.Sprintf("month %d", c.PaybackMonth)
	if c.PaybackMonth == 0 {
		pay = fmt.Sprintf("not within %d months", Longest)
	}
	out = append(out, Item{"payback", pay})
	for _, r := range c.Returns {
		pct := "no added cost"
		if r.Percent != nil {
			pct = fmt.Sprintf("%.0f %%", *r.Percent)
		}
		out = append(out, Item{fmt.Sprintf("return at %d months", r.Months),
			fmt.Sprintf("%s (gain %s, cost %s, net %s VND)", pct, m(r.Gain), m(r.Cost), m(r.Net))})
	}
	for _, s := range c.Shares {
		pct, mark := "no revenue served", ""
		if s.Percent != nil {
			pct, mark = fmt.Sprintf("%.1f %%", *s.Percent), "within"
			if !s.Within {
				mark = "over"
			}
			mark = fmt.Sprintf(", %s the plan's %.0f %%", mark, ShareTarget)
		}
		out = append(out, Item{fmt.Sprintf("infrastructure share, %s, month %d", s.Stage, s.Month),
			fmt.Sprintf("%s (%s of %s VND%s)", pct, m(s.Cost), m(s.Revenue), mark)})
	}
	for _, l := range c.Losing {
		out = append(out, Item{fmt.Sprintf("%s is costing, month %d", c.From.Stage, l.Month),
			fmt.Sprintf("%s VND a month: %s users turned away (%s) and its downtime (%s)", m(l.Capacity+l.Downtime), m(l.Users), m(l.Capacity), m(l.Downtime))})
	}
	if c.Plan != nil {
		out = append(out, Item{"the plan states", c.Plan.Stated}, Item{"the plan's inputs", c.Plan.Inputs}, Item{"why they differ", c.Plan.Why})
	}
	return out
}

// Text renders the case for a terminal.
func (c *Case) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "nfx roi: %s -> %s (VND)\n", c.From.Stage, c.To.Stage)
	for _, it := range c.Items() {
		fmt.Fprintf(&b, "  %-40s %s\n", it.Label, it.Value)
	}
	for _, a := range c.Assumptions {
		fmt.Fprintf(&b, "assumes: %s\n", a)
	}
	return b.String()
}

// Markdown renders the case as a section of a pull-request comment or
// the report.
func (c *Case) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "### Business case: `%s` → `%s`\n\n| | |\n|---|---|\n", c.From.Stage, c.To.Stage)
	for _, it := range c.Items() {
		fmt.Fprintf(&b, "| %s | %s |\n", it.Label, strings.ReplaceAll(it.Value, "|", "\\|"))
	}
	b.WriteString("\n<details><summary>Assumptions</summary>\n\n")
	for _, a := range c.Assumptions {
		fmt.Fprintf(&b, "- %s\n", a)
	}
	b.WriteString("\n</details>\n")
	return b.String()
}

// signed writes an amount with its sign.
func signed(v float64) string {
	if s := cost.Money(v); v > 0 && s != "0" {
		return "+" + s
	} else {
		return s
	}
}
