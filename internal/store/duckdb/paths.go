package duckdb

import (
	"context"
	_ "embed"
	"fmt"
	"strings"
	"time"

	"github.com/journey-dev/journey/internal/insight"
)

//go:embed paths.sql
var pathsSQL string

// Paths runs a paths query.
func (s *Store) Paths(ctx context.Context, projectID int64, tz *time.Location, q *insight.Paths) (*insight.PathsResult, error) {
	src := newSource(projectID, &q.Range, q.Events...)
	if len(q.Events) > 0 {
		for _, p := range []*insight.PathPoint{q.Start, q.End} {
			if p != nil {
				src.events = append(src.events, p.Event)
			}
		}
	}
	from, args := src.sql()
	var anchorExpr, anchorWhere, stepExpr, keep string
	switch {
	case q.Start != nil:
		anchorExpr, anchorWhere = "min(rn)", "WHERE event = ?"
		args = append(args, q.Start.Event)
		stepExpr = "o.rn - a.r0 + 1"
		keep = fmt.Sprintf("o.rn >= a.r0 AND o.rn < a.r0 + %d", q.Steps)
	case q.End != nil:
		anchorExpr, anchorWhere = "min(rn)", "WHERE event = ?"
		args = append(args, q.End.Event)
		// Numbered so that the end event is the last step.
		stepExpr = fmt.Sprintf("o.rn - a.r0 + %d", q.Steps)
		keep = fmt.Sprintf("o.rn <= a.r0 AND o.rn > a.r0 - %d", q.Steps)
	default:
		anchorExpr, anchorWhere = "1", ""
		stepExpr = "o.rn"
		keep = fmt.Sprintf("o.rn <= %d", q.Steps)
	}
	query := fmt.Sprintf(pathsSQL, from, anchorExpr, anchorWhere, stepExpr, keep)
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("cannot run paths: %w", err)
	}
	defer rows.Close()
	res := &insight.PathsResult{Kind: "paths", Edges: []insight.PathEdge{}, Paths: []insight.PathCount{}}
	for rows.Next() {
		var kind, a, b string
		var n int64
		if err := rows.Scan(&kind, &a, &b, &n); err != nil {
			return nil, err
		}
		if kind == "edge" {
			res.Edges = append(res.Edges, insight.PathEdge{Source: a, Target: b, Value: n})
		} else {
			res.Paths = append(res.Paths, insight.PathCount{Path: strings.Split(a, "\x1f"), Count: n})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if q.End != nil { // renumber so step 1 is the first event shown
		renumberEnd(res, q.Steps)
	}
	res.Finish(q)
	return res, nil
}

// renumberEnd keeps "before the end event" steps numbered from 1 at the
// earliest shown step of the longest paths (steps count back from Steps).
func renumberEnd(res *insight.PathsResult, steps int) {
	minStep := steps
	for _, e := range res.Edges {
		var st int
		fmt.Sscanf(e.Source, "%d_", &st)
		minStep = min(minStep, st)
	}
	shift := minStep - 1
	if shift <= 0 {
		return
	}
	re := func(node string) string {
		var st int
		fmt.Sscanf(node, "%d_", &st)
		_, name, _ := strings.Cut(node, "_")
		return fmt.Sprintf("%d_%s", st-shift, name)
	}
	for i := range res.Edges {
		res.Edges[i].Source, res.Edges[i].Target = re(res.Edges[i].Source), re(res.Edges[i].Target)
	}
}
