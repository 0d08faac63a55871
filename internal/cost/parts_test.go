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
			if st == model.Cloud {
				vals = map[string]string{"services": testutil.ServicesConfig, "cloud": `{"zoneId": "0123456789abcdef0123456789abcdef"}`, "crm": `{"port": 8080}`}
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
