// Command schemagen turns a Kubernetes OpenAPI v2 document (swagger.json)
// into the strict JSON schemas kubeconform reads: one file per kind named
// <kind>[-<group>]-<version>.json, referring to _definitions.json. Strict:
// every object with properties rejects properties it does not declare.
//
//	schemagen -swagger swagger.json -out DIR [CRD.yaml ...]
//
// Each CustomResourceDefinition file given adds its kinds' schemas
// (<kind>-<group>-<version>.json) from their openAPIV3Schema, strict in the
// same way except where the CRD preserves unknown fields.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"
)

func main() {
	swagger := flag.String("swagger", "", "the swagger.json to read")
	out := flag.String("out", "", "the directory to write schemas to")
	flag.Parse()
	err := run(*swagger, *out)
	for _, crd := range flag.Args() {
		if err != nil {
			break
		}
		err = crdSchemas(crd, *out)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "schemagen:", err)
		os.Exit(1)
	}
}

func run(swagger, out string) error {
	data, err := os.ReadFile(swagger)
	if err != nil {
		return err
	}
	var doc struct {
		Definitions map[string]map[string]any `json:"definitions"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return err
	}
	if len(doc.Definitions) == 0 {
		return fmt.Errorf("%s has no definitions", swagger)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	defs := map[string]any{}
	for name, def := range doc.Definitions {
		defs[name] = strict(rewrite(def))
	}
	// A quantity is written "500m" or 2.
	defs["io.k8s.apimachinery.pkg.api.resource.Quantity"] = map[string]any{
		"oneOf": []any{map[string]any{"type": "string"}, map[string]any{"type": "number"}},
	}
	if err := write(filepath.Join(out, "_definitions.json"), map[string]any{"definitions": defs}); err != nil {
		return err
	}
	n := 0
	for name, def := range doc.Definitions {
		gvks, _ := def["x-kubernetes-group-version-kind"].([]any)
		for _, g := range gvks {
			gvk := g.(map[string]any)
			group, _ := gvk["group"].(string)
			version, _ := gvk["version"].(string)
			kind, _ := gvk["kind"].(string)
			file := strings.ToLower(kind)
			if group != "" {
				file += "-" + strings.ToLower(strings.Split(group, ".")[0])
			}
			file += "-" + strings.ToLower(version) + ".json"
			schema := map[string]any{"$ref": "_definitions.json#/definitions/" + name}
			if err := write(filepath.Join(out, file), schema); err != nil {
				return err
			}
			n++
		}
	}
	fmt.Printf("schemagen: %d kinds, %d definitions\n", n, len(defs))
	return nil
}

// rewrite points references at _definitions.json and turns Kubernetes'
// string formats that also accept numbers into the types they accept.
func rewrite(v any) any {
	switch t := v.(type) {
	case map[string]any:
		if ref, ok := t["$ref"].(string); ok {
			return map[string]any{"$ref": "_definitions.json" + ref}
		}
		if f, _ := t["format"].(string); f == "int-or-string" {
			return map[string]any{"oneOf": []any{map[string]any{"type": "string"}, map[string]any{"type": "integer"}}}
		}
		out := map[string]any{}
		for k, e := range t {
			if strings.HasPrefix(k, "x-kubernetes-") && k != "x-kubernetes-group-version-kind" {
				continue
			}
			out[k] = rewrite(e)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = rewrite(e)
		}
		return out
	}
	return v
}

// strict adds additionalProperties: false to every object that lists its
// properties, and makes nulls acceptable where Kubernetes accepts them.
func strict(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			t[k] = strict(e)
		}
		if _, ok := t["properties"]; ok {
			if _, set := t["additionalProperties"]; !set {
				t["additionalProperties"] = false
			}
		}
		return t
	case []any:
		for i, e := range t {
			t[i] = strict(e)
		}
	}
	return v
}

func write(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// crdSchemas writes the schema of every version of the CRD in file.
func crdSchemas(file, out string) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var crd struct {
			Kind string `yaml:"kind"`
			Spec struct {
				Group string `yaml:"group"`
				Names struct {
					Kind string `yaml:"kind"`
				} `yaml:"names"`
				Versions []struct {
					Name   string `yaml:"name"`
					Schema struct {
						OpenAPIV3Schema map[string]any `yaml:"openAPIV3Schema"`
					} `yaml:"schema"`
				} `yaml:"versions"`
			} `yaml:"spec"`
		}
		if err := dec.Decode(&crd); err != nil {
			if err.Error() == "EOF" {
				return nil
			}
			return fmt.Errorf("%s: %w", file, err)
		}
		if crd.Kind != "CustomResourceDefinition" {
			continue
		}
		for _, v := range crd.Spec.Versions {
			if v.Schema.OpenAPIV3Schema == nil {
				return fmt.Errorf("%s: %s %s has no schema", file, crd.Spec.Names.Kind, v.Name)
			}
			schema := strict(rewrite(preserve(v.Schema.OpenAPIV3Schema))).(map[string]any)
			name := fmt.Sprintf("%s-%s-%s.json", strings.ToLower(crd.Spec.Names.Kind), strings.Split(crd.Spec.Group, ".")[0], v.Name)
			if err := write(filepath.Join(out, name), schema); err != nil {
				return err
			}
			fmt.Printf("schemagen: %s from %s\n", name, filepath.Base(file))
		}
	}
}

// preserve lets an object that preserves unknown fields keep them: strict
// leaves an object whose additionalProperties is set alone.
func preserve(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			t[k] = preserve(e)
		}
		if p, _ := t["x-kubernetes-preserve-unknown-fields"].(bool); p {
			if _, set := t["additionalProperties"]; !set {
				t["additionalProperties"] = true
			}
		}
	case []any:
		for i, e := range t {
			t[i] = preserve(e)
		}
	}
	return v
}
