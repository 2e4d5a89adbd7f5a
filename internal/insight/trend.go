package insight

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// SeriesValues is what a store computes for one series over one range:
// breakdown value ("" without breakdown) → bucket label → value.
type SeriesValues func(r Range, s Series) (map[string]map[string]float64, error)

// RunTrend assembles a trend from a store's per-series values: every
// series over the range's buckets, the previous period when asked, and
// the formula. Stores differ only in SeriesValues.
func RunTrend(q *Trend, tz *time.Location, values SeriesValues) (*TrendResult, error) {
	over := func(r Range) ([]SeriesResult, error) {
		buckets := Buckets(r.From, r.To, tz, q.Interval)
		var out []SeriesResult
		for i, s := range q.Series {
			v, err := values(r, s)
			if err != nil {
				return nil, err
			}
			out = append(out, SeriesPoints(i, s, r.Breakdown != nil, q.Interval, buckets, v)...)
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
		return ApplyFormula(q, res)
	}
	return res, nil
}

// PreviousRange is the period of the same length just before the range.
func (t *Trend) PreviousRange() Range {
	r := t.Range
	d := r.To.Sub(r.From)
	r.From, r.To = r.From.Add(-d), r.From
	return r
}

// SeriesPoints turns a store's values for query series number idx
// (breakdown value → bucket label → value; "" without breakdown) into
// result series with a point for every bucket. Breakdown series are
// ordered by their total, "$other" last.
func SeriesPoints(idx int, s Series, breakdown bool, interval string, buckets []time.Time, values map[string]map[string]float64) []SeriesResult {
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
			if (keys[i] == "$other") != (keys[j] == "$other") {
				return keys[j] == "$other"
			}
			if sums[keys[i]] != sums[keys[j]] {
				return sums[keys[i]] > sums[keys[j]]
			}
			return keys[i] < keys[j]
		})
	}
	var out []SeriesResult
	for _, k := range keys {
		sr := SeriesResult{Label: s.Label, Points: make([]Point, len(buckets)), index: idx}
		if breakdown {
			v := k
			sr.BreakdownValue = &v
			sr.Label = s.Label + " - " + k
		}
		for i, b := range buckets {
			label := Label(b, interval)
			sr.Points[i] = Point{T: label, Value: values[k][label]}
		}
		out = append(out, sr)
	}
	return out
}

// ApplyFormula replaces the series of res by the formula's result, per
// breakdown value and per period (current and previous).
func ApplyFormula(q *Trend, res *TrendResult) (*TrendResult, error) {
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

// TopBySum keeps the limit breakdown values whose points sum highest (ties
// by value) and drops the rest: distinct counts (WAU, MAU) cannot be added
// up into "$other".
func TopBySum(m map[string]map[string]float64, limit int) map[string]map[string]float64 {
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
	out := map[string]map[string]float64{}
	for i, x := range all {
		if i == limit {
			break
		}
		out[x.k] = m[x.k]
	}
	return out
}
