package server

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
	"gopkg.in/yaml.v3"

	"github.com/nextflow-crm/nfx/internal/files"
	"github.com/nextflow-crm/nfx/internal/model"
	"github.com/nextflow-crm/nfx/internal/testutil"
)

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
	set, err := Render(testApp(t, "server", values))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{model.SecretPostgresPassword, model.SecretRedisPassword, model.SecretTunnelToken, SecretReplicationPassword} {
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
				if name == "default" || a[i].Path == StackFile || a[i].Path == "nginx/nginx.conf" {
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
	want := []string{"ai-1", "ai-2", "backup-models", "backup-postgres", "backup-qdrant", "backup-redis", "crm", "nginx",
		"postgres-primary", "postgres-replica", "qdrant-1", "qdrant-2", "qdrant-3", "redis-primary", "redis-replica", "redis-sentinel", "tunnel"}
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
		if svc.HealthCheck == nil {
			t.Errorf("%s has no health check", name)
		}
		if svc.Deploy.Resources.Limits == nil || svc.Deploy.Resources.Limits.MemoryBytes == 0 {
			t.Errorf("%s has no limits", name)
		}
		if len(svc.Ports) > 0 {
			t.Errorf("%s publishes %v; with the tunnel nothing is published", name, svc.Ports)
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
		if (len(svc.Ports) > 0) != (name == NginxService) {
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
