package duckdb

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/journey-dev/journey/internal/insight"
	"github.com/journey-dev/journey/internal/store"
)

// SurveyResponses reads one survey's `survey sent` events: the person
// after merges, the time, the person's breakdown value and the raw JSON of
// each key, ordered by person, time and uuid.
func (s *Store) SurveyResponses(ctx context.Context, projectID int64, q *store.SurveyQuery) ([]store.SurveyResponse, error) {
	if len(q.Keys) > store.MaxSurveyKeys {
		return nil, fmt.Errorf("cannot read %d survey properties: at most %d", len(q.Keys), store.MaxSurveyKeys)
	}
	r := insight.Range{From: q.From, To: q.To, Filters: []insight.Filter{{Type: "event", Property: "$survey_id", Op: "eq", Value: q.SurveyID}}}
	src := newSource(projectID, &r, store.SurveyEvent)
	src.column(sqlf("CAST(e.uuid AS VARCHAR) AS u")) // ties in string order, as on ClickHouse
	if q.Breakdown != "" && len(q.Fallback) > 0 {
		// The first of the properties that is set, as ClickHouse's multiIf.
		src.persons = true
		col := sqlf("coalesce(")
		for _, name := range append([]string{q.Breakdown}, q.Fallback...) {
			col.AddFrag(breakdownValue(&insight.Breakdown{Type: "person", Property: name}))
			col.Add(", ")
		}
		col.Add("'$none') AS bv")
		src.column(col)
	} else if q.Breakdown != "" {
		src.breakdownColumn(&insight.Breakdown{Type: "person", Property: q.Breakdown})
	} else {
		src.breakdownColumn(nil)
	}
	cols := "actor, ts, bv"
	for i, k := range q.Keys {
		alias := "v" + strconv.Itoa(i)
		src.column(sqlf("CAST(json_extract(e.properties, ?) AS VARCHAR) AS "+alias, propPath(k)))
		cols += ", " + alias
	}
	f := sqlf("SELECT " + cols + " FROM (")
	f.AddFrag(src.frag())
	f.Add(") ORDER BY actor, ts, u LIMIT ?", q.Limit)
	rows, err := s.db.QueryContext(ctx, f.Text, f.Args...)
	if err != nil {
		return nil, fmt.Errorf("cannot read the responses of survey %q: %w", q.SurveyID, err)
	}
	defer rows.Close()
	out := []store.SurveyResponse{}
	for rows.Next() {
		var resp store.SurveyResponse
		vals := make([]sql.NullString, len(q.Keys))
		dest := []any{&resp.PersonID, &resp.Timestamp, &resp.Segment}
		for i := range vals {
			dest = append(dest, &vals[i])
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("cannot read the responses of survey %q: %w", q.SurveyID, err)
		}
		resp.Timestamp = resp.Timestamp.UTC()
		resp.Values = make([]json.RawMessage, len(vals))
		for i, v := range vals {
			if v.Valid && v.String != "null" {
				resp.Values[i] = json.RawMessage(v.String)
			}
		}
		out = append(out, resp)
	}
	return out, rows.Err()
}

// SurveyResponseCounts counts each survey's `survey sent` events.
func (s *Store) SurveyResponseCounts(ctx context.Context, projectID int64, surveyIDs []string) (map[string]int64, error) {
	out := map[string]int64{}
	if len(surveyIDs) == 0 {
		return out, nil
	}
	if len(surveyIDs) > store.MaxSurveyCount {
		return nil, fmt.Errorf("cannot count the responses of %d surveys: at most %d", len(surveyIDs), store.MaxSurveyCount)
	}
	args := []any{propPath("$survey_id"), projectID, store.SurveyEvent}
	for _, id := range surveyIDs {
		args = append(args, id)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT sid, count(*) FROM (SELECT json_extract_string(properties, ?) AS sid FROM events
		WHERE project_id = ? AND event = ?) WHERE sid IN (`+placeholders(len(surveyIDs))+`) GROUP BY sid`, args...)
	if err != nil {
		return nil, fmt.Errorf("cannot count survey responses: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var n int64
		if err := rows.Scan(&id, &n); err != nil {
			return nil, fmt.Errorf("cannot count survey responses: %w", err)
		}
		out[id] = n
	}
	return out, rows.Err()
}
