package flags

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
)

// TestBucketHashByHand: the bucket hash is sha1(salt + "." + id)[:15 hex]
// / 0xFFFFFFFFFFFFFFF, computed here with Python's hashlib:
//
//	int(hashlib.sha1(b"layer:7.user-1").hexdigest()[:15], 16) / 0xFFFFFFFFFFFFFFF
func TestBucketHashByHand(t *testing.T) {
	for _, tc := range []struct {
		salt, id string
		want     float64
	}{
		{"layer:7", "user-1", 0.017060830941008936},
		{"layer:7", "user-2", 0.697239038290528},
		{"holdout:1", "user-1", 0.7753618026066627},
		{"holdout:1", "anon-42", 0.36501711095380174},
	} {
		if got := Hash(tc.salt, tc.id, ""); math.Abs(got-tc.want) > 1e-15 {
			t.Errorf("Hash(%q, %q) = %.17g, want %.17g", tc.salt, tc.id, got, tc.want)
		}
	}
	// user-1 is at 0.0171 of layer 7, user-2 at 0.697.
	c := mustDecodeCompile(t, `{"key":"exp","filters":{"groups":[{"properties":[
		{"type":"bucket","key":"layer:7","operator":"in_range","value":[0, 0.5]}]}]}}`)
	for id, want := range map[string]bool{"user-1": true, "user-2": false} {
		if r := Evaluate(c, &Subject{DistinctID: id}, nil); r.Enabled != want {
			t.Errorf("%s in [0, 0.5) of layer 7: %v, want %v (%s)", id, r.Enabled, want, r.Reason)
		}
	}
	// The boundaries: [from, to) holds from, not to.
	h := Hash("layer:7", "user-2", "")
	if !InBucket("layer:7", "user-2", h, 1) || InBucket("layer:7", "user-2", 0, h) {
		t.Error("[from, to) boundaries")
	}
	if !inRange(1, 0.5, 1) || inRange(1, 0.5, 0.9) || inRange(0.2, 0.2, 0.2) {
		t.Error("to = 1 takes in the hash 1; empty ranges hold nothing")
	}
}

// TestLayerSharesAreDisjoint: experiments splitting a layer's [0, 1)
// into shares see disjoint sets of ids that cover everyone, in about the
// shares' proportions.
func TestLayerSharesAreDisjoint(t *testing.T) {
	shares := [][2]float64{{0, 0.25}, {0.25, 0.6}, {0.6, 1}}
	var cs []*Compiled
	for i, s := range shares {
		f := &Flag{Key: fmt.Sprintf("exp-%d", i), Active: true, Filters: Filters{
			Groups:       []Condition{{Properties: []Property{BucketProperty("layer:3", s[0], s[1], true)}}},
			Multivariate: &Multivariate{Variants: []Variant{{Key: "control", RolloutPercentage: 50}, {Key: "test", RolloutPercentage: 50}}},
		}}
		c, err := Compile(f)
		if err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
	}
	const n = 10000
	counts := make([]int, len(shares))
	for i := range n {
		id := fmt.Sprintf("person-%d", i)
		in := 0
		for k, r := range EvaluateAll(cs, &Subject{DistinctID: id}, nil) {
			if r.Enabled {
				in++
				counts[k]++
				if r.Variant != "control" && r.Variant != "test" {
					t.Fatalf("%s: variant %q", id, r.Variant)
				}
			}
		}
		if in != 1 {
			t.Fatalf("%s is in %d experiments of the layer, want exactly 1", id, in)
		}
	}
	for k, s := range shares {
		want := (s[1] - s[0]) * n
		// 4 standard deviations of a binomial count.
		if sd := math.Sqrt(n * (s[1] - s[0]) * (1 - s[1] + s[0])); math.Abs(float64(counts[k])-want) > 4*sd {
			t.Errorf("share %v got %d of %d ids, want about %.0f", s, counts[k], n, want)
		}
	}
}

// TestHoldoutGetsNoVariant: a not_in_range filter on the holdout salt in
// every condition keeps the held-out ids out of the experiment: they get
// false, never a variant, and the others are unaffected.
func TestHoldoutGetsNoVariant(t *testing.T) {
	holdout := BucketProperty("holdout:1", 0, 0.1, false)
	c := mustDecodeCompile(t, `{"key":"exp","filters":{"groups":[
		{"properties":[{"key":"plan","value":"pro"},`+mustJSON(t, holdout)+`]},
		{"properties":[`+mustJSON(t, holdout)+`],"rollout_percentage":100}],
		"multivariate":{"variants":[{"key":"control","rollout_percentage":50},{"key":"test","rollout_percentage":50}]}}}`)
	held := 0
	for i := range 10000 {
		id := fmt.Sprintf("u%d", i)
		r := Evaluate(c, &Subject{DistinctID: id, PersonProperties: map[string]any{"plan": "pro"}}, nil)
		if InBucket("holdout:1", id, 0, 0.1) {
			held++
			if r.Enabled || r.Variant != "" || r.Reason != ReasonNoConditionMatch {
				t.Fatalf("held-out %s got %+v", id, r)
			}
			continue
		}
		if !r.Enabled || r.Variant == "" {
			t.Fatalf("%s outside the holdout got %+v", id, r)
		}
	}
	if held < 880 || held > 1120 {
		t.Errorf("%d of 10000 held out, want about 1000", held)
	}
}

// TestBucketProperty: decoding, negation, the id a condition buckets by
// (hash key, group key) and the field errors.
func TestBucketProperty(t *testing.T) {
	// json.Number values, negation.
	c := mustDecodeCompile(t, `{"key":"f","filters":{"groups":[{"properties":[
		{"type":"bucket","key":"layer:7","operator":"in_range","value":[0,0.5],"negation":true}]}]}}`)
	if Evaluate(c, &Subject{DistinctID: "user-1"}, nil).Enabled || !Evaluate(c, &Subject{DistinctID: "user-2"}, nil).Enabled {
		t.Error("negation")
	}
	// Experience continuity buckets by the hash key.
	c = mustDecodeCompile(t, `{"key":"f","ensure_experience_continuity":true,"filters":{"groups":[{"properties":[
		{"type":"bucket","key":"layer:7","operator":"not_in_range","value":[0,0.5]}]}]}}`)
	if r := Evaluate(c, &Subject{DistinctID: "user-9", HashOverride: "user-2"}, nil); !r.Enabled {
		t.Errorf("hash key user-2 is at 0.697, not in [0, 0.5): %+v", r)
	}
	if r := Evaluate(c, &Subject{DistinctID: "user-9", HashOverride: "user-1"}, nil); r.Enabled {
		t.Errorf("hash key user-1 is at 0.017, in [0, 0.5): %+v", r)
	}
	// Group aggregation buckets by the group key.
	c = mustDecodeCompile(t, `{"key":"f","filters":{"aggregation_group_type_index":0,"groups":[{"properties":[
		{"type":"bucket","key":"layer:7","operator":"in_range","value":[0,0.5]}]}]}}`)
	env := &Env{GroupTypes: map[int]string{0: "company"}}
	if r := Evaluate(c, &Subject{DistinctID: "x", Groups: map[string]string{"company": "user-1"}}, env); !r.Enabled {
		t.Errorf("group key user-1: %+v", r)
	}
	// The filter round-trips in PostHog's shape.
	f := mustDecode(t, `{"key":"f","filters":{"groups":[{"properties":[`+mustJSON(t, BucketProperty("holdout:2", 0, 0.05, false))+`]}]}}`)
	b, _ := json.Marshal(f)
	if !strings.Contains(string(b), `{"key":"holdout:2","value":[0,0.05],"operator":"not_in_range","type":"bucket"}`) {
		t.Errorf("marshalled %s", b)
	}

	for _, tc := range []struct{ prop, field, msg string }{
		{`{"type":"bucket","key":"s","operator":"exact","value":[0,1]}`, "operator", "in_range or not_in_range"},
		{`{"type":"bucket","key":"s","value":[0,1]}`, "operator", "in_range or not_in_range"},
		{`{"type":"bucket","key":"","operator":"in_range","value":[0,1]}`, "key", "salt"},
		{`{"type":"bucket","key":"s","operator":"in_range","value":0.5}`, "value", "[from, to]"},
		{`{"type":"bucket","key":"s","operator":"in_range","value":[0,"x"]}`, "value", "numbers"},
		{`{"type":"bucket","key":"s","operator":"in_range","value":[0.6,0.5]}`, "value", "from <= to"},
		{`{"type":"bucket","key":"s","operator":"in_range","value":[-0.1,0.5]}`, "value", "0 <= from"},
		{`{"type":"bucket","key":"s","operator":"in_range","value":[0,1.5]}`, "value", "to <= 1"},
	} {
		_, err := Decode([]byte(`{"key":"f","filters":{"groups":[{"properties":[` + tc.prop + `]}]}}`))
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != "filters.groups[0].properties[0]."+tc.field || !strings.Contains(fe.Msg, tc.msg) {
			t.Errorf("%s: %v, want %s: …%s…", tc.prop, err, tc.field, tc.msg)
		}
	}
	// Not in cohort definitions: those filter persons by properties.
	cs, err := CompileCohorts(map[string]json.RawMessage{"1": json.RawMessage(`{"type":"AND","values":[{"type":"AND","values":[
		{"type":"bucket","key":"s","operator":"in_range","value":[0,1]}]}]}`)}, nil)
	if err == nil && cs.Has("1") {
		t.Error("a cohort with a bucket filter has a computable definition")
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
