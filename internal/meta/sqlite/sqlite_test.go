package sqlite

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/journey-dev/journey/internal/meta"
	"github.com/journey-dev/journey/internal/meta/metatest"
)

func testdb(t *testing.T) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// harness gives the conformance suite a look at the raw api_keys table.
type harness struct{ *Store }

func (h harness) KeyHashes(ctx context.Context, projectID int64) ([]string, error) {
	rows, err := h.db.QueryContext(ctx, `SELECT key_hash FROM api_keys WHERE project_id = ? ORDER BY id`, projectID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var h string
		if err := rows.Scan(&h); err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, rows.Err()
}

func TestConformance(t *testing.T) {
	metatest.Run(t, func(t *testing.T) meta.Store { return harness{testdb(t)} })
}

func TestMigrateTwice(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meta.db")
	for i := 0; i < 2; i++ {
		s, err := Open(path)
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		s.Close()
	}
}
