package flags

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"strings"
	"testing"
)

// readVector reads a testdata file of one expected value a line ('#'
// lines are comments).
func readVector(t *testing.T, name string) []string {
	t.Helper()
	f, err := os.Open("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		out = append(out, line)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestHashVectors(t *testing.T) {
	// PostHog's published values (posthog-python / posthog-node suites).
	for _, tc := range []struct {
		key, id, salt string
		want          float64
	}{
		{"simple-flag", "distinct_id_0", "", 0.78369637642204315},
		{"simple-flag", "distinct_id_1", "", 0.33970699269954008},
		{"simple-flag", "distinct_id_2", "", 0.37204343502390519},
		{"multivariate-flag", "distinct_id_0", "variant", 0.61864545379303792},
	} {
		if got := Hash(tc.key, tc.id, tc.salt); got != tc.want {
			t.Errorf("Hash(%q, %q, %q) = %.17g, want %.17g", tc.key, tc.id, tc.salt, got, tc.want)
		}
	}
	if got := Hash("simple-flag", "distinct_id_0", ""); math.Abs(got-0.78369637642) > 1e-11 {
		t.Errorf("Hash = %v, want 0.78369637642…", got)
	}
	// Long ids take the heap path and hash the same bytes.
	long := strings.Repeat("x", 500)
	if Hash("k", long, "") != bucket("k.", long, "") || Hash("k", long, "") == Hash("k", long+"y", "") {
		t.Error("long ids hash wrong")
	}
	for _, id := range []string{"", "ü", long} {
		if h := Hash("flag", id, "variant"); h < 0 || h > 1 {
			t.Errorf("Hash(%q) = %v, out of [0, 1]", id, h)
		}
	}
}

// TestSimpleFlagConsistency reproduces posthog-python's
// test_simple_flag_consistency: simple-flag at 45 % for
// distinct_id_0…999.
func TestSimpleFlagConsistency(t *testing.T) {
	want := readVector(t, "simple_flag_consistency.txt")
	if len(want) != 1000 {
		t.Fatalf("vector has %d values, want 1000", len(want))
	}
	c := mustDecodeCompile(t, `{"id":1,"name":"Beta Feature","key":"simple-flag","active":true,
		"filters":{"groups":[{"properties":[],"rollout_percentage":45}]}}`)
	on := 0
	for i, w := range want {
		r := Evaluate(c, &Subject{DistinctID: fmt.Sprintf("distinct_id_%d", i)}, nil)
		if got := r.Enabled; got != (w == "1") {
			t.Fatalf("distinct_id_%d: enabled %v, want %v", i, got, w == "1")
		}
		if r.Enabled {
			on++
			if r.Reason != ReasonConditionMatch || r.ConditionIndex != 0 {
				t.Fatalf("distinct_id_%d: %s %d", i, r.Reason, r.ConditionIndex)
			}
		} else if r.Reason != ReasonOutOfRollout || r.ConditionIndex != 0 {
			t.Fatalf("distinct_id_%d: %s %d", i, r.Reason, r.ConditionIndex)
		}
	}
	if on != 446 {
		t.Errorf("%d enabled, want 446", on)
	}
}

// TestMultivariateFlagConsistency reproduces posthog-python's
// test_multivariate_flag_consistency: 55 % rollout over five variants
// (50/20/20/5/5) for distinct_id_0…999.
func TestMultivariateFlagConsistency(t *testing.T) {
	want := readVector(t, "multivariate_flag_consistency.txt")
	if len(want) != 1000 {
		t.Fatalf("vector has %d values, want 1000", len(want))
	}
	c := mustDecodeCompile(t, `{"id":1,"name":"Beta Feature","key":"multivariate-flag","active":true,
		"filters":{"groups":[{"properties":[],"rollout_percentage":55}],
		"multivariate":{"variants":[
			{"key":"first-variant","name":"First Variant","rollout_percentage":50},
			{"key":"second-variant","name":"Second Variant","rollout_percentage":20},
			{"key":"third-variant","name":"Third Variant","rollout_percentage":20},
			{"key":"fourth-variant","name":"Fourth Variant","rollout_percentage":5},
			{"key":"fifth-variant","name":"Fifth Variant","rollout_percentage":5}]}}}`)
	for i, w := range want {
		r := Evaluate(c, &Subject{DistinctID: fmt.Sprintf("distinct_id_%d", i)}, nil)
		got := "-"
		if r.Enabled {
			got = r.Variant
		}
		if got != w {
			t.Fatalf("distinct_id_%d: %q, want %q", i, got, w)
		}
	}
}

// TestVariantDistribution: over many ids the variants split as their
// weights say (within a few standard deviations).
func TestVariantDistribution(t *testing.T) {
	c := mustDecodeCompile(t, `{"key":"dist","filters":{"groups":[{"rollout_percentage":100}],
		"multivariate":{"variants":[{"key":"a","rollout_percentage":10},{"key":"b","rollout_percentage":30},{"key":"c","rollout_percentage":60}]}}}`)
	const n = 20000
	counts := map[string]int{}
	for i := 0; i < n; i++ {
		r := Evaluate(c, &Subject{DistinctID: fmt.Sprintf("user-%d", i)}, nil)
		if !r.Enabled {
			t.Fatalf("user-%d disabled", i)
		}
		counts[r.Variant]++
	}
	for key, p := range map[string]float64{"a": .1, "b": .3, "c": .6} {
		sd := math.Sqrt(n * p * (1 - p))
		if got := float64(counts[key]); math.Abs(got-n*p) > 5*sd {
			t.Errorf("variant %s: %v of %d, want about %v", key, got, n, n*p)
		}
	}
	// Rollout: about 30 % of ids.
	r30 := mustDecodeCompile(t, `{"key":"r30","filters":{"groups":[{"rollout_percentage":30}]}}`)
	on := 0
	for i := 0; i < n; i++ {
		if Evaluate(r30, &Subject{DistinctID: fmt.Sprintf("user-%d", i)}, nil).Enabled {
			on++
		}
	}
	if sd := math.Sqrt(n * .3 * .7); math.Abs(float64(on)-n*.3) > 5*sd {
		t.Errorf("30%% rollout enabled %d of %d", on, n)
	}
}

func TestRolloutEdges(t *testing.T) {
	zero := mustDecodeCompile(t, `{"key":"zero","filters":{"groups":[{"rollout_percentage":0}]}}`)
	full := mustDecodeCompile(t, `{"key":"full","filters":{"groups":[{"rollout_percentage":100}]}}`)
	none := mustDecodeCompile(t, `{"key":"none","filters":{"groups":[{"rollout_percentage":null}]}}`)
	for i := 0; i < 500; i++ {
		s := &Subject{DistinctID: fmt.Sprintf("id-%d", i)}
		if Evaluate(zero, s, nil).Enabled {
			t.Fatalf("0%% enabled for %s", s.DistinctID)
		}
		if !Evaluate(full, s, nil).Enabled || !Evaluate(none, s, nil).Enabled {
			t.Fatalf("100%% disabled for %s", s.DistinctID)
		}
	}
	// The threshold is inclusive (PostHog: out only when hash > p/100).
	h := Hash("edge", "u", "")
	f := &Flag{Key: "edge", Active: true, Filters: Filters{Groups: []Condition{{RolloutPercentage: ptr(h * 100)}}}}
	want := h <= h*100/100
	if got := Evaluate(MustCompile(f), &Subject{DistinctID: "u"}, nil).Enabled; got != want {
		t.Errorf("rollout at the id's own hash: enabled %v, want %v", got, want)
	}
}

func ptr[T any](v T) *T { return &v }
