package identity

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"runtime"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/journey-dev/journey/internal/event"
	"github.com/journey-dev/journey/internal/store"
)

// uuidLike is the i-th of a run of distinct 36-byte ids such as posthog-js
// makes (splitmix64 of i, so the ids look random to the table).
func uuidLike(i uint64) string {
	var u uuid.UUID
	binary.BigEndian.PutUint64(u[:8], mix(i))
	binary.BigEndian.PutUint64(u[8:], mix(i^0x5bd1e995))
	return u.String()
}

func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

func noFetch(context.Context, []int64) (map[int64]store.Person, error) { return nil, nil }

// pairs says how load joins the ids it sends.
type pairs int

const (
	anonymous  pairs = iota // every id a person of its own
	identified              // every second id a user id that $identify links to the id before
	merged                  // the same, but the user id had an event first: two persons merge
)

// load sends n distinct ids through r as the loader would, in batches.
func load(tb testing.TB, r *Resolver, n int, how pairs) {
	tb.Helper()
	at := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	const batch = 10_000
	for start := 0; start < n; start += batch {
		events := make([]event.Raw, 0, batch)
		for i := start; i < min(start+batch, n); i++ {
			id := uuidLike(uint64(i))
			e := event.Raw{UUID: id, Event: event.Pageview, DistinctID: id, Timestamp: at, ReceivedAt: at}
			if how != anonymous && i%2 == 1 {
				if how == merged {
					events = append(events, e)
				}
				e.Event = event.Identify
				e.Properties, _ = json.Marshal(map[string]any{event.PropAnonID: uuidLike(uint64(i - 1))})
			}
			events = append(events, e)
		}
		if _, err := r.Resolve(context.Background(), []event.RawBatch{{ProjectID: 1, Events: events}}, noFetch); err != nil {
			tb.Fatal(err)
		}
	}
}

func heapInuse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// bytesPerID is the heap a resolver holding n distinct ids keeps, per id.
func bytesPerID(tb testing.TB, n int, how pairs) float64 {
	before := heapInuse()
	r := New(store.Identity{})
	load(tb, r, n, how)
	after := heapInuse()
	runtime.KeepAlive(r)
	return float64(int64(after)-int64(before)) / float64(n)
}

// TestMemoryPerDistinctID bounds what anyone holding the public project
// token can make the loader keep: distinct ids of anonymous persons.
func TestMemoryPerDistinctID(t *testing.T) {
	n := 1_000_000
	if testing.Short() {
		n = 200_000
	}
	perID := bytesPerID(t, n, anonymous)
	t.Logf("%d anonymous distinct ids: %.1f heap bytes per id", n, perID)
	if perID > 100 {
		t.Errorf("%.1f heap bytes per anonymous distinct id, want at most 100", perID)
	}
}

// BenchmarkResolverMemory reports heap bytes per distinct id (B/id) for a
// million ids; run it with -benchtime=1x.
func BenchmarkResolverMemory(b *testing.B) {
	for _, c := range []struct {
		name string
		how  pairs
	}{{"anonymous", anonymous}, {"identified", identified}, {"merged", merged}} {
		b.Run(c.name, func(b *testing.B) {
			var perID float64
			for range b.N {
				perID = bytesPerID(b, 1_000_000, c.how)
			}
			b.ReportMetric(perID, "B/id")
		})
	}
	b.Run("restart", func(b *testing.B) { // New from a store's million anonymous ids
		st := store.Identity{MaxPersonID: 1_000_000}
		for i := range 1_000_000 {
			st.DistinctIDs = append(st.DistinctIDs, store.DistinctID{ProjectID: 1, DistinctID: uuidLike(uint64(i)), PersonID: int64(i + 1)})
		}
		var perID float64
		for range b.N {
			before := heapInuse()
			r := New(st)
			perID = float64(int64(heapInuse())-int64(before)) / float64(len(st.DistinctIDs))
			runtime.KeepAlive(r)
		}
		runtime.KeepAlive(st)
		b.ReportMetric(perID, "B/id")
	})
}
