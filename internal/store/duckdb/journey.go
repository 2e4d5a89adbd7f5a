package duckdb

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/journey-dev/journey/internal/insight"
)

// matchExpr compiles a matcher into a boolean SQL expression over the
// source's e (event) and p (person) columns.
func matchExpr(src *source, m insight.Matcher) (string, []any) {
	var w where
	w.and(eventCond("e.", m.Event, m.Action))
	w.filters(m.Filters)
	src.persons = src.persons || w.persons
	return "(" + w.sql() + ")", w.args
}

// anyMatch ORs matchers.
func anyMatch(src *source, ms []insight.Matcher) (string, []any) {
	var parts []string
	var args []any
	for _, m := range ms {
		expr, a := matchExpr(src, m)
		parts = append(parts, expr)
		args = append(args, a...)
	}
	return "(" + strings.Join(parts, " OR ") + ")", args
}

func stageEvents(stages []insight.Stage) []string {
	seen := map[string]bool{}
	var out []string
	for _, st := range stages {
		for _, m := range st.Events {
			for _, e := range insight.EventNames(m.Event, m.Action) {
				if !seen[e] {
					seen[e] = true
					out = append(out, e)
				}
			}
		}
	}
	return out
}

// Journey runs the customer-journey funnel: cumulative stages per actor,
// overall and by the channel of each actor's first stage-1 event.
func (s *Store) Journey(ctx context.Context, projectID int64, tz *time.Location, q *insight.Journey) (*insight.JourneyResult, error) {
	src := newSource(projectID, &q.Range, stageEvents(q.Stages)...)
	var counts []string
	reached := "true"
	for i, st := range q.Stages {
		expr, args := anyMatch(&src, st.Events)
		src.extra = append(src.extra, expr+fmt.Sprintf(" AS m%d", i))
		src.extraArgs = append(src.extraArgs, args...)
		reached += fmt.Sprintf(" AND c%d >= %d", i, st.MinCount)
		counts = append(counts, "count(*) FILTER (WHERE "+reached+")")
	}
	col := "e.properties"
	if q.Breakdown.Type == "person" {
		col = "p.properties"
		src.persons = true
	}
	src.extra = append(src.extra, "coalesce(json_extract_string("+col+", ?), '$none') AS bv")
	src.extraArgs = append(src.extraArgs, propPath(q.Breakdown.Property))
	from, args := src.sql()
	var sums []string
	for i := range q.Stages {
		sums = append(sums, fmt.Sprintf("count_if(m%d) AS c%d", i, i))
	}
	query := `WITH s AS (` + from + `),
per AS (SELECT actor, ` + strings.Join(sums, ", ") + `, arg_min(bv, ts) FILTER (WHERE m0) AS bv FROM s GROUP BY actor)
SELECT grouping(bv) AS total, coalesce(bv, '$none'), ` + strings.Join(counts, ", ") + `
FROM per GROUP BY GROUPING SETS ((), (bv))`
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("cannot run journey: %w", err)
	}
	defer rows.Close()
	res := &insight.JourneyResult{Kind: "journey", Breakdown: []insight.JourneyBreakdown{}}
	for rows.Next() {
		var total int
		var bv string
		c := make([]int64, len(q.Stages))
		dest := []any{&total, &bv}
		for i := range c {
			dest = append(dest, &c[i])
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		res.AddCounts(q.Stages, total == 1, bv, c)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	res.Finish(q.Stages, q.Breakdown.Limit)
	return res, nil
}
