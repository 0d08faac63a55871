package advise

import (
	"strings"
	"testing"

	"github.com/nextflow-crm/nfx/internal/model"
	_ "github.com/nextflow-crm/nfx/internal/testutil"
)

// calm is a laptop well inside every limit.
func calm() Metrics {
	return Metrics{Users: 40, P95: 2, Downtime: 0.5, Revenue: 10e6, Team: 2, Compliance: "basic"}
}

func TestEveryRowAndItsBoundary(t *testing.T) {
	type tc struct {
		name   string
		stage  model.Stage
		edit   func(*Metrics)
		rec    string
		target string
		metric string
		state  string
	}
	cases := []tc{
		{"calm laptop stays", model.Laptop, func(m *Metrics) {}, Stay, "laptop", "", ""},
		// Users: "100+" reaches the limit at 100.
		{"users 99 approaching", model.Laptop, func(m *Metrics) { m.Users = 99 }, Prepare, "server", "concurrent users", "approaching"},
		{"users 100 over", model.Laptop, func(m *Metrics) { m.Users = 100 }, Prepare, "server", "concurrent users", "over"},
		{"users 79 calm", model.Laptop, func(m *Metrics) { m.Users = 79 }, Stay, "laptop", "", ""},
		// Response time: "> 5 s" fires only above 5.
		{"p95 5.0 approaching", model.Laptop, func(m *Metrics) { m.P95 = 5 }, Prepare, "server", "response time (p95)", "approaching"},
		{"p95 5.1 red", model.Laptop, func(m *Metrics) { m.P95 = 5.1 }, Upgrade, "server", "response time (p95)", "over"},
		// Downtime: "> 2 %".
		{"downtime 2 approaching", model.Laptop, func(m *Metrics) { m.Downtime = 2 }, Prepare, "server", "downtime per month", "approaching"},
		{"downtime 2.5 red", model.Laptop, func(m *Metrics) { m.Downtime = 2.5 }, Upgrade, "server", "downtime per month", "over"},
		// Revenue: "50M+ VND".
		{"revenue 50M over", model.Laptop, func(m *Metrics) { m.Revenue = 50e6 }, Prepare, "server", "revenue per month", "over"},
		{"revenue 39M calm", model.Laptop, func(m *Metrics) { m.Revenue = 39e6 }, Stay, "laptop", "", ""},
		// Team: a laptop is run by 1-3 people.
		{"team 3 within", model.Laptop, func(m *Metrics) { m.Team = 3 }, Stay, "laptop", "", ""},
		{"team 4 over", model.Laptop, func(m *Metrics) { m.Team = 4 }, Prepare, "server", "team size", "over"},
		// Compliance.
		{"compliance medium over", model.Laptop, func(m *Metrics) { m.Compliance = "medium" }, Prepare, "server", "compliance needs", "over"},
		// Two business rows at once: upgrade.
		{"users and revenue", model.Laptop, func(m *Metrics) { m.Users = 150; m.Revenue = 60e6 }, Upgrade, "server", "concurrent users", "over"},
		// The server's limits.
		{"server users 999", model.Server, func(m *Metrics) { m.Users = 999 }, Prepare, "cloud", "concurrent users", "approaching"},
		{"server users 1000", model.Server, func(m *Metrics) { m.Users = 1000 }, Prepare, "cloud", "concurrent users", "over"},
		{"server p95 3 calm", model.Server, func(m *Metrics) { m.P95 = 2.3 }, Stay, "server", "", ""},
		{"server p95 3.2", model.Server, func(m *Metrics) { m.P95 = 3.2 }, Upgrade, "cloud", "response time (p95)", "over"},
		{"server downtime 0.5", model.Server, func(m *Metrics) { m.Downtime = 0.5 }, Prepare, "cloud", "downtime per month", "approaching"},
		{"server downtime 0.6", model.Server, func(m *Metrics) { m.Downtime = 0.6 }, Upgrade, "cloud", "downtime per month", "over"},
		{"server revenue 500M", model.Server, func(m *Metrics) { m.Revenue = 500e6 }, Prepare, "cloud", "revenue per month", "over"},
		{"server team 11", model.Server, func(m *Metrics) { m.Team = 11 }, Prepare, "cloud", "team size", "over"},
		{"server enterprise", model.Server, func(m *Metrics) { m.Compliance = "enterprise" }, Prepare, "cloud", "compliance needs", "over"},
		// The cloud scales within itself.
		{"cloud p95 2.5", model.Cloud, func(m *Metrics) { m.P95 = 2.5; m.Downtime = 0 }, Upgrade, "cloud", "response time (p95)", "over"},
		{"cloud growth", model.Cloud, func(m *Metrics) { m.Downtime = 0; m.Growth = 25 }, Prepare, "cloud", "user growth", "approaching"},
		// The stack's estimated capacity (nfx capacity): 80 % of it approaches, all of it fires.
		{"capacity 56 of 71 calm", model.Laptop, func(m *Metrics) { m.Users = 56; m.Capacity = 71 }, Stay, "laptop", "", ""},
		{"capacity 57 of 71 approaching", model.Laptop, func(m *Metrics) { m.Users = 57; m.Capacity = 71 }, Prepare, "server", "estimated capacity", "approaching"},
		{"capacity 71 of 71 over", model.Laptop, func(m *Metrics) { m.Users = 71; m.Capacity = 71 }, Prepare, "server", "estimated capacity", "over"},
		// Past both the stack's estimate and the seed's limit: two rows, upgrade now.
		{"capacity and the matrix", model.Laptop, func(m *Metrics) { m.Users = 100; m.Capacity = 71 }, Upgrade, "server", "estimated capacity", "over"},
		// Unknown capacity: the matrix alone.
		{"capacity unknown", model.Laptop, func(m *Metrics) { m.Users = 75 }, Stay, "laptop", "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := calm()
			if c.stage == model.Server {
				m.Downtime = 0.1
			}
			c.edit(&m)
			a, err := Evaluate(c.stage, m)
			if err != nil {
				t.Fatal(err)
			}
			if a.Recommendation != c.rec || a.TargetStage != c.target {
				t.Fatalf("got %s -> %s, want %s -> %s; reasons %+v", a.Recommendation, a.TargetStage, c.rec, c.target, a.Reasons)
			}
			if c.metric == "" {
				if len(a.Reasons) != 0 {
					t.Errorf("reasons for a calm stage: %+v", a.Reasons)
				}
				return
			}
			found := false
			for _, r := range a.Reasons {
				if r.Metric == c.metric && r.State == c.state && r.Text != "" {
					found = true
				}
			}
			if !found {
				t.Errorf("no %s reason for %s: %+v", c.state, c.metric, a.Reasons)
			}
		})
	}
}

func TestRedSignalsAndMistakes(t *testing.T) {
	m := calm()
	m.P95 = 7
	a, _ := Evaluate(model.Laptop, m)
	if a.Signal != "red" || a.Recommendation != Upgrade {
		t.Errorf("performance degradation: %+v", a)
	}
	m = calm()
	m.Revenue = 80e6
	a, _ = Evaluate(model.Laptop, m)
	if a.Signal != "yellow" || len(a.Avoid) == 0 || !strings.Contains(a.Avoid[0], "too early") {
		t.Errorf("revenue alone should warn against upgrading too early: %+v", a)
	}
}

func TestBadInput(t *testing.T) {
	cases := map[string]struct {
		stage model.Stage
		m     Metrics
		want  string
	}{
		"negative users":   {model.Laptop, Metrics{Users: -1, Compliance: "basic"}, "--users"},
		"negative p95":     {model.Laptop, Metrics{P95: -2, Compliance: "basic"}, "--p95"},
		"downtime 150":     {model.Laptop, Metrics{Downtime: 150, Compliance: "basic"}, "--downtime"},
		"unknown level":    {model.Laptop, Metrics{Compliance: "iso"}, `--compliance: unknown level "iso"`},
		"unknown stage":    {model.Stage("desktop"), Metrics{Compliance: "basic"}, "--stage"},
		"negative revenue": {model.Laptop, Metrics{Revenue: -5, Compliance: "basic"}, "--revenue"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := Evaluate(c.stage, c.m); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v, want an error naming %s", err, c.want)
			}
		})
	}
}
