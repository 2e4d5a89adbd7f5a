package postgres

import (
	"database/sql"
	"testing"

	"github.com/journey-dev/journey/internal/meta"
	"github.com/journey-dev/journey/internal/meta/metatest"
)

func TestShareTokensHashedOnOpen(t *testing.T) {
	dsn := freshDB(t)
	metatest.ShareTokensHashedOnOpen(t, func(t *testing.T) meta.Store { return open(t, dsn) },
		func(s meta.Store) *sql.DB { return s.(*Store).db })
}
