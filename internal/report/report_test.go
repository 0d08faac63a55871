package report

import (
	"strings"
	"testing"

	"github.com/nextflow-crm/nfx/internal/capacity"
	"github.com/nextflow-crm/nfx/internal/model"
)

// The report's cloud row says what the second region does for the uptime:
// nothing with the data alone, failovers of stated minutes with a warm
// cluster, and the minutes the seed's uptime takes; the uptime itself to
// three decimals, so that two regions' 99.985 % does not read as 99.99.
func TestCapacityRowTwoRegions(t *testing.T) {
	row := func(values string) capRow {
		cfg, ds := model.Load("cloud", model.Raw{Values: map[string]string{"cloud": values}, Secret: map[string]bool{}}, model.LoadOptions{})
		if ds.HasErrors() {
			t.Fatal(ds)
		}
		e, err := capacity.Compute(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return capacityRow(Stage{Config: cfg, Capacity: e})
	}
	one := row(`{}`)
	data := row(`{"standbyRegion": "ap-southeast-1"}`)
	two := row(`{"standbyRegion": "ap-southeast-1", "standbyCluster": true}`)
	if strings.Contains(one.Note, "region") {
		t.Errorf("one region: %q", one.Note)
	}
	if data.Uptime != one.Uptime || !strings.Contains(data.Note, "the data also in ap-southeast-1, no cluster there") {
		t.Errorf("a data standby: %s, %q", data.Uptime, data.Note)
	}
	if two.Uptime != "99.985 %" || !strings.Contains(two.Note, "two regions (a warm cluster in ap-southeast-1): the uptime counts 25-minute failovers; the seed's takes them within 17") {
		t.Errorf("a standby cluster: %s, %q", two.Uptime, two.Note)
	}
}
