package roi

import (
	"fmt"
	"strings"

	"github.com/nextflow-crm/nfx/internal/cost"
	"github.com/nextflow-crm/nfx/internal/model"
)

// PlanMove is the plan's own business case of a move: its inputs as it
// states them and the return it claims (../shared/SEED.md, "Return on
// investment").
type PlanMove struct {
	From, To model.Stage
	// From and To as the plan sizes them: users, uptime and the move's
	// cost (To.Monthly is the plan's monthly investment, To.OneTime its
	// one-time one).
	FromStage, ToStage Stage
	// Payback is the stated payback, in months, low and high; Percent the
	// stated return after Months.
	Payback [2]int
	Percent [2]float64
	Months  int
	// Note is what the plan says elsewhere that bears on the move.
	Note string
}

// PlanMoves are the plan's two moves.
var PlanMoves = []PlanMove{
	{
		From: model.Laptop, To: model.Server,
		// "100M VND one-time + 30M VND/month", 10x capacity (100 to 1000
		// users), 99.5 % uptime instead of 95 %.
		FromStage: Stage{Stage: "laptop", Users: 100, UptimePercent: 95, DowntimeHours: 0.05 * HoursPerMonth},
		ToStage:   Stage{Stage: "server", Users: 1000, UptimePercent: 99.5, DowntimeHours: 0.005 * HoursPerMonth, Monthly: 30e6, MonthlyTotal: 30e6, OneTime: 100e6},
		Payback:   [2]int{6, 8}, Percent: [2]float64{200, 300}, Months: 24,
	},
	{
		From: model.Server, To: model.Cloud,
		// "300M VND/year ongoing"; the stages' users (1000 to 10,000) and
		// uptime (99.5 % to 99.99 %).
		FromStage: Stage{Stage: "server", Users: 1000, UptimePercent: 99.5, DowntimeHours: 0.005 * HoursPerMonth},
		ToStage:   Stage{Stage: "cloud", Users: 10000, UptimePercent: 99.99, DowntimeHours: 0.0001 * HoursPerMonth, Monthly: 25e6, MonthlyTotal: 25e6},
		Payback:   [2]int{12, 18}, Percent: [2]float64{150, 250}, Months: 36,
		Note: "the plan's own running costs put the server at 25-36M VND a month and the cloud at 260-570M: a move of 224-545M a month, where its return counts 300M a year (25M a month)",
	},
}

// PlanCheck sets the plan's stated return beside nfx's computation from
// the plan's own inputs, and finds what reconciles them.
type PlanCheck struct {
	Stated  string  `json:"stated"`
	Inputs  string  `json:"inputs"`
	Payback int     `json:"paybackMonth"`
	Percent float64 `json:"percent"`
	Months  int     `json:"months"`
	Agrees  bool    `json:"agrees"`
	Why     string  `json:"why"`
	// Margins is the range of margins at which both the stated payback
	// and the stated return come out; nil when none does.
	Margins *[2]float64 `json:"margins,omitempty"`
}

// LookupPlan is the plan's own case of a move, if it states one.
func LookupPlan(from, to model.Stage) (PlanMove, bool) {
	for _, p := range PlanMoves {
		if p.From == from && p.To == to {
			return p, true
		}
	}
	return PlanMove{}, false
}

// PlanBusiness is the business the plan implies at a move: the demand
// standing at the current stage's users, at the plan's revenue per user,
// growing as b says.
func (p PlanMove) PlanBusiness(b model.BusinessConfig) model.BusinessConfig {
	b.Revenue = float64(p.FromStage.Users) * b.RevenuePerUser
	b.DowntimeHourCost, b.TeamCost = 0, 0
	return b
}

func (p PlanMove) within(c *Case) (payback, percent bool) {
	r := c.at(p.Months)
	return c.PaybackMonth >= p.Payback[0] && c.PaybackMonth <= p.Payback[1],
		r != nil && r.Percent != nil && *r.Percent >= p.Percent[0] && *r.Percent <= p.Percent[1]
}

// Check computes the plan's move from its own inputs (b's revenue per
// user, growth and margin) and says whether it reproduces the stated
// return, and at which margins it would.
func (p PlanMove) Check(b model.BusinessConfig) *PlanCheck {
	pb := p.PlanBusiness(b)
	c := Compute(p.FromStage, p.ToStage, pb)
	r := c.at(p.Months)
	pc := &PlanCheck{
		Stated: fmt.Sprintf("payback in %d-%d months, %.0f-%.0f %% in %d months", p.Payback[0], p.Payback[1], p.Percent[0], p.Percent[1], p.Months),
		Inputs: fmt.Sprintf("%s VND one-time and %s VND a month; %d to %d users at %s VND a user a month, demand growing %g %% a month; uptime %g %% to %g %%; margin %g",
			cost.Money(p.ToStage.OneTime), cost.Money(p.ToStage.Monthly), p.FromStage.Users, p.ToStage.Users, cost.Money(pb.RevenuePerUser), pb.Growth, p.FromStage.UptimePercent, p.ToStage.UptimePercent, pb.Margin),
		Payback: c.PaybackMonth, Months: p.Months,
	}
	if r != nil && r.Percent != nil {
		pc.Percent = *r.Percent
	}
	okPay, okPct := p.within(c)
	pc.Agrees = okPay && okPct
	lo, hi := -1.0, -1.0
	var payOnly, pctOnly []float64
	for i := 1; i <= 100; i++ {
		m := float64(i) / 100
		mb := pb
		mb.Margin = m
		a, b := p.within(Compute(p.FromStage, p.ToStage, mb))
		if a && b {
			if lo < 0 {
				lo = m
			}
			hi = m
		}
		if a {
			payOnly = append(payOnly, m)
		}
		if b {
			pctOnly = append(pctOnly, m)
		}
	}
	if lo > 0 {
		pc.Margins = &[2]float64{lo, hi}
	}
	var why []string
	if pc.Agrees {
		why = append(why, "the plan's inputs give its stated figures")
	} else {
		why = append(why, fmt.Sprintf("from the plan's inputs: payback in month %s and %.0f %% in %d months, against the stated %s", monthText(pc.Payback), pc.Percent, p.Months, pc.Stated))
	}
	// What the stated figures imply the move earns: by the payback it has
	// earned its cost to then; by the horizon its cost times 1 + return.
	paid := func(m int) float64 { return p.ToStage.OneTime + float64(m)*(p.ToStage.Monthly-p.FromStage.Monthly) }
	why = append(why, fmt.Sprintf("the stated figures imply a gain of %s VND a month on average up to the payback and %s over %d months",
		span(paid(p.Payback[0])/float64(p.Payback[0]), paid(p.Payback[1])/float64(p.Payback[1])),
		span(paid(p.Months)*(1+p.Percent[0]/100)/float64(p.Months), paid(p.Months)*(1+p.Percent[1]/100)/float64(p.Months)), p.Months))
	if r != nil && pc.Payback > 0 {
		why = append(why, fmt.Sprintf("the plan's inputs give %s VND a month on average up to month %d and %s over %d months",
			mill(c.gainTo(pc.Payback)/float64(pc.Payback)), pc.Payback, mill(r.Gain/float64(p.Months)), p.Months))
	}
	if p.Note != "" {
		why = append(why, p.Note)
	}
	switch {
	case pc.Agrees:
	case pc.Margins != nil:
		why = append(why, fmt.Sprintf("both stated figures come out when the added revenue is counted at a margin of %.2f-%.2f (the plan states none)", lo, hi))
	default:
		why = append(why, fmt.Sprintf("no margin gives both: the stated payback needs %s, the stated return %s", marginText(payOnly), marginText(pctOnly)))
	}
	pc.Why = strings.Join(why, "; ")
	return pc
}

// span writes a range of VND in millions, low to high.
func span(a, b float64) string {
	if mill(a) == mill(b) {
		return mill(a)
	}
	return mill(min(a, b)) + "-" + mill(max(a, b))
}

// mill writes VND in millions, as the plan does.
func mill(v float64) string { return fmt.Sprintf("%.0fM", v/1e6) }

// gainTo is what the move has earned by the end of month n.
func (c *Case) gainTo(n int) float64 {
	g := 0.0
	for m := 1; m <= n; m++ {
		g += monthGain(c.Business, c.From, c.To, m)
	}
	return g
}

func monthText(m int) string {
	if m == 0 {
		return fmt.Sprintf("none within %d months", Longest)
	}
	return fmt.Sprint(m)
}

func marginText(ms []float64) string {
	if len(ms) == 0 {
		return "no margin from 0.01 to 1"
	}
	return fmt.Sprintf("a margin of %.2f-%.2f", ms[0], ms[len(ms)-1])
}

// at is the return at a horizon, or nil.
func (c *Case) at(months int) *Return {
	for i := range c.Returns {
		if c.Returns[i].Months == months {
			return &c.Returns[i]
		}
	}
	return nil
}
