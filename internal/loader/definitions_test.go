package loader

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/event"
	"github.com/journey-dev/journey/internal/meta"
	"github.com/journey-dev/journey/internal/meta/sqlite"
)

func runLoader(t *testing.T, ld *Loader) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		ld.Run(ctx)
	}()
	t.Cleanup(func() { cancel(); <-done })
}

func waitIdle(t *testing.T, ld *Loader) {
	select {
	case <-ld.DefinitionsIdle():
	case <-time.After(10 * time.Second):
		t.Fatal("definitions never written")
	}
}

// TestDefinitionsAtIngest: the loader keeps a real SQLite metadata store's
// definitions after each applied write: names, volumes, first and last
// event times, and the JSON type of each key's first non-null value.
func TestDefinitionsAtIngest(t *testing.T) {
	m, err := sqlite.Open(filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx := context.Background()
	p, _, err := m.CreateProject(ctx, "p", "UTC")
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	props := json.RawMessage(`{"plan":"pro","n":3,"ok":true,"when":"2024-01-02T03:04:05Z","day":"2024-01-02","o":{"a":1},"a":[1],"z":null,"$set":{"x":1}}`)
	log := &memLog{entries: []event.RawBatch{
		{ProjectID: p.ID, Events: []event.Raw{
			{Event: "$pageview", DistinctID: "d1", Timestamp: t0, Properties: props, Set: map[string]any{"email": "a@b.c", "age": 30.0}},
			{Event: "$pageview", DistinctID: "d2", Timestamp: t0.Add(-time.Hour), Properties: json.RawMessage(`{"plan":7}`)},
		}},
	}}
	ld := New(log, &memStore{}, 0)
	ld.SetDefinitions(m)
	runLoader(t, ld)
	wait, stop := context.WithTimeout(ctx, 10*time.Second)
	defer stop()
	if err := ld.WaitFor(wait, 1); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, ld)
	log.mu.Lock()
	log.entries = append(log.entries, event.RawBatch{ProjectID: p.ID, Events: []event.Raw{{Event: "signup", DistinctID: "d1", Timestamp: t0.Add(time.Hour)}}})
	log.mu.Unlock()
	if err := ld.WaitFor(wait, 2); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, ld)

	evs, n, err := m.EventDefinitions(ctx, p.ID, meta.DefinitionQuery{})
	if err != nil {
		t.Fatal(err)
	}
	want := []meta.EventDefinition{
		{ProjectID: p.ID, Name: "$pageview", FirstSeen: t0.Add(-time.Hour), LastSeen: t0, Volume: 2},
		{ProjectID: p.ID, Name: "signup", FirstSeen: t0.Add(time.Hour), LastSeen: t0.Add(time.Hour), Volume: 1},
	}
	if n != 2 || len(evs) != 2 || evs[0] != want[0] || evs[1] != want[1] {
		t.Fatalf("event definitions = %+v (%d), want %+v", evs, n, want)
	}
	ps, _, err := m.PropertyDefinitions(ctx, p.ID, meta.PropertiesOfEvents, meta.DefinitionQuery{})
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]string{}
	for _, d := range ps {
		types[d.Name] = d.Type
		if d.Name == "plan" && d.Volume != 2 {
			t.Errorf("plan volume = %d, want 2", d.Volume)
		}
	}
	wantTypes := map[string]string{"plan": meta.TypeString, "n": meta.TypeNumeric, "ok": meta.TypeBoolean, "when": meta.TypeDateTime,
		"day": meta.TypeDateTime, "o": meta.TypeObject, "a": meta.TypeArray, "z": meta.TypeString}
	for k, v := range wantTypes {
		if types[k] != v {
			t.Errorf("type of %q = %q, want %q", k, types[k], v)
		}
	}
	if _, ok := types["$set"]; ok {
		t.Error("$set counted as an event property")
	}
	pp, _, err := m.PropertyDefinitions(ctx, p.ID, meta.PropertiesOfPersons, meta.DefinitionQuery{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, d := range pp {
		got[d.Name] = d.Type
	}
	if got["email"] != meta.TypeString || got["age"] != meta.TypeNumeric {
		t.Fatalf("person property definitions = %+v", pp)
	}
}

// stuckWriter never answers until released, then fails.
type stuckWriter struct{ release chan struct{} }

func (w stuckWriter) UpsertDefinitions(ctx context.Context, _ meta.DefinitionsBatch) error {
	select {
	case <-w.release:
	case <-ctx.Done():
	}
	return errors.New("metadata store down")
}

// TestDefinitionsNeverBlockIngest: a definitions writer that hangs and
// then fails holds back neither the loader's position nor later batches;
// the failure is counted.
func TestDefinitionsNeverBlockIngest(t *testing.T) {
	log := &memLog{}
	for range 5 {
		log.entries = append(log.entries, event.RawBatch{ProjectID: 1, Events: []event.Raw{{Event: "e", DistinctID: "d", Timestamp: time.Now()}}})
	}
	w := stuckWriter{release: make(chan struct{})}
	ld := New(log, &memStore{}, 0)
	ld.SetDefinitions(w)
	runLoader(t, ld)
	before := definitionErrors.Get()
	wait, stop := context.WithTimeout(context.Background(), 10*time.Second)
	defer stop()
	if err := ld.WaitFor(wait, 5); err != nil {
		t.Fatalf("loader blocked by a stuck definitions writer: %v", err)
	}
	close(w.release)
	waitIdle(t, ld)
	if got := definitionErrors.Get() - before; got == 0 {
		t.Fatal("a failed definitions write was not counted")
	}
}

// TestDefinitionsPendingBounded: behind a stuck writer, what waits stays
// under maxPendingDefinitions and the rest is counted as skipped.
func TestDefinitionsPendingBounded(t *testing.T) {
	var d definitions
	w := stuckWriter{release: make(chan struct{})}
	d.w = w
	before := definitionSkipped.Get()
	// Three large writes while the first is stuck.
	big := func(tag string) *defAggregate {
		agg := newAggregate()
		names := agg.names(defGroup{project: 1})
		for j := range maxPendingDefinitions/2 + 1 {
			agg.add(names, tag+string(rune(j+0x100)), "", time.Time{}, 1)
		}
		return agg
	}
	d.push(big("a")) // taken by the writer, which hangs
	for {
		d.mu.Lock()
		taken := d.pending == nil
		d.mu.Unlock()
		if taken {
			break
		}
		time.Sleep(time.Millisecond)
	}
	d.push(big("b")) // waits
	d.push(big("c")) // over the bound: skipped
	d.mu.Lock()
	size := d.pending.size()
	d.mu.Unlock()
	if size > maxPendingDefinitions {
		t.Fatalf("pending holds %d names, over the bound %d", size, maxPendingDefinitions)
	}
	if definitionSkipped.Get()-before != 1 {
		t.Fatalf("skipped = %d, want 1", definitionSkipped.Get()-before)
	}
	close(w.release)
}

func TestStringType(t *testing.T) {
	for s, want := range map[string]string{
		"2024-01-02T03:04:05Z": meta.TypeDateTime, "2024-01-02T03:04:05.123+02:00": meta.TypeDateTime,
		"2024-01-02 03:04:05": meta.TypeDateTime, "2024-01-02": meta.TypeDateTime,
		"2024-13-02": meta.TypeString, "hello": meta.TypeString, "": meta.TypeString, "12345-01-02": meta.TypeString,
	} {
		if got := stringType(s); got != want {
			t.Errorf("stringType(%q) = %q, want %q", s, got, want)
		}
	}
}
