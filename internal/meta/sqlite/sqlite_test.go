package sqlite

import (
	"context"
	"path/filepath"
	"sync"
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

// TestConcurrentOpen: journey processes started at once on one data dir.
// Each Open is its own *sql.DB, its own SQLite connection, as a second
// process's would be; without the migration lock they race on CREATE
// TABLE and fail.
func TestConcurrentOpen(t *testing.T) {
	for round := 0; round < 3; round++ {
		path := filepath.Join(t.TempDir(), "meta.db")
		const n = 12
		stores := make([]*Store, n)
		errs := make([]error, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range stores {
			wg.Go(func() {
				<-start
				stores[i], errs[i] = Open(path)
			})
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d: open %d: %v", round, i, err)
			}
			t.Cleanup(func() { stores[i].Close() })
		}
		list, err := migrationList()
		if err != nil {
			t.Fatal(err)
		}
		for i, s := range stores {
			got := metatest.AppliedVersions(t, s.db)
			if len(got) != len(list) {
				t.Fatalf("round %d: store %d: schema_migrations = %v, want the %d embedded migrations", round, i, got, len(list))
			}
			for _, m := range list {
				if got[m.Version] != 1 {
					t.Fatalf("round %d: migration %d recorded %d times (%v)", round, m.Version, got[m.Version], got)
				}
			}
		}
		// And they share one working schema.
		ctx := context.Background()
		p, secret, err := stores[1].CreateProject(ctx, "shop", "UTC")
		if err != nil {
			t.Fatal(err)
		}
		if got, err := stores[n-1].ProjectBySecret(ctx, secret); err != nil || got.ID != p.ID {
			t.Fatalf("another process's ProjectBySecret = %+v, %v", got, err)
		}
	}
}
