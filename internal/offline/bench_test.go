package offline_test

import (
	"path/filepath"
	"testing"

	"github.com/nextflow-crm/nfx/internal/model"
	"github.com/nextflow-crm/nfx/internal/offline"
	"github.com/nextflow-crm/nfx/internal/testutil"
	"github.com/nextflow-crm/nfx/stacks/laptop"
)

func laptopRaw(b *testing.B) model.Raw {
	raw, _, err := model.ReadStackFile(filepath.Join(testutil.RepoRoot(b), "Pulumi.laptop.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	return raw
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
