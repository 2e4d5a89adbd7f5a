package flags

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestDecodeFullFlag(t *testing.T) {
	js := `{"id":42,"key":"checkout-v2","name":"New checkout","active":true,"version":7,
		"ensure_experience_continuity":true,"created_at":"2024-01-01T00:00:00Z","tags":["x"],
		"filters":{
			"groups":[
				{"properties":[{"key":"email","value":["a@b.c","d@e.f"],"operator":"exact","type":"person","label":"Email"}],
				 "rollout_percentage":45,"variant":null},
				{"properties":[],"rollout_percentage":null,"variant":"test","description":"staff"}],
			"multivariate":{"variants":[{"key":"control","name":"Control","rollout_percentage":50},{"key":"test","rollout_percentage":50}]},
			"payloads":{"control":"{\"price\": 10}","test":{"price":12}},
			"aggregation_group_type_index":null}}`
	f := mustDecode(t, js)
	want := &Flag{
		ID: 42, Key: "checkout-v2", Name: "New checkout", Active: true, Version: 7,
		EnsureExperienceContinuity: true,
		Filters: Filters{
			Groups: []Condition{
				{Properties: []Property{{Key: "email", Value: []any{"a@b.c", "d@e.f"}, Operator: "exact", Type: "person"}},
					RolloutPercentage: ptr(45.0)},
				{Variant: ptr("test")},
			},
			Multivariate: &Multivariate{Variants: []Variant{
				{Key: "control", Name: "Control", RolloutPercentage: 50}, {Key: "test", RolloutPercentage: 50}}},
			Payloads: map[string]json.RawMessage{"control": json.RawMessage(`{"price":10}`), "test": json.RawMessage(`{"price":12}`)},
		},
	}
	if !reflect.DeepEqual(f, want) {
		t.Fatalf("decoded\n%#v\nwant\n%#v", f, want)
	}
	// Encoding is PostHog's shape: payloads as JSON strings, [] not null.
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	const wantJSON = `{"id":42,"key":"checkout-v2","name":"New checkout","active":true,"version":7,` +
		`"filters":{"groups":[{"properties":[{"key":"email","value":["a@b.c","d@e.f"],"operator":"exact","type":"person"}],"rollout_percentage":45,"variant":null},` +
		`{"properties":[],"rollout_percentage":null,"variant":"test"}],` +
		`"multivariate":{"variants":[{"key":"control","name":"Control","rollout_percentage":50},{"key":"test","rollout_percentage":50}]},` +
		`"payloads":{"control":"{\"price\":10}","test":"{\"price\":12}"},"aggregation_group_type_index":null},` +
		`"ensure_experience_continuity":true}`
	if string(b) != wantJSON {
		t.Fatalf("encoded\n%s\nwant\n%s", b, wantJSON)
	}
	var again Flag
	if err := json.Unmarshal(b, &again); err != nil || !reflect.DeepEqual(&again, f) {
		t.Fatalf("round trip: %v\n%#v", err, again)
	}
	empty, _ := json.Marshal(&Flag{Key: "e"})
	if !strings.Contains(string(empty), `"groups":[]`) || !strings.Contains(string(empty), `"payloads":{}`) {
		t.Fatalf("empty flag: %s", empty)
	}
}

func TestValidationErrors(t *testing.T) {
	const mv = `"multivariate":{"variants":[{"key":"a","rollout_percentage":50},{"key":"b","rollout_percentage":50}]}`
	for _, tc := range []struct {
		js, field, msg string
	}{
		{`[]`, "", "must be an object"},
		{`{}`, "key", "is required"},
		{`{"key":"has space"}`, "key", "letters, digits"},
		{`{"key":"` + strings.Repeat("k", 401) + `"}`, "key", "400"},
		{`{"key":7}`, "key", "must be a string"},
		{`{"key":"k","active":"yes"}`, "active", "true or false"},
		{`{"key":"k","id":-1}`, "id", "negative"},
		{`{"key":"k","id":1.5}`, "id", "whole number"},
		{`{"key":"k","colour":1}`, "colour", "unknown field"},
		{`{"key":"k","deleted":true}`, "deleted", "deleted"},
		{`{"key":"k","bucketing_identifier":"device_id"}`, "bucketing_identifier", "not supported"},
		{`{"key":"k","filters":[]}`, "filters", "must be an object"},
		{`{"key":"k","filters":{"groups":{}}}`, "filters.groups", "must be a list"},
		{`{"key":"k","filters":{"super_groups":[{"properties":[]}]}}`, "filters.super_groups", "not supported"},
		{`{"key":"k","filters":{"holdout":{"id":1}}}`, "filters.holdout", "not supported"},
		{`{"key":"k","filters":{"aggregation_group_type_index":5}}`, "filters.aggregation_group_type_index", "0 to 4"},
		{`{"key":"k","filters":{"groups":[{"rolout_percentage":5}]}}`, "filters.groups[0].rolout_percentage", "unknown field"},
		{`{"key":"k","filters":{"groups":[{"rollout_percentage":101}]}}`, "filters.groups[0].rollout_percentage", "0 to 100"},
		{`{"key":"k","filters":{"groups":[{"rollout_percentage":-1}]}}`, "filters.groups[0].rollout_percentage", "0 to 100"},
		{`{"key":"k","filters":{"groups":[{"rollout_percentage":"45"}]}}`, "filters.groups[0].rollout_percentage", "number"},
		{`{"key":"k","filters":{"groups":[{"variant":"a"}]}}`, "filters.groups[0].variant", "boolean flag"},
		{`{"key":"k","filters":{"groups":[{"variant":"c"}],` + mv + `}}`, "filters.groups[0].variant", `"c" is not one of`},
		{`{"key":"k","filters":{"groups":[{"aggregation_group_type_index":-1}]}}`, "filters.groups[0].aggregation_group_type_index", "0 to 4"},
		{`{"key":"k","filters":{"groups":[{"properties":[{"key":"a","value":1},{"key":"b","value":1,"operator":"equals"}]}]}}`,
			"filters.groups[0].properties[1].operator", `unknown operator "equals"`},
		{`{"key":"k","filters":{"groups":[{},{"properties":[{"value":1}]}]}}`, "filters.groups[1].properties[0].key", "is required"},
		{`{"key":"k","filters":{"groups":[{"properties":[{"key":"a","value":null}]}]}}`, "filters.groups[0].properties[0].value", "string, number, boolean"},
		{`{"key":"k","filters":{"groups":[{"properties":[{"key":"a","value":[]}]}]}}`, "filters.groups[0].properties[0].value", "empty list"},
		{`{"key":"k","filters":{"groups":[{"properties":[{"key":"a","value":["x",{"y":1}]}]}]}}`, "filters.groups[0].properties[0].value[1]", "string, number or boolean"},
		{`{"key":"k","filters":{"groups":[{"properties":[{"key":"a","value":"(","operator":"regex"}]}]}}`, "filters.groups[0].properties[0].value", "regular expression"},
		{`{"key":"k","filters":{"groups":[{"properties":[{"key":"a","value":"(?=x)","operator":"regex"}]}]}}`, "filters.groups[0].properties[0].value", "RE2"},
		{`{"key":"k","filters":{"groups":[{"properties":[{"key":"a","value":"ten","operator":"gt"}]}]}}`, "filters.groups[0].properties[0].value", "finite number"},
		{`{"key":"k","filters":{"groups":[{"properties":[{"key":"a","value":"1e999","operator":"lt"}]}]}}`, "filters.groups[0].properties[0].value", "finite number"},
		{`{"key":"k","filters":{"groups":[{"properties":[{"key":"a","value":[2,1],"operator":"between"}]}]}}`, "filters.groups[0].properties[0].value", "min"},
		{`{"key":"k","filters":{"groups":[{"properties":[{"key":"a","value":"yesterday","operator":"is_date_before"}]}]}}`, "filters.groups[0].properties[0].value", "not a date"},
		{`{"key":"k","filters":{"groups":[{"properties":[{"key":"a","value":1234,"operator":"is_date_after"}]}]}}`, "filters.groups[0].properties[0].value", "relative date"},
		{`{"key":"k","filters":{"groups":[{"properties":[{"key":"a","value":"-10000d","operator":"is_date_after"}]}]}}`, "filters.groups[0].properties[0].value", "not a date"},
		{`{"key":"k","filters":{"groups":[{"properties":[{"key":"a","value":"x.y","operator":"semver_gt"}]}]}}`, "filters.groups[0].properties[0].value", "version"},
		{`{"key":"k","filters":{"groups":[{"properties":[{"key":"a","value":"1.*.3","operator":"semver_wildcard"}]}]}}`, "filters.groups[0].properties[0].value", "pattern"},
		{`{"key":"k","filters":{"groups":[{"properties":[{"key":"a","value":1,"type":"event"}]}]}}`, "filters.groups[0].properties[0].type", "unknown property type"},
		{`{"key":"k","filters":{"groups":[{"properties":[{"key":"a","value":1,"type":"group"}]}]}}`, "filters.groups[0].properties[0].group_type_index", "group type index"},
		{`{"key":"k","filters":{"groups":[{"properties":[{"key":"a","value":1,"type":"group","group_type_index":9}]}]}}`, "filters.groups[0].properties[0].group_type_index", "0 to 4"},
		{`{"key":"k","filters":{"groups":[{"properties":[{"key":"id","value":"","type":"cohort"}]}]}}`, "filters.groups[0].properties[0].value", "cohort id"},
		{`{"key":"k","filters":{"groups":[{"properties":[{"key":"id","value":1.5,"type":"cohort"}]}]}}`, "filters.groups[0].properties[0].value", "cohort id"},
		{`{"key":"k","filters":{"groups":[{"properties":[{"key":"id","value":1,"type":"cohort","operator":"gt"}]}]}}`, "filters.groups[0].properties[0].operator", "in or not_in"},
		{`{"key":"k","filters":{"groups":[{"properties":[{"key":"other","value":1,"type":"flag","operator":"flag_evaluates_to"}]}]}}`, "filters.groups[0].properties[0].value", "true, false or a variant"},
		{`{"key":"k","filters":{"groups":[{"properties":[{"key":"other","value":true,"type":"flag"}]}]}}`, "filters.groups[0].properties[0].operator", "flag_evaluates_to"},
		{`{"key":"k","filters":{"groups":[{"properties":[{"key":"k","value":true,"type":"flag","operator":"flag_evaluates_to"}]}]}}`, "filters.groups[0].properties[0].key", "itself"},
		{`{"key":"k","filters":{"groups":[{"properties":[{"key":"a","value":1,"negation":"no"}]}]}}`, "filters.groups[0].properties[0].negation", "true or false"},
		{`{"key":"k","filters":{"multivariate":{"variants":[]}}}`, "filters.multivariate.variants", "at least one"},
		{`{"key":"k","filters":{"multivariate":{"variants":[{"key":"a","rollout_percentage":50},{"key":"b","rollout_percentage":40}]}}}`,
			"filters.multivariate.variants", "sum to 100, not 90"},
		{`{"key":"k","filters":{"multivariate":{"variants":[{"key":"a","rollout_percentage":50},{"key":"a","rollout_percentage":50}]}}}`,
			"filters.multivariate.variants[1].key", "duplicate"},
		{`{"key":"k","filters":{"multivariate":{"variants":[{"key":"a b","rollout_percentage":100}]}}}`,
			"filters.multivariate.variants[0].key", "letters"},
		{`{"key":"k","filters":{"multivariate":{"variants":[{"key":"a"}]}}}`, "filters.multivariate.variants[0].rollout_percentage", "required"},
		{`{"key":"k","filters":{"multivariate":{"variants":[{"key":"a","rollout_percentage":150},{"key":"b","rollout_percentage":-50}]}}}`,
			"filters.multivariate.variants[0].rollout_percentage", "0 to 100"},
		{`{"key":"k","filters":{"payloads":{"true":"{not json"}}}`, "filters.payloads.true", "valid JSON"},
		{`{"key":"k","filters":{"payloads":{"true":"hello"}}}`, "filters.payloads.true", "valid JSON"},
		{`{"key":"k","filters":{"payloads":{"control":"1"}}}`, "filters.payloads.control", `keyed "true"`},
		{`{"key":"k","filters":{"payloads":{"true":"1"},` + mv + `}}`, "filters.payloads.true", "keyed by variant"},
		{`{"key":"k","filters":{"payloads":{"c":"1"},` + mv + `}}`, "filters.payloads.c", "not one of"},
		{`{"key":"k","filters":{"payloads":[]}}`, "filters.payloads", "object"},
	} {
		_, err := Decode([]byte(tc.js))
		var fe *FieldError
		if !errors.As(err, &fe) {
			t.Errorf("%s: error %v, want a FieldError", tc.js, err)
			continue
		}
		var found *FieldError
		for _, e := range err.(Errors) {
			if e.Field == tc.field {
				found = e
				break
			}
		}
		if found == nil || !strings.Contains(found.Msg, tc.msg) {
			t.Errorf("%.80s:\n  got  %v\n  want %s: …%s…", tc.js, err, tc.field, tc.msg)
		}
	}
}

func TestValidateBuiltFlags(t *testing.T) {
	good := &Flag{Key: "ok", Active: true, Filters: Filters{
		Groups: []Condition{{Properties: []Property{
			{Key: "plan", Value: []string{"pro", "team"}},
			{Key: "age", Value: 18, Operator: "gte"},
			{Key: "signup", Value: "-30d", Operator: "is_date_after"},
			{Key: "id", Value: 12, Type: TypeCohort},
		}}},
		Payloads: map[string]json.RawMessage{"true": json.RawMessage(`{"a":1}`)},
	}}
	if err := Validate(good); err != nil {
		t.Fatal(err)
	}
	bad := &Flag{Key: "bad", Filters: Filters{
		Groups:   []Condition{{RolloutPercentage: ptr(200.0)}},
		Payloads: map[string]json.RawMessage{"true": json.RawMessage(`{`)},
	}}
	err := Validate(bad)
	var es Errors
	if !errors.As(err, &es) || len(es) != 2 || es[0].Field != "filters.groups[0].rollout_percentage" || es[1].Field != "filters.payloads.true" {
		t.Fatalf("Validate: %v", err)
	}
	if !strings.Contains(err.Error(), "filters.groups[0].rollout_percentage: must be a percentage from 0 to 100") {
		t.Fatalf("message: %v", err)
	}
	if _, err := Compile(bad); err == nil {
		t.Fatal("Compile accepted an invalid flag")
	}
	if Validate(nil) == nil {
		t.Fatal("nil flag")
	}
}

func TestDecodeList(t *testing.T) {
	fs, err := DecodeList([]byte(`[{"key":"a"},{"key":"b","filters":{"groups":[{"rollout_percentage":10}]}}]`))
	if err != nil || len(fs) != 2 || fs[1].Key != "b" {
		t.Fatalf("%v %v", fs, err)
	}
	_, err = DecodeList([]byte(`[{"key":"a"},{"key":"a"},{"key":"b c"}]`))
	var es Errors
	if !errors.As(err, &es) || len(es) != 2 || es[0].Field != "[1].key" || es[1].Field != "[2].key" {
		t.Fatalf("%v", err)
	}
	if _, err := DecodeList([]byte(`{}`)); err == nil {
		t.Fatal("not a list")
	}
}

func TestFiltersUnmarshal(t *testing.T) {
	var fs Filters
	if err := json.Unmarshal([]byte(`{"groups":[{"rollout_percentage":5}],"payloads":{"true":"{\"a\": 1}"}}`), &fs); err != nil {
		t.Fatal(err)
	}
	if len(fs.Groups) != 1 || *fs.Groups[0].RolloutPercentage != 5 || string(fs.Payloads["true"]) != `{"a":1}` {
		t.Fatalf("%#v", fs)
	}
	err := json.Unmarshal([]byte(`{"grups":[]}`), &fs)
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "filters.grups" {
		t.Fatalf("%v", err)
	}
	if _, err := Decode([]byte(`null`)); err == nil || err.Error() != "must be an object, not null" {
		t.Fatalf("%v", err)
	}
	if _, err := Decode([]byte(`{"key":1,"id":"x","version":"y","name":1}`)); err == nil || !strings.HasSuffix(err.Error(), "; …") {
		t.Fatalf("long error list: %v", err)
	}
}

// regexFlag is a flag with one regex filter on person property p.
func regexFlag(pattern string) string {
	return fmt.Sprintf(`{"key":"rx","filters":{"groups":[{"properties":[{"key":"p","operator":"regex","value":%q}]}]}}`, pattern)
}

func mustJSONString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// TestRegexProgramBounded: MaxRegexLen bounds a regex's source, not what
// it compiles to; a 9 900-byte pattern of bounded repeats compiled to a
// program of tens of MB (about a second to compile, kept with the flag,
// and a 1 MiB flag body holds ~100 of them). The compiled program is
// bounded per regex and per flag, and a pattern far over the bound is
// refused before its repeats are expanded.
func TestRegexProgramBounded(t *testing.T) {
	pattern := strings.Repeat(`(?:.{1000})`, 900)
	if len(pattern) > MaxRegexLen {
		t.Fatalf("pattern of %d bytes is over MaxRegexLen", len(pattern))
	}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	_, decodeErr := Decode([]byte(regexFlag(pattern)))
	c, compileErr := Compile(&Flag{Key: "big", Active: true, Filters: Filters{Groups: []Condition{{Properties: []Property{
		{Key: "p", Operator: "regex", Value: pattern}}}}}})
	took := time.Since(start)
	runtime.GC()
	runtime.ReadMemStats(&after)
	for what, err := range map[string]error{"Decode": decodeErr, "Compile": compileErr} {
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != "filters.groups[0].properties[0].value" || !strings.Contains(fe.Msg, "instructions") {
			t.Errorf("%s of a %d-byte regex compiling to ~900 000 instructions: %v; want a field error on the value "+
				"(the compiled program bounded, not only the source)", what, len(pattern), err)
		}
	}
	if took > 500*time.Millisecond {
		t.Errorf("refusing it took %v; want it refused on its parse tree, before expanding the repeats", took)
	}
	if retained := int64(after.HeapInuse) - int64(before.HeapInuse); retained > 8<<20 {
		t.Errorf("refusing it retains %d MiB", retained>>20)
	}
	runtime.KeepAlive(c)

	// Under the bound: accepted, and the size is exact, not the estimate.
	if _, err := Decode([]byte(regexFlag(strings.Repeat(".", 9000)))); err != nil {
		t.Errorf("a 9 002-instruction regex: %v", err)
	}
	if _, err := Decode([]byte(regexFlag(`[a-z]{2,300}@corp\.io`))); err != nil {
		t.Errorf("an ordinary bounded repeat: %v", err)
	}
	if _, err := Decode([]byte(regexFlag(strings.Repeat(".{1000}", 10)))); err == nil || !strings.Contains(err.Error(), "of 10002 instructions") {
		t.Errorf("10 002 instructions: %v, want refused with its exact size", err)
	}
	// Per flag: six regexes of ~9 000 instructions are over 50 000 in all.
	var props []string
	for i := 0; i < 6; i++ {
		props = append(props, fmt.Sprintf(`{"key":"p%d","operator":"regex","value":%q}`, i, strings.Repeat(".", 9000)))
	}
	_, err := Decode([]byte(`{"key":"many","filters":{"groups":[{"properties":[` + strings.Join(props, ",") + `]}]}}`))
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "filters.groups[0].properties[5].value" || !strings.Contains(fe.Msg, "in all") {
		t.Errorf("six 9 000-instruction regexes in one flag: %v, want the sixth refused (at most %d in all)", err, MaxFlagRegexProgram)
	}
	// Cohort definitions are bounded the same way.
	defs := map[string]json.RawMessage{"1": json.RawMessage(`{"type":"AND","values":[{"key":"p","operator":"regex","type":"person","value":` +
		mustJSONString(pattern) + `}]}`)}
	if _, err := CompileCohorts(defs, nil); err == nil || !strings.Contains(err.Error(), "instructions") {
		t.Errorf("cohort with the same regex: %v", err)
	}
}

// TestPayloadsBounded: a flag's payloads are at most MaxPayloadBytes in
// all (every answer carries them).
func TestPayloadsBounded(t *testing.T) {
	payload := func(n int) string { return mustJSONString(`"` + strings.Repeat("x", n) + `"`) }
	mv := `"multivariate":{"variants":[{"key":"a","rollout_percentage":50},{"key":"b","rollout_percentage":50}]}`
	if _, err := Decode([]byte(`{"key":"k","filters":{"payloads":{"a":` + payload(30<<10) + `,"b":` + payload(30<<10) + `},` + mv + `}}`)); err != nil {
		t.Errorf("60 KiB of payloads: %v", err)
	}
	_, err := Decode([]byte(`{"key":"k","filters":{"payloads":{"a":` + payload(40<<10) + `,"b":` + payload(40<<10) + `},` + mv + `}}`))
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "filters.payloads" || !strings.Contains(fe.Msg, "at most 65536") {
		t.Errorf("80 KiB of payloads: %v, want a field error on filters.payloads", err)
	}
}
