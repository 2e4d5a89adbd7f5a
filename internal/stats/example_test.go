package stats_test

import (
	"encoding/json"
	"fmt"
	"math"

	"github.com/journey-dev/journey/internal/stats"
)

// A conversion experiment analysed three ways.
func ExampleCompare() {
	control := stats.Proportion(3000, 1396)
	treatment := stats.Proportion(3461, 2422)

	freq, _ := stats.Compare(control, treatment, stats.Options{Relative: true})
	fmt.Printf("lift %.3f, 95%% CI [%.3f, %.3f], p < 0.001: %v\n", freq.Effect, freq.CI[0], freq.CI[1], *freq.PValue < 0.001)

	seq, _ := stats.Compare(control, treatment, stats.Options{Relative: true, Method: stats.Sequential})
	fmt.Printf("sequential CI [%.3f, %.3f]\n", seq.CI[0], seq.CI[1])

	bayes, _ := stats.Compare(control, treatment, stats.Options{Relative: true, Method: stats.Bayesian})
	fmt.Printf("chance to win %.3f, risk of shipping %.4f\n", *bayes.ChanceToWin, bayes.Risk[1])
	// Output:
	// lift 0.504, 95% CI [0.437, 0.570], p < 0.001: true
	// sequential CI [0.401, 0.607]
	// chance to win 1.000, risk of shipping 0.0000
}

// Stats and Options decode from the JSON an HTTP handler receives.
func ExampleStats_json() {
	var in struct {
		Control   stats.Stats   `json:"control"`
		Treatment stats.Stats   `json:"treatment"`
		Options   stats.Options `json:"options"`
	}
	body := `{"control": {"n": 3407, "value": {"sum": 1396.87, "sum_squares": 52377.9767}},
	          "treatment": {"n": 3461, "value": {"sum": 2422.7, "sum_squares": 134698.29}},
	          "options": {"relative": true}}`
	if err := json.Unmarshal([]byte(body), &in); err != nil {
		panic(err)
	}
	res, err := stats.Compare(in.Control, in.Treatment, in.Options)
	if err != nil {
		panic(err)
	}
	fmt.Printf("lift %.5f, CI [%.5f, %.5f], p %.5f\n", res.Effect, res.CI[0], res.CI[1], *res.PValue)

	// The open end of a one-sided interval is null in JSON.
	out, _ := json.Marshal(stats.Interval{0.25, math.Inf(1)})
	fmt.Println(string(out))
	// Output:
	// lift 0.70732, CI [-0.03526, 1.44989], p 0.06191
	// [0.25,null]
}

func ExampleSRM() {
	p, _ := stats.SRM([]float64{1000, 1200}, []float64{0.5, 0.5})
	fmt.Printf("p %.6f, mismatch %v\n", p, stats.SRMFlag(p))
	// Output: p 0.000020, mismatch true
}

func ExampleSampleSize() {
	n, _ := stats.SampleSize(stats.SampleSizeInput{Baseline: 0.10, Proportion: true, MDE: 0.20, Relative: true})
	days, _ := stats.RuntimeDays(float64(n), 2, 1000)
	fmt.Printf("%d users per arm, %d days at 1000 users/day\n", n, days)
	// Output: 3841 users per arm, 8 days at 1000 users/day
}
