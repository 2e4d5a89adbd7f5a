package storetest

import (
	"context"
	"encoding/json"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/event"
	"github.com/journey-dev/journey/internal/insight"
	"github.com/journey-dev/journey/internal/store"
)

// segmentGroup is the $groupidentify capture makes of a Segment group call.
func segmentGroup(distinct, key string, at time.Time) event.Raw {
	return Ev(event.GroupIdentify, distinct, at, map[string]any{
		event.PropGroupType: "company", event.PropGroupKey: key, event.PropSegmentGroup: true,
		event.PropGroups: map[string]any{"company": key},
	})
}

// groupLinks: a Segment group call links its person to the group, later
// events without $groups are stored with it, and a restarted loader
// (Identity) rebuilds the links, merged persons' included: the survivor
// keeps the later call. The odd key checks both stores' JSON unescaping.
func groupLinks(t *testing.T, s store.Store) {
	const odd = `a<&>"b` + "\u00e9"
	h := func(n float64) time.Time { return Day0.Add(time.Duration(n * float64(time.Hour))) }
	l := NewLoader(t, s)
	l.Load(1,
		segmentGroup("u1", "acme", h(1)), segmentGroup("u2", "globex", h(1.5)), segmentGroup("u4", odd, h(1)),
		// posthog-js sends $groups itself: its $groupidentify links nothing.
		Ev(event.GroupIdentify, "u3", h(1), map[string]any{event.PropGroupType: "company", event.PropGroupKey: "initech"}),
		Ev("e", "u1", h(2), nil), Ev("e", "u3", h(2), nil),
	)
	l.Load(2, Ev("e", "u1", h(2), nil)) // another project's u1 is another person
	NewLoader(t, s).Load(1, Ev("e", "u2", h(3), nil), Ev("e", "u4", h(3), nil),
		Ev("e", "u4", h(3.5), map[string]any{"$groups": map[string]any{"company": "own"}}))
	l = NewLoader(t, s)
	l.Load(1, Ev(event.Identify, "u2", h(4), map[string]any{event.PropAnonID: "u1"}))
	NewLoader(t, s).Load(1, Ev("e", "u1", h(5), nil))

	want := map[string][]string{
		"u2": {"u1 5h globex", "u2 3h globex", "u1 2h acme"}, // u1 was merged into u2
		"u3": {"u3 2h "},
		"u4": {"u4 3.5h own", "u4 3h " + odd},
	}
	for distinct, w := range want {
		if got := eventGroups(t, s, 1, distinct); !reflect.DeepEqual(got, w) {
			t.Errorf("events of %s = %q, want %q", distinct, got, w)
		}
	}
	if got := eventGroups(t, s, 2, "u1"); !reflect.DeepEqual(got, []string{"u1 2h "}) {
		t.Errorf("project 2's u1 = %q, want no group", got)
	}
	q := insight.Trend{Series: []insight.Series{{Event: "e", Math: "dau"}},
		Range: insight.Range{From: Day0, To: Day0.AddDate(0, 0, 1), Unit: "group:company"}}
	if got := one(t, s, q); !reflect.DeepEqual(got, []float64{4}) { // acme, globex, odd, own
		t.Fatalf("companies = %v, want [4]", got)
	}
}

// eventGroups lists a person's "e" events, newest first, as
// "distinct hours company".
func eventGroups(t *testing.T, s store.Store, project int64, distinct string) []string {
	t.Helper()
	p, _, err := s.PersonByDistinctID(context.Background(), project, distinct)
	if err != nil {
		t.Fatalf("person %s: %v", distinct, err)
	}
	rows, err := s.PersonEvents(context.Background(), project, p.ID, 100)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range rows {
		if r.Event != "e" {
			continue
		}
		var props struct {
			Groups map[string]string `json:"$groups"`
		}
		if err := json.Unmarshal(r.Properties, &props); err != nil {
			t.Fatalf("properties %s: %v", r.Properties, err)
		}
		hours := strconv.FormatFloat(r.Timestamp.Sub(Day0).Hours(), 'f', -1, 64)
		out = append(out, r.DistinctID+" "+hours+"h "+props.Groups["company"])
	}
	return out
}
