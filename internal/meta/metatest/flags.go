package metatest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/meta"
)

func runFlags(t *testing.T, open func(t *testing.T) meta.Store) {
	t.Run("Flags", func(t *testing.T) { testFlags(t, open(t)) })
	t.Run("FlagsConcurrentUpdate", func(t *testing.T) { testFlagsConcurrentUpdate(t, open(t)) })
	t.Run("FlagHashKeys", func(t *testing.T) { testFlagHashKeys(t, open(t)) })
	t.Run("CohortChangesBumpFlagsRevision", func(t *testing.T) { testCohortRevision(t, open(t)) })
}

// testCohortRevision: flags target cohorts, so changing or deleting a
// cohort bumps its project's flags revision (and only its project's);
// failed changes do not.
func testCohortRevision(t *testing.T, s meta.Store) {
	ctx := context.Background()
	a, _, err := s.CreateProject(ctx, "a", "UTC")
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := s.CreateProject(ctx, "b", "UTC")
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.CreateCohort(ctx, a.ID, "c", []byte(`{"distinct_ids":["x"]}`))
	if err != nil {
		t.Fatal(err)
	}
	start := revision(t, s, a.ID)
	if err := s.UpdateCohort(ctx, a.ID, c.ID, "c2", []byte(`{"distinct_ids":["y"]}`)); err != nil {
		t.Fatal(err)
	}
	if got := revision(t, s, a.ID); got != start+1 {
		t.Fatalf("revision after a cohort update = %d, want %d", got, start+1)
	}
	if err := s.UpdateCohort(ctx, b.ID, c.ID, "x", []byte(`{}`)); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("update of another project's cohort: %v", err)
	}
	if err := s.DeleteCohort(ctx, a.ID, c.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteCohort(ctx, a.ID, c.ID); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	if got := revision(t, s, a.ID); got != start+2 {
		t.Fatalf("revision after update and delete = %d, want %d", got, start+2)
	}
	if got := revision(t, s, b.ID); got != 0 {
		t.Fatalf("revision of the other project = %d, want 0", got)
	}
}

func sameFlag(t *testing.T, what string, got, want meta.Flag) {
	t.Helper()
	if got.ID != want.ID || got.ProjectID != want.ProjectID || got.Key != want.Key || got.Name != want.Name || got.Active != want.Active ||
		string(got.Definition) != string(want.Definition) || got.Version != want.Version || got.CreatedBy != want.CreatedBy ||
		got.UpdatedBy != want.UpdatedBy || !got.CreatedAt.Equal(want.CreatedAt) || !got.UpdatedAt.Equal(want.UpdatedAt) {
		t.Fatalf("%s: got %+v (definition %s), want %+v (definition %s)", what, got, got.Definition, want, want.Definition)
	}
}

// wantErr checks that err is sentinel and, when field is not "", a
// *meta.FieldError naming field.
func wantErr(t *testing.T, what string, err, sentinel error, field string) {
	t.Helper()
	if !errors.Is(err, sentinel) {
		t.Fatalf("%s: want %v, got %v", what, sentinel, err)
	}
	if field == "" {
		return
	}
	var fe *meta.FieldError
	if !errors.As(err, &fe) || fe.Field != field {
		t.Fatalf("%s: want an error naming field %q, got %#v", what, field, err)
	}
}

func revision(t *testing.T, s meta.Store, projectID int64) int64 {
	t.Helper()
	return try(s.FlagsRevision(context.Background(), projectID)).must(t)
}

// testFlags: create, read, list by key, update with optimistic
// concurrency, soft delete and key reuse, each scoped to its project;
// every change writes a version and bumps the project's revision, and
// nothing else does.
func testFlags(t *testing.T, s meta.Store) {
	ctx := context.Background()
	a, b := twoProjects(t, s)
	if list := try(s.Flags(ctx, a.ID)).must(t); list == nil || len(list) != 0 {
		t.Fatalf("flags of a new project = %#v, want an empty, non-nil list", list)
	} else {
		wantJSON(t, "Flags of a new project", list, `[]`)
	}
	if rev := revision(t, s, a.ID); rev != 0 {
		t.Fatalf("FlagsRevision of a new project = %d, want 0", rev)
	}

	// The definition comes back byte for byte, odd spacing and all.
	def := []byte(`{"filters": {"groups":[{"properties":[],"rollout_percentage":50}]} , "ensure_experience_continuity":true}`)
	before := time.Now().Add(-time.Minute)
	f := try(s.CreateFlag(ctx, meta.Flag{ProjectID: a.ID, Key: "new-checkout", Name: "New checkout", Active: true, Definition: def, CreatedBy: 7})).must(t)
	if f.ID == 0 || f.ProjectID != a.ID || f.Version != 1 || f.CreatedBy != 7 || f.UpdatedBy != 7 || !f.Active ||
		string(f.Definition) != string(def) || f.CreatedAt.Before(before) || f.CreatedAt.After(time.Now().Add(time.Minute)) ||
		!f.UpdatedAt.Equal(f.CreatedAt) || f.CreatedAt.Location() != time.UTC {
		t.Fatalf("CreateFlag = %+v (definition %s)", f, f.Definition)
	}
	sameFlag(t, "Flag", try(s.Flag(ctx, a.ID, f.ID)).must(t), f)
	if rev := revision(t, s, a.ID); rev != 1 {
		t.Fatalf("FlagsRevision after one create = %d, want 1", rev)
	}

	// Keys are unique per project.
	_, err := s.CreateFlag(ctx, meta.Flag{ProjectID: a.ID, Key: "new-checkout", Name: "again", Definition: []byte(`{}`)})
	wantErr(t, "CreateFlag with a taken key", err, meta.ErrConflict, "key")
	_, err = s.CreateFlag(ctx, meta.Flag{ProjectID: a.ID, Key: "", Definition: []byte(`{}`)})
	wantErr(t, "CreateFlag without a key", err, meta.ErrInvalid, "key")
	if rev := revision(t, s, a.ID); rev != 1 {
		t.Fatalf("FlagsRevision after failed creates = %d, want 1", rev)
	}
	theirs := try(s.CreateFlag(ctx, meta.Flag{ProjectID: b.ID, Key: "new-checkout", Name: "b's", Definition: []byte(`{}`)})).must(t)
	if revA, revB := revision(t, s, a.ID), revision(t, s, b.ID); revA != 1 || revB != 1 {
		t.Fatalf("FlagsRevision after b's create: a %d, b %d; want 1, 1", revA, revB)
	}
	if missing, err := s.CreateFlag(ctx, meta.Flag{ProjectID: b.ID + 1000, Key: "x", Definition: []byte(`{}`)}); err == nil {
		t.Fatalf("CreateFlag for a missing project = %+v, want an error", missing)
	}

	// By key, in byte order (upper case first) on both databases.
	beta := try(s.CreateFlag(ctx, meta.Flag{ProjectID: a.ID, Key: "beta", Name: "Beta", Definition: []byte(`{}`)})).must(t)
	zeta := try(s.CreateFlag(ctx, meta.Flag{ProjectID: a.ID, Key: "Zeta", Name: "Zeta"})).must(t)
	if string(zeta.Definition) != `{}` {
		t.Fatalf("an empty definition is stored as %q, want {}", zeta.Definition)
	}
	list := try(s.Flags(ctx, a.ID)).must(t)
	if len(list) != 3 {
		t.Fatalf("Flags = %+v, want 3", list)
	}
	sameFlag(t, "Flags[0]", list[0], zeta)
	sameFlag(t, "Flags[1]", list[1], beta)
	sameFlag(t, "Flags[2]", list[2], f)
	if rev := revision(t, s, a.ID); rev != 3 {
		t.Fatalf("FlagsRevision after three creates = %d, want 3", rev)
	}

	// b can neither read, change, delete nor see the history of a's flag.
	_, err = s.Flag(ctx, b.ID, f.ID)
	wantNotFound(t, "Flag of another project", err)
	_, err = s.UpdateFlag(ctx, meta.Flag{ID: f.ID, ProjectID: b.ID, Key: "stolen", Definition: []byte(`{}`)}, 0)
	wantNotFound(t, "UpdateFlag of another project", err)
	_, err = s.UpdateFlag(ctx, meta.Flag{ID: f.ID, ProjectID: b.ID, Key: "stolen", Definition: []byte(`{}`)}, 1)
	wantNotFound(t, "UpdateFlag of another project, at its version", err)
	wantNotFound(t, "DeleteFlag of another project", s.DeleteFlag(ctx, b.ID, f.ID, 1))
	_, err = s.FlagVersions(ctx, b.ID, f.ID)
	wantNotFound(t, "FlagVersions of another project", err)
	if list := try(s.Flags(ctx, b.ID)).must(t); len(list) != 1 || list[0].ID != theirs.ID {
		t.Fatalf("Flags of b = %+v", list)
	}
	sameFlag(t, "flag after b's attempts", try(s.Flag(ctx, a.ID, f.ID)).must(t), f)
	if revA, revB := revision(t, s, a.ID), revision(t, s, b.ID); revA != 3 || revB != 1 {
		t.Fatalf("FlagsRevision after b's attempts: a %d, b %d; want 3, 1", revA, revB)
	}

	// An update at the expected version bumps it and keeps the creation.
	def2 := []byte(`{"filters":{"groups":[{"properties":[],"rollout_percentage":100}]}}`)
	up := try(s.UpdateFlag(ctx, meta.Flag{ID: f.ID, ProjectID: a.ID, Key: "new-checkout", Name: "New checkout v2", Active: false, Definition: def2, UpdatedBy: 9}, 1)).must(t)
	want := f
	want.Name, want.Active, want.Definition, want.Version, want.UpdatedBy, want.UpdatedAt = "New checkout v2", false, def2, 2, 9, up.UpdatedAt
	sameFlag(t, "UpdateFlag", up, want)
	if up.UpdatedAt.Before(f.UpdatedAt) {
		t.Fatalf("updated_at went back: %v < %v", up.UpdatedAt, f.UpdatedAt)
	}
	sameFlag(t, "Flag after update", try(s.Flag(ctx, a.ID, f.ID)).must(t), up)
	// A stale version is a conflict and changes nothing.
	_, err = s.UpdateFlag(ctx, meta.Flag{ID: f.ID, ProjectID: a.ID, Key: "new-checkout", Name: "lost update", Definition: def}, 1)
	wantErr(t, "UpdateFlag at a stale version", err, meta.ErrConflict, "version")
	// So is a taken key.
	_, err = s.UpdateFlag(ctx, meta.Flag{ID: f.ID, ProjectID: a.ID, Key: "beta", Name: "x", Definition: def}, 0)
	wantErr(t, "UpdateFlag to a taken key", err, meta.ErrConflict, "key")
	_, err = s.UpdateFlag(ctx, meta.Flag{ID: f.ID + 1000, ProjectID: a.ID, Key: "x", Definition: def}, 0)
	wantNotFound(t, "UpdateFlag of a missing flag", err)
	sameFlag(t, "Flag after refused updates", try(s.Flag(ctx, a.ID, f.ID)).must(t), up)
	if rev := revision(t, s, a.ID); rev != 4 {
		t.Fatalf("FlagsRevision after one update and refused ones = %d, want 4", rev)
	}
	// Version 0 does not check; the key may change.
	up3 := try(s.UpdateFlag(ctx, meta.Flag{ID: f.ID, ProjectID: a.ID, Key: "checkout", Name: "Checkout", Active: true, Definition: def, UpdatedBy: 10}, 0)).must(t)
	if up3.Version != 3 || up3.Key != "checkout" || up3.UpdatedBy != 10 || up3.CreatedBy != 7 || !up3.CreatedAt.Equal(f.CreatedAt) {
		t.Fatalf("UpdateFlag without a version check = %+v", up3)
	}

	// Deleting is soft: the flag is gone from reads and lists, its history
	// stays, and its key can be taken again.
	wantNotFound(t, "DeleteFlag of a missing flag", s.DeleteFlag(ctx, a.ID, f.ID+1000, 11))
	if err := s.DeleteFlag(ctx, a.ID, f.ID, 11); err != nil {
		t.Fatal(err)
	}
	_, err = s.Flag(ctx, a.ID, f.ID)
	wantNotFound(t, "deleted flag", err)
	wantNotFound(t, "second delete", s.DeleteFlag(ctx, a.ID, f.ID, 11))
	_, err = s.UpdateFlag(ctx, meta.Flag{ID: f.ID, ProjectID: a.ID, Key: "checkout", Definition: def}, 0)
	wantNotFound(t, "UpdateFlag of a deleted flag", err)
	_, err = s.UpdateFlag(ctx, meta.Flag{ID: f.ID, ProjectID: a.ID, Key: "checkout", Definition: def}, 4)
	wantNotFound(t, "UpdateFlag of a deleted flag at its version", err)
	if list := try(s.Flags(ctx, a.ID)).must(t); len(list) != 2 || list[0].ID != zeta.ID || list[1].ID != beta.ID {
		t.Fatalf("Flags after delete = %+v", list)
	}
	if rev := revision(t, s, a.ID); rev != 6 {
		t.Fatalf("FlagsRevision after 3 creates, 2 updates, 1 delete = %d, want 6", rev)
	}

	history := try(s.FlagVersions(ctx, a.ID, f.ID)).must(t)
	type entry struct {
		version int
		user    int64
		action  string
		key     string
		name    string
		active  bool
		def     string
	}
	wantHistory := []entry{
		{1, 7, meta.FlagCreated, "new-checkout", "New checkout", true, string(def)},
		{2, 9, meta.FlagUpdated, "new-checkout", "New checkout v2", false, string(def2)},
		{3, 10, meta.FlagUpdated, "checkout", "Checkout", true, string(def)},
		{4, 11, meta.FlagDeleted, "checkout", "Checkout", true, string(def)},
	}
	if len(history) != len(wantHistory) {
		t.Fatalf("FlagVersions = %+v, want %d entries", history, len(wantHistory))
	}
	for i, v := range history {
		w := wantHistory[i]
		got := entry{v.Version, v.UserID, v.Action, v.Key, v.Name, v.Active, string(v.Definition)}
		if got != w || v.FlagID != f.ID || v.At.Before(f.CreatedAt) || (i > 0 && v.At.Before(history[i-1].At)) {
			t.Fatalf("FlagVersions[%d] = %+v, want %+v after %v", i, v, w, f.CreatedAt)
		}
	}
	if !history[0].At.Equal(f.CreatedAt) || !history[1].At.Equal(up.UpdatedAt) {
		t.Fatalf("versions at %v, %v; want the flag's times %v, %v", history[0].At, history[1].At, f.CreatedAt, up.UpdatedAt)
	}
	_, err = s.FlagVersions(ctx, a.ID, f.ID+1000)
	wantNotFound(t, "FlagVersions of a missing flag", err)

	again := try(s.CreateFlag(ctx, meta.Flag{ProjectID: a.ID, Key: "checkout", Name: "reborn", Definition: def, CreatedBy: 12})).must(t)
	if again.ID == f.ID || again.Version != 1 {
		t.Fatalf("CreateFlag with a deleted flag's key = %+v, want a new flag at version 1", again)
	}
	if h := try(s.FlagVersions(ctx, a.ID, again.ID)).must(t); len(h) != 1 || h[0].Action != meta.FlagCreated || h[0].UserID != 12 {
		t.Fatalf("history of the new flag = %+v", h)
	}
	if h := try(s.FlagVersions(ctx, a.ID, f.ID)).must(t); len(h) != 4 {
		t.Fatalf("history of the deleted flag after its key was reused = %+v", h)
	}
	// Once reused, the key is taken again.
	_, err = s.CreateFlag(ctx, meta.Flag{ProjectID: a.ID, Key: "checkout", Definition: def})
	wantErr(t, "CreateFlag with a reused key", err, meta.ErrConflict, "key")
	if _, err := s.Flag(ctx, b.ID, theirs.ID); err != nil {
		t.Fatalf("a's changes touched b's flag: %v", err)
	}
	if rev := revision(t, s, b.ID); rev != 1 {
		t.Fatalf("FlagsRevision of b after a's changes = %d, want 1", rev)
	}
}

// testFlagsConcurrentUpdate: of updates racing at one expected version
// exactly one wins; updates that check no version all land, each its own
// version, history entry and revision.
func testFlagsConcurrentUpdate(t *testing.T, s meta.Store) {
	ctx := context.Background()
	a, _ := twoProjects(t, s)
	f := try(s.CreateFlag(ctx, meta.Flag{ProjectID: a.ID, Key: "race", Definition: []byte(`{}`)})).must(t)
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Go(func() {
			_, errs[i] = s.UpdateFlag(ctx, meta.Flag{ID: f.ID, ProjectID: a.ID, Key: "race", Name: fmt.Sprint(i), Definition: []byte(`{}`), UpdatedBy: int64(i)}, 1)
		})
	}
	wg.Wait()
	won := -1
	for i, err := range errs {
		switch {
		case err == nil && won >= 0:
			t.Fatalf("updates %d and %d at version 1 both succeeded", won, i)
		case err == nil:
			won = i
		case !errors.Is(err, meta.ErrConflict):
			t.Fatalf("update %d at a stale version: want ErrConflict, got %v", i, err)
		}
	}
	if won < 0 {
		t.Fatal("no update at version 1 succeeded")
	}
	if got := try(s.Flag(ctx, a.ID, f.ID)).must(t); got.Version != 2 || got.Name != fmt.Sprint(won) {
		t.Fatalf("flag after the race = %+v, want version 2 named %d", got, won)
	}
	for i := range errs {
		wg.Go(func() {
			_, errs[i] = s.UpdateFlag(ctx, meta.Flag{ID: f.ID, ProjectID: a.ID, Key: "race", Definition: []byte(`{}`)}, 0)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("unchecked update %d: %v", i, err)
		}
	}
	history := try(s.FlagVersions(ctx, a.ID, f.ID)).must(t)
	if len(history) != n+2 {
		t.Fatalf("%d versions, want %d", len(history), n+2)
	}
	for i, v := range history {
		if v.Version != i+1 {
			t.Fatalf("version %d of the history is %d", i+1, v.Version)
		}
	}
	if got := try(s.Flag(ctx, a.ID, f.ID)).must(t); got.Version != n+2 {
		t.Fatalf("flag at version %d, want %d", got.Version, n+2)
	}
	if rev := revision(t, s, a.ID); rev != n+2 {
		t.Fatalf("FlagsRevision = %d, want %d", rev, n+2)
	}
}

// testFlagHashKeys: the first hash key of a (distinct id, flag key) pair
// wins, per project; calls are bounded and checked.
func testFlagHashKeys(t *testing.T, s meta.Store) {
	ctx := context.Background()
	a, b := twoProjects(t, s)
	wantKeys := func(what string, projectID int64, distinctID string, want map[string]string) {
		t.Helper()
		got := try(s.FlagHashKeys(ctx, projectID, distinctID)).must(t)
		if got == nil || len(got) != len(want) {
			t.Fatalf("%s: FlagHashKeys = %#v, want %v", what, got, want)
		}
		for k, v := range want {
			if got[k] != v {
				t.Fatalf("%s: FlagHashKeys = %v, want %v", what, got, want)
			}
		}
	}
	wantKeys("nothing set", a.ID, "user-1", map[string]string{})
	rev := revision(t, s, a.ID)

	if err := s.SetFlagHashKeys(ctx, a.ID, []string{"anon-1", "user-1"}, []string{"f1", "f2"}, "anon-1"); err != nil {
		t.Fatal(err)
	}
	wantKeys("first set", a.ID, "user-1", map[string]string{"f1": "anon-1", "f2": "anon-1"})
	wantKeys("first set, the anonymous id", a.ID, "anon-1", map[string]string{"f1": "anon-1", "f2": "anon-1"})
	// A later hash key fills only the pairs without one.
	if err := s.SetFlagHashKeys(ctx, a.ID, []string{"user-1", "user-1"}, []string{"f2", "f3", "f3"}, "anon-2"); err != nil {
		t.Fatal(err)
	}
	wantKeys("second set", a.ID, "user-1", map[string]string{"f1": "anon-1", "f2": "anon-1", "f3": "anon-2"})
	wantKeys("second set, the first anonymous id", a.ID, "anon-1", map[string]string{"f1": "anon-1", "f2": "anon-1"})

	// Per project.
	wantKeys("another project", b.ID, "user-1", map[string]string{})
	if err := s.SetFlagHashKeys(ctx, b.ID, []string{"user-1"}, []string{"f1"}, "bee"); err != nil {
		t.Fatal(err)
	}
	wantKeys("b's own", b.ID, "user-1", map[string]string{"f1": "bee"})
	wantKeys("a's after b's", a.ID, "user-1", map[string]string{"f1": "anon-1", "f2": "anon-1", "f3": "anon-2"})

	// Bounded: more than MaxHashKeyPairs pairs is refused, and writes none.
	ids := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("d%d", i)
		}
		return out
	}
	for _, c := range []struct{ ids, keys int }{{meta.MaxHashKeyPairs + 1, 1}, {1, meta.MaxHashKeyPairs + 1}, {34, 30}} {
		err := s.SetFlagHashKeys(ctx, a.ID, ids(c.ids), ids(c.keys), "h")
		wantErr(t, fmt.Sprintf("%d × %d pairs", c.ids, c.keys), err, meta.ErrInvalid, "")
		wantKeys("after a refused call", a.ID, "d0", map[string]string{})
	}
	if err := s.SetFlagHashKeys(ctx, a.ID, ids(meta.MaxHashKeyPairs), []string{"big"}, "h"); err != nil {
		t.Fatalf("%d pairs: %v", meta.MaxHashKeyPairs, err)
	}
	wantKeys("the first of the most pairs", a.ID, "d0", map[string]string{"big": "h"})
	wantKeys("the last of the most pairs", a.ID, fmt.Sprintf("d%d", meta.MaxHashKeyPairs-1), map[string]string{"big": "h"})

	// Empty lists do nothing; empty or non-text strings are refused on
	// both databases alike, and a lookup of one finds nothing.
	if err := s.SetFlagHashKeys(ctx, a.ID, nil, []string{"f1"}, "h"); err != nil {
		t.Fatalf("no distinct ids: %v", err)
	}
	for _, c := range []struct {
		ids, keys []string
		hash      string
	}{
		{[]string{"u"}, []string{"f"}, ""},
		{[]string{""}, []string{"f"}, "h"},
		{[]string{"u"}, []string{""}, "h"},
		{[]string{"u\x00"}, []string{"f"}, "h"},
		{[]string{"u"}, []string{"f\xff"}, "h"},
		{[]string{"u"}, []string{"f"}, "h\x00"},
	} {
		wantErr(t, fmt.Sprintf("SetFlagHashKeys(%q, %q, %q)", c.ids, c.keys, c.hash), s.SetFlagHashKeys(ctx, a.ID, c.ids, c.keys, c.hash), meta.ErrInvalid, "")
	}
	wantKeys("refused calls", a.ID, "u", map[string]string{})
	wantKeys("a NUL distinct id", a.ID, "user-1\x00", map[string]string{})
	wantKeys("invalid UTF-8", a.ID, "\xff", map[string]string{})
	if err := s.SetFlagHashKeys(ctx, b.ID+1000, []string{"u"}, []string{"f"}, "h"); err == nil {
		t.Fatal("SetFlagHashKeys for a missing project succeeded")
	}

	// Hash keys are not flag definitions: caches need not reload.
	if got := revision(t, s, a.ID); got != rev {
		t.Fatalf("FlagsRevision moved from %d to %d on hash keys", rev, got)
	}
}
