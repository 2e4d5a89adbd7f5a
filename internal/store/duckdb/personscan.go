package duckdb

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/journey-dev/journey/internal/store"
)

var _ store.PersonScanner = (*Store)(nil)

var emptyObject = []byte("{}")

// ScanPersons implements store.PersonScanner: two sequential scans (the
// persons, then the distinct ids) of the project's rows.
func (s *Store) ScanPersons(ctx context.Context, projectID int64, person func(int64, []byte) error, id func(string, int64) error) error {
	rows, err := s.db.QueryContext(ctx, `SELECT id, properties FROM persons WHERE project_id = ?`, projectID)
	if err != nil {
		return fmt.Errorf("cannot scan persons of project %d: %w", projectID, err)
	}
	var pid int64
	var props sql.RawBytes
	for rows.Next() {
		if err := rows.Scan(&pid, &props); err != nil {
			rows.Close()
			return fmt.Errorf("cannot scan persons of project %d: %w", projectID, err)
		}
		p := []byte(props)
		if len(p) == 0 {
			p = emptyObject // a NULL column
		}
		if err := person(pid, p); err != nil {
			rows.Close()
			return err
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("cannot scan persons of project %d: %w", projectID, err)
	}
	rows, err = s.db.QueryContext(ctx, `SELECT distinct_id, person_id FROM person_distinct_ids WHERE project_id = ?`, projectID)
	if err != nil {
		return fmt.Errorf("cannot scan distinct ids of project %d: %w", projectID, err)
	}
	defer rows.Close()
	var did string
	for rows.Next() {
		if err := rows.Scan(&did, &pid); err != nil {
			return fmt.Errorf("cannot scan distinct ids of project %d: %w", projectID, err)
		}
		if err := id(did, pid); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("cannot scan distinct ids of project %d: %w", projectID, err)
	}
	return nil
}
