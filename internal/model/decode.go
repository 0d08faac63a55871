package model

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
)

// decodeObject decodes the JSON object raw into the struct dst field by
// field, so that every unknown field and every wrongly typed value is
// reported, not just the first. Fields absent from raw keep their value in
// dst (the defaults).
func decodeObject(path, raw string, dst any, ds *Diagnostics) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal([]byte(raw), &fields); err != nil || fields == nil {
		ds.Errorf(path, "write it as a YAML mapping of fields, for example `crm: {replicas: 1}`",
			"expected an object, got %s", describeJSON(raw))
		return
	}
	known := structFields(reflect.ValueOf(dst).Elem())
	names := make([]string, 0, len(fields))
	for name := range fields {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fpath := path + "." + name
		f, ok := known[name]
		if !ok {
			ds.Errorf(fpath, suggest(name, known), "unknown field %q", name)
			continue
		}
		msg := fields[name]
		if bytes.Equal(bytes.TrimSpace(msg), []byte("null")) {
			continue
		}
		if decodeNested(fpath, msg, f, ds) {
			continue
		}
		// Decode into a fresh value so that a failed decode leaves the default.
		fresh := reflect.New(f.Type())
		dec := json.NewDecoder(bytes.NewReader(msg))
		dec.DisallowUnknownFields()
		if err := dec.Decode(fresh.Interface()); err != nil {
			kt := describeType(f.Type())
			why := ""
			if t := f.Type(); t == bytesType || t == durationType {
				// The value's own reason: out of range, or no unit.
				why = " (" + err.Error() + ")"
			}
			ds.Errorf(fpath, "use "+kt.hint, "expected %s, got %s%s", kt.name, describeJSON(string(msg)), why)
			continue
		}
		f.Set(fresh.Elem())
	}
}

// decodeNested decodes an object into a struct field (or a pointer to
// one) and a list into a list of structs, field by field, so that errors
// name the nested path. It reports whether it handled the field.
func decodeNested(path string, msg json.RawMessage, f reflect.Value, ds *Diagnostics) bool {
	t := f.Type()
	trimmed := bytes.TrimSpace(msg)
	switch {
	case isPlainStruct(t) && len(trimmed) > 0 && trimmed[0] == '{':
		fresh := reflect.New(t)
		fresh.Elem().Set(f)
		n := len(*ds)
		decodeObject(path, string(msg), fresh.Interface(), ds)
		if len(*ds) == n {
			f.Set(fresh.Elem())
		}
		return true
	case t.Kind() == reflect.Pointer && isPlainStruct(t.Elem()) && len(trimmed) > 0 && trimmed[0] == '{':
		fresh := reflect.New(t.Elem())
		n := len(*ds)
		decodeObject(path, string(msg), fresh.Interface(), ds)
		if len(*ds) == n {
			f.Set(fresh)
		}
		return true
	case t.Kind() == reflect.Slice && isPlainStruct(t.Elem()):
		var items []json.RawMessage
		if err := json.Unmarshal(msg, &items); err != nil {
			ds.Errorf(path, "write it as a YAML list of mappings", "expected a list, got %s", describeJSON(string(msg)))
			return true
		}
		out := reflect.MakeSlice(t, len(items), len(items))
		for i, it := range items {
			decodeObject(fmt.Sprintf("%s[%d]", path, i), string(it), out.Index(i).Addr().Interface(), ds)
		}
		f.Set(out)
		return true
	}
	return false
}

// isPlainStruct is a config struct decoded field by field (not a value
// type with its own JSON form).
func isPlainStruct(t reflect.Type) bool {
	return t.Kind() == reflect.Struct && t != bytesType && t != durationType
}

// decodeServices decodes nextflow:services, item by item over each
// item's defaults.
func decodeServices(path, raw string, dst *[]ServiceConfig, ds *Diagnostics) {
	var items []json.RawMessage
	if err := json.Unmarshal([]byte(raw), &items); err != nil {
		ds.Errorf(path, "write it as a YAML list of services, each a mapping with name, kind, image, ...",
			"expected a list, got %s", describeJSON(raw))
		return
	}
	if len(items) > MaxServices {
		ds.Errorf(path, fmt.Sprintf("keep it to %d services or fewer", MaxServices), "lists %d services", len(items))
		return
	}
	out := make([]ServiceConfig, len(items))
	for i, it := range items {
		out[i].Sizing = DefaultServiceSizing
		decodeObject(fmt.Sprintf("%s[%d]", path, i), string(it), &out[i], ds)
	}
	*dst = out
}

// decodeAppSecrets reads which fields of nextflow:secrets hold a value.
// From a stack file each field must be a `secure:` value; from the
// engine, the whole key arrives decrypted and marked secret. Values are
// never kept.
func decodeAppSecrets(raw string, secret bool, c *Config, ds *Diagnostics) {
	path := FullKey(KeyAppSecrets)
	var fields map[string]json.RawMessage
	if err := json.Unmarshal([]byte(raw), &fields); err != nil || fields == nil {
		ds.Errorf(path, fmt.Sprintf("set each secret with `pulumi config set --secret --path '%s.<name>' <value>`", path),
			"expected an object of secrets (its value is not shown)")
		return
	}
	for _, name := range SortedKeys(fields) {
		fpath := path + "." + name
		if !secretNameRE.MatchString(name) {
			ds.Errorf(fpath, "use a name of letters and digits starting with a lower-case letter, such as workerApiKey", "%q is not a secret name", name)
			continue
		}
		var secure struct {
			Secure *string `json:"secure"`
		}
		isSecure := json.Unmarshal(fields[name], &secure) == nil && secure.Secure != nil
		var plain string
		isString := json.Unmarshal(fields[name], &plain) == nil
		switch {
		case isSecure:
			c.AppSecretsSet[name] = *secure.Secure != ""
		case isString && secret:
			c.AppSecretsSet[name] = plain != ""
		default:
			ds.Errorf(fpath, fmt.Sprintf("set it with `pulumi config set --secret --path '%s' <value>`", fpath),
				"is stored in plaintext but must be a secret (its value is not shown)")
		}
	}
}

// structFields maps the JSON names of v's fields to the fields, flattening
// embedded structs.
func structFields(v reflect.Value) map[string]reflect.Value {
	out := map[string]reflect.Value{}
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		if sf.Anonymous && sf.Type.Kind() == reflect.Struct {
			for k, fv := range structFields(v.Field(i)) {
				out[k] = fv
			}
			continue
		}
		name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		if name == "" || name == "-" || !sf.IsExported() {
			continue
		}
		out[name] = v.Field(i)
	}
	return out
}

var (
	bytesType    = reflect.TypeOf(Bytes(0))
	durationType = reflect.TypeOf(Duration(0))
)

// kindText is how a field's type is named in a message and how to write a
// value of it.
type kindText struct{ name, hint string }

func describeType(t reflect.Type) kindText {
	if t == bytesType {
		return kindText{"a size", "a size with a unit, such as 512MiB or 4GiB"}
	}
	if t == durationType {
		return kindText{"a duration", "a duration such as 30s or 2m"}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return describeType(t.Elem())
	case reflect.Bool:
		return kindText{"a boolean", "true or false"}
	case reflect.Int, reflect.Int64, reflect.Int32:
		return kindText{"an integer", "a whole number without quotes, such as 3"}
	case reflect.Float64, reflect.Float32:
		return kindText{"a number", "a number without quotes, such as 1.5"}
	case reflect.String:
		return kindText{"a string", "a quoted string"}
	case reflect.Slice:
		return kindText{"a list", "a YAML list"}
	case reflect.Map:
		return kindText{"a mapping", "a YAML mapping of names to values"}
	}
	return kindText{"an object", "a YAML mapping"}
}

// describeJSON names a JSON value's kind and the value, shortened.
func describeJSON(raw string) string {
	raw = strings.TrimSpace(raw)
	if len(raw) > 60 {
		raw = raw[:57] + "..."
	}
	switch {
	case raw == "":
		return "nothing"
	case raw == "true" || raw == "false":
		return "boolean " + raw
	case strings.HasPrefix(raw, `"`):
		return "string " + raw
	case strings.HasPrefix(raw, "{"):
		return "object " + raw
	case strings.HasPrefix(raw, "["):
		return "list " + raw
	case raw == "null":
		return "null"
	}
	if json.Valid([]byte(raw)) {
		return "number " + raw
	}
	return fmt.Sprintf("%q", raw)
}

// suggest proposes the closest known field name.
func suggest(name string, known map[string]reflect.Value) string {
	names := make([]string, 0, len(known))
	for k := range known {
		names = append(names, k)
	}
	sort.Strings(names)
	best, bestD := "", 1<<30
	for _, k := range names {
		if d := editDistance(strings.ToLower(name), strings.ToLower(k)); d < bestD {
			best, bestD = k, d
		}
	}
	if best != "" && bestD <= 3 {
		return fmt.Sprintf("did you mean %q? known fields: %s", best, strings.Join(names, ", "))
	}
	return "remove it; known fields: " + strings.Join(names, ", ")
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
