package offline_test

import (
	"path/filepath"
	"testing"

	"github.com/nextflow-crm/nfx/internal/model"
	"github.com/nextflow-crm/nfx/internal/offline"
	"github.com/nextflow-crm/nfx/internal/testutil"
	"github.com/nextflow-crm/nfx/stacks/laptop"
)

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
