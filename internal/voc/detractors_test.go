package voc_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/event"
	"github.com/journey-dev/journey/internal/eventlog"
	"github.com/journey-dev/journey/internal/meta"
	"github.com/journey-dev/journey/internal/meta/sqlite"
	"github.com/journey-dev/journey/internal/voc"
)

const npsSurvey = `{"name":"NPS","type":"popover","questions":[
 {"id":"score","type":"rating","scale":10,"display":"number","question":"How likely are you to recommend us?"},
 {"id":"why","type":"open","question":"What should we improve?"}]}`

func TestDetractorAnswer(t *testing.T) {
	s, err := voc.ParseSurvey([]byte(npsSurvey))
	if err != nil {
		t.Fatal(err)
	}
	csat, err := voc.ParseSurvey([]byte(`{"name":"CSAT","type":"popover","questions":[{"id":"sat","type":"rating","scale":5,"display":"emoji","question":"Happy?"},{"id":"why","type":"open","question":"Why?"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		s     *voc.Survey
		props map[string]any
		kind  string
		text  string
	}{
		{s, map[string]any{"$survey_response_score": 3.0, "$survey_response_why": " invoice export fails ", "$survey_submission_id": "sub-1"}, voc.TagNPSDetractor, "invoice export fails"},
		{s, map[string]any{"$survey_response_score": "6", "$survey_response_why": "slow"}, voc.TagNPSDetractor, "slow"},
		{s, map[string]any{"$survey_response": 0.0, "$survey_response_1": "legacy keys"}, voc.TagNPSDetractor, "legacy keys"},
		{s, map[string]any{"$survey_response_score": 7.0, "$survey_response_why": "passive"}, "", ""},
		{s, map[string]any{"$survey_response_score": 10.0, "$survey_response_why": "love it"}, "", ""},
		{s, map[string]any{"$survey_response_score": 2.0, "$survey_response_why": "  "}, "", ""},
		{s, map[string]any{"$survey_response_score": 2.0}, "", ""},
		{s, map[string]any{"$survey_response_score": 11.0, "$survey_response_why": "out of range"}, "", ""},
		{s, map[string]any{"$survey_response_score": 2.5, "$survey_response_why": "not an integer"}, "", ""},
		{csat, map[string]any{"$survey_response_sat": 2.0, "$survey_response_why": "rude support"}, voc.TagCSATDetractor, "rude support"},
		{csat, map[string]any{"$survey_response_sat": 3.0, "$survey_response_why": "ok"}, "", ""},
	} {
		a, ok := c.s.DetractorAnswer(c.props)
		if ok != (c.kind != "") || (ok && (a.Kind != c.kind || a.Text != c.text)) {
			t.Errorf("%v: %+v %v, want %q %q", c.props, a, ok, c.kind, c.text)
		}
	}
}

// TestDetractorsConsumer: `survey sent` events in a real file log become
// feedback items on a real SQLite store, once however often the log is
// read again, in the theme their text is like, and the consumer's
// checkpoint is stored as it goes.
func TestDetractorsConsumer(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	m, err := sqlite.Open(filepath.Join(dir, "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	lg, err := eventlog.OpenFile(filepath.Join(dir, "log"), eventlog.FileOptions{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer lg.Close()
	p, _, err := m.CreateProject(ctx, "saas", "UTC")
	if err != nil {
		t.Fatal(err)
	}
	s, err := voc.ParseSurvey([]byte(npsSurvey))
	if err != nil {
		t.Fatal(err)
	}
	rec, err := s.Record(p.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	sv, err := m.CreateSurvey(ctx, rec)
	if err != nil {
		t.Fatal(err)
	}
	th, err := m.CreateTheme(ctx, meta.Theme{ProjectID: p.ID, Name: "Invoice export"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.CreateFeedback(ctx, meta.FeedbackItem{ProjectID: p.ID, Text: "invoice export fails", DistinctID: "x", Source: meta.SourceAPI, ThemeID: th.ID}); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	resp := func(uuid, who string, score any, why, sub string) event.Event {
		props := map[string]any{"$survey_id": sv.ID, "$survey_response_score": score, "$survey_response_why": why}
		if sub != "" {
			props["$survey_submission_id"] = sub
		}
		return event.Event{UUID: uuid, Event: voc.SurveySentEvent, DistinctID: who, Timestamp: at, ReceivedAt: at, Properties: props}
	}
	evs := []event.Event{
		resp("00000000-0000-4000-8000-000000000001", "ana", 2, "the invoice export fails every time", "sub-a"),
		resp("00000000-0000-4000-8000-000000000002", "bob", 9, "great", "sub-b"),
		resp("00000000-0000-4000-8000-000000000003", "carl", "5", "dark mode please", ""),
		// posthog-js sends the submission again when a survey is
		// answered question by question: one item.
		resp("00000000-0000-4000-8000-000000000004", "ana", 2, "the invoice export fails every time", "sub-a"),
		{UUID: "00000000-0000-4000-8000-000000000005", Event: "pageview", DistinctID: "ana", Timestamp: at, ReceivedAt: at},
		resp("00000000-0000-4000-8000-000000000006", "dan", 1, "other survey", "sub-d"),
	}
	evs[5].Properties["$survey_id"] = "999"
	if err := lg.Append(ctx, event.Batch{ProjectID: p.ID, Events: evs}); err != nil {
		t.Fatal(err)
	}
	var emitted []event.Event
	d := voc.NewDetractors(voc.DetractorConfig{Log: lg, Meta: m, Emit: func(_ context.Context, b event.Batch) error {
		emitted = append(emitted, b.Events...)
		return nil
	}})
	run, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); d.Run(run) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		pos, ok, err := m.ConsumerPosition(ctx, voc.DetractorConsumer)
		if err != nil {
			t.Fatal(err)
		}
		if ok && pos == lg.End() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("checkpoint %d %v, log end %d", pos, ok, lg.End())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-done
	if d.Position() != lg.End() {
		t.Errorf("position %d, want %d", d.Position(), lg.End())
	}
	// Read again from the start (a crash before the checkpoint): nothing new.
	entries, err := lg.Read(ctx, 0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Process(ctx, entries); err != nil {
		t.Fatal(err)
	}
	items, err := m.ListFeedback(ctx, p.ID, meta.FeedbackFilter{Tag: voc.TagNPSDetractor})
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 2 {
		t.Fatalf("detractor items %+v", items)
	}
	byWho := map[string]meta.FeedbackItem{}
	for _, f := range items {
		byWho[f.DistinctID] = f
		if f.Source != meta.SourceSurvey || !slices.Contains(f.Tags, "survey-"+itoa(sv.ID)) || !f.CreatedAt.Equal(at) {
			t.Errorf("item %+v", f)
		}
	}
	if a := byWho["ana"]; a.ThemeID != th.ID || a.Text != "the invoice export fails every time" || a.ExternalID != "survey:sub-a" {
		t.Errorf("ana's item %+v: want the invoice theme", a)
	}
	if c := byWho["carl"]; c.ThemeID != 0 || c.ExternalID != "survey:00000000-0000-4000-8000-000000000003" {
		t.Errorf("carl's item %+v: no theme like it, the event's uuid as external id", c)
	}
	ids := map[string]bool{}
	for _, e := range emitted {
		if e.Event != "$feedback_submitted" {
			t.Errorf("emitted %+v", e)
		}
		ids[e.UUID] = true
	}
	if len(ids) != 2 {
		t.Errorf("emitted %d distinct $feedback_submitted events, want 2 (re-emissions share a uuid)", len(ids))
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }
