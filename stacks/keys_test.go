package stacks_test

import (
	"os"
	"path/filepath"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/nextflow-crm/nfx/internal/model"
	"github.com/nextflow-crm/nfx/internal/testutil"
)

// Pulumi.yaml declares exactly the keys nfx reads, with their types and
// secrecy, and every stage file loads cleanly.
func TestPulumiYAMLDeclaresEveryKey(t *testing.T) {
	root := testutil.RepoRoot(t)
	data, err := os.ReadFile(filepath.Join(root, "Pulumi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var proj struct {
		Name    string `yaml:"name"`
		Runtime string `yaml:"runtime"`
		Main    string `yaml:"main"`
		Config  map[string]struct {
			Type    string `yaml:"type"`
			Secret  bool   `yaml:"secret"`
			Default any    `yaml:"default"`
		} `yaml:"config"`
	}
	if err := yaml.Unmarshal(data, &proj); err != nil {
		t.Fatal(err)
	}
	if proj.Name != model.Namespace || proj.Runtime != "go" {
		t.Errorf("project %q runtime %q", proj.Name, proj.Runtime)
	}
	if _, err := os.Stat(filepath.Join(root, proj.Main, "main.go")); err != nil {
		t.Errorf("main: %s is not the program: %v", proj.Main, err)
	}
	if len(proj.Config) != len(model.Keys) {
		t.Errorf("Pulumi.yaml declares %d keys, nfx reads %d", len(proj.Config), len(model.Keys))
	}
	for _, k := range model.Keys {
		decl, ok := proj.Config[model.FullKey(k.Name)]
		if !ok {
			t.Errorf("%s is not declared in Pulumi.yaml", model.FullKey(k.Name))
			continue
		}
		if decl.Type != k.Type || decl.Secret != k.Secret {
			t.Errorf("%s: declared %s secret=%v, nfx reads %s secret=%v", k.Name, decl.Type, decl.Secret, k.Type, k.Secret)
		}
		// Pulumi rejects a default on a secret key; other keys need one to be optional.
		if k.Secret && decl.Default != nil {
			t.Errorf("%s is secret but has a default", k.Name)
		}
		if !k.Secret && decl.Default == nil {
			t.Errorf("%s has no default, so Pulumi would require it", k.Name)
		}
	}
	for _, st := range model.Stages {
		raw, _, err := model.ReadStackFile(filepath.Join(root, "Pulumi."+string(st)+".yaml"))
		if err != nil {
			t.Fatal(err)
		}
		if _, ds := model.Load(string(st), raw, model.LoadOptions{}); ds.HasErrors() {
			t.Errorf("Pulumi.%s.yaml: %s", st, ds)
		}
	}
}
