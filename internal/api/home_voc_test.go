package api_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"
)

// TestHomeVoC: GET /ui/api/projects/{pid}/home/voc places each top theme
// beside the journey stage its customers are at (the default stages:
// Reach, Acquisition, Activation, Retention/Engagement, Loyalty), on the
// embedded stack: the furthest stage of each author, after identity
// merges (an anonymous author who signed up as someone else) and item
// merges (a duplicate's author counts for the theme it was merged into);
// the most common stage wins, the earliest on a tie; a theme whose
// authors sent no event has none (-1). A viewer may read it; limit is
// bounded and named when refused.
func TestHomeVoC(t *testing.T) {
	x := newE2E(t)
	now := time.Now().UTC()
	at := func(m int) time.Time { return now.Add(time.Duration(-120+m) * time.Minute) }
	var evs []event
	// reach sends what brings a person to a stage: 0 Reach, 1 Acquisition,
	// 2 Activation (one order), 3 Retention (two orders).
	reach := func(who string, stage int) {
		evs = append(evs, ev("$pageview", who, at(1), nil))
		if stage >= 1 {
			evs = append(evs, ev("signed_up", who, at(2), nil))
		}
		for i := 0; i < stage-1; i++ {
			evs = append(evs, ev("order_completed", who, at(3+i), nil))
		}
	}
	reach("ann", 2)
	reach("bob", 2)
	reach("cy", 1)
	reach("ivy", 2)
	reach("dee", 0)
	reach("eve", 0)
	reach("fay", 1) // was anon-x
	evs = append(evs, ev("$identify", "fay", at(4), map[string]any{"$anon_distinct_id": "anon-x"}))
	reach("gus", 0)
	reach("hal", 3)
	x.send(evs)

	theme := func(name string) int64 {
		var th fbTheme
		x.decode(x.do("POST", "/api/v1/themes", x.key, map[string]any{"name": name}, 201), &th)
		return th.ID
	}
	item := func(who string, themeID int64) int64 {
		var it fbItem
		body := map[string]any{"text": "feedback of " + who, "distinct_id": who}
		if themeID != 0 {
			body["theme_id"] = themeID
		}
		x.decode(x.do("POST", "/api/v1/feedback", x.key, body, 201), &it)
		return it.ID
	}
	invoice, signup, ghost, tie := theme("Invoice export fails"), theme("Sign-up broken"), theme("Nobody seen"), theme("Tie")
	annItem := item("ann", invoice)
	item("bob", invoice)
	item("bob", invoice) // one person, twice
	item("cy", invoice)
	dup := item("ivy", 0)
	x.do("POST", fmt.Sprintf("/api/v1/feedback/%d/merge", dup), x.key, map[string]any{"into": annItem}, 200)
	item("dee", signup)
	item("eve", signup)
	item("anon-x", signup)
	item("ghost-1", ghost)
	item("gus", tie)
	item("hal", tie)

	c, csrf := x.uiViewer("viewer@shop.test")
	base := fmt.Sprintf("%s/ui/api/projects/%d/home/voc", x.url, x.pid)
	st, body := uiDo(t, c, csrf, "GET", base+"?limit=10", "")
	if st != 200 {
		t.Fatalf("home/voc: %d %s", st, body)
	}
	var got struct {
		Stages []string `json:"stages"`
		Themes []struct {
			ID         int64   `json:"id"`
			Name       string  `json:"name"`
			Persons    int     `json:"persons"`
			Score      float64 `json:"score"`
			StageIndex int     `json:"stage_index"`
			Stage      string  `json:"stage"`
			Furthest   []int64 `json:"furthest"`
			Placed     int64   `json:"placed"`
		} `json:"themes"`
		Formula string `json:"formula"`
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	if want := []string{"Reach", "Acquisition", "Activation", "Retention/Engagement", "Loyalty"}; !reflect.DeepEqual(got.Stages, want) || got.Formula == "" {
		t.Fatalf("stages %v (formula %q), want %v", got.Stages, got.Formula, want)
	}
	type place struct {
		stage    int
		name     string
		furthest []int64
	}
	want := map[int64]place{
		invoice: {2, "Activation", []int64{0, 1, 3, 0, 0}}, // ann, bob, ivy (merged in) at Activation; cy signed up
		signup:  {0, "Reach", []int64{2, 1, 0, 0, 0}},      // dee, eve only reached; anon-x is fay, who signed up
		ghost:   {-1, "", []int64{0, 0, 0, 0, 0}},
		tie:     {0, "Reach", []int64{1, 0, 0, 1, 0}}, // gus and hal: one each, the earlier stage
	}
	if len(got.Themes) != len(want) {
		t.Fatalf("themes %+v, want %d", got.Themes, len(want))
	}
	for i, th := range got.Themes {
		w, ok := want[th.ID]
		if !ok || th.StageIndex != w.stage || th.Stage != w.name || !reflect.DeepEqual(th.Furthest, w.furthest) {
			t.Errorf("%s: stage %d %q, furthest %v; want %d %q %v", th.Name, th.StageIndex, th.Stage, th.Furthest, w.stage, w.name, w.furthest)
		}
		var sum int64
		for _, n := range w.furthest {
			sum += n
		}
		if th.Placed != sum {
			t.Errorf("%s: placed %d, want %d", th.Name, th.Placed, sum)
		}
		if i > 0 && th.Score > got.Themes[i-1].Score {
			t.Errorf("themes not by impact: %v after %v", th.Score, got.Themes[i-1].Score)
		}
	}
	if got.Themes[0].ID != invoice || got.Themes[0].Persons != 4 {
		t.Errorf("top theme %+v, want Invoice export fails with 4 persons", got.Themes[0])
	}

	// The default is the top 5; limit=1 the top one; the range follows /home's.
	st, body = uiDo(t, c, csrf, "GET", base+"?limit=1", "")
	var one struct {
		Themes []struct{ ID int64 } `json:"themes"`
	}
	if json.Unmarshal(body, &one); st != 200 || len(one.Themes) != 1 || one.Themes[0].ID != invoice {
		t.Fatalf("limit=1: %d %s", st, body)
	}
	old := now.AddDate(0, 0, -60).Format(time.RFC3339)
	st, body = uiDo(t, c, csrf, "GET", base+"?limit=1&from="+old+"&to="+now.AddDate(0, 0, -50).Format(time.RFC3339), "")
	var past struct {
		Themes []struct {
			StageIndex int `json:"stage_index"`
		} `json:"themes"`
	}
	if json.Unmarshal(body, &past); st != 200 || len(past.Themes) != 1 || past.Themes[0].StageIndex != -1 {
		t.Fatalf("a range without events: %d %s", st, body)
	}
	for _, q := range []string{"?limit=0", "?limit=11", "?limit=x"} {
		st, body = uiDo(t, c, csrf, "GET", base+q, "")
		x.wantField(st, body, 400, "limit")
	}
	st, body = uiDo(t, c, csrf, "GET", base+"?from=yesterday", "")
	x.wantField(st, body, 400, "from")
	if st, _ := uiDo(t, c, csrf, "GET", fmt.Sprintf("%s/ui/api/projects/%d/home/voc", x.url, x.pid+1), ""); st != 404 && st != 403 {
		t.Fatalf("another project: %d", st)
	}
}
