package clickhouse

import (
	"context"
	"fmt"

	"github.com/journey-dev/journey/internal/store"
)

var _ store.PersonScanner = (*Store)(nil)

// ScanPersons implements store.PersonScanner: each person's and each
// distinct id's latest version, as Persons and PersonByDistinctID read
// them.
func (s *Store) ScanPersons(ctx context.Context, projectID int64, person func(int64, []byte) error, id func(string, int64) error) error {
	rows, err := s.q().Query(ctx, "SELECT id, argMax(properties, version), argMax(is_deleted, version) AS deleted FROM "+s.db+
		".persons WHERE project_id = ? GROUP BY id HAVING deleted = 0", uint64(projectID))
	if err != nil {
		return fmt.Errorf("cannot scan persons of project %d: %w", projectID, err)
	}
	var pid int64
	var props string
	var deleted uint8
	for rows.Next() {
		if err := rows.Scan(&pid, &props, &deleted); err != nil {
			rows.Close()
			return fmt.Errorf("cannot scan persons of project %d: %w", projectID, err)
		}
		if props == "" {
			props = "{}"
		}
		if err := person(pid, []byte(props)); err != nil {
			rows.Close()
			return err
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("cannot scan persons of project %d: %w", projectID, err)
	}
	rows, err = s.q().Query(ctx, "SELECT distinct_id, argMax(person_id, version) FROM "+s.db+
		".person_distinct_ids WHERE project_id = ? GROUP BY distinct_id", uint64(projectID))
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
