package insight

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// TrendCounts is a store's values of one trend series over one range
// (the query's, or the previous one for a comparison) in periods p: rows
// (Breakdown, Period, Value), Period indexing p.Starts, none for a period
// without a value. With a breakdown the store folds the values beyond
// r.Breakdown.Limit into "$other", ranking them by its aggregate; for wau
// and mau (p.Windows) Period indexes the windows' Ends instead, every
// value is handed back and insight keeps the top ones, as distinct counts
// cannot be added up into "$other".
type TrendCounts func(r Range, s Series, p Periods) ([]CountRow, error)

// RunTrend answers a trend from a store's counts: every series over the
// range's periods, the previous period when asked, and the formula. now
// is the query run's one reading of the store's clock.
func RunTrend(q *Trend, tz *time.Location, now time.Time, counts TrendCounts) (*TrendResult, error) {
	over := func(r Range) ([]SeriesResult, error) {
		p := NewPeriods(r.From, r.To, tz, q.Interval, now)
		var out []SeriesResult
		for i, s := range q.Series {
			v, err := trendValues(r, s, p, counts)
			if err != nil {
				return nil, err
			}
			out = append(out, seriesPoints(i, s, r.Breakdown != nil, p, v)...)
		}
		return out, nil
	}
	cur, err := over(q.Range)
	if err != nil {
		return nil, err
	}
	res := &TrendResult{Kind: "trend", Series: cur}
	if q.Compare {
		prev, err := over(q.PreviousRange())
		if err != nil {
			return nil, err
		}
		for i := range prev {
			prev[i].Compare = "previous"
		}
		res.Series = append(res.Series, prev...)
	}
	if q.Formula != "" {
		return applyFormula(q, res)
	}
	return res, nil
}

// trendValues asks the store for a series' counts: breakdown value (""
// without breakdown) → value per period. A value has a key once the
// store hands back a row for it; rows outside the periods are dropped.
func trendValues(r Range, s Series, p Periods, counts TrendCounts) (map[string][]float64, error) {
	if p.Len() == 0 {
		return nil, nil
	}
	rows, err := counts(r, s, p)
	if err != nil {
		return nil, err
	}
	w, windowed := p.Windows(s.Math)
	out := map[string][]float64{}
	for _, row := range rows {
		i := row.Period
		if windowed {
			if i < 0 || i >= len(w.Ends) {
				continue
			}
			i = w.period[i]
		}
		if i < 0 || i >= p.Len() {
			continue
		}
		v := out[row.Breakdown]
		if v == nil {
			v = make([]float64, p.Len())
			out[row.Breakdown] = v
		}
		v[i] += row.Value
	}
	if windowed && r.Breakdown != nil {
		out = topBySum(out, r.Breakdown.Limit)
	}
	return out, nil
}

// PreviousRange is the period of the same length just before the range.
func (t *Trend) PreviousRange() Range {
	r := t.Range
	d := r.To.Sub(r.From)
	r.From, r.To = r.From.Add(-d), r.From
	return r
}

// seriesPoints turns the values of query series number idx (breakdown
// value → value per period; "" without breakdown) into result series
// with a point for every period. Breakdown series are ordered by their
// total, "$other" last.
func seriesPoints(idx int, s Series, breakdown bool, p Periods, values map[string][]float64) []SeriesResult {
	keys := []string{""}
	if breakdown {
		keys = keys[:0]
		sums := map[string]float64{}
		for k, pts := range values {
			keys = append(keys, k)
			for _, v := range pts {
				sums[k] += v
			}
		}
		sort.Slice(keys, func(i, j int) bool {
			if (keys[i] == BreakdownOther) != (keys[j] == BreakdownOther) {
				return keys[j] == BreakdownOther
			}
			if sums[keys[i]] != sums[keys[j]] {
				return sums[keys[i]] > sums[keys[j]]
			}
			return keys[i] < keys[j]
		})
	}
	var out []SeriesResult
	for _, k := range keys {
		sr := SeriesResult{Label: s.Label, Points: make([]Point, p.Len()), index: idx}
		if breakdown {
			v := k
			sr.BreakdownValue = &v
			sr.Label = s.Label + " - " + k
		}
		vals := values[k]
		for i := range sr.Points {
			sr.Points[i].T = p.Label(i)
			if vals != nil {
				sr.Points[i].Value = vals[i]
			}
		}
		out = append(out, sr)
	}
	return out
}

// applyFormula replaces the series of res by the formula's result, per
// breakdown value and per period (current and previous).
func applyFormula(q *Trend, res *TrendResult) (*TrendResult, error) {
	expr, err := parseFormula(q.Formula, len(q.Series))
	if err != nil {
		return nil, bad("formula", "%v", err)
	}
	type key struct{ bv, compare string }
	groups := map[key][]*SeriesResult{}
	var order []key
	for i := range res.Series {
		sr := &res.Series[i]
		k := key{compare: sr.Compare}
		if sr.BreakdownValue != nil {
			k.bv = *sr.BreakdownValue
		}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
			groups[k] = make([]*SeriesResult, len(q.Series))
		}
		groups[k][sr.index] = sr
	}
	out := &TrendResult{Kind: res.Kind}
	for _, k := range order {
		members := groups[k]
		var base *SeriesResult
		for _, m := range members {
			if m != nil {
				base = m
				break
			}
		}
		fr := SeriesResult{Label: q.Formula, Compare: k.compare, Points: make([]Point, len(base.Points))}
		if base.BreakdownValue != nil {
			v := k.bv
			fr.BreakdownValue = &v
			fr.Label = q.Formula + " - " + k.bv
		}
		for i, p := range base.Points {
			vals := make([]float64, len(members))
			for j, m := range members {
				if m != nil {
					vals[j] = m.Points[i].Value
				}
			}
			fr.Points[i] = Point{T: p.T, Value: expr(vals)}
		}
		out.Series = append(out.Series, fr)
	}
	return out, nil
}

// parseFormula compiles an arithmetic expression over series letters:
// + - * / and parentheses, numbers, A..T. Division by zero gives 0, as
// dashboards expect, rather than Inf.
func parseFormula(src string, nSeries int) (func([]float64) float64, error) {
	p := &formulaParser{s: strings.ReplaceAll(src, " ", ""), n: nSeries}
	f, err := p.expr()
	if err != nil {
		return nil, err
	}
	if p.i != len(p.s) {
		return nil, fmt.Errorf("unexpected %q at %d", p.s[p.i:], p.i)
	}
	return f, nil
}

type formulaParser struct {
	s string
	i int
	n int
}

func (p *formulaParser) peek() byte {
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

func (p *formulaParser) expr() (func([]float64) float64, error) {
	left, err := p.term()
	if err != nil {
		return nil, err
	}
	for p.peek() == '+' || p.peek() == '-' {
		op := p.peek()
		p.i++
		right, err := p.term()
		if err != nil {
			return nil, err
		}
		l := left
		if op == '+' {
			left = func(v []float64) float64 { return l(v) + right(v) }
		} else {
			left = func(v []float64) float64 { return l(v) - right(v) }
		}
	}
	return left, nil
}

func (p *formulaParser) term() (func([]float64) float64, error) {
	left, err := p.factor()
	if err != nil {
		return nil, err
	}
	for p.peek() == '*' || p.peek() == '/' {
		op := p.peek()
		p.i++
		right, err := p.factor()
		if err != nil {
			return nil, err
		}
		l := left
		if op == '*' {
			left = func(v []float64) float64 { return l(v) * right(v) }
		} else {
			left = func(v []float64) float64 {
				d := right(v)
				if d == 0 {
					return 0
				}
				return l(v) / d
			}
		}
	}
	return left, nil
}

func (p *formulaParser) factor() (func([]float64) float64, error) {
	c := p.peek()
	switch {
	case c == '(':
		p.i++
		f, err := p.expr()
		if err != nil {
			return nil, err
		}
		if p.peek() != ')' {
			return nil, errors.New("missing )")
		}
		p.i++
		return f, nil
	case c == '-':
		p.i++
		f, err := p.factor()
		if err != nil {
			return nil, err
		}
		return func(v []float64) float64 { return -f(v) }, nil
	case c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z':
		idx := int(c|0x20) - 'a'
		if idx >= p.n {
			return nil, fmt.Errorf("series %c does not exist (there are %d)", c, p.n)
		}
		p.i++
		return func(v []float64) float64 { return v[idx] }, nil
	case c >= '0' && c <= '9' || c == '.':
		start := p.i
		for p.i < len(p.s) && (p.s[p.i] >= '0' && p.s[p.i] <= '9' || p.s[p.i] == '.') {
			p.i++
		}
		x, err := strconv.ParseFloat(p.s[start:p.i], 64)
		if err != nil {
			return nil, err
		}
		return func([]float64) float64 { return x }, nil
	case c == 0:
		return nil, errors.New("unexpected end")
	}
	return nil, fmt.Errorf("unexpected %q at %d", string(c), p.i)
}

// topBySum keeps the limit breakdown values whose points sum highest (ties
// by value) and drops the rest: distinct counts (WAU, MAU) cannot be added
// up into "$other".
func topBySum(m map[string][]float64, limit int) map[string][]float64 {
	type kv struct {
		k   string
		sum float64
	}
	var all []kv
	for k, pts := range m {
		sum := 0.0
		for _, v := range pts {
			sum += v
		}
		all = append(all, kv{k, sum})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].sum > all[j].sum || all[i].sum == all[j].sum && all[i].k < all[j].k })
	out := map[string][]float64{}
	for i, x := range all {
		if i == limit {
			break
		}
		out[x.k] = m[x.k]
	}
	return out
}
