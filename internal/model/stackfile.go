package model

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// ReadStackFile reads a stack config file in the Pulumi.<stack>.yaml format
// (phase 0 of loading: read). Secure values stay encrypted: they are only
// marked as set. Keys of other namespaces (a provider's, such as
// cloudflare:apiToken) are returned in Others.
func ReadStackFile(path string) (Raw, map[string]string, error) {
	data, err := ReadStackData(path)
	if err != nil {
		return Raw{}, nil, err
	}
	return ParseStackFile(path, data)
}

// ReadStackData reads a stack config file's bytes: a regular file of at
// most MaxStackFile bytes.
func ReadStackData(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file; fix: give a stack config file in the Pulumi.<stage>.yaml format", path)
	}
	if fi.Size() > MaxStackFile {
		return nil, fmt.Errorf("%s: %d bytes, over the %d a stack config file may have; fix: give the stack's own Pulumi.<stage>.yaml", path, fi.Size(), MaxStackFile)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxStackFile+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxStackFile {
		return nil, fmt.Errorf("%s: grew past %d bytes while being read", path, MaxStackFile)
	}
	return data, nil
}

// MaxStackFile bounds a stack config file: the largest nfx reads.
const MaxStackFile = 4 << 20

// ParseStackFile is ReadStackFile on bytes already read.
func ParseStackFile(name string, data []byte) (Raw, map[string]string, error) {
	raw := Raw{Values: map[string]string{}, Secret: map[string]bool{}, Complete: true, Source: name}
	others := map[string]string{}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return raw, others, nil
		}
		return raw, nil, fmt.Errorf("%s: not valid YAML: %w", name, err)
	}
	if len(doc.Content) == 0 {
		return raw, others, nil
	}
	top := doc.Content[0]
	if top.Kind != yaml.MappingNode {
		return raw, nil, fmt.Errorf("%s:%d: expected a mapping with a `config:` key", name, top.Line)
	}
	var cfg *yaml.Node
	topSeen := map[string]int{}
	for i := 0; i+1 < len(top.Content); i += 2 {
		key := top.Content[i].Value
		if line, dup := topSeen[key]; dup {
			return raw, nil, fmt.Errorf("%s:%d: %s appears twice (first on line %d), and YAML would keep only the second; fix: merge them into one", name, top.Content[i].Line, key, line)
		}
		topSeen[key] = top.Content[i].Line
		switch key {
		case "config":
			cfg = top.Content[i+1]
		case "encryptionsalt", "secretsprovider", "encryptedkey", "environment":
		default:
			return raw, nil, fmt.Errorf("%s:%d: unknown top-level key %q; stack settings hold config, encryptionsalt, secretsprovider, encryptedkey and environment", name, top.Content[i].Line, key)
		}
	}
	if cfg == nil || cfg.Kind == yaml.ScalarNode && cfg.Tag == "!!null" {
		return raw, others, nil
	}
	if cfg.Kind != yaml.MappingNode {
		return raw, nil, fmt.Errorf("%s:%d: `config:` must be a mapping of keys to values", name, cfg.Line)
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(cfg.Content); i += 2 {
		keyNode, val := cfg.Content[i], cfg.Content[i+1]
		full := keyNode.Value
		ns, short, ok := strings.Cut(full, ":")
		if !ok {
			ns, short = Namespace, full
		}
		if line, dup := seen[ns+":"+short]; dup {
			return raw, nil, fmt.Errorf("%s:%d: key %s is set twice (first on line %d)", name, keyNode.Line, full, line)
		}
		seen[ns+":"+short] = keyNode.Line
		if ns != Namespace && nearNamespace(ns) {
			return raw, nil, fmt.Errorf("%s:%d: %s is in namespace %q, not %q, and would be ignored; fix: write %s:%s", name, keyNode.Line, full, ns, Namespace, Namespace, short)
		}
		if ns != Namespace {
			if !isSecure(val) {
				s, err := nodeValue(val)
				if err != nil {
					return raw, nil, fmt.Errorf("%s:%d: %s: %w", name, val.Line, full, err)
				}
				others[full] = s
			} else {
				others[full] = ""
			}
			continue
		}
		if isSecure(val) {
			raw.Values[short] = "[secure]"
			raw.Secret[short] = true
			continue
		}
		s, err := nodeValue(val)
		if err != nil {
			return raw, nil, fmt.Errorf("%s:%d: %s: %w", name, val.Line, full, err)
		}
		raw.Values[short] = s
	}
	return raw, others, nil
}

// nearNamespace reports whether ns is a typo of nfx's namespace
// (nextflw, NextFlow, next-flow): a provider's namespace is far from it.
func nearNamespace(ns string) bool {
	low := strings.ToLower(ns)
	plain := strings.NewReplacer("-", "", "_", "", ".", "").Replace(low)
	return low == Namespace || plain == Namespace || editDistance(low, Namespace) <= 2
}

// isSecure reports whether a node is Pulumi's `{secure: <ciphertext>}`.
func isSecure(n *yaml.Node) bool {
	return n.Kind == yaml.MappingNode && len(n.Content) == 2 && n.Content[0].Value == "secure"
}

// nodeValue renders a YAML value the way Pulumi hands config to programs:
// scalars as their text, mappings and lists as JSON.
func nodeValue(n *yaml.Node) (string, error) {
	if n.Kind == yaml.ScalarNode {
		if n.Tag == "!!null" {
			return "", nil
		}
		return n.Value, nil
	}
	var v any
	if err := n.Decode(&v); err != nil {
		return "", err
	}
	if bad := nonFinite(v, ""); bad != "" {
		return "", fmt.Errorf("%s is not a finite number; fix: write a number", strings.TrimPrefix(bad, "."))
	}
	b, err := json.Marshal(jsonable(v))
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// nonFinite returns the path of a NaN or infinite number in v, or "".
func nonFinite(v any, path string) string {
	switch t := v.(type) {
	case float64:
		if math.IsNaN(t) || math.IsInf(t, 0) {
			return path + " (" + strconv.FormatFloat(t, 'g', -1, 64) + ")"
		}
	case map[string]any:
		for _, k := range SortedKeys(t) {
			if p := nonFinite(t[k], path+"."+k); p != "" {
				return p
			}
		}
	case map[any]any:
		for k, e := range t {
			if p := nonFinite(e, fmt.Sprintf("%s.%v", path, k)); p != "" {
				return p
			}
		}
	case []any:
		for i, e := range t {
			if p := nonFinite(e, fmt.Sprintf("%s[%d]", path, i)); p != "" {
				return p
			}
		}
	}
	return ""
}

// jsonable converts YAML-decoded maps to string-keyed ones.
func jsonable(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[k] = jsonable(e)
		}
		return out
	case map[any]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[fmt.Sprint(k)] = jsonable(e)
		}
		return out
	case []any:
		for i := range t {
			t[i] = jsonable(t[i])
		}
		return t
	}
	return v
}

// RawFromPulumi builds Raw from the flat "namespace:key" map Pulumi passes to
// a program (the engine's config, or a test's). Keys of other namespaces are
// skipped.
func RawFromPulumi(values map[string]string, secretKeys []string, complete bool) Raw {
	raw := Raw{Values: map[string]string{}, Secret: map[string]bool{}, Complete: complete, Source: "stack config"}
	for full, v := range values {
		ns, short, ok := strings.Cut(full, ":")
		if !ok || ns != Namespace {
			continue
		}
		raw.Values[short] = v
	}
	for _, full := range secretKeys {
		if ns, short, ok := strings.Cut(full, ":"); ok && ns == Namespace {
			raw.Secret[short] = true
		}
	}
	return raw
}

// PulumiConfig turns Raw back into the flat map and secret-key list that
// Pulumi's RunInfo carries, for running the program offline.
func (r Raw) PulumiConfig() (map[string]string, []string) {
	values := make(map[string]string, len(r.Values))
	var secret []string
	for k, v := range r.Values {
		values[FullKey(k)] = v
		if r.Secret[k] {
			secret = append(secret, FullKey(k))
		}
	}
	sort.Strings(secret)
	return values, secret
}
