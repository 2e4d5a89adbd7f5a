package duckdb

import (
	"testing"

	"github.com/journey-dev/journey/internal/store"
	"github.com/journey-dev/journey/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return testdb(t) })
}

// TestConformanceSlowPlans runs the suite with every fast path off: the
// plain plans must give the same answers (they are what an operator falls
// back to with --query-plan).
func TestConformanceSlowPlans(t *testing.T) {
	slow := Plan{MaskPeriods: -1, NoDenseRetention: true, NoEventCodes: true, NoFeedInPlace: true, NoJourneyIndex: true, NoFlagExposures: true, NoExperimentIndex: true}
	storetest.Run(t, func(t *testing.T) store.Store {
		t.Helper()
		s, err := Open("", Options{Plan: slow})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}
