package sqlite

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/journey-dev/journey/internal/meta"
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

func TestProjectsAndKeys(t *testing.T) {
	s := testdb(t)
	ctx := context.Background()
	a, secretA, err := s.CreateProject(ctx, "shop", "Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	b, secretB, err := s.CreateProject(ctx, "saas", "")
	if err != nil {
		t.Fatal(err)
	}
	if a.ID == b.ID || a.Token == b.Token || secretA == secretB || b.Timezone != "UTC" {
		t.Fatalf("projects not distinct: %+v %+v", a, b)
	}
	f := func(lookup func() (meta.Project, error), want int64) {
		t.Helper()
		p, err := lookup()
		if want == 0 {
			if !errors.Is(err, meta.ErrNotFound) {
				t.Fatalf("want ErrNotFound, got %+v %v", p, err)
			}
			return
		}
		if err != nil || p.ID != want {
			t.Fatalf("got %+v %v, want project %d", p, err, want)
		}
	}
	f(func() (meta.Project, error) { return s.ProjectByToken(ctx, a.Token) }, a.ID)
	f(func() (meta.Project, error) { return s.ProjectBySecret(ctx, secretB) }, b.ID)
	f(func() (meta.Project, error) { return s.ProjectBySecret(ctx, a.Token) }, 0) // a token is not a key
	f(func() (meta.Project, error) { return s.ProjectByToken(ctx, secretA) }, 0)  // nor a key a token
	f(func() (meta.Project, error) { return s.ProjectByToken(ctx, "' OR 1=1 --") }, 0)
	f(func() (meta.Project, error) { return s.Project(ctx, b.ID) }, b.ID)

	// Keys are stored hashed: the clear secret is nowhere in the database.
	var n int
	if err := s.db.QueryRow(`SELECT count(*) FROM api_keys WHERE key_hash = ?`, secretA).Scan(&n); err != nil || n != 0 {
		t.Fatalf("secret stored in clear (%d, %v)", n, err)
	}
	all, err := s.Projects(ctx)
	if err != nil || len(all) != 2 {
		t.Fatalf("Projects = %v, %v", all, err)
	}
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

func TestSettingsAndCohorts(t *testing.T) {
	s := testdb(t)
	ctx := context.Background()
	a, _, _ := s.CreateProject(ctx, "a", "UTC")
	b, _, _ := s.CreateProject(ctx, "b", "UTC")
	if _, err := s.Setting(ctx, a.ID, "journey"); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("unset setting: %v", err)
	}
	for _, v := range []string{`{"v":1}`, `{"v":2}`} {
		if err := s.SetSetting(ctx, a.ID, "journey", []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	if v, err := s.Setting(ctx, a.ID, "journey"); err != nil || string(v) != `{"v":2}` {
		t.Fatalf("setting = %s, %v", v, err)
	}
	if _, err := s.Setting(ctx, b.ID, "journey"); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("project b sees a's setting: %v", err)
	}
	c, err := s.CreateCohort(ctx, a.ID, "vips", []byte(`{"distinct_ids":["x"]}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Cohort(ctx, b.ID, c.ID); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("project b reads a's cohort: %v", err)
	}
	if err := s.UpdateCohort(ctx, b.ID, c.ID, "x", []byte(`{}`)); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("project b updates a's cohort: %v", err)
	}
	if err := s.UpdateCohort(ctx, a.ID, c.ID, "big spenders", []byte(`{"distinct_ids":["y"]}`)); err != nil {
		t.Fatal(err)
	}
	got, err := s.Cohort(ctx, a.ID, c.ID)
	if err != nil || got.Name != "big spenders" || string(got.Definition) != `{"distinct_ids":["y"]}` {
		t.Fatalf("cohort = %+v, %v", got, err)
	}
	if list, _ := s.Cohorts(ctx, a.ID); len(list) != 1 {
		t.Fatalf("cohorts = %v", list)
	}
	if err := s.DeleteCohort(ctx, b.ID, c.ID); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("project b deletes a's cohort: %v", err)
	}
	if err := s.DeleteCohort(ctx, a.ID, c.ID); err != nil {
		t.Fatal(err)
	}
}
