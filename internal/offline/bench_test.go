package offline_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nextflow-crm/nfx/internal/model"
	"github.com/nextflow-crm/nfx/internal/offline"
	"github.com/nextflow-crm/nfx/internal/proc"
	"github.com/nextflow-crm/nfx/internal/testutil"
	"github.com/nextflow-crm/nfx/stacks/laptop"
)

// The benchmarks run under the collector setting of nfx's commands
// (GOGC=100 in the environment gives Go's default).
func TestMain(m *testing.M) {
	proc.TuneGC()
	os.Exit(m.Run())
}

func stageRaw(b *testing.B, stage model.Stage) model.Raw {
	raw, _, err := model.ReadStackFile(filepath.Join(testutil.RepoRoot(b), "Pulumi."+string(stage)+".yaml"))
	if err != nil {
		b.Fatal(err)
	}
	return raw
}

func laptopRaw(b *testing.B) model.Raw { return stageRaw(b, model.Laptop) }

// BenchmarkRenderServer is the offline render of the server stage: the
// Swarm stack and the eleven files it mounts.
func BenchmarkRenderServer(b *testing.B) { benchStage(b, model.Server) }

// BenchmarkRenderCloud is the offline render of the cloud stage: 96
// resources, the Kubernetes manifests and resources.json.
func BenchmarkRenderCloud(b *testing.B) { benchStage(b, model.Cloud) }

func benchStage(b *testing.B, stage model.Stage) {
	raw := stageRaw(b, stage)
	b.ReportAllocs()
	for b.Loop() {
		res, err := offline.Run(stage, raw)
		if err != nil || len(res.Files) == 0 {
			b.Fatal(err)
		}
	}
}

// BenchmarkRenderLaptop is `nfx render --stage laptop` without the file
// write: load the config, run the program under mocks, render compose.yaml.
func BenchmarkRenderLaptop(b *testing.B) {
	raw := laptopRaw(b)
	b.ReportAllocs()
	for b.Loop() {
		res, err := offline.Run(model.Laptop, raw)
		if err != nil || len(res.Files) != 1 {
			b.Fatal(err)
		}
	}
}

// BenchmarkComposeOnly is the pure part of the render: model and compose
// marshalling, with no Pulumi runtime.
func BenchmarkComposeOnly(b *testing.B) {
	raw := laptopRaw(b)
	b.ReportAllocs()
	for b.Loop() {
		cfg, ds := model.Load("laptop", raw, model.LoadOptions{})
		if ds.HasErrors() {
			b.Fatal(ds)
		}
		if _, err := laptop.Render(model.Build(cfg)); err != nil {
			b.Fatal(err)
		}
	}
}

// manyServices is the stage's stack file with n of the user's services:
// web apps and workers in turn, each needing the database and the cache.
// The host is sized to hold them, so the benchmark measures the render,
// not a refused fit.
func manyServices(b *testing.B, stage model.Stage, n int) model.Raw {
	raw := stageRaw(b, stage)
	var items []string
	for i := 0; i < n; i++ {
		kind, extra := "worker", `"health": {"command": "true"}`
		if i%2 == 0 {
			kind, extra = "web", fmt.Sprintf(`"port": %d, "health": {"http": "/healthz"}`, 8000+i%1000)
		}
		items = append(items, fmt.Sprintf(`{"name": "svc-%d", "kind": %q, "image": "ghcr.io/acme/svc:1.%d.0", %s,
			"needs": ["db", "cache"], "env": {"DATABASE_URL": "${db.url}", "REDIS_URL": "${cache.url}", "N": "%d"},
			"cpus": 0.05, "memory": "64MiB", "cpuRequest": 0.01, "memoryRequest": "16MiB"}`, i, kind, i, extra, i))
	}
	raw.Values["services"] = "[" + strings.Join(items, ",") + "]"
	raw.Values["host"] = `{"threads": 256, "memory": "512GiB"}`
	return raw
}

// BenchmarkRenderServices is the offline render of each stage with 6, 60
// and 600 user services: its growth in the number of services.
func BenchmarkRenderServices(b *testing.B) {
	for _, stage := range model.Stages {
		for _, n := range []int{6, 60, 600} {
			b.Run(fmt.Sprintf("%s/%d", stage, n), func(b *testing.B) {
				raw := manyServices(b, stage, n)
				b.ReportAllocs()
				for b.Loop() {
					res, err := offline.Run(stage, raw)
					if err != nil || len(res.Files) == 0 {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
