package laptop

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/nextflow-crm/nfx/internal/model"
	"github.com/nextflow-crm/nfx/internal/testutil"
)

// variants are the laptop configurations under test; each has a golden file.
var variants = map[string]map[string]string{
	"default":   {},
	"no-tunnel": {"tunnel": `{"mode": "none"}`},
	"cpu-only":  {"ai": `{"gpu": false}`},
	"managed": {"tunnel": `{"mode": "managed", "hostname": "crm.example.com",
		"accountId": "0123456789abcdef0123456789abcdef", "zoneId": "fedcba9876543210fedcba9876543210"}`},
	// The user's own services, behind the tunnel and without one.
	// The user's services with the monitoring turned off.
	"services":           {"services": testutil.ServicesConfig, "secrets": testutil.ServicesSecrets, "monitoring": `{"enabled": false}`},
	"services-no-tunnel": {"services": testutil.ServicesConfig, "secrets": testutil.ServicesSecrets, "tunnel": `{"mode": "none"}`},
}

func loadApp(t testing.TB, values map[string]string) *model.App {
	t.Helper()
	cfg, ds := model.Load("laptop", model.Raw{Values: values, Secret: map[string]bool{}, Complete: true}, model.LoadOptions{})
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	return model.Build(cfg)
}

// loadCompose loads a rendered compose file with compose-go, validation on,
// the way `docker compose` would.
func loadCompose(t *testing.T, data []byte) *types.Project {
	t.Helper()
	dir := t.TempDir()
	file := filepath.Join(dir, ComposeFile)
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := loader.LoadWithContext(context.Background(), types.ConfigDetails{
		WorkingDir:  dir,
		ConfigFiles: []types.ConfigFile{{Filename: file, Content: data}},
		Environment: types.Mapping{},
	}, func(o *loader.Options) { o.SetProjectName(ProjectName, true) })
	if err != nil {
		t.Fatalf("compose-go rejects the rendered file: %v", err)
	}
	return p
}

func TestComposeGolden(t *testing.T) {
	for name, values := range variants {
		t.Run(name, func(t *testing.T) {
			got, err := Render(loadApp(t, values))
			if err != nil {
				t.Fatal(err)
			}
			again, err := Render(loadApp(t, values))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, again) {
				t.Fatal("rendering twice gave different bytes")
			}
			testutil.Golden(t, filepath.Join("testdata", name, ComposeFile), got)
		})
	}
}

// The rules a laptop user relies on, checked on what compose-go loads.
func TestComposeRules(t *testing.T) {
	for name, values := range variants {
		t.Run(name, func(t *testing.T) {
			app := loadApp(t, values)
			data, err := Render(app)
			if err != nil {
				t.Fatal(err)
			}
			p := loadCompose(t, data)
			cfg := app.Config
			checkRules(t, cfg, p)
			checkParts(t, app, p)
		})
	}
}

func checkRules(t *testing.T, cfg *model.Config, p *types.Project) {
	var mem, cpus float64
	for name, s := range p.Services {
		if s.HealthCheck == nil || s.HealthCheck.Disable || len(s.HealthCheck.Test) == 0 {
			t.Errorf("%s has no health check", name)
		}
		if s.Restart != types.RestartPolicyUnlessStopped {
			t.Errorf("%s restarts %q, want unless-stopped", name, s.Restart)
		}
		if s.Deploy == nil || s.Deploy.Resources.Limits == nil || s.Deploy.Resources.Limits.MemoryBytes == 0 || s.Deploy.Resources.Limits.NanoCPUs == 0 {
			t.Errorf("%s has no memory and CPU limits", name)
			continue
		}
		mem += float64(s.Deploy.Resources.Limits.MemoryBytes)
		cpus += float64(s.Deploy.Resources.Limits.NanoCPUs)
		for _, port := range s.Ports {
			if port.HostIP != "127.0.0.1" {
				t.Errorf("%s publishes %s on %q: reachable from outside the machine", name, port.Published, port.HostIP)
			}
		}
		// Prometheus's and Grafana's UIs are published on loopback, for the
		// laptop's user.
		prometheusUI := (name == "prometheus" && len(s.Ports) == 1 && s.Ports[0].Published == strconv.Itoa(cfg.Monitoring.PrometheusPort)) ||
			(name == model.GrafanaService && len(s.Ports) == 1 && s.Ports[0].Published == strconv.Itoa(cfg.Monitoring.GrafanaPort))
		if part, _ := appPart(cfg, name); len(s.Ports) > 0 && !prometheusUI && (part == nil || part.Public == nil || cfg.Tunnel.Mode != model.TunnelNone) {
			t.Errorf("%s publishes a port; only a public part may, on 127.0.0.1, without a tunnel", name)
		}
		for k, v := range s.Environment {
			up := strings.ToUpper(k)
			if (strings.Contains(up, "PASSWORD") || strings.Contains(up, "TOKEN") || strings.Contains(up, "SECRET")) && !strings.HasSuffix(up, "_FILE") {
				t.Errorf("%s gets %s through its environment; secrets must be files", name, k)
			}
			if strings.HasSuffix(up, "_FILE") && (v == nil || !strings.HasPrefix(*v, "/run/secrets/")) {
				t.Errorf("%s: %s does not point at a secret file", name, k)
			}
		}
		for _, v := range s.Volumes {
			// The node exporter reads the host's filesystems, read-only.
			hostFS := name == "node-exporter" && v.Type == types.VolumeTypeBind && v.Source == "/" && v.ReadOnly
			if v.Type != types.VolumeTypeVolume && v.Type != types.VolumeTypeTmpfs && !hostFS {
				t.Errorf("%s mounts %s of type %s; data must sit in named volumes", name, v.Target, v.Type)
			}
			if v.Type == types.VolumeTypeVolume {
				if _, ok := p.Volumes[v.Source]; !ok {
					t.Errorf("%s mounts undeclared volume %s", name, v.Source)
				}
			}
		}
	}
	host := cfg.Host
	if avail := float64(host.Memory - host.ReserveMemory); mem > avail {
		t.Errorf("memory limits %.1f GiB exceed the host's %.1f GiB left after the OS reserve", mem/(1<<30), avail/(1<<30))
	}
	if avail := float64(host.Threads - host.ReserveThreads); cpus > avail {
		t.Errorf("CPU limits %g exceed the host's %g threads left after the OS reserve", cpus, avail)
	}
	// Data in named volumes.
	for svc, target := range map[string]string{"postgres": "/var/lib/postgresql/data", "redis": "/data", "qdrant": "/qdrant/storage", "ai": "/root/.ollama"} {
		found := false
		for _, v := range p.Services[svc].Volumes {
			found = found || v.Type == types.VolumeTypeVolume && v.Target == target
		}
		if !found {
			t.Errorf("%s keeps %s outside a named volume", svc, target)
		}
	}
	// The CRM waits for its data stores to be healthy.
	crm := p.Services[model.PartCRM]
	for _, dep := range []string{"postgres", "redis", "qdrant"} {
		if d, ok := crm.DependsOn[dep]; !ok || d.Condition != types.ServiceConditionHealthy {
			t.Errorf("crm does not wait for %s to be healthy: %+v", dep, d)
		}
	}
	// Secrets.
	wantSecrets := map[string][]string{"postgres": {"postgres_password"}, "redis": {"redis_password"}, "crm": {"postgres_password", "redis_password"}}
	if cfg.Tunnel.Mode != model.TunnelNone {
		wantSecrets["tunnel"] = []string{"tunnel_token"}
	}
	for svc, names := range wantSecrets {
		for _, n := range names {
			found := false
			for _, s := range p.Services[svc].Secrets {
				found = found || s.Source == n
			}
			if !found {
				t.Errorf("%s does not get secret %s", svc, n)
			}
			if sec, ok := p.Secrets[n]; !ok || sec.File == "" {
				t.Errorf("secret %s is not a file secret", n)
			}
		}
	}
	// GPU.
	ai := p.Services[model.PartAI]
	var devices []types.DeviceRequest
	if ai.Deploy.Resources.Reservations != nil {
		devices = ai.Deploy.Resources.Reservations.Devices
	}
	if cfg.UseGPU {
		if len(devices) != 1 || devices[0].Driver != "nvidia" || devices[0].Count != 1 || devices[0].Capabilities[0] != "gpu" {
			t.Errorf("ai does not reserve the NVIDIA GPU: %+v", devices)
		}
	} else if len(devices) != 0 {
		t.Errorf("ai reserves a GPU on a CPU-only configuration: %+v", devices)
	}
	if v := ai.Environment["NFX_MODEL"]; v == nil || *v != cfg.AI.Model {
		t.Errorf("ai pulls %v, want %s", v, cfg.AI.Model)
	}
	// Tunnel.
	_, hasTunnel := p.Services[model.PartTunnel]
	if hasTunnel != (cfg.Tunnel.Mode != model.TunnelNone) {
		t.Errorf("tunnel mode %s: tunnel service present = %v", cfg.Tunnel.Mode, hasTunnel)
	}
	if cfg.Tunnel.Mode == model.TunnelNone {
		if len(crm.Ports) != 1 || crm.Ports[0].HostIP != "127.0.0.1" {
			t.Errorf("without a tunnel the CRM must be published on 127.0.0.1 only: %+v", crm.Ports)
		}
	} else if len(crm.Ports) != 0 {
		t.Errorf("with a tunnel the CRM publishes %+v; users reach it through the tunnel", crm.Ports)
	}
	if n, ok := p.Networks[model.NetBackend]; !ok || !n.Internal {
		t.Errorf("the backend network must be internal: %+v", n)
	}
}

// Compose interpolates "$": the rendered shell must reach the container as written.
func TestComposeKeepsShellDollarSigns(t *testing.T) {
	app := loadApp(t, nil)
	data, err := Render(app)
	if err != nil {
		t.Fatal(err)
	}
	p := loadCompose(t, data)
	want, _ := app.Service(model.PartRedis)
	got := p.Services[model.PartRedis].Entrypoint
	if len(got) != 3 || got[2] != want.Entrypoint[2] {
		t.Errorf("redis entrypoint after loading:\n%q\nwant:\n%q", got, want.Entrypoint)
	}
}

func appPart(cfg *model.Config, name string) (*model.Part, *model.App) {
	app := model.Build(cfg)
	p, _ := app.Part(name)
	return p, app
}

// checkParts holds every part, the user's services among them, to what it
// declares: it waits for the parts it needs (healthy, the AI started), its
// secrets are files, its references are resolved to the laptop's
// containers, and a public one is published on loopback only without a
// tunnel, at its own port.
func checkParts(t *testing.T, app *model.App, p *types.Project) {
	for _, part := range app.Parts {
		if !part.Runs {
			continue
		}
		s, ok := p.Services[part.Name]
		if !ok {
			t.Errorf("part %s has no service", part.Name)
			continue
		}
		for _, e := range part.Needs {
			dep, _ := app.Offering(e)
			want := types.ServiceConditionHealthy
			if dep.Kind == model.KindAI {
				want = types.ServiceConditionStarted
			}
			if d, ok := s.DependsOn[dep.Name]; !ok || d.Condition != want {
				t.Errorf("%s needs %s but does not wait for %s (%s): %+v", part.Name, e, dep.Name, want, d)
			}
		}
		for _, sec := range part.Service.Secrets {
			found := false
			for _, m := range s.Secrets {
				found = found || m.Source == sec.Secret
			}
			if f, ok := p.Secrets[sec.Secret]; !found || !ok || !strings.HasSuffix(f.File, "/secrets/"+sec.Secret) {
				t.Errorf("%s: secret %s is not mounted from its file", part.Name, sec.Secret)
			}
			if sec.FileEnv != "" {
				if v := s.Environment[sec.FileEnv]; v == nil || *v != "/run/secrets/"+sec.Secret {
					t.Errorf("%s: %s = %v, want /run/secrets/%s", part.Name, sec.FileEnv, v, sec.Secret)
				}
			}
		}
		for k, v := range s.Environment {
			if v != nil && strings.Contains(*v, "${") {
				t.Errorf("%s: %s = %q holds an unresolved reference", part.Name, k, *v)
			}
		}
		if part.Public != nil && app.Config.Tunnel.Mode == model.TunnelNone {
			if len(s.Ports) != 1 || s.Ports[0].HostIP != "127.0.0.1" || s.Ports[0].Published != strconv.Itoa(part.Public.LocalPort) {
				t.Errorf("%s: public without a tunnel, publishes %+v; want 127.0.0.1:%d", part.Name, s.Ports, part.Public.LocalPort)
			}
		}
	}
	if _, ok := app.Part("worker"); !ok {
		return
	}
	// The references, resolved to what the laptop runs.
	want := map[string]map[string]string{
		"worker":  {"DATABASE_URL": "postgres://nextflow@postgres:5432/nextflow", "REDIS_URL": "redis://redis:6379/0", "PRICE": "$5", "API_KEY_FILE": "/run/secrets/app_worker_api_key"},
		"admin":   {"AI_URL": "http://ai:11434", "READ_URL": "postgres://nextflow@postgres:5432/nextflow"},
		"reports": {"QDRANT": "http://qdrant:6333"},
	}
	for svc, env := range want {
		for k, v := range env {
			if got := p.Services[svc].Environment[k]; got == nil || *got != v {
				t.Errorf("%s: %s = %v, want %q", svc, k, got, v)
			}
		}
	}
	if _, ok := p.Services["worker"].Environment["REDIS_SENTINELS"]; ok {
		t.Error("worker: REDIS_SENTINELS is set on the laptop, which runs no Sentinel")
	}
	url := "https://admin.nextflow.example"
	if app.Config.Tunnel.Mode == model.TunnelNone {
		url = "http://127.0.0.1:3001"
	}
	if got := p.Services["admin"].Environment["PUBLIC_URL"]; got == nil || *got != url {
		t.Errorf("admin: PUBLIC_URL = %v, want %s", got, url)
	}
	if _, ok := p.Services[model.PartTunnel]; ok {
		if d, ok := p.Services[model.PartTunnel].DependsOn["admin"]; !ok || d.Condition != types.ServiceConditionHealthy {
			t.Error("the tunnel does not wait for the public admin app")
		}
	}
}
