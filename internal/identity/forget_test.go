package identity

import (
	"context"
	"encoding/json"
	"hash/maphash"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/event"
	"github.com/journey-dev/journey/internal/store"
)

// resolveOne resolves one event and returns its person.
func resolveOne(t *testing.T, r *Resolver, project int64, e event.Raw) (int64, *store.Write) {
	t.Helper()
	w, err := r.Resolve(context.Background(), []event.RawBatch{{ProjectID: project, Events: []event.Raw{e}}}, noPersons)
	if err != nil {
		t.Fatal(err)
	}
	return w.Events[len(w.Events)-1].PersonID, w
}

func identifyEv(distinct, anon string) event.Raw {
	props, _ := json.Marshal(map[string]any{event.PropAnonID: anon})
	return event.Raw{UUID: "00000000-0000-0000-0000-000000000001", Event: event.Identify, DistinctID: distinct, Properties: props, Timestamp: time.Unix(100, 0)}
}

func plainEv(distinct string) event.Raw {
	return event.Raw{UUID: "00000000-0000-0000-0000-000000000002", Event: "view", DistinctID: distinct, Timestamp: time.Unix(200, 0)}
}

// TestForget: after Forget, every distinct id of the person (merged ones
// too) starts a new person under a new id; other persons, other projects'
// same ids and merges that would have moved the forgotten person's
// merged-away ids are unaffected.
func TestForget(t *testing.T) {
	for name, hash := range map[string]func(maphash.Seed, []byte) uint32{
		"seeded":     seededHash,
		"collisions": func(maphash.Seed, []byte) uint32 { return 7 }, // every key probes past the tombstones
	} {
		t.Run(name, func(t *testing.T) {
			r := newResolver(store.Identity{}, hash)
			alice, _ := resolveOne(t, r, 1, identifyEv("alice", "anon-a")) // alice and anon-a: one person
			bob, _ := resolveOne(t, r, 1, plainEv("bob"))
			other, _ := resolveOne(t, r, 2, plainEv("alice")) // another project's alice
			anonB, _ := resolveOne(t, r, 1, plainEv("anon-b"))
			merged, _ := resolveOne(t, r, 1, identifyEv("alice", "anon-b")) // anon-b's person merged into alice
			if merged != alice || anonB == alice {
				t.Fatalf("setup: merged %d, alice %d, anon-b %d", merged, alice, anonB)
			}
			got := r.Forget(1, []string{"anon-a", "unknown"})
			if len(got) != 1 || got[0] != alice {
				t.Fatalf("Forget = %v, want [%d]", got, alice)
			}
			if r.oldOf[alice] != nil {
				t.Fatalf("oldOf[%d] = %v after Forget", alice, r.oldOf[alice])
			}
			seen := map[int64]bool{alice: true, bob: true, other: true, anonB: true}
			for _, id := range []string{"alice", "anon-a", "anon-b"} {
				p, w := resolveOne(t, r, 1, plainEv(id))
				if seen[p] || p <= 0 {
					t.Fatalf("%s after Forget: person %d, want a new one (not among %v)", id, p, seen)
				}
				seen[p] = true
				if len(w.DistinctIDs) != 1 || w.DistinctIDs[0].DistinctID != id || w.DistinctIDs[0].PersonID != p {
					t.Fatalf("%s after Forget wrote distinct ids %+v", id, w.DistinctIDs)
				}
			}
			if p, _ := resolveOne(t, r, 1, plainEv("bob")); p != bob {
				t.Fatalf("bob = %d, want %d", p, bob)
			}
			if p, _ := resolveOne(t, r, 2, plainEv("alice")); p != other {
				t.Fatalf("project 2's alice = %d, want %d", p, other)
			}
			// A merge of two new persons moves no forgotten person along.
			_, w := resolveOne(t, r, 1, identifyEv("alice", "anon-a"))
			for _, o := range w.Overrides {
				if o.OldPersonID == alice || o.OldPersonID == anonB {
					t.Fatalf("merge after Forget wrote override %+v of a forgotten person", o)
				}
			}
			// Forgetting again is a no-op.
			if again := r.Forget(1, []string{"zzz"}); len(again) != 0 {
				t.Fatalf("Forget of unknown ids = %v", again)
			}
		})
	}
}
