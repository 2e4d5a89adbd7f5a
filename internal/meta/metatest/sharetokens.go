package metatest

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"testing"

	"github.com/journey-dev/journey/internal/meta"
)

// ShareTokensHashedOnOpen checks the upgrade of share tokens stored in
// plaintext before migration 0016: open makes a store on one database
// (each call a new open of the same one), db is its raw connection. A row
// written the old way (share_token set, no hash) is hashed when the store
// opens again: the old link still opens the dashboard, and the plaintext is
// gone from the table.
func ShareTokensHashedOnOpen(t *testing.T, open func(t *testing.T) meta.Store, db func(meta.Store) *sql.DB) {
	ctx := context.Background()
	s := open(t)
	p, _, err := s.CreateProject(ctx, "old", "UTC")
	if err != nil {
		t.Fatal(err)
	}
	d := try(s.CreateDashboard(ctx, meta.Dashboard{ProjectID: p.ID, Name: "Shared before 0016"})).must(t)
	other := try(s.CreateDashboard(ctx, meta.Dashboard{ProjectID: p.ID, Name: "Never shared"})).must(t)
	// Literal SQL (the ids are ours): the placeholders differ by dialect.
	if _, err := db(s).ExecContext(ctx, fmt.Sprintf(`UPDATE dashboards SET share_token = 'jsh_plain', share_token_hash = NULL WHERE id = %d`, d.ID)); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s = open(t)
	if got := try(s.DashboardByShareToken(ctx, "jsh_plain")).must(t); got.ID != d.ID || !got.Shared {
		t.Fatalf("DashboardByShareToken of a pre-0016 token = %+v, want dashboard %d", got, d.ID)
	}
	if got := try(s.Dashboard(ctx, p.ID, other.ID)).must(t); got.Shared {
		t.Fatalf("a dashboard never shared reads as shared: %+v", got)
	}
	var plain sql.NullString
	var hash string
	if err := db(s).QueryRowContext(ctx, fmt.Sprintf(`SELECT share_token, share_token_hash FROM dashboards WHERE id = %d`, d.ID)).Scan(&plain, &hash); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte("jsh_plain"))
	if plain.Valid || hash != hex.EncodeToString(sum[:]) {
		t.Fatalf("stored share_token = %v, share_token_hash = %q: want no plaintext and the token's SHA-256", plain, hash)
	}
	// A token set now is stored hashed too.
	if err := s.SetShareToken(ctx, p.ID, other.ID, "jsh_new"); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db(s).QueryRowContext(ctx, `SELECT count(*) FROM dashboards WHERE share_token IS NOT NULL OR share_token_hash = 'jsh_new'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("%d dashboards keep a share token in plaintext", n)
	}
}
