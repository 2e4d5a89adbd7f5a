package api

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/store"
)

// personStore is an event store holding persons only, newest (highest
// id) first for SearchPersons, as the real stores answer.
type personStore struct {
	store.Store // nil: only the methods below are called
	persons     map[int64]store.Person
	ids         map[int64][]string
}

func (s *personStore) SearchPersons(_ context.Context, _ int64, q string, limit int) ([]int64, error) {
	var out []int64
	for id := int64(len(s.persons)); id >= 1 && len(out) < limit; id-- {
		if _, ok := s.persons[id]; ok {
			out = append(out, id)
		}
	}
	return out, nil
}

func (s *personStore) Persons(_ context.Context, ids []int64) (map[int64]store.Person, error) {
	out := map[int64]store.Person{}
	for _, id := range ids {
		if p, ok := s.persons[id]; ok {
			out[id] = p
		}
	}
	return out, nil
}

func (s *personStore) PersonByID(_ context.Context, _ int64, id int64) (store.Person, []string, error) {
	p, ok := s.persons[id]
	if !ok {
		return p, nil, store.ErrNotFound
	}
	return p, s.ids[id], nil
}

func newPersonStore(n int, created time.Time) *personStore {
	ps := &personStore{persons: map[int64]store.Person{}, ids: map[int64][]string{}}
	for i := 1; i <= n; i++ {
		plan := "free"
		if i%2 == 0 {
			plan = "pro"
		}
		ps.persons[int64(i)] = store.Person{ID: int64(i), CreatedAt: created, Properties: map[string]any{"plan": plan, "n": float64(i)}}
		ps.ids[int64(i)] = []string{fmt.Sprintf("d-%d", i)}
	}
	return ps
}

// TestFlagPreview: the share of recent persons a draft flag matches, its
// variants' split, a bounded sample, the fallback to older persons,
// static cohorts, and errors that name the field.
func TestFlagPreview(t *testing.T) {
	s, h := testServer(t)
	ctx := context.Background()
	p, key, _ := s.Meta.CreateProject(ctx, "a", "UTC")
	now := time.Now()
	ps := newPersonStore(3000, now.Add(-48*time.Hour))
	s.Events = ps

	type answer struct {
		Matched, Sampled, Unevaluated int
		Share                         float64
		Variants                      map[string]int
		Recent                        bool
		Warning                       string
		WindowDays                    int `json:"window_days"`
	}
	preview := func(body string) answer {
		t.Helper()
		code, out := call(t, h, key, "POST", "/api/v1/flags/preview", body)
		if code != 200 {
			t.Fatalf("preview %s: %d %s", body, code, out)
		}
		var a answer
		if err := json.Unmarshal([]byte(out), &a); err != nil {
			t.Fatal(err)
		}
		return a
	}

	// Half the persons are on pro; half of those are in the rollout; the
	// variants split them about evenly. No key yet: a draft.
	body := `{"name":"draft","filters":{"groups":[{"properties":[{"key":"plan","value":["pro"],"operator":"exact","type":"person"}],"rollout_percentage":50}],
		"multivariate":{"variants":[{"key":"control","rollout_percentage":50},{"key":"test","rollout_percentage":50}]}}}`
	a := preview(body)
	if a.Sampled != previewSample || !a.Recent || a.WindowDays != 30 {
		t.Fatalf("sampled %d recent %v window %d, want %d recent in 30 days", a.Sampled, a.Recent, a.WindowDays, previewSample)
	}
	// Binomial(1000 pro persons, 0.5): 5 standard deviations is ±80.
	if a.Matched < 420 || a.Matched > 580 || math.Abs(a.Share-float64(a.Matched)/float64(a.Sampled)) > 1e-12 {
		t.Fatalf("matched %d (share %v) of %d, want about 500", a.Matched, a.Share, a.Sampled)
	}
	if a.Variants["control"]+a.Variants["test"] != a.Matched || a.Variants["control"] < 170 || a.Variants["test"] < 170 {
		t.Fatalf("variants %v do not split %d matched persons", a.Variants, a.Matched)
	}
	if b := preview(body); b.Matched != a.Matched || b.Variants["test"] != a.Variants["test"] {
		t.Fatalf("not deterministic: %+v then %+v", a, b)
	}
	// The key is part of the hash: another key, another (similar) split.
	if b := preview(strings.Replace(body, `"name":"draft"`, `"key":"other","name":"draft"`, 1)); b.Matched == a.Matched && b.Variants["test"] == a.Variants["test"] {
		t.Logf("keys draft and other bucket alike (%d): possible but unlikely", b.Matched)
	}
	// An inactive draft previews as if it were on; everyone when no condition.
	if a := preview(`{"key":"all","active":false,"filters":{"groups":[{"properties":[],"rollout_percentage":100}]}}`); a.Matched != previewSample || a.Share != 1 {
		t.Fatalf("everyone flag matched %d, share %v", a.Matched, a.Share)
	}
	// Numbers compare as numbers.
	if a := preview(`{"key":"n","filters":{"groups":[{"properties":[{"key":"n","value":2900,"operator":"gt","type":"person"}]}]}}`); a.Matched != 100 {
		t.Fatalf("n > 2900 matched %d, want 100", a.Matched)
	}

	// A static cohort matches on the person's distinct ids; a behavioural
	// one cannot be evaluated and says so.
	static, err := s.Meta.CreateCohort(ctx, p.ID, "vip", []byte(`{"distinct_ids":["d-2999","d-3000","d-1"]}`))
	if err != nil {
		t.Fatal(err)
	}
	behav, err := s.Meta.CreateCohort(ctx, p.ID, "buyers", []byte(`{"behavior":{"event":"order_completed","days":30}}`))
	if err != nil {
		t.Fatal(err)
	}
	if a := preview(fmt.Sprintf(`{"key":"c","filters":{"groups":[{"properties":[{"key":"id","value":%d,"type":"cohort","operator":"in"}]}]}}`, static.ID)); a.Matched != 2 || a.Unevaluated != 0 {
		t.Fatalf("static cohort matched %d (unevaluated %d), want the 2 sampled of its 3", a.Matched, a.Unevaluated)
	}
	if a := preview(fmt.Sprintf(`{"key":"c","filters":{"groups":[{"properties":[{"key":"id","value":%d,"type":"cohort"}]}]}}`, behav.ID)); a.Matched != 0 || a.Unevaluated != previewSample || !strings.Contains(a.Warning, "behavioural") {
		t.Fatalf("behavioural cohort: %+v", a)
	}

	// Bad bodies name the field.
	for body, field := range map[string]string{
		`{"key":"v","filters":{"groups":[],"multivariate":{"variants":[{"key":"a","rollout_percentage":50},{"key":"b","rollout_percentage":40}]}}}`: "filters.multivariate.variants",
		`{"key":"v","filters":{"groups":[{"properties":[{"key":"plan","value":"x","operator":"nope"}]}]}}`:                                          "filters.groups[0].properties[0].operator",
		`{"key":"v","filters":{"groups":[{"properties":[]}],"aggregation_group_type_index":0}}`:                                                     "filters.aggregation_group_type_index",
		`[1]`: "body",
	} {
		code, out := call(t, h, key, "POST", "/api/v1/flags/preview", body)
		if code != 400 || !strings.Contains(out, `"field":"`+field+`"`) {
			t.Errorf("preview %s: %d %s, want 400 naming %s", body, code, out, field)
		}
	}

	// Only old persons: the newest of them, said to be not recent.
	s.Events = newPersonStore(10, now.AddDate(0, -3, 0))
	if a := preview(`{"key":"all","filters":{"groups":[{"properties":[]}]}}`); a.Sampled != 10 || a.Recent || a.Matched != 10 {
		t.Fatalf("old persons: %+v", a)
	}
}

// TestFlagPreviewUI: the UI twin answers a logged-in member's draft, and
// the UI can list the project's cohorts for its picker.
func TestFlagPreviewUI(t *testing.T) {
	w := newInviteWorld(t)
	w.s.Events = newPersonStore(40, time.Now())
	out := w.root.do("POST", w.a+"/flags/preview", map[string]any{"key": "k", "filters": map[string]any{"groups": []any{map[string]any{"properties": []any{}, "rollout_percentage": 100}}}}, 200)
	var a struct{ Matched, Sampled int }
	if err := json.Unmarshal(out, &a); err != nil || a.Matched != 40 || a.Sampled != 40 {
		t.Fatalf("UI preview: %s (%v)", out, err)
	}
	w.eve.do("POST", w.a+"/flags/preview", map[string]any{"key": "k"}, 404) // not a member
	if _, err := w.s.Meta.CreateCohort(context.Background(), w.projectID, "vip", []byte(`{"distinct_ids":["a"]}`)); err != nil {
		t.Fatal(err)
	}
	var list []struct {
		ID   int64
		Name string
	}
	if err := json.Unmarshal(w.root.do("GET", w.a+"/cohorts", nil, 200), &list); err != nil || len(list) != 1 || list[0].Name != "vip" {
		t.Fatalf("UI cohorts: %+v (%v)", list, err)
	}
}
