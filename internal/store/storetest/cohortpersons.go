package storetest

import (
	"context"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/insight"
	"github.com/journey-dev/journey/internal/store"
)

// cohortPersons: a cohort's members as of a time, paged by id: a static
// cohort's current persons (a merged person once, by its least distinct
// id), a behavioural cohort counting the merged persons' events together
// in the days before asOf, a "did not" cohort as every other current
// person of the project, and pages of one that add up to the whole.
func cohortPersons(t *testing.T, s store.Store) {
	ctx := context.Background()
	l := NewLoader(t, s)
	at := func(d, h int) time.Time { return Day0.AddDate(0, 0, d).Add(time.Duration(h) * time.Hour) }
	l.Load(1,
		Ev("buy", "a", at(-1, 10), nil), Ev("buy", "a", at(0, 9), nil),
		Ev("buy", "b", at(-5, 10), nil),
		Ev("buy", "anon", at(0, 8), nil), Ev("buy", "u", at(0, 11), nil),
		Ev("view", "c", at(0, 10), nil),
		Ev("buy", "d", at(1, 2), nil),
	)
	l.Load(2, Ev("buy", "a", at(0, 9), nil)) // another project's a
	l.Load(1, Ev("$identify", "u", at(0, 14), map[string]any{"$anon_distinct_id": "anon"}))
	id := func(distinct string) int64 {
		p, _, err := s.PersonByDistinctID(ctx, 1, distinct)
		if err != nil {
			t.Fatalf("person of %s: %v", distinct, err)
		}
		return p.ID
	}
	if id("anon") != id("u") {
		t.Fatal("anon and u are not one person")
	}
	// want lists the members by their least distinct id.
	want := func(names ...string) []store.CohortPerson {
		out := []store.CohortPerson{}
		for _, n := range names {
			out = append(out, store.CohortPerson{ID: id(n), DistinctID: n})
		}
		sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
		return out
	}
	page := func(c *insight.CohortDef, asOf time.Time, after int64, limit int) []store.CohortPerson {
		t.Helper()
		got, err := s.CohortPersons(ctx, 1, c, asOf, after, limit)
		if err != nil {
			t.Fatal(err)
		}
		if got == nil {
			got = []store.CohortPerson{}
		}
		return got
	}
	check := func(what string, c *insight.CohortDef, asOf time.Time, w []store.CohortPerson) {
		t.Helper()
		if got := page(c, asOf, 0, store.MaxCohortPage); !reflect.DeepEqual(got, w) {
			t.Fatalf("%s = %+v, want %+v", what, got, w)
		}
		// Pages of one add up to the same members.
		var paged []store.CohortPerson
		after := int64(0)
		for range len(w) + 1 {
			p := page(c, asOf, after, 1)
			if len(p) == 0 {
				break
			}
			paged = append(paged, p...)
			after = p[0].ID
		}
		if paged == nil {
			paged = []store.CohortPerson{}
		}
		if !reflect.DeepEqual(paged, w) {
			t.Fatalf("%s in pages of one = %+v, want %+v", what, paged, w)
		}
	}
	no := false
	did := func(days, n int, didIt *bool) *insight.CohortDef {
		return &insight.CohortDef{Behavior: &insight.Behavior{Event: "buy", Days: days, MinCount: n, Did: didIt}}
	}
	jan6, jan7 := at(1, 0), at(2, 0)
	// anon is the merged person's least distinct id; nobody is nobody.
	check("static", &insight.CohortDef{DistinctIDs: []string{"a", "u", "nobody"}}, jan6, want("a", "anon"))
	// buy in [Jan 3, Jan 6): a twice, the merged person twice (once as
	// anon, once as u), b's is on Dec 31, d's on Jan 6.
	check("did buy in 3 days", did(3, 1, nil), jan6, want("a", "anon"))
	check("did buy twice in 3 days", did(3, 2, nil), jan6, want("a", "anon"))
	check("did buy in 7 days", did(7, 1, nil), jan6, want("a", "anon", "b"))
	check("did not buy in 3 days", did(3, 1, &no), jan6, want("b", "c", "d"))
	// In [Jan 5, Jan 7): d bought, a's buy of Jan 4 is out of the window.
	check("did buy in 2 days to Jan 7", did(2, 1, nil), jan7, want("a", "anon", "d"))
	check("did buy twice in 2 days to Jan 7", did(2, 2, nil), jan7, want("anon"))
	// After the last member, nothing; a page beyond the bound is refused.
	all := want("b", "c", "d")
	if got := page(did(3, 1, &no), jan6, all[len(all)-1].ID, 10); len(got) != 0 {
		t.Fatalf("after the last member: %+v", got)
	}
	if _, err := s.CohortPersons(ctx, 1, did(3, 1, nil), jan6, 0, store.MaxCohortPage+1); err == nil {
		t.Fatal("a page over MaxCohortPage was answered")
	}
	if _, err := s.CohortPersons(ctx, 1, did(3, 1, nil), jan6, 0, 0); err == nil {
		t.Fatal("a page of 0 was answered")
	}
}
