package laptop

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/nextflow-crm/nfx/internal/model"
	"github.com/nextflow-crm/nfx/internal/monitoring"
	"github.com/nextflow-crm/nfx/internal/testutil"
	"github.com/nextflow-crm/nfx/stacks/internal/monsvc"
)

// The laptop's monitoring as Compose loads it: the files Prometheus, the
// blackbox and postgres exporters read are the plan's, byte for byte
// after Compose's interpolation (every $ escaped), and promtool accepts
// them; every exporter sits on the internal network with what it watches,
// only Prometheus is published, on loopback; secrets stay files.
func TestLaptopMonitoring(t *testing.T) {
	app := loadApp(t, variants["default"])
	data, err := Render(app)
	if err != nil {
		t.Fatal(err)
	}
	p := loadCompose(t, data)
	plan, err := monitoring.For(app, monitoring.Settings{Interval: 30e9, Retention: 31 * 24 * 3600e9})
	if err != nil {
		t.Fatal(err)
	}
	want, err := plan.Files()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for name, body := range want {
		cfg, ok := p.Configs[monsvc.ConfigKey(name)]
		if !ok {
			t.Fatalf("compose.yaml has no config for %s", name)
		}
		if cfg.Content != string(body) {
			t.Errorf("%s as Compose loads it differs from the plan's:\n%s", name, cfg.Content)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(cfg.Content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if !strings.Contains(string(data), "$${1}") {
		t.Error("the probes' relabel replacement ${1} is not escaped for Compose")
	}
	promtool := testutil.Tool(t, "promtool")
	for _, n := range testutil.LocalSecrets(t, dir, monitoring.PrometheusFile) {
		if svc := p.Services[monitoring.PrometheusService]; !slices.ContainsFunc(svc.Secrets, func(s types.ServiceSecretConfig) bool { return s.Target == n }) {
			t.Errorf("prometheus.yml reads /run/secrets/%s, which the Prometheus service does not mount", n)
		}
	}
	for _, args := range [][]string{{"check", "config", monitoring.PrometheusFile}, {"check", "rules", monitoring.RulesFile}} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("promtool %v: %v\n%s", args, err, out)
		}
	}
	for _, in := range app.Instances() {
		if in.Role != model.RoleMonitoring {
			continue
		}
		svc, ok := p.Services[in.Name]
		if !ok {
			t.Errorf("%s is not rendered", in.Name)
			continue
		}
		if _, ok := svc.Networks[model.NetBackend]; !ok {
			t.Errorf("%s is not on the internal network", in.Name)
		}
		ui := in.Name == "prometheus" || in.Name == model.GrafanaService
		if _, front := svc.Networks[model.NetFrontend]; front != ui {
			t.Errorf("%s on the frontend network: %v", in.Name, front)
		}
		if len(svc.Ports) > 0 && (!ui || svc.Ports[0].HostIP != "127.0.0.1") {
			t.Errorf("%s publishes %+v", in.Name, svc.Ports)
		}
	}
	pe := p.Services["postgres-exporter"]
	if uri := pe.Environment["DATA_SOURCE_URI"]; uri == nil || *uri != "postgres:5432/nextflow?sslmode=disable" {
		t.Errorf("postgres-exporter reads %v", uri)
	}
	re := p.Services["redis-exporter"]
	if addr := re.Environment["REDIS_ADDR"]; addr == nil || *addr != "redis://redis:6379" || !strings.Contains(strings.Join(re.Entrypoint, " "), `"$(cat /run/secrets/redis_password)"`) {
		t.Errorf("redis-exporter: %v %v", addr, re.Entrypoint)
	}
	// cloudflared serves its metrics to Prometheus, not just to itself.
	if !strings.Contains(strings.Join(p.Services["tunnel"].Command, " "), "--metrics 0.0.0.0:2000") {
		t.Errorf("tunnel: %v", p.Services["tunnel"].Command)
	}
}

// nextflow:monitoring.enabled false renders none of it, and the host fit
// gives its share back.
func TestLaptopMonitoringOff(t *testing.T) {
	app := loadApp(t, map[string]string{"monitoring": `{"enabled": false}`})
	data, err := Render(app)
	if err != nil {
		t.Fatal(err)
	}
	p := loadCompose(t, data)
	for name := range p.Services {
		if strings.Contains(name, "exporter") || name == "prometheus" || name == "blackbox" {
			t.Errorf("%s is rendered with the monitoring off", name)
		}
	}
	if len(p.Configs) != 0 || strings.Contains(string(data), VolPrometheus) {
		t.Error("the monitoring's configs or volume are rendered with it off")
	}
	if strings.Contains(strings.Join(p.Services["tunnel"].Command, " "), "0.0.0.0") {
		t.Error("cloudflared's metrics are open with the monitoring off")
	}
}

// Bad monitoring settings name the key, the value and the fix.
func TestMonitoringConfigErrors(t *testing.T) {
	for _, tc := range []struct{ value, key, want string }{
		{`{"retentionDays": 0}`, "nextflow:monitoring.retentionDays", "got 0"},
		{`{"retentionDays": 99999}`, "nextflow:monitoring.retentionDays", "got 99999"},
		{`{"scrapeSeconds": 1}`, "nextflow:monitoring.scrapeSeconds", "got 1"},
		{`{"prometheusPort": 70000}`, "nextflow:monitoring.prometheusPort", "got 70000"},
		{`{"enabled": "yes; rm -rf /"}`, "nextflow:monitoring", "enabled"},
		{`{"retentionDays": "NaN"}`, "nextflow:monitoring", "retentionDays"},
		{`{"diskGB": "NaN"}`, "nextflow:monitoring", "diskGB"},
		{`{"diskGB": 1e300}`, "nextflow:monitoring", "diskGB"},
		{`{"diskGB": 5000000}`, "nextflow:monitoring.diskGB", "got 5000000"},
		{`{"diskGB": 1, "retentionDays": 3000, "scrapeSeconds": 5}`, "nextflow:monitoring.diskGB", "raise it to"},
		{`{"diskGB": "'$(reboot)'"}`, "nextflow:monitoring", "diskGB"},
	} {
		_, ds := model.Load("laptop", model.Raw{Values: map[string]string{"monitoring": tc.value}, Secret: map[string]bool{}, Complete: true}, model.LoadOptions{})
		if !ds.HasErrors() || !strings.Contains(ds.Error(), tc.key) || !strings.Contains(ds.Error(), tc.want) {
			t.Errorf("%s: %v", tc.value, ds.Error())
		}
	}
	// Below the advisor's window is a warning, not an error.
	_, ds := model.Load("laptop", model.Raw{Values: map[string]string{"monitoring": `{"retentionDays": 7}`}, Secret: map[string]bool{}, Complete: true}, model.LoadOptions{})
	if ds.HasErrors() || !strings.Contains(ds.Error(), "30-day window") {
		t.Errorf("7 days: %v", ds.Error())
	}
}
