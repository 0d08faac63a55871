package monitoring

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"gopkg.in/yaml.v3"

	"github.com/nextflow-crm/nfx/internal/testutil"
)

// stagePlans are each stage's monitoring as the stages build it.
func stagePlans(t *testing.T) map[string]*Plan {
	return map[string]*Plan{
		"laptop": plan(t, "laptop", Settings{}),
		"server": serverPlan(t),
		"cloud":  plan(t, "cloud", Settings{Alertmanager: true}),
	}
}

// Each stage's overview is a dashboard Grafana's own model accepts: the
// JSON decoded strictly by the typed model Grafana publishes for its
// dashboards (grafana-foundation-sdk, generated from Grafana's schema:
// unknown fields, missing required fields and wrong types are errors)
// and passing its validation; panels with unique ids inside the 24-column
// grid, none overlapping, each query on the provisioned Prometheus.
func TestDashboardLoadsInGrafanasModel(t *testing.T) {
	plugins.RegisterDefaultPlugins()
	for stage, p := range stagePlans(t) {
		b, err := p.DashboardJSON()
		if err != nil {
			t.Fatal(err)
		}
		var d dashboard.Dashboard
		if err := d.UnmarshalJSONStrict(b); err != nil {
			// The SDK returns its (empty) list of errors even when there is none.
			var be cog.BuildErrors
			if !errors.As(err, &be) || len(be) > 0 {
				t.Fatalf("%s: Grafana's dashboard model refuses the overview: %v", stage, err)
			}
		}
		if err := d.Validate(); err != nil {
			t.Errorf("%s: %v", stage, err)
		}
		if d.Uid == nil || *d.Uid != DashboardUID || d.SchemaVersion != DashboardSchema || len(d.Panels) == 0 {
			t.Errorf("%s: uid %v, schema %d, %d panels", stage, d.Uid, d.SchemaVersion, len(d.Panels))
		}
		var raw Dashboard
		if err := json.Unmarshal(b, &raw); err != nil {
			t.Fatal(err)
		}
		ids := map[int]bool{}
		cells := map[[2]int]string{}
		for _, pn := range raw.Panels {
			if ids[pn.ID] {
				t.Errorf("%s: panel id %d twice", stage, pn.ID)
			}
			ids[pn.ID] = true
			g := pn.GridPos
			if g.X < 0 || g.W < 1 || g.X+g.W > 24 || g.H < 1 {
				t.Errorf("%s: %q is off the grid: %+v", stage, pn.Title, g)
			}
			for x := g.X; x < g.X+g.W; x++ {
				for y := g.Y; y < g.Y+g.H; y++ {
					if other, ok := cells[[2]int{x, y}]; ok {
						t.Errorf("%s: %q overlaps %q at %d,%d", stage, pn.Title, other, x, y)
					}
					cells[[2]int{x, y}] = pn.Title
				}
			}
			if pn.Type == "row" {
				continue
			}
			if pn.Datasource == nil || pn.Datasource.UID != DatasourceUID || len(pn.Targets) == 0 {
				t.Errorf("%s: %q has no query on the provisioned Prometheus", stage, pn.Title)
			}
		}
	}
}

// exporterSeries are what the stages' exporters and probes publish, named
// and labelled as they publish them (the series the alert rules read): the
// input every panel's query is evaluated on. They are written here, not
// derived from the panels, so that a panel reading a series nothing
// publishes returns nothing and fails.
var exporterSeries = []series{
	{`probe_success{job="crm",instance="crm:3000"}`, "1x90"},
	{`probe_success{job="ollama",instance="ai:11434"}`, "1x90"},
	{`nextflow_crm_active_users{job="crm-app",instance="crm:3000"}`, "12x90"},
	{`http_request_duration_seconds_bucket{job="crm-app",instance="crm:3000",le="0.5"}`, "0+20x90"},
	{`http_request_duration_seconds_bucket{job="crm-app",instance="crm:3000",le="+Inf"}`, "0+25x90"},
	{`http_request_duration_seconds_count{job="crm-app",instance="crm:3000"}`, "0+25x90"},
	{`nextflow_ollama_probe_success{job="ollama-sli",target="ai"}`, "1x90"},
	{`nextflow_ollama_tokens_per_second{job="ollama-sli",target="ai"}`, "41x90"},
	{`nextflow_ollama_time_to_first_token_seconds{job="ollama-sli",target="ai"}`, "0.3x90"},
	{`pg_up{job="postgres",instance="postgres"}`, "1x90"},
	{`nextflow_pg_replication_lag_bytes{job="postgres",instance="postgres"}`, "0x90"},
	{`nextflow_pg_replay_lag_seconds{job="postgres",instance="postgres-replica"}`, "0x90"},
	{`redis_up{job="redis",instance="redis"}`, "1x90"},
	{`redis_memory_used_bytes{job="redis",instance="redis"}`, "1000000x90"},
	{`redis_connected_slaves{job="redis",instance="redis"}`, "1x90"},
	{`up{job="qdrant",instance="qdrant:6333"}`, "1x90"},
	{BackupMetric + `{job="node",instance="node",kind="postgres"}`, "100x90"},
	{`kube_cronjob_status_last_successful_time{job="kube-state-metrics",namespace="nextflow",cronjob="backup-qdrant"}`, "100x90"},
	{`DCGM_FI_DEV_FB_USED{job="gpu",instance="gpu",gpu="0"}`, "6000x90"},
	{`DCGM_FI_DEV_FB_FREE{job="gpu",instance="gpu",gpu="0"}`, "2000x90"},
	{`DCGM_FI_DEV_GPU_UTIL{job="gpu",instance="gpu",gpu="0"}`, "55x90"},
	{`node_cpu_seconds_total{job="node",instance="node",cpu="0",mode="idle"}`, "0+30x90"},
	{`node_memory_MemAvailable_bytes{job="node",instance="node"}`, "4e9x90"},
	{`node_memory_MemTotal_bytes{job="node",instance="node"}`, "16e9x90"},
	{`node_filesystem_avail_bytes{job="node",instance="node",fstype="ext4",mountpoint="/"}`, "5e10x90"},
	{`node_filesystem_size_bytes{job="node",instance="node",fstype="ext4",mountpoint="/"}`, "1e11x90"},
}

// Every panel's query, evaluated by promtool with the stage's own rules
// loaded over what the exporters publish, returns data: a panel reading
// a recorded series the rules do not record, or a series no exporter
// publishes, or a query that does not parse, fails.
func TestPanelQueriesEvaluateWithTheRules(t *testing.T) {
	for stage, p := range stagePlans(t) {
		t.Run(stage, func(t *testing.T) {
			var exprs []exprT
			for _, q := range p.PanelQueries() {
				// 1 when the query returns any series at all.
				exprs = append(exprs, exprT{Expr: fmt.Sprintf("(count(%s) >= 0) * 0 + 1", q), EvalTime: "80m", Exp: []expSamp{{Labels: "{}", Value: 1}}})
			}
			runRuleTestsEvery(t, p, "1m", []ruleTest{{Name: stage + " overview", Interval: "1m", Series: exporterSeries, PromQL: exprs}})
		})
	}
	// And a panel reading a series nothing records fails the same check.
	p := plan(t, "laptop", Settings{})
	tests := []ruleTest{{Name: "a misspelt recorded series", Interval: "1m", Series: exporterSeries,
		PromQL: []exprT{{Expr: "(count(nextflow:crm_upp) >= 0) * 0 + 1", EvalTime: "80m", Exp: []expSamp{{Labels: "{}", Value: 1}}}}}}
	data, _ := yaml.Marshal(ruleTests{RuleFiles: []string{RulesFile}, EvaluationInterval: "1m", Tests: tests})
	dir := write(t, p)
	if out, err := promtoolRun(t, dir, data); err == nil || !strings.Contains(out, "nextflow:crm_upp") {
		t.Errorf("promtool passed a panel on a series nothing records: %v\n%s", err, out)
	}
}

// The provisioning files are the YAML Grafana reads: the data source is
// the stage's Prometheus under the uid the panels name, and the provider
// reads the directory the dashboard is mounted in.
func TestGrafanaProvisioning(t *testing.T) {
	p := serverPlan(t)
	files := p.GrafanaFiles("http://prometheus:9090")
	var ds struct {
		APIVersion  int `yaml:"apiVersion"`
		Datasources []struct {
			Name, Type, UID, Access, URL string
			IsDefault                    bool `yaml:"isDefault"`
			JSONData                     struct {
				TimeInterval string `yaml:"timeInterval"`
			} `yaml:"jsonData"`
		} `yaml:"datasources"`
	}
	if err := yaml.Unmarshal(files[DatasourcesFile], &ds); err != nil {
		t.Fatal(err)
	}
	if ds.APIVersion != 1 || len(ds.Datasources) != 1 || ds.Datasources[0].UID != DatasourceUID || ds.Datasources[0].URL != "http://prometheus:9090" ||
		ds.Datasources[0].Type != "prometheus" || ds.Datasources[0].JSONData.TimeInterval != "30s" {
		t.Errorf("datasources: %+v", ds)
	}
	var prov struct {
		APIVersion int `yaml:"apiVersion"`
		Providers  []struct {
			Type    string
			Options struct{ Path string }
		}
	}
	if err := yaml.Unmarshal(files[DashboardsFile], &prov); err != nil {
		t.Fatal(err)
	}
	if prov.APIVersion != 1 || len(prov.Providers) != 1 || prov.Providers[0].Type != "file" || prov.Providers[0].Options.Path != DashboardsDir {
		t.Errorf("dashboards provider: %+v", prov)
	}
}

// promtoolRun runs promtool test rules on tests, returning its output and
// error instead of failing.
func promtoolRun(t *testing.T, dir string, tests []byte) (string, error) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "tests.yml"), tests, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(testutil.Tool(t, "promtool"), "test", "rules", "tests.yml")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}
