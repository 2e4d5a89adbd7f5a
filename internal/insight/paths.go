package insight

import (
	"sort"
	"strings"
)

// Paths is {"kind":"paths"}: the most common sequences of events after a
// start event (or before an end event, or from each actor's first event).
type Paths struct {
	Start *PathPoint `json:"start,omitempty"`
	End   *PathPoint `json:"end,omitempty"`
	// Steps is the longest path length, start or end event included (2..10, default 5).
	Steps int `json:"steps,omitempty"`
	// EdgeLimit bounds the edges returned (default 50, at most 500).
	EdgeLimit int `json:"edge_limit,omitempty"`
	// PathLimit bounds the whole paths returned (default 20, at most 200).
	PathLimit int `json:"path_limit,omitempty"`
	// Events limits paths to these event names; empty means all events.
	Events []string `json:"events,omitempty"`
	Range
}

// PathPoint names the event a path starts or ends at.
type PathPoint struct {
	Event string `json:"event"`
}

// PathEdge is a transition between consecutive steps; Source and Target
// are "<step>_<event>" (step 1 is the first event of the path), the shape
// sankey charts take.
type PathEdge struct {
	Source string `json:"source"`
	Target string `json:"target"`
	Value  int64  `json:"value"`
}

// PathCount is one whole path and how many actors took it.
type PathCount struct {
	Path  []string `json:"path"`
	Count int64    `json:"count"`
}

// PathsResult is the answer to Paths.
type PathsResult struct {
	Kind  string      `json:"kind"`
	Edges []PathEdge  `json:"edges"`
	Paths []PathCount `json:"paths"`
}

// Validate fills defaults and checks the fields.
func (p *Paths) Validate() error {
	if err := p.Range.validate(); err != nil {
		return err
	}
	if p.Start != nil && p.End != nil {
		return bad("end", "give start or end, not both")
	}
	if p.Start != nil && p.Start.Event == "" {
		return bad("start.event", "missing")
	}
	if p.End != nil && p.End.Event == "" {
		return bad("end.event", "missing")
	}
	if p.Steps == 0 {
		p.Steps = 5
	}
	if p.Steps < 2 || p.Steps > 10 {
		return bad("steps", "must be 2..10")
	}
	if p.EdgeLimit == 0 {
		p.EdgeLimit = 50
	}
	if p.EdgeLimit < 1 || p.EdgeLimit > 500 {
		return bad("edge_limit", "must be 1..500")
	}
	if p.PathLimit == 0 {
		p.PathLimit = 20
	}
	if p.PathLimit < 1 || p.PathLimit > 200 {
		return bad("path_limit", "must be 1..200")
	}
	if len(p.Events) > 100 {
		return bad("events", "at most 100 events")
	}
	return nil
}

// Finish orders edges and paths (most taken first, ties by name, so both
// stores answer alike) and applies the limits.
func (r *PathsResult) Finish(q *Paths) {
	sort.Slice(r.Edges, func(i, j int) bool {
		if r.Edges[i].Value != r.Edges[j].Value {
			return r.Edges[i].Value > r.Edges[j].Value
		}
		return r.Edges[i].Source+r.Edges[i].Target < r.Edges[j].Source+r.Edges[j].Target
	})
	if len(r.Edges) > q.EdgeLimit {
		r.Edges = r.Edges[:q.EdgeLimit]
	}
	sort.Slice(r.Paths, func(i, j int) bool {
		if r.Paths[i].Count != r.Paths[j].Count {
			return r.Paths[i].Count > r.Paths[j].Count
		}
		return strings.Join(r.Paths[i].Path, "\x1f") < strings.Join(r.Paths[j].Path, "\x1f")
	})
	if len(r.Paths) > q.PathLimit {
		r.Paths = r.Paths[:q.PathLimit]
	}
}
