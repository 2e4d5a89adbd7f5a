package duckdb

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/journey-dev/journey/internal/store"
)

// EventNames counts a project's events by name.
func (s *Store) EventNames(ctx context.Context, projectID int64, from, to time.Time, limit int) ([]store.NameCount, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT event, count(*) AS n FROM events
		WHERE project_id = ? AND ts >= ? AND ts < ? GROUP BY event ORDER BY n DESC, event LIMIT ?`,
		projectID, from.UTC(), to.UTC(), limit)
	if err != nil {
		return nil, fmt.Errorf("cannot count event names: %w", err)
	}
	defer rows.Close()
	out := []store.NameCount{}
	for rows.Next() {
		var nc store.NameCount
		if err := rows.Scan(&nc.Name, &nc.Count); err != nil {
			return nil, err
		}
		out = append(out, nc)
	}
	return out, rows.Err()
}

// SampleProperties returns recent events' or persons' properties.
func (s *Store) SampleProperties(ctx context.Context, projectID int64, event string, persons bool, n int) ([]string, error) {
	q, args := `SELECT properties FROM events WHERE project_id = ? AND (? = '' OR event = ?) ORDER BY ts DESC LIMIT ?`, []any{projectID, event, event, n}
	if persons {
		q, args = `SELECT properties FROM persons WHERE project_id = ? ORDER BY id DESC LIMIT ?`, []any{projectID, n}
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("cannot sample properties: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var p sql.NullString
		if err := rows.Scan(&p); err != nil {
			return nil, err
		}
		if p.Valid {
			out = append(out, p.String)
		}
	}
	return out, rows.Err()
}

// SearchPersons finds persons by distinct id, property value or id. The
// property match looks for the JSON encoding of q, so "ann" matches the
// value "ann" and not "joanna".
func (s *Store) SearchPersons(ctx context.Context, projectID int64, q string, limit int) ([]int64, error) {
	needle, _ := json.Marshal(q)
	id, _ := strconv.ParseInt(q, 10, 64)
	rows, err := s.db.QueryContext(ctx, `SELECT id FROM persons WHERE project_id = ? AND (? = ''
			OR id = ?
			OR id IN (SELECT person_id FROM person_distinct_ids WHERE project_id = ? AND contains(distinct_id, ?))
			OR contains(properties, ?))
		ORDER BY id DESC LIMIT ?`, projectID, q, id, projectID, q, string(needle), limit)
	if err != nil {
		return nil, fmt.Errorf("cannot search persons for %q: %w", q, err)
	}
	defer rows.Close()
	out := []int64{}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// PersonByID returns a person and its distinct ids.
func (s *Store) PersonByID(ctx context.Context, projectID, personID int64) (store.Person, []string, error) {
	p, err := scanPerson(s.db.QueryRowContext(ctx, `SELECT id, project_id, created_at, properties FROM persons WHERE project_id = ? AND id = ?`, projectID, personID))
	if errors.Is(err, sql.ErrNoRows) {
		return p, nil, store.ErrNotFound
	}
	if err != nil {
		return p, nil, fmt.Errorf("cannot read person %d: %w", personID, err)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT distinct_id FROM person_distinct_ids WHERE project_id = ? AND person_id = ? ORDER BY distinct_id`, projectID, p.ID)
	if err != nil {
		return p, nil, err
	}
	defer rows.Close()
	ids := []string{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return p, nil, err
		}
		ids = append(ids, id)
	}
	return p, ids, rows.Err()
}

// PersonEvents returns a person's latest events, merged persons' included.
func (s *Store) PersonEvents(ctx context.Context, projectID, personID int64, limit int) ([]store.Row, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT uuid::VARCHAR, event, distinct_id, ts, properties, received_at FROM events
		WHERE project_id = ? AND (person_id = ? OR person_id IN (SELECT old_person_id FROM person_overrides WHERE project_id = ? AND person_id = ?))
		ORDER BY ts DESC, uuid LIMIT ?`, projectID, personID, projectID, personID, limit)
	if err != nil {
		return nil, fmt.Errorf("cannot read events of person %d: %w", personID, err)
	}
	defer rows.Close()
	out := []store.Row{}
	for rows.Next() {
		r := store.Row{ProjectID: projectID, PersonID: personID}
		var id string
		var props sql.NullString
		if err := rows.Scan(&id, &r.Event, &r.DistinctID, &r.Timestamp, &props, &r.ReceivedAt); err != nil {
			return nil, err
		}
		u, err := uuid.Parse(id)
		if err != nil {
			return nil, err
		}
		r.UUID = u
		r.Properties = json.RawMessage(props.String)
		out = append(out, r)
	}
	return out, rows.Err()
}
