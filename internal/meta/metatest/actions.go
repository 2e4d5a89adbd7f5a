package metatest

import (
	"context"
	"testing"

	"github.com/journey-dev/journey/internal/meta"
)

func sameAction(t *testing.T, what string, got, want meta.Action) {
	t.Helper()
	if got.ID != want.ID || got.ProjectID != want.ProjectID || got.Name != want.Name || got.Description != want.Description ||
		string(got.Steps) != string(want.Steps) || !got.CreatedAt.Equal(want.CreatedAt) {
		t.Fatalf("%s: got %+v (steps %s), want %+v (steps %s)", what, got, got.Steps, want, want.Steps)
	}
}

// testActions: create, read, list by name, update and delete, each scoped
// to its project; steps come back byte for byte; ids are never reused.
func testActions(t *testing.T, s meta.Store) {
	ctx := context.Background()
	a, b := twoProjects(t, s)
	if list := try(s.Actions(ctx, a.ID)).must(t); list == nil || len(list) != 0 {
		t.Fatalf("actions of a new project = %#v, want an empty, non-nil list", list)
	}
	steps := []byte(`[{"event":"$autocapture","text":"Buy now","selector":"button.buy"}]`)
	buy := try(s.CreateAction(ctx, meta.Action{ProjectID: a.ID, Name: "Clicked buy", Description: "the big button", Steps: steps})).must(t)
	if buy.ID == 0 || buy.ProjectID != a.ID || buy.CreatedAt.IsZero() || !buy.UpdatedAt.Equal(buy.CreatedAt) {
		t.Fatalf("CreateAction = %+v", buy)
	}
	sameAction(t, "Action", try(s.Action(ctx, a.ID, buy.ID)).must(t), buy)
	signup := try(s.CreateAction(ctx, meta.Action{ProjectID: a.ID, Name: "Any signup", Steps: []byte(`[ {"event":"signed_up"} ]`)})).must(t)
	theirs := try(s.CreateAction(ctx, meta.Action{ProjectID: b.ID, Name: "b's", Steps: []byte(`[]`)})).must(t)
	list := try(s.Actions(ctx, a.ID)).must(t)
	if len(list) != 2 {
		t.Fatalf("Actions = %+v, want 2", list)
	}
	sameAction(t, "Actions[0] (by name)", list[0], signup)
	sameAction(t, "Actions[1]", list[1], buy)

	// b can neither read, list, change nor delete a's actions.
	_, err := s.Action(ctx, b.ID, buy.ID)
	wantNotFound(t, "Action of another project", err)
	if list := try(s.Actions(ctx, b.ID)).must(t); len(list) != 1 || list[0].ID != theirs.ID {
		t.Fatalf("Actions of b = %+v", list)
	}
	_, err = s.UpdateAction(ctx, meta.Action{ID: buy.ID, ProjectID: b.ID, Name: "stolen", Steps: steps})
	wantNotFound(t, "UpdateAction of another project", err)
	wantNotFound(t, "DeleteAction of another project", s.DeleteAction(ctx, b.ID, buy.ID))

	newSteps := []byte(`[{"event":"$autocapture","text":"Buy"},{"event":"purchase"}]`)
	up := try(s.UpdateAction(ctx, meta.Action{ID: buy.ID, ProjectID: a.ID, Name: "Bought", Steps: newSteps})).must(t)
	want := buy
	want.Name, want.Description, want.Steps = "Bought", "", newSteps
	sameAction(t, "UpdateAction", up, want)
	if up.UpdatedAt.Before(buy.UpdatedAt) {
		t.Fatalf("updated_at went back: %v < %v", up.UpdatedAt, buy.UpdatedAt)
	}
	_, err = s.UpdateAction(ctx, meta.Action{ID: buy.ID + 1000, ProjectID: a.ID, Name: "x", Steps: steps})
	wantNotFound(t, "UpdateAction of a missing action", err)

	if err := s.DeleteAction(ctx, a.ID, signup.ID); err != nil {
		t.Fatal(err)
	}
	_, err = s.Action(ctx, a.ID, signup.ID)
	wantNotFound(t, "deleted action", err)
	wantNotFound(t, "second delete", s.DeleteAction(ctx, a.ID, signup.ID))
	// The newest action deleted, the next one still gets a new id.
	next := try(s.CreateAction(ctx, meta.Action{ProjectID: b.ID, Name: "later", Steps: steps})).must(t)
	if err := s.DeleteAction(ctx, b.ID, next.ID); err != nil {
		t.Fatal(err)
	}
	again := try(s.CreateAction(ctx, meta.Action{ProjectID: a.ID, Name: "again", Steps: steps})).must(t)
	if again.ID == next.ID || again.ID == signup.ID {
		t.Fatalf("id %d reused", again.ID)
	}
	if _, err := s.Action(ctx, b.ID, theirs.ID); err != nil {
		t.Fatalf("a's deletes touched b's action: %v", err)
	}
}
