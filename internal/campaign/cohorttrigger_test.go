package campaign

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/event"
	"github.com/journey-dev/journey/internal/meta"
	"github.com/journey-dev/journey/internal/store/storetest"
)

func cohortTriggerBody(cohort int64, extra string) string {
	return fmt.Sprintf(`{"name": "Welcome up", "trigger": {"cohort": %d}, "goal": {"event": "purchase"}, "wait": {"delay": "1h"},
		"channel": {"type": "webhook", "url": "https://hooks.example.com/x"}, "variants": [{"body": "Welcome, {{person.distinct_id}}"}],
		"status": "active"%s}`, cohort, extra)
}

// TestCohortTrigger: the first pass is the baseline (no sends); persons
// who join later are scheduled at the pass plus the wait, once however
// often the page is read again; persons who leave and come back enter
// again (a new trigger id); re-eligibility holds one back; a pause
// forgets the members, so the next activation takes a new baseline.
func TestCohortTrigger(t *testing.T) {
	w := newCohortWorld(t)
	up := func(who string, at time.Time) event.Raw { return storetest.Ev("upgrade", who, at, nil) }
	w.send(up("b1", w.now.Add(-time.Hour)), up("b2", w.now.Add(-time.Hour)), up("b3", w.now.Add(-time.Hour)),
		storetest.Ev("visit", "n1", w.now.Add(-time.Hour), nil))
	cohort := w.cohort(`{"behavior": {"event": "upgrade", "days": 1}}`)
	c := w.campaign(cohortTriggerBody(cohort, ""))
	s := w.scheduler("a", 2, 20) // pages of two: passes span pages
	w.tick(s)
	run, err := w.m.CohortRun(w.ctx, w.pid, c.ID)
	if err != nil || run.Generation != 1 || run.DoneAt.IsZero() || w.count(c.ID) != 0 {
		t.Fatalf("baseline: %+v %v, %d sends", run, err, w.count(c.ID))
	}
	// n1 and n2 upgrade; the next pass is due an interval after the last.
	w.send(up("n1", w.now.Add(time.Second)), up("n2", w.now.Add(time.Second)), up("b1", w.now.Add(time.Second)))
	w.now = w.now.Add(30 * time.Second)
	w.tick(s)
	if w.count(c.ID) != 0 {
		t.Fatal("a pass ran before its interval")
	}
	w.now = w.now.Add(31 * time.Second)
	w.tick(s)
	sends := w.sends(c.ID)
	if len(sends) != 2 || len(sends[w.person("n1")]) != 1 || len(sends[w.person("n2")]) != 1 {
		t.Fatalf("after n1 and n2 entered: %v", sends)
	}
	second, _ := w.m.CohortRun(w.ctx, w.pid, c.ID)
	sd := sends[w.person("n1")][0]
	p, err := ParsePayload(sd.Payload)
	if err != nil || sd.TriggerUUID != CohortEntryUUID(c.ID, 2) || !sd.DueAt.Equal(second.AsOf.Add(time.Hour)) || p.TriggerEvent != CohortEnteredEvent ||
		p.Body != "Welcome, n1" || second.Generation != 2 {
		t.Fatalf("send %+v, payload %+v, run %+v", sd, p, second)
	}
	// The second pass's pages again, by another replica, as after a crash
	// between scheduling n1 and n2 and recording them: nothing new.
	if err := w.m.MarkCohortMembers(w.ctx, w.pid, c.ID, 0, []int64{w.person("n1"), w.person("n2")}); err != nil {
		t.Fatal(err)
	}
	second.DoneAt, second.Cursor = time.Time{}, 0
	if _, ok, err := w.m.ClaimCohortRun(w.ctx, w.pid, c.ID, "crash", w.now, time.Minute); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if err := w.m.SaveCohortRun(w.ctx, second, "crash", w.now); err != nil {
		t.Fatal(err)
	}
	w.tick(w.scheduler("b", 2, 20))
	if n := w.count(c.ID); n != 2 {
		t.Fatalf("%d sends after the pass was read again", n)
	}
	if again, _ := w.m.CohortRun(w.ctx, w.pid, c.ID); again.DoneAt.IsZero() || again.Generation != 2 {
		t.Fatalf("the pass read again did not end: %+v", again)
	}
	// The next morning the baseline's upgrades are out of the window: b2,
	// b3 left (b1, n1, n2 upgraded again at 10:00:01, still in).
	w.now = w.now.Add(23*time.Hour + 29*time.Minute)
	w.tick(s)
	if n := w.count(c.ID); n != 2 {
		t.Fatalf("%d sends after persons left", n)
	}
	// b2 comes back: entered again, under the new pass's trigger id.
	w.send(up("b2", w.now.Add(time.Second)))
	w.now = w.now.Add(2 * time.Minute)
	w.tick(s)
	back := w.sends(c.ID)[w.person("b2")]
	run, _ = w.m.CohortRun(w.ctx, w.pid, c.ID)
	if len(back) != 1 || back[0].TriggerUUID != CohortEntryUUID(c.ID, run.Generation) || run.Generation != 4 {
		t.Fatalf("b2 back: %+v, run %+v", back, run)
	}
	// A pause forgets the members; active again, the cohort's members now
	// are the new baseline: n3 joined while paused and is not messaged.
	w.setStatus(c, meta.CampaignPaused)
	w.tick(s)
	if _, err := w.m.CohortRun(w.ctx, w.pid, c.ID); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("a paused cohort trigger keeps its run: %v", err)
	}
	w.send(up("n3", w.now.Add(time.Second)))
	w.now = w.now.Add(time.Minute)
	w.setStatus(c, meta.CampaignActive)
	w.tick(s)
	if n := w.count(c.ID); n != 3 || len(w.sends(c.ID)[w.person("n3")]) != 0 {
		t.Fatalf("%d sends after a new baseline; n3 has %d", n, len(w.sends(c.ID)[w.person("n3")]))
	}
	// Re-eligibility: a campaign that messages a person at most once a
	// week holds back one who left and came back the same day.
	once := w.campaign(cohortTriggerBody(cohort, `, "audience": {"reeligible_after": "168h"}`))
	w.tick(s) // baseline of once
	w.send(up("n4", w.now.Add(time.Second)))
	w.now = w.now.Add(2 * time.Minute)
	w.tick(s)
	if len(w.sends(once.ID)[w.person("n4")]) != 1 {
		t.Fatal("n4 entered and was not scheduled")
	}
	w.now = w.now.Add(25 * time.Hour) // n4 left
	w.tick(s)
	w.send(up("n4", w.now.Add(time.Second)))
	w.now = w.now.Add(2 * time.Minute)
	w.tick(s)
	if got := len(w.sends(once.ID)[w.person("n4")]); got != 1 {
		t.Fatalf("n4 has %d sends of a campaign re-eligible after a week", got)
	}
	if got := len(w.sends(c.ID)[w.person("n4")]); got != 2 {
		t.Fatalf("n4 has %d sends of the campaign re-eligible at once, want 2", got)
	}
}
