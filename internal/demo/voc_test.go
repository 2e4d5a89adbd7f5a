package demo_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/app"
	"github.com/journey-dev/journey/internal/demo"
	"github.com/journey-dev/journey/internal/meta"
	"github.com/journey-dev/journey/internal/voc"
)

// TestDemoVoC: the demo SaaS's VoC story through the real API of the
// embedded stack (its detractors consumer running): the top theme by
// revenue is the planted one and touches the enterprise accounts, the
// crowded one tops the persons, the survey's NPS is the hand-computed
// value, detractors' answers became feedback items, and the SLA view
// shows history (first responses and resolutions, each within and past
// its target) and open breaches.
func TestDemoVoC(t *testing.T) {
	ctx := context.Background()
	a, err := app.Open(app.Config{DataDir: t.TempDir(), AdminKey: "demo-voc-admin-key-0123456789", NoSync: true, Campaigns: true})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler)
	defer func() { srv.Close(); a.Close() }()
	p, key, err := a.Meta.CreateProject(ctx, "Demo SaaS", "UTC")
	if err != nil {
		t.Fatal(err)
	}
	end := time.Now()
	o := demo.Options{Seed: 42, End: end, Days: 60}
	if _, err := demo.SaaS(ctx, p.ID, a.Log.Append, o, 30_000, nil); err != nil {
		t.Fatal(err)
	}
	if err := a.Loader.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	story, err := demo.VoC(ctx, demo.VoCEnv{Meta: a.Meta, Events: a.Events, Sink: a.Log.Append, Sync: a.Loader.Sync, Project: p, Seed: 42, End: end})
	if err != nil {
		t.Fatal(err)
	}
	get := func(path string, v any) {
		t.Helper()
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || json.Unmarshal(b, v) != nil {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
		}
	}

	// 40 respondents: every fourth a detractor, every fourth but one a
	// passive, the rest promoters: (20 − 10) / 40 = NPS 25.
	if story.Promoters != 20 || story.Passives != 10 || story.Detractors != 10 || story.NPS != 25 {
		t.Fatalf("story %+v", story)
	}
	var res struct {
		Respondents int `json:"respondents"`
		Questions   []struct {
			NPS *voc.NPS `json:"nps"`
		} `json:"questions"`
	}
	get(fmt.Sprintf("/api/v1/surveys/%d/results", story.Survey.ID), &res)
	if res.Respondents != 40 || res.Questions[0].NPS == nil || res.Questions[0].NPS.Score != 25 || res.Questions[0].NPS.Detractors != 10 {
		t.Fatalf("survey results %+v (nps %+v)", res, res.Questions[0].NPS)
	}

	// The detractors' open answers become items (the consumer runs
	// beside the loader), most of them in the invoice theme.
	var fb struct {
		Items []struct {
			ThemeID int64  `json:"theme_id"`
			Source  string `json:"source"`
		} `json:"items"`
	}
	for deadline := time.Now().Add(30 * time.Second); ; {
		get("/api/v1/feedback?tag="+voc.TagNPSDetractor, &fb)
		if len(fb.Items) == story.Detractors || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	inTheme := 0
	for _, it := range fb.Items {
		if it.Source != meta.SourceSurvey {
			t.Errorf("detractor item %+v", it)
		}
		if it.ThemeID == story.TopTheme.ID {
			inTheme++
		}
	}
	if len(fb.Items) != story.Detractors || inTheme == 0 {
		t.Fatalf("%d detractor items (%d in the invoice theme), want %d", len(fb.Items), inTheme, story.Detractors)
	}

	type theme struct {
		ID       int64   `json:"id"`
		Name     string  `json:"name"`
		Persons  int     `json:"persons"`
		Accounts int     `json:"accounts"`
		Revenue  float64 `json:"revenue"`
	}
	var byRevenue, byPersons struct{ Themes []theme }
	get("/api/v1/themes?sort=revenue", &byRevenue)
	get("/api/v1/themes?sort=persons", &byPersons)
	top := byRevenue.Themes[0]
	if top.ID != story.TopTheme.ID || top.Revenue < 1990 || top.Revenue <= byRevenue.Themes[1].Revenue {
		t.Fatalf("themes by revenue %+v: want %q first, with an enterprise account's MRR", byRevenue.Themes, story.TopTheme.Name)
	}
	if byPersons.Themes[0].ID != story.Crowded.ID || byPersons.Themes[0].Persons <= top.Persons {
		t.Fatalf("themes by persons %+v: want %q first", byPersons.Themes, story.Crowded.Name)
	}

	var sla struct {
		Priorities []struct {
			Priority      string         `json:"priority"`
			FirstResponse voc.ClockStats `json:"first_response"`
			Resolve       voc.ClockStats `json:"resolve"`
		} `json:"priorities"`
		Breaches []voc.Breach `json:"breaches"`
	}
	get("/api/v1/feedback/sla", &sla)
	measured, late, resolved, resolvedLate := 0, 0, 0, 0
	for _, pr := range sla.Priorities {
		measured += pr.FirstResponse.Measured
		late += pr.FirstResponse.Breached
		resolved += pr.Resolve.Measured
		resolvedLate += pr.Resolve.Breached
	}
	// History: first responses and resolutions over the past weeks, some
	// within their targets and some past them, as the story planted.
	if measured != story.Replied || late != story.AnsweredLate || resolved != story.Resolved || resolvedLate != story.ResolvedLate {
		t.Fatalf("SLA: first responses %d (%d late), resolutions %d (%d late); story %+v", measured, late, resolved, resolvedLate, story)
	}
	if late == 0 || measured-late == 0 || resolvedLate == 0 || resolved-resolvedLate == 0 {
		t.Fatalf("SLA history: first responses %d (%d late), resolutions %d (%d late): want some met and some breached of each", measured, late, resolved, resolvedLate)
	}
	urgent := 0
	for _, b := range sla.Breaches {
		if b.Priority == meta.PriorityUrgent {
			urgent++
		}
	}
	if measured < story.Replied || len(sla.Breaches) == 0 || urgent == 0 {
		t.Fatalf("SLA: %d first responses measured (story replied %d), breaches %+v", measured, story.Replied, sla.Breaches)
	}
	t.Log(story.Summary())
}
