package identity

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/event"
	"github.com/journey-dev/journey/internal/store"
)

// identifiedRun loads events one batch each through a resolver that
// restarts from the fake store before every batch when restart is set,
// and returns the resolver and the store.
type identifiedRun struct {
	t       *testing.T
	r       *Resolver
	st      *fakeStore
	n       int
	restart bool
}

func (x *identifiedRun) send(name, distinctID string, props map[string]any) {
	x.t.Helper()
	x.n++
	if x.restart {
		x.r = New(x.st.identity(newGen(uint64(x.n)).rng))
	}
	raw, _ := json.Marshal(props)
	at := time.Date(2024, 5, 1, 0, 0, x.n, 0, time.UTC)
	w, err := x.r.Resolve(context.Background(), []event.RawBatch{{ProjectID: 1, Events: []event.Raw{{
		UUID: fmt.Sprintf("00000000-0000-7000-8000-%012d", x.n), Event: name, DistinctID: distinctID,
		Properties: raw, Timestamp: at, ReceivedAt: at,
	}}}}, x.st.fetch)
	if err != nil {
		x.t.Fatal(err)
	}
	x.st.apply(w)
}

func (x *identifiedRun) person(distinctID string) int64 {
	x.t.Helper()
	p, ok := x.st.dids[didKey{1, distinctID}]
	if !ok {
		x.t.Fatalf("distinct id %q has no person", distinctID)
	}
	return p
}

// TestIdentifiedMergeRefused: as PostHog, an $identify or $create_alias
// whose other distinct id belongs to an identified person does not merge
// the two persons; $merge_dangerously does; an anonymous person still
// merges. Each case runs with and without a loader restart before every
// event, so that the identified persons derived from stored events
// (store.Identity.Identified) refuse the same merges.
func TestIdentifiedMergeRefused(t *testing.T) {
	for _, restart := range []bool{false, true} {
		x := &identifiedRun{t: t, r: New(store.Identity{}), st: newFakeStore(), restart: restart}
		x.send(event.Pageview, "anon-1", nil)
		x.send(event.Identify, "alice", map[string]any{event.PropAnonID: "anon-1"}) // anon-1's person is anonymous: merged
		if x.person("alice") != x.person("anon-1") {
			t.Fatalf("restart %v: alice and anon-1 not merged", restart)
		}
		x.send(event.Pageview, "bob", nil)
		before := refusedMerges.Get()
		// bob logs in on alice's device without a reset: alice is identified.
		x.send(event.Identify, "bob", map[string]any{event.PropAnonID: "alice"})
		if x.person("bob") == x.person("alice") {
			t.Fatalf("restart %v: $identify merged alice, an identified person, into bob", restart)
		}
		x.send(event.CreateAlias, "bob", map[string]any{event.PropAlias: "alice"})
		if x.person("bob") == x.person("alice") {
			t.Fatalf("restart %v: $create_alias merged alice, an identified person, into bob", restart)
		}
		if got := refusedMerges.Get() - before; got != 2 {
			t.Fatalf("restart %v: %d merges counted as refused, want 2", restart, got)
		}
		// bob's $identify made bob identified too: carol's alias of bob is refused.
		x.send(event.Pageview, "carol", nil)
		x.send(event.CreateAlias, "carol", map[string]any{event.PropAlias: "bob"})
		if x.person("carol") == x.person("bob") {
			t.Fatalf("restart %v: bob, identified by his own $identify, was merged into carol", restart)
		}
		// A new anonymous id still joins an identified person.
		x.send(event.Pageview, "anon-2", nil)
		x.send(event.Identify, "bob", map[string]any{event.PropAnonID: "anon-2"})
		if x.person("anon-2") != x.person("bob") {
			t.Fatalf("restart %v: anon-2 not merged into bob", restart)
		}
		// $merge_dangerously merges identified persons.
		alice := x.person("alice")
		x.send(MergeDangerously, "bob", map[string]any{event.PropAlias: "alice"})
		if x.person("alice") != x.person("bob") || x.person("anon-1") != x.person("bob") {
			t.Fatalf("restart %v: $merge_dangerously did not merge alice into bob", restart)
		}
		if o, ok := x.st.overrides[alice]; !ok || o.PersonID != x.person("bob") {
			t.Fatalf("restart %v: no override from alice's person %d to bob's: %+v", restart, alice, x.st.overrides)
		}
		// The survivor stays identified: merging it away is refused.
		x.send(event.Pageview, "dave", nil)
		x.send(event.Identify, "dave", map[string]any{event.PropAnonID: "bob"})
		if x.person("dave") == x.person("bob") {
			t.Fatalf("restart %v: bob's person, identified, was merged into dave", restart)
		}
	}
}
