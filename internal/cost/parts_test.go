package cost

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/nextflow-crm/nfx/internal/model"
	"github.com/nextflow-crm/nfx/internal/plan"
	"github.com/nextflow-crm/nfx/internal/testutil"
)

// The bill is attributed to the parts, the user's services among them,
// and the parts add up to the total, on every stage.
func TestCostByPart(t *testing.T) {
	values := map[string]string{"services": testutil.ServicesConfig}
	var cloudPlan plan.Plan
	data, err := os.ReadFile("../../stacks/cloud/testdata/services/resources.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &cloudPlan); err != nil {
		t.Fatal(err)
	}
	for _, st := range model.Stages {
		t.Run(string(st), func(t *testing.T) {
			vals := values
			if st == model.Laptop {
				// Without the monitoring: its own line is TestMonitoringIsALine's.
				vals = map[string]string{"services": testutil.ServicesConfig, "monitoring": `{"enabled": false}`}
			}
			if st == model.Cloud {
				vals = map[string]string{"services": testutil.ServicesConfig, "tunnel": `{"mode": "managed", "hostname": "crm.nextflow.example", "accountId": "0123456789abcdef0123456789abcdef", "zoneId": "0123456789abcdef0123456789abcdef"}`, "crm": `{"port": 8080}`}
			}
			e, err := Compute(load(t, string(st), vals), &cloudPlan, VND)
			if err != nil {
				t.Fatal(err)
			}
			var sum float64
			parts := map[string]PartCost{}
			for _, p := range e.Parts {
				sum += p.Monthly
				parts[p.Part] = p
			}
			if !near(sum/1000, e.MonthlyTotal/1000) {
				t.Errorf("the parts add up to %.2f, the total is %.2f", sum, e.MonthlyTotal)
			}
			for _, n := range []string{"crm", "ai", "worker", "admin", "reports"} {
				if parts[n].Monthly <= 0 {
					t.Errorf("%s has no share of the bill: %+v", n, e.Parts)
				}
			}
			// The worker has 1.5 cores to the admin app's 1, on the same machines or pool.
			w, a := parts["worker"].Monthly/float64(map[model.Stage]int{model.Laptop: 1, model.Server: 3, model.Cloud: 4}[st]),
				parts["admin"].Monthly/float64(map[model.Stage]int{model.Laptop: 1, model.Server: 2, model.Cloud: 2}[st])
			if !near(w/a, 1.5) {
				t.Errorf("a worker replica costs %.2f, an admin replica %.2f: want 1.5x", w, a)
			}
			if st == model.Cloud && parts["postgres"].Basis == "its CPU share of its node pool" {
				t.Errorf("RDS is not the database's own line: %+v", parts["postgres"])
			}
		})
	}
}

// The laptop's monitoring is a line of its own: its services' CPU share of
// the machine, and nothing when it is turned off.
func TestMonitoringIsALine(t *testing.T) {
	on, err := Compute(load(t, "laptop", nil), nil, VND)
	if err != nil {
		t.Fatal(err)
	}
	off, err := Compute(load(t, "laptop", map[string]string{"monitoring": `{"enabled": false}`}), nil, VND)
	if err != nil {
		t.Fatal(err)
	}
	share := func(e *Estimate) float64 {
		for _, p := range e.Parts {
			if p.Part == model.RoleMonitoring {
				return p.Monthly
			}
		}
		return 0
	}
	var cpus float64
	for _, in := range model.MonitoringInstances(load(t, "laptop", nil)) {
		cpus += in.Sizing.CPUs * float64(in.Replicas)
	}
	if share(on) <= 0 || share(off) != 0 {
		t.Fatalf("monitoring's line: %.0f VND on, %.0f off", share(on), share(off))
	}
	// The machine costs the same: the monitoring takes its CPU share of it.
	if !near(on.MonthlyTotal, off.MonthlyTotal) {
		t.Errorf("the laptop's total moved: %.0f with monitoring, %.0f without", on.MonthlyTotal, off.MonthlyTotal)
	}
	t.Logf("monitoring: %.0f VND of %.0f a month for %g cpus", share(on), on.MonthlyTotal, cpus)
}
