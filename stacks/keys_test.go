package stacks_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/nextflow-crm/nfx/internal/model"
	"github.com/nextflow-crm/nfx/internal/testutil"
)

// jsonFields lists the JSON names of a config struct's fields, embedded
// structs flattened.
func jsonFields(t reflect.Type) []string {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	var out []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Anonymous {
			out = append(out, jsonFields(f.Type)...)
			continue
		}
		if name, _, _ := strings.Cut(f.Tag.Get("json"), ","); name != "" && name != "-" {
			out = append(out, name)
		}
	}
	return out
}

// projectFile is Pulumi.yaml as the key table says it must be: every key
// nfx reads, with its type, secrecy and fields; optional keys with a
// default, secret keys without one (Pulumi rejects a default on a secret).
func projectFile() []byte {
	var b bytes.Buffer
	b.WriteString(`name: nextflow
runtime:
  name: go
  options:
    # Build the program into bin/ and keep it: an unchanged program is not
    # relinked, so a no-change pulumi preview takes seconds, not a build.
    buildTarget: ../../bin/nextflow
main: cmd/nextflow
description: NextFlow CRM-AI, described once and realised per stage (laptop, server, cloud) by nfx.
config:
`)
	for _, k := range model.Keys {
		fmt.Fprintf(&b, "  %s:\n    type: %s\n", model.FullKey(k.Name), k.Type)
		if k.Type == "array" {
			b.WriteString("    items:\n      type: object\n")
		}
		doc := k.Doc
		if f := k.Field(); f != nil {
			if fields := jsonFields(reflect.TypeOf(f)); len(fields) > 0 {
				doc += " (" + strings.Join(fields, ", ") + ")"
			}
		}
		if k.Secret {
			// Not `secret: true`: Pulumi would then require every secret key,
			// used or not, and refuses a default on one. nfx refuses a secret
			// key holding a plaintext value itself (the program checks it too).
			doc = "a secret (set it with --secret): " + doc
			if k.Generated {
				doc += "; `nfx up` generates it when unset"
			} else {
				doc += "; `nfx up` takes it from " + model.SecretEnv(k.Name)
			}
		}
		fmt.Fprintf(&b, "    description: %s\n", yamlScalar(doc))
		switch {
		case k.Type == "object":
			b.WriteString("    default: {}\n")
		case k.Type == "array":
			b.WriteString("    default: []\n")
		default:
			b.WriteString("    default: \"\"\n")
		}
	}
	return b.Bytes()
}

func yamlScalar(s string) string {
	out, _ := yaml.Marshal(s)
	return strings.TrimSuffix(string(out), "\n")
}

// Pulumi.yaml declares exactly the keys nfx reads, derived from the key
// table (-update rewrites it), and every stage file loads cleanly.
func TestPulumiYAMLDeclaresEveryKey(t *testing.T) {
	root := testutil.RepoRoot(t)
	testutil.Golden(t, filepath.Join(root, "Pulumi.yaml"), projectFile())
	data, err := os.ReadFile(filepath.Join(root, "Pulumi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var proj struct {
		Main   string `yaml:"main"`
		Config map[string]struct {
			Type    string `yaml:"type"`
			Secret  bool   `yaml:"secret"`
			Default any    `yaml:"default"`
		} `yaml:"config"`
	}
	if err := yaml.Unmarshal(data, &proj); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, proj.Main, "main.go")); err != nil {
		t.Errorf("main: %s is not the program: %v", proj.Main, err)
	}
	if len(proj.Config) != len(model.Keys) {
		t.Errorf("Pulumi.yaml declares %d keys, nfx reads %d", len(proj.Config), len(model.Keys))
	}
	for _, k := range model.Keys {
		if _, ok := proj.Config[model.FullKey(k.Name)]; !ok {
			t.Errorf("%s is not declared", model.FullKey(k.Name))
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

// Every built-in part is a config key: the key table is derived from the
// part table.
func TestEveryPartIsAKey(t *testing.T) {
	for _, p := range model.BuiltinParts {
		k, ok := model.LookupKey(p.Name)
		if !ok || k.Type != "object" || k.Field() == nil {
			t.Errorf("part %s has no object key", p.Name)
		}
	}
}
