package identity

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"hash/maphash"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/event"
	"github.com/journey-dev/journey/internal/store"
)

// refResolver is the resolver as it was before idTable (plus adopt, which
// came later): plain maps, and a person → distinct ids map re-pointed on
// merges. TestDifferential holds
// the compact resolver to it, write for write.
type refResolver struct {
	ids       map[didKey]int64
	byPerson  map[int64][]string
	overrides map[int64]int64
	oldOf     map[int64][]int64
	// identified persons: merging one away is refused (identified.go)
	identified map[int64]bool
	next       int64

	overridden map[int64]int64 // in the batch being resolved: merged-away person → project
}

func newRef(st store.Identity) *refResolver {
	r := &refResolver{ids: map[didKey]int64{}, byPerson: map[int64][]string{}, overrides: map[int64]int64{},
		oldOf: map[int64][]int64{}, identified: map[int64]bool{}, next: st.MaxPersonID + 1}
	for _, d := range st.DistinctIDs {
		r.ids[didKey{d.ProjectID, d.DistinctID}] = d.PersonID
		r.byPerson[d.PersonID] = append(r.byPerson[d.PersonID], d.DistinctID)
	}
	for _, o := range st.Overrides {
		r.overrides[o.OldPersonID] = o.PersonID
		r.oldOf[o.PersonID] = append(r.oldOf[o.PersonID], o.OldPersonID)
	}
	for _, p := range st.Identified {
		if q, ok := r.overrides[p]; ok {
			p = q
		}
		r.identified[p] = true
	}
	return r
}

func (r *refResolver) Resolve(ctx context.Context, batches []event.RawBatch, fetch FetchPersons) (*store.Write, error) {
	b := &batchState{w: &store.Write{}, created: map[int64]time.Time{}, project: map[int64]int64{},
		dids: map[didKey]int64{}, merged: map[int64]bool{}, groups: map[string]int{}}
	r.overridden = map[int64]int64{}
	for _, batch := range batches {
		for i := range batch.Events {
			r.resolveEvent(b, batch.ProjectID, &batch.Events[i])
		}
	}
	for k, p := range b.dids {
		b.w.DistinctIDs = append(b.w.DistinctIDs, store.DistinctID{ProjectID: k.project, DistinctID: k.id, PersonID: p})
	}
	for old, project := range r.overridden {
		b.w.Overrides = append(b.w.Overrides, store.Override{ProjectID: project, OldPersonID: old, PersonID: r.overrides[old]})
	}
	if err := b.applyOps(ctx, fetch); err != nil {
		return nil, err
	}
	return b.w, nil
}

func (r *refResolver) resolveEvent(b *batchState, project int64, e *event.Raw) {
	var props map[string]any
	switch e.Event {
	case event.Identify, event.CreateAlias, MergeDangerously, event.GroupIdentify:
		props = decodeProps(e.Properties)
	}
	identifies := false
	switch e.Event {
	case event.Identify:
		if anon, ok := props[event.PropAnonID].(string); ok && anon != "" && anon != e.DistinctID {
			r.merge(b, project, e.DistinctID, anon, e.Timestamp, false)
			identifies = true
		}
	case event.CreateAlias, MergeDangerously:
		if alias := stringProp(props[event.PropAlias]); alias != "" && alias != e.DistinctID {
			r.merge(b, project, e.DistinctID, alias, e.Timestamp, e.Event == MergeDangerously)
			identifies = true
		}
	case event.GroupIdentify:
		b.group(project, props, e.Timestamp)
	}
	person, ok := r.ids[didKey{project, e.DistinctID}]
	switch {
	case ok:
	case e.NoPerson:
		person = personless(project, e.DistinctID)
	default:
		person = r.create(b, project, e.Timestamp)
		r.link(b, project, e.DistinctID, person)
	}
	if identifies && person > 0 {
		r.identified[person] = true
	}
	if person > 0 && (len(e.Set) > 0 || len(e.SetOnce) > 0 || len(e.Unset) > 0) && !e.NoPerson {
		b.ops = append(b.ops, op{person: person, set: e.Set, setOnce: e.SetOnce, unset: e.Unset, at: e.Timestamp, projectID: project})
		b.project[person] = project
	}
	b.w.Events = append(b.w.Events, store.Row{
		ProjectID: project, UUID: parseUUID(e.UUID), Event: e.Event, DistinctID: e.DistinctID,
		PersonID: person, Timestamp: e.Timestamp, Properties: e.Properties, ReceivedAt: e.ReceivedAt,
	})
}

func (r *refResolver) create(b *batchState, project int64, at time.Time) int64 {
	id := r.next
	r.next++
	b.created[id] = at
	b.project[id] = project
	b.ops = append(b.ops, op{person: id, at: at, projectID: project})
	return id
}

func (r *refResolver) link(b *batchState, project int64, distinctID string, person int64) {
	k := didKey{project, distinctID}
	if old, ok := r.ids[k]; ok {
		r.byPerson[old] = slices.DeleteFunc(r.byPerson[old], func(s string) bool { return s == distinctID })
	}
	r.ids[k] = person
	r.byPerson[person] = append(r.byPerson[person], distinctID)
	b.dids[k] = person
}

func (r *refResolver) merge(b *batchState, project int64, target, other string, at time.Time, dangerously bool) {
	if other == target {
		return
	}
	pt, okT := r.ids[didKey{project, target}]
	po, okO := r.ids[didKey{project, other}]
	switch {
	case !okT && !okO:
		p := r.create(b, project, at)
		r.link(b, project, target, p)
		r.link(b, project, other, p)
		r.adopt(b, project, target, p)
		r.adopt(b, project, other, p)
	case okT && !okO:
		r.link(b, project, other, pt)
		r.adopt(b, project, other, pt)
	case !okT && okO:
		r.link(b, project, target, po)
		r.adopt(b, project, target, po)
	case pt != po:
		if !dangerously && r.identified[po] {
			return
		}
		r.mergePersons(b, project, po, pt, at)
	}
}

// adopt: a distinct id's personless events go to the person it is first
// linked to by a merge (see Resolver.adoptPersonless).
func (r *refResolver) adopt(b *batchState, project int64, distinctID string, person int64) {
	old := personless(project, distinctID)
	r.overrides[old] = person
	r.overridden[old] = project
	r.oldOf[person] = append(r.oldOf[person], old)
	b.project[person] = project
}

func (r *refResolver) mergePersons(b *batchState, project, from, into int64, at time.Time) {
	for _, id := range append([]string(nil), r.byPerson[from]...) {
		r.link(b, project, id, into)
	}
	delete(r.byPerson, from)
	olds := append(r.oldOf[from], from)
	delete(r.oldOf, from)
	for _, old := range olds {
		r.overrides[old] = into
		r.overridden[old] = project
	}
	r.oldOf[into] = append(r.oldOf[into], olds...)
	if r.identified[from] {
		delete(r.identified, from)
		r.identified[into] = true
	}
	b.merged[from] = true
	b.project[from], b.project[into] = project, project
	b.ops = append(b.ops, op{person: into, mergeFrom: from, at: at, projectID: project})
}

// fakeStore keeps what the writes say, as the event stores do, so a
// restart can start resolvers from it.
type fakeStore struct {
	dids      map[didKey]int64
	persons   map[int64]store.Person
	overrides map[int64]store.Override
	max       int64
	// identified: the person ids of stored events that asked for a merge,
	// as the stores derive store.Identity.Identified.
	identified map[int64]bool
}

func newFakeStore() *fakeStore {
	return &fakeStore{dids: map[didKey]int64{}, persons: map[int64]store.Person{}, overrides: map[int64]store.Override{}, identified: map[int64]bool{}}
}

func (s *fakeStore) apply(w *store.Write) {
	for _, d := range w.DistinctIDs {
		s.dids[didKey{d.ProjectID, d.DistinctID}] = d.PersonID
		s.max = max(s.max, d.PersonID)
	}
	for _, p := range w.Persons {
		s.persons[p.ID] = p
		s.max = max(s.max, p.ID)
	}
	for _, o := range w.Overrides {
		s.overrides[o.OldPersonID] = o
	}
	for _, e := range w.Events {
		if e.PersonID > 0 && asksMerge(e) {
			s.identified[e.PersonID] = true
		}
	}
}

// asksMerge is the stores' condition for store.Identity.Identified.
func asksMerge(e store.Row) bool {
	props := decodeProps(e.Properties)
	switch e.Event {
	case event.Identify:
		anon, ok := props[event.PropAnonID].(string)
		return ok && anon != "" && anon != e.DistinctID
	case event.CreateAlias, MergeDangerously:
		alias := stringProp(props[event.PropAlias])
		return alias != "" && alias != e.DistinctID
	}
	return false
}

// fetch returns copies: the resolver changes the maps it is given.
func (s *fakeStore) fetch(_ context.Context, ids []int64) (map[int64]store.Person, error) {
	out := map[int64]store.Person{}
	for _, id := range ids {
		if p, ok := s.persons[id]; ok {
			p.Properties = maps.Clone(p.Properties)
			out[id] = p
		}
	}
	return out, nil
}

// identity lists the state in an order of rng's choosing, as a store may.
func (s *fakeStore) identity(rng *rand.Rand) store.Identity {
	st := store.Identity{MaxPersonID: s.max}
	for k, p := range s.dids {
		st.DistinctIDs = append(st.DistinctIDs, store.DistinctID{ProjectID: k.project, DistinctID: k.id, PersonID: p})
	}
	for _, o := range s.overrides {
		st.Overrides = append(st.Overrides, o)
	}
	for p := range s.identified {
		st.Identified = append(st.Identified, p)
	}
	rng.Shuffle(len(st.DistinctIDs), func(i, j int) { st.DistinctIDs[i], st.DistinctIDs[j] = st.DistinctIDs[j], st.DistinctIDs[i] })
	return st
}

// normalize sorts what a write lists in map order.
func normalize(w *store.Write) {
	slices.SortFunc(w.DistinctIDs, func(a, b store.DistinctID) int {
		return cmp.Or(cmp.Compare(a.ProjectID, b.ProjectID), cmp.Compare(a.DistinctID, b.DistinctID))
	})
	slices.SortFunc(w.Overrides, func(a, b store.Override) int { return cmp.Compare(a.OldPersonID, b.OldPersonID) })
	slices.SortFunc(w.Persons, func(a, b store.Person) int { return cmp.Compare(a.ID, b.ID) })
}

// gen makes random batches over a sliding window of ids, so that ids recur
// (across projects too), persons gather several ids before they merge, and
// new ids keep coming.
type gen struct {
	rng *rand.Rand
	n   int // events so far, for uuids, timestamps and the window
}

func newGen(seed uint64) *gen { return &gen{rng: rand.New(rand.NewPCG(seed, 1))} }

var oddIDs = []string{"7", "1e3", "", "é", "u1\x00"}

func (g *gen) id() string {
	switch k := g.rng.IntN(20); {
	case k == 0:
		return oddIDs[g.rng.IntN(len(oddIDs))]
	case k == 1:
		return uuidLike(g.rng.Uint64())
	}
	newest := g.n / 3
	return "u" + strconv.Itoa(newest-g.rng.IntN(min(newest+1, 30)))
}

func (g *gen) props(m map[string]any) json.RawMessage {
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return b
}

func (g *gen) event() event.Raw {
	g.n++
	at := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(g.n) * time.Second)
	e := event.Raw{UUID: fmt.Sprintf("00000000-0000-7000-8000-%012d", g.n), Event: event.Pageview, DistinctID: g.id(), Timestamp: at, ReceivedAt: at}
	switch k := g.rng.IntN(20); {
	case k < 4:
		e.Event = event.Identify
		anon := any(g.id())
		if g.rng.IntN(8) == 0 {
			anon = 7 // not a string: no merge
		}
		e.Properties = g.props(map[string]any{event.PropAnonID: anon})
	case k < 6:
		e.Event = event.CreateAlias
		if g.rng.IntN(3) == 0 {
			e.Event = MergeDangerously
		}
		alias := any(g.id())
		if g.rng.IntN(5) == 0 {
			alias = float64(g.rng.IntN(10)) // a number alias names the id "7" etc.
		}
		e.Properties = g.props(map[string]any{event.PropAlias: alias})
	case k < 7:
		e.Event = event.GroupIdentify
		e.Properties = g.props(map[string]any{event.PropGroupType: "company", event.PropGroupKey: g.id(),
			event.PropGroupSet: map[string]any{"plan": g.rng.IntN(3)}})
	case k < 8:
		e.NoPerson = true
	}
	switch g.rng.IntN(6) {
	case 0:
		e.Set = map[string]any{"p" + strconv.Itoa(g.rng.IntN(3)): float64(g.n)}
	case 1:
		e.SetOnce = map[string]any{"p" + strconv.Itoa(g.rng.IntN(3)): float64(g.n)}
	case 2:
		e.Unset = []string{"p" + strconv.Itoa(g.rng.IntN(3))}
	}
	return e
}

func (g *gen) batches() []event.RawBatch {
	var out []event.RawBatch
	for range 1 + g.rng.IntN(3) {
		b := event.RawBatch{ProjectID: 1 + g.rng.Int64N(3)}
		for range 1 + g.rng.IntN(15) {
			b.Events = append(b.Events, g.event())
		}
		out = append(out, b)
	}
	return out
}

// weakHash is a key's last two bytes, so probing and key comparison carry
// the correctness: the same id in two projects, and "u112", "u212"...
// collide.
func weakHash(_ maphash.Seed, key []byte) uint32 {
	var h uint32
	for _, c := range key[max(len(key)-2, 0):] {
		h = h<<8 | uint32(c)
	}
	return h
}

func TestDifferential(t *testing.T) {
	hashes := map[string]func(maphash.Seed, []byte) uint32{"seeded": seededHash, "weak": weakHash}
	for name, hash := range hashes {
		for seed := range uint64(6) {
			t.Run(fmt.Sprintf("%s/%d", name, seed), func(t *testing.T) {
				differential(t, seed, hash, 300)
			})
		}
	}
}

func differential(t *testing.T, seed uint64, hash func(maphash.Seed, []byte) uint32, rounds int) {
	ctx := context.Background()
	g := newGen(seed)
	rs, ns := newFakeStore(), newFakeStore()
	ref, r := newRef(store.Identity{}), newResolver(store.Identity{}, hash)
	for round := range rounds {
		if g.rng.IntN(25) == 0 { // a loader restart
			ref, r = newRef(rs.identity(g.rng)), newResolver(ns.identity(g.rng), hash)
			sameState(t, round, ref, r)
		}
		batches := g.batches()
		want, err := ref.Resolve(ctx, batches, rs.fetch)
		if err != nil {
			t.Fatal(err)
		}
		got, err := r.Resolve(ctx, batches, ns.fetch)
		if err != nil {
			t.Fatal(err)
		}
		normalize(want)
		normalize(got)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("round %d: write differs\n got %+v\nwant %+v", round, got, want)
		}
		rs.apply(want)
		ns.apply(got)
		if round%10 == 0 {
			sameState(t, round, ref, r)
		}
	}
	sameState(t, rounds, ref, r)
	multi := 0
	for _, ids := range ref.byPerson {
		if len(ids) > 1 {
			multi++
		}
	}
	t.Logf("%d distinct ids, %d persons with several, %d merged away, %d identified, %d merges refused so far", len(ref.ids), multi, len(ref.overrides), len(ref.identified), refusedMerges.Get())
}

// sameState compares every lookup and the person → ids index, which decides
// the writes of later merges.
func sameState(t *testing.T, round int, ref *refResolver, r *Resolver) {
	t.Helper()
	if len(r.ids.entries) != len(ref.ids) {
		t.Fatalf("round %d: %d distinct ids, want %d", round, len(r.ids.entries), len(ref.ids))
	}
	seen := map[int64]bool{}
	for k, want := range ref.ids {
		i, ok := r.ids.find(k.project, k.id)
		if !ok || r.ids.entries[i].person != want {
			t.Fatalf("round %d: %v is person %d (found %v), want %d", round, k, r.ids.entries[i].person, ok, want)
		}
		if seen[want] {
			continue
		}
		seen[want] = true
		var circle []string
		for j := i; ; {
			p, id := r.ids.id(j)
			if p != k.project || r.ids.entries[j].person != want {
				t.Fatalf("round %d: %v shares a circle with %d/%q of person %d", round, k, p, id, r.ids.entries[j].person)
			}
			circle = append(circle, id)
			if j = r.ids.entries[j].next; j == i {
				break
			}
		}
		slices.Sort(circle)
		ids := slices.Sorted(slices.Values(ref.byPerson[want]))
		if !slices.Equal(circle, ids) {
			t.Fatalf("round %d: person %d has ids %q, want %q", round, want, circle, ids)
		}
	}
	if !maps.Equal(r.identified, ref.identified) {
		t.Fatalf("round %d: identified persons %v, want %v", round, r.identified, ref.identified)
	}
	if len(r.oldOf) != len(ref.oldOf) || r.next != ref.next {
		t.Fatalf("round %d: %d persons merged into, want %d; next person %d, want %d", round, len(r.oldOf), len(ref.oldOf), r.next, ref.next)
	}
	for p, want := range ref.oldOf {
		if got := slices.Sorted(slices.Values(r.oldOf[p])); !slices.Equal(got, slices.Sorted(slices.Values(want))) {
			t.Fatalf("round %d: persons merged into %d are %v, want %v", round, p, got, want)
		}
	}
}

// TestNewRepeatedRow: a store that lists a distinct id twice leaves the
// last person, as a map would.
func TestNewRepeatedRow(t *testing.T) {
	did := func(project int64, id string, person int64) store.DistinctID {
		return store.DistinctID{ProjectID: project, DistinctID: id, PersonID: person}
	}
	r := New(store.Identity{DistinctIDs: []store.DistinctID{did(1, "a", 5), did(1, "a", 6), did(1, "b", 6), did(2, "a", 5)}, MaxPersonID: 6})
	for _, c := range []struct {
		project int64
		id      string
		person  int64
	}{{1, "a", 6}, {1, "b", 6}, {2, "a", 5}} {
		if i, ok := r.ids.find(c.project, c.id); !ok || r.ids.entries[i].person != c.person {
			t.Errorf("%d/%s: found %v person %d, want %d", c.project, c.id, ok, r.ids.entries[i].person, c.person)
		}
	}
	if n := len(r.ids.entries); n != 3 {
		t.Errorf("%d entries, want 3", n)
	}
}
