package funnelwalk

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/insight"
)

func BenchmarkScratchAdd(b *testing.B) {
	q := &insight.Funnel{Steps: []insight.FunnelStep{{Event: "a"}, {Event: "b"}, {Event: "c"}}, Window: "24h",
		Range: insight.Range{From: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}}
	if err := q.Validate(); err != nil {
		b.Fatal(err)
	}
	p := NewPlan(q)
	all := make([][]Row, 4100)
	for i := range all {
		rows := make([]Row, 2048)
		for j := range rows {
			rows[j] = Row{Actor: rand.Int64N(1_000_000), T: int64(i*2048 + j), M: 1 << rand.IntN(3), BV: -1}
		}
		all[i] = rows
	}
	for b.Loop() {
		c := NewCollector(p)
		t0 := time.Now()
		for _, rows := range all {
			_ = c.Add(rows, nil, nil)
		}
		t1 := time.Now()
		Run(c, time.UTC)
		b.Logf("add %v run %v", t1.Sub(t0), time.Since(t1))
	}
}
