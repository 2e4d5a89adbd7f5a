package campaign

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/channel"
	"github.com/journey-dev/journey/internal/event"
	"github.com/journey-dev/journey/internal/insight"
	"github.com/journey-dev/journey/internal/meta"
	"github.com/journey-dev/journey/internal/meta/sqlite"
	"github.com/journey-dev/journey/internal/store"
	"github.com/journey-dev/journey/internal/store/duckdb"
	"github.com/journey-dev/journey/internal/store/storetest"
)

// cohortWorld is a real metadata store (SQLite) and event store (DuckDB)
// with one project, a loader and a clock the scheduler reads.
type cohortWorld struct {
	t      *testing.T
	ctx    context.Context
	m      meta.Store
	events store.Store
	load   *storetest.Loader
	pid    int64
	now    time.Time
}

func newCohortWorld(t *testing.T) *cohortWorld {
	t.Helper()
	m, err := sqlite.Open(filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	ev, err := duckdb.Open("", duckdb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ev.Close() })
	p, _, err := m.CreateProject(context.Background(), "shop", "UTC")
	if err != nil {
		t.Fatal(err)
	}
	return &cohortWorld{t: t, ctx: context.Background(), m: m, events: ev, load: storetest.NewLoader(t, ev), pid: p.ID,
		now: storetest.Day0.Add(10 * time.Hour)}
}

func (w *cohortWorld) send(evs ...event.Raw) { w.t.Helper(); w.load.Load(w.pid, evs...) }

func (w *cohortWorld) cohort(def string) int64 {
	w.t.Helper()
	c, err := w.m.CreateCohort(w.ctx, w.pid, "c", []byte(def))
	if err != nil {
		w.t.Fatal(err)
	}
	return c.ID
}

// campaign stores a campaign definition (as the API does).
func (w *cohortWorld) campaign(body string) meta.Campaign {
	w.t.Helper()
	d, err := Parse([]byte(body))
	if err != nil {
		w.t.Fatal(err)
	}
	def, err := json.Marshal(d)
	if err != nil {
		w.t.Fatal(err)
	}
	c, err := w.m.CreateCampaign(w.ctx, meta.Campaign{ProjectID: w.pid, Name: d.Name, Kind: d.Kind, Status: d.Status, Definition: def})
	if err != nil {
		w.t.Fatal(err)
	}
	return c
}

// scheduler is a scheduler of owner on the world's clock.
func (w *cohortWorld) scheduler(owner string, page, pagesPerTick int) *CohortScheduler {
	return NewCohortScheduler(CohortConfig{Meta: w.m, Events: w.events, Campaigns: &Campaigns{Meta: w.m, MaxAge: time.Nanosecond},
		PublicURL: "http://journey.test", Owner: owner, Interval: time.Minute, Page: page, PagesPerTick: pagesPerTick,
		Now: func() time.Time { return w.now }})
}

func (w *cohortWorld) tick(s *CohortScheduler) bool {
	w.t.Helper()
	more, err := s.Tick(w.ctx)
	if err != nil {
		w.t.Fatal(err)
	}
	return more
}

// sends are the campaign's sends by person.
func (w *cohortWorld) sends(campaignID int64) map[int64][]meta.Send {
	w.t.Helper()
	out := map[int64][]meta.Send{}
	for _, id := range w.personIDs() {
		sends, err := w.m.SendsForPerson(w.ctx, w.pid, id)
		if err != nil {
			w.t.Fatal(err)
		}
		for _, s := range sends {
			if s.CampaignID == campaignID {
				out[id] = append(out[id], s)
			}
		}
	}
	return out
}

// personIDs are the project's persons.
func (w *cohortWorld) personIDs() []int64 {
	w.t.Helper()
	ids, err := w.events.SearchPersons(w.ctx, w.pid, "", 10_000)
	if err != nil {
		w.t.Fatal(err)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

func (w *cohortWorld) person(distinctID string) int64 {
	w.t.Helper()
	p, _, err := w.events.PersonByDistinctID(w.ctx, w.pid, distinctID)
	if err != nil {
		w.t.Fatal(err)
	}
	return p.ID
}

func (w *cohortWorld) count(campaignID int64) int {
	w.t.Helper()
	counts, err := w.m.CountSends(w.ctx, w.pid, campaignID)
	if err != nil {
		w.t.Fatal(err)
	}
	n := 0
	for _, c := range counts {
		n += int(c.Count)
	}
	return n
}

func (w *cohortWorld) setStatus(c meta.Campaign, status string) {
	w.t.Helper()
	if err := SetStatus(w.ctx, w.m, w.pid, c.ID, status, ""); err != nil {
		w.t.Fatal(err)
	}
}

func broadcastBody(cohort int64, extra string) string {
	return fmt.Sprintf(`{"name": "Blast", "kind": "broadcast", "broadcast": {"cohort": %d%s}, "holdout": 0.2,
		"channel": {"type": "webhook", "url": "https://hooks.example.com/x"},
		"variants": [{"name": "a", "body": "Hi {{person.name | there}}", "url": "https://shop.example.com/?c={{event.cohort_id}}"}, {"name": "b", "body": "Hello"}],
		"status": "active"}`, cohort, extra)
}

// TestBroadcast: a broadcast to 120 persons, scheduled in pages of 50 by
// one replica that stops after a page and another that takes over from a
// cursor set back (a crash before the cursor was stored): one send per
// member, with the holdout's arm, the variant by hash, the stable key and
// the message rendered for the person; the pass is done and never read
// again. The merged person is one member, addressed by its least distinct
// id; a member of another project is none.
func TestBroadcast(t *testing.T) {
	w := newCohortWorld(t)
	var evs []event.Raw
	for i := range 120 {
		evs = append(evs, storetest.Ev("visit", fmt.Sprintf("u%03d", i), w.now.Add(-time.Hour), map[string]any{"$set": map[string]any{"name": fmt.Sprintf("N%d", i)}}))
	}
	evs = append(evs, storetest.Ev("other", "idle", w.now.Add(-time.Hour), nil), storetest.Ev("visit", "zz-anon", w.now.Add(-time.Hour), nil))
	w.send(evs...)
	w.send(storetest.Ev("$identify", "u000", w.now.Add(-30*time.Minute), map[string]any{"$anon_distinct_id": "zz-anon"}))
	w.load.Load(w.pid+100, storetest.Ev("visit", "elsewhere", w.now.Add(-time.Hour), nil))
	cohort := w.cohort(`{"behavior": {"event": "visit", "days": 1}}`)
	c := w.campaign(broadcastBody(cohort, ""))

	a := w.scheduler("a", 50, 1)
	if !w.tick(a) {
		t.Fatal("a tick of one page left nothing for the next")
	}
	if n := w.count(c.ID); n != 50 {
		t.Fatalf("%d sends after one page of 50", n)
	}
	run, err := w.m.CohortRun(w.ctx, w.pid, c.ID)
	if err != nil || run.Generation != 1 || !run.AsOf.Equal(w.now) || !run.DoneAt.IsZero() || run.ClaimedUntil.After(w.now) {
		t.Fatalf("run after a page: %+v %v (want generation 1, as of now, not done, given back)", run, err)
	}
	// A crash after scheduling the second page but before storing its
	// cursor: the cursor is 25 persons behind what was scheduled.
	ids := w.personIDs()
	run, ok, err := w.m.ClaimCohortRun(w.ctx, w.pid, c.ID, "crash", w.now, time.Minute)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	run.Cursor = ids[24]
	if err := w.m.SaveCohortRun(w.ctx, run, "crash", w.now); err != nil {
		t.Fatal(err)
	}
	w.now = w.now.Add(time.Minute) // later, but the pass keeps its as-of time
	b := w.scheduler("b", 50, 20)
	if w.tick(b) {
		t.Fatal("the pass was not finished in one tick of 20 pages")
	}
	run, _ = w.m.CohortRun(w.ctx, w.pid, c.ID)
	if run.DoneAt.IsZero() || !run.AsOf.Equal(w.now.Add(-time.Minute)) {
		t.Fatalf("run after the pass: %+v", run)
	}
	// One send per person of the project who visited (u000 and zz-anon
	// are one); the idle one is none.
	sends := w.sends(c.ID)
	if n := w.count(c.ID); n != 120 || len(sends) != 120 {
		t.Fatalf("%d sends to %d persons, want 120 to 120", n, len(sends))
	}
	if len(sends[w.person("idle")]) != 0 {
		t.Fatal("the idle person got a send")
	}
	pid, cid := strconv.FormatInt(w.pid, 10), strconv.FormatInt(c.ID, 10)
	trig := BroadcastTriggerUUID(c.ID)
	held := 0
	for id, ss := range sends {
		if len(ss) != 1 {
			t.Fatalf("person %d has %d sends", id, len(ss))
		}
		s := ss[0]
		who := strconv.FormatInt(id, 10)
		arm := Assign(pid, cid, who, 0.2, 0)
		l, err := Decode(c)
		if err != nil {
			t.Fatal(err)
		}
		v := l.Def.Variant(pid, cid, who)
		if s.Arm != string(arm) || s.Variant != v.Name || s.TriggerUUID != trig || s.Key != channel.NewKey(c.ID, id, trig, v.Name) ||
			!s.DueAt.Equal(run.AsOf) || s.State != meta.SendPending || s.Channel != ChannelWebhook {
			t.Fatalf("send %+v (want arm %s, variant %s)", s, arm, v.Name)
		}
		if arm != ArmTreatment {
			held++
		}
		p, err := ParsePayload(s.Payload)
		if err != nil || p.TriggerEvent != BroadcastEvent || !p.TriggerAt.Equal(run.AsOf) {
			t.Fatalf("payload %s: %v", s.Payload, err)
		}
		if s.Variant == "a" && (!strings.HasPrefix(p.Body, "Hi N") || p.Target != "https://shop.example.com/?c="+strconv.FormatInt(cohort, 10) ||
			!strings.HasPrefix(p.URL, "http://journey.test/c/")) {
			t.Fatalf("rendered %+v", p)
		}
	}
	if held < 10 || held > 40 {
		t.Fatalf("%d of 120 held out at 0.2", held)
	}
	if s := sends[w.person("u000")][0]; s.DistinctID != "u000" {
		t.Fatalf("the merged person is addressed as %q, want its least distinct id u000", s.DistinctID)
	}
	// Done: later ticks neither schedule nor claim.
	w.now = w.now.Add(time.Hour)
	w.tick(b)
	w.tick(w.scheduler("c", 50, 20))
	if again, _ := w.m.CohortRun(w.ctx, w.pid, c.ID); !again.UpdatedAt.Equal(run.UpdatedAt) || w.count(c.ID) != 120 {
		t.Fatalf("a done broadcast was worked on again: %+v, %d sends", again, w.count(c.ID))
	}
}

// TestBroadcastWaits: a broadcast waits for its time and for being
// active; paused mid-way it keeps its cursor and goes on when active
// again; a broadcast whose cohort is gone is paused, saying why.
func TestBroadcastWaits(t *testing.T) {
	w := newCohortWorld(t)
	var evs []event.Raw
	for i := range 30 {
		evs = append(evs, storetest.Ev("visit", fmt.Sprintf("u%02d", i), w.now.Add(-time.Hour), nil))
	}
	w.send(evs...)
	cohort := w.cohort(`{"distinct_ids": ["u00", "u01", "u02", "u03", "u04", "u05", "u06", "u07", "u08", "u09", "u10", "nobody"]}`)
	at := w.now.Add(time.Hour)
	later := w.campaign(broadcastBody(cohort, `, "at": "`+at.Format(time.RFC3339)+`"`))
	draft := w.campaign(strings.Replace(broadcastBody(cohort, ""), `"active"`, `"draft"`, 1))
	s := w.scheduler("a", 5, 1)
	w.tick(s)
	if w.count(later.ID) != 0 || w.count(draft.ID) != 0 {
		t.Fatal("scheduled before its time or as a draft")
	}
	if _, err := w.m.CohortRun(w.ctx, w.pid, later.ID); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("a broadcast not yet due has a run: %v", err)
	}
	w.now = at
	if !w.tick(s) || w.count(later.ID) != 5 {
		t.Fatalf("%d sends at its time after a page of 5", w.count(later.ID))
	}
	w.setStatus(later, meta.CampaignPaused)
	w.tick(s)
	if w.count(later.ID) != 5 {
		t.Fatal("a paused broadcast went on")
	}
	w.setStatus(later, meta.CampaignActive)
	for w.tick(s) {
	}
	if n := w.count(later.ID); n != 11 {
		t.Fatalf("%d sends, want the 11 persons of the static cohort", n)
	}
	// A broadcast without a goal reports its sends and no conversions.
	l, err := Decode(later)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := BuildReport(w.ctx, w.m, w.events, l, time.UTC, w.now)
	if err != nil || rep.Triggered != 11 || rep.Conversions != 0 || rep.Pending+rep.Holdout.Scheduled != 11 {
		t.Fatalf("report %+v, %v", rep, err)
	}
	// The cohort of another broadcast is deleted before it runs.
	gone := w.cohort(`{"distinct_ids": ["u20"]}`)
	orphan := w.campaign(broadcastBody(gone, ""))
	if err := w.m.DeleteCohort(w.ctx, w.pid, gone); err != nil {
		t.Fatal(err)
	}
	w.tick(s)
	got, err := w.m.Campaign(w.ctx, w.pid, orphan.ID)
	if err != nil || got.Status != meta.CampaignPaused || w.count(orphan.ID) != 0 {
		t.Fatalf("orphan broadcast %+v, %v, %d sends", got, err, w.count(orphan.ID))
	}
	raw, err := w.m.Setting(w.ctx, w.pid, StatusReasonSetting(orphan.ID))
	if err != nil || !strings.Contains(string(raw), "deleted") {
		t.Fatalf("status reason %s, %v", raw, err)
	}
}

// TestCampaignsGetSeesNewCampaigns: a cache read before a campaign was
// created (by another replica) still finds it: a broadcast's sends are
// claimed at once, and "not found" would cancel them as deleted.
func TestCampaignsGetSeesNewCampaigns(t *testing.T) {
	w := newCohortWorld(t)
	cs := &Campaigns{Meta: w.m, MaxAge: time.Hour}
	if _, _, err := cs.Get(w.ctx, w.pid, 1); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("before: %v", err)
	}
	c := w.campaign(broadcastBody(w.cohort(`{"distinct_ids": ["a"]}`), ""))
	l, _, err := cs.Get(w.ctx, w.pid, c.ID)
	if err != nil || l.Meta.ID != c.ID {
		t.Fatalf("a campaign created after the cache was read: %v", err)
	}
	if err := w.m.DeleteCampaign(w.ctx, w.pid, c.ID, 0); err != nil {
		t.Fatal(err)
	}
	if _, _, err := cs.Get(w.ctx, w.pid, c.ID); err != nil {
		t.Fatalf("within MaxAge the cached campaign is answered: %v", err)
	}
	cs.Invalidate(w.pid)
	if _, _, err := cs.Get(w.ctx, w.pid, c.ID); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("a deleted campaign: %v", err)
	}
}

// FuzzParseCohortCampaign: the campaign decoder never panics on broadcast
// and cohort-trigger bodies, answers field errors, and what it accepts
// (as stored: marshalled) it accepts again with the same kind and cohort.
func FuzzParseCohortCampaign(f *testing.F) {
	for _, seed := range []string{
		broadcastBody(3, ""),
		broadcastBody(3, `, "at": "2026-02-01T09:00:00+01:00"`),
		broadcastBody(0, ""),
		broadcastBody(-1, `, "at": "tomorrow"`),
		cohortTriggerBody(4, ""),
		cohortTriggerBody(4, `, "audience": {"reeligible_after": "168h"}`),
		`{"name": "n", "kind": "broadcast", "broadcast": {"cohort": 1e99}}`,
		`{"name": "n", "kind": "broadcast", "broadcast": null, "trigger": {"cohort": 1}}`,
		`{"name": "n", "trigger": {"cohort": 2, "event": "x"}}`,
		`[]`, ``, `{"kind": 7}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		d, err := Parse(body)
		if err != nil {
			var bad *insight.Error
			if !errors.As(err, &bad) || bad.Field == "" {
				t.Fatalf("error without a field: %v", err)
			}
			return
		}
		stored, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		again, err := Parse(stored)
		if err != nil {
			t.Fatalf("stored %s does not parse again: %v", stored, err)
		}
		if again.Kind != d.Kind || onCohort(again) != onCohort(d) ||
			(d.Broadcast != nil && again.Broadcast.Cohort != d.Broadcast.Cohort) ||
			(d.Trigger != nil && again.Trigger.Cohort != d.Trigger.Cohort) {
			t.Fatalf("stored %s parses as another campaign", stored)
		}
	})
}
