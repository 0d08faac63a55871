// Package plan is the shape of `nfx plan --json` and resources.json: every
// resource of a stage with its type, name, parent and inputs. It must not
// import Pulumi, so that renderers can read a plan without a cycle.
package plan

import (
	"bytes"
	"encoding/json"
)

// Placeholders for values a plan cannot show.
const (
	Secret  = "[secret]"
	Unknown = "[unknown]"
)

// Resource is one registered resource.
type Resource struct {
	Type   string         `json:"type"`
	Name   string         `json:"name"`
	Parent string         `json:"parent"`
	Custom bool           `json:"custom"`
	Inputs map[string]any `json:"inputs"`
	// IgnoreChanges are the inputs the engine leaves as they are on an
	// existing resource; Aliases the names it had before.
	IgnoreChanges []string `json:"ignoreChanges,omitempty"`
	Aliases       []string `json:"aliases,omitempty"`
	// RetainOnDelete leaves the resource in place when the engine
	// deletes it from the stack.
	RetainOnDelete bool `json:"retainOnDelete,omitempty"`
	// Provider is the explicit provider the resource is registered with
	// (the second region's AWS provider, the cluster's Kubernetes one);
	// "" for the default provider of its package.
	Provider string `json:"provider,omitempty"`
}

// Plan is every resource of a stage.
type Plan struct {
	Stage     string     `json:"stage"`
	Resources []Resource `json:"resources"`
}

// JSON renders the plan, indented, with a final newline.
func (p *Plan) JSON() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(p); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
