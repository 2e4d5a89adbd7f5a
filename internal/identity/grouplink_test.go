package identity

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/event"
	"github.com/journey-dev/journey/internal/store"
)

var linkT0 = time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)

func noPersons(context.Context, []int64) (map[int64]store.Person, error) {
	return map[int64]store.Person{}, nil
}

func rawEv(name, distinct string, at time.Time, props map[string]any) event.Raw {
	raw, _ := json.Marshal(props)
	return event.Raw{Event: name, DistinctID: distinct, Timestamp: at, Properties: raw}
}

// segmentGroup is what capture makes of a Segment group call.
func segmentGroup(distinct, key string, at time.Time) event.Raw {
	return rawEv(event.GroupIdentify, distinct, at, map[string]any{
		event.PropGroupType: "company", event.PropGroupKey: key, event.PropSegmentGroup: true,
		event.PropGroups: map[string]any{"company": key},
	})
}

// resolveGroups resolves one batch and returns each row's $groups.
func resolveGroups(t *testing.T, r *Resolver, evs ...event.Raw) []any {
	t.Helper()
	w, err := r.Resolve(context.Background(), []event.RawBatch{{ProjectID: 1, Events: evs}}, noPersons)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]any, len(w.Events))
	for i, row := range w.Events {
		var m map[string]any
		if err := json.Unmarshal(row.Properties, &m); err != nil {
			t.Fatalf("row %d: properties %s: %v", i, row.Properties, err)
		}
		out[i] = m[event.PropGroups]
	}
	return out
}

func co(key string) map[string]any { return map[string]any{"company": key} }

func TestGroupLinkTagsLaterEvents(t *testing.T) {
	r := New(store.Identity{})
	got := resolveGroups(t, r,
		rawEv("before", "u1", linkT0, nil),
		segmentGroup("u1", "acme", linkT0),
		rawEv("later", "u1", linkT0.Add(time.Minute), map[string]any{"plan": "pro"}),
		rawEv("own", "u1", linkT0.Add(time.Minute), map[string]any{"$groups": co("globex")}),
		rawEv("other person", "u2", linkT0.Add(time.Minute), nil),
		// posthog-js repeats $groups itself: an unmarked $groupidentify links nothing.
		rawEv(event.GroupIdentify, "u3", linkT0, map[string]any{event.PropGroupType: "company", event.PropGroupKey: "initech"}),
		rawEv("later", "u3", linkT0.Add(time.Minute), nil),
	)
	want := []any{nil, co("acme"), co("acme"), co("globex"), nil, nil, nil}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("$groups = %v, want %v", got, want)
	}
	// The link lasts across batches, and other properties are kept.
	w, _ := r.Resolve(context.Background(), []event.RawBatch{{ProjectID: 1, Events: []event.Raw{
		rawEv("next", "u1", linkT0.Add(time.Hour), map[string]any{"plan": "pro", "n": 1}),
	}}}, noPersons)
	if want := `{"$groups":{"company":"acme"},"n":1,"plan":"pro"}`; string(w.Events[0].Properties) != want {
		t.Fatalf("properties = %s, want %s", w.Events[0].Properties, want)
	}
}

func TestGroupLinkLatestCallWins(t *testing.T) {
	r := New(store.Identity{})
	got := resolveGroups(t, r,
		segmentGroup("u1", "acme", linkT0),
		segmentGroup("u1", "globex", linkT0.Add(time.Hour)),
		// Sent late (an offline queue): an older call does not replace a newer one.
		segmentGroup("u1", "initech", linkT0.Add(time.Minute)),
		rawEv("e", "u1", linkT0.Add(2*time.Hour), nil),
		// Too long to keep in memory: ignored, the event keeps its own $groups.
		segmentGroup("u1", strings.Repeat("k", maxLinkString+1), linkT0.Add(3*time.Hour)),
		rawEv("e", "u1", linkT0.Add(4*time.Hour), nil),
	)
	if got[3] == nil || !reflect.DeepEqual(got[3], co("globex")) || !reflect.DeepEqual(got[5], co("globex")) {
		t.Fatalf("$groups = %v, want globex on both later events", got)
	}
}

func TestGroupLinkMerge(t *testing.T) {
	cases := []struct {
		name string
		anon time.Duration // when the anonymous id's group call was made
		user time.Duration // the user id's; < 0: none
		want string
	}{
		{"survivor's call is later", 0, time.Hour, "globex"},
		{"merged-away person's call is later", time.Hour, 0, "acme"},
		{"survivor had none", 0, -1, "acme"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := New(store.Identity{})
			evs := []event.Raw{segmentGroup("anon", "acme", linkT0.Add(c.anon))}
			if c.user >= 0 {
				evs = append(evs, segmentGroup("user", "globex", linkT0.Add(c.user)))
			} else {
				evs = append(evs, rawEv("e", "user", linkT0, nil))
			}
			evs = append(evs,
				rawEv(event.Identify, "user", linkT0.Add(2*time.Hour), map[string]any{event.PropAnonID: "anon"}),
				rawEv("e", "anon", linkT0.Add(3*time.Hour), nil),
				rawEv("e", "user", linkT0.Add(3*time.Hour), nil))
			got := resolveGroups(t, r, evs...)
			n := len(got)
			if !reflect.DeepEqual(got[n-1], co(c.want)) || !reflect.DeepEqual(got[n-2], co(c.want)) || !reflect.DeepEqual(got[n-3], co(c.want)) {
				t.Fatalf("$groups after the merge = %v, want %s", got[n-3:], c.want)
			}
			if len(r.links) != 1 {
				t.Fatalf("links = %v, want the survivor's only", r.links)
			}
		})
	}
}

// TestGroupLinkFromStore: at start-up the links stored with merged-away
// persons go to their survivor, and the latest wins there too.
func TestGroupLinkFromStore(t *testing.T) {
	st := store.Identity{
		DistinctIDs: []store.DistinctID{{ProjectID: 1, DistinctID: "a", PersonID: 2}, {ProjectID: 1, DistinctID: "b", PersonID: 2},
			{ProjectID: 1, DistinctID: "c", PersonID: 3}},
		Overrides: []store.Override{{ProjectID: 1, OldPersonID: 1, PersonID: 2}},
		GroupLinks: []store.GroupLink{
			{ProjectID: 1, PersonID: 1, Type: "company", Key: "later", At: linkT0.Add(time.Hour)},
			{ProjectID: 1, PersonID: 2, Type: "company", Key: "earlier", At: linkT0},
			// Same time: the greater (type, key) wins, as in the stores' max().
			{ProjectID: 1, PersonID: 3, Type: "company", Key: "x", At: linkT0},
			{ProjectID: 1, PersonID: 3, Type: "company", Key: "y", At: linkT0},
		},
		MaxPersonID: 3,
	}
	got := resolveGroups(t, New(st), rawEv("e", "b", linkT0.Add(2*time.Hour), nil), rawEv("e", "c", linkT0.Add(2*time.Hour), nil))
	if want := []any{co("later"), co("y")}; !reflect.DeepEqual(got, want) {
		t.Fatalf("$groups = %v, want %v", got, want)
	}
}

func TestHasTopKey(t *testing.T) {
	cases := map[string]bool{
		`{"$groups":{}}`:                              true,
		`{"a":1,"$groups":null}`:                      true,
		` { "x" : [1,{"$groups":1}], "$groups" : 2 }`: true,
		`{"a":{"$groups":1}}`:                         false,
		`{"a":"$groups"}`:                             false,
		`{"a":["$groups",{"b":"\"$groups"}]}`:         false,
		`{"a\"":"x","b":{"$groups":1}}`:               false,
		`{"$groupsx":1}`:                              false,
		`{}`:                                          false,
		`null`:                                        false,
		``:                                            false,
	}
	for in, want := range cases {
		if got := hasTopKey([]byte(in), "$groups"); got != want {
			t.Errorf("hasTopKey(%s) = %v, want %v", in, got, want)
		}
	}
}

func TestPrependMembers(t *testing.T) {
	m := []byte(`{"$groups":{"company":"a"}}`)
	cases := map[string]string{
		`{"x":1}`:   `{"$groups":{"company":"a"},"x":1}`,
		`{}`:        `{"$groups":{"company":"a"}}`,
		` { } `:     `{"$groups":{"company":"a"}}`,
		`{ "x":1 }`: `{"$groups":{"company":"a"},"x":1 }`,
		`null`:      `{"$groups":{"company":"a"}}`,
		``:          `{"$groups":{"company":"a"}}`,
	}
	for in, want := range cases {
		got := prependMembers([]byte(in), m)
		if string(got) != want || !json.Valid(got) {
			t.Errorf("prependMembers(%q) = %s, want %s", in, got, want)
		}
	}
}
