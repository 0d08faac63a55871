package release

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/nextflow-crm/nfx/internal/model"
	"github.com/nextflow-crm/nfx/internal/yamlenc"
)

// Carry writes release r into a stack config file (Pulumi.<stack>.yaml):
// each service's image and Ollama's models, nothing else; the target's
// topology, sizing, secrets and comments stay. A service of the release
// the target does not describe is an error: its sizing and replicas are
// the target's to choose. Unchanged input comes back byte for byte.
func Carry(data []byte, r Release, cur Release) ([]byte, error) {
	if len(r.Diff(cur)) == 0 {
		return data, nil
	}
	doc, cfg, err := configNode(data)
	if err != nil {
		return nil, err
	}
	for _, s := range r.Services() {
		if cur.Images[s] == r.Images[s] {
			continue
		}
		if name, ok := strings.CutPrefix(s, "services."); ok {
			if err := setServiceImage(cfg, name, r.Images[s]); err != nil {
				return nil, err
			}
			continue
		}
		if err := set(cfg, model.Namespace+":"+s, "image", r.Images[s]); err != nil {
			return nil, err
		}
	}
	for _, m := range []string{"model", "embeddingModel"} {
		if cur.Models[m] != r.Models[m] {
			if err := set(cfg, model.Namespace+":ai", m, r.Models[m]); err != nil {
				return nil, err
			}
		}
	}
	return yamlenc.Marshal(doc)
}

// configNode is a stack config file's document and its `config:` mapping
// (added when absent).
func configNode(data []byte) (*yaml.Node, *yaml.Node, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, nil, fmt.Errorf("not valid YAML: %w", err)
	}
	if len(doc.Content) == 0 {
		doc = yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{{Kind: yaml.MappingNode}}}
	}
	top := doc.Content[0]
	if top.Kind != yaml.MappingNode {
		return nil, nil, fmt.Errorf("expected a mapping with a `config:` key")
	}
	cfg := child(top, "config", yaml.MappingNode)
	if cfg.Kind != yaml.MappingNode {
		return nil, nil, fmt.Errorf("`config:` must be a mapping")
	}
	return &doc, cfg, nil
}

// SetField writes field of the object at key (such as nextflow:cloud) in a
// stack config file, as a plain string: its other fields, the file's other
// keys and its comments stay.
func SetField(data []byte, key, field, value string) ([]byte, error) {
	doc, cfg, err := configNode(data)
	if err != nil {
		return nil, err
	}
	if err := set(cfg, key, field, value); err != nil {
		return nil, err
	}
	return yamlenc.Marshal(doc)
}

// child is the value of key in mapping m, added as an empty node of kind
// when absent.
func child(m *yaml.Node, key string, kind yaml.Kind) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			v := m.Content[i+1]
			if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
				*v = yaml.Node{Kind: kind}
			}
			return v
		}
	}
	v := &yaml.Node{Kind: kind}
	m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: key}, v)
	return v
}

func set(cfg *yaml.Node, key, field, value string) error {
	obj := child(cfg, key, yaml.MappingNode)
	if obj.Kind != yaml.MappingNode {
		return fmt.Errorf("%s is not an object; write it as a YAML mapping (key: value lines) for nfx to write into it", key)
	}
	if strings.HasPrefix(obj.Tag, "!") && obj.Tag != "!!map" {
		return fmt.Errorf("%s is tagged %s; promotion writes plain values only", key, obj.Tag)
	}
	v := child(obj, field, yaml.ScalarNode)
	if v.Kind != yaml.ScalarNode {
		return fmt.Errorf("%s.%s is not a string", key, field)
	}
	*v = yaml.Node{Kind: yaml.ScalarNode, Value: value, Style: v.Style, LineComment: v.LineComment}
	if v.Style&(yaml.FlowStyle|yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
		v.Style = yaml.DoubleQuotedStyle
	}
	return nil
}

func setServiceImage(cfg *yaml.Node, name, image string) error {
	key := model.Namespace + ":services"
	list := child(cfg, key, yaml.SequenceNode)
	if list.Kind != yaml.SequenceNode {
		return fmt.Errorf("%s is not a list", key)
	}
	for _, item := range list.Content {
		if item.Kind != yaml.MappingNode {
			continue
		}
		for i := 0; i+1 < len(item.Content); i += 2 {
			if item.Content[i].Value == "name" && item.Content[i+1].Value == name {
				v := child(item, "image", yaml.ScalarNode)
				*v = yaml.Node{Kind: yaml.ScalarNode, Value: image, Style: v.Style}
				return nil
			}
		}
	}
	return fmt.Errorf("the release runs service %s, which the target does not describe under %s; add it there with the target's own replicas and sizing, then promote", name, key)
}
