package metatest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/meta"
)

func runCampaigns(t *testing.T, open func(t *testing.T) meta.Store) {
	t.Run("Campaigns", func(t *testing.T) { testCampaigns(t, open(t)) })
	t.Run("CampaignsConcurrentUpdate", func(t *testing.T) { testCampaignsConcurrentUpdate(t, open(t)) })
	t.Run("CampaignDeleteCancelsSends", func(t *testing.T) { testCampaignDeleteCancelsSends(t, open(t)) })
	t.Run("CampaignCreatedAt", func(t *testing.T) { testCampaignCreatedAt(t, open(t)) })
	runSends(t, open)
}

func sameCampaign(t *testing.T, what string, got, want meta.Campaign) {
	t.Helper()
	if got.ID != want.ID || got.ProjectID != want.ProjectID || got.Name != want.Name || got.Kind != want.Kind || got.Status != want.Status ||
		string(got.Definition) != string(want.Definition) || got.Secret != want.Secret || got.Version != want.Version ||
		got.CreatedBy != want.CreatedBy || got.UpdatedBy != want.UpdatedBy || !got.CreatedAt.Equal(want.CreatedAt) ||
		!got.UpdatedAt.Equal(want.UpdatedAt) || got.CreatedAt.Location() != time.UTC || got.UpdatedAt.Location() != time.UTC {
		t.Fatalf("%s:\ngot  %+v (definition %s)\nwant %+v (definition %s)", what, got, got.Definition, want, want.Definition)
	}
}

func campaignsRevision(t *testing.T, s meta.Store, projectID int64) int64 {
	t.Helper()
	return try(s.CampaignsRevision(context.Background(), projectID)).must(t)
}

func campaignIDs(t *testing.T, s meta.Store, projectID int64, status string) []int64 {
	t.Helper()
	list := try(s.Campaigns(context.Background(), projectID, status)).must(t)
	if list == nil {
		t.Fatalf("Campaigns(%q) = nil, want a non-nil list", status)
	}
	ids := []int64{}
	for _, c := range list {
		ids = append(ids, c.ID)
	}
	return ids
}

// testCampaigns: create, read, list (by status), update with optimistic
// concurrency and soft delete, each scoped to its project; every change
// bumps the project's campaigns revision, and nothing else does.
func testCampaigns(t *testing.T, s meta.Store) {
	ctx := context.Background()
	a, b := twoProjects(t, s)
	if list := try(s.Campaigns(ctx, a.ID, "")).must(t); list == nil || len(list) != 0 {
		t.Fatalf("campaigns of a new project = %#v, want an empty, non-nil list", list)
	} else {
		wantJSON(t, "Campaigns of a new project", list, `[]`)
	}
	if rev := campaignsRevision(t, s, a.ID); rev != 0 {
		t.Fatalf("CampaignsRevision of a new project = %d, want 0", rev)
	}

	// The definition comes back byte for byte; the secret is stored but
	// never serialised.
	def := json.RawMessage(`{"trigger": {"event":"added_to_cart"} , "goal":{"event":"purchased","match":"item","within":"72h"},"holdout":0.1}`)
	before := time.Now().Add(-time.Minute)
	c := try(s.CreateCampaign(ctx, meta.Campaign{ProjectID: a.ID, Name: "Cart reminder", Kind: meta.CampaignTriggered, Status: meta.CampaignActive,
		Definition: def, Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", CreatedBy: 7})).must(t)
	if c.ID == 0 || c.ProjectID != a.ID || c.Version != 1 || c.CreatedBy != 7 || c.UpdatedBy != 7 || c.Name != "Cart reminder" ||
		c.Kind != meta.CampaignTriggered || c.Status != meta.CampaignActive || string(c.Definition) != string(def) ||
		c.Secret != "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" || c.CreatedAt.Before(before) || c.CreatedAt.After(time.Now().Add(time.Minute)) ||
		!c.UpdatedAt.Equal(c.CreatedAt) || c.CreatedAt.Location() != time.UTC {
		t.Fatalf("CreateCampaign = %+v (definition %s)", c, c.Definition)
	}
	sameCampaign(t, "Campaign", try(s.Campaign(ctx, a.ID, c.ID)).must(t), c)
	if js, err := json.Marshal(c); err != nil || strings.Contains(string(js), "whsec_") || strings.Contains(string(js), "secret") {
		t.Fatalf("a campaign as JSON = %s, %v; want no secret", js, err)
	}
	if rev := campaignsRevision(t, s, a.ID); rev != 1 {
		t.Fatalf("CampaignsRevision after one create = %d, want 1", rev)
	}

	// Defaults: triggered, draft, {}.
	blast := try(s.CreateCampaign(ctx, meta.Campaign{ProjectID: a.ID, Name: "Ad push", Kind: meta.CampaignBroadcast})).must(t)
	if blast.Kind != meta.CampaignBroadcast || blast.Status != meta.CampaignDraft || string(blast.Definition) != `{}` {
		t.Fatalf("CreateCampaign with defaults = %+v (definition %s)", blast, blast.Definition)
	}
	plain := try(s.CreateCampaign(ctx, meta.Campaign{ProjectID: a.ID, Name: "Like reminder", Status: meta.CampaignPaused})).must(t)
	if plain.Kind != meta.CampaignTriggered {
		t.Fatalf("a campaign without a kind is %q, want triggered", plain.Kind)
	}

	// Refusals name the field and change nothing.
	for _, bad := range []struct {
		c     meta.Campaign
		field string
	}{
		{meta.Campaign{ProjectID: a.ID, Name: " "}, "name"},
		{meta.Campaign{ProjectID: a.ID, Name: "x\xff"}, "name"},
		{meta.Campaign{ProjectID: a.ID, Name: "x", Kind: "drip"}, "kind"},
		{meta.Campaign{ProjectID: a.ID, Name: "x", Status: "running"}, "status"},
		{meta.Campaign{ProjectID: a.ID, Name: "x", Definition: json.RawMessage(`{"trigger":`)}, "definition"},
		{meta.Campaign{ProjectID: a.ID, Name: "x", Secret: "whsec_\x00"}, "secret"},
	} {
		_, err := s.CreateCampaign(ctx, bad.c)
		wantErr(t, fmt.Sprintf("CreateCampaign(%+v)", bad.c), err, meta.ErrInvalid, bad.field)
		_, err = s.UpdateCampaign(ctx, meta.Campaign{ID: c.ID, ProjectID: a.ID, Name: bad.c.Name, Kind: bad.c.Kind, Status: bad.c.Status,
			Definition: bad.c.Definition, Secret: bad.c.Secret}, 0)
		wantErr(t, fmt.Sprintf("UpdateCampaign(%+v)", bad.c), err, meta.ErrInvalid, bad.field)
	}
	if missing, err := s.CreateCampaign(ctx, meta.Campaign{ProjectID: b.ID + 1000, Name: "x"}); err == nil {
		t.Fatalf("CreateCampaign for a missing project = %+v, want an error", missing)
	}
	if rev := campaignsRevision(t, s, a.ID); rev != 3 {
		t.Fatalf("CampaignsRevision after three creates and refused changes = %d, want 3", rev)
	}
	sameCampaign(t, "Campaign after refused updates", try(s.Campaign(ctx, a.ID, c.ID)).must(t), c)

	// Listed by id, all or by status.
	wantIDs(t, "Campaigns", campaignIDs(t, s, a.ID, ""), c.ID, blast.ID, plain.ID)
	wantIDs(t, "active Campaigns", campaignIDs(t, s, a.ID, meta.CampaignActive), c.ID)
	wantIDs(t, "draft Campaigns", campaignIDs(t, s, a.ID, meta.CampaignDraft), blast.ID)
	wantIDs(t, "stopped Campaigns", campaignIDs(t, s, a.ID, meta.CampaignStopped))
	wantIDs(t, "Campaigns of an unknown status", campaignIDs(t, s, a.ID, "running"))
	wantIDs(t, "Campaigns of an unstorable status", campaignIDs(t, s, a.ID, "act\xffive"))
	list := try(s.Campaigns(ctx, a.ID, meta.CampaignActive)).must(t)
	sameCampaign(t, "Campaigns[0]", list[0], c)

	// Tenant isolation: b can neither read, list, change nor delete a's.
	theirs := try(s.CreateCampaign(ctx, meta.Campaign{ProjectID: b.ID, Name: "b's", Status: meta.CampaignActive})).must(t)
	if revA, revB := campaignsRevision(t, s, a.ID), campaignsRevision(t, s, b.ID); revA != 3 || revB != 1 {
		t.Fatalf("CampaignsRevision after b's create: a %d, b %d; want 3, 1", revA, revB)
	}
	_, err := s.Campaign(ctx, b.ID, c.ID)
	wantNotFound(t, "Campaign of another project", err)
	_, err = s.UpdateCampaign(ctx, meta.Campaign{ID: c.ID, ProjectID: b.ID, Name: "stolen"}, 0)
	wantNotFound(t, "UpdateCampaign of another project", err)
	_, err = s.UpdateCampaign(ctx, meta.Campaign{ID: c.ID, ProjectID: b.ID, Name: "stolen"}, 1)
	wantNotFound(t, "UpdateCampaign of another project, at its version", err)
	wantNotFound(t, "DeleteCampaign of another project", s.DeleteCampaign(ctx, b.ID, c.ID, 1))
	wantIDs(t, "Campaigns of b", campaignIDs(t, s, b.ID, ""), theirs.ID)
	wantIDs(t, "active Campaigns of b", campaignIDs(t, s, b.ID, meta.CampaignActive), theirs.ID)
	sameCampaign(t, "campaign after b's attempts", try(s.Campaign(ctx, a.ID, c.ID)).must(t), c)
	if revA, revB := campaignsRevision(t, s, a.ID), campaignsRevision(t, s, b.ID); revA != 3 || revB != 1 {
		t.Fatalf("CampaignsRevision after b's attempts: a %d, b %d; want 3, 1", revA, revB)
	}

	// An update at the expected version bumps it, replaces everything
	// (the secret too) and keeps the creation.
	def2 := json.RawMessage(`{"trigger":{"event":"product_liked"},"wait":{"best_time":true,"min_delay":"1h"}}`)
	up := try(s.UpdateCampaign(ctx, meta.Campaign{ID: c.ID, ProjectID: a.ID, Name: "Like reminder v2", Kind: meta.CampaignTriggered,
		Status: meta.CampaignPaused, Definition: def2, Secret: "whsec_new", UpdatedBy: 9}, 1)).must(t)
	want := c
	want.Name, want.Status, want.Definition, want.Secret, want.Version, want.UpdatedBy, want.UpdatedAt = "Like reminder v2", meta.CampaignPaused, def2, "whsec_new", 2, 9, up.UpdatedAt
	sameCampaign(t, "UpdateCampaign", up, want)
	if up.UpdatedAt.Before(c.UpdatedAt) {
		t.Fatalf("updated_at went back: %v < %v", up.UpdatedAt, c.UpdatedAt)
	}
	sameCampaign(t, "Campaign after update", try(s.Campaign(ctx, a.ID, c.ID)).must(t), up)
	wantIDs(t, "active Campaigns after pausing", campaignIDs(t, s, a.ID, meta.CampaignActive))
	wantIDs(t, "paused Campaigns after pausing", campaignIDs(t, s, a.ID, meta.CampaignPaused), c.ID, plain.ID)
	// A stale version is a conflict and changes nothing.
	_, err = s.UpdateCampaign(ctx, meta.Campaign{ID: c.ID, ProjectID: a.ID, Name: "lost update", Status: meta.CampaignActive}, 1)
	wantErr(t, "UpdateCampaign at a stale version", err, meta.ErrConflict, "version")
	_, err = s.UpdateCampaign(ctx, meta.Campaign{ID: c.ID + 1000, ProjectID: a.ID, Name: "x"}, 0)
	wantNotFound(t, "UpdateCampaign of a missing campaign", err)
	sameCampaign(t, "Campaign after refused updates", try(s.Campaign(ctx, a.ID, c.ID)).must(t), up)
	if rev := campaignsRevision(t, s, a.ID); rev != 4 {
		t.Fatalf("CampaignsRevision after one update and refused ones = %d, want 4", rev)
	}
	// Version 0 does not check.
	up3 := try(s.UpdateCampaign(ctx, meta.Campaign{ID: c.ID, ProjectID: a.ID, Name: "Reminder", Kind: meta.CampaignBroadcast,
		Status: meta.CampaignActive, Definition: def, Secret: up.Secret, UpdatedBy: 10}, 0)).must(t)
	if up3.Version != 3 || up3.Kind != meta.CampaignBroadcast || up3.UpdatedBy != 10 || up3.CreatedBy != 7 ||
		!up3.CreatedAt.Equal(c.CreatedAt) || up3.Secret != "whsec_new" || string(up3.Definition) != string(def) {
		t.Fatalf("UpdateCampaign without a version check = %+v", up3)
	}
	if rev := campaignsRevision(t, s, a.ID); rev != 5 {
		t.Fatalf("CampaignsRevision after two updates = %d, want 5", rev)
	}

	// A soft delete: gone from reads, lists and updates; the revision moves.
	if err := s.DeleteCampaign(ctx, a.ID, c.ID, 11); err != nil {
		t.Fatal(err)
	}
	_, err = s.Campaign(ctx, a.ID, c.ID)
	wantNotFound(t, "Campaign after delete", err)
	wantNotFound(t, "second DeleteCampaign", s.DeleteCampaign(ctx, a.ID, c.ID, 11))
	_, err = s.UpdateCampaign(ctx, meta.Campaign{ID: c.ID, ProjectID: a.ID, Name: "back"}, 0)
	wantNotFound(t, "UpdateCampaign of a deleted campaign", err)
	_, err = s.UpdateCampaign(ctx, meta.Campaign{ID: c.ID, ProjectID: a.ID, Name: "back"}, 4)
	wantNotFound(t, "UpdateCampaign of a deleted campaign at its version", err)
	wantIDs(t, "Campaigns after delete", campaignIDs(t, s, a.ID, ""), blast.ID, plain.ID)
	wantIDs(t, "active Campaigns after delete", campaignIDs(t, s, a.ID, meta.CampaignActive))
	if revA, revB := campaignsRevision(t, s, a.ID), campaignsRevision(t, s, b.ID); revA != 6 || revB != 1 {
		t.Fatalf("CampaignsRevision after delete: a %d, b %d; want 6, 1", revA, revB)
	}
	// Ids are never reused.
	next := try(s.CreateCampaign(ctx, meta.Campaign{ProjectID: a.ID, Name: "next"})).must(t)
	if next.ID <= theirs.ID {
		t.Fatalf("a new campaign has id %d, not above %d", next.ID, theirs.ID)
	}
	sameCampaign(t, "b's campaign after a's changes", try(s.Campaign(ctx, b.ID, theirs.ID)).must(t), theirs)
}

// testCampaignsConcurrentUpdate: of updates expecting one version, one
// wins; unchecked ones all apply, each bumping the version and revision.
func testCampaignsConcurrentUpdate(t *testing.T, s meta.Store) {
	ctx := context.Background()
	a, _ := twoProjects(t, s)
	c := try(s.CreateCampaign(ctx, meta.Campaign{ProjectID: a.ID, Name: "race"})).must(t)
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Go(func() {
			_, errs[i] = s.UpdateCampaign(ctx, meta.Campaign{ID: c.ID, ProjectID: a.ID, Name: fmt.Sprint(i), UpdatedBy: int64(i)}, 1)
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
	if got := try(s.Campaign(ctx, a.ID, c.ID)).must(t); got.Version != 2 || got.Name != fmt.Sprint(won) {
		t.Fatalf("campaign after the race = %+v, want version 2 named %d", got, won)
	}
	for i := range errs {
		wg.Go(func() {
			_, errs[i] = s.UpdateCampaign(ctx, meta.Campaign{ID: c.ID, ProjectID: a.ID, Name: "unchecked"}, 0)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("unchecked update %d: %v", i, err)
		}
	}
	if got := try(s.Campaign(ctx, a.ID, c.ID)).must(t); got.Version != n+2 {
		t.Fatalf("campaign at version %d, want %d", got.Version, n+2)
	}
	if rev := campaignsRevision(t, s, a.ID); rev != n+2 {
		t.Fatalf("CampaignsRevision = %d, want %d", rev, n+2)
	}
}

// testCampaignDeleteCancelsSends: a deleted campaign sends nothing more:
// its pending sends are cancelled with it, those of other campaigns stay,
// and sends scheduled for it afterwards are not inserted.
func testCampaignDeleteCancelsSends(t *testing.T, s meta.Store) {
	ctx := context.Background()
	a, _ := twoProjects(t, s)
	gone := try(s.CreateCampaign(ctx, meta.Campaign{ProjectID: a.ID, Name: "gone", Status: meta.CampaignActive})).must(t)
	kept := try(s.CreateCampaign(ctx, meta.Campaign{ProjectID: a.ID, Name: "kept", Status: meta.CampaignActive})).must(t)
	at := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	if n := try(s.ScheduleSends(ctx, []meta.Send{
		newSend("g1", a.ID, gone.ID, 1, at), newSend("g2", a.ID, gone.ID, 2, at), newSend("k1", a.ID, kept.ID, 1, at),
	})).must(t); n != 3 {
		t.Fatalf("ScheduleSends = %d, want 3", n)
	}
	claimed := try(s.ClaimDueSends(ctx, "w", at, time.Minute, 1)).must(t)
	if len(claimed) != 1 || claimed[0].Key != "g1" {
		t.Fatalf("claim = %+v, want g1", claimed)
	}
	if err := s.DeleteCampaign(ctx, a.ID, gone.ID, 1); err != nil {
		t.Fatal(err)
	}
	wantState(t, s, a.ID, "g1", meta.SendSending) // its sender finishes it
	wantState(t, s, a.ID, "g2", meta.SendCancelled)
	wantState(t, s, a.ID, "k1", meta.SendPending)
	if n := try(s.ScheduleSends(ctx, []meta.Send{newSend("g3", a.ID, gone.ID, 3, at), newSend("k3", a.ID, kept.ID, 3, at)})).must(t); n != 1 {
		t.Fatalf("ScheduleSends after the delete = %d, want 1 (the kept campaign's)", n)
	}
	_, err := s.SendByKey(ctx, a.ID, "g3")
	wantNotFound(t, "a send of a deleted campaign", err)
}

// testCampaignCreatedAt: a campaign created with a time (a history: the
// demo's, an import) keeps it, to the millisecond, in UTC, as created and
// updated; without one it is now.
func testCampaignCreatedAt(t *testing.T, s meta.Store) {
	ctx := context.Background()
	a, _ := twoProjects(t, s)
	past := time.Date(2026, 3, 1, 9, 30, 0, 123_456_789, time.FixedZone("CET", 3600))
	old := try(s.CreateCampaign(ctx, meta.Campaign{ProjectID: a.ID, Name: "Cart reminder", Status: meta.CampaignActive, CreatedAt: past})).must(t)
	want := past.UTC().Truncate(time.Millisecond)
	if !old.CreatedAt.Equal(want) || !old.UpdatedAt.Equal(want) || old.CreatedAt.Location() != time.UTC {
		t.Fatalf("CreateCampaign at %s = created %s, updated %s; want %s in UTC", past, old.CreatedAt, old.UpdatedAt, want)
	}
	sameCampaign(t, "Campaign created in the past", try(s.Campaign(ctx, a.ID, old.ID)).must(t), old)
	before := time.Now().Add(-time.Minute)
	now := try(s.CreateCampaign(ctx, meta.Campaign{ProjectID: a.ID, Name: "Ad push"})).must(t)
	if now.CreatedAt.Before(before) || now.CreatedAt.After(time.Now().Add(time.Minute)) {
		t.Fatalf("CreateCampaign without a time = created %s, want now", now.CreatedAt)
	}
}
