package store

import (
	"encoding/json"
	"math"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
)

// orderedKV and Union have the shapes of DuckDB's OrderedMap and Union
// (the renderer reads them by shape, for both drivers).

type orderedKV struct{ keys, values []any }

func (o *orderedKV) Keys() []any   { return o.keys }
func (o *orderedKV) Values() []any { return o.values }
func (o orderedKV) String() string { return "map" }

type Union struct {
	Value any
	Tag   string
}

func TestSQLValue(t *testing.T) {
	huge, _ := new(big.Int).SetString("170141183460469231731687303715884105727", 10)
	u := uuid.MustParse("6ba7b810-9dad-11d1-80b4-00c04fd430c8")
	s := "x"
	nan := math.NaN()
	for _, c := range []struct {
		name   string
		v      any
		dbType string
		want   string
		finite bool
	}{
		{"nil", nil, "", `null`, true},
		{"nil pointer", (*string)(nil), "", `null`, true},
		{"pointer", &s, "", `"x"`, true},
		{"hugeint", huge, "HUGEINT", `170141183460469231731687303715884105727`, true},
		{"big.Int value", *big.NewInt(-5), "", `-5`, true},
		{"uint64 max", uint64(math.MaxUint64), "", `18446744073709551615`, true},
		{"int8", int8(-3), "", `-3`, true},
		{"float", 1.25, "", `1.25`, true},
		{"float32", float32(0.1), "", `0.1`, true},
		{"nan", nan, "", `null`, false},
		{"inf", math.Inf(1), "", `null`, false},
		{"nan pointer", &nan, "", `null`, false},
		{"uuid bytes (DuckDB)", u[:], "UUID", `"6ba7b810-9dad-11d1-80b4-00c04fd430c8"`, true},
		{"uuid.UUID (ClickHouse)", u, "UUID", `"6ba7b810-9dad-11d1-80b4-00c04fd430c8"`, true},
		{"blob", []byte{'a', 0, 0xff, '\\'}, "BLOB", `"a\\x00\\xFF\\x5C"`, true},
		{"printable blob", []byte("ab"), "BLOB", `"ab"`, true},
		{"decimal (ClickHouse)", decimal.RequireFromString("-12345678901234567890.125"), "", `-12345678901234567890.125`, true},
		{"date", time.Date(2020, 1, 2, 0, 0, 0, 0, time.UTC), "DATE", `"2020-01-02"`, true},
		{"time", time.Date(1, 1, 1, 10, 0, 1, 500000000, time.UTC), "TIME", `"10:00:01.5"`, true},
		{"timestamp", time.Date(2020, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600)), "TIMESTAMP WITH TIME ZONE", `"2020-01-02T02:04:05Z"`, true},
		{"list", []any{int32(1), nil, "a"}, "", `[1,null,"a"]`, true},
		{"typed slice (ClickHouse Array)", []string{"a", "b"}, "", `["a","b"]`, true},
		{"list of uuids", []any{u[:]}, "UUID[]", `["6ba7b810-9dad-11d1-80b4-00c04fd430c8"]`, true},
		{"list with inf", []any{1.5, math.Inf(-1)}, "", `[1.5,null]`, false},
		{"struct", map[string]any{"a": int64(1), "b": []any{true}}, "", `{"a":1,"b":[true]}`, true},
		{"typed map (ClickHouse Map)", map[string]uint8{"k": 1}, "", `{"k":1}`, true},
		{"map with int keys", map[int64]string{2: "b", 1: "a"}, "", `[{"key":1,"value":"a"},{"key":2,"value":"b"}]`, true},
		{"ordered map", orderedKV{keys: []any{"k"}, values: []any{int32(1)}}, "", `{"k":1}`, true},
		{"ordered map, int keys", orderedKV{keys: []any{int32(1)}, values: []any{"x"}}, "", `[{"key":1,"value":"x"}]`, true},
		{"union", Union{Value: int32(1), Tag: "k"}, "", `{"k":1}`, true},
		{"ip", net.ParseIP("10.0.0.1"), "", `"10.0.0.1"`, true},
		{"json text", `{"a":1e400,"b":[1, 12345678901234567890123]}`, "JSON", `{"a":null,"b":[1,12345678901234567890123]}`, false},
		{"json text not json", `{nope`, "JSON", `"{nope"`, true},
		{"varchar that looks like json", `{"a":1}`, "VARCHAR", `"{\"a\":1}"`, true},
	} {
		got, finite := SQLValue(c.v, c.dbType)
		b, err := json.Marshal(got)
		if err != nil || string(b) != c.want || finite != c.finite {
			t.Errorf("%s: got %s finite %v (%v), want %s finite %v", c.name, b, finite, err, c.want, c.finite)
		}
	}
}

// TestSQLValueInterval: a struct shaped like DuckDB's Interval reads as
// months, days and micros.
func TestSQLValueInterval(t *testing.T) {
	type Interval struct {
		Days   int32
		Months int32
		Micros int64
	}
	got, _ := SQLValue(Interval{Days: 3, Months: 1, Micros: 5}, "INTERVAL")
	b, _ := json.Marshal(got)
	if string(b) != `{"months":1,"days":3,"micros":5}` {
		t.Fatalf("interval = %s", b)
	}
}
