package storetest

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/event"
	"github.com/journey-dev/journey/internal/store"
)

func groupCall(typ, key string, at time.Time, set map[string]any) event.Raw {
	return Ev(event.GroupIdentify, "u-"+key, at, map[string]any{event.PropGroupType: typ, event.PropGroupKey: key, event.PropGroupSet: set})
}

// listGroups: ListGroups pages a type's groups newest first (then by
// key), with merged properties and the first created_at; the search is a
// literal substring in any case (% and _ are no wildcards); Key asks for
// one group; other types and projects stay out.
func listGroups(t *testing.T, s store.Store) {
	ctx := context.Background()
	h := func(n int) time.Time { return Day0.Add(time.Duration(n) * time.Hour) }
	l := NewLoader(t, s)
	l.Load(1,
		groupCall("company", "acme", h(1), map[string]any{"plan": "pro"}),
		groupCall("company", "ACME-east", h(3), map[string]any{"n": 3.0}),
		groupCall("company", "globex", h(2), nil),
		groupCall("company", "100%_off", h(2), map[string]any{"odd": true}),
		groupCall("company", "100ab_off", h(4), nil),
		groupCall("team", "acme-team", h(5), nil))
	l.Load(1, groupCall("company", "acme", h(6), map[string]any{"seats": 5.0})) // merged; created_at stays
	l.Load(2, groupCall("company", "acme-other", h(1), nil))

	list := func(q store.GroupQuery) []store.Group {
		t.Helper()
		if q.Limit == 0 {
			q.Limit = 100
		}
		q.Type = "company"
		got, err := s.ListGroups(ctx, 1, q)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	keys := func(gs []store.Group) []string {
		out := []string{}
		for _, g := range gs {
			out = append(out, g.Key)
		}
		return out
	}
	all := list(store.GroupQuery{})
	if want := []string{"100ab_off", "ACME-east", "100%_off", "globex", "acme"}; !reflect.DeepEqual(keys(all), want) {
		t.Fatalf("all = %v, want %v", keys(all), want)
	}
	acme := all[4]
	if !acme.CreatedAt.Equal(h(1)) || !reflect.DeepEqual(acme.Properties, map[string]any{"plan": "pro", "seats": 5.0}) || acme.Type != "company" {
		t.Errorf("acme = %+v", acme)
	}
	if got := keys(list(store.GroupQuery{Search: "aCmE"})); !reflect.DeepEqual(got, []string{"ACME-east", "acme"}) {
		t.Errorf("search aCmE = %v", got)
	}
	if got := keys(list(store.GroupQuery{Search: "%_"})); !reflect.DeepEqual(got, []string{"100%_off"}) {
		t.Errorf("search %%_ = %v, want the literal match only", got)
	}
	if got := keys(list(store.GroupQuery{Search: "0_"})); len(got) != 0 {
		t.Errorf("search 0_ = %v, want none (_ is no wildcard)", got)
	}
	if got := keys(list(store.GroupQuery{Limit: 2, Offset: 1})); !reflect.DeepEqual(got, []string{"ACME-east", "100%_off"}) {
		t.Errorf("page 2 of 2 from 1 = %v", got)
	}
	if got := list(store.GroupQuery{Key: "100%_off"}); len(got) != 1 || got[0].Key != "100%_off" || got[0].Properties["odd"] != true {
		t.Errorf("key 100%%_off = %+v", got)
	}
	if got := list(store.GroupQuery{Key: "acme-other"}); len(got) != 0 {
		t.Errorf("project 2's group listed in project 1: %+v", got)
	}
	if got := list(store.GroupQuery{Key: "acme-team"}); len(got) != 0 {
		t.Errorf("type team's group listed as company: %+v", got)
	}
	if _, err := s.ListGroups(ctx, 1, store.GroupQuery{Type: "company", Limit: store.MaxGroupsPage + 2}); err == nil {
		t.Error("a page over the cap was read")
	}
}
