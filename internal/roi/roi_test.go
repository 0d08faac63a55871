package roi

import (
	"math"
	"strings"
	"testing"

	"github.com/nextflow-crm/nfx/internal/capacity"
	"github.com/nextflow-crm/nfx/internal/cost"
	"github.com/nextflow-crm/nfx/internal/model"
)

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-6*math.Max(1, math.Abs(b)) }

// flat is a business whose demand stands still above both stages, so a
// move's gain is the same every month and the case has a closed form.
var flat = model.BusinessConfig{Revenue: 1000 * 500_000, RevenuePerUser: 500_000, Margin: 1}

// The payback month and the returns follow from the investment, the
// monthly difference and the gain, month by month, as a reader would
// compute them by hand.
func TestCaseByHand(t *testing.T) {
	cases := []struct {
		name     string
		from, to Stage
		b        model.BusinessConfig
		// gain is the monthly gain the case must count.
		gain    float64
		payback int
		// delay is the months the move takes (no gain before).
		delay float64
	}{
		// 200 more users at 500K: 100M a month, against 100M once and 20M
		// a month more: 80M a month net, paid back by month 2 (160M >= 100M).
		{"capacity", Stage{Stage: "a", Users: 100}, Stage{Stage: "b", Users: 300, Monthly: 20e6, OneTime: 100e6}, flat, 100e6, 2, 0},
		// Margin 0.3 counts 30M of it: 10M a month net, month 10.
		{"margin", Stage{Stage: "a", Users: 100}, Stage{Stage: "b", Users: 300, Monthly: 20e6, OneTime: 100e6}, withMargin(flat, 0.3), 30e6, 10, 0},
		// No more users, 10 h less downtime at 2M an hour: 20M a month
		// against 5M more: 15M net; 100M paid back in month 7.
		{"downtime", Stage{Stage: "a", Users: 100, DowntimeHours: 12}, Stage{Stage: "b", Users: 100, DowntimeHours: 2, Monthly: 5e6, OneTime: 100e6},
			withHour(flat, 2e6), 20e6, 7, 0},
		// The demand below both stages: no gain, never paid back.
		{"no demand", Stage{Stage: "a", Users: 1000}, Stage{Stage: "b", Users: 5000, Monthly: 1e6}, flat, 0, 0, 0},
		// The team's labour joins the investment: 26M a month for a month
		// (52/12 weeks) with no hardware; 10M a month from month 2 pays it
		// by month 4.
		{"labour", Stage{Stage: "a", Users: 100}, Stage{Stage: "b", Users: 120, Monthly: 0}, withTeam(flat, 26e6, 52.0/12), 10e6, 4, 1},
		// A move of a month and a half earns nothing in month 1, half in
		// month 2: 0 + 50 + 100 + 100 = 250M by month 4 against 180M.
		{"a move that takes six and a half weeks", Stage{Stage: "a", Users: 100}, Stage{Stage: "b", Users: 300, Monthly: 20e6, OneTime: 100e6},
			withTeam(flat, 0, 6.5), 100e6, 4, 1.5},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := Compute(tc.from, tc.to, tc.b)
			if c.PaybackMonth != tc.payback {
				t.Errorf("payback: got month %d, want %d", c.PaybackMonth, tc.payback)
			}
			delta := tc.to.Monthly - tc.from.Monthly
			for _, r := range c.Returns {
				n := float64(r.Months)
				wantCost := c.Investment + n*delta
				wantGain := (n - tc.delay) * tc.gain
				if !near(r.Gain, wantGain) || !near(r.Cost, wantCost) || !near(r.Net, wantGain-wantCost) {
					t.Errorf("at %d months: gain %.0f cost %.0f net %.0f; want %.0f, %.0f, %.0f", r.Months, r.Gain, r.Cost, r.Net, wantGain, wantCost, wantGain-wantCost)
				}
				if r.Percent == nil || !near(*r.Percent, (wantGain-wantCost)/wantCost*100) {
					t.Errorf("at %d months: return %v, want %.2f %%", r.Months, r.Percent, (wantGain-wantCost)/wantCost*100)
				}
			}
			if len(c.Returns) != len(Horizons) {
				t.Errorf("%d returns, want one at each of %v", len(c.Returns), Horizons)
			}
		})
	}
}

func withMargin(b model.BusinessConfig, m float64) model.BusinessConfig { b.Margin = m; return b }
func withHour(b model.BusinessConfig, h float64) model.BusinessConfig {
	b.DowntimeHourCost = h
	return b
}
func withTeam(b model.BusinessConfig, cost, weeks float64) model.BusinessConfig {
	b.TeamCost, b.MigrationWeeks = cost, weeks
	return b
}

// A move to a cheaper stage with nothing to invest has no return to
// quote (nothing is spent) and pays back at once.
func TestCheaperMoveHasNoReturnPercent(t *testing.T) {
	c := Compute(Stage{Stage: "a", Users: 100, Monthly: 30e6}, Stage{Stage: "b", Users: 100, Monthly: 10e6}, flat)
	if c.PaybackMonth != 1 {
		t.Errorf("payback month %d, want 1", c.PaybackMonth)
	}
	for _, r := range c.Returns {
		if r.Percent != nil {
			t.Errorf("at %d months: a return of %g %% on a negative cost", r.Months, *r.Percent)
		}
		if !near(r.Net, float64(r.Months)*20e6) {
			t.Errorf("at %d months: net %.0f, want the savings %.0f", r.Months, r.Net, float64(r.Months)*20e6)
		}
	}
	if !strings.Contains(c.Text(), "no added cost") {
		t.Errorf("the text does not say the move adds no cost:\n%s", c.Text())
	}
}

// The share of revenue is each stage's whole monthly cost over the revenue
// it serves, against the plan's 30 %; what the current stage is costing
// is the demand beyond it and its downtime.
func TestShareAndLoss(t *testing.T) {
	b := model.BusinessConfig{Revenue: 200 * 500_000, RevenuePerUser: 500_000, Margin: 1, Growth: 10}
	from := Stage{Stage: "a", Users: 100, MonthlyTotal: 40e6, DowntimeHours: HoursPerMonth / 100}
	to := Stage{Stage: "b", Users: 1000, MonthlyTotal: 90e6}
	c := Compute(from, to, b)
	// Month 0: a serves 100 users (50M), b 200 (100M).
	want := map[string]float64{"a/0": 80, "b/0": 90, "a/12": 80, "b/12": 90e6 / (200 * math.Pow(1.1, 12) * 500_000) * 100}
	for _, s := range c.Shares {
		key := s.Stage + "/" + map[int]string{0: "0", 12: "12"}[s.Month]
		if s.Percent == nil || !near(*s.Percent, want[key]) {
			t.Errorf("%s: share %v, want %.2f %%", key, s.Percent, want[key])
		}
		if s.Within != (want[key] <= ShareTarget) {
			t.Errorf("%s: within %v at %.1f %%", key, s.Within, want[key])
		}
	}
	l := c.Losing[0]
	// 100 users turned away (50M) and 1 % of the month down at the
	// revenue it serves (0.5M).
	if l.Users != 100 || !near(l.Capacity, 50e6) || !near(l.Downtime, 0.5e6) {
		t.Errorf("month 0 loss: %+v; want 100 users, 50M and 0.5M", l)
	}
}

// The hardware's amortisation, in the cost model's monthly total, is the
// investment spread over months: counted once, in the investment, not
// again each month.
func TestAmortisationCountedOnce(t *testing.T) {
	e := &cost.Estimate{Stage: "server", Currency: cost.VND, MonthlyTotal: 32e6, OneTimeTotal: 100e6,
		Lines: []cost.Line{{Item: "electricity", Monthly: 29e6}, {Item: cost.Amortisation, Monthly: 3e6}}}
	s, err := StageOf(e, &capacity.Estimate{ConcurrentUsers: 600, UptimePercent: 99.6, DowntimeHoursPerMonth: 2.6})
	if err != nil {
		t.Fatal(err)
	}
	if s.Monthly != 29e6 || s.MonthlyTotal != 32e6 || s.OneTime != 100e6 || s.Users != 600 {
		t.Errorf("got %+v; want 29M paid a month, 32M in all, 100M once, 600 users", s)
	}
	if _, err := StageOf(&cost.Estimate{Stage: "cloud", Currency: cost.USD}, &capacity.Estimate{}); err == nil {
		t.Error("an estimate in USD was weighed as VND")
	}
}

// The plan's laptop to server case, computed from its own inputs, in
// closed form: the demand grows from 100 users tenfold in twelve months
// (g^12 = 10), the server serves up to 1,000, and each stage loses its
// downtime's share of what it serves (5 % and 0.5 % of the month).
func TestPlanLaptopToServerClosedForm(t *testing.T) {
	p, ok := LookupPlan(model.Laptop, model.Server)
	if !ok {
		t.Fatal("the plan's laptop to server case is missing")
	}
	b := model.DefaultBusiness
	b.Growth = (math.Pow(10, 1.0/12) - 1) * 100
	// Gains from the first month (the move itself takes no time here).
	b.MigrationWeeks = 0
	g := 1 + b.Growth/100
	// Σ_{m=1}^{12} (100 g^m) = 100 g (g^12 - 1) / (g - 1).
	grow := 100 * g * (math.Pow(g, 12) - 1) / (g - 1)
	gain24 := 500_000 * (0.995*(grow+12*1000) - 0.95*24*100)
	cost24 := 100e6 + 24*30e6
	c := Compute(p.FromStage, p.ToStage, p.PlanBusiness(b))
	r := c.at(24)
	if !near(r.Gain, gain24) || !near(r.Cost, cost24) {
		t.Errorf("24 months: gain %.0f cost %.0f; want %.0f and %.0f", r.Gain, r.Cost, gain24, cost24)
	}
	if want := (gain24 - cost24) / cost24 * 100; !near(*r.Percent, want) {
		t.Errorf("24 months: %.2f %%, want %.2f %%", *r.Percent, want)
	}
	// By month 6: Σ (100 g^m)·0.995 - 6·95 users at 500K against 280M;
	// by month 5 short of 250M.
	by := func(n int) float64 {
		s := 100 * g * (math.Pow(g, float64(n)) - 1) / (g - 1)
		return 500_000 * (0.995*s - 0.95*float64(n)*100)
	}
	if by(5) >= 250e6 || by(6) < 280e6 || c.PaybackMonth != 6 {
		t.Errorf("payback month %d; by hand %.0f by month 5 (against 250M), %.0f by month 6 (against 280M)", c.PaybackMonth, by(5), by(6))
	}
}

// The check against the plan says what the plan's inputs give, what its
// stated figures imply, and what would reconcile them; with the plan's
// defaults neither move reproduces the stated return, and the reasons are
// named, never hidden.
func TestPlanCheckExplains(t *testing.T) {
	for _, p := range PlanMoves {
		pc := p.Check(model.DefaultBusiness)
		if pc.Agrees {
			t.Errorf("%s -> %s: says the plan's figures come out (%d months, %.0f %%), which they do not under the defaults", p.From, p.To, pc.Payback, pc.Percent)
		}
		for _, want := range []string{"from the plan's inputs: payback in month", "the stated figures imply a gain of", "margin"} {
			if !strings.Contains(pc.Why, want) {
				t.Errorf("%s -> %s: %q is not in the explanation %q", p.From, p.To, want, pc.Why)
			}
		}
	}
	// At a margin where a move's stated figures do come out, the check
	// says so.
	p, _ := LookupPlan(model.Laptop, model.Server)
	b := model.DefaultBusiness
	found := false
	for growth := 5.0; growth <= 30 && !found; growth++ {
		for m := 0.05; m <= 1; m += 0.05 {
			b.Growth, b.Margin = growth, m
			if pc := p.Check(b); pc.Agrees {
				found = true
				t.Logf("the plan's figures come out at %g %% growth and a margin of %.2f: %d months, %.0f %%", growth, m, pc.Payback, pc.Percent)
				if pc.Payback < 6 || pc.Payback > 8 || pc.Percent < 200 || pc.Percent > 300 || !strings.Contains(pc.Why, "give its stated figures") {
					t.Errorf("growth %g, margin %g: agrees with %d months and %.0f %%: %s", growth, m, pc.Payback, pc.Percent, pc.Why)
				}
				break
			}
		}
	}
	if !found {
		t.Error("no growth and margin reproduce the plan's laptop to server figures; the check could never agree")
	}
}
