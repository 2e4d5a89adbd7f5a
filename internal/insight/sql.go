package insight

import "strings"

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
