package monitoring

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/nextflow-crm/nfx/internal/model"
	"github.com/nextflow-crm/nfx/internal/testutil"
)

func plan(t *testing.T, stage string, s Settings) *Plan {
	t.Helper()
	cfg, ds := model.Load(stage, model.Raw{Values: map[string]string{}, Secret: map[string]bool{}}, model.LoadOptions{})
	if ds.HasErrors() {
		t.Fatal(ds.Error())
	}
	p, err := For(model.Build(cfg), s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func serverPlan(t *testing.T) *Plan {
	return plan(t, "server", Settings{Alertmanager: true, Swarm: "nextflow"})
}

// write renders the plan's files into a fresh directory.
func write(t *testing.T, p *Plan) string {
	t.Helper()
	files, err := p.Files()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func promtool(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command(testutil.Tool(t, "promtool"), args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// Every stage's rendered configuration, rules and Alertmanager config
// pass the real tools that load them.
func TestRenderedFilesPassPromtool(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    *Plan
	}{
		{"laptop", plan(t, "laptop", Settings{})},
		{"server", serverPlan(t)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := write(t, tc.p)
			// Qdrant answers /metrics only with its API key.
			if names := testutil.LocalSecrets(t, dir, PrometheusFile); !slices.Contains(names, model.SecretQdrantAPIKey) {
				t.Fatalf("the qdrant job sends no API key (secret files named: %v)", names)
			}
			out := promtool(t, dir, "check", "config", PrometheusFile)
			if !strings.Contains(out, "SUCCESS") {
				t.Fatalf("promtool check config:\n%s", out)
			}
			promtool(t, dir, "check", "rules", RulesFile)
			if tc.p.Alertmanager != "" {
				cmd := exec.Command(testutil.Tool(t, "amtool"), "check-config", AlertmanagerFile)
				cmd.Dir = dir
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("amtool check-config: %v\n%s", err, out)
				}
			}
		})
	}
}

// The server scrapes every replica and peer it runs: each CRM replica and
// each GPU node by Swarm task discovery, both PostgreSQL and both Redis
// instances and the Sentinels by their exporters, each Qdrant peer, nginx.
func TestServerScrapesEveryInstance(t *testing.T) {
	p := serverPlan(t)
	want := map[string][]string{
		"postgres": {"postgres-primary-exporter:9187", "postgres-replica-exporter:9187"},
		"redis":    {"redis-primary-exporter:9121", "redis-replica-exporter:9121"},
		"sentinel": {"redis-sentinel-exporter:9121"},
		"qdrant":   {"qdrant-1:6333", "qdrant-2:6333", "qdrant-3:6333"},
		"ollama":   {"ai-1:11434", "ai-2:11434"},
		"nginx":    {"nginx-exporter:9113"},
	}
	for job, targets := range want {
		j, ok := p.Job(job)
		if !ok {
			t.Errorf("no %s job", job)
			continue
		}
		if strings.Join(j.Targets, " ") != strings.Join(targets, " ") {
			t.Errorf("%s targets %v, want %v", job, j.Targets, targets)
		}
	}
	for _, job := range []string{"crm", "crm-app", "gpu", "tunnel"} {
		if j, ok := p.Job(job); !ok || j.Swarm == "" {
			t.Errorf("%s: want Swarm task discovery, got %+v", job, j)
		}
	}
	var cfg struct {
		ScrapeConfigs []scrapeConfig `yaml:"scrape_configs"`
	}
	data, err := p.PrometheusConfig()
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		t.Fatal(err)
	}
	for _, sc := range cfg.ScrapeConfigs {
		if sc.JobName != "crm" {
			continue
		}
		if len(sc.SwarmSD) != 1 || sc.SwarmSD[0].Port != 3000 || sc.Relabel[0].Regex != `nextflow_crm` {
			t.Errorf("crm discovery: %+v", sc)
		}
	}
	if p.RetentionFlag() != "31d" {
		t.Errorf("retention %s, want 31d (the advisor's 30-day window)", p.RetentionFlag())
	}
}

// The laptop runs no Alertmanager, no replica alerts and no backup alerts:
// it has neither.
func TestLaptopRulesMatchWhatItRuns(t *testing.T) {
	p := plan(t, "laptop", Settings{})
	names := map[string]bool{}
	for _, g := range p.RuleGroups() {
		for _, r := range g.Rules {
			names[r.Alert] = true
		}
	}
	for _, absent := range []string{"PostgresReplicaStopped", "RedisFailover", "BackupTooOld", "NginxDown"} {
		if names[absent] {
			t.Errorf("laptop has %s but runs nothing it watches", absent)
		}
	}
	for _, present := range []string{"CRMDown", "OllamaDown", "PostgresDown", "RedisDown", "QdrantDown", "CRMErrorBudgetBurn", "DiskAlmostFull", "GPUMemoryFull", "TunnelDisconnected"} {
		if !names[present] {
			t.Errorf("laptop lacks %s", present)
		}
	}
	if _, err := p.Files(); err != nil {
		t.Fatal(err)
	}
	if p.Alertmanager != "" {
		t.Error("laptop renders an Alertmanager")
	}
}
