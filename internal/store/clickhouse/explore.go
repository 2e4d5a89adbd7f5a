package clickhouse

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/journey-dev/journey/internal/store"
)

// EventNames counts a project's events by name.
func (s *Store) EventNames(ctx context.Context, projectID int64, from, to time.Time, limit int) ([]store.NameCount, error) {
	rows, err := s.q().Query(ctx, "SELECT event, count() AS n FROM "+s.events+
		" WHERE project_id = ? AND ts >= ? AND ts < ? GROUP BY event ORDER BY n DESC, event LIMIT ?",
		uint64(projectID), from.UTC(), to.UTC(), uint64(limit))
	if err != nil {
		return nil, fmt.Errorf("cannot count event names: %w", err)
	}
	defer rows.Close()
	out := []store.NameCount{}
	for rows.Next() {
		var nc store.NameCount
		var n uint64
		if err := rows.Scan(&nc.Name, &n); err != nil {
			return nil, err
		}
		nc.Count = int64(n)
		out = append(out, nc)
	}
	return out, rows.Err()
}

// SampleProperties returns recent events' or persons' properties.
func (s *Store) SampleProperties(ctx context.Context, projectID int64, event string, persons bool, n int) ([]string, error) {
	q, args := "SELECT properties FROM "+s.events+" WHERE project_id = ? AND (? = '' OR event = ?) ORDER BY ts DESC, ts_us DESC LIMIT ?",
		[]any{uint64(projectID), event, event, uint64(n)}
	if persons {
		q, args = "SELECT pprops FROM (SELECT id, argMax(properties, version) AS pprops, argMax(is_deleted, version) AS deleted FROM "+s.db+
			".persons WHERE project_id = ? GROUP BY id) WHERE deleted = 0 ORDER BY id DESC LIMIT ?", []any{uint64(projectID), uint64(n)}
	}
	rows, err := s.q().Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("cannot sample properties: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// SearchPersons finds persons by distinct id, property value or id (see
// the DuckDB store: the property match looks for q's JSON encoding).
func (s *Store) SearchPersons(ctx context.Context, projectID int64, q string, limit int) ([]int64, error) {
	needle, _ := json.Marshal(q)
	id, _ := strconv.ParseInt(q, 10, 64)
	current := "SELECT distinct_id, argMax(person_id, version) AS pid FROM " + s.db + ".person_distinct_ids WHERE project_id = ? GROUP BY distinct_id"
	rows, err := s.q().Query(ctx, "SELECT id FROM (SELECT id, argMax(properties, version) AS pprops, argMax(is_deleted, version) AS deleted FROM "+s.db+
		".persons WHERE project_id = ? GROUP BY id) WHERE deleted = 0 AND (? = '' OR id = ? OR position(pprops, ?) > 0"+
		" OR id IN (SELECT pid FROM ("+current+") WHERE position(distinct_id, ?) > 0)) ORDER BY id DESC LIMIT ?",
		uint64(projectID), q, id, string(needle), uint64(projectID), q, uint64(limit))
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
	persons, err := s.Persons(ctx, []int64{personID})
	if err != nil {
		return store.Person{}, nil, err
	}
	p, ok := persons[personID]
	if !ok || p.ProjectID != projectID {
		return store.Person{}, nil, store.ErrNotFound
	}
	rows, err := s.q().Query(ctx, "SELECT distinct_id FROM (SELECT distinct_id, argMax(person_id, version) AS pid FROM "+s.db+".person_distinct_ids WHERE project_id = ? GROUP BY distinct_id) WHERE pid = ? ORDER BY distinct_id",
		uint64(projectID), personID)
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
	merged := "SELECT opid FROM (SELECT old_person_id AS opid, argMax(person_id, version) AS npid FROM " + s.db + ".person_overrides WHERE project_id = ? GROUP BY old_person_id) WHERE npid = ?"
	rows, err := s.q().Query(ctx, "SELECT toString(uuid), event, distinct_id, ts_us, properties, received_at FROM "+s.events+
		" WHERE project_id = ? AND (person_id = ? OR person_id IN ("+merged+")) ORDER BY ts_us DESC, uuid LIMIT ?",
		uint64(projectID), personID, uint64(projectID), personID, uint64(limit))
	if err != nil {
		return nil, fmt.Errorf("cannot read events of person %d: %w", personID, err)
	}
	defer rows.Close()
	out := []store.Row{}
	for rows.Next() {
		r := store.Row{ProjectID: projectID, PersonID: personID}
		var id, props string
		var us uint64
		if err := rows.Scan(&id, &r.Event, &r.DistinctID, &us, &props, &r.ReceivedAt); err != nil {
			return nil, err
		}
		u, err := uuid.Parse(id)
		if err != nil {
			return nil, err
		}
		r.UUID, r.Timestamp, r.Properties = u, time.UnixMicro(int64(us)).UTC(), json.RawMessage(props)
		out = append(out, r)
	}
	return out, rows.Err()
}
