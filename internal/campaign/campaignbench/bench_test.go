package campaignbench

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/campaign"
	"github.com/journey-dev/journey/internal/channel"
	"github.com/journey-dev/journey/internal/event"
	"github.com/journey-dev/journey/internal/eventlog"
	"github.com/journey-dev/journey/internal/meta"
	"github.com/journey-dev/journey/internal/meta/sqlite"
	"github.com/journey-dev/journey/internal/store"
	"github.com/journey-dev/journey/internal/store/duckdb"
	"github.com/journey-dev/journey/internal/store/storetest"
)

// Focused benchmarks of the trigger engine and the sender on the real
// stores (SQLite metadata, DuckDB events), for profiling what `journey
// bench campaigns` measures end to end (issue 15, performance):
//
//	go test -run '^$' -bench 'Engine|Sender' -cpu 2 -cpuprofile /tmp/cpu.out ./internal/campaign/campaignbench/

// benchWorld is a project with persons p0 … p(n-1) in DuckDB and one
// webhook reminder campaign (every added_to_cart with a price schedules
// one message after an hour) to a loopback receiver that verifies every
// signature.
type benchWorld struct {
	m        meta.Store
	side     *sql.DB // the metadata file, beside the store (to make sends due)
	events   store.Store
	pid      int64
	campaign meta.Campaign
	persons  int
	received atomic.Int64
	bad      atomic.Int64
	url      string
}

func newBenchWorld(b *testing.B, persons int) *benchWorld {
	b.Helper()
	ctx := context.Background()
	path := filepath.Join(b.TempDir(), "meta.db")
	m, err := sqlite.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.Close() })
	side, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { side.Close() })
	ev, err := duckdb.Open("", duckdb.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ev.Close() })
	p, _, err := m.CreateProject(ctx, "bench", "UTC")
	if err != nil {
		b.Fatal(err)
	}
	w := &benchWorld{m: m, side: side, events: ev, pid: p.ID, persons: persons}
	secret := channel.NewSecret()
	key, _ := channel.ParseSecret(secret)
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if channel.Verify(key, r.Header, body, time.Now(), 5*time.Minute) != nil {
			w.bad.Add(1)
			rw.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.received.Add(1)
		rw.WriteHeader(http.StatusNoContent)
	}))
	b.Cleanup(srv.Close)
	w.url = srv.URL + "/hook"
	load := storetest.NewLoader(b, ev)
	at := time.Now().Add(-time.Hour)
	for i := 0; i < persons; i += 1000 {
		evs := make([]event.Raw, 0, 1000)
		for j := i; j < min(i+1000, persons); j++ {
			evs = append(evs, storetest.Ev("$pageview", "p"+strconv.Itoa(j), at, map[string]any{"$set": map[string]any{"plan": "free"}}))
		}
		load.Load(w.pid, evs...)
	}
	body := fmt.Sprintf(`{"name": "Bench reminder", "kind": "triggered",
		"trigger": {"event": "added_to_cart", "filters": [{"property": "price", "op": "gt", "value": 0}]},
		"goal": {"event": "order_completed", "match": "item", "within": "72h"},
		"wait": {"delay": "1h"}, "holdout": 0,
		"channel": {"type": "webhook", "url": %q, "secret": %q},
		"variants": [{"name": "plain", "weight": 1, "subject": "Still thinking?", "body": "{{item}} is waiting", "url": "https://shop.example.com/item/{{item}}"}],
		"status": "active"}`, w.url, secret)
	d, err := campaign.Parse([]byte(body))
	if err != nil {
		b.Fatal(err)
	}
	sec := d.TakeSecret()
	def, _ := json.Marshal(d)
	w.campaign, err = m.CreateCampaign(ctx, meta.Campaign{ProjectID: w.pid, Name: d.Name, Kind: d.Kind, Status: d.Status, Definition: def, Secret: sec})
	if err != nil {
		b.Fatal(err)
	}
	return w
}

// triggers are log entries of n added_to_cart events from random persons,
// per entries of per events (as capture's batches are).
func (w *benchWorld) triggers(rng *rand.Rand, n, per int) []eventlog.Entry {
	now := time.Now()
	var out []eventlog.Entry
	for i := 0; i < n; i += per {
		evs := make([]event.Raw, 0, per)
		for j := i; j < min(i+per, n); j++ {
			evs = append(evs, storetest.Ev("added_to_cart", "p"+strconv.Itoa(rng.IntN(w.persons)), now,
				map[string]any{"item": "sku-" + strconv.Itoa(j%7), "price": 12.5}))
		}
		out = append(out, eventlog.Entry{Next: uint64(len(out) + 1), Batch: event.RawBatch{ProjectID: w.pid, Events: evs}})
	}
	return out
}

// BenchmarkEngineProcess measures the engine scheduling triggers: one
// Process call per op over 1 000 triggers in 100 capture batches of 10.
func BenchmarkEngineProcess(b *testing.B) {
	w := newBenchWorld(b, 20_000)
	e := campaign.NewEngine(campaign.EngineConfig{Meta: w.m, Events: w.events, PublicURL: "http://journey.test"})
	rng := rand.New(rand.NewPCG(1, 2))
	const perOp = 1000
	ctx := context.Background()
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		b.StopTimer()
		entries := w.triggers(rng, perOp, 10)
		b.StartTimer()
		if err := e.Process(ctx, entries); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*perOp)/time.Since(start).Seconds(), "triggers/s")
}

// BenchmarkSenderDeliver measures the sender delivering due sends to the
// verifying loopback receiver, its events appended to a real file log.
func BenchmarkSenderDeliver(b *testing.B) {
	w := newBenchWorld(b, 20_000)
	ctx := context.Background()
	log, err := eventlog.OpenFile(b.TempDir(), eventlog.FileOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { log.Close() })
	e := campaign.NewEngine(campaign.EngineConfig{Meta: w.m, Events: w.events, PublicURL: "http://journey.test"})
	s := campaign.NewSender(campaign.SenderConfig{Meta: w.m, Events: w.events, Owner: "bench", Emit: log.Append,
		HTTP: channel.NewHTTPClient(channel.ClientOptions{AllowPrivate: true})})
	rng := rand.New(rand.NewPCG(3, 4))
	const perOp = 1000
	b.ResetTimer()
	var busy time.Duration
	for range b.N {
		b.StopTimer()
		if err := e.Process(ctx, w.triggers(rng, perOp, 100)); err != nil {
			b.Fatal(err)
		}
		// Every pending send due now.
		if _, err := w.side.ExecContext(ctx, `UPDATE sends SET due_ms = 0, next_attempt_ms = 0, wake_ms = 0 WHERE state = 'pending'`); err != nil {
			b.Fatal(err)
		}
		before := w.received.Load()
		b.StartTimer()
		t0 := time.Now()
		for w.received.Load() < before+perOp {
			n, err := s.RunOnce(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if n == 0 {
				b.Fatalf("%d of %d delivered, none left to claim", w.received.Load()-before, perOp)
			}
		}
		busy += time.Since(t0)
	}
	if w.bad.Load() > 0 {
		b.Fatalf("%d bad signatures", w.bad.Load())
	}
	b.ReportMetric(float64(b.N*perOp)/busy.Seconds(), "deliveries/s")
}
