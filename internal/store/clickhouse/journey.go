package clickhouse

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/journey-dev/journey/internal/insight"
)

// Journey runs the customer-journey funnel with the DuckDB store's
// semantics: cumulative stages per actor, overall and by the breakdown
// value of each actor's first stage-1 event (for a person property, the
// current value of that event's person after merges).
func (s *Store) Journey(ctx context.Context, projectID int64, tz *time.Location, q *insight.Journey) (*insight.JourneyResult, error) {
	if len(q.Stages) == 0 {
		return nil, insight.Bad("stages", "at least one stage is needed")
	}
	var events []string
	seen := map[string]bool{}
	for _, st := range q.Stages {
		for _, m := range st.Events {
			for _, e := range insight.EventNames(m.Event, m.Action) {
				if !seen[e] {
					seen[e] = true
					events = append(events, e)
				}
			}
		}
	}
	src := s.newSource(projectID, &q.Range, events...)
	var sums, counts []string
	reached := "1"
	for i, st := range q.Stages {
		expr, args := src.match(st.Events)
		src.extra = append(src.extra, fmt.Sprintf("%s AS stage_match_%d", expr, i))
		src.extraArgs = append(src.extraArgs, args...)
		sums = append(sums, fmt.Sprintf("countIf(stage_match_%d = 1) AS stage_count_%d", i, i))
		reached += fmt.Sprintf(" AND stage_count_%d >= %d", i, st.MinCount)
		counts = append(counts, "countIf("+reached+")")
	}
	b := q.Breakdown
	if b == nil {
		b = &insight.Breakdown{Property: "utm_source"} // validation's default
	}
	src.breakdown(b)
	from, fromArgs, err := src.sql()
	if err != nil {
		return nil, err
	}
	// Per actor: the stage counts and the breakdown value of the first
	// stage-1 event (ts_us orders within a second).
	per := `SELECT actor, ` + strings.Join(sums, ", ") + `, argMinIf(bv, ts_us, stage_match_0 = 1) AS first_bv, max(stage_match_0) AS has_first
  FROM (` + from + `) GROUP BY actor`
	query := `SELECT toUInt8(1) AS total, '' AS value, ` + strings.Join(counts, ", ") + ` FROM (` + per + `)
UNION ALL
SELECT toUInt8(0), first_bv, ` + strings.Join(counts, ", ") + ` FROM (` + per + `) WHERE has_first = 1 GROUP BY first_bv`
	args := append(append([]any{}, fromArgs...), fromArgs...)
	rows, err := s.query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("cannot run journey: %w", err)
	}
	defer rows.Close()
	res := &insight.JourneyResult{Kind: "journey", Breakdown: []insight.JourneyBreakdown{}}
	for rows.Next() {
		var total uint8
		var bv string
		raw := make([]uint64, len(q.Stages))
		dest := []any{&total, &bv}
		for i := range raw {
			dest = append(dest, &raw[i])
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		c := make([]int64, len(raw))
		for i, n := range raw {
			c[i] = int64(n)
		}
		res.AddCounts(q.Stages, total == 1, bv, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot run journey: %w", err)
	}
	limit := 0
	if q.Breakdown != nil {
		limit = q.Breakdown.Limit
	}
	res.Finish(q.Stages, limit)
	return res, nil
}
