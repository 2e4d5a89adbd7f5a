package flagserve

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"runtime"
	"runtime/metrics"
	"slices"
	"testing"

	"github.com/journey-dev/journey/internal/store"
)

// plainPersons is the plain lookup the table must agree with: maps of
// distinct ids and of persons' whole properties, values read back as the
// store gives them (a JSON round trip).
type plainPersons struct {
	keys    []string
	ids     map[string]int64
	persons map[int64]map[string]any
}

func (p *plainPersons) person(id string) person {
	pid, ok := p.ids[id]
	props, stored := p.persons[pid]
	if !ok || !stored {
		return person{ids: []string{id}}
	}
	out := map[string]any{}
	for _, k := range p.keys {
		v, ok := props[k]
		if !ok {
			continue
		}
		b, err := json.Marshal(v)
		if err != nil {
			panic(err)
		}
		var back any
		if err := json.Unmarshal(b, &back); err != nil {
			panic(err)
		}
		out[k] = back
	}
	var ids []string
	for d, q := range p.ids {
		if q == pid {
			ids = append(ids, d)
		}
	}
	slices.Sort(ids)
	return person{props: out, ids: ids, stored: true}
}

// randomValue is one of the kinds a person property holds: shared and
// unique strings, numbers (float64, JSON numbers, Go ints), booleans,
// null, lists and objects.
func randomValue(rng *rand.Rand) any {
	switch rng.IntN(11) {
	case 0:
		return []string{"free", "pro", "team", ""}[rng.IntN(4)]
	case 1:
		return fmt.Sprintf("user-%d-%s@corp.example", rng.IntN(5000), "padding-to-fill-the-arena")
	case 2:
		return float64(rng.IntN(100))
	case 3:
		return rng.Float64() * 1e6
	case 4:
		return json.Number(fmt.Sprint(rng.IntN(1000)))
	case 5:
		return rng.IntN(50)
	case 6:
		return rng.IntN(2) == 0
	case 7:
		return nil
	case 8:
		return []any{"a", float64(rng.IntN(3)), map[string]any{"x": true}}
	case 9:
		return map[string]any{"n": float64(rng.IntN(4)), "s": "v"}
	}
	return fmt.Sprintf("s%d", rng.IntN(20))
}

// TestTableAgreesWithPlainLookup drives the pointer-free table and the
// plain lookup through the same random writes (ids moved between
// persons, properties set and overwritten, persons merged away and
// deleted, ids forgotten) and compares every answer, with enough churn
// for the arenas to be compacted and their hash tables rehashed.
func TestTableAgreesWithPlainLookup(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 14))
	keys := []string{"age", "country", "email", "plan", "tags"}
	tab := newPersonTable(keys)
	ref := &plainPersons{keys: keys, ids: map[string]int64{}, persons: map[int64]map[string]any{}}
	did := func() string {
		return fmt.Sprintf("distinct-id-%05d-%s", rng.IntN(3000), "with-some-length-to-it")
	}
	pid := func() int64 { return int64(1 + rng.IntN(2000)) }
	all := append([]string{"age", "country", "email", "plan", "tags"}, "other")
	compactions := 0
	for step := 0; step < 60_000; step++ {
		before := len(tab.ids.arena) + len(tab.vals.arena)
		switch op := rng.IntN(20); {
		case op < 7:
			id, p := did(), pid()
			tab.setID(id, p)
			ref.ids[id] = p
		case op < 14:
			p := pid()
			props := map[string]any{}
			for _, k := range all {
				if rng.IntN(4) != 0 {
					props[k] = randomValue(rng)
				}
			}
			tab.setPerson(p, props)
			ref.persons[p] = props
		case op < 16:
			p := pid()
			tab.apply(&store.Write{Overrides: []store.Override{{OldPersonID: p}}})
			delete(ref.persons, p)
		case op < 17:
			p := pid()
			tab.apply(&store.Write{DeletedPersons: []int64{p}})
			delete(ref.persons, p)
		default:
			ids := []string{did(), did()}
			tab.forget(ids)
			for _, id := range ids {
				if p, ok := ref.ids[id]; ok {
					delete(ref.ids, id)
					delete(ref.persons, p)
				}
			}
		}
		if len(tab.ids.arena)+len(tab.vals.arena) < before {
			compactions++
		}
		if step%50 == 0 {
			for i := 0; i < 20; i++ {
				id := did()
				if got, want := tab.person(id), ref.person(id); !reflect.DeepEqual(got, want) {
					t.Fatalf("step %d, %q: the table answers %+v, the plain lookup %+v", step, id, got, want)
				}
			}
		}
	}
	for id := range ref.ids {
		if got, want := tab.person(id), ref.person(id); !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: the table answers %+v, the plain lookup %+v", id, got, want)
		}
	}
	if tab.ids.live != len(ref.ids) {
		t.Fatalf("%d distinct ids in the table, %d in the plain lookup", tab.ids.live, len(ref.ids))
	}
	stored := 0
	for id, p := range ref.ids {
		_ = id
		if _, ok := ref.persons[p]; ok {
			stored++
		}
	}
	if n := tab.persons(); n < stored {
		t.Fatalf("%d stored persons in the table, at least %d pointed at in the plain lookup", n, stored)
	}
	// Every value's reference count matches the cells holding it.
	refs := map[uint32]uint32{}
	for s := range tab.pid {
		for _, c := range tab.codes[s*len(keys) : s*len(keys)+len(keys)] {
			if c >= codeVal {
				refs[c-codeVal]++
			}
		}
	}
	if len(refs) != tab.vals.live {
		t.Fatalf("%d values referenced, %d live in the dictionary", len(refs), tab.vals.live)
	}
	for e, n := range refs {
		if tab.vals.ents[e].aux != n {
			t.Fatalf("value %q: %d references counted, %d held", tab.vals.str(e), tab.vals.ents[e].aux, n)
		}
	}
	if compactions == 0 {
		t.Fatal("no arena was compacted: the churn does not reach compact")
	}
	if tab.bytes.Load() <= 0 {
		t.Fatal("no estimated bytes")
	}
}

// TestTableAnswerAllocs bounds what one answer allocates: the property
// map, the ids, and the strings copied out of the arena.
func TestTableAnswerAllocs(t *testing.T) {
	tab := newPersonTable([]string{"age", "plan"})
	tab.setID("u", 1)
	tab.setPerson(1, map[string]any{"age": float64(30), "plan": "pro"})
	if p := tab.person("u"); p.props["plan"] != "pro" || p.props["age"] != float64(30) || !slices.Equal(p.ids, []string{"u"}) {
		t.Fatalf("answer %+v", p)
	}
	// map (header + bucket), ids, "pro", the boxed float64.
	if n := testing.AllocsPerRun(100, func() { tab.person("u") }); n > 6 {
		t.Fatalf("%v allocations an answer, want at most 6", n)
	}
}

// TestTableHeapIsScanFree checks that a large table's memory is in
// pointer-free blocks: the collector's scannable heap
// (/gc/scan/heap:bytes) does not grow with the persons the table holds.
func TestTableHeapIsScanFree(t *testing.T) {
	scannable := func() uint64 {
		runtime.GC()
		s := []metrics.Sample{{Name: "/gc/scan/heap:bytes"}}
		metrics.Read(s)
		return s[0].Value.Uint64()
	}
	before := scannable()
	tab := newPersonTable([]string{"email", "plan"})
	for i := range 100_000 {
		tab.setID(fmt.Sprintf("d%d", i), int64(i))
		tab.setPerson(int64(i), map[string]any{"email": fmt.Sprintf("u%d@corp.example", i), "plan": "pro"})
	}
	after := scannable()
	if tab.ids.live != 100_000 || tab.vals.live != 100_001 || tab.bytes.Load() < 5_000_000 {
		t.Fatalf("%d ids, %d values, %d bytes", tab.ids.live, tab.vals.live, tab.bytes.Load())
	}
	if after > before+1<<20 {
		t.Fatalf("scannable heap %d → %d bytes for a table of %d bytes", before, after, tab.bytes.Load())
	}
	runtime.KeepAlive(tab)
}
