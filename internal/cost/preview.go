package cost

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/nextflow-crm/nfx/internal/plan"
)

// FromPreviewJSON reads the output of `pulumi preview --json`: its steps
// and each step's new state (type and inputs). Resources a step deletes are
// left out: they will not be billed.
func FromPreviewJSON(stage string, data []byte) (*plan.Plan, error) {
	var doc struct {
		Steps []struct {
			Op       string `json:"op"`
			URN      string `json:"urn"`
			NewState *struct {
				Type   string         `json:"type"`
				URN    string         `json:"urn"`
				Parent string         `json:"parent"`
				Inputs map[string]any `json:"inputs"`
				Custom bool           `json:"custom"`
			} `json:"newState"`
		} `json:"steps"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("--preview-json: not the JSON of `pulumi preview --json`: %w", err)
	}
	if doc.Steps == nil {
		return nil, fmt.Errorf("--preview-json: no \"steps\"; write it with `pulumi preview --json`")
	}
	p := &plan.Plan{Stage: stage}
	for _, s := range doc.Steps {
		if s.Op == "delete" || s.Op == "discard" || s.NewState == nil {
			continue
		}
		urn := s.NewState.URN
		if urn == "" {
			urn = s.URN
		}
		p.Resources = append(p.Resources, plan.Resource{
			Type: s.NewState.Type, Name: lastSegment(urn), Parent: lastSegment(s.NewState.Parent),
			Custom: s.NewState.Custom, Inputs: s.NewState.Inputs,
		})
	}
	return p, nil
}

func lastSegment(urn string) string {
	if i := strings.LastIndex(urn, "::"); i >= 0 {
		return urn[i+2:]
	}
	return urn
}
