package clickhouse

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/journey-dev/journey/internal/insight"
)

// Paths runs a paths query with the DuckDB store's semantics: each actor's
// events in (time, name) order with consecutive repeats collapsed, cut to
// the steps from the first start event (or up to the first end event, or
// from the first event). ClickHouse 18 has no window functions, so each
// actor's events are an array; the query counts whole paths, and the edges
// follow from them in Go (a path's steps are numbered from 1, or, with an
// end event, so that it is step Steps).
func (s *Store) Paths(ctx context.Context, projectID int64, tz *time.Location, q *insight.Paths) (*insight.PathsResult, error) {
	src := s.newSource(projectID, &q.Range, q.Events...)
	if len(q.Events) > 0 {
		for _, p := range []*insight.PathPoint{q.Start, q.End} {
			if p != nil {
				src.events = append(src.events, p.Event)
			}
		}
	}
	from, fromArgs, err := src.sql()
	if err != nil {
		return nil, err
	}
	var anchor, slice string
	var anchorArgs []any
	switch {
	case q.Start != nil:
		anchor, anchorArgs = "indexOf(deduped, ?)", []any{q.Start.Event}
		slice = fmt.Sprintf("arraySlice(deduped, anchor, %d)", q.Steps)
	case q.End != nil:
		anchor, anchorArgs = "indexOf(deduped, ?)", []any{q.End.Event}
		slice = fmt.Sprintf("arraySlice(deduped, greatest(toInt64(anchor) - %[1]d + 1, 1), least(toInt64(anchor), %[1]d))", q.Steps)
	default:
		anchor = "toUInt64(1)"
		slice = fmt.Sprintf("arraySlice(deduped, 1, %d)", q.Steps)
	}
	query := `SELECT path, count() FROM (
  SELECT arrayStringConcat(` + slice + `, '\x1f') AS path FROM (
    SELECT deduped, ` + anchor + ` AS anchor FROM (
      SELECT arrayMap(x -> tupleElement(x, 2), arraySort(groupArray((ts_us, event)))) AS sorted_events,
        arrayFilter((x, i) -> i = 1 OR x != sorted_events[i - 1], sorted_events, arrayEnumerate(sorted_events)) AS deduped
      FROM (` + from + `) GROUP BY actor))
  WHERE anchor > 0)
GROUP BY path`
	args := append(append([]any{}, anchorArgs...), fromArgs...)
	rows, err := s.query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("cannot run paths: %w", err)
	}
	defer rows.Close()
	res := &insight.PathsResult{Kind: "paths", Edges: []insight.PathEdge{}, Paths: []insight.PathCount{}}
	edges := map[[2]string]int64{}
	longest := 0
	for rows.Next() {
		var path string
		var n uint64
		if err := rows.Scan(&path, &n); err != nil {
			return nil, err
		}
		p := strings.Split(path, "\x1f")
		res.Paths = append(res.Paths, insight.PathCount{Path: p, Count: int64(n)})
		longest = max(longest, len(p))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot run paths: %w", err)
	}
	for _, p := range res.Paths {
		first := 1
		if q.End != nil {
			// Steps count back from the end event; then, as DuckDB's
			// renumbering does, the longest path shown starts at step 1.
			first = longest - len(p.Path) + 1
		}
		for i := 0; i+1 < len(p.Path); i++ {
			edges[[2]string{fmt.Sprintf("%d_%s", first+i, p.Path[i]), fmt.Sprintf("%d_%s", first+i+1, p.Path[i+1])}] += p.Count
		}
	}
	for e, n := range edges {
		res.Edges = append(res.Edges, insight.PathEdge{Source: e[0], Target: e[1], Value: n})
	}
	res.Finish(q)
	return res, nil
}
