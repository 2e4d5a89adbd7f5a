package metatest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/meta"
)

func runDefinitions(t *testing.T, open func(t *testing.T) meta.Store) {
	t.Run("DefinitionsMerge", func(t *testing.T) { testDefinitionsMerge(t, open(t)) })
	t.Run("DefinitionsCap", func(t *testing.T) { testDefinitionsCap(t, open(t)) })
}

func at(sec int64) time.Time { return time.Unix(1_700_000_000+sec, 0).UTC() }

// testDefinitionsMerge: two batches merge (earliest first seen, latest
// last seen, volumes added, the first type kept), projects and kinds stay
// apart, lists page and search.
func testDefinitionsMerge(t *testing.T, s meta.Store) {
	ctx := context.Background()
	a, _, err := s.CreateProject(ctx, "a", "UTC")
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := s.CreateProject(ctx, "b", "UTC")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.UpsertDefinitions(ctx, meta.DefinitionsBatch{
		Events: []meta.EventDefinition{
			{ProjectID: a.ID, Name: "$pageview", FirstSeen: at(10), LastSeen: at(20), Volume: 3},
			{ProjectID: a.ID, Name: "signup_100%", FirstSeen: at(5), LastSeen: at(5), Volume: 1},
			{ProjectID: b.ID, Name: "other", FirstSeen: at(1), LastSeen: at(1), Volume: 1},
		},
		Properties: []meta.PropertyDefinition{
			{ProjectID: a.ID, Kind: meta.PropertiesOfEvents, Name: "plan", Type: meta.TypeString, FirstSeen: at(10), LastSeen: at(20), Volume: 2},
			{ProjectID: a.ID, Kind: meta.PropertiesOfPersons, Name: "plan", Type: meta.TypeNumeric, FirstSeen: at(10), LastSeen: at(10), Volume: 1},
		},
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.UpsertDefinitions(ctx, meta.DefinitionsBatch{
		Events: []meta.EventDefinition{{ProjectID: a.ID, Name: "$pageview", FirstSeen: at(2), LastSeen: at(15), Volume: 4}},
		Properties: []meta.PropertyDefinition{
			{ProjectID: a.ID, Kind: meta.PropertiesOfEvents, Name: "plan", Type: meta.TypeNumeric, FirstSeen: at(30), LastSeen: at(40), Volume: 5},
		},
	}); err != nil {
		t.Fatal(err)
	}
	evs, n := defList(s.EventDefinitions(ctx, a.ID, meta.DefinitionQuery{}))(t)
	if n != 2 || len(evs) != 2 {
		t.Fatalf("EventDefinitions = %+v (count %d), want 2", evs, n)
	}
	want := meta.EventDefinition{ProjectID: a.ID, Name: "$pageview", FirstSeen: at(2), LastSeen: at(20), Volume: 7}
	if evs[0] != want {
		t.Fatalf("merged $pageview = %+v, want %+v", evs[0], want)
	}
	if evs[1].Name != "signup_100%" {
		t.Fatalf("second event = %+v, want signup_100%% (fewer events)", evs[1])
	}
	// Search is a case-insensitive substring; % and _ are literal.
	if got, n := defList(s.EventDefinitions(ctx, a.ID, meta.DefinitionQuery{Search: "UP_100%"}))(t); n != 1 || len(got) != 1 || got[0].Name != "signup_100%" {
		t.Fatalf("search UP_100%% = %+v (%d)", got, n)
	}
	if got, n := defList(s.EventDefinitions(ctx, a.ID, meta.DefinitionQuery{Search: "p_g"}))(t); n != 0 || len(got) != 0 {
		t.Fatalf("search p_g (a literal _) = %+v (%d), want none", got, n)
	}
	if got, n := defList(s.EventDefinitions(ctx, a.ID, meta.DefinitionQuery{Limit: 1, Offset: 1}))(t); n != 2 || len(got) != 1 || got[0].Name != "signup_100%" {
		t.Fatalf("page 2 of 1 = %+v (%d)", got, n)
	}
	if got, _ := defList(s.EventDefinitions(ctx, b.ID, meta.DefinitionQuery{}))(t); len(got) != 1 || got[0].Name != "other" {
		t.Fatalf("project b's events = %+v", got)
	}
	props, n := defList(s.PropertyDefinitions(ctx, a.ID, meta.PropertiesOfEvents, meta.DefinitionQuery{}))(t)
	wantP := meta.PropertyDefinition{ProjectID: a.ID, Kind: "event", Name: "plan", Type: meta.TypeString, FirstSeen: at(10), LastSeen: at(40), Volume: 7}
	if n != 1 || len(props) != 1 || props[0] != wantP {
		t.Fatalf("event properties = %+v (%d), want [%+v]", props, n, wantP)
	}
	props, _ = defList(s.PropertyDefinitions(ctx, a.ID, meta.PropertiesOfPersons, meta.DefinitionQuery{}))(t)
	if len(props) != 1 || props[0].Type != meta.TypeNumeric || props[0].Volume != 1 {
		t.Fatalf("person properties = %+v", props)
	}
	if d := try(s.DefinitionsDropped(ctx, a.ID)).must(t); len(d) != 0 {
		t.Fatalf("dropped = %v, want none", d)
	}
	if err := s.UpsertDefinitions(ctx, meta.DefinitionsBatch{Properties: []meta.PropertyDefinition{{ProjectID: a.ID, Kind: "group", Name: "x"}}}); err == nil {
		t.Fatal("a property definition of an unknown kind was accepted")
	}
}

// testDefinitionsCap: a project keeps MaxDefinitionsPerKind names per
// kind; stored names still update past the cap, new ones are counted as
// dropped (and so are over-long names), other projects are unaffected.
func testDefinitionsCap(t *testing.T, s meta.Store) {
	ctx := context.Background()
	a, _, err := s.CreateProject(ctx, "a", "UTC")
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := s.CreateProject(ctx, "b", "UTC")
	if err != nil {
		t.Fatal(err)
	}
	var batch meta.DefinitionsBatch
	for i := range meta.MaxDefinitionsPerKind - 1 {
		batch.Events = append(batch.Events, meta.EventDefinition{ProjectID: a.ID, Name: fmt.Sprintf("e%05d", i), FirstSeen: at(0), LastSeen: at(0), Volume: 1})
	}
	if err := s.UpsertDefinitions(ctx, batch); err != nil {
		t.Fatal(err)
	}
	long := make([]byte, meta.MaxDefinitionNameBytes+1)
	for i := range long {
		long[i] = 'x'
	}
	// Room for one: the most used new name wins it.
	if err := s.UpsertDefinitions(ctx, meta.DefinitionsBatch{Events: []meta.EventDefinition{
		{ProjectID: a.ID, Name: "rare", FirstSeen: at(1), LastSeen: at(1), Volume: 1},
		{ProjectID: a.ID, Name: "busy", FirstSeen: at(1), LastSeen: at(1), Volume: 9},
		{ProjectID: a.ID, Name: "e00000", FirstSeen: at(1), LastSeen: at(1), Volume: 1},
		{ProjectID: a.ID, Name: string(long), FirstSeen: at(1), LastSeen: at(1), Volume: 1},
		{ProjectID: b.ID, Name: "rare", FirstSeen: at(1), LastSeen: at(1), Volume: 1},
	}}); err != nil {
		t.Fatal(err)
	}
	evs, n := defList(s.EventDefinitions(ctx, a.ID, meta.DefinitionQuery{Limit: 2}))(t)
	if n != meta.MaxDefinitionsPerKind {
		t.Fatalf("project a keeps %d event names, want the cap %d", n, meta.MaxDefinitionsPerKind)
	}
	if len(evs) != 2 || evs[0].Name != "busy" || evs[1].Name != "e00000" || evs[1].Volume != 2 {
		t.Fatalf("top events = %+v, want busy (admitted) then e00000 (updated past the cap)", evs)
	}
	if got, n := defList(s.EventDefinitions(ctx, a.ID, meta.DefinitionQuery{Search: "rare"}))(t); n != 0 {
		t.Fatalf("rare was stored past the cap: %+v", got)
	}
	if d := try(s.DefinitionsDropped(ctx, a.ID)).must(t); d[meta.DefinitionEvent] != 2 || len(d) != 1 {
		t.Fatalf("dropped = %v, want event: 2 (rare and the long name)", d)
	}
	if got, n := defList(s.EventDefinitions(ctx, b.ID, meta.DefinitionQuery{}))(t); n != 1 || got[0].Name != "rare" {
		t.Fatalf("project b = %+v: another project's cap applied", got)
	}
	// Property keys have a cap of their own, counted apart.
	if err := s.UpsertDefinitions(ctx, meta.DefinitionsBatch{Properties: []meta.PropertyDefinition{
		{ProjectID: a.ID, Kind: meta.PropertiesOfPersons, Name: string(long), Type: meta.TypeString, FirstSeen: at(1), LastSeen: at(1), Volume: 1},
		{ProjectID: a.ID, Kind: meta.PropertiesOfPersons, Name: "email", Type: meta.TypeString, FirstSeen: at(1), LastSeen: at(1), Volume: 1},
	}}); err != nil {
		t.Fatal(err)
	}
	if d := try(s.DefinitionsDropped(ctx, a.ID)).must(t); d[meta.DroppedPersonProperties] != 1 || d[meta.DefinitionEvent] != 2 {
		t.Fatalf("dropped = %v, want person_property: 1 beside event: 2", d)
	}
}

// defList unpacks a list answer with its count.
func defList[T any](v T, n int, err error) func(t *testing.T) (T, int) {
	return func(t *testing.T) (T, int) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v, n
	}
}
