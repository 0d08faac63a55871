// Package roi weighs a move between two stages as a business case: what it
// costs (the one-time investment and the change in the monthly bill, from
// the cost model), what it earns (the demand the current stage turns away
// that the next one serves, and the downtime it avoids, from the capacity
// model and the user's business figures), month by month, and from those
// the payback month, the return at 12, 24 and 36 months and the
// infrastructure's share of revenue on both stages. It is pure: no
// Pulumi, no I/O.
package roi

import (
	"fmt"
	"math"

	"github.com/nextflow-crm/nfx/internal/capacity"
	"github.com/nextflow-crm/nfx/internal/cost"
	"github.com/nextflow-crm/nfx/internal/model"
)

// HoursPerMonth is the hours of an average month (365.25 x 24 / 12).
const HoursPerMonth = 730.5

// ShareTarget is the plan's ceiling on infrastructure as a share of revenue.
const ShareTarget = 30.0

// Horizons are the months the return is quoted at; Longest bounds the
// search for the payback month.
var Horizons = []int{12, 24, 36}

// Longest is the last month the payback is looked for in.
const Longest = 120

// Stage is what the business case reads of one stage.
type Stage struct {
	Stage string `json:"stage"`
	// Monthly is the stage's running cost a month as paid: the cost
	// model's total without the hardware's amortisation, which the
	// investment counts once.
	Monthly float64 `json:"monthly"`
	// MonthlyTotal is the cost model's total, amortisation included: the
	// stage's cost for its share of revenue.
	MonthlyTotal float64 `json:"monthlyTotal"`
	// OneTime is the stage's one-time investment (its hardware).
	OneTime float64 `json:"oneTime"`
	// Users is the concurrent users the stage serves (the capacity model).
	Users int `json:"users"`
	// UptimePercent and DowntimeHours (a month) are the capacity model's.
	UptimePercent float64 `json:"uptimePercent"`
	DowntimeHours float64 `json:"downtimeHoursPerMonth"`
}

// Line is one part of the investment.
type Line struct {
	Item   string  `json:"item"`
	Amount float64 `json:"amount"`
	Detail string  `json:"detail"`
}

// Return is the case at one horizon.
type Return struct {
	Months int `json:"months"`
	// Gain is what the move earns over the months; Cost what it costs
	// (the investment and the monthly difference); Net their difference.
	Gain float64 `json:"gain"`
	Cost float64 `json:"cost"`
	Net  float64 `json:"net"`
	// Percent is Net over Cost; nil when the move costs nothing more.
	Percent *float64 `json:"percent"`
}

// Share is a stage's infrastructure cost as a share of the revenue it
// serves, at one month.
type Share struct {
	Stage   string  `json:"stage"`
	Month   int     `json:"month"`
	Cost    float64 `json:"cost"`
	Revenue float64 `json:"revenue"`
	// Percent is nil when the stage serves no revenue.
	Percent *float64 `json:"percent"`
	Within  bool     `json:"withinTarget"`
}

// Loss is what the current stage's limits cost in one month.
type Loss struct {
	Month int `json:"month"`
	// Users is the demand beyond the stage's capacity, Capacity the
	// revenue it stands for; Downtime the cost of the stage's downtime.
	Users    float64 `json:"usersTurnedAway"`
	Capacity float64 `json:"capacity"`
	Downtime float64 `json:"downtime"`
}

// Case is the business case of a move.
type Case struct {
	From     Stage                `json:"from"`
	To       Stage                `json:"to"`
	Business model.BusinessConfig `json:"business"`
	// Investment is the one-time cost of the move, line by line.
	Investment      float64 `json:"investment"`
	InvestmentLines []Line  `json:"investmentLines"`
	// MonthlyDelta is the change in the monthly bill, as paid.
	MonthlyDelta float64 `json:"monthlyDelta"`
	// PaybackMonth is the first month by whose end the move has earned
	// what it cost; 0 when it has not within Longest months.
	PaybackMonth int      `json:"paybackMonth"`
	Returns      []Return `json:"returns"`
	Shares       []Share  `json:"shares"`
	// Losing is what the current stage's capacity and downtime cost, now
	// and in a year.
	Losing []Loss `json:"losing"`
	// Plan is the plan's own figures for the move, where it states them,
	// and what nfx computes from the plan's inputs.
	Plan        *PlanCheck `json:"plan,omitempty"`
	Assumptions []string   `json:"assumptions"`
	Currency    string     `json:"currency"`
}

// demand is the concurrent users wanting the product in month m (bounded
// by model.MaxNumber, far above any stage's capacity).
func demand(b model.BusinessConfig, m int) float64 {
	return math.Min(b.Revenue/b.RevenuePerUser*math.Pow(1+b.Growth/100, float64(m)), model.MaxNumber)
}

// moved is the share of month m the to stage serves: none until the move
// is done (migrationWeeks into the first months), all of it after.
func moved(b model.BusinessConfig, m int) float64 {
	return math.Max(0, math.Min(1, float64(m)-b.MigrationWeeks*12/52))
}

// served is the users a stage serves in month m.
func served(b model.BusinessConfig, s Stage, m int) float64 {
	return math.Min(demand(b, m), float64(s.Users))
}

// downtimeCost is what a stage's downtime costs in month m: the user's
// hourly figure, or the hour's share of the revenue the stage serves.
func downtimeCost(b model.BusinessConfig, s Stage, m int) float64 {
	if b.DowntimeHourCost > 0 {
		return s.DowntimeHours * b.DowntimeHourCost
	}
	return s.DowntimeHours * b.Margin * served(b, s, m) * b.RevenuePerUser / HoursPerMonth
}

// monthGain is what the move earns in month m: the to stage's earnings
// over the from stage's, once the move is done.
func monthGain(b model.BusinessConfig, from, to Stage, m int) float64 {
	return moved(b, m) * (earnings(b, to, m) - earnings(b, from, m))
}

// earnings is what a stage earns in month m: the revenue it serves at the
// margin, less its downtime's cost.
func earnings(b model.BusinessConfig, s Stage, m int) float64 {
	return b.Margin*served(b, s, m)*b.RevenuePerUser - downtimeCost(b, s, m)
}

// Compute weighs the move from one stage to another.
func Compute(from, to Stage, b model.BusinessConfig) *Case {
	c := &Case{From: from, To: to, Business: b, Currency: "VND", InvestmentLines: []Line{}}
	if to.OneTime > 0 {
		c.InvestmentLines = append(c.InvestmentLines, Line{"hardware", to.OneTime, fmt.Sprintf("the %s stage's one-time investment, from the cost model", to.Stage)})
	}
	if labour := b.TeamCost * b.MigrationWeeks * 12 / 52; labour > 0 {
		c.InvestmentLines = append(c.InvestmentLines, Line{"the move's labour", labour, fmt.Sprintf("the team's %s VND a month for %g weeks: nextflow:business.teamCost, migrationWeeks", cost.Money(b.TeamCost), b.MigrationWeeks)})
	}
	for _, l := range c.InvestmentLines {
		c.Investment += l.Amount
	}
	c.MonthlyDelta = to.Monthly - from.Monthly
	gain, cost := 0.0, c.Investment
	next := 0
	for m := 1; m <= Longest; m++ {
		gain += monthGain(b, from, to, m)
		cost += c.MonthlyDelta
		if c.PaybackMonth == 0 && gain >= cost {
			c.PaybackMonth = m
		}
		if next < len(Horizons) && m == Horizons[next] {
			r := Return{Months: m, Gain: gain, Cost: cost, Net: gain - cost}
			if cost > 0 {
				p := r.Net / cost * 100
				r.Percent = &p
			}
			c.Returns = append(c.Returns, r)
			next++
		}
	}
	for _, m := range []int{0, 12} {
		for _, s := range []Stage{from, to} {
			sh := Share{Stage: s.Stage, Month: m, Cost: s.MonthlyTotal, Revenue: served(b, s, m) * b.RevenuePerUser}
			if sh.Revenue > 0 {
				p := sh.Cost / sh.Revenue * 100
				sh.Percent, sh.Within = &p, p <= ShareTarget
			}
			c.Shares = append(c.Shares, sh)
		}
		turned := math.Max(0, demand(b, m)-float64(from.Users))
		c.Losing = append(c.Losing, Loss{Month: m, Users: math.Round(turned), Capacity: b.Margin * turned * b.RevenuePerUser, Downtime: downtimeCost(b, from, m)})
	}
	c.Assumptions = assumptions(from, to, b)
	return c
}

func assumptions(from, to Stage, b model.BusinessConfig) []string {
	a := []string{
		fmt.Sprintf("today's demand is %.0f concurrent users at peak: %s VND of revenue a month at %s VND a user (nextflow:business.revenue, revenuePerUser), growing %g %% a month (growth)",
			b.Revenue/b.RevenuePerUser, cost.Money(b.Revenue), cost.Money(b.RevenuePerUser), b.Growth),
		fmt.Sprintf("a stage earns the demand it can serve (%s: %d users, %s: %d; the capacity model) at a margin of %g (nextflow:business.margin); the demand beyond it is lost, not queued",
			from.Stage, from.Users, to.Stage, to.Users, b.Margin),
	}
	if b.DowntimeHourCost > 0 {
		a = append(a, fmt.Sprintf("an hour of downtime costs %s VND (nextflow:business.downtimeHourCost)", cost.Money(b.DowntimeHourCost)))
	} else {
		a = append(a, "an hour of downtime costs the hour's share of the revenue served; set nextflow:business.downtimeHourCost to count churn and penalties too")
	}
	a = append(a, fmt.Sprintf("downtime is the capacity model's: %.1f h a month on %s, %.1f h on %s; hours outside a stage's service hours are not counted",
		from.DowntimeHours, from.Stage, to.DowntimeHours, to.Stage))
	if b.TeamCost == 0 {
		a = append(a, "the move's labour is not counted: set nextflow:business.teamCost to the team's monthly cost")
	}
	a = append(a, fmt.Sprintf("the move takes %g weeks (nextflow:business.migrationWeeks): the new stage earns nothing before it is done, and both stages are paid for from the first month", b.MigrationWeeks))
	return a
}

// StageOf reads a stage's facts from its cost and capacity estimates (in
// VND).
func StageOf(e *cost.Estimate, c *capacity.Estimate) (Stage, error) {
	if e.Currency != cost.VND {
		return Stage{}, fmt.Errorf("stage %s: the business case is in VND, the estimate in %s", e.Stage, e.Currency)
	}
	s := Stage{Stage: e.Stage, Monthly: e.MonthlyTotal, MonthlyTotal: e.MonthlyTotal, OneTime: e.OneTimeTotal,
		Users: c.ConcurrentUsers, UptimePercent: c.UptimePercent, DowntimeHours: c.DowntimeHoursPerMonth}
	for _, l := range e.Lines {
		if l.Item == cost.Amortisation {
			s.Monthly -= l.Monthly
		}
	}
	return s, nil
}
