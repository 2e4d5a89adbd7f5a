package api

import (
	"encoding"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
)

// JSON has no NaN or ±Inf, so encoding/json refuses an answer holding one
// (a trend summing 1.7e308 twice). finiteJSON encodes such an answer with
// each of those numbers as null and, when the answer is an object, a field
// "non_finite" listing where they stood ("series[0].data[3]").

var (
	marshalerType     = reflect.TypeOf((*json.Marshaler)(nil)).Elem()
	textMarshalerType = reflect.TypeOf((*encoding.TextMarshaler)(nil)).Elem()
)

func finiteJSON(v any) ([]byte, error) {
	var paths []string
	out := finite(reflect.ValueOf(v), "", &paths)
	if obj, ok := out.(map[string]any); ok && len(paths) > 0 {
		if _, taken := obj["non_finite"]; !taken {
			obj["non_finite"] = paths
		}
	}
	return json.Marshal(out)
}

// finite rebuilds v as plain maps, slices and values, following
// encoding/json's rules for struct fields (names, omitempty, "-",
// embedded structs), with non-finite floats as nil.
func finite(v reflect.Value, path string, paths *[]string) any {
	if !v.IsValid() {
		return nil
	}
	if (v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface) && v.IsNil() {
		return nil
	}
	if v.Type().Implements(marshalerType) || v.Type().Implements(textMarshalerType) {
		if b, err := json.Marshal(v.Interface()); err == nil {
			return json.RawMessage(b)
		}
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		return finite(v.Elem(), path, paths)
	case reflect.Float32, reflect.Float64:
		if f := v.Float(); math.IsNaN(f) || math.IsInf(f, 0) {
			*paths = append(*paths, strings.TrimPrefix(path, "."))
			return nil
		}
		return v.Interface()
	case reflect.Struct:
		obj := map[string]any{}
		structFields(v, path, paths, obj)
		return obj
	case reflect.Map:
		obj := make(map[string]any, v.Len())
		keys := v.MapKeys()
		sort.Slice(keys, func(i, j int) bool { return fmt.Sprint(keys[i]) < fmt.Sprint(keys[j]) })
		for _, k := range keys {
			name := fmt.Sprint(k.Interface())
			obj[name] = finite(v.MapIndex(k), path+"."+name, paths)
		}
		return obj
	case reflect.Slice, reflect.Array:
		if v.Kind() == reflect.Slice && v.IsNil() {
			return nil
		}
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return v.Interface() // base64, as encoding/json writes bytes
		}
		list := make([]any, v.Len())
		for i := range list {
			list[i] = finite(v.Index(i), path+"["+strconv.Itoa(i)+"]", paths)
		}
		return list
	}
	return v.Interface()
}

func structFields(v reflect.Value, path string, paths *[]string, obj map[string]any) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		fv := v.Field(i)
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				if fv.IsNil() {
					continue
				}
				ft, fv = ft.Elem(), fv.Elem()
			}
			if ft.Kind() == reflect.Struct {
				structFields(fv, path, paths, obj)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		if strings.Contains(","+opts+",", ",omitempty,") && empty(fv) {
			continue
		}
		obj[name] = finite(fv, path+"."+name, paths)
	}
}

// empty is encoding/json's omitempty test.
func empty(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return v.Len() == 0
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Interface, reflect.Pointer:
		return v.IsZero()
	}
	return false
}
