package model

import (
	"fmt"
	"math"
	"reflect"
	"strings"
)

// MaxNumber bounds every plain number of the configuration: a cost in VND,
// a count, a rate. Far above any real figure, far below the range where
// arithmetic on it loses meaning.
const MaxNumber = 1e15

// checkNumbers walks the decoded configuration and refuses every number
// that is not finite or that is out of the range nfx computes with, naming
// its key, so that no NaN, infinity or overflow reaches a renderer, the
// cost model or a JSON report.
func checkNumbers(c *Config, ds *Diagnostics) {
	for _, k := range Keys {
		if k.field == nil || k.Type == "string" {
			continue
		}
		walkNumbers(FullKey(k.Name), reflect.ValueOf(k.field(c)).Elem(), ds)
	}
}

func walkNumbers(path string, v reflect.Value, ds *Diagnostics) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			walkNumbers(path, v.Elem(), ds)
		}
	case reflect.Struct:
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			if f.Anonymous {
				walkNumbers(path, v.Field(i), ds)
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "" || name == "-" {
				continue
			}
			walkNumbers(path+"."+name, v.Field(i), ds)
		}
	case reflect.Slice:
		for i := 0; i < v.Len(); i++ {
			walkNumbers(fmt.Sprintf("%s[%d]", path, i), v.Index(i), ds)
		}
	case reflect.Map:
		for _, k := range v.MapKeys() {
			walkNumbers(path+"."+fmt.Sprint(k.Interface()), v.MapIndex(k), ds)
		}
	case reflect.Float64, reflect.Float32:
		f := v.Float()
		switch {
		case math.IsNaN(f) || math.IsInf(f, 0):
			ds.Errorf(path, "write a finite number", "is %g", f)
		case math.Abs(f) > MaxNumber:
			ds.Errorf(path, fmt.Sprintf("keep it within ±%g", MaxNumber), "%g is out of range", f)
		}
	case reflect.Int, reflect.Int64, reflect.Int32:
		if v.Type() == bytesType || v.Type() == durationType {
			return
		}
		if n := v.Int(); n > int64(MaxNumber) || n < -int64(MaxNumber) {
			ds.Errorf(path, fmt.Sprintf("keep it within ±%g", MaxNumber), "%d is out of range", n)
		}
	}
}
