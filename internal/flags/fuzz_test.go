package flags

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"
)

var fuzzSeeds = []string{
	`{"id":1,"key":"simple-flag","active":true,"filters":{"groups":[{"properties":[],"rollout_percentage":45}]}}`,
	`{"key":"mv","filters":{"groups":[{"properties":[{"key":"email","value":["a@b.c"],"operator":"exact","type":"person"}],"rollout_percentage":55,"variant":"b"}],
	  "multivariate":{"variants":[{"key":"a","name":"A","rollout_percentage":50},{"key":"b","rollout_percentage":50}]},
	  "payloads":{"a":"{\"x\": 1}","b":[1,2]}}}`,
	`{"key":"g","filters":{"aggregation_group_type_index":0,"groups":[{"properties":[{"key":"plan","value":"pro","type":"group","group_type_index":0}]}]}}`,
	`{"key":"ops","ensure_experience_continuity":true,"filters":{"groups":[{"properties":[
	  {"key":"a","value":"^x.*$","operator":"regex"},{"key":"b","value":"-7d","operator":"is_date_before"},
	  {"key":"c","value":"2024-01-31T12:00:00+01:00","operator":"is_date_after"},{"key":"d","value":3,"operator":"gt"},
	  {"key":"e","value":[1,2],"operator":"between"},{"key":"f","value":"1.2.*","operator":"semver_wildcard"},
	  {"key":"g","operator":"is_not_set"},{"key":"h","value":"x","operator":"icontains","negation":true},
	  {"key":"id","value":7,"type":"cohort","operator":"not_in"},{"key":"other","value":true,"type":"flag","operator":"flag_evaluates_to"}]}]}}`,
	`{"key":"bad","filters":{"groups":[{"rollout_percentage":101}]}}`,
	`{"key":"k","filters":{"payloads":{"true":"\"\\u003c\""}}}`,
	`{"key":"k","active":false,"version":3,"id":9,"name":"x","created_at":"now"}`,
	`[]`, `null`, `{"key":"k","filters":{"groups":[{"properties":[{"key":"a","value":{"deep":[[[1]]]},"operator":"is_set"}]}]}}`,
}

// FuzzDecodeFlag: any input either decodes to a valid flag or is refused
// with FieldErrors; a decoded flag compiles, evaluates without panicking,
// and re-encodes to JSON that decodes to the same flag.
func FuzzDecodeFlag(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	subjects := []*Subject{
		{DistinctID: "u1"},
		{DistinctID: "u2", HashOverride: "anon", PersonProperties: map[string]any{
			"a": "xyz", "b": "2020-01-01", "c": 1700000000, "d": "4", "e": 1.5, "f": "1.2.3", "h": nil, "email": "A@B.C"},
			Groups: map[string]string{"company": "acme"}, GroupProperties: map[string]map[string]any{"company": {"plan": "PRO"}}},
	}
	env := &Env{GroupTypes: map[int]string{0: "company", 1: "team"}, Now: time.Unix(1700000000, 0),
		Cohorts: CohortFunc(func(id string, _ *Subject, _ time.Time) (bool, error) { return id == "7", nil })}
	f.Fuzz(func(t *testing.T, data []byte) {
		fl, err := Decode(data)
		if err != nil {
			var es Errors
			if !errors.As(err, &es) || len(es) == 0 {
				t.Fatalf("error %v (%T), want Errors", err, err)
			}
			for _, e := range es {
				if e.Msg == "" {
					t.Fatalf("empty message in %v", err)
				}
			}
			return
		}
		c, err := Compile(fl)
		if err != nil {
			t.Fatalf("decoded flag does not compile: %v", err)
		}
		for _, s := range subjects {
			r := Evaluate(c, s, env)
			if r.Enabled && r.Variant != "" && !contains(fl.VariantKeys(), r.Variant) {
				t.Fatalf("variant %q not among %v", r.Variant, fl.VariantKeys())
			}
			if !r.Enabled && (r.Variant != "" || r.Payload != nil) {
				t.Fatalf("disabled result with a variant or payload: %+v", r)
			}
			if _, err := json.Marshal(Detail(r)); err != nil {
				t.Fatal(err)
			}
		}
		b, err := json.Marshal(fl)
		if err != nil {
			t.Fatalf("encode: %v", err)
		}
		again, err := Decode(b)
		if err != nil {
			t.Fatalf("re-decode of %s: %v", b, err)
		}
		if !reflect.DeepEqual(fl, again) {
			t.Fatalf("round trip changed the flag:\n%#v\n%#v\n%s", fl, again, b)
		}
	})
}

// FuzzCompileCohorts: cohort definitions compile or are refused, and
// compiled ones evaluate without panicking or recursing forever.
func FuzzCompileCohorts(f *testing.F) {
	f.Add([]byte(`{"type":"OR","values":[{"type":"AND","values":[{"key":"email","value":"@x.com","operator":"icontains","type":"person"}]}]}`))
	f.Add([]byte(`{"type":"AND","values":[{"key":"id","value":2,"type":"cohort","negation":true}]}`))
	f.Add([]byte(`{"type":"AND","values":[{"key":"id","value":1,"type":"cohort"}]}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"type":"OR","values":[{"key":"$pageview","type":"behavioral","value":"performed_event"}]}`))
	second := json.RawMessage(`{"type":"OR","values":[{"key":"age","value":18,"operator":"gte","type":"person"}]}`)
	f.Fuzz(func(t *testing.T, data []byte) {
		if !json.Valid(data) {
			return
		}
		cs, err := CompileCohorts(map[string]json.RawMessage{"1": json.RawMessage(data), "2": second}, nil)
		if err != nil {
			return
		}
		s := &Subject{PersonProperties: map[string]any{"email": "a@x.com", "age": 20}}
		for _, id := range []string{"1", "2", "3"} {
			_, _ = cs.InCohort(id, s, time.Now())
		}
	})
}
