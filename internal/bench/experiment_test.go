package bench

import (
	"context"
	"testing"
)

// TestExperimentSmall runs the experiment benchmark on 200 000 events over
// 20 000 persons: the contract's fields are filled, the counts are the
// generated ones (Experiment checks them) and the planted lift's sign is
// found. Timings are not asserted.
func TestExperimentSmall(t *testing.T) {
	o := ExperimentOptions{Events: 200_000, Persons: 20_000, Seed: 1, Lift: 0.03, Dir: t.TempDir(), Threads: 2, Repeat: 1}
	res, err := Experiment(context.Background(), o, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", res)
	if res.Events != 200_000 || res.Persons != 20_000 || res.ExperimentMS <= 0 || res.FloorMS <= 0 || res.Ratio <= 0 {
		t.Fatalf("timings or sizes missing: %+v", res)
	}
	if res.Exposed[0] == 0 || res.Exposed[1] == 0 || res.Exposed[0]+res.Exposed[1]+res.MultipleExposures != 20_000 || res.MultipleExposures == 0 {
		t.Fatalf("exposed %v, %d multiple: want every person exposed, a few to both", res.Exposed, res.MultipleExposures)
	}
	if res.Effect <= 0 || res.CI[0] <= 0 || res.CI[1] < res.CI[0] || res.SE <= 0 || res.Theta <= 0 || res.TestRate <= res.ControlRate {
		t.Fatalf("effect %v, CI %v, SE %v, θ %v, rates %v → %v: want the planted positive lift found (CUPED on)",
			res.Effect, res.CI, res.SE, res.Theta, res.ControlRate, res.TestRate)
	}
}
