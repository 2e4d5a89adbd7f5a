package bench

import (
	"context"
	"testing"
	"time"
)

// TestFlagsSmall runs the /flags benchmark on 10 000 persons at 200
// requests/s for 1 s: the stored persons' properties are read (checkFlags
// fails otherwise), every request is answered without error, and the
// figures are filled. Timings are not asserted.
func TestFlagsSmall(t *testing.T) {
	o := FlagsOptions{Persons: 10_000, Flags: 20, RPS: 200, Duration: time.Second, Seed: 1, Dir: t.TempDir(), Threads: 2}
	res, err := Flags(context.Background(), o, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", res)
	if res.Persons != 10_000 || res.Flags != 20 || res.Cohorts != 3 || res.AnswerBytes == 0 {
		t.Fatalf("sizes: %+v", res)
	}
	for name, f := range map[string]LoadFigures{"/flags": res.LoadFigures, "baseline": res.Baseline} {
		if f.Requests != 200 || f.Errors != 0 || f.AchievedRPS <= 0 || f.P50MS <= 0 || f.P99MS < f.P50MS || f.MaxMS < f.P99MS || f.CPUMS <= 0 {
			t.Errorf("%s: %+v: want 200 requests answered without error and every figure filled", name, f)
		}
	}
	// 1 s measured at 200/s, 0.2 s of warm-up: one second each.
	if f := res.LoadFigures; len(f.P99BySecondMS) != 1 || f.P99BySecondMS[0] <= 0 || f.P99BySecondMS[0] > f.MaxMS+0.01 || len(f.WarmupP99BySecondMS) != 1 {
		t.Errorf("p99 by second: measured %v (max %v ms), warm-up %v", f.P99BySecondMS, f.MaxMS, f.WarmupP99BySecondMS)
	}
	if res.ErrorsWhileComputing != 0 {
		t.Errorf("%d answers said errorsWhileComputingFlags", res.ErrorsWhileComputing)
	}
	// The person index holds every person and the six keys the flags and
	// cohorts read (plan, country, email, age, app_version, beta).
	if pi := res.PersonIndex; pi == nil || pi.Persons != 10_000 || pi.Keys != 6 || pi.BuildMS <= 0 || pi.EstimatedBytes <= 0 {
		t.Errorf("person index: %+v", pi)
	}
	if res.HeapAllocs == 0 || res.GCCPUShare < 0 || res.GCCPUShare > 1 || res.ServerAllocsPerRequest <= 0 {
		t.Errorf("allocations and GC: %d allocations, GC share %v, %v allocations a request", res.HeapAllocs, res.GCCPUShare, res.ServerAllocsPerRequest)
	}
	if res.LoadGeneratorCPUShare <= 0 || res.LoadGeneratorCPUShare > 1.5 {
		t.Errorf("load generator CPU share %v", res.LoadGeneratorCPUShare)
	}
}

// TestP99BySecond: each second's requests, by when they were due, give
// their own p99; a slow first second stands out of a steady run.
func TestP99BySecond(t *testing.T) {
	lat := make([]float64, 0, 250)
	for i := range 250 {
		switch {
		case i < 100 && i%50 == 7:
			lat = append(lat, 40) // two slow requests in the first second
		case i < 100:
			lat = append(lat, 2)
		default:
			lat = append(lat, 1+float64(i%10)/10)
		}
	}
	got := p99BySecond(lat, 100)
	if len(got) != 3 || got[0] < 39 || got[1] > 2 || got[2] > 2 {
		t.Fatalf("p99 by second = %v, want [~40, <2, <2]", got)
	}
}
