package yamlenc

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// Keys and strings chosen where YAML is subtle: words YAML 1.1 or 1.2
// reads as booleans or null, numbers, times, indicators, quotes, spaces,
// digits that yaml.v3's natural key order compares as numbers, non-ASCII.
var (
	trickyKeys = []string{"a", "b", "B", "a1", "a2", "a10", "a-b", "a.b", "a_b", "a/b", "_a", "/a", "-a", "1", "10", "2", "on", "y",
		"true", "null", "a b", "a:b", "é", "app.kubernetes.io/name", "nextflow.io/uses-ai", "x1y", "x01y", "x10y", "Z", "z"}
	trickyStrings = []string{"", " ", "a", "yes", "Yes", "ON", "off", "y", "n", "true", "False", "null", "Null", "~", "12", "012", "0x1F",
		"1e3", "1.5", ".inf", "-.inf", ".nan", "+1", "1:20", "2001-12-14", "2001-12-14t21:59:43.10-05:00", "25%", "[unknown]", "{x}",
		"- x", "-x", "#c", "a #b", "a# b", "a: b", "a:b", "http://crm:3000/health", "*a", "&a", "!t", "%p", "@at", "`bt", "'q", "\"dq",
		"it's", "tab\there", "ünïcödé", "trailing ", " leading", "/run/secrets/postgres_password", "nextflow", "RollingUpdate",
		"a,b", "a?b", "?a", ":a", "a|b", "|a", ">a", "=", "<<", "0", "-0", "1_000", "0b101", "0o17", strings.Repeat("long-word", 30),
		"multi\nline", "cr\rhere", "ends\n"}
)

func randomValue(r *rand.Rand, depth int) any {
	n := r.IntN(10)
	if depth > 3 && n < 4 {
		n += 4
	}
	switch n {
	case 0, 1:
		m := map[string]any{}
		for range r.IntN(5) {
			m[trickyKeys[r.IntN(len(trickyKeys))]] = randomValue(r, depth+1)
		}
		return m
	case 2, 3:
		s := make([]any, r.IntN(4))
		for i := range s {
			s[i] = randomValue(r, depth+1)
		}
		return s
	case 4, 5, 6:
		return trickyStrings[r.IntN(len(trickyStrings))]
	case 7:
		return []float64{0, -1, 3, 1.5, 5432, 1e6, 1e21, 1e-7, 0.1, 100, -2.5e-3}[r.IntN(11)]
	case 8:
		return r.IntN(2) == 0
	}
	return nil
}

// The Writer writes what Marshal writes, byte for byte, or declines:
// 20,000 random documents of tricky keys, strings, numbers and nesting.
// It must also take most documents, or it would be a slow path under
// another name.
func TestWriterWritesAsMarshal(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	w := NewWriter()
	taken := 0
	const n = 20000
	for i := range n {
		obj := map[string]any{}
		for range 1 + r.IntN(4) {
			obj[trickyKeys[r.IntN(len(trickyKeys))]] = randomValue(r, 0)
		}
		want, err := Marshal(obj)
		if err != nil {
			t.Fatal(err)
		}
		keys, ok := w.order(obj)
		if !ok {
			continue
		}
		got, ok := w.Mapping(keys, obj)
		if !ok {
			continue
		}
		taken++
		if string(got) != string(want) {
			t.Fatalf("document %d:\n got:\n%s\nwant:\n%s", i, got, want)
		}
	}
	if taken < n/10 {
		t.Errorf("took %d of %d documents", taken, n)
	}
	t.Logf("took %d of %d documents", taken, n)
}

// Documents of the plain words manifests are mostly made of are all taken.
func TestWriterTakesPlainDocuments(t *testing.T) {
	obj := map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]any{"name": "crm", "labels": map[string]any{"app.kubernetes.io/name": "crm"}},
		"spec": map[string]any{"replicas": 3.0, "template": map[string]any{"spec": map[string]any{
			"containers": []any{map[string]any{"name": "crm", "image": "ghcr.io/nextflow/crm:1.0", "args": []any{}, "env": []any{
				map[string]any{"name": "PORT", "value": "3000"}, map[string]any{"name": "URL", "value": "http://x:1/"}}}},
			"tolerations": []any{[]any{"a", "b"}, map[string]any{}}}}},
	}
	w := NewWriter()
	keys, _ := w.order(obj)
	got, ok := w.Mapping(keys, obj)
	want, _ := Marshal(obj)
	if !ok || string(got) != string(want) {
		t.Errorf("ok %v\n got:\n%s\nwant:\n%s", ok, got, want)
	}
}
