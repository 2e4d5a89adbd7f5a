package sqlite

import (
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/journey-dev/journey/internal/meta"
	"github.com/journey-dev/journey/internal/meta/metatest"
)

func TestShareTokensHashedOnOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meta.db")
	metatest.ShareTokensHashedOnOpen(t, func(t *testing.T) meta.Store {
		s, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}, func(s meta.Store) *sql.DB { return s.(*Store).db })
}
