package server

import (
	"fmt"

	"gopkg.in/yaml.v3"

	"github.com/nextflow-crm/nfx/internal/yamlenc"
)

// swarmCompat adapts compose-go's marshalled YAML to the Compose v3 schema
// that `docker stack deploy` validates against: there, resource `cpus` are
// strings ("0.5"), where compose-go writes numbers, and file modes are
// numbers, as are published ports and tmpfs sizes, where compose-go writes strings; the
// project's name is not part of the file (`docker stack deploy` names it). It edits only those scalars'
// tags; the document is otherwise compose-go's.
func swarmCompat(in []byte) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(in, &doc); err != nil {
		return nil, fmt.Errorf("server: reread stack: %w", err)
	}
	var walk func(n *yaml.Node, path []string)
	walk = func(n *yaml.Node, path []string) {
		switch n.Kind {
		case yaml.DocumentNode, yaml.SequenceNode:
			for _, c := range n.Content {
				walk(c, path)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				p := append(append([]string(nil), path...), k.Value)
				if k.Value == "cpus" && v.Kind == yaml.ScalarNode && len(p) >= 3 && p[len(p)-3] == "resources" {
					v.Tag, v.Style = "!!str", yaml.DoubleQuotedStyle
				}
				// A config's file mode is a number there, written in octal as
				// Docker's own examples do; compose-go quotes it.
				if k.Value == "mode" && v.Kind == yaml.ScalarNode && len(p) >= 2 && (p[len(p)-2] == "configs" || p[len(p)-2] == "secrets") {
					v.Tag, v.Style = "!!int", 0
				}
				// So is a tmpfs mount's size, in bytes.
				if k.Value == "size" && v.Kind == yaml.ScalarNode && len(p) >= 2 && p[len(p)-2] == "tmpfs" {
					v.Tag, v.Style = "!!int", 0
				}
				// So is a published port.
				if k.Value == "published" && v.Kind == yaml.ScalarNode && len(p) >= 2 && p[len(p)-2] == "ports" {
					v.Tag, v.Style = "!!int", 0
				}
				walk(v, p)
			}
		}
	}
	walk(&doc, nil)
	return yamlenc.Marshal(&doc)
}
