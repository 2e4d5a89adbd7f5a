package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/journey-dev/journey/internal/event"
	"github.com/journey-dev/journey/internal/identity"
	"github.com/journey-dev/journey/internal/insight"
	"github.com/journey-dev/journey/internal/store"
)

// Forget makes the loader forget the persons of distinct ids, as the real
// loader does after a deletion (loader.Exclusive).
func (l *Loader) Forget(project int64, distinctIDs []string) { l.r.Forget(project, distinctIDs) }

func privacyStore(t *testing.T, s store.Store) store.Privacy {
	t.Helper()
	p, ok := s.(store.Privacy)
	if !ok {
		t.Fatalf("%T does not implement store.Privacy", s)
	}
	return p
}

// who tags every event of the deletion case with its author, so that a
// query filtered on who != alice before the deletion is what the same
// query must answer unfiltered after it.
func who(name string, props map[string]any) map[string]any {
	out := map[string]any{"who": name}
	for k, v := range props {
		out[k] = v
	}
	return out
}

// deletionData loads bob, carol, a personless ghost and alice (whose
// person, created last, has two distinct ids merged in: anon-a with a
// person of its own and anon-x with personless events adopted), and a
// project 2 person with alice's distinct id. It returns alice's events.
func deletionData(l *Loader) []event.Raw {
	at := func(d, h int) time.Time { return Day0.AddDate(0, 0, d).Add(time.Duration(h) * time.Hour) }
	l.Load(1,
		Ev("view", "bob", at(0, 9), who("bob", nil)), Ev("buy", "bob", at(0, 10), who("bob", map[string]any{"$set": map[string]any{"name": "Bob"}})),
		Ev("view", "bob", at(1, 9), who("bob", nil)), Ev("view", "bob", at(2, 9), who("bob", nil)),
		Ev("view", "carol", at(0, 12), who("carol", nil)), Ev("view", "carol", at(2, 12), who("carol", nil)), Ev("buy", "carol", at(2, 13), who("carol", nil)),
		Ev(store.SurveyEvent, "bob", at(1, 10), who("bob", map[string]any{"$survey_id": "s1", "$survey_response": 9})),
	)
	ghost := Ev("view", "ghost", at(1, 8), who("ghost", nil))
	ghost.NoPerson = true
	l.Load(1, ghost)
	anonX := Ev("view", "anon-x", at(0, 7), who("alice", nil))
	anonX.NoPerson = true
	alice := []event.Raw{
		anonX,
		Ev("view", "anon-a", at(0, 8), who("alice", nil)),
		Ev("view", "alice", at(0, 14), who("alice", map[string]any{"$set": map[string]any{"name": "Alice", "email": "alice@example.com"}})),
		Ev(event.Identify, "alice", at(0, 15), who("alice", map[string]any{event.PropAnonID: "anon-a"})),
		Ev(event.Identify, "alice", at(1, 8), who("alice", map[string]any{event.PropAnonID: "anon-x"})),
		Ev("buy", "alice", at(1, 9), who("alice", nil)),
		Ev("view", "alice", at(2, 10), who("alice", nil)),
		Ev(store.SurveyEvent, "alice", at(1, 11), who("alice", map[string]any{"$survey_id": "s1", "$survey_response": 2})),
	}
	g := segmentGroup("alice", "acme", at(1, 12))
	g.Properties, _ = json.Marshal(who("alice", map[string]any{event.PropGroupType: "company", event.PropGroupKey: "acme", event.PropSegmentGroup: true}))
	alice = append(alice, g)
	for _, e := range alice {
		l.Load(1, e) // one batch each: merges land in order
	}
	l.Load(2, Ev("view", "alice", at(0, 9), who("alice", nil)))
	return alice
}

// answers runs every insight the deletion must not disturb for others;
// filters (who != alice before the deletion) apply to the event queries.
func answers(t *testing.T, s store.Store, filters []insight.Filter) map[string]string {
	t.Helper()
	ctx := context.Background()
	rng := insight.Range{From: Day0, To: Day0.AddDate(0, 0, 3), Filters: filters}
	out := map[string]string{}
	put := func(name string, v any, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		b, _ := json.Marshal(v)
		out[name] = string(b)
	}
	trend := insight.Trend{Interval: "day", Range: rng, Series: []insight.Series{
		{Event: "view", Math: "total", Label: "views"}, {Event: "view", Math: "dau", Label: "viewers"}, {Event: "buy", Math: "dau", Label: "buyers"}}}
	put("trend", Values(t, s, time.UTC, trend), nil)
	f := insight.Funnel{Window: "3d", Order: "ordered", Range: rng, Steps: []insight.FunnelStep{{Event: "view"}, {Event: "buy"}}}
	put("funnel", runFunnel(t, s, 1, time.UTC, f).Steps, nil)
	f.Persons = "converted:1"
	put("funnel persons", runFunnel(t, s, 1, time.UTC, f).Persons, nil)
	ret := &insight.Retention{Start: insight.EventMatch{Event: "view"}, Return: insight.EventMatch{Event: "view"}, Period: "day", Periods: 2, Mode: "first_time", Range: rng}
	if err := ret.Validate(); err != nil {
		t.Fatal(err)
	}
	res, err := s.Retention(ctx, 1, time.UTC, ret)
	put("retention", res, err)
	st := &insight.Stickiness{Series: []insight.EventMatch{{Event: "view"}}, Interval: "day", Range: rng}
	sres, err := s.Stickiness(ctx, 1, time.UTC, st)
	put("stickiness", sres, err)
	return out
}

// personAnswers are the person-level reads: the list, searches, the sql
// kind, survey answers, and project 2.
func personAnswers(t *testing.T, s store.Store) map[string]string {
	t.Helper()
	ctx := context.Background()
	out := map[string]string{}
	put := func(name string, v any, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		b, _ := json.Marshal(v)
		out[name] = string(b)
	}
	for _, q := range []string{"", "Bob", "bob", "ali", "Alice", "alice@example.com"} {
		ids, err := s.SearchPersons(ctx, 1, q, 100)
		put("search "+q, ids, err)
	}
	for _, q := range []string{
		`SELECT distinct_id, event, person_id, count(*) AS n FROM events GROUP BY distinct_id, event, person_id ORDER BY distinct_id, event`,
		`SELECT count(*) AS n FROM persons`,
	} {
		res, err := s.SQL(ctx, 1, &insight.SQL{Query: q, Limit: 100})
		put("sql "+q, res, err)
	}
	sr, err := s.SurveyResponses(ctx, 1, &store.SurveyQuery{SurveyID: "s1", From: Day0, To: Day0.AddDate(0, 0, 3), Keys: []string{"$survey_response"}, Limit: 10})
	put("survey", sr, err)
	p2, ids2, err := s.PersonByDistinctID(ctx, 2, "alice")
	put("project 2", []any{p2.ID, ids2}, err)
	n2, err := s.CountEvents(ctx, 2)
	put("project 2 events", n2, err)
	return out
}

// without removes the lines of SQL rows naming one of the distinct ids,
// and alice's id from the persons list: what the person reads must
// answer after the deletion, computed from the answers before it.
func without(t *testing.T, before map[string]string, person int64, distinctIDs []string) map[string]string {
	t.Helper()
	want := map[string]string{}
	for k, v := range before {
		want[k] = v
	}
	var ids []int64
	_ = json.Unmarshal([]byte(before["search "]), &ids)
	want["search "] = mustJSON(slices.DeleteFunc(ids, func(id int64) bool { return id == person }))
	for _, q := range []string{"ali", "Alice", "alice@example.com"} {
		want["search "+q] = "[]"
	}
	const byID = `SELECT distinct_id, event, person_id, count(*) AS n FROM events GROUP BY distinct_id, event, person_id ORDER BY distinct_id, event`
	var res insight.SQLResult
	decodeNumbers(before["sql "+byID], &res)
	res.Rows = slices.DeleteFunc(res.Rows, func(r []any) bool { return slices.Contains(distinctIDs, fmt.Sprint(r[0])) })
	want["sql "+byID] = mustJSON(res)
	var n insight.SQLResult
	decodeNumbers(before["sql SELECT count(*) AS n FROM persons"], &n)
	if len(n.Rows) == 1 && len(n.Rows[0]) == 1 {
		v, _ := n.Rows[0][0].(json.Number).Int64()
		n.Rows[0][0] = v - 1
	}
	want["sql SELECT count(*) AS n FROM persons"] = mustJSON(n)
	var sr []store.SurveyResponse
	_ = json.Unmarshal([]byte(before["survey"]), &sr)
	want["survey"] = mustJSON(slices.DeleteFunc(sr, func(r store.SurveyResponse) bool { return r.PersonID == person }))
	return want
}

// decodeNumbers decodes JSON keeping numbers exact (person ids above 2^53).
func decodeNumbers(s string, v any) {
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	_ = d.Decode(v)
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// deletion: a deleted person vanishes from the event store (events under
// every id it had, personless ones and merged persons' included; distinct
// ids, overrides, person row, group link) and from every insight, the
// persons list and search, the sql kind and survey answers, while every
// other person's answers stay what they were; the export before it lists
// exactly the person's events; a retry is a no-op; later events with a
// deleted distinct id start a new person, under an id never given before,
// also after a restart (the tombstones).
func deletion(t *testing.T, s store.Store) {
	ctx := context.Background()
	ps := privacyStore(t, s)
	l := NewLoader(t, s)
	alice := deletionData(l)
	notAlice := []insight.Filter{{Property: "who", Op: "neq", Value: "alice"}}
	others, all := answers(t, s, notAlice), answers(t, s, nil)
	for k := range others {
		if others[k] == all[k] {
			t.Fatalf("%s is %s with and without alice: the case does not test it", k, all[k])
		}
	}
	persons := personAnswers(t, s)
	p, _, err := s.PersonByDistinctID(ctx, 1, "alice")
	if err != nil {
		t.Fatal(err)
	}

	sub, err := ps.ResolveSubject(ctx, 1, 0, "anon-a")
	if err != nil {
		t.Fatal(err)
	}
	if byID, err := ps.ResolveSubject(ctx, 1, p.ID, ""); err != nil || !reflect.DeepEqual(byID, sub) {
		t.Fatalf("subject by id = %+v, %v; by distinct id %+v", byID, err, sub)
	}
	anonX := identity.Personless(1, "anon-x")
	if sub.PersonID != p.ID || fmt.Sprint(sub.DistinctIDs) != "[alice anon-a anon-x]" || len(sub.MergedIDs) != 2 || !slices.Contains(sub.MergedIDs, anonX) {
		t.Fatalf("subject = %+v, want person %d with alice, anon-a, anon-x and two merged ids (one %d)", sub, p.ID, anonX)
	}
	if _, err := ps.ResolveSubject(ctx, 2, p.ID, ""); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("project 2's subject of person %d: %v, want ErrNotFound", p.ID, err)
	}
	if _, err := ps.ResolveSubject(ctx, 1, 0, "ghost"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("subject of a personless id: %v, want ErrNotFound", err)
	}
	c, err := ps.CountSubject(ctx, &sub)
	want := store.ErasedCounts{Events: int64(len(alice)), DistinctIDs: 3, Persons: 1, Overrides: 2}
	if err != nil || c != want {
		t.Fatalf("counts = %+v, %v; want %+v", c, err, want)
	}
	exportMatches(t, ps, &sub, alice)

	before, err := s.CountEvents(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second run finds nothing left: idempotent
		if err := ps.ErasePerson(ctx, &sub); err != nil {
			t.Fatal(err)
		}
	}
	if c, err := ps.CountSubject(ctx, &sub); err != nil || c != (store.ErasedCounts{}) {
		t.Fatalf("counts after deletion = %+v, %v", c, err)
	}
	if n, err := s.CountEvents(ctx, 1); err != nil || n != before-int64(len(alice)) {
		t.Fatalf("events after deletion = %d, %v; want %d", n, err, before-int64(len(alice)))
	}
	if page, err := ps.SubjectEvents(ctx, &sub, store.EventCursor{}, 100); err != nil || len(page) != 0 {
		t.Fatalf("export after deletion = %d events, %v", len(page), err)
	}
	for _, d := range sub.DistinctIDs {
		if _, err := ps.ResolveSubject(ctx, 1, 0, d); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("subject of %s after deletion: %v", d, err)
		}
		if _, _, err := s.PersonByDistinctID(ctx, 1, d); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("person of %s after deletion: %v", d, err)
		}
	}
	if _, _, err := s.PersonByID(ctx, 1, p.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("person %d after deletion: %v", p.ID, err)
	}
	if got := answers(t, s, nil); !reflect.DeepEqual(got, others) {
		t.Fatalf("after deletion:\n%v\nwant (others' answers before):\n%v", got, others)
	}
	if got, want := personAnswers(t, s), without(t, persons, p.ID, sub.DistinctIDs); !reflect.DeepEqual(got, want) {
		t.Fatalf("person reads after deletion:\n%v\nwant:\n%v", got, want)
	}
	identityForgets(t, s, &sub)

	// The running loader forgets; a restarted one never held them.
	l.Forget(1, sub.DistinctIDs)
	l.Load(1, Ev("view", "alice", Day0.AddDate(0, 0, 2), who("new-alice", nil)))
	np, ids, err := s.PersonByDistinctID(ctx, 1, "alice")
	if err != nil || slices.Contains(sub.PersonIDs(), np.ID) || fmt.Sprint(ids) != "[alice]" || len(np.Properties) != 0 {
		t.Fatalf("alice after deletion = %+v %v, %v; want a new, empty person", np, ids, err)
	}
	if _, _, err := s.PersonByDistinctID(ctx, 1, "anon-a"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("anon-a after alice came back: %v, want not found", err)
	}
	st, err := s.Identity(ctx)
	if err != nil || st.MaxPersonID < max(np.ID, slices.Max(sub.PersonIDs())) {
		t.Fatalf("MaxPersonID after deletion = %d, %v; want at least the deleted ids %v", st.MaxPersonID, err, sub.PersonIDs())
	}
	l2 := NewLoader(t, s)
	l2.Load(1, Ev("view", "anon-a", Day0.AddDate(0, 0, 2), who("new-anon", nil)))
	na, _, err := s.PersonByDistinctID(ctx, 1, "anon-a")
	if err != nil || na.ID <= max(np.ID, slices.Max(sub.PersonIDs())) {
		t.Fatalf("anon-a after a restart = %+v, %v; want an id above every earlier one", na, err)
	}
}

// exportMatches pages the subject's events two at a time: exactly alice's
// events, each once, in (time, uuid) order.
func exportMatches(t *testing.T, ps store.Privacy, sub *store.Subject, alice []event.Raw) {
	t.Helper()
	var got []string
	var cur store.EventCursor
	for {
		page, err := ps.SubjectEvents(context.Background(), sub, cur, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page {
			got = append(got, uuid.UUID(r.UUID).String())
			if r.Timestamp.Before(cur.T) {
				t.Fatalf("export out of order: %v after %v", r.Timestamp, cur.T)
			}
			cur = store.EventCursor{T: r.Timestamp, UUID: r.UUID}
		}
		if len(page) < 2 {
			break
		}
	}
	var want []string
	for _, e := range alice {
		want = append(want, e.UUID)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("export = %v, want %v", got, want)
	}
}

// identityForgets: a restarted loader's identity state holds nothing of
// the deleted person.
func identityForgets(t *testing.T, s store.Store, sub *store.Subject) {
	t.Helper()
	st, err := s.Identity(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ids := sub.PersonIDs()
	for _, d := range st.DistinctIDs {
		if d.ProjectID == 1 && (slices.Contains(sub.DistinctIDs, d.DistinctID) || slices.Contains(ids, d.PersonID)) {
			t.Fatalf("identity still holds %+v", d)
		}
	}
	for _, o := range st.Overrides {
		if slices.Contains(ids, o.OldPersonID) || slices.Contains(ids, o.PersonID) {
			t.Fatalf("identity still holds override %+v", o)
		}
	}
	for _, g := range st.GroupLinks {
		if slices.Contains(ids, g.PersonID) {
			t.Fatalf("identity still holds group link %+v", g)
		}
	}
}

// eventRetention: DeleteEventsBefore drops one project's events older
// than the cutoff, to the microsecond, and nothing else.
func eventRetention(t *testing.T, s store.Store) {
	ctx := context.Background()
	ps := privacyStore(t, s)
	l := NewLoader(t, s)
	cutoff := Day0.AddDate(0, 0, 1).Add(time.Microsecond)
	l.Load(1, Ev("view", "a", Day0, nil), Ev("view", "a", cutoff.Add(-time.Microsecond), nil), Ev("view", "b", cutoff, nil), Ev("view", "b", cutoff.Add(time.Hour), nil))
	l.Load(2, Ev("view", "a", Day0, nil))
	for i, want := range []int64{2, 0} {
		n, err := ps.DeleteEventsBefore(ctx, 1, cutoff)
		if err != nil || n != want {
			t.Fatalf("run %d: deleted %d, %v; want %d", i, n, err, want)
		}
	}
	if got := one(t, s, insight.Trend{Series: []insight.Series{{Event: "view"}}}); !reflect.DeepEqual(got, []float64{0, 2, 0}) {
		t.Fatalf("views by day after retention = %v, want [0 2 0]", got)
	}
	if n, err := s.CountEvents(ctx, 2); err != nil || n != 1 {
		t.Fatalf("project 2 events = %d, %v; want 1", n, err)
	}
}
