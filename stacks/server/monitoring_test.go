package server

import (
	"net"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/nextflow-crm/nfx/internal/model"
	"github.com/nextflow-crm/nfx/internal/monitoring"
	"github.com/nextflow-crm/nfx/internal/testutil"
)

// The server's monitoring as the stack deploys it: promtool and amtool
// accept the files the services mount; every address Prometheus scrapes
// is a service of the stack on a network Prometheus shares, and every
// Swarm-discovered job names a service of the stack on the network its
// relabelling keeps; exporters read their passwords from secrets; with
// monitoring off, none of it is rendered and nginx has no status port.
func TestServerMonitoringAsDeployed(t *testing.T) {
	for name, values := range serverVariants {
		t.Run(name, func(t *testing.T) {
			dir := writeRendered(t, values)
			promtool := testutil.Tool(t, "promtool")
			p := loadStack(t, values)
			prom := p.Services[monitoring.PrometheusService]
			// Every secret file the configuration names is mounted in
			// Prometheus's container (Qdrant's API key for its metrics).
			mounted := map[string]bool{}
			for _, s := range prom.Secrets {
				mounted[s.Target] = true
			}
			names := testutil.LocalSecrets(t, filepath.Join(dir, "monitoring"), monitoring.PrometheusFile)
			for _, n := range names {
				if !mounted[n] {
					t.Errorf("prometheus.yml reads /run/secrets/%s, which the Prometheus service does not mount", n)
				}
			}
			if !slices.Contains(names, model.SecretQdrantAPIKey) {
				t.Errorf("the qdrant job sends no API key; Qdrant answers /metrics only with one")
			}
			for _, args := range [][]string{{promtool, "check", "config", monitoring.PrometheusFile}, {testutil.Tool(t, "amtool"), "check-config", monitoring.AlertmanagerFile}} {
				cmd := exec.Command(args[0], args[1:]...)
				cmd.Dir = filepath.Join(dir, "monitoring")
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("%v: %v\n%s", args, err, out)
				}
			}
			files := renderServer(t, values)
			var cfg struct {
				ScrapeConfigs []struct {
					JobName       string `yaml:"job_name"`
					StaticConfigs []struct {
						Targets []string `yaml:"targets"`
					} `yaml:"static_configs"`
					Relabel []struct {
						SourceLabels []string `yaml:"source_labels"`
						Regex        string   `yaml:"regex"`
						Replacement  string   `yaml:"replacement"`
						TargetLabel  string   `yaml:"target_label"`
					} `yaml:"relabel_configs"`
				} `yaml:"scrape_configs"`
			}
			if err := yaml.Unmarshal(files["monitoring/"+monitoring.PrometheusFile], &cfg); err != nil {
				t.Fatal(err)
			}
			reach := func(job, addr string) {
				host, _, err := net.SplitHostPort(addr)
				if err != nil {
					t.Errorf("%s: target %q: %v", job, addr, err)
					return
				}
				if host == "localhost" {
					return
				}
				svc, ok := p.Services[host]
				if !ok {
					t.Errorf("%s scrapes %s, which is not a service of the stack", job, addr)
					return
				}
				shared := false
				for n := range svc.Networks {
					if _, ok := prom.Networks[n]; ok {
						shared = true
					}
				}
				if !shared {
					t.Errorf("%s scrapes %s on %v, which Prometheus (%v) is not on", job, host, svc.Networks, prom.Networks)
				}
			}
			for _, sc := range cfg.ScrapeConfigs {
				for _, st := range sc.StaticConfigs {
					for _, tg := range st.Targets {
						reach(sc.JobName, tg)
					}
				}
				for _, r := range sc.Relabel {
					if r.TargetLabel == "__address__" {
						reach(sc.JobName, r.Replacement) // the blackbox prober
					}
					if len(r.SourceLabels) != 1 {
						continue
					}
					switch r.SourceLabels[0] {
					case "__meta_dockerswarm_service_name":
						svc := strings.TrimPrefix(strings.ReplaceAll(r.Regex, `\`, ""), StackName+"_")
						if _, ok := p.Services[svc]; !ok {
							t.Errorf("%s discovers %s, which is not a service of the stack", sc.JobName, svc)
						}
						net := ""
						for _, r2 := range sc.Relabel {
							if len(r2.SourceLabels) == 1 && r2.SourceLabels[0] == "__meta_dockerswarm_network_name" {
								net = strings.TrimPrefix(r2.Regex, StackName+"_")
							}
						}
						if _, ok := p.Services[svc].Networks[net]; !ok {
							t.Errorf("%s keeps %s's tasks on network %q, which it is not on (%v)", sc.JobName, svc, net, p.Services[svc].Networks)
						}
						if _, ok := prom.Networks[net]; !ok {
							t.Errorf("%s scrapes on %q, which Prometheus is not on", sc.JobName, net)
						}
					}
				}
			}
			for _, name := range []string{"postgres-primary-exporter", "postgres-replica-exporter", "redis-primary-exporter", "redis-sentinel-exporter"} {
				if len(p.Services[name].Secrets) != 1 {
					t.Errorf("%s reads no password secret", name)
				}
			}
			if !strings.Contains(string(files["nginx/nginx.conf"]), "listen 8081;") {
				t.Error("nginx serves no stub_status for its exporter")
			}
		})
	}
	off := map[string]string{"monitoring": `{"enabled": false}`}
	files := renderServer(t, off)
	for path := range files {
		if strings.HasPrefix(path, "monitoring/") {
			t.Errorf("monitoring off renders %s", path)
		}
	}
	if strings.Contains(string(files["nginx/nginx.conf"]), "stub_status") {
		t.Error("monitoring off: nginx still serves stub_status")
	}
	p := loadStack(t, off)
	for name, svc := range p.Services {
		if svc.Deploy.Labels["dev.nfx.part"] == "monitoring" {
			t.Errorf("monitoring off renders %s", name)
		}
		for _, v := range svc.Volumes {
			if v.Source == VolBackupMetrics {
				t.Errorf("monitoring off: %s mounts %s", name, v.Source)
			}
		}
	}
}
