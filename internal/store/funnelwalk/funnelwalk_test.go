package funnelwalk

import (
	"cmp"
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/insight"
)

var day0 = time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)

func funnel(t *testing.T, order string, steps ...string) *insight.Funnel {
	t.Helper()
	q := &insight.Funnel{Window: "1h", Order: order, Range: insight.Range{From: day0, To: day0.AddDate(0, 0, 1)}}
	for _, s := range steps {
		q.Steps = append(q.Steps, insight.FunnelStep{Event: s})
	}
	if err := q.Validate(); err != nil {
		t.Fatal(err)
	}
	return q
}

func counts(res *insight.FunnelResult) []int64 {
	var out []int64
	for _, s := range res.Steps {
		out = append(out, s.Count)
	}
	return out
}

const minute = int64(60e6) // µs

func TestPlanBits(t *testing.T) {
	q := funnel(t, "strict", "a", "b", "a")
	q.Exclusions = []insight.FunnelExclusion{{Event: "x", FromStep: 1, ToStep: 2}, {Event: "b", FromStep: 2, ToStep: 3}}
	p := NewPlan(q)
	// Steps are bits 0..2, exclusions 3 and 4, the strict bit 5.
	if p.StepMask != 7 || p.ExclShift != 3 || p.StrictBit != 1<<5 || p.MaskBits != 6 || p.StartMask != 1 || !p.Packed {
		t.Fatalf("plan = %+v", p)
	}
	events, stepEvents := p.Events()
	if !reflect.DeepEqual(events, []string{"a", "b", "x"}) || stepEvents != 2 {
		t.Fatalf("events = %v, %d", events, stepEvents)
	}
	if p.MaskCanBeZero() {
		t.Fatal("unfiltered steps and exclusions always match")
	}
	// A filtered step whose name no other step or exclusion has can miss
	// a row; strict funnels keep such rows (they break chains).
	q = funnel(t, "ordered", "a", "b")
	q.Steps[1].Filters = []insight.Filter{{Property: "plan", Op: "eq", Value: "pro"}}
	if !NewPlan(q).MaskCanBeZero() {
		t.Fatal("a filtered b can match nothing")
	}
	q.Order = "strict"
	if NewPlan(q).MaskCanBeZero() {
		t.Fatal("strict: every b row has the strict bit")
	}
	q = funnel(t, "unordered", "a", "b")
	if p := NewPlan(q); p.StartMask != 3 {
		t.Fatalf("unordered start mask = %b", p.StartMask)
	}
	// Half a year of µs and 31 mask bits do not fit one int64.
	q = funnel(t, "strict", "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o", "p", "q", "r", "s", "t")
	for range insight.MaxFunnelExclusions {
		q.Exclusions = append(q.Exclusions, insight.FunnelExclusion{Event: "x", FromStep: 1, ToStep: 2})
	}
	q.From = day0.AddDate(0, -6, 0)
	if p := NewPlan(q); p.Packed || p.MaskBits != 31 {
		t.Fatalf("packed = %v with %d bits", p.Packed, p.MaskBits)
	}
}

// Batches added concurrently, each with its own group keys and breakdown
// values, walk as one set of rows.
func TestCollectorBatches(t *testing.T) {
	q := funnel(t, "ordered", "a", "b")
	q.Unit = "group:company"
	q.Breakdown = &insight.Breakdown{Property: "src"}
	q.Persons = "converted:1"
	if err := q.Validate(); err != nil { // the breakdown's default limit
		t.Fatal(err)
	}
	p := NewPlan(q)
	c := NewCollector(p, insight.DefaultMemoryCap)
	// acme: a (ads) then b 5 m later, from two batches; beta: a (mail);
	// cern: b only.
	batches := []struct {
		rows         []Row
		keys, values []string
	}{
		{[]Row{{Actor: 0, T: 0, M: 1, BV: 0}, {Actor: 1, T: 0, M: 1, BV: 1}}, []string{"acme", "beta"}, []string{"ads", "mail"}},
		{[]Row{{Actor: 0, T: 5 * minute, M: 2, BV: -1}, {Actor: 1, T: 9 * minute, M: 2, BV: -1}}, []string{"acme", "cern"}, nil},
	}
	var wg sync.WaitGroup
	for _, b := range batches {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.Add(b.rows, b.keys, b.values); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := c.Rows(); n != 4 {
		t.Fatalf("rows = %d", n)
	}
	res := Run(c, nil)
	if got := counts(res); !reflect.DeepEqual(got, []int64{2, 1}) {
		t.Fatalf("counts = %v", got)
	}
	var values []string
	for _, b := range res.Breakdown {
		values = append(values, b.Value)
	}
	if !reflect.DeepEqual(values, []string{"ads", "mail"}) || res.Breakdown[0].Steps[1].Count != 1 {
		t.Fatalf("breakdown = %+v", res.Breakdown)
	}
	if want := (&insight.PersonList{IDs: []any{"acme", "beta"}, Total: 2}); !reflect.DeepEqual(res.Persons, want) {
		t.Fatalf("persons = %+v", res.Persons)
	}
	if med := res.Steps[1].MedianSeconds; med == nil || *med != 300 {
		t.Fatalf("median = %v", med)
	}
}

// Rows of many actors spread over all partitions; each actor's rows come
// in any order.
func TestRunManyActors(t *testing.T) {
	q := funnel(t, "ordered", "a", "b", "c")
	q.Persons, q.Limit = "dropped:2", 3
	c := NewCollector(NewPlan(q), insight.DefaultMemoryCap)
	var rows []Row
	for actor := int64(1); actor <= 1000; actor++ {
		// Reversed: c, b, a. Every third actor has no c: level 2.
		if actor%3 != 0 {
			rows = append(rows, Row{Actor: actor, T: 20 * minute, M: 4, BV: -1})
		}
		rows = append(rows, Row{Actor: actor, T: 10 * minute, M: 2, BV: -1}, Row{Actor: actor, T: 0, M: 1, BV: -1})
	}
	if err := c.Add(rows, nil, nil); err != nil {
		t.Fatal(err)
	}
	res := Run(c, time.UTC)
	if got := counts(res); !reflect.DeepEqual(got, []int64{1000, 1000, 667}) {
		t.Fatalf("counts = %v", got)
	}
	if want := (&insight.PersonList{IDs: []any{int64(3), int64(6), int64(9)}, Total: 333, HasMore: true}); !reflect.DeepEqual(res.Persons, want) {
		t.Fatalf("persons = %+v", res.Persons)
	}
}

// TestQuantile compares quantile (selection) with the sorted definition
// on random, repeated and ordered values.
func TestQuantile(t *testing.T) {
	sorted := func(xs []float64, q float64) float64 {
		s := slices.Clone(xs)
		slices.Sort(s)
		pos := q * float64(len(s)-1)
		lo := int(math.Floor(pos))
		if lo+1 >= len(s) {
			return s[lo]
		}
		return s[lo] + (s[lo+1]-s[lo])*(pos-float64(lo))
	}
	f := func(name string, xs []float64) {
		t.Helper()
		for _, q := range []float64{0, 0.5, 0.9, 1} {
			want := sorted(xs, q)
			if got := quantile(slices.Clone(xs), q); got != want {
				t.Fatalf("%s (%d values): quantile %v = %v, want %v", name, len(xs), q, got, want)
			}
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{1, 2, 3, 10, 1000, 100_000} {
		random, few, asc, desc := make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)
		for i := range n {
			random[i] = rng.Float64() * 1e6
			few[i] = float64(rng.IntN(3))
			asc[i] = float64(i)
			desc[i] = float64(n - i)
		}
		f("random", random)
		f("three values", few)
		f("ascending", asc)
		f("descending", desc)
	}
	f("one value repeated", slices.Repeat([]float64{7}, 5000))
}

// TestFeedOrderDoesNotMatter feeds the same rows sorted in one batch and
// shuffled in small concurrent batches; the answers must be identical.
// Actor ids span the whole uint32 range (several radix passes per
// partition) and some actors have hundreds of events (the long-list sort).
func TestFeedOrderDoesNotMatter(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	var rows []Row
	for a := range 5000 {
		actor := int64(a)
		if a%2 == 0 {
			actor = int64(rng.Uint32())
		}
		n := 1 + rng.IntN(8)
		if a%500 == 0 {
			n = 300
		}
		for range n {
			rows = append(rows, Row{Actor: actor, T: rng.Int64N(24*60) * minute / 4, M: 1 << rng.IntN(4), BV: int32(rng.IntN(3))})
		}
	}
	values := []string{"ads", "mail", "seo"}
	for _, order := range []string{"ordered", "strict", "unordered"} {
		q := funnel(t, order, "a", "b", "c")
		q.Exclusions = []insight.FunnelExclusion{{Event: "x", FromStep: 2, ToStep: 3}}
		if order == "unordered" {
			q.Exclusions[0].FromStep = 1
		}
		q.Breakdown = &insight.Breakdown{Property: "src"}
		q.Persons = "dropped:2"
		if err := q.Validate(); err != nil {
			t.Fatal(err)
		}
		run := func(batches [][]Row) *insight.FunnelResult {
			c := NewCollector(NewPlan(q), insight.DefaultMemoryCap)
			var wg sync.WaitGroup
			for _, b := range batches {
				wg.Go(func() {
					if err := c.Add(slices.Clone(b), nil, values); err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			return Run(c, time.UTC)
		}
		sorted := slices.Clone(rows)
		slices.SortStableFunc(sorted, func(a, b Row) int { return cmp.Compare(a.T, b.T) })
		want := run([][]Row{sorted})
		shuffled := slices.Clone(rows)
		rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		got := run(slices.Collect(slices.Chunk(shuffled, 777)))
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: shuffled batches answer %+v, one sorted batch %+v", order, got, want)
		}
		if want.Steps[2].Count == 0 || len(want.Breakdown) != 3 || want.Persons.Total == 0 {
			t.Fatalf("%s: a degenerate case: %+v", order, want)
		}
	}
}

// TestPersonlessActors: persons outside [0, 2^32) (personless events'
// negative ids, or very large ones) walk like any other and are listed by
// their own ids; only ids that would meet the remapped ones are refused.
func TestPersonlessActors(t *testing.T) {
	run := func(id func(int64) int64) (*insight.FunnelResult, map[any]bool) {
		q := funnel(t, "ordered", "a", "b", "c")
		q.Persons, q.Limit = "dropped:2", 10_000
		c := NewCollector(NewPlan(q), insight.DefaultMemoryCap)
		var rows []Row
		for actor := int64(1); actor <= 1000; actor++ {
			if actor%3 != 0 {
				rows = append(rows, Row{Actor: id(actor), T: 20 * minute, M: 4, BV: -1})
			}
			rows = append(rows, Row{Actor: id(actor), T: 10 * minute, M: 2, BV: -1}, Row{Actor: id(actor), T: 0, M: 1, BV: -1})
		}
		for start := 0; start < len(rows); start += 700 { // several batches
			if err := c.Add(rows[start:min(start+700, len(rows))], nil, nil); err != nil {
				t.Fatal(err)
			}
		}
		res := Run(c, time.UTC)
		listed := map[any]bool{}
		for _, p := range res.Persons.IDs {
			listed[p] = true
		}
		return res, listed
	}
	plain, plainListed := run(func(a int64) int64 { return a })
	mixed, mixedListed := run(func(a int64) int64 {
		switch a % 4 {
		case 0:
			return -a*7919 - 1e12 // personless
		case 1:
			return a + 1<<40 // past uint32
		}
		return a
	})
	if !reflect.DeepEqual(counts(plain), counts(mixed)) {
		t.Fatalf("counts %v with personless actors, %v without", counts(mixed), counts(plain))
	}
	if len(mixedListed) != len(plainListed) || len(mixedListed) != 333 {
		t.Fatalf("listed %d and %d persons", len(mixedListed), len(plainListed))
	}
	for p := range plainListed {
		a := p.(int64)
		want := a
		switch a % 4 {
		case 0:
			want = -a*7919 - 1e12
		case 1:
			want = a + 1<<40
		}
		if !mixedListed[want] {
			t.Fatalf("person %d listed as %v missing", a, want)
		}
	}
	// A real id that meets the remapped ones is refused, not mixed up.
	c := NewCollector(NewPlan(funnel(t, "ordered", "a", "b")), insight.DefaultMemoryCap)
	if err := c.Add([]Row{{Actor: -5, M: 1, BV: -1}}, nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Add([]Row{{Actor: maxActor, M: 1, BV: -1}}, nil, nil); err == nil || !strings.Contains(err.Error(), "personless") {
		t.Fatalf("err = %v", err)
	}
}

// TestCollectorMemoryCap: rows are counted against the memory cap before
// they are kept, so concurrent Adds stop at it together; group keys and
// breakdown values count too.
func TestCollectorMemoryCap(t *testing.T) {
	const rowSize = 16
	c := NewCollector(NewPlan(funnel(t, "ordered", "a", "b")), 1000*rowSize)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				if err := c.Add(slices.Repeat([]Row{{Actor: int64(g), T: int64(i), M: 1, BV: -1}}, 7), nil, nil); err != nil {
					return
				}
			}
		}()
	}
	wg.Wait()
	var mem *insight.MemoryError
	if !errors.As(c.Err(), &mem) || mem.Cap != 1000*rowSize || mem.Limit != "--query-memory" {
		t.Fatalf("Err() = %v, want a MemoryError", c.Err())
	}
	if n := c.Rows(); n > 1000 || n <= 1000-7 {
		t.Fatalf("kept %d rows, want the most batches of 7 that fit 1000", n)
	}
	// Breakdown values: 16-byte string headers plus their bytes.
	q := funnel(t, "ordered", "a", "b")
	q.Breakdown = &insight.Breakdown{Property: "p"}
	c = NewCollector(NewPlan(q), 2*(16+4)+2*(16+100))
	long := strings.Repeat("v", 100)
	if err := c.Add([]Row{{Actor: 1, M: 1, BV: 0}, {Actor: 2, M: 1, BV: 1}}, nil, []string{long, long}); err != nil {
		t.Fatalf("at the cap: %v", err)
	}
	if err := c.Add([]Row{{Actor: 3, M: 2, BV: -1}}, nil, nil); !insight.IsMemoryError(err) {
		t.Fatalf("past the cap: %v", err)
	}
}

// TestQuickLevel checks the walk's shortcut for actors that cannot pass
// step 1 against the walk itself on random actors.
func TestQuickLevel(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, order := range []string{"ordered", "strict", "unordered"} {
		p := NewPlan(funnel(t, order, "a", "b", "c"))
		var w walker
		w.init(p)
		quick, walked := 0, 0
		for range 20000 {
			rows := make([]row, 1+rng.IntN(6))
			for i := range rows {
				m := uint32(1) << rng.IntN(3)
				if rng.IntN(3) == 0 {
					m = uint32(1) << (rng.IntN(2) * 2) // steps 1 and 3 only
				}
				if p.Strict && rng.IntN(4) == 0 {
					m = uint32(p.StrictBit) // a step's name matching no step
				}
				rows[i] = row{t: int64(rng.IntN(5)) * minute, m: m}
			}
			level, ok := w.quickLevel(rows)
			if !ok {
				walked++
				continue
			}
			quick++
			first := w.best[0]
			w.evs = slices.Clone(rows)
			w.sortEvents()
			if want := w.walk(); level != want || level > 0 && first != w.best[0] {
				t.Fatalf("%s %+v: quick level %d at %d, walk %d at %d", order, rows, level, first, want, w.best[0])
			}
		}
		if quick == 0 || walked == 0 {
			t.Fatalf("%s: %d quick, %d walked", order, quick, walked)
		}
	}
	// Exclusions always take the walk.
	q := funnel(t, "ordered", "a", "b")
	q.Exclusions = []insight.FunnelExclusion{{Event: "x", FromStep: 1, ToStep: 2}}
	var w walker
	w.init(NewPlan(q))
	if _, ok := w.quickLevel([]row{{m: 1}}); ok {
		t.Fatal("a funnel with exclusions took the shortcut")
	}
}

// TestActorRunsMatchActor: actors handed to ActorRuns as runs by event
// name (some names split over up to three runs, as over index segments)
// answer exactly as the same events handed to Actor in (time, name)
// order, for every order mode, with and without exclusions, for a step
// name used twice, times that tie, and persons lists.
func TestActorRunsMatchActor(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	for _, distinct := range []bool{false, true} {
		for _, order := range []string{"ordered", "strict", "unordered"} {
			for _, excl := range []bool{false, true} {
				steps := []string{"a", "b", "a", "c"}
				if distinct {
					steps = []string{"a", "b", "d", "c"}
				}
				q := funnel(t, order, steps...)
				q.Persons = "converted:2"
				if excl {
					q.Exclusions = []insight.FunnelExclusion{{Event: "x", FromStep: 1, ToStep: 2}}
					if order == "unordered" {
						q.Exclusions[0].ToStep = 4
					}
				}
				if err := q.Validate(); err != nil {
					t.Fatal(err)
				}
				p := NewPlan(q)
				// Codes 0 a, 1 b, 2 c, 3 x, 4 d (a step when distinct).
				masks := []uint32{1 | 4, 2, 8, 0, 0}
				if distinct {
					masks = []uint32{1, 2, 8, 0, 4}
				}
				if p.Strict {
					for c := range 5 {
						if masks[c] != 0 {
							masks[c] |= uint32(p.StrictBit)
						}
					}
				}
				if excl {
					masks[3] = 1 << p.ExclShift
				}
				byEvents, byRuns := NewActorWalk(p, time.UTC), NewActorWalk(p, time.UTC)
				type ev struct {
					t    int64
					code int
				}
				for actor := range int64(3000) {
					var evs []ev
					for range 1 + rng.IntN(12) {
						evs = append(evs, ev{int64(rng.IntN(150)) * minute, rng.IntN(5)})
					}
					slices.SortFunc(evs, func(a, b ev) int { return cmp.Or(cmp.Compare(a.t, b.t), cmp.Compare(a.code, b.code)) })
					for _, e := range evs {
						byEvents.Event(e.t, masks[e.code])
					}
					var runs []MaskRun
					for code, m := range masks {
						if m == 0 {
							continue
						}
						var ts [3][]int64 // three runs, each in time order
						for _, e := range evs {
							if e.code == code {
								k := rng.IntN(3)
								ts[k] = append(ts[k], p.FromUs+e.t)
							}
						}
						for _, r := range ts {
							if len(r) > 0 {
								runs = append(runs, MaskRun{Times: r, M: m})
							}
						}
					}
					rng.Shuffle(len(runs), func(i, j int) { runs[i], runs[j] = runs[j], runs[i] })
					byEvents.Actor(actor)
					if len(runs) > 0 {
						byRuns.ActorRuns(actor, runs)
						// It must apply to every actor of a funnel of distinct steps
						// (ordered, no exclusions), and to no actor of other funnels.
						applies := order == "ordered" && !excl
						if _, ok := byRuns.w.walkStepRuns(runs); ok && !applies || !ok && applies && distinct {
							t.Fatalf("%s, exclusions %v, distinct steps %v: the step-by-step walk applies: %v", order, excl, distinct, ok)
						}
					}
				}
				want := ActorResult(p, []*ActorWalk{byEvents})
				got := ActorResult(p, []*ActorWalk{byRuns})
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("%s, exclusions %v, distinct steps %v: runs answer %+v, events %+v", order, excl, distinct, got, want)
				}
				if want.Steps[3].Count == 0 || want.Persons.Total == 0 || byRuns.Rows() != byEvents.Rows() {
					t.Fatalf("%s, exclusions %v: a degenerate case: %+v (%d rows, %d)", order, excl, want, byRuns.Rows(), byEvents.Rows())
				}
			}
		}
	}
}
