package insight

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/stats"
)

const experimentBase = `"flag_key": "f", "variants": ["control", "test"], "from": "2026-01-05T00:00:00Z", "to": "2026-01-12T00:00:00Z"`

func TestExperimentDefaults(t *testing.T) {
	e, err := ParseExperiment([]byte(`{` + experimentBase + `, "metrics": [
		{"kind": "conversion", "event": "purchase"},
		{"kind": "mean", "event": "purchase", "property": "amount", "window": "72h", "cap": {"type": "percentile", "value": 0.99}},
		{"kind": "ratio", "numerator": {"kind": "sum", "event": "purchase", "property": "amount"}, "denominator": {"kind": "count", "action_id": 7}},
		{"kind": "conversion", "steps": [{"event": "view"}, {"event": "buy"}], "filters": [{"property": "plan", "op": "eq", "value": "pro"}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if e.PreDays != DefaultPreDays || e.Metrics[0].Window != "7d" || e.Metrics[0].WindowDur != 7*24*time.Hour || e.Metrics[1].WindowDur != 72*time.Hour {
		t.Fatalf("defaults: pre %d, windows %q %v %v", e.PreDays, e.Metrics[0].Window, e.Metrics[0].WindowDur, e.Metrics[1].WindowDur)
	}
	names := []string{e.Metrics[0].Name, e.Metrics[1].Name, e.Metrics[2].Name, e.Metrics[3].Name}
	if want := []string{"purchase", "purchase amount", "", "view → buy"}; !reflect.DeepEqual(names, want) {
		t.Fatalf("names %q, want %q (an unresolved action has no name yet)", names, want)
	}
	if a := e.Actions(); len(a) != 1 || a[0].Field != "metrics[2].denominator.action" || a[0].Action.ID != 7 {
		t.Fatalf("actions %+v", a)
	}
	// Validate runs again after actions resolve: same answer.
	e.Metrics[2].Denominator.Action = &ActionDef{ID: 7, Name: "Visits", Steps: []ActionStep{{Event: "$pageview"}}}
	before := *e
	if err := e.Validate(); err != nil {
		t.Fatal(err)
	}
	if e.Metrics[2].Name != "purchase amount / Visits" || e.PreDays != before.PreDays {
		t.Fatalf("after resolving: name %q, pre %d", e.Metrics[2].Name, e.PreDays)
	}

	p := e.Plan(time.UTC)
	if p.PreUs != 14*24*3600*1e6 || p.ToUs-p.FromUs != 7*24*3600*1e6 || p.Days.Len() != 7 {
		t.Fatalf("plan: pre %d, range %d µs, %d days", p.PreUs, p.ToUs-p.FromUs, p.Days.Len())
	}
	mean := p.Metrics[1]
	if mean.X.Agg != AggSum || mean.Y.Agg != AggValued || mean.X.Cap == nil || mean.Y.Cap != nil || mean.Y.Property != "amount" || mean.Y.WindowUs != 72*3600*1e6 {
		t.Fatalf("mean plan %+v %+v", mean.X, mean.Y)
	}
	funnel := p.Metrics[3].X
	if funnel.Agg != AggConverted || funnel.Event != "" || len(funnel.Steps) != 2 || len(funnel.Steps[1].Filters) != 1 || len(e.Metrics[3].Steps[1].Filters) != 0 {
		t.Fatalf("funnel plan %+v (query's steps %+v)", funnel, e.Metrics[3].Steps)
	}

	off, err := ParseExperiment([]byte(`{` + experimentBase + `, "cuped": false, "metrics": [{"kind": "count", "event": "e"}]}`))
	if err != nil || off.PreDays != 0 || off.Plan(time.UTC).PreUs != 0 {
		t.Fatalf("cuped false: %+v %v", off, err)
	}
}

func TestExperimentErrors(t *testing.T) {
	cases := []struct{ body, field string }{
		{`{"variants": ["a", "b"], "from": "2026-01-05T00:00:00Z", "to": "2026-01-12T00:00:00Z", "metrics": [{"kind": "count", "event": "e"}]}`, "flag_key"},
		{`{"flag_key": "f", "variants": ["a"], "from": "2026-01-05T00:00:00Z", "to": "2026-01-12T00:00:00Z", "metrics": [{"kind": "count", "event": "e"}]}`, "variants"},
		{`{"flag_key": "f", "variants": ["a", "a"], "from": "2026-01-05T00:00:00Z", "to": "2026-01-12T00:00:00Z", "metrics": [{"kind": "count", "event": "e"}]}`, "variants[1]"},
		{`{"flag_key": "f", "variants": ["a", ""], "from": "2026-01-05T00:00:00Z", "to": "2026-01-12T00:00:00Z", "metrics": [{"kind": "count", "event": "e"}]}`, "variants[1]"},
		{`{` + experimentBase + `}`, "metrics"},
		{`{` + experimentBase + `, "metrics": [{"kind": "count", "event": "e"}, {"kind": "count"}]}`, "metrics[1].event"},
		{`{` + experimentBase + `, "metrics": [{"event": "e"}]}`, "metrics[0].kind"},
		{`{` + experimentBase + `, "metrics": [{"kind": "median", "event": "e"}]}`, "metrics[0].kind"},
		{`{` + experimentBase + `, "metrics": [{"kind": "sum", "event": "e"}]}`, "metrics[0].property"},
		{`{` + experimentBase + `, "metrics": [{"kind": "count", "event": "e", "property": "p"}]}`, "metrics[0].property"},
		{`{` + experimentBase + `, "metrics": [{"kind": "conversion", "event": "e", "cap": {"type": "absolute", "value": 1}}]}`, "metrics[0].cap"},
		{`{` + experimentBase + `, "metrics": [{"kind": "count", "event": "e", "cap": {"type": "percentile", "value": 1.5}}]}`, "metrics[0].cap.value"},
		{`{` + experimentBase + `, "metrics": [{"kind": "count", "event": "e", "cap": {"type": "top", "value": 1}}]}`, "metrics[0].cap.type"},
		{`{` + experimentBase + `, "metrics": [{"kind": "count", "event": "e", "cap": {"type": "absolute", "value": -1}}]}`, "metrics[0].cap.value"},
		{`{` + experimentBase + `, "metrics": [{"kind": "count", "event": "e", "window": "7"}]}`, "metrics[0].window"},
		{`{` + experimentBase + `, "metrics": [{"kind": "count", "event": "e", "filters": [{"property": "p", "op": "like", "value": 1}]}]}`, "metrics[0].filters[0].op"},
		{`{` + experimentBase + `, "metrics": [{"kind": "count", "event": "e", "filters": [{"type": "cohort", "value": 3}]}]}`, "metrics[0].filters[0].type"},
		{`{` + experimentBase + `, "metrics": [{"kind": "count", "steps": [{"event": "a"}, {"event": "b"}]}]}`, "metrics[0].steps"},
		{`{` + experimentBase + `, "metrics": [{"kind": "conversion", "event": "a", "steps": [{"event": "a"}, {"event": "b"}]}]}`, "metrics[0].steps"},
		{`{` + experimentBase + `, "metrics": [{"kind": "conversion", "steps": [{"event": "a"}]}]}`, "metrics[0].steps"},
		{`{` + experimentBase + `, "metrics": [{"kind": "conversion", "steps": [{"event": "a"}, {}]}]}`, "metrics[0].steps[1].event"},
		{`{` + experimentBase + `, "metrics": [{"kind": "ratio", "denominator": {"kind": "count", "event": "e"}}]}`, "metrics[0].numerator"},
		{`{` + experimentBase + `, "metrics": [{"kind": "ratio", "event": "e", "numerator": {"kind": "count", "event": "e"}, "denominator": {"kind": "count", "event": "e"}}]}`, "metrics[0].event"},
		{`{` + experimentBase + `, "metrics": [{"kind": "ratio", "numerator": {"kind": "mean", "event": "e", "property": "p"}, "denominator": {"kind": "count", "event": "e"}}]}`, "metrics[0].numerator.kind"},
		{`{` + experimentBase + `, "metrics": [{"kind": "ratio", "numerator": {"kind": "count", "event": "e"}, "denominator": {"kind": "sum", "event": "e"}}]}`, "metrics[0].denominator.property"},
		{`{` + experimentBase + `, "metrics": [{"kind": "count", "event": "e", "numerator": {"kind": "count", "event": "e"}}]}`, "metrics[0].numerator"},
		{`{` + experimentBase + `, "cuped": false, "pre_days": 7, "metrics": [{"kind": "count", "event": "e"}]}`, "pre_days"},
		{`{` + experimentBase + `, "pre_days": 400, "metrics": [{"kind": "count", "event": "e"}]}`, "pre_days"},
		{`{` + experimentBase + `, "unit": "group:company", "metrics": [{"kind": "count", "event": "e"}]}`, "unit"},
		{`{` + experimentBase + `, "breakdown": {"property": "p"}, "metrics": [{"kind": "count", "event": "e"}]}`, "breakdown"},
		{`{` + experimentBase + `, "metrics": [{"kind": "count", "event": 5}]}`, "metrics.event"},
		{`[1]`, "body"},
	}
	for _, c := range cases {
		_, err := ParseExperiment([]byte(c.body))
		var e *Error
		if !errors.As(err, &e) || e.Field != c.field {
			t.Errorf("%s\n  error %v, want one naming %q", c.body, err, c.field)
		}
	}
}

// fakeExperiment hands RunExperiment fixed rows and records the metric
// queries it gets.
type fakeExperiment struct {
	exposures []ExperimentExposureRow
	metrics   map[int][]ExperimentMetricRow
	asked     []int
}

func (f *fakeExperiment) queries() ExperimentQueries {
	return ExperimentQueries{
		Exposures: func(*ExperimentPlan) ([]ExperimentExposureRow, error) { return f.exposures, nil },
		Metric: func(_ *ExperimentPlan, k int) ([]ExperimentMetricRow, error) {
			f.asked = append(f.asked, k)
			return f.metrics[k], nil
		},
	}
}

func TestRunExperimentAssembly(t *testing.T) {
	e, err := ParseExperiment([]byte(`{"flag_key": "f", "variants": ["a", "b", "c", "d"], "from": "2026-01-05T00:00:00Z", "to": "2026-01-08T00:00:00Z",
		"metrics": [{"kind": "conversion", "event": "buy"}, {"kind": "ratio", "numerator": {"kind": "sum", "event": "buy", "property": "x", "cap": {"type": "percentile", "value": 0.9}}, "denominator": {"kind": "count", "event": "view"}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeExperiment{
		exposures: []ExperimentExposureRow{
			{Mask: 0b0001, Day: 0, Persons: 5}, {Mask: 0b0001, Day: 2, Persons: 1}, {Mask: 0b0100, Day: 1, Persons: 4},
			{Mask: 0b0011, Day: 0, Persons: 2}, {Mask: 0b0111, Day: 1, Persons: 1}, {Mask: 0b0011, Day: 2, Persons: 1},
		},
		metrics: map[int][]ExperimentMetricRow{
			0: {{Variant: 0, N: 6, Sums: ExperimentSums{X: 3, XX: 3, P: 1, PP: 1, XP: 1}, XCap: math.Inf(1), YCap: math.Inf(1)}},
			1: {{Variant: 2, N: 4, Sums: ExperimentSums{X: 10, XX: 30, Y: 4, YY: 6, XY: 12, P: 1, PP: 1, Q: 2, QQ: 2, XP: 3, XQ: 4, YP: 5, YQ: 6, PQ: 7}, XCap: 9.5, YCap: math.Inf(1)}},
		},
	}
	res, err := RunExperiment(e, time.UTC, f.queries().Read)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(res.Days, []string{"2026-01-05", "2026-01-06", "2026-01-07"}) {
		t.Fatalf("days %v", res.Days)
	}
	exposed := [][]int64{{5, 0, 1}, {0, 0, 0}, {0, 4, 0}, {0, 0, 0}}
	multiple := []int64{4, 4, 1, 0}
	for i, v := range res.Variants {
		if !reflect.DeepEqual(v.Exposures, exposed[i]) || v.MultipleExposures != multiple[i] || len(v.Metrics) != 2 {
			t.Errorf("variant %s: %+v", v.Key, v)
		}
	}
	if res.Variants[0].Exposed != 6 || res.Variants[2].Exposed != 4 {
		t.Errorf("exposed %d %d", res.Variants[0].Exposed, res.Variants[2].Exposed)
	}
	pairs := []ExperimentPair{{[2]string{"a", "b"}, 4}, {[2]string{"a", "c"}, 1}, {[2]string{"b", "c"}, 1}}
	if res.MultipleExposures.Persons != 4 || !reflect.DeepEqual(res.MultipleExposures.Pairs, pairs) {
		t.Errorf("multiple %+v", res.MultipleExposures)
	}
	if got, want := res.Variants[0].Metrics[0], stats.CUPED(6, stats.Binomial(3), stats.Binomial(1), 1); !reflect.DeepEqual(got, want) {
		t.Errorf("conversion %+v, want %+v", got, want)
	}
	ratio := res.Variants[2].Metrics[1]
	wantRatio := stats.Stats{N: 4, Value: stats.Moments{Sum: 10, SumSquares: 30}, Denominator: &stats.Moments{Sum: 4, SumSquares: 6},
		Pre: &stats.Moments{Sum: 1, SumSquares: 1}, PreDenominator: &stats.Moments{Sum: 2, SumSquares: 2},
		Products: stats.Products{ValueDenominator: 12, ValuePre: 3, ValuePreDenominator: 4, DenominatorPre: 5, DenominatorPreDenominator: 6, PrePreDenominator: 7}}
	if !reflect.DeepEqual(ratio, wantRatio) {
		t.Errorf("ratio %+v, want %+v", ratio, wantRatio)
	}
	// Variants without rows are zero, of the metric's shape.
	if z := res.Variants[1].Metrics[1]; z.N != 0 || z.Denominator == nil || z.Pre == nil || z.PreDenominator == nil {
		t.Errorf("empty ratio %+v", z)
	}
	if c := res.Metrics[1]; c.Cap == nil || *c.Cap != 9.5 || c.DenominatorCap != nil || !c.CUPED || c.Kind != MetricRatio {
		t.Errorf("metric info %+v", c)
	}
	if !reflect.DeepEqual(f.asked, []int{0, 1}) {
		t.Errorf("metric queries %v", f.asked)
	}

	// Nobody exposed to one variant alone: no metric is read.
	f = &fakeExperiment{exposures: []ExperimentExposureRow{{Mask: 0b11, Day: 0, Persons: 3}}}
	res, err = RunExperiment(e, time.UTC, f.queries().Read)
	if err != nil || len(f.asked) != 0 || res.MultipleExposures.Persons != 3 || res.Variants[0].Metrics[0].N != 0 {
		t.Fatalf("%+v %v, asked %v", res, err, f.asked)
	}
	// Rows out of range are a store's bug, not a zero.
	for _, rows := range [][]ExperimentExposureRow{{{Mask: 0b10000, Persons: 1}}, {{Mask: 1, Day: 3, Persons: 1}}, {{Mask: 0, Persons: 1}}} {
		f = &fakeExperiment{exposures: rows}
		if _, err := RunExperiment(e, time.UTC, f.queries().Read); err == nil || !strings.Contains(err.Error(), "out of range") {
			t.Errorf("rows %+v: %v", rows, err)
		}
	}
	// A one-pass read answers every metric, or it is a store's bug.
	one := func(*ExperimentPlan) (*ExperimentRows, error) {
		return &ExperimentRows{Exposures: []ExperimentExposureRow{{Mask: 1, Persons: 2}}, Metrics: [][]ExperimentMetricRow{nil}}, nil
	}
	if _, err := RunExperiment(e, time.UTC, one); err == nil || !strings.Contains(err.Error(), "rows for 1 metrics, want 2") {
		t.Errorf("one metric's rows for two metrics: %v", err)
	}
}
