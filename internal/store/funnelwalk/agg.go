package funnelwalk

import (
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/journey-dev/journey/internal/insight"
)

// stats accumulates the actors of one breakdown value.
type stats struct {
	counts []int64
	secs   [][]float64 // secs[i]: seconds from step i to step i+1, i >= 1
}

// newStats pads counts and secs (written for every actor) with a cache
// line on either side: two workers' stats on one line (they are small and
// allocated one after the other) made every count a cache miss on the
// other core (false sharing).
func newStats(n int) *stats {
	return &stats{counts: make([]int64, n+16)[8 : 8+n], secs: make([][]float64, n+6)[3 : 3+n]}
}

func (s *stats) add(path []int64) {
	for i := range path {
		s.counts[i]++
		if i > 0 {
			s.secs[i] = append(s.secs[i], float64(path[i]-path[i-1])/1e6)
		}
	}
}

func (s *stats) merge(o *stats) {
	for i := range s.counts {
		s.counts[i] += o.counts[i]
		s.secs[i] = append(s.secs[i], o.secs[i]...)
	}
}

func (s *stats) result(q *insight.Funnel) []insight.FunnelStepResult {
	out := make([]insight.FunnelStepResult, len(q.Steps))
	for i, st := range q.Steps {
		r := insight.FunnelStepResult{Event: st.Event, Label: st.Label, Count: s.counts[i]}
		if s.counts[0] > 0 {
			r.Conversion = float64(s.counts[i]) / float64(s.counts[0])
		}
		if i == 0 {
			r.StepConversion = r.Conversion
		} else if s.counts[i-1] > 0 {
			r.StepConversion = float64(s.counts[i]) / float64(s.counts[i-1])
		}
		if i > 0 && len(s.secs[i]) > 0 {
			med, p90 := quantile(s.secs[i], 0.5), quantile(s.secs[i], 0.9)
			r.MedianSeconds, r.P90Seconds = &med, &p90
		}
		out[i] = r
	}
	return out
}

// quantile interpolates linearly between the closest ranks of xs (as
// DuckDB's quantile_cont). It reorders xs: selecting the two ranks costs
// a fraction of sorting a million times, and this runs on one core.
func quantile(xs []float64, q float64) float64 {
	pos := q * float64(len(xs)-1)
	lo := int(math.Floor(pos))
	selectRank(xs, lo)
	if lo+1 >= len(xs) {
		return xs[lo]
	}
	next := slices.Min(xs[lo+1:]) // all of them are >= xs[lo]
	return xs[lo] + (next-xs[lo])*(pos-float64(lo))
}

// selectRank reorders xs so that xs[k] is what it would be sorted, with
// no larger value before it and no smaller one after it (quickselect with
// a three-way partition, so repeated values cost nothing; after 64 rounds
// it sorts what is left, which bounds the worst case).
func selectRank(xs []float64, k int) {
	lo, hi := 0, len(xs)-1
	for round := 0; lo < hi; round++ {
		if round == 64 {
			slices.Sort(xs[lo : hi+1])
			return
		}
		a, b, c := xs[lo], xs[lo+(hi-lo)/2], xs[hi]
		pivot := max(min(a, b), min(max(a, b), c)) // median of three
		lt, i, gt := lo, lo, hi
		for i <= gt {
			switch {
			case xs[i] < pivot:
				xs[lt], xs[i] = xs[i], xs[lt]
				lt++
				i++
			case xs[i] > pivot:
				xs[i], xs[gt] = xs[gt], xs[i]
				gt--
			default:
				i++
			}
		}
		switch {
		case k < lt:
			hi = lt - 1
		case k > gt:
			lo = gt + 1
		default:
			return
		}
	}
}

// agg turns the actors' chains into the result.
type agg struct {
	p        *Plan
	tz       *time.Location
	total    *stats
	byValue  map[string]*stats
	overTime map[string]*[2]int64 // label -> started, converted
	// persons asked for
	mode string
	step int
	ids  []int64 // actors (as collected: person ids or group key indexes)
}

func newAgg(p *Plan, tz *time.Location) *agg {
	a := &agg{p: p, tz: tz, total: newStats(p.Steps)}
	if p.Breakdown {
		a.byValue = map[string]*stats{}
	}
	if p.Q.OverTime != "" {
		a.overTime = map[string]*[2]int64{}
	}
	a.mode, a.step = p.Q.PersonsQuery()
	return a
}

func (a *agg) add(actor int64, level int, path []int64, value string) {
	if a.byValue != nil {
		s := a.byValue[value]
		if s == nil {
			s = newStats(a.p.Steps)
			a.byValue[value] = s
		}
		s.add(path)
	} else {
		a.total.add(path)
	}
	if a.overTime != nil {
		start := time.UnixMicro(a.p.FromUs + path[0]).In(a.tz)
		label := insight.Label(insight.Truncate(start, a.p.Q.OverTime), a.p.Q.OverTime)
		c := a.overTime[label]
		if c == nil {
			c = new([2]int64)
			a.overTime[label] = c
		}
		c[0]++
		if level == a.p.Steps {
			c[1]++
		}
	}
	if a.mode == "converted" && level >= a.step || a.mode == "dropped" && level == a.step {
		a.ids = append(a.ids, actor)
	}
}

// merge adds another worker's aggregate.
func (a *agg) merge(o *agg) {
	a.total.merge(o.total)
	for v, s := range o.byValue {
		if mine := a.byValue[v]; mine != nil {
			mine.merge(s)
		} else {
			a.byValue[v] = s
		}
	}
	for label, c := range o.overTime {
		if mine := a.overTime[label]; mine != nil {
			mine[0] += c[0]
			mine[1] += c[1]
		} else {
			a.overTime[label] = c
		}
	}
	a.ids = append(a.ids, o.ids...)
}

func (a *agg) result(c *Collector) *insight.FunnelResult {
	q := a.p.Q
	res := &insight.FunnelResult{Kind: "funnel"}
	if a.byValue != nil {
		res.Breakdown = a.breakdown()
	}
	res.Steps = a.total.result(q)
	if a.overTime != nil {
		res.OverTime = a.overTimePoints()
	}
	if a.mode != "" {
		res.Persons = a.persons(c)
	}
	return res
}

// breakdown lists the values by actors at step 1 (then by value), the
// ones past the limit together as "$other", and adds them all to the total.
func (a *agg) breakdown() []insight.FunnelBreakdown {
	q := a.p.Q
	type kv struct {
		value string
		s     *stats
	}
	var all []kv
	for v, s := range a.byValue {
		all = append(all, kv{v, s})
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].s.counts[0] != all[j].s.counts[0] {
			return all[i].s.counts[0] > all[j].s.counts[0]
		}
		return all[i].value < all[j].value
	})
	var out []insight.FunnelBreakdown
	var other *stats
	for i, e := range all {
		a.total.merge(e.s)
		if i < q.Breakdown.Limit {
			out = append(out, insight.FunnelBreakdown{Value: e.value, Steps: e.s.result(q)})
			continue
		}
		if other == nil {
			other = newStats(a.p.Steps)
		}
		other.merge(e.s)
	}
	if other != nil {
		out = append(out, insight.FunnelBreakdown{Value: "$other", Steps: other.result(q)})
	}
	return out
}

// overTimePoints has a point for every day or week of the range, empty
// ones included.
func (a *agg) overTimePoints() []insight.FunnelPoint {
	q := a.p.Q
	out := []insight.FunnelPoint{}
	for _, b := range insight.Buckets(q.From, q.To, a.tz, q.OverTime) {
		label := insight.Label(b, q.OverTime)
		pt := insight.FunnelPoint{T: label}
		if c := a.overTime[label]; c != nil {
			pt.Started, pt.Converted = c[0], c[1]
			pt.Conversion = float64(c[1]) / float64(c[0])
		}
		out = append(out, pt)
	}
	return out
}

// persons is the requested page of actors, in ascending order.
func (a *agg) persons(c *Collector) *insight.PersonList {
	q := a.p.Q
	if len(c.keys) > 0 {
		slices.SortFunc(a.ids, func(x, y int64) int { return strings.Compare(c.keys[x], c.keys[y]) })
	} else {
		slices.Sort(a.ids)
	}
	total := len(a.ids)
	lo := min(q.Offset, total)
	hi := min(lo+q.Limit, total)
	ids := make([]any, 0, hi-lo)
	for _, id := range a.ids[lo:hi] {
		ids = append(ids, c.actorID(id))
	}
	return &insight.PersonList{IDs: ids, Total: int64(total), HasMore: hi < total}
}
