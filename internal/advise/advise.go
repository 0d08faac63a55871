// Package advise evaluates the seed's decision matrix and signals: given
// what a team measures, which stage it calls for, and why. It is pure: no
// Pulumi, no I/O.
package advise

import (
	"fmt"
	"math"
	"strings"

	"github.com/nextflow-crm/nfx/internal/model"
)

// Recommendations.
const (
	Stay    = "stay"
	Prepare = "prepare"
	Upgrade = "upgrade"
)

// Compliance levels, in increasing order.
var Compliance = []string{"basic", "medium", "enterprise"}

// Metrics are what the team measures, over the last month.
type Metrics struct {
	Users      int     // peak concurrent users
	P95        float64 // response time, seconds
	Downtime   float64 // percent of the month
	Revenue    float64 // VND per month
	Team       int     // people running the product
	Compliance string  // basic, medium or enterprise
	// Growth is the month-on-month growth of users, in percent; 0 when unknown.
	Growth float64
	// Capacity is the concurrent users the current stack serves by the
	// capacity model (`nfx capacity`); 0 when unknown.
	Capacity int
	// Payback is the month by which the move to the next stage has earned
	// what it cost (`nfx roi`), 0 when it has not within the months
	// weighed; nil when the move was not weighed.
	Payback *int
}

// PaysBack is the payback, in months, within which a move counts as
// paying for itself (the plan's longest stated payback is 18 months).
const PaysBack = 18

// Validate reports bad input, naming the flag, the value and the fix.
func (m Metrics) Validate() error {
	var errs []string
	for _, f := range []struct {
		flag string
		v    float64
	}{{"--p95", m.P95}, {"--downtime", m.Downtime}, {"--revenue", m.Revenue}, {"--growth", m.Growth}} {
		if math.IsNaN(f.v) || math.IsInf(f.v, 0) {
			errs = append(errs, fmt.Sprintf("%s: must be a finite number, got %g; fix: give the measured figure", f.flag, f.v))
		} else if math.Abs(f.v) > model.MaxNumber {
			errs = append(errs, fmt.Sprintf("%s: %g is out of range; fix: keep it within ±%g", f.flag, f.v, model.MaxNumber))
		}
	}
	if m.Growth < -100 {
		errs = append(errs, fmt.Sprintf("--growth: a month cannot lose more than all its users, got %g %%", m.Growth))
	}
	if m.Users < 0 {
		errs = append(errs, fmt.Sprintf("--users: must be >= 0, got %d", m.Users))
	}
	if m.P95 < 0 {
		errs = append(errs, fmt.Sprintf("--p95: must be >= 0 seconds, got %g", m.P95))
	}
	if m.Downtime < 0 || m.Downtime > 100 {
		errs = append(errs, fmt.Sprintf("--downtime: must be a percentage between 0 and 100, got %g", m.Downtime))
	}
	if m.Revenue < 0 {
		errs = append(errs, fmt.Sprintf("--revenue: must be >= 0 VND, got %g", m.Revenue))
	}
	if m.Team < 0 {
		errs = append(errs, fmt.Sprintf("--team: must be >= 0 people, got %d", m.Team))
	}
	if level(m.Compliance) < 0 {
		errs = append(errs, fmt.Sprintf("--compliance: unknown level %q; use basic, medium or enterprise", m.Compliance))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

func level(c string) int {
	for i, l := range Compliance {
		if l == c {
			return i
		}
	}
	return -1
}

// Row is one row of the decision matrix: one metric, and where each
// stage's limit for it is (the stage's model.Limits). A stage's limit is
// where its next stage becomes needed.
type Row struct {
	Metric string
	// limit picks the row's limit from a stage's limits.
	limit func(model.Limits) float64
	// strict says the limit must be exceeded, not just reached ("> 5 s");
	// otherwise reaching it fires ("100+").
	strict bool
	unit   string
}

// Matrix is the seed's decision matrix; the limits are the stages' own.
var Matrix = []Row{
	{Metric: model.MetricUsers, limit: func(l model.Limits) float64 { return l.Users }},
	{Metric: model.MetricResponse, strict: true, limit: func(l model.Limits) float64 { return l.ResponseSeconds }, unit: " s"},
	{Metric: model.MetricDowntime, strict: true, limit: func(l model.Limits) float64 { return l.DowntimePercent }, unit: " %"},
	{Metric: model.MetricRevenue, limit: func(l model.Limits) float64 { return l.Revenue }, unit: " VND"},
	// The team: 1-3 people run a laptop, 5-10 a server, 20+ the cloud; a
	// stage's limit is the first size past its range.
	{Metric: model.MetricTeam, limit: func(l model.Limits) float64 { return l.Team }, unit: " people"},
	{Metric: model.MetricCompliance, limit: func(l model.Limits) float64 { return l.Compliance }},
}

// Approach is the share of a limit at which a metric counts as approaching it.
const Approach = 0.8

// FastGrowth is the monthly user growth, in percent, that counts as fast.
const FastGrowth = 20.0

// Reason is one row or signal that fired, or came close.
type Reason struct {
	Metric string `json:"metric"`
	// Value is the measured value, as given.
	Value string `json:"value"`
	// Limit is the current stage's limit from the seed.
	Limit string `json:"limit"`
	// State is "over" (the row fired) or "approaching".
	State string `json:"state"`
	// Signal is red (upgrade now) or yellow (prepare).
	Signal string `json:"signal"`
	Text   string `json:"text"`
}

// Advice is the answer.
type Advice struct {
	Recommendation string   `json:"recommendation"`
	CurrentStage   string   `json:"currentStage"`
	TargetStage    string   `json:"targetStage"`
	Signal         string   `json:"signal"`
	Reasons        []Reason `json:"reasons"`
	// Avoid names the seed's mistakes that apply to this answer.
	Avoid []string `json:"avoid,omitempty"`
}

func (m Metrics) value(metric string) float64 {
	switch metric {
	case "concurrent users":
		return float64(m.Users)
	case "response time (p95)":
		return m.P95
	case "downtime per month":
		return m.Downtime
	case "revenue per month":
		return m.Revenue
	case "team size":
		return float64(m.Team)
	case "compliance needs":
		return float64(level(m.Compliance))
	}
	return 0
}

func show(metric string, v float64, m Metrics) string {
	switch metric {
	case "compliance needs":
		return m.Compliance
	case "revenue per month":
		return fmt.Sprintf("%.0f VND", v)
	case "response time (p95)":
		return fmt.Sprintf("%g s", v)
	case "downtime per month":
		return fmt.Sprintf("%g %%", v)
	}
	return fmt.Sprintf("%g", v)
}

// redMetrics are the rows whose crossing is a red signal in the seed:
// performance degradation and frequent downtime hurt customers now.
var redMetrics = map[string]string{
	"response time (p95)": "performance degradation",
	"downtime per month":  "frequent downtime",
}

// Evaluate applies the matrix and signals to the metrics on the current stage.
//
// A row fires when its metric reaches the current stage's limit. Red
// signals (performance degradation, frequent downtime) or two or more rows
// firing call for an upgrade now. One business row firing alone (users,
// revenue, team, compliance), a metric within 80 % of its limit, or fast
// growth call for preparing: the seed warns against upgrading too early.
func Evaluate(current model.Stage, m Metrics) (*Advice, error) {
	prof, err := model.ProfileOf(current)
	if err != nil {
		return nil, fmt.Errorf("--stage: %v", err)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	a := &Advice{CurrentStage: string(current), TargetStage: string(current), Recommendation: Stay, Signal: "green"}
	fired, red, approaching := 0, 0, 0
	for _, row := range Matrix {
		limit := row.limit(prof.Limits)
		v := m.value(row.Metric)
		over := v >= limit
		if row.strict {
			over = v > limit
		}
		r := Reason{Metric: row.Metric, Value: show(row.Metric, v, m), Limit: prof.Limits.Seed[row.Metric]}
		switch {
		case over:
			fired++
			r.State, r.Signal = "over", "yellow"
			r.Text = fmt.Sprintf("%s is %s, at or past the %s stage's limit (%s)", row.Metric, r.Value, current, r.Limit)
			if what, ok := redMetrics[row.Metric]; ok {
				red++
				r.Signal = "red"
				r.Text += ": " + what
			}
		case row.Metric != "compliance needs" && limit > 0 && v >= Approach*limit:
			approaching++
			r.State, r.Signal = "approaching", "yellow"
			r.Text = fmt.Sprintf("%s is %s, within %.0f %% of the %s stage's limit (%s)", row.Metric, r.Value, (1-Approach)*100, current, r.Limit)
		default:
			continue
		}
		a.Reasons = append(a.Reasons, r)
	}
	// The stack's own estimated capacity: the seed's limit is nominal, the
	// estimate is what this configuration serves.
	if m.Capacity > 0 && float64(m.Users) >= Approach*float64(m.Capacity) {
		r := Reason{Metric: "estimated capacity", Value: fmt.Sprintf("%d users", m.Users), Limit: fmt.Sprintf("%d users", m.Capacity), Signal: "yellow"}
		if m.Users >= m.Capacity {
			fired++
			r.State = "over"
			r.Text = fmt.Sprintf("%d users are at or past what the current %s stack is estimated to serve (%d; nfx capacity): expect queues and slow AI answers", m.Users, current, m.Capacity)
		} else {
			approaching++
			r.State = "approaching"
			r.Text = fmt.Sprintf("%d users are within %.0f %% of what the current %s stack is estimated to serve (%d; nfx capacity)", m.Users, (1-Approach)*100, current, m.Capacity)
		}
		a.Reasons = append(a.Reasons, r)
	}
	if m.Growth >= FastGrowth {
		approaching++
		a.Reasons = append(a.Reasons, Reason{Metric: "user growth", Value: fmt.Sprintf("%g %% a month", m.Growth), Limit: fmt.Sprintf("%g %% a month", FastGrowth),
			State: "approaching", Signal: "yellow", Text: "fast user growth: plan the migration 3-6 months ahead"})
	}
	next := current.Next()
	switch {
	case red > 0 || fired >= 2:
		a.Recommendation, a.Signal = Upgrade, "red"
		if red == 0 {
			a.Signal = "yellow"
		}
	case fired == 1 || approaching > 0:
		a.Recommendation, a.Signal = Prepare, "yellow"
		a.Avoid = append(a.Avoid, "upgrading too early: keep the stage while performance and uptime hold")
	}
	if a.Recommendation != Stay {
		if next == "" {
			// The cloud has no next stage: it scales out within itself.
			a.Avoid = append(a.Avoid, "over-engineering: scale the cloud stage (node groups, HPA, replicas) instead")
		} else {
			a.TargetStage = string(next)
		}
	}
	if a.Recommendation != Stay && next != "" && m.Payback != nil {
		a.Reasons = append(a.Reasons, m.payback(next, &a.Recommendation, &a.Signal, red))
	}
	if a.Recommendation == Upgrade {
		a.Avoid = append(a.Avoid, "under-planning the migration: rehearse the restore and keep the rollback ready", "ignoring monitoring: watch response time and errors through the switch")
	}
	return a, nil
}

// payback weighs the move's payback: a move that pays back within
// PaysBack months supports the answer; one that does not turns an upgrade
// that no red signal calls for into preparing (the plan's "upgrading too
// early").
func (m Metrics) payback(next model.Stage, rec, signal *string, red int) Reason {
	r := Reason{Metric: "payback", Limit: fmt.Sprintf("%d months", PaysBack), Signal: "yellow"}
	if p := *m.Payback; p > 0 && p <= PaysBack {
		r.Value, r.State = fmt.Sprintf("month %d", p), "pays back"
		r.Text = fmt.Sprintf("the move to %s pays back in month %d (nfx roi): the business case supports it", next, p)
		return r
	}
	r.State = "does not pay back"
	if p := *m.Payback; p > 0 {
		r.Value = fmt.Sprintf("month %d", p)
		r.Text = fmt.Sprintf("the move to %s pays back only in month %d (nfx roi), past %d months", next, p, PaysBack)
	} else {
		r.Value = "never"
		r.Text = fmt.Sprintf("the move to %s does not pay back in the months nfx roi weighs", next)
	}
	if *rec == Upgrade && red == 0 {
		*rec, *signal = Prepare, "yellow"
		r.Text += ": no red signal calls for it now, so prepare rather than move"
	}
	return r
}
