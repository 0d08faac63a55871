package monitoring

import (
	"encoding/json"
	"fmt"
)

// Grafana's side of a stage's monitoring: one overview dashboard derived
// from the same plan as the scrape jobs and the alert rules, and the
// provisioning files that load it and the stage's Prometheus as its data
// source (Grafana's file provisioning: apiVersion 1 providers and
// datasources, /etc/grafana/provisioning). The dashboard is the classic
// JSON model; schemaVersion 39 loads in Grafana 10.4 and later, which
// migrate it up.
const (
	DashboardFile   = "nextflow-overview.json"
	DashboardUID    = "nextflow-overview"
	DatasourceUID   = "prometheus"
	DatasourcesFile = "grafana-datasources.yml"
	DashboardsFile  = "grafana-dashboards.yml"
	// DashboardsDir is where the provider reads the dashboards from, and
	// ProvisioningDir where Grafana's image reads its provisioning
	// (GF_PATHS_PROVISIONING).
	DashboardsDir   = "/etc/grafana/dashboards"
	ProvisioningDir = "/etc/grafana/provisioning"
	GrafanaPort     = 3000
	// GrafanaPrometheus is the stage's Prometheus as Grafana reaches it on
	// a self-hosted stage's backend network.
	GrafanaPrometheus   = "http://prometheus:9090"
	DashboardSchema     = 39
	dashboardGridColumn = 24
)

// Dashboard is Grafana's classic dashboard model, the fields nfx sets.
type Dashboard struct {
	UID           string    `json:"uid"`
	Title         string    `json:"title"`
	Description   string    `json:"description"`
	Tags          []string  `json:"tags"`
	Timezone      string    `json:"timezone"`
	Editable      bool      `json:"editable"`
	GraphTooltip  int       `json:"graphTooltip"`
	Time          TimeRange `json:"time"`
	Refresh       string    `json:"refresh"`
	SchemaVersion int       `json:"schemaVersion"`
	Panels        []Panel   `json:"panels"`
	Templating    listOf    `json:"templating"`
	Annotations   listOf    `json:"annotations"`
	Links         []any     `json:"links"`
	Version       int       `json:"version"`
}

// TimeRange is a dashboard's default range.
type TimeRange struct {
	From string `json:"from"`
	To   string `json:"to"`
}

type listOf struct {
	List []any `json:"list"`
}

// Panel is one panel or row.
type Panel struct {
	ID          int          `json:"id"`
	Type        string       `json:"type"`
	Title       string       `json:"title"`
	Description string       `json:"description,omitempty"`
	GridPos     GridPos      `json:"gridPos"`
	Datasource  *DataSource  `json:"datasource,omitempty"`
	Targets     []Target     `json:"targets,omitempty"`
	FieldConfig *FieldConfig `json:"fieldConfig,omitempty"`
	// Collapsed and Panels are a row's.
	Collapsed *bool    `json:"collapsed,omitempty"`
	Panels    *[]Panel `json:"panels,omitempty"`
}

// GridPos places a panel on the 24-column grid.
type GridPos struct {
	H int `json:"h"`
	W int `json:"w"`
	X int `json:"x"`
	Y int `json:"y"`
}

// DataSource names the provisioned Prometheus.
type DataSource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// Target is one PromQL query of a panel.
type Target struct {
	RefID        string      `json:"refId"`
	Expr         string      `json:"expr"`
	LegendFormat string      `json:"legendFormat,omitempty"`
	Datasource   *DataSource `json:"datasource"`
}

// FieldConfig sets a panel's unit and bounds.
type FieldConfig struct {
	Defaults  FieldDefaults `json:"defaults"`
	Overrides []any         `json:"overrides"`
}

// FieldDefaults are a panel's field defaults.
type FieldDefaults struct {
	Unit string   `json:"unit,omitempty"`
	Min  *float64 `json:"min,omitempty"`
	Max  *float64 `json:"max,omitempty"`
}

// PanelQuery is one panel's query as the plan derives it.
type PanelQuery struct {
	Expr, Legend string
}

// PanelSpec is one panel the overview shows.
type PanelSpec struct {
	Title, Description, Unit string
	// Stat panels show one figure; the others a time series.
	Stat    bool
	Queries []PanelQuery
}

// Section is a row of the overview.
type Section struct {
	Title  string
	Panels []PanelSpec
}

var prom = &DataSource{Type: "prometheus", UID: DatasourceUID}

// Sections are the overview's rows, derived from the plan: the service
// level from the same recorded series the burn-rate alerts read; then
// each part's panel where the stage scrapes it, with its alert's
// expression.
func (p *Plan) Sections() []Section {
	budget := 1 - p.UptimeTarget/100
	var burn []PanelQuery
	for _, w := range SLIWindows() {
		burn = append(burn, PanelQuery{fmt.Sprintf("%s / %s", CRMErrorRatio(w), num(budget)), w})
	}
	slo := Section{Title: "Service level", Panels: []PanelSpec{
		{Title: "CRM up", Stat: true, Unit: "bool_yes_no", Description: "1 while a CRM replica answers its health URL (the rule " + CRMUp + ")",
			Queries: []PanelQuery{{CRMUp, ""}}},
		{Title: "Error budget spent, 30 days", Stat: true, Unit: "percentunit",
			Description: fmt.Sprintf("The share of the %s %% objective's 30-day budget the CRM's downtime has spent", num(p.UptimeTarget)),
			Queries:     []PanelQuery{{fmt.Sprintf("(1 - avg_over_time(%s[30d])) / %s", CRMUp, num(budget)), ""}}},
		{Title: "Burn rate", Unit: "none", Description: "The error budget's burn rate over each window the burn-rate alerts read (1 spends it in exactly 30 days)",
			Queries: burn},
	}}
	sections := []Section{slo}
	use := Section{Title: "Users and AI"}
	if _, ok := p.Job("crm-app"); ok {
		use.Panels = append(use.Panels,
			PanelSpec{Title: "Active users", Unit: "none", Queries: []PanelQuery{{fmt.Sprintf(`max(%s{job="crm-app"})`, ActiveUsersMetric), "users"}}},
			PanelSpec{Title: "CRM requests", Unit: "reqps", Queries: []PanelQuery{{fmt.Sprintf(`sum(rate(%s_count{job="crm-app"}[5m]))`, RequestDurationMetric), "requests/s"}}},
			PanelSpec{Title: "CRM response time, p95", Unit: "s", Queries: []PanelQuery{{fmt.Sprintf(`histogram_quantile(0.95, sum by (le) (rate(%s_bucket{job="crm-app"}[5m])))`, RequestDurationMetric), "p95"}}},
		)
	}
	if _, ok := p.Job("ollama-sli"); ok {
		use.Panels = append(use.Panels,
			PanelSpec{Title: "AI tokens per second", Unit: "none", Description: "Decode rate of the probe's generation on each AI node",
				Queries: []PanelQuery{{TokensPerSec, "{{target}}"}}},
			PanelSpec{Title: "AI time to first token", Unit: "s", Queries: []PanelQuery{{TimeToFirst, "{{target}}"}}},
			PanelSpec{Title: "AI probe success, 15 minutes", Unit: "percentunit", Queries: []PanelQuery{{fmt.Sprintf(`avg_over_time(%s[15m])`, ProbeSuccess), "{{target}}"}}},
		)
	}
	if _, ok := p.Job("ollama"); ok {
		use.Panels = append(use.Panels, PanelSpec{Title: "AI nodes up", Stat: true, Unit: "bool_yes_no", Queries: []PanelQuery{{OllamaUp, ""}}})
	}
	if _, ok := p.Job(VLLMMetricsJob); ok {
		sel := fmt.Sprintf(`{job=%q}`, VLLMMetricsJob)
		use.Panels = append(use.Panels,
			PanelSpec{Title: "AI pods up", Stat: true, Unit: "bool_yes_no", Queries: []PanelQuery{{VLLMUp, ""}}},
			PanelSpec{Title: "AI requests running and waiting", Unit: "none", Description: "vLLM's sequences in its batch, and those queued for room in its KV cache",
				Queries: []PanelQuery{{"sum by (model_name) (vllm:num_requests_running" + sel + ")", "{{model_name}} running"}, {"sum by (model_name) (vllm:num_requests_waiting" + sel + ")", "{{model_name}} waiting"}}},
			PanelSpec{Title: "AI time to first token and to last, p95", Unit: "s",
				Queries: []PanelQuery{{"histogram_quantile(0.95, sum by (le, model_name) (rate(vllm:time_to_first_token_seconds_bucket" + sel + "[5m])))", "{{model_name}} first"},
					{"histogram_quantile(0.95, sum by (le, model_name) (rate(vllm:e2e_request_latency_seconds_bucket" + sel + "[5m])))", "{{model_name}} last"}}},
			PanelSpec{Title: "AI KV cache used", Unit: "percentunit", Queries: []PanelQuery{{"max by (pod, model_name) (vllm:kv_cache_usage_perc" + sel + ")", "{{pod}} {{model_name}}"}}},
		)
	}
	if len(use.Panels) > 0 {
		sections = append(sections, use)
	}
	data := Section{Title: "Data"}
	if _, ok := p.Job("postgres"); ok {
		data.Panels = append(data.Panels, PanelSpec{Title: "PostgreSQL up", Unit: "bool_yes_no", Queries: []PanelQuery{{"pg_up", "{{instance}}"}}})
		if p.Replicated {
			data.Panels = append(data.Panels, PanelSpec{Title: "PostgreSQL replication lag", Unit: "bytes",
				Queries: []PanelQuery{{"nextflow_pg_replication_lag_bytes", "{{instance}} bytes"}}},
				PanelSpec{Title: "PostgreSQL replay lag", Unit: "s", Queries: []PanelQuery{{"nextflow_pg_replay_lag_seconds", "{{instance}}"}}})
		}
	}
	if _, ok := p.Job("redis"); ok {
		data.Panels = append(data.Panels,
			PanelSpec{Title: "Redis up", Unit: "bool_yes_no", Queries: []PanelQuery{{`redis_up{job="redis"}`, "{{instance}}"}}},
			PanelSpec{Title: "Redis memory", Unit: "bytes", Queries: []PanelQuery{{`redis_memory_used_bytes{job="redis"}`, "{{instance}}"}}})
		if p.Replicated {
			data.Panels = append(data.Panels, PanelSpec{Title: "Redis connected replicas", Unit: "none",
				Queries: []PanelQuery{{`max without (instance) (redis_connected_slaves{job="redis"})`, "replicas"}}})
		}
	}
	if _, ok := p.Job("qdrant"); ok {
		data.Panels = append(data.Panels, PanelSpec{Title: "Qdrant up", Unit: "bool_yes_no", Queries: []PanelQuery{{`up{job="qdrant"}`, "{{instance}}"}}})
	}
	if len(p.Backups) > 0 {
		data.Panels = append(data.Panels, PanelSpec{Title: "Age of the last backup", Unit: "s", Description: "Since each kind's last successful backup (the BackupTooOld alert fires past a day)",
			Queries: []PanelQuery{{fmt.Sprintf(`time() - max by (kind) (%s)`, BackupMetric), "{{kind}}"}}})
	}
	if len(p.BackupCronJobs) > 0 {
		data.Panels = append(data.Panels, PanelSpec{Title: "Age of the last backup", Unit: "s", Description: "Since each backup CronJob's last success (the BackupTooOld alert fires past a day)",
			Queries: []PanelQuery{{fmt.Sprintf(`time() - max by (cronjob) (kube_cronjob_status_last_successful_time{namespace=%q})`, CronJobNamespace), "{{cronjob}}"}}})
	}
	if len(data.Panels) > 0 {
		sections = append(sections, data)
	}
	hosts := Section{Title: "Machines"}
	if p.GPU {
		hosts.Panels = append(hosts.Panels,
			PanelSpec{Title: "GPU memory used", Unit: "percentunit", Queries: []PanelQuery{{`DCGM_FI_DEV_FB_USED / (DCGM_FI_DEV_FB_USED + DCGM_FI_DEV_FB_FREE)`, "{{instance}} GPU {{gpu}}"}}},
			PanelSpec{Title: "GPU utilisation", Unit: "percent", Queries: []PanelQuery{{`DCGM_FI_DEV_GPU_UTIL`, "{{instance}} GPU {{gpu}}"}}})
	}
	fs := `{fstype!~"tmpfs|overlay|squashfs|nsfs"}`
	hosts.Panels = append(hosts.Panels,
		PanelSpec{Title: "CPU busy", Unit: "percentunit", Queries: []PanelQuery{{`1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[5m]))`, "{{instance}}"}}},
		PanelSpec{Title: "Memory used", Unit: "percentunit", Queries: []PanelQuery{{`1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes`, "{{instance}}"}}},
		PanelSpec{Title: "Disk free", Unit: "percentunit", Description: "The DiskAlmostFull alert pages under 10 %",
			Queries: []PanelQuery{{fmt.Sprintf(`node_filesystem_avail_bytes%s / node_filesystem_size_bytes%s`, fs, fs), "{{instance}} {{mountpoint}}"}}},
	)
	return append(sections, hosts)
}

// Dashboard builds the stage's overview: a row per section, its panels
// laid out three to a row (stats six to a row).
func (p *Plan) Dashboard() Dashboard {
	d := Dashboard{
		UID: DashboardUID, Title: fmt.Sprintf("NextFlow %s: overview", p.Stage),
		Description: fmt.Sprintf("nfx's overview of the %s stage: the error budget of its %s %% objective, users and AI, the data stores, backups and the machines. Generated by nfx; edits are lost at the next render.", p.Stage, num(p.UptimeTarget)),
		Tags:        []string{"nextflow", "nfx", string(p.Stage)}, Timezone: "browser", GraphTooltip: 1,
		Time: TimeRange{From: "now-6h", To: "now"}, Refresh: "1m", SchemaVersion: DashboardSchema,
		Templating: listOf{List: []any{}}, Annotations: listOf{List: []any{}}, Links: []any{}, Version: 1,
	}
	id, y := 1, 0
	for _, s := range p.Sections() {
		collapsed := false
		d.Panels = append(d.Panels, Panel{ID: id, Type: "row", Title: s.Title, GridPos: GridPos{H: 1, W: dashboardGridColumn, X: 0, Y: y}, Collapsed: &collapsed, Panels: &[]Panel{}})
		id++
		y++
		x, h := 0, 0
		for _, ps := range s.Panels {
			w, ph, typ := 8, 8, "timeseries"
			if ps.Stat {
				w, ph, typ = 4, 4, "stat"
			}
			if x+w > dashboardGridColumn {
				x, y = 0, y+h
				h = 0
			}
			panel := Panel{ID: id, Type: typ, Title: ps.Title, Description: ps.Description, GridPos: GridPos{H: ph, W: w, X: x, Y: y},
				Datasource: prom, FieldConfig: &FieldConfig{Defaults: FieldDefaults{Unit: ps.Unit}, Overrides: []any{}}}
			for i, q := range ps.Queries {
				panel.Targets = append(panel.Targets, Target{RefID: string(rune('A' + i)), Expr: q.Expr, LegendFormat: q.Legend, Datasource: prom})
			}
			d.Panels = append(d.Panels, panel)
			id++
			x += w
			h = max(h, ph)
		}
		y += h
	}
	return d
}

// DashboardJSON is the overview, indented, with a final newline.
func (p *Plan) DashboardJSON() ([]byte, error) {
	b, err := json.MarshalIndent(p.Dashboard(), "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// GrafanaFiles are Grafana's provisioning files for a stage whose
// Prometheus answers at promURL: the data source (uid DatasourceUID, the
// scrape interval as Grafana's minimum step) and the dashboard provider
// reading DashboardsDir, which a render may not edit from the UI.
func (p *Plan) GrafanaFiles(promURL string) map[string][]byte {
	ds := fmt.Sprintf(`# Generated by nfx: the stage's Prometheus, Grafana's only data source.
apiVersion: 1
datasources:
  - name: Prometheus
    type: prometheus
    uid: %s
    access: proxy
    url: %s
    isDefault: true
    editable: false
    jsonData:
      timeInterval: %s
`, DatasourceUID, promURL, p.Interval)
	dash := fmt.Sprintf(`# Generated by nfx: the dashboards nfx renders, read-only in the UI.
apiVersion: 1
providers:
  - name: nextflow
    type: file
    folder: NextFlow
    disableDeletion: true
    allowUiUpdates: false
    updateIntervalSeconds: 60
    options:
      path: %s
`, DashboardsDir)
	return map[string][]byte{DatasourcesFile: []byte(ds), DashboardsFile: []byte(dash)}
}

// PanelQueries lists every query of the overview, for checks.
func (p *Plan) PanelQueries() []string {
	var out []string
	for _, s := range p.Sections() {
		for _, ps := range s.Panels {
			for _, q := range ps.Queries {
				out = append(out, q.Expr)
			}
		}
	}
	return out
}
