package flagserve

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/event"
	"github.com/journey-dev/journey/internal/identity"
	"github.com/journey-dev/journey/internal/meta/sqlite"
	"github.com/journey-dev/journey/internal/store"
	"github.com/journey-dev/journey/internal/store/duckdb"
	"github.com/journey-dev/journey/internal/store/storetest"
)

// feedLoader loads batches into a real DuckDB store as the loader does
// (resolve, Apply) and feeds each committed write to the index.
type feedLoader struct {
	t   *testing.T
	st  *duckdb.Store
	r   *identity.Resolver
	pos uint64
	idx *PersonIndex
}

func newFeedLoader(t *testing.T) *feedLoader {
	t.Helper()
	st, err := duckdb.Open("", duckdb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &feedLoader{t: t, st: st, r: identity.New(store.Identity{})}
}

func (l *feedLoader) load(project int64, evs ...event.Raw) {
	l.t.Helper()
	w, err := l.r.Resolve(context.Background(), []event.RawBatch{{ProjectID: project, Events: evs}}, l.st.Persons)
	if err != nil {
		l.t.Fatal(err)
	}
	l.pos++
	w.Checkpoint = l.pos
	if err := l.st.Apply(context.Background(), w); err != nil {
		l.t.Fatal(err)
	}
	if l.idx != nil {
		l.idx.Feed(w)
	}
}

// fromStore is the person the store answers for id, with only keys'
// properties: what the index must answer.
func fromStore(t *testing.T, st store.Store, project int64, keys []string, id string) person {
	t.Helper()
	p, ids, err := st.PersonByDistinctID(context.Background(), project, id)
	if errors.Is(err, store.ErrNotFound) {
		return person{ids: []string{id}}
	}
	if err != nil {
		t.Fatal(err)
	}
	props := map[string]any{}
	for _, k := range keys {
		if v, ok := p.Properties[k]; ok {
			props[k] = v
		}
	}
	return person{props: props, ids: ids, stored: true}
}

// waitReady waits for the project's table to answer keys.
func waitReady(t *testing.T, x *PersonIndex, project int64, keys []string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, ok := x.lookup(project, keys, "nobody"); ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the index of project %d never became ready for %v", project, keys)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func checkAgainstStore(t *testing.T, l *feedLoader, project int64, keys []string, ids []string) {
	t.Helper()
	for _, id := range ids {
		got, ok := l.idx.lookup(project, keys, id)
		if !ok {
			t.Fatalf("%q: the index does not answer", id)
		}
		if want := fromStore(t, l.st, project, keys, id); !reflect.DeepEqual(got, want) {
			t.Fatalf("project %d, %q: the index answers %+v, the store %+v", project, id, got, want)
		}
	}
}

// TestIndexAgreesWithStore: random $set, $identify and $create_alias
// batches in two projects; after each, the index (built once, then fed
// the writes) answers every distinct id exactly as the store does, for
// the keys it holds: values of every JSON type, null, merges (ids moved,
// merged-away persons gone), other projects' persons apart.
func TestIndexAgreesWithStore(t *testing.T) {
	l := newFeedLoader(t)
	l.idx = NewPersonIndex(l.st, IndexOptions{})
	keys := []string{"age", "nullish", "plan", "tags"}
	at := storetest.Day0
	ids := []string{"never-seen"}
	for i := range 40 {
		ids = append(ids, fmt.Sprintf("d%d", i))
	}
	rng := rand.New(rand.NewPCG(1, 14))
	values := []any{"free", "pro", 3.0, 41.5, true, false, nil, []any{"a", 1.0}, map[string]any{"x": "y"}}
	batch := func(project int64) []event.Raw {
		var evs []event.Raw
		for range 1 + rng.IntN(8) {
			at = at.Add(time.Minute)
			d := ids[1+rng.IntN(len(ids)-1)]
			switch rng.IntN(6) {
			case 0:
				evs = append(evs, storetest.Ev("$identify", d, at, map[string]any{"$anon_distinct_id": ids[1+rng.IntN(len(ids)-1)]}))
			case 1:
				evs = append(evs, storetest.Ev("$create_alias", d, at, map[string]any{"alias": ids[1+rng.IntN(len(ids)-1)]}))
			default:
				set := map[string]any{}
				for _, k := range []string{"age", "nullish", "plan", "tags", "other"} {
					if rng.IntN(3) == 0 {
						set[k] = values[rng.IntN(len(values))]
					}
				}
				evs = append(evs, storetest.Ev("e", d, at, map[string]any{"$set": set}))
			}
		}
		return evs
	}
	l.load(1, batch(1)...)
	l.load(2, batch(2)...)
	waitReady(t, l.idx, 1, keys)
	waitReady(t, l.idx, 2, keys[:2])
	checkAgainstStore(t, l, 1, keys, ids)
	for round := range 30 {
		project := int64(1 + round%2)
		l.load(project, batch(project)...)
		checkAgainstStore(t, l, 1, keys, ids)
		checkAgainstStore(t, l, 2, keys[:2], ids)
	}
	// A deletion between two writes (as privacy's runner does it): the
	// erased persons' ids find no one, in the store and the index.
	for _, id := range []string{"d3", "d17"} {
		sub, err := l.st.ResolveSubject(context.Background(), 1, 0, id)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := l.st.ErasePerson(context.Background(), &sub); err != nil {
			t.Fatal(err)
		}
		l.r.Forget(1, sub.DistinctIDs)
		l.idx.ForgetIDs(1, sub.DistinctIDs)
		if p, _ := l.idx.lookup(1, keys, id); p.stored {
			t.Fatalf("%q erased, the index still has %+v", id, p)
		}
	}
	checkAgainstStore(t, l, 1, keys, ids)
	l.load(1, batch(1)...)
	checkAgainstStore(t, l, 1, keys, ids)
	// Merged-away persons left the index as they left the store.
	stored := 0
	if err := l.st.ScanPersons(context.Background(), 1, func(int64, []byte) error { stored++; return nil }, func(string, int64) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if st := l.idx.Stats(1); st.Keys != 4 || st.Persons != stored || st.DistinctIDs == 0 || st.EstimatedBytes <= 0 {
		t.Fatalf("stats %+v, want %d persons", st, stored)
	}
}

// pausingScanner is the store, pausing its first scan after the first
// person until released, so that writes land while the index builds.
type pausingScanner struct {
	*duckdb.Store
	once           sync.Once
	paused, resume chan struct{}
}

func (p *pausingScanner) ScanPersons(ctx context.Context, project int64, person func(int64, []byte) error, id func(string, int64) error) error {
	return p.Store.ScanPersons(ctx, project, func(pid int64, props []byte) error {
		p.once.Do(func() {
			close(p.paused)
			<-p.resume
		})
		return person(pid, props)
	}, id)
}

// TestIndexReplaysWritesDuringBuild: writes fed while the scan runs (a
// merge, new persons, changed properties) are replayed once it ends.
func TestIndexReplaysWritesDuringBuild(t *testing.T) {
	l := newFeedLoader(t)
	keys := []string{"plan"}
	ps := &pausingScanner{Store: l.st, paused: make(chan struct{}), resume: make(chan struct{})}
	l.idx = NewPersonIndex(ps, IndexOptions{})
	at := storetest.Day0
	set := func(d, plan string) event.Raw {
		at = at.Add(time.Minute)
		return storetest.Ev("e", d, at, map[string]any{"$set": map[string]any{"plan": plan}})
	}
	l.load(1, set("a", "free"), set("b", "free"), set("c", "free"))
	if _, ok := l.idx.lookup(1, keys, "a"); ok {
		t.Fatal("answered before any build")
	}
	<-ps.paused
	at = at.Add(time.Minute)
	l.load(1, set("a", "pro"), set("new", "enterprise"), storetest.Ev("$identify", "b", at, map[string]any{"$anon_distinct_id": "c"}))
	l.load(1, set("c", "team"))
	if _, ok := l.idx.lookup(1, keys, "a"); ok {
		t.Fatal("answered while building")
	}
	close(ps.resume)
	waitReady(t, l.idx, 1, keys)
	checkAgainstStore(t, l, 1, keys, []string{"a", "b", "c", "new", "none"})
	if p, _ := l.idx.lookup(1, keys, "b"); p.props["plan"] != "team" || len(p.ids) != 2 {
		t.Fatalf("merged b and c: %+v", p)
	}
}

// countingPersons counts the store's person lookups.
type countingPersons struct {
	store.Store
	n atomic.Int64
}

func (c *countingPersons) PersonByDistinctID(ctx context.Context, project int64, id string) (store.Person, []string, error) {
	c.n.Add(1)
	return c.Store.PersonByDistinctID(ctx, project, id)
}

// TestServiceReadsIndex: with the index, evaluations read no person from
// the store once it is built, answer as the store-backed service does,
// and a flag reading a key the index lacks rebuilds it (the store
// answering meanwhile); a memory bound too small refuses the index and
// the store answers.
func TestServiceReadsIndex(t *testing.T) {
	l := newFeedLoader(t)
	m, err := sqlite.Open(filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	pr, _, err := m.CreateProject(context.Background(), "p", "UTC")
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, meta: m, clock: &clock{t: time.Unix(1_800_000_000, 0)}, pid: pr.ID}
	at := storetest.Day0
	var evs []event.Raw
	for i := range 50 {
		at = at.Add(time.Second)
		evs = append(evs, storetest.Ev("e", fmt.Sprintf("u%d", i), at, map[string]any{"$set": map[string]any{
			"plan": []string{"free", "pro"}[i%2], "age": float64(20 + i), "email": fmt.Sprintf("u%d@corp.example", i)}}))
	}
	l.load(pr.ID, evs...)
	w.flag(`{"key":"pro","active":true,"filters":{"groups":[{"properties":[{"key":"plan","value":["pro"],"type":"person"}],"rollout_percentage":100}]}}`)

	counted := &countingPersons{Store: l.st}
	l.idx = NewPersonIndex(l.st, IndexOptions{})
	indexed := New(m, counted, Options{Index: l.idx, Now: w.clock.now})
	plain := New(m, l.st, Options{Now: w.clock.now, PersonTTL: time.Nanosecond})
	same := func() {
		t.Helper()
		w.clock.add(time.Millisecond) // past the plain service's person TTL
		for i := range 50 {
			id := fmt.Sprintf("u%d", i)
			a, err := indexed.Evaluate(context.Background(), &Request{ProjectID: pr.ID, DistinctID: id})
			if err != nil {
				t.Fatal(err)
			}
			b, err := plain.Evaluate(context.Background(), &Request{ProjectID: pr.ID, DistinctID: id})
			if err != nil {
				t.Fatal(err)
			}
			if values(a) != values(b) || a.Errored || b.Errored {
				t.Fatalf("%s: with the index %s, without %s", id, values(a), values(b))
			}
		}
	}
	same() // the store answers while the index builds
	waitReady(t, l.idx, pr.ID, []string{"plan"})
	before := counted.n.Load()
	same()
	if n := counted.n.Load() - before; n != 0 {
		t.Fatalf("%d store lookups with the index built", n)
	}
	// A flag reading age and email: rebuilt with them.
	w.flag(`{"key":"adult-corp","active":true,"filters":{"groups":[{"properties":[{"key":"age","operator":"gte","value":40,"type":"person"},{"key":"email","operator":"icontains","value":"@corp."}],"rollout_percentage":100}]}}`)
	w.clock.add(2 * time.Second)
	same()
	waitReady(t, l.idx, pr.ID, []string{"age", "email", "plan"})
	before = counted.n.Load()
	at = at.Add(time.Minute)
	l.load(pr.ID, storetest.Ev("e", "u3", at, map[string]any{"$set": map[string]any{"age": 10.0}}),
		storetest.Ev("e", "u48", at, map[string]any{"$set": map[string]any{"plan": "pro"}}))
	same()
	if n := counted.n.Load() - before; n != 0 {
		t.Fatalf("%d store lookups with the index rebuilt", n)
	}
	if st := l.idx.Stats(pr.ID); st.Keys != 3 || st.Persons != 50 {
		t.Fatalf("stats %+v", st)
	}

	// Forget drops the table; the next evaluation rebuilds it.
	l.idx.Forget(pr.ID)
	if l.idx.Ready(pr.ID) {
		t.Fatal("ready after Forget")
	}
	same()
	waitReady(t, l.idx, pr.ID, []string{"age", "email", "plan"})

	// Too small a bound: refused, the store answers, not retried at once.
	small := NewPersonIndex(l.st, IndexOptions{MaxBytes: 2000, Now: w.clock.now})
	bounded := New(m, counted, Options{Index: small, Now: w.clock.now, PersonTTL: time.Nanosecond})
	indexed = bounded
	same()
	deadline := time.Now().Add(10 * time.Second)
	for {
		small.mu.Lock()
		pi := small.projects[pr.ID]
		done := pi != nil && pi.building == nil && pi.refused != ""
		small.mu.Unlock()
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the bounded build never ended")
		}
		time.Sleep(5 * time.Millisecond)
	}
	before = counted.n.Load()
	same()
	if small.Ready(pr.ID) || counted.n.Load()-before != 50 {
		t.Fatalf("bounded index: ready %v, %d store lookups (want 50)", small.Ready(pr.ID), counted.n.Load()-before)
	}
}
