package metatest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/meta"
)

func runExperiments(t *testing.T, open func(t *testing.T) meta.Store) {
	t.Run("Experiments", func(t *testing.T) { testExperiments(t, open(t)) })
	t.Run("ExperimentResultFrozen", func(t *testing.T) { testExperimentResultFrozen(t, open(t)) })
	t.Run("ExperimentSearch", func(t *testing.T) { testExperimentSearch(t, open(t)) })
	t.Run("ExperimentTimeline", func(t *testing.T) { testExperimentTimeline(t, open(t)) })
	t.Run("Layers", func(t *testing.T) { testLayers(t, open(t)) })
}

func sameTimePtr(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Equal(*b) && a.Location() == time.UTC && b.Location() == time.UTC
}

func sameExperiment(t *testing.T, what string, got, want meta.Experiment) {
	t.Helper()
	if got.ID != want.ID || got.ProjectID != want.ProjectID || got.Name != want.Name || got.Hypothesis != want.Hypothesis ||
		got.OwnerID != want.OwnerID || got.FlagKey != want.FlagKey || got.Status != want.Status ||
		string(got.Definition) != string(want.Definition) || got.Stage != want.Stage ||
		!sameTimePtr(got.StartedAt, want.StartedAt) || !sameTimePtr(got.StoppedAt, want.StoppedAt) ||
		got.Decision != want.Decision || got.ShippedVariant != want.ShippedVariant ||
		string(got.Result) != string(want.Result) || (got.Result == nil) != (want.Result == nil) || got.Notes != want.Notes ||
		got.Version != want.Version || !got.CreatedAt.Equal(want.CreatedAt) || !got.UpdatedAt.Equal(want.UpdatedAt) {
		t.Fatalf("%s:\ngot  %+v (definition %s, result %s)\nwant %+v (definition %s, result %s)",
			what, got, got.Definition, got.Result, want, want.Definition, want.Result)
	}
}

// experimentIDs lists the ids of the project's experiments matching f.
func experimentIDs(t *testing.T, s meta.Store, projectID int64, f meta.ExperimentFilter) []int64 {
	t.Helper()
	list := try(s.Experiments(context.Background(), projectID, f)).must(t)
	if list == nil {
		t.Fatalf("Experiments(%+v) = nil, want a non-nil list", f)
	}
	ids := []int64{}
	for _, e := range list {
		ids = append(ids, e.ID)
	}
	return ids
}

func wantIDs(t *testing.T, what string, got []int64, want ...int64) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(append([]int64{}, want...)) {
		t.Fatalf("%s: ids %v, want %v", what, got, want)
	}
}

// testExperiments: create, read, list newest first, update with optimistic
// concurrency and delete, each scoped to its project.
func testExperiments(t *testing.T, s meta.Store) {
	ctx := context.Background()
	a, b := twoProjects(t, s)
	wantIDs(t, "Experiments of a new project", experimentIDs(t, s, a.ID, meta.ExperimentFilter{}))
	wantJSON(t, "Experiments of a new project", try(s.Experiments(ctx, a.ID, meta.ExperimentFilter{})).must(t), `[]`)

	def := []byte(`{"variants": [{"key":"control","weight":50},{"key":"test","weight":50}], "metrics":[{"event":"purchase"}]}`)
	e := try(s.CreateExperiment(ctx, meta.Experiment{ProjectID: a.ID, Name: "Shorter checkout", Hypothesis: "Fewer steps lift conversion",
		OwnerID: 3, FlagKey: "new-checkout", Definition: def, Stage: "activation", Notes: "n"})).must(t)
	if e.ID == 0 || e.Status != meta.ExperimentDraft || e.Version != 1 || e.StartedAt != nil || e.Result != nil ||
		e.CreatedAt.IsZero() || !e.UpdatedAt.Equal(e.CreatedAt) || string(e.Definition) != string(def) {
		t.Fatalf("CreateExperiment = %+v", e)
	}
	got := try(s.Experiment(ctx, a.ID, e.ID)).must(t)
	sameExperiment(t, "Experiment", got, e)
	wantJSON(t, "a new experiment's result and start", []any{got.Result, got.StartedAt, got.StoppedAt}, `[null,null,null]`)

	_, err := s.CreateExperiment(ctx, meta.Experiment{ProjectID: a.ID, Name: "x", Status: "paused"})
	wantErr(t, "CreateExperiment with an unknown status", err, meta.ErrInvalid, "status")
	_, err = s.CreateExperiment(ctx, meta.Experiment{ProjectID: a.ID, Name: "x", Decision: "maybe"})
	wantErr(t, "CreateExperiment with an unknown decision", err, meta.ErrInvalid, "decision")
	if x, err := s.CreateExperiment(ctx, meta.Experiment{ProjectID: b.ID + 1000, Name: "x"}); err == nil {
		t.Fatalf("CreateExperiment for a missing project = %+v, want an error", x)
	}
	theirs := try(s.CreateExperiment(ctx, meta.Experiment{ProjectID: b.ID, Name: "b's"})).must(t)

	// b can neither read, list, change nor delete a's experiment, nor
	// read or write its timeline.
	_, err = s.Experiment(ctx, b.ID, e.ID)
	wantNotFound(t, "Experiment of another project", err)
	wantIDs(t, "Experiments of b", experimentIDs(t, s, b.ID, meta.ExperimentFilter{}), theirs.ID)
	stolen := e
	stolen.ProjectID, stolen.Name = b.ID, "stolen"
	_, err = s.UpdateExperiment(ctx, stolen, 0)
	wantNotFound(t, "UpdateExperiment of another project", err)
	wantNotFound(t, "DeleteExperiment of another project", s.DeleteExperiment(ctx, b.ID, e.ID))
	wantNotFound(t, "AddExperimentEvent of another project", s.AddExperimentEvent(ctx, meta.ExperimentEvent{ExperimentID: e.ID, ProjectID: b.ID, Kind: "note"}))
	_, err = s.ExperimentEvents(ctx, b.ID, e.ID)
	wantNotFound(t, "ExperimentEvents of another project", err)
	sameExperiment(t, "experiment after b's attempts", try(s.Experiment(ctx, a.ID, e.ID)).must(t), e)

	// Start it: times keep milliseconds, in UTC.
	start := time.Date(2026, 3, 1, 9, 30, 0, 123456789, time.FixedZone("CET", 3600))
	run := e
	run.Status, run.StartedAt = meta.ExperimentRunning, &start
	up := try(s.UpdateExperiment(ctx, run, 1)).must(t)
	want := e
	wantStart := start.UTC().Truncate(time.Millisecond)
	want.Status, want.StartedAt, want.Version, want.UpdatedAt = meta.ExperimentRunning, &wantStart, 2, up.UpdatedAt
	sameExperiment(t, "UpdateExperiment", up, want)
	sameExperiment(t, "Experiment after update", try(s.Experiment(ctx, a.ID, e.ID)).must(t), want)
	_, err = s.UpdateExperiment(ctx, run, 1)
	wantErr(t, "UpdateExperiment at a stale version", err, meta.ErrConflict, "version")
	bad := up
	bad.Status = "paused"
	_, err = s.UpdateExperiment(ctx, bad, 0)
	wantErr(t, "UpdateExperiment to an unknown status", err, meta.ErrInvalid, "status")
	missing := up
	missing.ID += 1000
	_, err = s.UpdateExperiment(ctx, missing, 0)
	wantNotFound(t, "UpdateExperiment of a missing experiment", err)
	sameExperiment(t, "Experiment after refused updates", try(s.Experiment(ctx, a.ID, e.ID)).must(t), want)

	// Newest first; Limit keeps the newest.
	e2 := try(s.CreateExperiment(ctx, meta.Experiment{ProjectID: a.ID, Name: "second"})).must(t)
	e3 := try(s.CreateExperiment(ctx, meta.Experiment{ProjectID: a.ID, Name: "third"})).must(t)
	wantIDs(t, "Experiments", experimentIDs(t, s, a.ID, meta.ExperimentFilter{}), e3.ID, e2.ID, e.ID)
	wantIDs(t, "Experiments, limit 2", experimentIDs(t, s, a.ID, meta.ExperimentFilter{Limit: 2}), e3.ID, e2.ID)

	// Deleting takes the timeline along.
	if err := s.AddExperimentEvent(ctx, meta.ExperimentEvent{ExperimentID: e2.ID, ProjectID: a.ID, Kind: "created"}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteExperiment(ctx, a.ID, e2.ID); err != nil {
		t.Fatal(err)
	}
	_, err = s.Experiment(ctx, a.ID, e2.ID)
	wantNotFound(t, "deleted experiment", err)
	_, err = s.ExperimentEvents(ctx, a.ID, e2.ID)
	wantNotFound(t, "timeline of a deleted experiment", err)
	wantNotFound(t, "second delete", s.DeleteExperiment(ctx, a.ID, e2.ID))
	_, err = s.UpdateExperiment(ctx, e2, 0)
	wantNotFound(t, "UpdateExperiment of a deleted experiment", err)
	wantIDs(t, "Experiments after delete", experimentIDs(t, s, a.ID, meta.ExperimentFilter{}), e3.ID, e.ID)
	// Ids are never reused, even the newest one's.
	if err := s.DeleteExperiment(ctx, a.ID, e3.ID); err != nil {
		t.Fatal(err)
	}
	if e4 := try(s.CreateExperiment(ctx, meta.Experiment{ProjectID: a.ID, Name: "fourth"})).must(t); e4.ID == e3.ID || e4.ID == e2.ID {
		t.Fatalf("experiment id %d reused", e4.ID)
	}
	if _, err := s.Experiment(ctx, b.ID, theirs.ID); err != nil {
		t.Fatalf("a's deletes touched b's experiment: %v", err)
	}
}

// testExperimentResultFrozen: once stopped with a result, the result never
// changes (nor does the experiment restart); the rest can still be edited.
func testExperimentResultFrozen(t *testing.T, s meta.Store) {
	ctx := context.Background()
	a, _ := twoProjects(t, s)
	e := try(s.CreateExperiment(ctx, meta.Experiment{ProjectID: a.ID, Name: "frozen", Status: meta.ExperimentRunning})).must(t)
	// While running, the result may change (a live read-out).
	e.Result = []byte(`{"live":1}`)
	e = try(s.UpdateExperiment(ctx, e, 0)).must(t)
	e.Result = []byte(`{"live":2}`)
	e = try(s.UpdateExperiment(ctx, e, 0)).must(t)
	if string(e.Result) != `{"live":2}` {
		t.Fatalf("result of a running experiment = %s", e.Result)
	}

	result := []byte(`{"variants": [{"key":"test","chance_to_win":0.97}], "p":0.03}`)
	stop := time.Now()
	e.Status, e.StoppedAt, e.Decision, e.ShippedVariant, e.Result = meta.ExperimentStopped, &stop, meta.DecisionWon, "test", result
	stopped := try(s.UpdateExperiment(ctx, e, e.Version)).must(t)
	if stopped.Status != meta.ExperimentStopped || string(stopped.Result) != string(result) || stopped.Decision != meta.DecisionWon {
		t.Fatalf("stopped experiment = %+v (result %s)", stopped, stopped.Result)
	}

	for _, c := range []struct {
		what  string
		edit  func(*meta.Experiment)
		field string
	}{
		{"a changed result", func(e *meta.Experiment) {
			e.Result = []byte(`{"variants":[{"key":"test","chance_to_win":0.5}],"p":0.5}`)
		}, "result"},
		{"no result", func(e *meta.Experiment) { e.Result = nil }, "result"},
		{"a restart", func(e *meta.Experiment) { e.Status = meta.ExperimentRunning }, "status"},
		{"back to draft", func(e *meta.Experiment) { e.Status = meta.ExperimentDraft; e.Result = []byte(`{}`) }, "result"},
	} {
		edit := stopped
		c.edit(&edit)
		_, err := s.UpdateExperiment(ctx, edit, 0)
		wantErr(t, "UpdateExperiment with "+c.what, err, meta.ErrConflict, c.field)
		sameExperiment(t, "stopped experiment after "+c.what, try(s.Experiment(ctx, a.ID, e.ID)).must(t), stopped)
	}

	// Notes and decision may change, with the result re-sent as stored
	// (white space aside); the stored bytes stay those frozen.
	edit := stopped
	edit.Notes, edit.Decision, edit.Result = "shipped to everyone", meta.DecisionInconclusive, []byte(`{"variants":[{"key":"test","chance_to_win":0.97}],"p":0.03}`)
	up := try(s.UpdateExperiment(ctx, edit, stopped.Version)).must(t)
	if up.Notes != "shipped to everyone" || up.Decision != meta.DecisionInconclusive || string(up.Result) != string(result) || up.Version != stopped.Version+1 {
		t.Fatalf("edit of a stopped experiment = %+v (result %s)", up, up.Result)
	}
	if got := try(s.Experiment(ctx, a.ID, e.ID)).must(t); string(got.Result) != string(result) {
		t.Fatalf("stored result = %s, want %s", got.Result, result)
	}
	// A stopped experiment without a result can still get one, once.
	x := try(s.CreateExperiment(ctx, meta.Experiment{ProjectID: a.ID, Name: "no result yet", Status: meta.ExperimentStopped})).must(t)
	x.Result = []byte(`{"late":true}`)
	x = try(s.UpdateExperiment(ctx, x, 0)).must(t)
	x.Result = []byte(`{"late":false}`)
	_, err := s.UpdateExperiment(ctx, x, 0)
	wantErr(t, "second result of a stopped experiment", err, meta.ErrConflict, "result")
}

// testExperimentSearch: the archive's filters, the same on both databases:
// text case-insensitively (Unicode too) with % _ and \ taken literally.
func testExperimentSearch(t *testing.T, s meta.Store) {
	ctx := context.Background()
	a, b := twoProjects(t, s)
	mk := func(e meta.Experiment) int64 {
		t.Helper()
		e.ProjectID = a.ID
		return try(s.CreateExperiment(ctx, e)).must(t).ID
	}
	x1 := mk(meta.Experiment{Name: "Checkout ÜBER Flow", Hypothesis: "Fewer steps lift conversion", Status: meta.ExperimentStopped, Decision: meta.DecisionWon,
		Definition: []byte(`{"metrics":[{"event":"Purchase_Completed","name":"KÄUFE"}]}`)})
	x2 := mk(meta.Experiment{Name: "Pricing page", Hypothesis: "Showing 20% off raises upgrades", Notes: `ran in Q3 and used C:\temp`, Status: meta.ExperimentRunning,
		Definition: []byte(`{"metrics":[{"event":"upgrade"}],"secondary":[{"metric":"Revenue"}]}`)})
	x3 := mk(meta.Experiment{Name: "Onboarding 20 percent", Hypothesis: "x", Notes: "See PRICING",
		Definition: []byte(`{"metrics":[{"event":"signed_up"}]}`)})
	try(s.CreateExperiment(ctx, meta.Experiment{ProjectID: b.ID, Name: "b's checkout", Definition: []byte(`{"metrics":[{"event":"upgrade"}]}`)})).must(t)

	for _, c := range []struct {
		f    meta.ExperimentFilter
		want []int64
	}{
		{meta.ExperimentFilter{Text: "checkout"}, []int64{x1}},
		{meta.ExperimentFilter{Text: "cHECKOUT Ü"}, []int64{x1}},
		{meta.ExperimentFilter{Text: "über"}, []int64{x1}}, // SQLite's lower() folds ASCII only
		{meta.ExperimentFilter{Text: "Über flow"}, []int64{x1}},
		{meta.ExperimentFilter{Text: "20%"}, []int64{x2}}, // not "20 percent"
		{meta.ExperimentFilter{Text: "%"}, []int64{x2}},
		{meta.ExperimentFilter{Text: "d_u"}, []int64{x3}}, // signed_up, not "and used"
		{meta.ExperimentFilter{Text: `c:\T`}, []int64{x2}},
		{meta.ExperimentFilter{Text: `\`}, []int64{x2}},
		{meta.ExperimentFilter{Text: "pricing"}, []int64{x3, x2}}, // a name, notes; newest first
		{meta.ExperimentFilter{Text: "PURCHASE_completed"}, []int64{x1}},
		{meta.ExperimentFilter{Text: "nowhere"}, nil},
		{meta.ExperimentFilter{Text: "pricing", Limit: 1}, []int64{x3}},
		{meta.ExperimentFilter{Metric: "revenue"}, []int64{x2}},
		{meta.ExperimentFilter{Metric: "pricing"}, nil}, // the definition only
		{meta.ExperimentFilter{Metric: "käufe"}, []int64{x1}},
		{meta.ExperimentFilter{Event: "signed_up"}, []int64{x3}},
		{meta.ExperimentFilter{Event: "signed%up"}, nil},
		{meta.ExperimentFilter{Event: "Purchase"}, []int64{x1}},
		{meta.ExperimentFilter{Event: "upgrade"}, []int64{x2}}, // not b's
		{meta.ExperimentFilter{Status: meta.ExperimentRunning}, []int64{x2}},
		{meta.ExperimentFilter{Status: meta.ExperimentDraft}, []int64{x3}},
		{meta.ExperimentFilter{Outcome: meta.DecisionWon}, []int64{x1}},
		{meta.ExperimentFilter{Outcome: meta.DecisionLost}, nil},
		{meta.ExperimentFilter{Status: meta.ExperimentRunning, Text: "checkout"}, nil},
		{meta.ExperimentFilter{Status: meta.ExperimentStopped, Text: "checkout", Outcome: meta.DecisionWon, Event: "purchase"}, []int64{x1}},
		{meta.ExperimentFilter{Text: "\x00"}, nil},
		{meta.ExperimentFilter{Text: "\xff"}, nil},
	} {
		wantIDs(t, fmt.Sprintf("Experiments(%#v)", c.f), experimentIDs(t, s, a.ID, c.f), c.want...)
	}
	wantIDs(t, "b's search", experimentIDs(t, s, b.ID, meta.ExperimentFilter{Text: "pricing"}))

	// Search follows edits.
	e := try(s.Experiment(ctx, a.ID, x3)).must(t)
	e.Notes = "renamed"
	try(s.UpdateExperiment(ctx, e, 0)).must(t)
	wantIDs(t, "search after an edit", experimentIDs(t, s, a.ID, meta.ExperimentFilter{Text: "pricing"}), x2)
}

// testExperimentTimeline: entries come back by time, whatever the order
// they were added in.
func testExperimentTimeline(t *testing.T, s meta.Store) {
	ctx := context.Background()
	a, _ := twoProjects(t, s)
	e := try(s.CreateExperiment(ctx, meta.Experiment{ProjectID: a.ID, Name: "timeline"})).must(t)
	if list := try(s.ExperimentEvents(ctx, a.ID, e.ID)).must(t); list == nil || len(list) != 0 {
		t.Fatalf("timeline of a new experiment = %#v, want an empty, non-nil list", list)
	}
	t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	add := []meta.ExperimentEvent{
		{Kind: "created", At: t0, UserID: 3, Detail: "draft"},
		{Kind: "started", At: t0.Add(time.Hour), UserID: 4},
		{Kind: "note", At: t0.Add(30 * time.Minute), UserID: 5, Detail: "QA passed ✓"},
	}
	for _, ev := range add {
		ev.ExperimentID, ev.ProjectID = e.ID, a.ID
		if err := s.AddExperimentEvent(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	before := time.Now().Add(-time.Minute)
	if err := s.AddExperimentEvent(ctx, meta.ExperimentEvent{ExperimentID: e.ID, ProjectID: a.ID, Kind: "edited", UserID: 6}); err != nil {
		t.Fatal(err)
	}
	got := try(s.ExperimentEvents(ctx, a.ID, e.ID)).must(t)
	if len(got) != 4 {
		t.Fatalf("timeline = %+v, want 4 entries", got)
	}
	for i, want := range []meta.ExperimentEvent{add[0], add[2], add[1]} {
		ev := got[i]
		if ev.ExperimentID != e.ID || ev.ProjectID != a.ID || ev.Kind != want.Kind || ev.UserID != want.UserID || ev.Detail != want.Detail || !ev.At.Equal(want.At) {
			t.Fatalf("timeline[%d] = %+v, want %+v", i, ev, want)
		}
	}
	if last := got[3]; last.Kind != "edited" || last.At.Before(before) || last.At.After(time.Now().Add(time.Minute)) || last.At.Location() != time.UTC {
		t.Fatalf("entry added without a time = %+v, want now", last)
	}
	wantErr(t, "unknown kind", s.AddExperimentEvent(ctx, meta.ExperimentEvent{ExperimentID: e.ID, ProjectID: a.ID, Kind: "exploded"}), meta.ErrInvalid, "kind")
	wantNotFound(t, "AddExperimentEvent of a missing experiment", s.AddExperimentEvent(ctx, meta.ExperimentEvent{ExperimentID: e.ID + 1000, ProjectID: a.ID, Kind: "note"}))
	_, err := s.ExperimentEvents(ctx, a.ID, e.ID+1000)
	wantNotFound(t, "ExperimentEvents of a missing experiment", err)
	if got := try(s.ExperimentEvents(ctx, a.ID, e.ID)).must(t); len(got) != 4 {
		t.Fatalf("refused entries were added: %+v", got)
	}
}

// testLayers: layers are per project, listed by name, names unique.
func testLayers(t *testing.T, s meta.Store) {
	ctx := context.Background()
	a, b := twoProjects(t, s)
	if list := try(s.Layers(ctx, a.ID)).must(t); list == nil || len(list) != 0 {
		t.Fatalf("layers of a new project = %#v, want an empty, non-nil list", list)
	}
	checkout := try(s.CreateLayer(ctx, meta.Layer{ProjectID: a.ID, Name: "checkout"})).must(t)
	if checkout.ID == 0 || checkout.ProjectID != a.ID || checkout.CreatedAt.IsZero() {
		t.Fatalf("CreateLayer = %+v", checkout)
	}
	home := try(s.CreateLayer(ctx, meta.Layer{ProjectID: a.ID, Name: "Home"})).must(t)
	_, err := s.CreateLayer(ctx, meta.Layer{ProjectID: a.ID, Name: "checkout"})
	wantErr(t, "CreateLayer with a taken name", err, meta.ErrConflict, "name")
	_, err = s.CreateLayer(ctx, meta.Layer{ProjectID: a.ID, Name: " "})
	wantErr(t, "CreateLayer without a name", err, meta.ErrInvalid, "name")
	theirs := try(s.CreateLayer(ctx, meta.Layer{ProjectID: b.ID, Name: "checkout"})).must(t)
	list := try(s.Layers(ctx, a.ID)).must(t)
	if len(list) != 2 || list[0].ID != home.ID || list[1].ID != checkout.ID || !list[1].CreatedAt.Equal(checkout.CreatedAt) || list[1].Name != "checkout" {
		t.Fatalf("Layers = %+v, want Home, checkout", list)
	}
	if list := try(s.Layers(ctx, b.ID)).must(t); len(list) != 1 || list[0].ID != theirs.ID {
		t.Fatalf("Layers of b = %+v", list)
	}
	if l, err := s.CreateLayer(ctx, meta.Layer{ProjectID: b.ID + 1000, Name: "x"}); err == nil {
		t.Fatalf("CreateLayer for a missing project = %+v, want an error", l)
	}
}
