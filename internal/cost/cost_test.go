package cost

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nextflow-crm/nfx/internal/model"
	"github.com/nextflow-crm/nfx/internal/plan"
	"github.com/nextflow-crm/nfx/internal/provider/aws"
	_ "github.com/nextflow-crm/nfx/internal/testutil"
)

func load(t *testing.T, stage string, values map[string]string) *model.Config {
	t.Helper()
	if values == nil {
		values = map[string]string{}
	}
	cfg, ds := model.Load(stage, model.Raw{Values: values, Secret: map[string]bool{}}, model.LoadOptions{})
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	return cfg
}

func line(t *testing.T, e *Estimate, item string) Line {
	t.Helper()
	for _, l := range e.Lines {
		if l.Item == item {
			return l
		}
	}
	t.Fatalf("no line %q in %+v", item, e.Lines)
	return Line{}
}

func near(a, b float64) bool { return math.Abs(a-b) < 0.011 }

// Lines against figures computed by hand.
func TestSelfHostedLinesByHand(t *testing.T) {
	e, err := Compute(load(t, "laptop", nil), &plan.Plan{}, VND)
	if err != nil {
		t.Fatal(err)
	}
	// (250 W + 1000 W) x 20 h x 30 days = 750 kWh; 750 x 3460 = 2,595,000 VND.
	if l := line(t, e, "electricity"); l.Monthly != 2_595_000 {
		t.Errorf("laptop electricity %v", l.Monthly)
	}
	if e.MonthlyTotal != 4_095_000 || e.OneTimeTotal != 0 {
		t.Errorf("laptop total %v, one-time %v", e.MonthlyTotal, e.OneTimeTotal)
	}
	e, _ = Compute(load(t, "server", nil), &plan.Plan{}, VND)
	// (3 x 550 + 500 + 60) W = 2210 W x 24 x 30 = 1591.2 kWh x 3460 = 5,505,552 VND.
	if l := line(t, e, "electricity"); l.Monthly != 5_505_552 {
		t.Errorf("server electricity %v", l.Monthly)
	}
	// 100,000,000 / 36 = 2,777,777.78.
	if l := line(t, e, "hardware amortisation"); !near(l.Monthly, 2_777_777.78) {
		t.Errorf("amortisation %v", l.Monthly)
	}
	if e.OneTimeTotal != 100_000_000 {
		t.Errorf("one-time %v", e.OneTimeTotal)
	}
	usd, _ := Compute(load(t, "server", nil), &plan.Plan{}, USD)
	if !near(usd.MonthlyTotal, e.MonthlyTotal/model.DefaultUsdVnd) && math.Abs(usd.MonthlyTotal-e.MonthlyTotal/model.DefaultUsdVnd) > 0.05 {
		t.Errorf("USD %v vs VND %v", usd.MonthlyTotal, e.MonthlyTotal)
	}
}

// EKS bills a version past its standard support at the extended rate: the
// same plan costs six times as much for its control plane on a later day.
func TestEKSExtendedSupportIsCharged(t *testing.T) {
	cases := []struct {
		version, day string
		want         float64
	}{
		{"1.35", "2026-12-05", 73},  // 0.10 x 730
		{"1.34", "2026-12-01", 73},  // its last day of standard support
		{"1.34", "2026-12-05", 438}, // 0.60 x 730
		{"1.31", "2026-06-01", 438},
		{"1.35", "2027-04-01", 438},
	}
	for _, tc := range cases {
		cfg := load(t, "cloud", nil)
		cfg.Today, _ = time.Parse("2006-01-02", tc.day)
		p := &plan.Plan{Resources: []plan.Resource{{Type: "aws:eks/cluster:Cluster", Name: "c", Inputs: map[string]any{"version": tc.version}}}}
		e, err := Compute(cfg, p, USD)
		if err != nil {
			t.Fatal(err)
		}
		if l := line(t, e, "EKS control plane"); !near(l.Monthly, tc.want) {
			t.Errorf("%s on %s: %v, want %v (%s)", tc.version, tc.day, l.Monthly, tc.want, l.Detail)
		}
	}
}

func TestCloudLinesByHand(t *testing.T) {
	cfg := load(t, "cloud", nil)
	cfg.Today = time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC) // 1.35 in standard support
	p := &plan.Plan{Resources: []plan.Resource{
		{Type: "aws:eks/cluster:Cluster", Name: "c", Inputs: map[string]any{"version": "1.35"}},
		{Type: "aws:eks/nodeGroup:NodeGroup", Name: "gpu", Inputs: map[string]any{
			"instanceTypes": []any{"g5.xlarge"}, "diskSize": 100.0,
			"scalingConfig": map[string]any{"desiredSize": 2.0, "maxSize": 4.0},
		}},
		{Type: "aws:rds/instance:Instance", Name: "db", Inputs: map[string]any{"instanceClass": "db.r6g.large", "multiAz": true, "allocatedStorage": 100.0}},
		{Type: "aws:elasticache/replicationGroup:ReplicationGroup", Name: "r", Inputs: map[string]any{"nodeType": "cache.r6g.large", "numCacheClusters": 2.0}},
		{Type: "aws:ec2/natGateway:NatGateway", Name: "n1"},
		{Type: "aws:ec2/natGateway:NatGateway", Name: "n2"},
		{Type: "aws:ec2/vpc:Vpc", Name: "vpc"},
		{Type: "aws:lambda/function:Function", Name: "mystery"},
		// A set an HPA scales has no replica count: its floor and ceiling.
		// Its pods' volumes are their own (ephemeral).
		{Type: "kubernetes:apps/v1:StatefulSet", Name: "ai", Inputs: map[string]any{"metadata": map[string]any{"name": "ai"}, "spec": map[string]any{
			"template": map[string]any{"spec": map[string]any{"volumes": []any{map[string]any{"name": "models", "ephemeral": map[string]any{
				"volumeClaimTemplate": map[string]any{"spec": map[string]any{"resources": map[string]any{"requests": map[string]any{"storage": "100Gi"}}}}}}}}}}}},
		{Type: "kubernetes:autoscaling/v2:HorizontalPodAutoscaler", Name: "ai-hpa", Inputs: map[string]any{"spec": map[string]any{
			"minReplicas": 2.0, "maxReplicas": 4.0, "scaleTargetRef": map[string]any{"kind": "StatefulSet", "name": "ai"}}}},
		{Type: "kubernetes:apps/v1:StatefulSet", Name: "qdrant", Inputs: map[string]any{"metadata": map[string]any{"name": "qdrant"}, "spec": map[string]any{"replicas": 3.0,
			"volumeClaimTemplates": []any{map[string]any{"spec": map[string]any{"resources": map[string]any{"requests": map[string]any{"storage": "50Gi"}}}}}}}},
	}}
	e, err := Compute(cfg, p, USD)
	if err != nil {
		t.Fatal(err)
	}
	checks := map[string][2]float64{
		"EKS control plane":   {73, 73},           // 0.10 x 730
		"nodes gpu":           {1468.76, 2937.52}, // 2 and 4 x 1.006 x 730
		"node disks gpu":      {16, 32},           // 2 and 4 x 100 GB x 0.08
		"database db":         {328.5, 328.5},     // 2 x 0.225 x 730
		"database storage db": {23, 23},           // 2 x 100 x 0.115
		"cache r":             {300.76, 300.76},   // 2 x 0.206 x 730
		"NAT gateways":        {65.7, 65.7},       // 2 x 0.045 x 730
		"NAT data processed":  {45, 45},           // 1000 GB x 0.045
		"data transfer out":   {180, 180},         // 2000 GB x 0.09
		"volumes ai":          {17.18, 34.36},     // 2 and 4 x 100 GiB (107.37 GB) x 0.08
		"volumes qdrant":      {12.88, 12.88},     // 3 x 50 GiB (53.69 GB) x 0.08
	}
	for item, want := range checks {
		l := line(t, e, item)
		if !near(l.Monthly, want[0]) || !near(l.MonthlyMax, want[1]) {
			t.Errorf("%s: %v / %v, want %v / %v", item, l.Monthly, l.MonthlyMax, want[0], want[1])
		}
	}
	if len(e.Unpriced) != 1 || e.Unpriced[0].Name != "mystery" {
		t.Errorf("unpriced: %+v", e.Unpriced)
	}
	if !strings.Contains(e.Prices, aws.PricesDate) {
		t.Errorf("prices carry no date: %s", e.Prices)
	}
}

func TestBadCostInput(t *testing.T) {
	if _, err := Compute(load(t, "laptop", nil), &plan.Plan{}, "EUR"); err == nil || !strings.Contains(err.Error(), `unknown currency "EUR"`) {
		t.Errorf("currency: %v", err)
	}
	cfg := load(t, "cloud", map[string]string{"cloud": `{"region": "eu-west-1"}`})
	if _, err := Compute(cfg, &plan.Plan{}, VND); err == nil || !strings.Contains(err.Error(), `no prices for "eu-west-1"`) {
		t.Errorf("region: %v", err)
	}
	_, ds := model.Load("laptop", model.Raw{Values: map[string]string{"costs": `{"tariff": -1, "usdVnd": 0}`}, Secret: map[string]bool{}}, model.LoadOptions{})
	if !strings.Contains(ds.Error(), "nextflow:costs.tariff") || !strings.Contains(ds.Error(), "nextflow:costs.usdVnd") {
		t.Errorf("bad costs: %s", ds)
	}
}

// A fixture in the documented shape of `pulumi preview --json`.
func TestPreviewJSON(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "preview.json"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := FromPreviewJSON("cloud", data)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Resources) != 4 {
		t.Fatalf("resources: %+v", p.Resources)
	}
	e, err := Compute(load(t, "cloud", nil), p, USD)
	if err != nil {
		t.Fatal(err)
	}
	if l := line(t, e, "nodes nextflow-general"); !near(l.Monthly, 3*0.192*730) || !near(l.MonthlyMax, 6*0.192*730) {
		t.Errorf("nodes from the preview: %+v", l)
	}
	if l := line(t, e, "database nextflow-postgres"); !near(l.Monthly, 2*0.225*730) {
		t.Errorf("database from the preview: %+v", l)
	}
	for _, l := range e.Lines {
		if strings.Contains(l.Item, "old-db") {
			t.Error("a deleted resource was priced")
		}
	}
	if _, err := FromPreviewJSON("cloud", []byte(`{"config": {}}`)); err == nil {
		t.Error("a document without steps was accepted")
	}
}
