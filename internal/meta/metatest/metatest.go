// Package metatest is the conformance suite for meta.Store: every metadata
// store (SQLite embedded, PostgreSQL scale-out) runs it, so the rest of
// Journey sees the same behaviour whichever one it is given.
package metatest

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/meta"
)

// KeyHashes is implemented by each store's test harness, not by the store:
// it reads api_keys.key_hash behind the Store's back, so the suite can check
// that secret keys are stored only as hashes.
type KeyHashes interface {
	KeyHashes(ctx context.Context, projectID int64) ([]string, error)
}

// Run runs the suite. open returns a fresh, empty store for one subtest
// and closes it in t.Cleanup; the store must also implement KeyHashes.
func Run(t *testing.T, open func(t *testing.T) meta.Store) {
	t.Run("ProjectsAndKeys", func(t *testing.T) { testProjectsAndKeys(t, open(t)) })
	t.Run("KeysHashed", func(t *testing.T) { testKeysHashed(t, open(t)) })
	t.Run("CreateKey", func(t *testing.T) { testCreateKey(t, open(t)) })
	t.Run("Settings", func(t *testing.T) { testSettings(t, open(t)) })
	t.Run("Cohorts", func(t *testing.T) { testCohorts(t, open(t)) })
	t.Run("Actions", func(t *testing.T) { testActions(t, open(t)) })
	t.Run("UnknownProject", func(t *testing.T) { testUnknownProject(t, open(t)) })
	t.Run("ConcurrentCreate", func(t *testing.T) { testConcurrentCreate(t, open(t)) })
	runUI(t, open)
	runFlags(t, open)
	runExperiments(t, open)
	runCampaigns(t, open)
	runCohortMembers(t, open)
	runSurveys(t, open) // surveys.go
	t.Run("LogConsumers", func(t *testing.T) { testConsumers(t, open(t)) })
	runFeedback(t, open)  // feedback.go
	runDeletions(t, open) // deletions.go
	// personalkeys.go: personal API keys and the audit log
	runPersonalKeys(t, open)
	runDefinitions(t, open) // definitions.go: event and property definitions
}

// wantJSON checks how v serialises, as the API would send it.
func wantJSON(t *testing.T, what string, v any, want string) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil || string(b) != want {
		t.Fatalf("%s as JSON = %s, %v; want %s", what, b, err, want)
	}
}

// lookup checks that a lookup finds project want, or nothing when want is 0.
func lookup(t *testing.T, what string, want int64, f func() (meta.Project, error)) meta.Project {
	t.Helper()
	p, err := f()
	if want == 0 {
		if !errors.Is(err, meta.ErrNotFound) {
			t.Fatalf("%s: want ErrNotFound, got %+v, %v", what, p, err)
		}
		return p
	}
	if err != nil || p.ID != want {
		t.Fatalf("%s: got %+v, %v; want project %d", what, p, err, want)
	}
	return p
}

// sameProject compares every field; times with Equal, and in UTC as the
// API serialises them.
func sameProject(t *testing.T, what string, got, want meta.Project) {
	t.Helper()
	if got.ID != want.ID || got.Name != want.Name || got.Timezone != want.Timezone || got.Token != want.Token ||
		!got.CreatedAt.Equal(want.CreatedAt) || got.CreatedAt.Location() != time.UTC {
		t.Fatalf("%s: got %+v, want %+v", what, got, want)
	}
}

func testProjectsAndKeys(t *testing.T, s meta.Store) {
	ctx := context.Background()
	// A fresh store has no projects, listed as [] rather than null.
	if all, err := s.Projects(ctx); err != nil || all == nil || len(all) != 0 {
		t.Fatalf("Projects of an empty store = %#v, %v; want an empty, non-nil list", all, err)
	} else {
		wantJSON(t, "Projects of an empty store", all, `[]`)
	}
	before := time.Now().Add(-time.Minute)
	a, secretA, err := s.CreateProject(ctx, "shop", "Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	b, secretB, err := s.CreateProject(ctx, "saas ünïcode", "")
	if err != nil {
		t.Fatal(err)
	}
	if a.ID == 0 || a.ID == b.ID || a.Token == b.Token || secretA == secretB || secretA == a.Token {
		t.Fatalf("projects not distinct: %+v %+v", a, b)
	}
	if a.Name != "shop" || a.Timezone != "Europe/Berlin" || b.Name != "saas ünïcode" || b.Timezone != "UTC" {
		t.Fatalf("created projects = %+v %+v; want names kept and timezone defaulting to UTC", a, b)
	}
	if a.CreatedAt.Before(before) || a.CreatedAt.After(time.Now().Add(time.Minute)) {
		t.Fatalf("created_at = %v, want about now", a.CreatedAt)
	}

	sameProject(t, "ProjectByToken", lookup(t, "ProjectByToken(a)", a.ID, func() (meta.Project, error) { return s.ProjectByToken(ctx, a.Token) }), a)
	sameProject(t, "ProjectBySecret", lookup(t, "ProjectBySecret(b)", b.ID, func() (meta.Project, error) { return s.ProjectBySecret(ctx, secretB) }), b)
	sameProject(t, "Project", lookup(t, "Project(b)", b.ID, func() (meta.Project, error) { return s.Project(ctx, b.ID) }), b)
	lookup(t, "ProjectBySecret(a)", a.ID, func() (meta.Project, error) { return s.ProjectBySecret(ctx, secretA) })
	lookup(t, "ProjectByToken(b)", b.ID, func() (meta.Project, error) { return s.ProjectByToken(ctx, b.Token) })

	// A public token is not a secret key, nor a key a token: capture must
	// never accept a secret, nor the query API a token.
	lookup(t, "token as secret", 0, func() (meta.Project, error) { return s.ProjectBySecret(ctx, a.Token) })
	lookup(t, "secret as token", 0, func() (meta.Project, error) { return s.ProjectByToken(ctx, secretA) })
	lookup(t, "hash of the secret as secret", 0, func() (meta.Project, error) { return s.ProjectBySecret(ctx, meta.HashSecret(secretA)) })
	// Hostile or malformed input finds nothing rather than failing.
	for _, bad := range []string{"", "' OR 1=1 --", "%", a.Token + " ", a.Token[:len(a.Token)-1], "\x00", "jpt_\xff\xfe", a.Token + "\x00"} {
		lookup(t, fmt.Sprintf("ProjectByToken(%q)", bad), 0, func() (meta.Project, error) { return s.ProjectByToken(ctx, bad) })
		lookup(t, fmt.Sprintf("ProjectBySecret(%q)", bad), 0, func() (meta.Project, error) { return s.ProjectBySecret(ctx, bad) })
	}
	lookup(t, "Project(missing)", 0, func() (meta.Project, error) { return s.Project(ctx, b.ID+1000) })

	all, err := s.Projects(ctx)
	if err != nil || len(all) != 2 {
		t.Fatalf("Projects = %v, %v", all, err)
	}
	// In creation (id) order.
	sameProject(t, "Projects[0]", all[0], a)
	sameProject(t, "Projects[1]", all[1], b)
}

func testKeysHashed(t *testing.T, s meta.Store) {
	ctx := context.Background()
	raw, ok := s.(KeyHashes)
	if !ok {
		t.Fatalf("the harness's store %T does not implement metatest.KeyHashes", s)
	}
	p, secret, err := s.CreateProject(ctx, "shop", "UTC")
	if err != nil {
		t.Fatal(err)
	}
	second, err := s.CreateKey(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	hashes, err := raw.KeyHashes(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	// Exactly the two keys, stored as meta.HashSecret and never in clear.
	want := map[string]bool{meta.HashSecret(secret): true, meta.HashSecret(second): true}
	if len(hashes) != 2 {
		t.Fatalf("stored key hashes = %q, want 2", hashes)
	}
	for _, h := range hashes {
		if h == secret || h == second || !want[h] {
			t.Fatalf("stored key hashes = %q, want the SHA-256 of each key", hashes)
		}
		delete(want, h)
	}
}

func testCreateKey(t *testing.T, s meta.Store) {
	ctx := context.Background()
	a, first, err := s.CreateProject(ctx, "a", "UTC")
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := s.CreateProject(ctx, "b", "UTC")
	if err != nil {
		t.Fatal(err)
	}
	second, err := s.CreateKey(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	forB, err := s.CreateKey(ctx, b.ID)
	if err != nil {
		t.Fatal(err)
	}
	if second == first || second == forB || second == "" {
		t.Fatalf("keys not distinct: %q %q %q", first, second, forB)
	}
	// A new key adds to the old ones rather than replacing them.
	lookup(t, "first key", a.ID, func() (meta.Project, error) { return s.ProjectBySecret(ctx, first) })
	lookup(t, "second key", a.ID, func() (meta.Project, error) { return s.ProjectBySecret(ctx, second) })
	lookup(t, "b's key", b.ID, func() (meta.Project, error) { return s.ProjectBySecret(ctx, forB) })
}

func testSettings(t *testing.T, s meta.Store) {
	ctx := context.Background()
	a, _, _ := s.CreateProject(ctx, "a", "UTC")
	b, _, _ := s.CreateProject(ctx, "b", "UTC")
	if _, err := s.Setting(ctx, a.ID, "journey"); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("unset setting: %v", err)
	}
	// The last write wins, byte for byte: no JSON normalisation.
	for _, v := range []string{`{"v":1}`, `{ "z": 2, "a": [1, 2.50], "s": "ü\n" }`} {
		if err := s.SetSetting(ctx, a.ID, "journey", []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	if v, err := s.Setting(ctx, a.ID, "journey"); err != nil || string(v) != `{ "z": 2, "a": [1, 2.50], "s": "ü\n" }` {
		t.Fatalf("setting = %s, %v", v, err)
	}
	if err := s.SetSetting(ctx, a.ID, "other", []byte(`[]`)); err != nil {
		t.Fatal(err)
	}
	if v, err := s.Setting(ctx, a.ID, "other"); err != nil || string(v) != `[]` {
		t.Fatalf("setting other = %s, %v", v, err)
	}
	if v, err := s.Setting(ctx, a.ID, "journey"); err != nil || string(v) != `{ "z": 2, "a": [1, 2.50], "s": "ü\n" }` {
		t.Fatalf("setting journey after setting other = %s, %v", v, err)
	}
	// Settings are per project.
	if _, err := s.Setting(ctx, b.ID, "journey"); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("project b sees a's setting: %v", err)
	}
	if err := s.SetSetting(ctx, b.ID, "journey", []byte(`{"b":true}`)); err != nil {
		t.Fatal(err)
	}
	if v, err := s.Setting(ctx, a.ID, "journey"); err != nil || string(v) != `{ "z": 2, "a": [1, 2.50], "s": "ü\n" }` {
		t.Fatalf("b's write changed a's setting: %s, %v", v, err)
	}
	for _, key := range []string{"", "Journey", "journey ", "\x00", "j\xff"} {
		if v, err := s.Setting(ctx, a.ID, key); !errors.Is(err, meta.ErrNotFound) {
			t.Fatalf("Setting(%q) = %s, %v; want ErrNotFound", key, v, err)
		}
	}
}

func sameCohort(t *testing.T, what string, got, want meta.Cohort) {
	t.Helper()
	if got.ID != want.ID || got.ProjectID != want.ProjectID || got.Name != want.Name ||
		string(got.Definition) != string(want.Definition) || !got.CreatedAt.Equal(want.CreatedAt) || got.CreatedAt.Location() != time.UTC {
		t.Fatalf("%s: got %+v (definition %s), want %+v (definition %s)", what, got, got.Definition, want, want.Definition)
	}
}

func testCohorts(t *testing.T, s meta.Store) {
	ctx := context.Background()
	a, _, _ := s.CreateProject(ctx, "a", "UTC")
	b, _, _ := s.CreateProject(ctx, "b", "UTC")
	// An empty list is empty, not nil, so the API answers [] rather than null.
	if list, err := s.Cohorts(ctx, a.ID); err != nil || list == nil || len(list) != 0 {
		t.Fatalf("cohorts of a new project = %#v, %v; want an empty, non-nil list", list, err)
	} else {
		wantJSON(t, "Cohorts of a new project", list, `[]`)
	}
	before := time.Now().Add(-time.Minute)
	c, err := s.CreateCohort(ctx, a.ID, "vips", []byte(`{"distinct_ids":["x"]}`))
	if err != nil {
		t.Fatal(err)
	}
	if c.ID == 0 || c.ProjectID != a.ID || c.Name != "vips" || string(c.Definition) != `{"distinct_ids":["x"]}` ||
		c.CreatedAt.Before(before) || c.CreatedAt.After(time.Now().Add(time.Minute)) {
		t.Fatalf("created cohort = %+v, want created about now", c)
	}
	got, err := s.Cohort(ctx, a.ID, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	sameCohort(t, "Cohort", got, c)
	d, err := s.CreateCohort(ctx, a.ID, "churned", []byte(`{ "behavioural" : {"event":"x"} }`))
	if err != nil {
		t.Fatal(err)
	}
	other, err := s.CreateCohort(ctx, b.ID, "b's", []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	if d.ID == c.ID || other.ID == c.ID || other.ID == d.ID {
		t.Fatalf("cohort ids not distinct: %d %d %d", c.ID, d.ID, other.ID)
	}
	list, err := s.Cohorts(ctx, a.ID)
	if err != nil || len(list) != 2 {
		t.Fatalf("cohorts of a = %v, %v; want 2", list, err)
	}
	// In creation (id) order, definitions byte for byte.
	sameCohort(t, "Cohorts[0]", list[0], c)
	sameCohort(t, "Cohorts[1]", list[1], d)

	// Tenant isolation: b can neither read, list, change nor delete a's cohorts.
	if _, err := s.Cohort(ctx, b.ID, c.ID); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("project b reads a's cohort: %v", err)
	}
	if list, err := s.Cohorts(ctx, b.ID); err != nil || len(list) != 1 || list[0].ID != other.ID {
		t.Fatalf("cohorts of b = %v, %v; want only its own", list, err)
	}
	if err := s.UpdateCohort(ctx, b.ID, c.ID, "x", []byte(`{}`)); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("project b updates a's cohort: %v", err)
	}
	if err := s.DeleteCohort(ctx, b.ID, c.ID); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("project b deletes a's cohort: %v", err)
	}
	if got, err := s.Cohort(ctx, a.ID, c.ID); err != nil {
		t.Fatal(err)
	} else {
		sameCohort(t, "cohort after b's attempts", got, c)
	}

	// Update replaces name and definition and keeps id, project and creation time.
	if err := s.UpdateCohort(ctx, a.ID, c.ID, "big spenders", []byte(`{"distinct_ids":["y"]}`)); err != nil {
		t.Fatal(err)
	}
	want := c
	want.Name, want.Definition = "big spenders", []byte(`{"distinct_ids":["y"]}`)
	got, err = s.Cohort(ctx, a.ID, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	sameCohort(t, "updated cohort", got, want)
	if err := s.UpdateCohort(ctx, a.ID, c.ID+1000, "x", []byte(`{}`)); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("update of a missing cohort: %v", err)
	}

	if err := s.DeleteCohort(ctx, a.ID, c.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Cohort(ctx, a.ID, c.ID); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("deleted cohort still readable: %v", err)
	}
	if err := s.DeleteCohort(ctx, a.ID, c.ID); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	if err := s.UpdateCohort(ctx, a.ID, c.ID, "x", []byte(`{}`)); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("update of a deleted cohort: %v", err)
	}
	if list, err := s.Cohorts(ctx, a.ID); err != nil || len(list) != 1 || list[0].ID != d.ID {
		t.Fatalf("cohorts after delete = %v, %v", list, err)
	}
	if _, err := s.Cohort(ctx, b.ID, other.ID); err != nil {
		t.Fatalf("a's delete touched b's cohort: %v", err)
	}
}

// testUnknownProject: rows that name a project must name one that exists
// (both stores enforce the foreign keys), and reads of one find nothing.
func testUnknownProject(t *testing.T, s meta.Store) {
	ctx := context.Background()
	p, _, err := s.CreateProject(ctx, "a", "UTC")
	if err != nil {
		t.Fatal(err)
	}
	missing := p.ID + 1000
	if k, err := s.CreateKey(ctx, missing); err == nil {
		t.Fatalf("CreateKey for a missing project = %q, want an error", k)
	}
	if err := s.SetSetting(ctx, missing, "journey", []byte(`{}`)); err == nil {
		t.Fatal("SetSetting for a missing project succeeded")
	}
	if c, err := s.CreateCohort(ctx, missing, "x", []byte(`{}`)); err == nil {
		t.Fatalf("CreateCohort for a missing project = %+v, want an error", c)
	}
	if _, err := s.Setting(ctx, missing, "journey"); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("Setting of a missing project: %v", err)
	}
	if list, err := s.Cohorts(ctx, missing); err != nil || len(list) != 0 {
		t.Fatalf("Cohorts of a missing project = %v, %v", list, err)
	}
}

// testConcurrentCreate: replicas (or goroutines) creating projects at once
// get distinct ids, tokens and keys, each of which resolves.
func testConcurrentCreate(t *testing.T, s meta.Store) {
	ctx := context.Background()
	const n = 8
	type made struct {
		p      meta.Project
		secret string
		err    error
	}
	out := make([]made, n)
	var wg sync.WaitGroup
	for i := range out {
		wg.Go(func() {
			p, secret, err := s.CreateProject(ctx, fmt.Sprintf("p%d", i), "UTC")
			out[i] = made{p, secret, err}
		})
	}
	wg.Wait()
	ids, tokens := map[int64]bool{}, map[string]bool{}
	for _, m := range out {
		if m.err != nil {
			t.Fatal(m.err)
		}
		if ids[m.p.ID] || tokens[m.p.Token] {
			t.Fatalf("duplicate project %+v", m.p)
		}
		ids[m.p.ID], tokens[m.p.Token] = true, true
		lookup(t, "ProjectBySecret", m.p.ID, func() (meta.Project, error) { return s.ProjectBySecret(ctx, m.secret) })
		lookup(t, "ProjectByToken", m.p.ID, func() (meta.Project, error) { return s.ProjectByToken(ctx, m.p.Token) })
	}
	if all, err := s.Projects(ctx); err != nil || len(all) != n {
		t.Fatalf("Projects = %d, %v; want %d", len(all), err, n)
	}
}

// AppliedVersions reads a store's schema_migrations: version → how many
// times it is recorded (migration tests expect 1 each).
func AppliedVersions(t *testing.T, db *sql.DB) map[int]int {
	t.Helper()
	rows, err := db.Query(`SELECT version, count(*) FROM schema_migrations GROUP BY version`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[int]int{}
	for rows.Next() {
		var v, n int
		if err := rows.Scan(&v, &n); err != nil {
			t.Fatal(err)
		}
		out[v] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
