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

func runSurveys(t *testing.T, open func(t *testing.T) meta.Store) {
	t.Run("Surveys", func(t *testing.T) { testSurveys(t, open(t)) })
	t.Run("SurveysActive", func(t *testing.T) { testSurveysActive(t, open(t)) })
	t.Run("SurveysInvalid", func(t *testing.T) { testSurveysInvalid(t, open(t)) })
	t.Run("SurveysConcurrentUpdate", func(t *testing.T) { testSurveysConcurrentUpdate(t, open(t)) })
}

func sameSurvey(t *testing.T, what string, got, want meta.Survey) {
	t.Helper()
	if got.ID != want.ID || got.ProjectID != want.ProjectID || got.Name != want.Name || got.Type != want.Type || got.Status != want.Status ||
		string(got.Definition) != string(want.Definition) || !got.StartDate.Equal(want.StartDate) || !got.EndDate.Equal(want.EndDate) ||
		got.StartDate.IsZero() != want.StartDate.IsZero() || got.EndDate.IsZero() != want.EndDate.IsZero() ||
		got.Version != want.Version || got.CreatedBy != want.CreatedBy || got.UpdatedBy != want.UpdatedBy ||
		!got.CreatedAt.Equal(want.CreatedAt) || !got.UpdatedAt.Equal(want.UpdatedAt) || got.CreatedAt.Location() != time.UTC {
		t.Fatalf("%s:\ngot  %+v (definition %s)\nwant %+v (definition %s)", what, got, got.Definition, want, want.Definition)
	}
}

func surveyIDs(t *testing.T, r result[[]meta.Survey]) []int64 {
	t.Helper()
	list := r.must(t)
	if list == nil {
		t.Fatal("a survey list is nil, want a non-nil list")
	}
	ids := []int64{}
	for _, s := range list {
		ids = append(ids, s.ID)
	}
	return ids
}

// testSurveys: create (defaults, definition byte for byte, dates to the
// millisecond), read, list by status, update with optimistic concurrency
// and soft delete, each scoped to its project.
func testSurveys(t *testing.T, s meta.Store) {
	ctx := context.Background()
	a, b := twoProjects(t, s)
	wantJSON(t, "Surveys of a new project", try(s.Surveys(ctx, a.ID, "")).must(t), `[]`)
	def := []byte(`{"questions":[{"id":"q1","type":"rating","scale":10,"question":"How likely…?"}], "conditions":null}`)
	nps := try(s.CreateSurvey(ctx, meta.Survey{ProjectID: a.ID, Name: "NPS", Definition: def, CreatedBy: 7})).must(t)
	if nps.ID == 0 || nps.Type != meta.SurveyPopover || nps.Status != meta.SurveyDraft || nps.Version != 1 || nps.UpdatedBy != 7 ||
		string(nps.Definition) != string(def) || !nps.StartDate.IsZero() || !nps.EndDate.IsZero() {
		t.Fatalf("created survey = %+v", nps)
	}
	sameSurvey(t, "Survey", try(s.Survey(ctx, a.ID, nps.ID)).must(t), nps)
	start := time.Date(2026, 3, 1, 9, 30, 0, 123_456_789, time.FixedZone("KST", 9*3600))
	csat := try(s.CreateSurvey(ctx, meta.Survey{ProjectID: a.ID, Name: "CSAT", Type: meta.SurveyWidget, Status: meta.SurveyRunning,
		StartDate: start, Definition: []byte(`{}`)})).must(t)
	if !csat.StartDate.Equal(start.Truncate(time.Millisecond)) || csat.StartDate.Location() != time.UTC {
		t.Fatalf("start date = %v, want %v in UTC to the millisecond", csat.StartDate, start)
	}
	sameSurvey(t, "Survey with a start", try(s.Survey(ctx, a.ID, csat.ID)).must(t), csat)
	theirs := try(s.CreateSurvey(ctx, meta.Survey{ProjectID: b.ID, Name: "b's"})).must(t)
	if string(theirs.Definition) != "{}" {
		t.Fatalf("empty definition stored as %s, want {}", theirs.Definition)
	}

	if got := surveyIDs(t, try(s.Surveys(ctx, a.ID, ""))); fmt.Sprint(got) != fmt.Sprint([]int64{nps.ID, csat.ID}) {
		t.Fatalf("Surveys(a) = %v", got)
	}
	if got := surveyIDs(t, try(s.Surveys(ctx, a.ID, meta.SurveyRunning))); fmt.Sprint(got) != fmt.Sprint([]int64{csat.ID}) {
		t.Fatalf("running surveys of a = %v", got)
	}
	if got := surveyIDs(t, try(s.Surveys(ctx, a.ID, "bogus"))); len(got) != 0 {
		t.Fatalf("surveys in an unknown status = %v", got)
	}
	_, err := s.Survey(ctx, a.ID, theirs.ID)
	wantNotFound(t, "another project's survey", err)

	end := start.Add(30 * 24 * time.Hour)
	up := nps
	up.Name, up.Status, up.StartDate, up.EndDate, up.UpdatedBy = "NPS Q1", meta.SurveyStopped, start, end, 9
	up.Definition = []byte(`{"questions":[]}`)
	got := try(s.UpdateSurvey(ctx, up, 1)).must(t)
	if got.Version != 2 || got.Name != "NPS Q1" || got.Status != meta.SurveyStopped || got.UpdatedBy != 9 || got.CreatedBy != 7 ||
		!got.EndDate.Equal(end.Truncate(time.Millisecond)) || string(got.Definition) != `{"questions":[]}` {
		t.Fatalf("updated survey = %+v", got)
	}
	sameSurvey(t, "Survey after update", try(s.Survey(ctx, a.ID, nps.ID)).must(t), got)
	if _, err := s.UpdateSurvey(ctx, up, 1); !errors.Is(err, meta.ErrConflict) {
		t.Fatalf("update at a stale version: want ErrConflict, got %v", err)
	}
	var fe *meta.FieldError
	if _, err := s.UpdateSurvey(ctx, up, 1); !errors.As(err, &fe) || fe.Field != "version" {
		t.Fatalf("stale update names field %v, want version", err)
	}
	up.EndDate = time.Time{} // a stopped survey may lose its end date: nothing else checks that here
	if got := try(s.UpdateSurvey(ctx, up, 0)).must(t); got.Version != 3 || !got.EndDate.IsZero() {
		t.Fatalf("unchecked update = %+v, want version 3 without an end date", got)
	}
	other := up
	other.ProjectID = b.ID
	_, err = s.UpdateSurvey(ctx, other, 0)
	wantNotFound(t, "update through another project", err)

	wantNotFound(t, "delete through another project", s.DeleteSurvey(ctx, b.ID, nps.ID, 1))
	if err := s.DeleteSurvey(ctx, a.ID, nps.ID, 5); err != nil {
		t.Fatal(err)
	}
	_, err = s.Survey(ctx, a.ID, nps.ID)
	wantNotFound(t, "deleted survey", err)
	wantNotFound(t, "deleting twice", s.DeleteSurvey(ctx, a.ID, nps.ID, 5))
	_, err = s.UpdateSurvey(ctx, up, 0)
	wantNotFound(t, "updating a deleted survey", err)
	if got := surveyIDs(t, try(s.Surveys(ctx, a.ID, ""))); fmt.Sprint(got) != fmt.Sprint([]int64{csat.ID}) {
		t.Fatalf("Surveys(a) after delete = %v", got)
	}
	again := try(s.CreateSurvey(ctx, meta.Survey{ProjectID: a.ID, Name: "NPS"})).must(t)
	if again.ID <= theirs.ID {
		t.Fatalf("new survey id %d reuses an id (last was %d)", again.ID, theirs.ID)
	}
}

// testSurveysActive: only running surveys between their start and end
// dates are active, of their own project and not deleted; an end date is
// exclusive, a start date inclusive.
func testSurveysActive(t *testing.T, s meta.Store) {
	ctx := context.Background()
	a, b := twoProjects(t, s)
	now := time.Date(2026, 4, 1, 12, 0, 0, 0, time.UTC)
	mk := func(p meta.Project, name, status string, start, end time.Time) int64 {
		return try(s.CreateSurvey(ctx, meta.Survey{ProjectID: p.ID, Name: name, Status: status, StartDate: start, EndDate: end})).must(t).ID
	}
	day := 24 * time.Hour
	running := mk(a, "running", meta.SurveyRunning, now.Add(-day), time.Time{})
	startsNow := mk(a, "starts now", meta.SurveyRunning, now, time.Time{})
	endsLater := mk(a, "ends later", meta.SurveyRunning, now.Add(-day), now.Add(day))
	mk(a, "ends now", meta.SurveyRunning, now.Add(-day), now)
	mk(a, "scheduled", meta.SurveyRunning, now.Add(time.Millisecond), time.Time{})
	mk(a, "no start", meta.SurveyRunning, time.Time{}, time.Time{})
	mk(a, "draft", meta.SurveyDraft, now.Add(-day), time.Time{})
	mk(a, "stopped", meta.SurveyStopped, now.Add(-day), time.Time{})
	deleted := mk(a, "deleted", meta.SurveyRunning, now.Add(-day), time.Time{})
	mk(b, "b's", meta.SurveyRunning, now.Add(-day), time.Time{})
	if err := s.DeleteSurvey(ctx, a.ID, deleted, 1); err != nil {
		t.Fatal(err)
	}
	got := surveyIDs(t, try(s.ActiveSurveys(ctx, a.ID, now)))
	if want := []int64{running, startsNow, endsLater}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("ActiveSurveys = %v, want %v", got, want)
	}
	if got := surveyIDs(t, try(s.ActiveSurveys(ctx, a.ID, now.Add(-2*day)))); len(got) != 0 {
		t.Fatalf("ActiveSurveys before every start = %v", got)
	}
}

// testSurveysInvalid: the store refuses what it cannot keep, naming the
// field.
func testSurveysInvalid(t *testing.T, s meta.Store) {
	ctx := context.Background()
	a, _ := twoProjects(t, s)
	now := time.Now()
	for _, c := range []struct {
		s     meta.Survey
		field string
	}{
		{meta.Survey{Name: " "}, "name"},
		{meta.Survey{Name: "a\x00b"}, "name"},
		{meta.Survey{Name: "x", Type: "external_survey"}, "type"},
		{meta.Survey{Name: "x", Status: "active"}, "status"},
		{meta.Survey{Name: "x", Definition: []byte(`[1]`)}, "definition"},
		{meta.Survey{Name: "x", Definition: []byte(`{`)}, "definition"},
		{meta.Survey{Name: "x", StartDate: now, EndDate: now.Add(-time.Hour)}, "end_date"},
	} {
		c.s.ProjectID = a.ID
		_, err := s.CreateSurvey(ctx, c.s)
		var fe *meta.FieldError
		if !errors.As(err, &fe) || fe.Field != c.field || !errors.Is(err, meta.ErrInvalid) {
			t.Fatalf("CreateSurvey(%+v) = %v, want ErrInvalid naming %s", c.s, err, c.field)
		}
	}
	if got := surveyIDs(t, try(s.Surveys(ctx, a.ID, ""))); len(got) != 0 {
		t.Fatalf("refused surveys were stored: %v", got)
	}
}

// testSurveysConcurrentUpdate: of concurrent updates at one version,
// exactly one wins.
func testSurveysConcurrentUpdate(t *testing.T, s meta.Store) {
	ctx := context.Background()
	a, _ := twoProjects(t, s)
	sv := try(s.CreateSurvey(ctx, meta.Survey{ProjectID: a.ID, Name: "race"})).must(t)
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Go(func() {
			_, errs[i] = s.UpdateSurvey(ctx, meta.Survey{ID: sv.ID, ProjectID: a.ID, Name: fmt.Sprint(i)}, 1)
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
	if got := try(s.Survey(ctx, a.ID, sv.ID)).must(t); won < 0 || got.Version != 2 || got.Name != fmt.Sprint(won) {
		t.Fatalf("survey after the race = %+v (winner %d), want version 2", got, won)
	}
}
