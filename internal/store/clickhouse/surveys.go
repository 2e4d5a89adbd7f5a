package clickhouse

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/journey-dev/journey/internal/store"
)

// SurveyResponses reads one survey's `survey sent` events as DuckDB's
// does: the person after merges, the time (ts_us), the person's current
// breakdown value and the raw JSON of each key (visitParamExtractRaw; ""
// when absent), ordered by person, time and uuid in string order.
func (s *Store) SurveyResponses(ctx context.Context, projectID int64, q *store.SurveyQuery) ([]store.SurveyResponse, error) {
	if len(q.Keys) > store.MaxSurveyKeys {
		return nil, fmt.Errorf("cannot read %d survey properties: at most %d", len(q.Keys), store.MaxSurveyKeys)
	}
	inner := sqlf("SELECT person_id, ts_us, toString(uuid) AS u, properties FROM "+s.events+
		" WHERE project_id = ? AND event = ? AND ts >= ? AND ts < ? AND ", uint64(projectID), store.SurveyEvent, q.From.UTC(), q.To.UTC())
	inner.AddFrag(prop("properties", "$survey_id"))
	inner.Add(" = ?", q.SurveyID)
	rows := sqlf("SELECT " + pidExpr + " AS pid, ts_us, u, properties FROM (")
	rows.AddFrag(inner)
	rows.Add(") ANY LEFT JOIN (" + s.overridesSQL() + ") USING person_id")
	seg := sqlf("''")
	if q.Breakdown != "" {
		joined := sqlf("SELECT pid, ts_us, u, properties, pprops FROM (")
		joined.AddFrag(rows)
		joined.Add(") ANY LEFT JOIN ("+s.personPropsSQL()+") USING pid", uint64(projectID))
		rows, seg = joined, breakdownFrag("pprops", q.Breakdown)
		if len(q.Fallback) > 0 {
			// The first of the properties that is set, as DuckDB's coalesce.
			seg = sqlf("multiIf(")
			for _, name := range append([]string{q.Breakdown}, q.Fallback...) {
				v := breakdownFrag("pprops", name)
				seg.AddFrag(v)
				seg.Add(" != '$none', ")
				seg.AddFrag(v)
				seg.Add(", ")
			}
			seg.Add("'$none')")
		}
	}
	f := sqlf("SELECT pid, ts_us, ")
	f.AddFrag(seg)
	for _, k := range q.Keys {
		f.Add(", visitParamExtractRaw(properties, ?)", k)
	}
	f.Add(" FROM (")
	f.AddFrag(rows)
	f.Add(") ORDER BY pid, ts_us, u LIMIT ?", uint64(q.Limit))
	res, err := s.query(ctx, f.Text, f.Args...)
	if err != nil {
		return nil, fmt.Errorf("cannot read the responses of survey %q: %w", q.SurveyID, err)
	}
	defer res.Close()
	out := []store.SurveyResponse{}
	for res.Next() {
		var resp store.SurveyResponse
		var us uint64
		vals := make([]string, len(q.Keys))
		dest := []any{&resp.PersonID, &us, &resp.Segment}
		for i := range vals {
			dest = append(dest, &vals[i])
		}
		if err := res.Scan(dest...); err != nil {
			return nil, fmt.Errorf("cannot read the responses of survey %q: %w", q.SurveyID, err)
		}
		resp.Timestamp = time.UnixMicro(int64(us)).UTC()
		resp.Values = make([]json.RawMessage, len(vals))
		for i, v := range vals {
			if v != "" && v != "null" {
				resp.Values[i] = json.RawMessage(v)
			}
		}
		out = append(out, resp)
	}
	return out, res.Err()
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
	f := sqlf("SELECT sid, count() FROM (SELECT ")
	f.AddFrag(prop("properties", "$survey_id"))
	f.Add(" AS sid FROM "+s.events+" WHERE project_id = ? AND event = ?) WHERE has(?, sid)", uint64(projectID), store.SurveyEvent, surveyIDs)
	f.Add(" GROUP BY sid")
	res, err := s.query(ctx, f.Text, f.Args...)
	if err != nil {
		return nil, fmt.Errorf("cannot count survey responses: %w", err)
	}
	defer res.Close()
	for res.Next() {
		var id string
		var n uint64
		if err := res.Scan(&id, &n); err != nil {
			return nil, fmt.Errorf("cannot count survey responses: %w", err)
		}
		out[id] = int64(n)
	}
	return out, res.Err()
}
