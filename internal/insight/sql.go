package insight

import (
	"encoding/json"
	"fmt"
	"strings"
)

// SQL is {"kind":"sql"}: a read-only SELECT over the project's own data,
// exposed as the tables events(uuid, event, distinct_id, person_id,
// timestamp, properties), persons(id, created_at, properties) and
// groups(group_type, group_key, created_at, properties).
type SQL struct {
	Query string `json:"query"`
	Limit int    `json:"limit,omitempty"` // rows returned, default 1000, at most 10000
}

// SQLResult is the answer: column names and rows.
type SQLResult struct {
	Kind      string   `json:"kind"`
	Columns   []string `json:"columns"`
	Rows      [][]any  `json:"rows"`
	Truncated bool     `json:"truncated"`
	// NonFinite lists the cells whose NaN or ±Inf reads as null
	// ("rows[0][1]"): JSON has no such numbers.
	NonFinite []string `json:"non_finite,omitempty"`

	size int // bytes of the cells so far (AddRow)
}

// MaxSQLAnswer bounds the bytes of one sql answer's cells (the row limit
// alone does not: a cell can hold a long text), so an answer cannot make
// the server hold more than this for one request.
const MaxSQLAnswer = 64 << 20

// AddRow appends one row of rendered cells; finite[i] false marks cell i
// as a NaN or ±Inf shown as null. Past MaxSQLAnswer it refuses the row.
func (r *SQLResult) AddRow(cells []any, finite []bool) error {
	for _, c := range cells {
		r.size += cellSize(c)
	}
	if r.size > MaxSQLAnswer {
		return bad("query", "the answer is larger than %d MiB; select fewer rows or shorter columns", MaxSQLAnswer>>20)
	}
	for i, ok := range finite {
		if !ok {
			r.NonFinite = append(r.NonFinite, fmt.Sprintf("rows[%d][%d]", len(r.Rows), i))
		}
	}
	r.Rows = append(r.Rows, cells)
	return nil
}

// cellSize estimates the bytes a rendered cell takes in the answer.
func cellSize(v any) int {
	switch x := v.(type) {
	case string:
		return len(x) + 2
	case json.Number:
		return len(x)
	case []any:
		n := 2
		for _, c := range x {
			n += cellSize(c) + 1
		}
		return n
	case map[string]any:
		n := 2
		for k, c := range x {
			n += len(k) + 4 + cellSize(c)
		}
		return n
	}
	return 8
}

// Validate checks the parts that need no database.
func (q *SQL) Validate() error {
	if strings.TrimSpace(q.Query) == "" {
		return bad("query", "missing")
	}
	if len(q.Query) > 100_000 {
		return bad("query", "longer than 100000 characters")
	}
	if q.Limit == 0 {
		q.Limit = 1000
	}
	if q.Limit < 1 || q.Limit > 10_000 {
		return bad("limit", "must be 1..10000")
	}
	return nil
}
