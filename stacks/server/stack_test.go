package server

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
	"gopkg.in/yaml.v3"

	"github.com/nextflow-crm/nfx/internal/files"
	"github.com/nextflow-crm/nfx/internal/model"
	"github.com/nextflow-crm/nfx/internal/monitoring"
	"github.com/nextflow-crm/nfx/internal/testutil"
)

// noHealthCheck is the one service without a health check: the nginx
// exporter's distroless image has no shell or client to run one; its
// scrape (TargetDown) watches it.
const noHealthCheck = "nginx-exporter"

// publishesPrometheus: Prometheus publishes on its node's address only.
func publishesPrometheus(name string, ports []types.ServicePortConfig) bool {
	return name == monitoring.PrometheusService && len(ports) == 1 && ports[0].Mode == "host" && ports[0].Target == monitoring.PrometheusPort
}

func testApp(t testing.TB, stage string, values map[string]string) *model.App {
	t.Helper()
	if values == nil {
		values = map[string]string{}
	}
	cfg, ds := model.Load(stage, model.Raw{Values: values, Secret: map[string]bool{}, Complete: true}, model.LoadOptions{})
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	return model.Build(cfg)
}

func renderServer(t testing.TB, values map[string]string) map[string][]byte {
	t.Helper()
	set, err := Render(testApp(t, "server", values))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, f := range set {
		out[f.Path] = f.Data
	}
	return out
}

// writeRendered writes a render with placeholder secret files, as `nfx up`
// would leave it, and returns the directory.
func writeRendered(t *testing.T, values map[string]string) string {
	t.Helper()
	app := testApp(t, "server", values)
	set, err := Render(app)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range append(app.SecretNames(), SecretReplicationPassword) {
		set = append(set, files.File{Path: SecretFile(s), Data: []byte("placeholder"), Secret: true})
	}
	dir := filepath.Join(t.TempDir(), "server")
	if err := files.WriteDir(dir, set); err != nil {
		t.Fatal(err)
	}
	return dir
}

var serverVariants = map[string]map[string]string{
	"default":   nil,
	"scaled":    {"crm": `{"replicas": 5}`, "ai": `{"replicas": 3}`, "host": `{"nodes": 4, "gpuNodes": 3}`},
	"no-tunnel": {"tunnel": `{"mode": "none"}`, "nginx": `{"httpPort": 8080}`},
	"services":  {"services": testutil.ServicesConfig, "secrets": testutil.ServicesSecrets},
	// After a PostgreSQL failover: postgres-replica writes.
	"failed-over": {"postgres": `{"failedOver": true}`},
}

func TestServerGolden(t *testing.T) {
	for name, values := range serverVariants {
		t.Run(name, func(t *testing.T) {
			a, err := Render(testApp(t, "server", values))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := Render(testApp(t, "server", values))
			for i := range a {
				if !bytes.Equal(a[i].Data, b[i].Data) {
					t.Errorf("%s: rendering twice gave different bytes", a[i].Path)
				}
				// The other variants differ from the default only in these.
				if name == "default" || a[i].Path == StackFile || a[i].Path == "nginx/nginx.conf" ||
					(name == "failed-over" && a[i].Path == "postgres/failover.sh") {
					testutil.Golden(t, filepath.Join("testdata", name, a[i].Path), a[i].Data)
				}
			}
		})
	}
}

// `docker stack config` is the Swarm validator: it must accept every variant.
func TestDockerStackConfigAccepts(t *testing.T) {
	docker := testutil.Tool(t, "docker")
	for name, values := range serverVariants {
		t.Run(name, func(t *testing.T) {
			dir := writeRendered(t, values)
			cmd := exec.Command(docker, "stack", "config", "-c", StackFile)
			cmd.Dir = dir
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("docker stack config rejects %s: %v\n%s", name, err, stderr.String())
			}
			if strings.Contains(stderr.String(), "Ignoring unsupported options") || strings.Contains(stderr.String(), "ignoring") {
				t.Errorf("docker stack config ignores options Swarm does not support:\n%s", stderr.String())
			}
			var merged struct {
				Services map[string]any `yaml:"services"`
			}
			if err := yaml.Unmarshal(out, &merged); err != nil {
				t.Fatal(err)
			}
			if len(merged.Services) == 0 {
				t.Error("docker stack config returned no services")
			}
		})
	}
}

func loadStack(t *testing.T, values map[string]string) *types.Project {
	t.Helper()
	app := testApp(t, "server", values)
	mounts, err := renderMounts(app)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Project(app, mounts)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestServerTopology(t *testing.T) {
	p := loadStack(t, nil)
	want := []string{"ai-1", "ai-2", "alertmanager", "backup-models", "backup-postgres", "backup-qdrant", "backup-redis", "blackbox", "crm",
		"gpu-exporter", "grafana", "nginx", "nginx-exporter", "node-exporter", "ollama-probe", "postgres-primary", "postgres-primary-exporter",
		"postgres-replica", "postgres-replica-exporter", "prometheus", "qdrant-1", "qdrant-2", "qdrant-3", "redis-primary",
		"redis-primary-exporter", "redis-replica", "redis-replica-exporter", "redis-sentinel", "redis-sentinel-exporter", "tunnel"}
	if got := strings.Join(sortedKeys(p.Services), " "); got != strings.Join(want, " ") {
		t.Fatalf("services: %s", got)
	}
	crm := p.Services["crm"]
	u := crm.Deploy.UpdateConfig
	if *crm.Deploy.Replicas != 3 || *u.Parallelism != 1 || u.Order != "start-first" || u.FailureAction != "rollback" || crm.Deploy.RollbackConfig == nil {
		t.Errorf("crm rollout: replicas %d, update %+v", *crm.Deploy.Replicas, u)
	}
	hc := crm.HealthCheck
	if covered := *hc.StartPeriod + types.Duration(int64(*hc.Interval)*int64(*hc.Retries)); u.Monitor < covered {
		t.Errorf("the update monitor window %v does not cover the health check (%v)", u.Monitor, covered)
	}
	for name, svc := range p.Services {
		if svc.HealthCheck == nil && name != noHealthCheck {
			t.Errorf("%s has no health check", name)
		}
		if svc.Deploy.Resources.Limits == nil || svc.Deploy.Resources.Limits.MemoryBytes == 0 {
			t.Errorf("%s has no limits", name)
		}
		if len(svc.Ports) > 0 && !publishesPrometheus(name, svc.Ports) {
			t.Errorf("%s publishes %v; with the tunnel nothing is published but Prometheus on its node", name, svc.Ports)
		}
		for k := range svc.Environment {
			if up := strings.ToUpper(k); (strings.Contains(up, "PASSWORD") || strings.Contains(up, "TOKEN")) && !strings.HasSuffix(up, "_FILE") {
				t.Errorf("%s gets %s through its environment", name, k)
			}
		}
	}
	for _, name := range []string{"ai-1", "ai-2"} {
		gr := p.Services[name].Deploy.Resources.Reservations.GenericResources
		if len(gr) != 1 || gr[0].DiscreteResourceSpec.Kind != GPUKind || gr[0].DiscreteResourceSpec.Value != 1 || len(p.Services[name].Deploy.Resources.Reservations.Devices) != 0 {
			t.Errorf("%s does not reserve one GPU as a generic resource: %+v", name, gr)
		}
	}
	pc := p.Services["postgres-primary"].Deploy.Placement.Constraints
	rc := p.Services["postgres-replica"].Deploy.Placement.Constraints
	if len(pc) != 1 || len(rc) != 1 || pc[0] == rc[0] || !strings.Contains(pc[0], "node.labels.") {
		t.Errorf("primary and replica are not placed apart by node labels: %v %v", pc, rc)
	}
	be := p.Networks[model.NetBackend]
	if !be.Internal || be.DriverOpts["encrypted"] != "true" || be.Driver != "overlay" {
		t.Errorf("backend network: %+v", be)
	}
	// The frontend carries the CRM's plain HTTP between nodes: encrypted too.
	if fe := p.Networks[model.NetFrontend]; fe.DriverOpts["encrypted"] != "true" || fe.Driver != "overlay" || fe.Internal {
		t.Errorf("frontend network: %+v", fe)
	}
	for _, n := range []int{1, 2, 3} {
		q := p.Services[qdrantName(n)]
		if len(q.Networks) != 1 || q.Networks[model.NetBackend] != nil && false {
			t.Errorf("%s is on %v; its p2p port must stay on the backend", q.Name, q.Networks)
		}
		if _, ok := q.Networks[model.NetBackend]; !ok {
			t.Errorf("%s is not on the backend network", q.Name)
		}
	}
	// Without the tunnel, nginx alone publishes.
	p = loadStack(t, map[string]string{"tunnel": `{"mode": "none"}`})
	for name, svc := range p.Services {
		if (len(svc.Ports) > 0) != (name == NginxService) && !publishesPrometheus(name, svc.Ports) {
			t.Errorf("tunnel none: %s publishes %v", name, svc.Ports)
		}
	}
}

func TestScriptsPassShellcheck(t *testing.T) {
	shellcheck := testutil.Tool(t, "shellcheck")
	dir := writeRendered(t, nil)
	var scripts []string
	_ = filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err == nil && strings.HasSuffix(path, ".sh") {
			scripts = append(scripts, path)
		}
		return nil
	})
	if len(scripts) < 8 {
		t.Fatalf("found %d scripts", len(scripts))
	}
	out, err := exec.Command(shellcheck, append([]string{"--severity=style"}, scripts...)...).CombinedOutput()
	if err != nil {
		t.Errorf("shellcheck: %v\n%s", err, out)
	}
}

func sortedKeys[M ~map[string]V, V any](m M) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// dockerStackConfig is the stack as `docker stack config` merges and
// validates it: what `docker stack deploy` would deploy.
func dockerStackConfig(t *testing.T, values map[string]string) map[string]map[string]any {
	t.Helper()
	docker := testutil.Tool(t, "docker")
	dir := writeRendered(t, values)
	cmd := exec.Command(docker, "stack", "config", "-c", StackFile)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("docker stack config: %v", err)
	}
	var merged struct {
		Services map[string]map[string]any `yaml:"services"`
	}
	if err := yaml.Unmarshal(out, &merged); err != nil {
		t.Fatal(err)
	}
	return merged.Services
}

// hostModeOnly says every published port of a loaded service is in host mode.
func hostModeOnly(ports any) bool {
	list, _ := ports.([]any)
	for _, p := range list {
		if m, _ := p.(map[string]any); m["mode"] != "host" {
			return false
		}
	}
	return len(list) > 0
}

func dig(m map[string]any, path ...string) any {
	var v any = m
	for _, k := range path {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[k]
	}
	return v
}

// Every part, the user's services among them, as `docker stack config`
// loads it: each instance of the stage's layout with its replicas, a
// health check, limits, rolling updates that roll back for the apps, spread
// over the nodes, secrets as files, nothing published but nginx, the
// references resolved to the server's topology; and the limits of
// everything the stack runs fit the nodes.
func TestServerPartsAsDockerLoadsThem(t *testing.T) {
	for name, values := range serverVariants {
		t.Run(name, func(t *testing.T) {
			app := testApp(t, "server", values)
			svcs := dockerStackConfig(t, values)
			var mem, cpus float64
			for _, in := range app.Instances() {
				s, ok := svcs[in.Name]
				if !ok {
					t.Errorf("%s is not in the stack", in.Name)
					continue
				}
				if n, _ := dig(s, "deploy", "replicas").(int); n != in.Replicas {
					t.Errorf("%s: %d replicas, the layout says %d", in.Name, n, in.Replicas)
				}
				if dig(s, "healthcheck", "test") == nil && in.Name != noHealthCheck {
					t.Errorf("%s has no health check", in.Name)
				}
				m, _ := strconv.ParseFloat(fmt.Sprint(dig(s, "deploy", "resources", "limits", "memory")), 64)
				c, _ := strconv.ParseFloat(fmt.Sprint(dig(s, "deploy", "resources", "limits", "cpus")), 64)
				if m == 0 || c == 0 {
					t.Errorf("%s has no limits", in.Name)
				}
				mem += m * float64(in.Replicas)
				cpus += c * float64(in.Replicas)
				if dig(s, "ports") != nil && (in.Name != NginxService || app.Config.Tunnel.Mode != model.TunnelNone) &&
					!(in.Name == monitoring.PrometheusService && hostModeOnly(dig(s, "ports"))) {
					t.Errorf("%s publishes %v", in.Name, dig(s, "ports"))
				}
			}
			if len(svcs) != len(app.Instances()) {
				t.Errorf("the stack has %d services, the layout %d", len(svcs), len(app.Instances()))
			}
			h := app.Config.Host
			if avail := float64(h.Memory-h.ReserveMemory) * float64(h.Nodes); mem > avail {
				t.Errorf("memory limits %.1f GiB exceed the nodes' %.1f GiB", mem/(1<<30), avail/(1<<30))
			}
			if avail := float64((h.Threads - h.ReserveThreads) * h.Nodes); cpus > avail {
				t.Errorf("CPU limits %g exceed the nodes' %g threads", cpus, avail)
			}
			for _, p := range app.Parts {
				if p.Kind != model.KindWeb && p.Kind != model.KindWorker {
					continue
				}
				s := svcs[p.Name]
				u, _ := dig(s, "deploy", "update_config").(map[string]any)
				if u["order"] != "start-first" || u["failure_action"] != "rollback" || u["parallelism"] != 1 || dig(s, "deploy", "rollback_config") == nil {
					t.Errorf("%s: update_config %v", p.Name, u)
				}
				if pref := fmt.Sprint(dig(s, "deploy", "placement", "preferences")); !strings.Contains(pref, "node.id") {
					t.Errorf("%s is not spread over the nodes: %s", p.Name, pref)
				}
				if mode := dig(s, "deploy", "endpoint_mode"); mode != "dnsrr" {
					t.Errorf("%s (%s): endpoint mode %v; every service is found by DNS round robin (nginx balances web apps over tasks.<name>)", p.Name, p.Kind, mode)
				}
				for _, sec := range p.Service.Secrets {
					if !strings.Contains(fmt.Sprint(dig(s, "secrets")), sec.Secret) {
						t.Errorf("%s: secret %s is not mounted", p.Name, sec.Secret)
					}
				}
				for k, v := range dig(s, "environment").(map[string]any) {
					if strings.Contains(fmt.Sprint(v), "${") {
						t.Errorf("%s: %s = %v holds an unresolved reference", p.Name, k, v)
					}
				}
			}
			if _, ok := app.Part("worker"); !ok {
				return
			}
			want := map[string]map[string]string{
				"worker":  {"DATABASE_URL": "postgres://nextflow@postgres-primary:5432/nextflow", "REDIS_URL": "redis://redis-primary:6379/0", "REDIS_SENTINELS": "redis-sentinel:26379", "PRICE": "$5", "API_KEY_FILE": "/run/secrets/app_worker_api_key"},
				"admin":   {"AI_URL": "http://nginx/ai", "READ_URL": "postgres://nextflow@postgres-replica:5432/nextflow", "PUBLIC_URL": "https://admin.nextflow.example"},
				"reports": {"QDRANT": "http://qdrant-1:6333"},
			}
			for svc, env := range want {
				for k, v := range env {
					if got := dig(svcs[svc], "environment", k); got != v {
						t.Errorf("%s: %s = %v, want %q", svc, k, got, v)
					}
				}
			}
			conf := string(renderServer(t, values)["nginx/nginx.conf"])
			for _, s := range []string{"server_name admin.nextflow.example;", "server tasks.admin:8080 ", "proxy_pass http://admin;"} {
				if !strings.Contains(conf, s) {
					t.Errorf("nginx.conf does not route the public admin app: no %q", s)
				}
			}
			if strings.Contains(conf, "reports") {
				t.Error("nginx.conf routes the internal reports app")
			}
			// nginx follows the admin app's task addresses itself.
			if !strings.Contains(conf, "server tasks.admin:8080 max_fails=3 fail_timeout=10s resolve;") {
				t.Error("nginx resolves the admin app's tasks only at start (no resolve)")
			}
		})
	}
}

// The host fit counts what the stack runs: the memory and CPU limits it
// reports are those of every service `docker stack config` loads, times
// its replicas (two cloudflared, three Sentinels, the backup jobs, the
// user's services).
func TestHostFitCountsWhatTheStackRuns(t *testing.T) {
	for name, values := range serverVariants {
		t.Run(name, func(t *testing.T) {
			svcs := dockerStackConfig(t, values)
			var mem, cpus float64
			for _, s := range svcs {
				n, _ := dig(s, "deploy", "replicas").(int)
				m, _ := strconv.ParseFloat(fmt.Sprint(dig(s, "deploy", "resources", "limits", "memory")), 64)
				c, _ := strconv.ParseFloat(fmt.Sprint(dig(s, "deploy", "resources", "limits", "cpus")), 64)
				mem += m * float64(n)
				cpus += c * float64(n)
			}
			small := map[string]string{}
			for k, v := range values {
				small[k] = v
			}
			host := `{"memory": "17GiB", "reserveMemory": "16GiB", "threads": 9, "reserveThreads": 8}`
			if h, ok := values["host"]; ok {
				host = strings.TrimSuffix(h, "}") + `, "memory": "17GiB", "reserveMemory": "16GiB", "threads": 9, "reserveThreads": 8}`
			}
			small["host"] = host
			cpus = math.Round(cpus*1000) / 1000 // Docker's 0.001 cpus, as the fit reports
			_, ds := model.Load("server", model.Raw{Values: small, Secret: map[string]bool{}, Complete: true}, model.LoadOptions{})
			msg := ds.Error()
			for _, want := range []string{fmt.Sprintf("container memory limits add up to %.1f GiB", mem/(1<<30)), fmt.Sprintf("container CPU limits add up to %g ", cpus)} {
				if !strings.Contains(msg, want) {
					t.Errorf("the host fit does not count what the stack runs: %q is not in\n%s", want, msg)
				}
			}
		})
	}
}

// A migration's target keeps its cloudflared at 0 replicas until the
// cutover starts it (tunnel.standby); by default it runs the stage's two.
func TestTunnelStandbyRendersNoReplicas(t *testing.T) {
	for standby, want := range map[bool]uint64{false: 2, true: 0} {
		p := loadStack(t, map[string]string{"tunnel": fmt.Sprintf(`{"standby": %v}`, standby)})
		svc, err := p.GetService(model.Namespace + "_" + model.PartTunnel)
		if err != nil {
			svc, err = p.GetService(model.PartTunnel)
		}
		if err != nil {
			t.Fatal(err)
		}
		if svc.Deploy == nil || svc.Deploy.Replicas == nil || uint64(*svc.Deploy.Replicas) != want {
			t.Errorf("standby %v: tunnel replicas %v, want %d", standby, svc.Deploy, want)
		}
	}
}
