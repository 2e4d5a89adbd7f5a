package clickhouse

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/journey-dev/journey/internal/insight"
	"github.com/journey-dev/journey/internal/store/funnelwalk"
)

// Funnel runs a funnel query (SPEC §4) with the DuckDB store's semantics:
// ClickHouse reads the source rows as (actor, µs since from, mask of the
// steps and exclusions matched[, breakdown value]) and funnelwalk, the
// code the DuckDB store runs, walks them in Go.
//
// Plain ordered funnels used to be answered by windowFunnel alone; they
// are walked too, because windowFunnel gives levels but not the step
// times the result's median and p90 come from, and on ClickHouse 18 it
// orders by whole seconds. Measured on this store (8 M generated events,
// 2.4 M step rows, 2 cores shared with the server): windowFunnel 0.91 s,
// the walk 1.08 s, a plain count per actor over the same rows 0.66 s.
func (s *Store) Funnel(ctx context.Context, projectID int64, tz *time.Location, q *insight.Funnel) (*insight.FunnelResult, error) {
	if err := checkFunnelFilters(q); err != nil {
		return nil, err
	}
	p := funnelwalk.NewPlan(q)
	query, args, err := s.funnelRowsSQL(p, projectID)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	rows, err := s.query(ctx, query, args...)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("cannot run funnel: %w", err)
	}
	defer rows.Close()
	defer cancel() // first: a return before the end stops the stream, which Close would read to its end
	c := funnelwalk.NewCollector(p, insight.MemoryCap(ctx))
	f := newFunnelFeed(c, q.GroupType() != "")
	for rows.Next() {
		if err := f.scan(rows); err != nil {
			return nil, fmt.Errorf("cannot read funnel rows: %w", err)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot run funnel: %w", err)
	}
	if err := f.flush(); err != nil {
		return nil, err
	}
	return funnelwalk.Run(c, tz), nil
}

// checkFunnelFilters rejects cohort filters on steps and exclusions, as
// validation does: a cohort filters the whole query (the source applies
// the top-level ones), and the mask below has no term for one.
func checkFunnelFilters(q *insight.Funnel) error {
	check := func(field string, fs []insight.Filter) error {
		for i, f := range fs {
			switch f.Type {
			case "", "event", "person", "element":
			default:
				return insight.Bad(fmt.Sprintf("%s.filters[%d].type", field, i), "a %s filter applies to the whole query: put it in the top-level filters", f.Type)
			}
		}
		return nil
	}
	for i, st := range q.Steps {
		if err := check(fmt.Sprintf("steps[%d]", i), st.Filters); err != nil {
			return err
		}
	}
	for i, x := range q.Exclusions {
		if err := check(fmt.Sprintf("exclusions[%d]", i), x.Filters); err != nil {
			return err
		}
	}
	return nil
}

// funnelRowsSQL selects the funnel's source rows as funnelwalk reads them:
// actor (Int64 person id after merges, or String group key), t (Int64 µs
// since from), m (UInt32 mask of the plan's bits) and, with a breakdown,
// bv (String: the value on rows that can start an attempt, empty on others).
// Person properties, for person step filters or a person breakdown, come
// from the source (pprops: the event's person after merges, as on DuckDB).
func (s *Store) funnelRowsSQL(p *funnelwalk.Plan, projectID int64) (string, []any, error) {
	q := p.Q
	events, stepEvents := q.EventNames() // p.Events() knows no actions
	src := s.newSource(projectID, &q.Range, events...)
	src.persons = funnelNeedsPersons(q)
	from, fromArgs, err := src.sql()
	if err != nil {
		return "", nil, err
	}
	mask, args := funnelMask(p, events[:stepEvents])
	cols := "actor, toInt64(ts_us) - toInt64(?) AS t, toUInt32(" + mask + ") AS m"
	args = append([]any{p.FromUs}, args...)
	if b := q.Breakdown; b != nil {
		col := "properties"
		if b.Type == "person" {
			col = "pprops"
		}
		// Only the events an attempt can start with need their value.
		cols += ", if(bitAnd(m, " + strconv.FormatUint(p.StartMask, 10) + ") != 0, " + breakdownValue(col) + ", '') AS bv"
		args = append(args, breakdownArgs(b.Property)...)
	}
	query := "SELECT " + cols + " FROM (" + from + ")"
	args = append(args, fromArgs...)
	if p.MaskCanBeZero() || q.HasActions() {
		query += " WHERE m != 0"
	}
	return query, args, nil
}

// funnelMask is the sum of one term per step and exclusion (1<<bit when
// the row matches it) and, for strict funnels, the strict bit when the
// row's event is one of stepEvents. The bits are distinct, so the sum is
// their bitwise or.
func funnelMask(p *funnelwalk.Plan, stepEvents []string) (string, []any) {
	var terms []string
	var args []any
	term := func(bit int, event string, action *insight.ActionDef, filters []insight.Filter) {
		var w where
		w.and(eventCond(event, action))
		for _, f := range filters {
			col := "properties"
			if f.Type == "person" {
				col = "pprops"
			}
			w.filter(col, f)
		}
		// A numeric filter on a non-number is NULL: no match.
		terms = append(terms, "if(ifNull("+w.sql()+", 0), "+strconv.FormatUint(1<<bit, 10)+", 0)")
		args = append(args, w.args...)
	}
	for i, st := range p.Q.Steps {
		term(i, st.Event, st.Action, st.Filters)
	}
	for i, x := range p.Q.Exclusions {
		term(p.ExclShift+i, x.Event, x.Action, x.Filters)
	}
	if p.Strict {
		terms = append(terms, "if(has(?, event), "+strconv.FormatUint(p.StrictBit, 10)+", 0)")
		args = append(args, stepEvents)
	}
	return strings.Join(terms, " + "), args
}

// funnelNeedsPersons reports whether the rows need their person's
// properties: a person filter on a step or exclusion, or a person
// breakdown.
func funnelNeedsPersons(q *insight.Funnel) bool {
	if q.Breakdown != nil && q.Breakdown.Type == "person" {
		return true
	}
	for _, st := range q.Steps {
		for _, f := range st.Filters {
			if f.Type == "person" {
				return true
			}
		}
	}
	for _, x := range q.Exclusions {
		for _, f := range x.Filters {
			if f.Type == "person" {
				return true
			}
		}
	}
	return false
}

// funnelBatch is how many rows go to the collector at a time.
const funnelBatch = 4096

// funnelFeed hands scanned rows to the collector in batches, each with
// its own group keys and breakdown values, as DuckDB's chunks do.
type funnelFeed struct {
	c      *funnelwalk.Collector
	p      *funnelwalk.Plan
	groups bool
	rows   []funnelwalk.Row
	keys   []string
	values []string
	// the scan targets, reused: actor or key, t, m[, bv]
	dest  []any
	actor int64
	key   string
	t     int64
	m     uint32
	bv    string
}

func newFunnelFeed(c *funnelwalk.Collector, groups bool) *funnelFeed {
	f := &funnelFeed{c: c, p: c.Plan(), groups: groups}
	if groups {
		f.dest = append(f.dest, &f.key)
	} else {
		f.dest = append(f.dest, &f.actor)
	}
	f.dest = append(f.dest, &f.t, &f.m)
	if f.p.Breakdown {
		f.dest = append(f.dest, &f.bv)
	}
	return f
}

type scanner interface{ Scan(dest ...any) error }

// scan reads one row and adds it to the batch.
func (f *funnelFeed) scan(rows scanner) error {
	if err := rows.Scan(f.dest...); err != nil {
		return err
	}
	r := funnelwalk.Row{Actor: f.actor, T: f.t, M: f.m, BV: -1}
	if f.groups {
		r.Actor = int64(len(f.keys))
		f.keys = append(f.keys, f.key)
	}
	if f.p.Breakdown && uint64(f.m)&f.p.StartMask != 0 {
		r.BV = int32(len(f.values))
		f.values = append(f.values, f.bv)
	}
	f.rows = append(f.rows, r)
	if len(f.rows) == funnelBatch {
		return f.flush()
	}
	return nil
}

// flush hands the batch to the collector, which keeps none of its slices.
func (f *funnelFeed) flush() error {
	var err error
	if len(f.rows) > 0 {
		err = f.c.Add(f.rows, f.keys, f.values)
	}
	f.rows, f.keys, f.values = f.rows[:0], f.keys[:0], f.values[:0]
	return err
}
