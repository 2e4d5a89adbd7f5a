package metatest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/meta"
)

func runUI(t *testing.T, open func(t *testing.T) meta.Store) {
	t.Run("Users", func(t *testing.T) { testUsers(t, open(t)) })
	t.Run("Invites", func(t *testing.T) { testInvites(t, open(t)) })
	t.Run("Sessions", func(t *testing.T) { testSessions(t, open(t)) })
	t.Run("KeysListAndRevoke", func(t *testing.T) { testKeysList(t, open(t)) })
	t.Run("Insights", func(t *testing.T) { testInsights(t, open(t)) })
	t.Run("Dashboards", func(t *testing.T) { testDashboards(t, open(t)) })
}

// try lets a (value, error) call be checked inline: try(f()).must(t).
func try[T any](v T, err error) result[T] { return result[T]{v, err} }

type result[T any] struct {
	v   T
	err error
}

func (r result[T]) must(t *testing.T) T {
	t.Helper()
	if r.err != nil {
		t.Fatal(r.err)
	}
	return r.v
}

func wantNotFound(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("%s: want ErrNotFound, got %v", what, err)
	}
}

func twoProjects(t *testing.T, s meta.Store) (a, b meta.Project) {
	t.Helper()
	ctx := context.Background()
	var err error
	if a, _, err = s.CreateProject(ctx, "a", "UTC"); err != nil {
		t.Fatal(err)
	}
	if b, _, err = s.CreateProject(ctx, "b", "UTC"); err != nil {
		t.Fatal(err)
	}
	return a, b
}

func testUsers(t *testing.T, s meta.Store) {
	ctx := context.Background()
	if n := try(s.CountUsers(ctx)).must(t); n != 0 {
		t.Fatalf("CountUsers on an empty store = %d", n)
	}
	u := try(s.CreateUser(ctx, " Ann@Example.com", "hash-1", true)).must(t)
	if u.ID == 0 || u.Email != "ann@example.com" || !u.IsAdmin {
		t.Fatalf("CreateUser = %+v", u)
	}
	if _, err := s.CreateUser(ctx, "ANN@example.com", "hash-2", false); !errors.Is(err, meta.ErrExists) {
		t.Fatalf("duplicate email: want ErrExists, got %v", err)
	}
	got := try(s.UserByEmail(ctx, "ann@EXAMPLE.com")).must(t)
	if got.ID != u.ID || got.PasswordHash != "hash-1" || !got.IsAdmin || !got.CreatedAt.Equal(u.CreatedAt) {
		t.Fatalf("UserByEmail = %+v, want %+v", got, u)
	}
	bob := try(s.CreateUser(ctx, "bob@example.com", "hash-b", false)).must(t)
	if got := try(s.User(ctx, bob.ID)).must(t); got.Email != "bob@example.com" || got.IsAdmin {
		t.Fatalf("User = %+v", got)
	}
	if err := s.SetPassword(ctx, bob.ID, "hash-b2"); err != nil {
		t.Fatal(err)
	}
	if got := try(s.User(ctx, bob.ID)).must(t); got.PasswordHash != "hash-b2" {
		t.Fatalf("SetPassword left %q", got.PasswordHash)
	}
	wantNotFound(t, "SetPassword(unknown user)", s.SetPassword(ctx, 1<<40, "x"))
	_, err := s.UserByEmail(ctx, "nobody@example.com")
	wantNotFound(t, "UserByEmail(unknown)", err)
	if n := try(s.CountUsers(ctx)).must(t); n != 2 {
		t.Fatalf("CountUsers = %d, want 2", n)
	}

	a, b := twoProjects(t, s)
	if err := s.SetMember(ctx, a.ID, bob.ID, meta.RoleViewer); err != nil {
		t.Fatal(err)
	}
	if err := s.SetMember(ctx, a.ID, bob.ID, meta.RoleMember); err != nil { // replaces
		t.Fatal(err)
	}
	if err := s.SetMember(ctx, a.ID, u.ID, "owner"); err == nil {
		t.Fatal("SetMember accepted an unknown role")
	}
	if r := try(s.Role(ctx, a.ID, bob.ID)).must(t); r != meta.RoleMember {
		t.Fatalf("Role = %q, want member", r)
	}
	_, err = s.Role(ctx, b.ID, bob.ID)
	wantNotFound(t, "Role in another project", err)
	if ms := try(s.Members(ctx, a.ID)).must(t); len(ms) != 1 || ms[0].Email != "bob@example.com" || ms[0].Role != meta.RoleMember {
		t.Fatalf("Members = %+v", ms)
	}
	if ms := try(s.Members(ctx, b.ID)).must(t); len(ms) != 0 {
		t.Fatalf("Members of b = %+v", ms)
	}
	wantNotFound(t, "RemoveMember from another project", s.RemoveMember(ctx, b.ID, bob.ID))
	if err := s.RemoveMember(ctx, a.ID, bob.ID); err != nil {
		t.Fatal(err)
	}
	_, err = s.Role(ctx, a.ID, bob.ID)
	wantNotFound(t, "Role after RemoveMember", err)
}

// testInvites: an invite makes nobody a member until the user with its
// email accepts; it is scoped to its project and its email, used once,
// replaced by a second invite of the same email, revocable and declinable.
func testInvites(t *testing.T, s meta.Store) {
	ctx := context.Background()
	admin := try(s.CreateUser(ctx, "admin@example.com", "h", false)).must(t)
	ann := try(s.CreateUser(ctx, "ann@example.com", "h", false)).must(t)
	eve := try(s.CreateUser(ctx, "eve@example.com", "h", false)).must(t)
	a, b := twoProjects(t, s)

	if _, err := s.CreateInvite(ctx, a.ID, "ann@example.com", "owner", admin.ID); err == nil {
		t.Fatal("CreateInvite accepted an unknown role")
	}
	in := try(s.CreateInvite(ctx, a.ID, " Ann@Example.com", meta.RoleViewer, admin.ID)).must(t)
	if in.ID == 0 || in.ProjectID != a.ID || in.Email != "ann@example.com" || in.Role != meta.RoleViewer || in.InvitedBy != admin.ID || in.CreatedAt.IsZero() {
		t.Fatalf("CreateInvite = %+v", in)
	}
	again := try(s.CreateInvite(ctx, a.ID, "ann@example.com", meta.RoleMember, admin.ID)).must(t) // replaces
	if again.ID != in.ID || again.Role != meta.RoleMember {
		t.Fatalf("second CreateInvite = %+v, want the same invite (id %d) as member", again, in.ID)
	}
	try(s.CreateInvite(ctx, a.ID, "nobody@example.com", meta.RoleViewer, admin.ID)).must(t) // no account needed
	inB := try(s.CreateInvite(ctx, b.ID, "ann@example.com", meta.RoleAdmin, admin.ID)).must(t)

	if list := try(s.Invites(ctx, a.ID)).must(t); len(list) != 2 || list[0].Email != "ann@example.com" || list[0].Role != meta.RoleMember || list[1].Email != "nobody@example.com" {
		t.Fatalf("Invites(a) = %+v", list)
	}
	mine := try(s.InvitesFor(ctx, "ANN@example.com")).must(t)
	if len(mine) != 2 || mine[0].ID != in.ID || mine[0].ProjectName != "a" || mine[1].ID != inB.ID || mine[1].ProjectName != "b" {
		t.Fatalf("InvitesFor(ann) = %+v", mine)
	}
	if list := try(s.InvitesFor(ctx, "eve@example.com")).must(t); len(list) != 0 {
		t.Fatalf("InvitesFor(eve) = %+v", list)
	}
	_, err := s.Role(ctx, a.ID, ann.ID)
	wantNotFound(t, "Role before accepting", err)

	// Only the invited email can accept; another user's attempt changes nothing.
	_, err = s.AcceptInvite(ctx, in.ID, "eve@example.com", eve.ID)
	wantNotFound(t, "AcceptInvite with another email", err)
	wantNotFound(t, "DeclineInvite with another email", s.DeclineInvite(ctx, in.ID, "eve@example.com"))
	_, err = s.Role(ctx, a.ID, eve.ID)
	wantNotFound(t, "Role of the user who tried someone else's invite", err)
	got := try(s.AcceptInvite(ctx, in.ID, "Ann@example.com", ann.ID)).must(t)
	if got.ProjectID != a.ID || got.Role != meta.RoleMember {
		t.Fatalf("AcceptInvite = %+v", got)
	}
	if r := try(s.Role(ctx, a.ID, ann.ID)).must(t); r != meta.RoleMember {
		t.Fatalf("Role after accepting = %q", r)
	}
	_, err = s.AcceptInvite(ctx, in.ID, "ann@example.com", ann.ID)
	wantNotFound(t, "AcceptInvite twice", err)

	wantNotFound(t, "DeleteInvite of another project", s.DeleteInvite(ctx, a.ID, inB.ID))
	if err := s.DeclineInvite(ctx, inB.ID, "ann@example.com"); err != nil {
		t.Fatal(err)
	}
	_, err = s.Role(ctx, b.ID, ann.ID)
	wantNotFound(t, "Role after declining", err)
	wantNotFound(t, "DeleteInvite after declining", s.DeleteInvite(ctx, b.ID, inB.ID))

	nobody := try(s.Invites(ctx, a.ID)).must(t)
	if len(nobody) != 1 {
		t.Fatalf("Invites(a) after accepting = %+v", nobody)
	}
	if err := s.DeleteInvite(ctx, a.ID, nobody[0].ID); err != nil {
		t.Fatal(err)
	}
	if list := try(s.Invites(ctx, a.ID)).must(t); len(list) != 0 {
		t.Fatalf("Invites(a) after revoking = %+v", list)
	}
}

func testSessions(t *testing.T, s meta.Store) {
	ctx := context.Background()
	u := try(s.CreateUser(ctx, "ann@example.com", "h", false)).must(t)
	if err := s.CreateSession(ctx, "live", u.ID, "csrf-1", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateSession(ctx, "old", u.ID, "csrf-2", time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	got := try(s.Session(ctx, "live")).must(t)
	if got.UserID != u.ID || got.CSRF != "csrf-1" || got.ExpiresAt.Before(time.Now()) {
		t.Fatalf("Session = %+v", got)
	}
	_, err := s.Session(ctx, "old")
	wantNotFound(t, "expired session", err)
	_, err = s.Session(ctx, "unknown")
	wantNotFound(t, "unknown session", err)
	if err := s.DeleteSession(ctx, "live"); err != nil {
		t.Fatal(err)
	}
	_, err = s.Session(ctx, "live")
	wantNotFound(t, "deleted session", err)
}

func testKeysList(t *testing.T, s meta.Store) {
	ctx := context.Background()
	before := time.Now().Add(-time.Minute)
	a, b := twoProjects(t, s)
	second := try(s.CreateKey(ctx, a.ID)).must(t)
	keys := try(s.Keys(ctx, a.ID)).must(t)
	if len(keys) != 2 || keys[0].ID >= keys[1].ID {
		t.Fatalf("Keys = %+v, want 2 in creation order", keys)
	}
	for _, k := range keys {
		if k.CreatedAt.Before(before) || k.CreatedAt.After(time.Now().Add(time.Minute)) || k.CreatedAt.Location() != time.UTC {
			t.Fatalf("Keys = %+v, want each created about now, in UTC", keys)
		}
	}
	// Each project lists its own keys only: b has its first key.
	if bk := try(s.Keys(ctx, b.ID)).must(t); len(bk) != 1 || bk[0].ID == keys[0].ID || bk[0].ID == keys[1].ID {
		t.Fatalf("Keys(b) = %+v, want b's one key", bk)
	}
	if none := try(s.Keys(ctx, b.ID+1000)).must(t); none == nil || len(none) != 0 {
		t.Fatalf("Keys of a missing project = %#v, want an empty, non-nil list", none)
	}
	wantNotFound(t, "DeleteKey of another project", s.DeleteKey(ctx, b.ID, keys[1].ID))
	if err := s.DeleteKey(ctx, a.ID, keys[1].ID); err != nil {
		t.Fatal(err)
	}
	_, err := s.ProjectBySecret(ctx, second)
	wantNotFound(t, "revoked key", err)
	if keys := try(s.Keys(ctx, a.ID)).must(t); len(keys) != 1 {
		t.Fatalf("Keys after revoke = %+v", keys)
	}
}

func testInsights(t *testing.T, s meta.Store) {
	ctx := context.Background()
	a, b := twoProjects(t, s)
	spec := []byte(`{"kind":"trend","series":[{"event":"x"}]}`)
	in := try(s.CreateInsight(ctx, a.ID, "Signups", spec)).must(t)
	if in.ID == 0 || in.Name != "Signups" || string(in.Spec) != string(spec) {
		t.Fatalf("CreateInsight = %+v", in)
	}
	_, err := s.Insight(ctx, b.ID, in.ID)
	wantNotFound(t, "Insight of another project", err)
	_, err = s.UpdateInsight(ctx, b.ID, in.ID, "stolen", spec)
	wantNotFound(t, "UpdateInsight of another project", err)
	up := try(s.UpdateInsight(ctx, a.ID, in.ID, "Signups (DAU)", []byte(`{"kind":"trend"}`))).must(t)
	if up.Name != "Signups (DAU)" || string(up.Spec) != `{"kind":"trend"}` || up.UpdatedAt.Before(in.UpdatedAt) {
		t.Fatalf("UpdateInsight = %+v", up)
	}
	try(s.CreateInsight(ctx, a.ID, "Second", spec)).must(t)
	if list := try(s.Insights(ctx, a.ID)).must(t); len(list) != 2 || list[0].Name != "Second" {
		t.Fatalf("Insights = %+v, want 2, newest first", list)
	}
	if list := try(s.Insights(ctx, b.ID)).must(t); len(list) != 0 {
		t.Fatalf("Insights of b = %+v", list)
	}
	wantNotFound(t, "DeleteInsight of another project", s.DeleteInsight(ctx, b.ID, in.ID))
	keep := try(s.CreateInsight(ctx, a.ID, "Kept", spec)).must(t)
	d := try(s.CreateDashboard(ctx, meta.Dashboard{ProjectID: a.ID, Name: "D", Tiles: []meta.Tile{{InsightID: in.ID, Width: 2}, {InsightID: keep.ID, Width: 1}}})).must(t)
	other := try(s.CreateDashboard(ctx, meta.Dashboard{ProjectID: b.ID, Name: "B", Tiles: []meta.Tile{{InsightID: in.ID, Width: 1}}})).must(t)
	if err := s.DeleteInsight(ctx, a.ID, in.ID); err != nil {
		t.Fatal(err)
	}
	_, err = s.Insight(ctx, a.ID, in.ID)
	wantNotFound(t, "deleted insight", err)
	// The deleted insight leaves its project's dashboards (a reused id must
	// not appear there) and nothing else.
	if got := try(s.Dashboard(ctx, a.ID, d.ID)).must(t); len(got.Tiles) != 1 || got.Tiles[0].InsightID != keep.ID {
		t.Fatalf("tiles after DeleteInsight = %+v", got.Tiles)
	}
	if got := try(s.Dashboard(ctx, b.ID, other.ID)).must(t); len(got.Tiles) != 1 {
		t.Fatalf("another project's dashboard changed: %+v", got.Tiles)
	}
}

func testDashboards(t *testing.T, s meta.Store) {
	ctx := context.Background()
	a, b := twoProjects(t, s)
	d := try(s.CreateDashboard(ctx, meta.Dashboard{ProjectID: a.ID, Name: "Growth", Range: "30d", Tiles: []meta.Tile{{InsightID: 7, Width: 2}}})).must(t)
	if d.ID == 0 || d.Name != "Growth" || d.Range != "30d" || len(d.Tiles) != 1 || d.Tiles[0] != (meta.Tile{InsightID: 7, Width: 2}) || d.Shared {
		t.Fatalf("CreateDashboard = %+v", d)
	}
	_, err := s.Dashboard(ctx, b.ID, d.ID)
	wantNotFound(t, "Dashboard of another project", err)
	d.Tiles = []meta.Tile{{InsightID: 8, Width: 1}, {InsightID: 7, Width: 1}}
	d.RefreshSeconds = 60
	up := try(s.UpdateDashboard(ctx, d)).must(t)
	if len(up.Tiles) != 2 || up.Tiles[0].InsightID != 8 || up.RefreshSeconds != 60 {
		t.Fatalf("UpdateDashboard = %+v", up)
	}
	other := d
	other.ProjectID = b.ID
	_, err = s.UpdateDashboard(ctx, other)
	wantNotFound(t, "UpdateDashboard of another project", err)

	wantNotFound(t, "SetShareToken of another project", s.SetShareToken(ctx, b.ID, d.ID, "tok"))
	if err := s.SetShareToken(ctx, a.ID, d.ID, "tok-1"); err != nil {
		t.Fatal(err)
	}
	if got := try(s.DashboardByShareToken(ctx, "tok-1")).must(t); got.ID != d.ID || got.ProjectID != a.ID || !got.Shared {
		t.Fatalf("DashboardByShareToken = %+v", got)
	}
	if got := try(s.Dashboard(ctx, a.ID, d.ID)).must(t); !got.Shared {
		t.Fatalf("Dashboard after SetShareToken = %+v, want shared", got)
	}
	// Looked up by hash: another token, or the hash itself, opens nothing.
	_, err = s.DashboardByShareToken(ctx, "tok-2")
	wantNotFound(t, "another share token", err)
	sum := sha256.Sum256([]byte("tok-1"))
	_, err = s.DashboardByShareToken(ctx, hex.EncodeToString(sum[:]))
	wantNotFound(t, "the token's hash as a share token", err)
	if err := s.SetShareToken(ctx, a.ID, d.ID, ""); err != nil {
		t.Fatal(err)
	}
	_, err = s.DashboardByShareToken(ctx, "tok-1")
	wantNotFound(t, "revoked share token", err)
	if got := try(s.Dashboard(ctx, a.ID, d.ID)).must(t); got.Shared {
		t.Fatalf("Dashboard after revoking = %+v, want not shared", got)
	}
	_, err = s.DashboardByShareToken(ctx, "")
	wantNotFound(t, "empty share token", err)

	try(s.CreateDashboard(ctx, meta.Dashboard{ProjectID: a.ID, Name: "Activation"})).must(t)
	if list := try(s.Dashboards(ctx, a.ID)).must(t); len(list) != 2 || list[0].Name != "Activation" || list[0].Tiles == nil {
		t.Fatalf("Dashboards = %+v, want 2 by name with non-nil tiles", list)
	}
	wantNotFound(t, "DeleteDashboard of another project", s.DeleteDashboard(ctx, b.ID, d.ID))
	if err := s.DeleteDashboard(ctx, a.ID, d.ID); err != nil {
		t.Fatal(err)
	}
	if list := try(s.Dashboards(ctx, a.ID)).must(t); len(list) != 1 {
		t.Fatalf("Dashboards after delete = %+v", list)
	}
}
