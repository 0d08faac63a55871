package capacity

import (
	"path/filepath"
	"testing"

	"github.com/nextflow-crm/nfx/internal/model"
)

// load reads a stage with extra values on top of nothing but the defaults.
func load(t *testing.T, stage model.Stage, values map[string]string) *model.Config {
	t.Helper()
	if values == nil {
		values = map[string]string{}
	}
	cfg, ds := model.Load(string(stage), model.Raw{Values: values, Secret: map[string]bool{}}, model.LoadOptions{})
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	return cfg
}

// loadStack reads the repository's own stack config of a stage.
func loadStack(t *testing.T, stage model.Stage) *model.Config {
	t.Helper()
	raw, _, err := model.ReadStackFile(filepath.Join("..", "..", "Pulumi."+string(stage)+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, ds := model.Load(string(stage), raw, model.LoadOptions{})
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	return cfg
}
