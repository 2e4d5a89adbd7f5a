package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// SQLValue turns one value of the sql insight, as a store's driver scanned
// it, into what its JSON answer holds, the same on every store:
//
//   - integers of any width as JSON numbers with every digit (HUGEINT,
//     UInt64, Int128 included), decimals as exact JSON numbers;
//   - NaN and ±Inf as null, with finite false (the answer lists the cell);
//   - UUIDs as their text; times as RFC 3339 (DATE as 2006-01-02, TIME as
//     15:04:05.999999); intervals as {"months","days","micros"};
//   - bytes (BLOB) as text, printable ASCII kept and every other byte as
//     \xHH, so it is lossless and always valid UTF-8;
//   - lists, arrays and tuples as arrays, structs and maps with text keys
//     as objects, other maps as [{"key","value"}] pairs, all recursively;
//   - JSON columns (as text) as the JSON they hold, numbers kept verbatim.
//
// dbType is the column's type name as the driver reports it (UUID, DATE,
// JSON, …); "" when unknown.
func SQLValue(v any, dbType string) (out any, finite bool) {
	finite = true
	out = sqlValue(reflect.ValueOf(v), strings.ToUpper(dbType), &finite)
	return out, finite
}

// Interval is how interval values read.
type Interval struct {
	Months int32 `json:"months"`
	Days   int32 `json:"days"`
	Micros int64 `json:"micros"`
}

var (
	timeType     = reflect.TypeOf(time.Time{})
	bigIntType   = reflect.TypeOf(big.Int{})
	stringerType = reflect.TypeOf((*fmt.Stringer)(nil)).Elem()
)

func sqlValue(v reflect.Value, dbType string, finite *bool) any {
	if !v.IsValid() {
		return nil
	}
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return nil
		}
		if v.Type() == reflect.PointerTo(bigIntType) {
			return json.Number(v.Interface().(*big.Int).String())
		}
		v = v.Elem()
	}
	switch v.Type() {
	case timeType:
		t := v.Interface().(time.Time)
		switch {
		case dbType == "DATE" || strings.HasPrefix(dbType, "DATE("):
			return t.Format("2006-01-02")
		case dbType == "TIME":
			return t.Format("15:04:05.999999")
		case dbType == "TIMETZ" || dbType == "TIME WITH TIME ZONE":
			return t.UTC().Format("15:04:05.999999Z07:00")
		}
		return t.UTC().Format(time.RFC3339Nano)
	case bigIntType:
		b := v.Interface().(big.Int)
		return json.Number(b.String())
	}
	if d, ok := decimalValue(v); ok {
		return d
	}
	if iv, ok := interval(v); ok {
		return iv
	}
	switch v.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return v.Interface()
	case reflect.Float32, reflect.Float64:
		f := v.Float()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			*finite = false
			return nil
		}
		if v.Kind() == reflect.Float32 {
			// The float32's shortest text, not its float64 widening
			// (0.1 stays 0.1, not 0.10000000149011612).
			return json.Number(fmt.Sprint(float32(f)))
		}
		return f
	case reflect.String:
		s := v.String()
		if dbType == "JSON" {
			return jsonText(s, finite)
		}
		return s
	}
	if v.Type().Implements(stringerType) && v.Kind() != reflect.Map && v.Kind() != reflect.Struct {
		return v.Interface().(fmt.Stringer).String() // uuid.UUID, net.IP, enums
	}
	switch v.Kind() {
	case reflect.Slice, reflect.Array:
		elem, isList := listElem(dbType)
		if v.Type().Elem().Kind() == reflect.Uint8 && !isList {
			b := make([]byte, v.Len())
			reflect.Copy(reflect.ValueOf(b), v)
			if dbType == "UUID" && len(b) == 16 {
				return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
			}
			return blobText(b)
		}
		out := make([]any, v.Len())
		for i := range out {
			out[i] = sqlValue(v.Index(i), elem, finite)
		}
		return out
	case reflect.Map:
		return mapValue(v, finite)
	case reflect.Struct:
		if v.Type().Implements(stringerType) {
			if om, ok := orderedMap(v, finite); ok {
				return om
			}
			return v.Interface().(fmt.Stringer).String()
		}
		return structValue(v, finite)
	}
	return fmt.Sprint(v.Interface())
}

// listElem is the element type of a list type: DuckDB's "T[]" or
// ClickHouse's "ARRAY(T)" (as chType writes it).
func listElem(dbType string) (string, bool) {
	if e, ok := strings.CutSuffix(dbType, "[]"); ok {
		return e, true
	}
	if e, ok := strings.CutPrefix(dbType, "ARRAY("); ok && strings.HasSuffix(e, ")") {
		return e[:len(e)-1], true
	}
	return "", false
}

// decimalValue reads the drivers' decimal types (DuckDB's Decimal, ClickHouse's
// shopspring decimal) by their exact text.
func decimalValue(v reflect.Value) (json.Number, bool) {
	name := v.Type().Name()
	if name != "Decimal" || !v.Type().Implements(stringerType) {
		return "", false
	}
	s := v.Interface().(fmt.Stringer).String()
	if !json.Valid([]byte(s)) {
		return "", false
	}
	return json.Number(s), true
}

// interval reads DuckDB's Interval (Months, Days, Micros).
func interval(v reflect.Value) (Interval, bool) {
	if v.Kind() != reflect.Struct || v.Type().Name() != "Interval" {
		return Interval{}, false
	}
	m, d, u := v.FieldByName("Months"), v.FieldByName("Days"), v.FieldByName("Micros")
	if !m.IsValid() || !d.IsValid() || !u.IsValid() || !m.CanInt() || !d.CanInt() || !u.CanInt() {
		return Interval{}, false
	}
	return Interval{Months: int32(m.Int()), Days: int32(d.Int()), Micros: u.Int()}, true
}

// orderedMap reads a struct with Keys() and Values() methods (DuckDB's
// MAP type).
func orderedMap(v reflect.Value, finite *bool) (any, bool) {
	p := reflect.New(v.Type())
	p.Elem().Set(v)
	keysM, valsM := p.MethodByName("Keys"), p.MethodByName("Values")
	if !keysM.IsValid() || !valsM.IsValid() {
		return nil, false
	}
	keys, ok1 := keysM.Call(nil)[0].Interface().([]any)
	vals, ok2 := valsM.Call(nil)[0].Interface().([]any)
	if !ok1 || !ok2 || len(keys) != len(vals) {
		return nil, false
	}
	return pairs(len(keys), func(i int) (any, any) { return keys[i], vals[i] }, finite), true
}

func mapValue(v reflect.Value, finite *bool) any {
	keys := v.MapKeys()
	sort.Slice(keys, func(i, j int) bool { return fmt.Sprint(keys[i].Interface()) < fmt.Sprint(keys[j].Interface()) })
	return pairs(len(keys), func(i int) (any, any) { return keys[i].Interface(), v.MapIndex(keys[i]).Interface() }, finite)
}

// pairs is an object when every key is text, else a list of key/value
// pairs (a JSON object key must be a string).
func pairs(n int, at func(i int) (any, any), finite *bool) any {
	textKeys := true
	for i := 0; i < n; i++ {
		if k, _ := at(i); reflect.ValueOf(k).Kind() != reflect.String {
			textKeys = false
		}
	}
	if textKeys {
		obj := make(map[string]any, n)
		for i := 0; i < n; i++ {
			k, val := at(i)
			obj[reflect.ValueOf(k).String()] = sqlValue(reflect.ValueOf(val), "", finite)
		}
		return obj
	}
	list := make([]any, n)
	for i := range list {
		k, val := at(i)
		list[i] = map[string]any{"key": sqlValue(reflect.ValueOf(k), "", finite), "value": sqlValue(reflect.ValueOf(val), "", finite)}
	}
	return list
}

// structValue reads a driver's struct (DuckDB's Union: {tag: value}) by
// its exported fields.
func structValue(v reflect.Value, finite *bool) any {
	t := v.Type()
	if t.Name() == "Union" {
		tag, val := v.FieldByName("Tag"), v.FieldByName("Value")
		if tag.IsValid() && val.IsValid() && tag.Kind() == reflect.String {
			return map[string]any{tag.String(): sqlValue(val, "", finite)}
		}
	}
	obj := map[string]any{}
	for i := 0; i < t.NumField(); i++ {
		if f := t.Field(i); f.IsExported() {
			obj[f.Name] = sqlValue(v.Field(i), "", finite)
		}
	}
	return obj
}

// jsonText is the value a JSON column holds, numbers kept as written;
// one past float64's range (1e400) is null, as the double it reads as is
// infinite. Text that is not JSON stays text.
func jsonText(s string, finite *bool) any {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil || dec.More() {
		return s
	}
	return inRange(v, finite)
}

func inRange(v any, finite *bool) any {
	switch x := v.(type) {
	case json.Number:
		if f, err := strconv.ParseFloat(string(x), 64); err != nil || math.IsInf(f, 0) {
			*finite = false
			return nil
		}
	case []any:
		for i := range x {
			x[i] = inRange(x[i], finite)
		}
	case map[string]any:
		for k := range x {
			x[k] = inRange(x[k], finite)
		}
	}
	return v
}

// blobText writes bytes as DuckDB shows a BLOB: printable ASCII as is,
// every other byte (and the backslash) as \xHH.
func blobText(b []byte) string {
	if utf8.Valid(b) && isPrintableASCII(b) {
		return string(b)
	}
	var out bytes.Buffer
	for _, c := range b {
		if c >= 0x20 && c < 0x7f && c != '\\' {
			out.WriteByte(c)
		} else {
			fmt.Fprintf(&out, `\x%02X`, c)
		}
	}
	return out.String()
}

func isPrintableASCII(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c >= 0x7f || c == '\\' {
			return false
		}
	}
	return true
}
