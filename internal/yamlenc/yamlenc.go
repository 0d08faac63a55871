// Package yamlenc encodes YAML the way every file nfx renders or edits is
// written: two-space indents (yaml.v3 defaults to four).
package yamlenc

import (
	"bytes"

	"gopkg.in/yaml.v3"
)

// Marshal encodes v (a value or a *yaml.Node) with two-space indents.
func Marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
