package clickhouse

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/journey-dev/journey/internal/insight"
)

// Funnel runs ordered funnels with ClickHouse's windowFunnel, whose default
// mode is the spec's "ordered" semantics. On ClickHouse 18 windowFunnel
// takes DateTime (whole seconds), so two steps in the same second may
// order differently than on DuckDB, which keeps microseconds.
func (s *Store) Funnel(ctx context.Context, projectID int64, tz *time.Location, q *insight.Funnel) (*insight.FunnelResult, error) {
	switch {
	case q.Order != "" && q.Order != "ordered":
		return nil, unsupported("order", "order "+q.Order)
	case len(q.Exclusions) > 0:
		return nil, unsupported("exclusions", "funnel exclusions")
	case q.Breakdown != nil:
		return nil, unsupported("breakdown", "a funnel breakdown")
	case q.Persons != "":
		return nil, unsupported("persons", "funnel person lists")
	case q.OverTime != "":
		return nil, unsupported("over_time", "funnel conversion over time")
	}
	var names []string
	seen := map[string]bool{}
	var conds []string
	var condArgs []any
	for _, st := range q.Steps {
		if !seen[st.Event] {
			seen[st.Event] = true
			names = append(names, st.Event)
		}
		var w where
		w.add("event = ?", st.Event)
		for _, f := range st.Filters {
			if f.Type != "" && f.Type != "event" {
				return nil, unsupported("steps", "a "+f.Type+" filter on a funnel step")
			}
			w.filter("properties", f)
		}
		conds = append(conds, "("+w.sql()+")")
		condArgs = append(condArgs, w.args...)
	}
	src := s.newSource(projectID, &q.Range, names...)
	from, fromArgs, err := src.sql()
	if err != nil {
		return nil, err
	}
	query := fmt.Sprintf(`SELECT level, count() FROM (
  SELECT actor, windowFunnel(%d)(ts, %s) AS level FROM (%s) GROUP BY actor)
GROUP BY level`, int64(q.WindowDur/time.Second), strings.Join(conds, ", "), from)
	rows, err := s.q().Query(ctx, query, append(condArgs, fromArgs...)...)
	if err != nil {
		return nil, fmt.Errorf("cannot run funnel: %w", err)
	}
	defer rows.Close()
	levels := make([]int64, len(q.Steps)+1)
	for rows.Next() {
		var level uint8
		var n uint64
		if err := rows.Scan(&level, &n); err != nil {
			return nil, err
		}
		if int(level) < len(levels) {
			levels[level] = int64(n)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	res := &insight.FunnelResult{Kind: "funnel"}
	for i, st := range q.Steps {
		var count int64
		for l := i + 1; l < len(levels); l++ {
			count += levels[l]
		}
		r := insight.FunnelStepResult{Event: st.Event, Label: st.Label, Count: count}
		if r.Label == "" {
			r.Label = st.Event
		}
		res.Steps = append(res.Steps, r)
	}
	for i := range res.Steps {
		first, prev := res.Steps[0].Count, res.Steps[max(0, i-1)].Count
		res.Steps[i].Conversion = insight.Ratio(res.Steps[i].Count, first)
		res.Steps[i].StepConversion = insight.Ratio(res.Steps[i].Count, prev)
	}
	return res, nil
}
