package cloud

import (
	"fmt"
	"sort"
	"strings"

	"github.com/nextflow-crm/nfx/internal/files"
	"github.com/nextflow-crm/nfx/internal/plan"
	"github.com/nextflow-crm/nfx/internal/provider/aws"
	"github.com/nextflow-crm/nfx/internal/yamlenc"
)

// ResourcesFile is every resource of the stage with its inputs, secrets redacted.
const ResourcesFile = "resources.json"

// StandbyManifests is the directory of the standby region's cluster's
// objects (cloud.standbyCluster).
const StandbyManifests = "k8s-standby"

// standbyInfix is in the name of every resource of the standby region,
// and of its providers (standbySite).
const standbyInfix = aws.StandbyInfix

// Manifests renders, from a plan, every Kubernetes object the program
// creates as it would be applied (k8s/<kind>-<name>.yaml; a patch of an
// object another creates as k8s/patch-<kind>-<name>.yaml; the standby
// region's cluster's under StandbyManifests instead of k8s), and
// resources.json. Helm releases are listed in resources.json only: their
// objects come from charts at deploy time.
func Manifests(p *plan.Plan) (files.Set, error) {
	var set files.Set
	seen := map[string]string{}
	w := yamlenc.NewWriter()
	for _, r := range p.Resources {
		if !strings.HasPrefix(r.Type, "kubernetes:") || strings.HasPrefix(r.Type, "kubernetes:helm.sh/") {
			continue
		}
		kind, _ := r.Inputs["kind"].(string)
		md, _ := r.Inputs["metadata"].(map[string]any)
		name, _ := md["name"].(string)
		if kind == "" || name == "" {
			return nil, fmt.Errorf("cloud: %s %s has no kind or name", r.Type, r.Name)
		}
		dir := "k8s"
		if strings.Contains(r.Provider, standbyInfix) {
			dir = StandbyManifests
		}
		path := fmt.Sprintf("%s/%s-%s.yaml", dir, strings.ToLower(kind), name)
		if strings.HasSuffix(r.Type, "Patch") {
			// A patch of an object something else creates (a
			// StatefulSet's claims): applied once that object exists.
			path = fmt.Sprintf("%s/patch-%s-%s.yaml", dir, strings.ToLower(kind), name)
		}
		if prev, dup := seen[path]; dup {
			return nil, fmt.Errorf("cloud: %s and %s would both be %s", prev, r.Name, path)
		}
		seen[path] = r.Name
		data, err := manifest(w, r.Inputs)
		if err != nil {
			return nil, fmt.Errorf("cloud: %s: %w", r.Name, err)
		}
		set = append(set, files.File{Path: path, Data: data})
	}
	js, err := p.JSON()
	if err != nil {
		return nil, err
	}
	set = append(set, files.File{Path: ResourcesFile, Data: js})
	return set.Sorted(), nil
}

// manifest writes an object with apiVersion, kind and metadata first, the
// rest in sorted order, as kubectl would show it.
func manifest(w *yamlenc.Writer, obj map[string]any) ([]byte, error) {
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	rank := map[string]int{"apiVersion": 0, "kind": 1, "metadata": 2}
	sort.Slice(keys, func(i, j int) bool {
		ri, iok := rank[keys[i]]
		rj, jok := rank[keys[j]]
		switch {
		case iok && jok:
			return ri < rj
		case iok != jok:
			return iok
		}
		return keys[i] < keys[j]
	})
	if data, ok := w.Mapping(keys, obj); ok {
		return data, nil
	}
	// Each top-level key is encoded as a mapping of its own and the
	// mappings are joined: the same text as one mapping in this order, in
	// one pass of the encoder (a yaml.Node built by Node.Encode is
	// encoded, parsed and encoded again, a third of a large render).
	var out []byte
	for _, k := range keys {
		b, err := yamlenc.Marshal(map[string]any{k: obj[k]})
		if err != nil {
			return nil, err
		}
		out = append(out, b...)
	}
	return out, nil
}
