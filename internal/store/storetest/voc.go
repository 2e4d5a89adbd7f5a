package storetest

import (
	"context"
	"reflect"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/event"
	"github.com/journey-dev/journey/internal/insight"
	"github.com/journey-dev/journey/internal/store"
)

func groupSet(distinct, key string, at time.Time, set map[string]any) event.Raw {
	return Ev(event.GroupIdentify, distinct, at, map[string]any{event.PropGroupType: "company", event.PropGroupKey: key, event.PropGroupSet: set})
}

// feedbackPersons: the authors of feedback by distinct id, with their
// persons after merges (an anonymous id and the id it identified as
// answer one person), the accounts of their events' $groups in the range
// and whether they had a bad event in it; unknown ids and other projects'
// are left out. GroupProperties reads the groups' current properties.
func feedbackPersons(t *testing.T, s store.Store) {
	ctx := context.Background()
	h := func(n float64) time.Time { return Day0.Add(time.Duration(n * float64(time.Hour))) }
	groups := func(key string) map[string]any { return map[string]any{"$groups": map[string]any{"company": key}} }
	l := NewLoader(t, s)
	l.Load(1,
		groupSet("admin", "acme", h(0), map[string]any{"mrr": 100, "plan": "pro"}),
		groupSet("admin", "globex", h(0), map[string]any{"mrr": "250"}),
		groupSet("admin", "initech", h(0), map[string]any{"plan": "free", "a/b~c": 7, "none": nil}),
		Ev("$pageview", "u1", h(1), groups("acme")), Ev("$exception", "u1", h(2), nil),
		Ev("$pageview", "u2", h(1), groups("globex")), Ev("$pageview", "u2", h(3), groups("acme")),
		Ev("$pageview", "a1", h(1), groups("initech")),
		Ev("$exception", "u4", h(-5), nil), Ev("$pageview", "u4", h(4), nil),
		Ev("$pageview", "u6", h(30), groups("late")), // after the range
	)
	l.Load(1, Ev(event.Identify, "u3", h(5), map[string]any{event.PropAnonID: "a1"}), Ev("$exception", "u3", h(6), nil))
	l.Load(2, Ev("$pageview", "u5", h(1), groups("acme")), groupSet("admin", "acme", h(0), map[string]any{"mrr": 999}))
	l.Load(1, groupSet("admin", "globex", h(7), map[string]any{"mrr": 300}))
	// The range's edges: its first instant is in it, its end is not.
	pro := Ev("$pageview", "u4", Day0, groups("edge"))
	pro.Set = map[string]any{"plan": "pro"}
	l.Load(1, pro, Ev("$exception", "u6", h(24), nil), Ev("$pageview", "u6", h(24), groups("late")))
	odd := "ü \"q\"\\\t<&>" // an id JSON must escape
	l.Load(1, Ev("$pageview", odd, h(2), groups("globex")))

	q := &store.FeedbackPersonsQuery{DistinctIDs: []string{"u1", "u2", "u3", "a1", "u4", "u5", "u6", "nobody", "u1", "\xff", odd}, GroupType: "company",
		Bad: []insight.EventMatch{{Event: "$exception"}}, From: Day0, To: Day0.AddDate(0, 0, 1)}
	got, err := s.FeedbackPersons(ctx, 1, q)
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(got, func(i, j int) bool { return got[i].DistinctID < got[j].DistinctID })
	for _, p := range got {
		if i := slices.Index(q.DistinctIDs, p.DistinctID); p.Asked != i {
			t.Errorf("%q: asked %d, want %d (its first index)", p.DistinctID, p.Asked, i)
		}
	}
	pid := func(d string) int64 {
		p, _, err := s.PersonByDistinctID(ctx, 1, d)
		if err != nil {
			t.Fatalf("person of %s: %v", d, err)
		}
		return p.ID
	}
	u3 := pid("u3")
	want := []store.FeedbackPerson{
		{DistinctID: "a1", Person: u3, Accounts: []string{"initech"}, Bad: true},
		{DistinctID: "u1", Person: pid("u1"), Accounts: []string{"acme"}, Bad: true},
		{DistinctID: "u2", Person: pid("u2"), Accounts: []string{"acme", "globex"}},
		{DistinctID: "u3", Person: u3, Accounts: []string{"initech"}, Bad: true},
		{DistinctID: "u4", Person: pid("u4"), Accounts: []string{"edge"}},
		{DistinctID: "u6", Person: pid("u6"), Accounts: []string{}},
		{DistinctID: odd, Person: pid(odd), Accounts: []string{"globex"}},
	}
	for i := range got {
		got[i].Asked = 0 // checked above
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("FeedbackPersons =\n%+v\nwant\n%+v", got, want)
	}
	// Bad days of pro persons only (a person filter): u4 is pro, and its
	// exception is before the range; u1's is not a pro's.
	q.Bad = []insight.EventMatch{{Event: "$exception"}, {Event: "$pageview", Filters: []insight.Filter{{Type: "person", Property: "plan", Op: "eq", Value: "pro"}}}}
	q.DistinctIDs = []string{"u1", "u4"}
	got, err = s.FeedbackPersons(ctx, 1, q)
	sort.Slice(got, func(i, j int) bool { return got[i].DistinctID < got[j].DistinctID })
	if err != nil || len(got) != 2 || !got[0].Bad || !got[1].Bad || !reflect.DeepEqual(got[1].Accounts, []string{"edge"}) {
		t.Fatalf("FeedbackPersons with a person filter = %+v, %v; want u1 and u4 bad, u4 of account edge", got, err)
	}
	q.Bad = q.Bad[1:]
	got, err = s.FeedbackPersons(ctx, 1, q)
	sort.Slice(got, func(i, j int) bool { return got[i].DistinctID < got[j].DistinctID })
	if err != nil || len(got) != 2 || got[0].Bad || !got[1].Bad {
		t.Fatalf("FeedbackPersons, pro pageviews bad = %+v, %v; want u4 bad only", got, err)
	}
	// Without a group type or bad events: persons only.
	got, err = s.FeedbackPersons(ctx, 1, &store.FeedbackPersonsQuery{DistinctIDs: []string{"u1"}, From: Day0, To: Day0.AddDate(0, 0, 1)})
	if err != nil || len(got) != 1 || got[0].Person != pid("u1") || len(got[0].Accounts) != 0 || got[0].Bad {
		t.Fatalf("plain FeedbackPersons = %+v, %v", got, err)
	}
	if got, err := s.FeedbackPersons(ctx, 1, &store.FeedbackPersonsQuery{}); err != nil || len(got) != 0 {
		t.Fatalf("no distinct ids = %+v, %v", got, err)
	}

	props, err := s.GroupProperties(ctx, 1, "company", []string{"acme", "globex", "initech", "missing"})
	if err != nil {
		t.Fatal(err)
	}
	wantProps := map[string]map[string]any{
		"acme":    {"mrr": float64(100), "plan": "pro"},
		"globex":  {"mrr": float64(300)},
		"initech": {"plan": "free", "a/b~c": float64(7), "none": nil},
	}
	if !reflect.DeepEqual(props, wantProps) {
		t.Fatalf("GroupProperties = %v, want %v", props, wantProps)
	}
	// The same cut to some properties: groups with none of them left out.
	vals, err := s.GroupPropertyValues(ctx, 1, "company", []string{"acme", "globex", "initech", "missing"}, []string{"mrr", "a/b~c", "none", "absent"})
	wantVals := map[string]map[string]any{
		"acme":    {"mrr": float64(100)},
		"globex":  {"mrr": float64(300)},
		"initech": {"a/b~c": float64(7), "none": nil},
	}
	if err != nil || !reflect.DeepEqual(vals, wantVals) {
		t.Fatalf("GroupPropertyValues = %v, %v; want %v", vals, err, wantVals)
	}
	vals, err = s.GroupPropertyValues(ctx, 1, "company", []string{"acme", "globex", "initech"}, []string{"plan"})
	if want := map[string]map[string]any{"acme": {"plan": "pro"}, "initech": {"plan": "free"}}; err != nil || !reflect.DeepEqual(vals, want) {
		t.Fatalf("GroupPropertyValues of plan = %v, %v; want %v", vals, err, want)
	}
	if vals, err := s.GroupPropertyValues(ctx, 1, "company", []string{"acme"}, nil); err != nil || len(vals) != 0 {
		t.Fatalf("no properties = %v, %v", vals, err)
	}
	if props, err := s.GroupProperties(ctx, 1, "team", []string{"acme"}); err != nil || len(props) != 0 {
		t.Fatalf("another group type = %v, %v", props, err)
	}
}
