package flags

import (
	"encoding/json"
	"reflect"
	"sort"
	"testing"
)

func sortedKeys(m map[string]struct{}) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// PersonKeys lists the person keys a flag's conditions read: typed person
// properties and untyped ones of person conditions, not group properties,
// untyped ones of group-aggregated conditions, cohorts or flag
// dependencies.
func TestPersonKeys(t *testing.T) {
	f, err := Decode([]byte(`{"key":"k","active":true,"filters":{"groups":[
		{"properties":[{"key":"plan","value":"pro","type":"person"},{"key":"email","operator":"icontains","value":"@x"},
			{"key":"id","type":"cohort","value":7},{"key":"other","type":"flag","value":true,"operator":"flag_evaluates_to"}]},
		{"aggregation_group_type_index":0,"properties":[{"key":"size","operator":"gt","value":10},{"key":"age","operator":"gt","value":18,"type":"person"}]},
		{"properties":[{"key":"industry","value":"x","type":"group","group_type_index":1}]}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]struct{}{}
	MustCompile(f).PersonKeys(keys)
	if got, want := sortedKeys(keys), []string{"age", "email", "plan"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("keys %v, want %v", got, want)
	}
}

// Cohorts.PersonKeys: every property key at any depth, not the ids of the
// cohorts they refer to.
func TestCohortPersonKeys(t *testing.T) {
	c, err := CompileCohorts(map[string]json.RawMessage{
		"1": json.RawMessage(`{"type":"OR","values":[{"type":"AND","values":[{"key":"country","value":["FR"],"type":"person"},
			{"type":"OR","values":[{"key":"age","operator":"gte","value":25}]}]},{"key":"id","type":"cohort","value":2}]}`),
		"2": json.RawMessage(`{"type":"AND","values":[{"key":"beta","value":["true"],"type":"person"}]}`),
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]struct{}{}
	c.PersonKeys(keys)
	if got, want := sortedKeys(keys), []string{"age", "beta", "country"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("keys %v, want %v", got, want)
	}
	var none *Cohorts
	none.PersonKeys(keys) // no cohorts: nothing added, no panic
	if len(keys) != 3 {
		t.Fatalf("keys %v", keys)
	}
}
