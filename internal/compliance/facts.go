package compliance

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/nextflow-crm/nfx/internal/files"
	"github.com/nextflow-crm/nfx/internal/model"
	"github.com/nextflow-crm/nfx/internal/plan"
)

// facts are what the checks read of a stage: its config, its planned
// resources by type, and, on a self-hosted stage, its Compose or Swarm
// file.
type facts struct {
	cfg    *model.Config
	byType map[string][]plan.Resource
	// hosted is a self-hosted stage (a Compose or Swarm file); file is its
	// path and project the file's content.
	hosted  bool
	file    string
	project composeFile
	fs      files.Set
	rec     Records
}

// composeFile is what the checks read of a Compose or Swarm stack file
// (the Compose specification's long syntax, which nfx renders).
type composeFile struct {
	Services map[string]struct {
		User       string `yaml:"user"`
		Privileged bool   `yaml:"privileged"`
		Pid        string `yaml:"pid"`
		Ports      []struct {
			Target    any    `yaml:"target"`
			Published any    `yaml:"published"`
			HostIP    string `yaml:"host_ip"`
			Mode      string `yaml:"mode"`
		} `yaml:"ports"`
		Volumes []struct {
			Type     string `yaml:"type"`
			Source   string `yaml:"source"`
			Target   string `yaml:"target"`
			ReadOnly bool   `yaml:"read_only"`
		} `yaml:"volumes"`
		Environment map[string]any `yaml:"environment"`
		Networks    any            `yaml:"networks"`
		Logging     *struct {
			Driver string `yaml:"driver"`
		} `yaml:"logging"`
	} `yaml:"services"`
	Networks map[string]struct {
		Driver     string            `yaml:"driver"`
		DriverOpts map[string]string `yaml:"driver_opts"`
		Internal   bool              `yaml:"internal"`
	} `yaml:"networks"`
	Volumes map[string]struct {
		Driver     string            `yaml:"driver"`
		DriverOpts map[string]string `yaml:"driver_opts"`
	} `yaml:"volumes"`
}

// stackFiles are the files a self-hosted stage's project is in.
var stackFiles = []string{"compose.yaml", "stack.yaml"}

func gather(cfg *model.Config, p *plan.Plan, fs files.Set) (*facts, error) {
	f := &facts{cfg: cfg, byType: map[string][]plan.Resource{}, fs: fs}
	for _, r := range p.Resources {
		f.byType[r.Type] = append(f.byType[r.Type], r)
	}
	prof, err := model.ProfileOf(cfg.Stage)
	if err != nil {
		return nil, err
	}
	if prof.Hosting != model.SelfHosted {
		return f, nil
	}
	for _, file := range fs {
		for _, name := range stackFiles {
			if file.Path == name {
				f.hosted, f.file = true, name
				if err := yaml.Unmarshal(file.Data, &f.project); err != nil {
					return nil, fmt.Errorf("stage %s: %s: %w", cfg.Stage, name, err)
				}
			}
		}
	}
	if !f.hosted {
		return nil, fmt.Errorf("stage %s: the plan has no %s to read", cfg.Stage, strings.Join(stackFiles, " or "))
	}
	return f, nil
}

// resources are the planned resources of a type.
func (f *facts) resources(typ string) []plan.Resource { return f.byType[typ] }

// file is the content of a rendered file, or "".
func (f *facts) content(path string) string {
	for _, file := range f.fs {
		if file.Path == path {
			return string(file.Data)
		}
	}
	return ""
}

// services are the stack file's services, sorted.
func (f *facts) services() []string { return sortedKeys(f.project.Services) }

// sortedKeys are a map's keys in order: a report lists the same evidence
// in the same order every time.
func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

// in reads a nested input of a resource: in(r, "vpcConfig", "endpointPublicAccess").
func in(r plan.Resource, path ...string) any {
	var v any = r.Inputs
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// isTrue says whether an input is the boolean true (or its string).
func isTrue(v any) bool {
	switch t := v.(type) {
	case bool:
		return t
	case string:
		return t == "true"
	}
	return false
}

// strs reads a list input of strings.
func strs(v any) []string {
	list, _ := v.([]any)
	var out []string
	for _, x := range list {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// number reads a numeric input.
func number(v any) (float64, bool) {
	switch t := v.(type) {
	case float64:
		return t, true
	case int:
		return float64(t), true
	case json.Number:
		n, err := t.Float64()
		return n, err == nil
	}
	return 0, false
}

// verdict is pass when nothing is bad, else fail with the bad listed
// first; the good are evidence either way.
func verdict(good, bad []string, fix string) finding {
	if len(bad) > 0 {
		return finding{status: Fail, evidence: append(bad, good...), fix: fix}
	}
	if len(good) == 0 {
		return finding{status: Fail, evidence: []string{"nothing in the plan meets it"}, fix: fix}
	}
	return finding{status: Pass, evidence: good}
}
