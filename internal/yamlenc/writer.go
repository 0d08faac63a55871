package yamlenc

import (
	"bytes"
	"math"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Writer encodes JSON-shaped values (maps with string keys, slices,
// strings, float64, bool and nil, as a plan's inputs are) in block style,
// byte for byte as Marshal does, without yaml.v3's encoder: that encoder
// queues and copies every event of a document, which made it most of a
// large render's time and memory. yaml.v3 still decides what it alone
// knows, each once per Writer: the order of a map's keys (its natural
// order) and the text of a string that is not plainly a word. A value the
// Writer does not take (another type, a multi-line string, a key that is
// not a plain word) makes it decline, and the caller uses Marshal.
// TestWriterWritesAsMarshal holds the two to the same bytes.
type Writer struct {
	scalars map[string]string
	orders  map[string][]string
}

// NewWriter returns a Writer with empty caches; keep one for a render.
func NewWriter() *Writer {
	return &Writer{scalars: map[string]string{}, orders: map[string][]string{}}
}

// Mapping encodes obj as a block mapping with its keys in the order given
// (the nested maps' in yaml.v3's), or returns false when it declines.
func (w *Writer) Mapping(keys []string, obj map[string]any) ([]byte, bool) {
	if len(keys) == 0 {
		return []byte("{}\n"), true
	}
	var b bytes.Buffer
	if !w.mapping(&b, 0, keys, obj, false) {
		return nil, false
	}
	return b.Bytes(), true
}

// mapping writes a block mapping at indent; inItem means its first key
// goes on the line of a sequence item's dash.
func (w *Writer) mapping(b *bytes.Buffer, indent int, keys []string, obj map[string]any, inItem bool) bool {
	for i, k := range keys {
		if !plainWord(k) {
			return false
		}
		if i > 0 || !inItem {
			pad(b, indent)
		}
		b.WriteString(k)
		b.WriteByte(':')
		if !w.value(b, indent, obj[k]) {
			return false
		}
	}
	return true
}

// value writes what follows a key's colon or an item's dash: a scalar or
// an empty collection on the same line, a collection on the next lines.
func (w *Writer) value(b *bytes.Buffer, indent int, v any) bool {
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 0 {
			b.WriteString(" {}\n")
			return true
		}
		keys, ok := w.order(x)
		if !ok {
			return false
		}
		b.WriteByte('\n')
		return w.mapping(b, indent+2, keys, x, false)
	case []any:
		if len(x) == 0 {
			b.WriteString(" []\n")
			return true
		}
		b.WriteByte('\n')
		return w.sequence(b, indent+2, x)
	}
	s, ok := w.scalar(v)
	if !ok {
		return false
	}
	b.WriteByte(' ')
	b.WriteString(s)
	b.WriteByte('\n')
	return true
}

// sequence writes a block sequence's items at indent.
func (w *Writer) sequence(b *bytes.Buffer, indent int, items []any) bool {
	for _, it := range items {
		pad(b, indent)
		b.WriteByte('-')
		switch x := it.(type) {
		case map[string]any:
			if len(x) == 0 {
				b.WriteString(" {}\n")
				continue
			}
			keys, ok := w.order(x)
			if !ok {
				return false
			}
			b.WriteByte(' ')
			if !w.mapping(b, indent+2, keys, x, true) {
				return false
			}
		case []any:
			if len(x) == 0 {
				b.WriteString(" []\n")
				continue
			}
			b.WriteByte(' ')
			// The nested sequence's first item shares this line.
			var inner bytes.Buffer
			if !w.sequence(&inner, indent+2, x) {
				return false
			}
			b.Write(bytes.TrimLeft(inner.Bytes(), " "))
		default:
			if !w.value(b, indent, it) {
				return false
			}
		}
	}
	return true
}

// scalar is a scalar's text, or false for a value the Writer declines.
func (w *Writer) scalar(v any) (string, bool) {
	switch x := v.(type) {
	case nil:
		return "null", true
	case bool:
		return strconv.FormatBool(x), true
	case float64:
		if math.IsInf(x, 0) || math.IsNaN(x) {
			return "", false
		}
		// As yaml.v3 writes a float64.
		return strconv.FormatFloat(x, 'g', -1, 64), true
	case string:
		if plainWord(x) {
			return x, true
		}
		if strings.ContainsAny(x, "\n\r") {
			return "", false
		}
		if s, ok := w.scalars[x]; ok {
			return s, true
		}
		out, err := yaml.Marshal(x)
		s := strings.TrimSuffix(string(out), "\n")
		if err != nil || strings.Contains(s, "\n") {
			return "", false
		}
		w.scalars[x] = s
		return s, true
	}
	return "", false
}

// order is yaml.v3's order of a map's keys, found once per key set by
// encoding the keys with their rank as values.
func (w *Writer) order(m map[string]any) ([]string, bool) {
	keys := make([]string, 0, len(m))
	for k := range m {
		if !plainWord(k) {
			return nil, false
		}
		keys = append(keys, k)
	}
	if len(keys) == 1 {
		return keys, true
	}
	slices.Sort(keys)
	sig := strings.Join(keys, "\x00")
	if o, ok := w.orders[sig]; ok {
		return o, true
	}
	rank := make(map[string]int, len(keys))
	for i, k := range keys {
		rank[k] = i
	}
	out, err := yaml.Marshal(rank)
	if err != nil {
		return nil, false
	}
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(lines) != len(keys) {
		return nil, false
	}
	o := make([]string, len(keys))
	for i, l := range lines {
		j := strings.LastIndex(l, ": ")
		if j < 0 {
			return nil, false
		}
		n, err := strconv.Atoi(l[j+2:])
		if err != nil || n < 0 || n >= len(keys) || l[:j] != keys[n] {
			return nil, false
		}
		o[i] = keys[n]
	}
	w.orders[sig] = o
	return o, true
}

// plainWord says s is written as it is by yaml.v3, as a key or a value:
// a letter, '/' or '_' first, then letters, digits and . _ / -, and no
// word YAML reads as a boolean or null (1.1's yes, on and y among them,
// which yaml.v3 quotes).
func plainWord(s string) bool {
	if s == "" || len(s) > 200 {
		return false
	}
	c := s[0]
	if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '/' || c == '_') {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '/' || c == '-') {
			return false
		}
	}
	switch strings.ToLower(s) {
	case "y", "n", "yes", "no", "on", "off", "true", "false", "null":
		return false
	}
	return true
}

func pad(b *bytes.Buffer, n int) {
	for range n {
		b.WriteByte(' ')
	}
}
