package metatest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/meta"
)

func runPersonalKeys(t *testing.T, open func(t *testing.T) meta.Store) {
	t.Run("PersonalKeys", func(t *testing.T) { testPersonalKeys(t, open(t)) })
	t.Run("PersonalKeyRotation", func(t *testing.T) { testPersonalKeyRotation(t, open(t)) })
	t.Run("PersonalKeyTouch", func(t *testing.T) { testPersonalKeyTouch(t, open(t)) })
	t.Run("Audit", func(t *testing.T) { testAudit(t, open(t)) })
}

// testPersonalKeys: a key is found by its secret only while live, is
// listed and revoked by its own user only, and its scopes are checked
// against the allow-list.
func testPersonalKeys(t *testing.T, s meta.Store) {
	ctx := context.Background()
	ann := try(s.CreateUser(ctx, "ann@example.com", "h", false)).must(t)
	bob := try(s.CreateUser(ctx, "bob@example.com", "h", false)).must(t)
	for _, bad := range []struct {
		name   string
		scopes []string
		field  string
	}{
		{"", []string{"read"}, "name"},
		{strings.Repeat("x", 101), []string{"read"}, "name"},
		{"ci", nil, "scopes"},
		{"ci", []string{"read", "admin"}, "scopes[1]"},
	} {
		_, _, err := s.CreatePersonalKey(ctx, ann.ID, bad.name, bad.scopes)
		var fe *meta.FieldError
		if !errors.Is(err, meta.ErrInvalid) || !errors.As(err, &fe) || fe.Field != bad.field {
			t.Fatalf("CreatePersonalKey(%q, %v) = %v; want ErrInvalid on %s", bad.name, bad.scopes, err, bad.field)
		}
	}
	k, secret, err := s.CreatePersonalKey(ctx, ann.ID, "CI", []string{"write", "read", "write"})
	if err != nil {
		t.Fatal(err)
	}
	if !meta.IsPersonalKey(secret) || len(secret) != 52 || k.Prefix != secret[:12] || k.UserID != ann.ID || k.Name != "CI" ||
		!slices.Equal(k.Scopes, []string{"read", "write"}) || k.CreatedAt.IsZero() || !k.LastUsedAt.IsZero() || !k.RevokedAt.IsZero() {
		t.Fatalf("created %+v, %q", k, secret)
	}
	flagsKey, flagsSecret := try2k(t)(s.CreatePersonalKey(ctx, bob.ID, "sdk", []string{"flags:definitions"}))
	got := try(s.PersonalKeyBySecret(ctx, secret)).must(t)
	if got.ID != k.ID || got.UserID != ann.ID || !slices.Equal(got.Scopes, k.Scopes) {
		t.Fatalf("PersonalKeyBySecret = %+v, want %+v", got, k)
	}
	if got := try(s.PersonalKeyBySecret(ctx, flagsSecret)).must(t); got.ID != flagsKey.ID || got.RoleCap() != "" || !got.Has(meta.ScopeFlagDefinitions) {
		t.Fatalf("flags key = %+v", got)
	}
	for _, bad := range []string{"", secret[:51], secret + "0", "jsk_" + secret[4:], "jpk_\x00\xff"} {
		if _, err := s.PersonalKeyBySecret(ctx, bad); !errors.Is(err, meta.ErrNotFound) {
			t.Fatalf("PersonalKeyBySecret(%q) = %v, want ErrNotFound", bad, err)
		}
	}
	if list := try(s.PersonalKeys(ctx, ann.ID)).must(t); len(list) != 1 || list[0].ID != k.ID {
		t.Fatalf("ann's keys = %+v", list)
	}
	// Bob can neither revoke nor rotate Ann's key.
	if err := s.RevokePersonalKey(ctx, bob.ID, k.ID); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("bob revokes ann's key: %v", err)
	}
	if _, _, err := s.RotatePersonalKey(ctx, bob.ID, k.ID, 0); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("bob rotates ann's key: %v", err)
	}
	if err := s.RevokePersonalKey(ctx, ann.ID, k.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PersonalKeyBySecret(ctx, secret); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("revoked key still found: %v", err)
	}
	if err := s.RevokePersonalKey(ctx, ann.ID, k.ID); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("second revocation: %v", err)
	}
	if _, _, err := s.RotatePersonalKey(ctx, ann.ID, k.ID, 0); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("rotation of a revoked key: %v", err)
	}
	list := try(s.PersonalKeys(ctx, ann.ID)).must(t)
	if len(list) != 1 || list[0].RevokedAt.IsZero() {
		t.Fatalf("revoked key listed as %+v", list)
	}
	wantJSON(t, "a key", meta.PersonalKey{ID: 3, UserID: 2, Name: "ci", Scopes: []string{"read"}, Prefix: "jpk_01234567", CreatedAt: t0},
		`{"id":3,"user_id":2,"name":"ci","scopes":["read"],"prefix":"jpk_01234567","created_at":"2026-05-01T09:00:00Z"}`)
}

func try2k(t *testing.T) func(meta.PersonalKey, string, error) (meta.PersonalKey, string) {
	return func(k meta.PersonalKey, s string, err error) (meta.PersonalKey, string) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return k, s
	}
}

// testPersonalKeyRotation: a rotation without overlap stops the old
// secret at once; with one, both work until it ends, and a second
// rotation or a revocation ends it early.
func testPersonalKeyRotation(t *testing.T, s meta.Store) {
	ctx := context.Background()
	ann := try(s.CreateUser(ctx, "ann@example.com", "h", false)).must(t)
	k, old := try2k(t)(s.CreatePersonalKey(ctx, ann.ID, "ci", []string{"read"}))
	r, fresh := try2k(t)(s.RotatePersonalKey(ctx, ann.ID, k.ID, 0))
	if fresh == old || r.ID != k.ID || r.Prefix != fresh[:12] || r.RotatedAt.IsZero() || !r.PreviousUntil.IsZero() {
		t.Fatalf("rotated %+v, %q (was %q)", r, fresh, old)
	}
	if _, err := s.PersonalKeyBySecret(ctx, old); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("old secret after a rotation without overlap: %v", err)
	}
	if got := try(s.PersonalKeyBySecret(ctx, fresh)).must(t); got.ID != k.ID {
		t.Fatalf("new secret finds %+v", got)
	}
	for _, bad := range []time.Duration{-time.Second, meta.MaxKeyOverlap + time.Second} {
		if _, _, err := s.RotatePersonalKey(ctx, ann.ID, k.ID, bad); !errors.Is(err, meta.ErrInvalid) {
			t.Fatalf("overlap %v: %v", bad, err)
		}
	}
	r2, newer := try2k(t)(s.RotatePersonalKey(ctx, ann.ID, k.ID, time.Hour))
	if r2.PreviousUntil.Before(time.Now().Add(59*time.Minute)) || r2.PreviousUntil.After(time.Now().Add(time.Hour+time.Second)) {
		t.Fatalf("previous valid until %v, want in an hour", r2.PreviousUntil)
	}
	for _, sec := range []string{fresh, newer} {
		if got := try(s.PersonalKeyBySecret(ctx, sec)).must(t); got.ID != k.ID {
			t.Fatalf("within the overlap, %q finds %+v", sec[:12], got)
		}
	}
	// The next rotation drops the overlapping secret (only one previous).
	_, newest := try2k(t)(s.RotatePersonalKey(ctx, ann.ID, k.ID, time.Hour))
	if _, err := s.PersonalKeyBySecret(ctx, fresh); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("secret two rotations old: %v", err)
	}
	if err := s.RevokePersonalKey(ctx, ann.ID, k.ID); err != nil {
		t.Fatal(err)
	}
	for _, sec := range []string{newer, newest} {
		if _, err := s.PersonalKeyBySecret(ctx, sec); !errors.Is(err, meta.ErrNotFound) {
			t.Fatalf("revoked key's %q: %v", sec[:12], err)
		}
	}
}

// testPersonalKeyTouch: uses within a minute of the recorded one change
// nothing; one after it does.
func testPersonalKeyTouch(t *testing.T, s meta.Store) {
	ctx := context.Background()
	ann := try(s.CreateUser(ctx, "ann@example.com", "h", false)).must(t)
	k, secret := try2k(t)(s.CreatePersonalKey(ctx, ann.ID, "ci", []string{"read"}))
	t1 := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	for _, step := range []struct {
		at, want time.Time
	}{
		{t1, t1},
		{t1.Add(30 * time.Second), t1},
		{t1.Add(59 * time.Second), t1},
		{t1.Add(61 * time.Second), t1.Add(61 * time.Second)},
	} {
		if err := s.TouchPersonalKey(ctx, k.ID, step.at); err != nil {
			t.Fatal(err)
		}
		got := try(s.PersonalKeyBySecret(ctx, secret)).must(t)
		if !got.LastUsedAt.Equal(step.want) {
			t.Fatalf("touched at %v: last used %v, want %v", step.at, got.LastUsedAt, step.want)
		}
	}
}

// testAudit: entries are read per project, newest first, a page at a
// time; text is bounded and made storable rather than refused.
func testAudit(t *testing.T, s meta.Store) {
	ctx := context.Background()
	a, _, _ := s.CreateProject(ctx, "a", "UTC")
	b, _, _ := s.CreateProject(ctx, "b", "UTC")
	var ids []int64
	for i := range 5 {
		e := try(s.AddAudit(ctx, meta.AuditEntry{ProjectID: a.ID, At: t0.Add(time.Duration(i) * time.Second), Actor: "user:1",
			ActorName: "ann@example.com", Action: "POST /api/v1/flags", Target: fmt.Sprint(i), Status: 201})).must(t)
		ids = append(ids, e.ID)
	}
	odd := try(s.AddAudit(ctx, meta.AuditEntry{ProjectID: b.ID, Actor: "secret_key", Action: "DELETE /api/v1/persons/{id}",
		Target: "bad\x00\xff" + strings.Repeat("y", 400), Status: 202})).must(t)
	if odd.At.IsZero() || len(odd.Target) > 300 || strings.ContainsRune(odd.Target, 0) {
		t.Fatalf("odd entry stored as %+v", odd)
	}
	page := try(s.Audit(ctx, a.ID, 0, 2)).must(t)
	if len(page) != 2 || page[0].ID != ids[4] || page[1].ID != ids[3] || page[0].Target != "4" || page[0].Status != 201 ||
		page[0].Actor != "user:1" || page[0].ActorName != "ann@example.com" || page[0].Action != "POST /api/v1/flags" ||
		!page[0].At.Equal(t0.Add(4*time.Second)) || page[0].ProjectID != a.ID {
		t.Fatalf("first page = %+v", page)
	}
	rest := try(s.Audit(ctx, a.ID, page[1].ID, 200)).must(t)
	if len(rest) != 3 || rest[0].ID != ids[2] || rest[2].ID != ids[0] {
		t.Fatalf("next page = %+v", rest)
	}
	if got := try(s.Audit(ctx, b.ID, 0, 10)).must(t); len(got) != 1 || got[0].ID != odd.ID || got[0].Target != odd.Target {
		t.Fatalf("project b's log = %+v, want only %+v", got, odd)
	}
	for _, bad := range []int{0, 201} {
		if _, err := s.Audit(ctx, a.ID, 0, bad); !errors.Is(err, meta.ErrInvalid) {
			t.Fatalf("limit %d: %v", bad, err)
		}
	}
}
