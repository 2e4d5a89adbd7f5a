package campaign

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/journey-dev/journey/internal/event"
	"github.com/journey-dev/journey/internal/meta"
	"github.com/journey-dev/journey/internal/store"
)

// Goal cancellation without an event-store read per send (issue 15,
// performance). The trigger engine sees every goal event in the log and
// cancels, by key, exactly the person's pending sends that the goal
// converts (CancelSendsByKey). The sender then needs no read of the
// person's events before a send, except where the engine's cancellation
// may have missed a goal:
//
//   - a goal the engine processed before the send was scheduled (an event
//     with a later timestamp that reached the log first: an SDK's queue
//     flushed out of order, or the goal before the trigger in one batch).
//     The engine remembers, per campaign and distinct id, the latest goal
//     time it processed (goalCache), and persists the latest of all
//     (GoalMarkConsumer) for its next run; a trigger at or before one of
//     them is scheduled with Payload.Recheck.
//   - a goal under another distinct id, of a person merged into the send's
//     person, or the send's person merged into another, since scheduling:
//     the send's person now has another id, or another set of distinct ids
//     than Payload.IDs records.
//   - a campaign whose goal changed since scheduling (Payload.Goal).
//   - sends scheduled before payloads carried these fields (no IDs).
//
// What remains is the race every sender has: a goal that reaches the log
// while its send is being sent (claimed, then delivered within
// milliseconds) is not seen by that send; before, the window was the
// loader's lag, now it is the engine's.

// GoalMarkConsumer names the engine's persisted goal mark among the log
// consumers' rows: not a log position but the latest goal time (Unix ms)
// the engine processed, so that after a restart a trigger no later than
// it is checked against the event store at send time.
const GoalMarkConsumer = "campaigns.goal_mark"

// maxGoalCache bounds the goal cache (entries of about 100 bytes); past
// it the older half is dropped and the engine vouches only for triggers
// after the latest goal dropped.
const maxGoalCache = 100_000

// maxIDsChecked bounds the distinct ids of a person looked up in the goal
// cache per trigger; a person with more is checked at send time.
const maxIDsChecked = 64

// upgradeMargin is how far after the first run's start a goal's timestamp
// may lie (capture accepts timestamps up to 23 h ahead): when the engine
// ran before without a goal mark, triggers up to then are checked at send
// time.
const upgradeMargin = 24 * time.Hour

type goalKey struct {
	project, campaign int64
	distinctID        string
}

// goalCache remembers the goals the engine processed in this run.
type goalCache struct {
	mu   sync.Mutex
	seen map[goalKey]int64 // latest goal time (Unix ms) per campaign and distinct id
	// coveredAfter: every goal processed but not in seen is at or before
	// it (the previous runs' mark, the latest goal dropped).
	coveredAfter int64
	mark, saved  int64 // the latest goal time processed; the one persisted
	loaded       bool
}

// record notes a goal event of a campaign.
func (g *goalCache) record(projectID, campaignID int64, distinctID string, at time.Time) {
	t := at.UnixMilli()
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.seen == nil {
		g.seen = map[goalKey]int64{}
	}
	k := goalKey{projectID, campaignID, distinctID}
	if t > g.seen[k] {
		g.seen[k] = t
	}
	g.mark = max(g.mark, t)
	if len(g.seen) > maxGoalCache {
		g.evict()
	}
}

// evict drops the older half of the cache (by goal time).
func (g *goalCache) evict() {
	times := make([]int64, 0, len(g.seen))
	for _, t := range g.seen {
		times = append(times, t)
	}
	slices.Sort(times)
	cut := times[len(times)/2]
	for k, t := range g.seen {
		if t <= cut {
			delete(g.seen, k)
		}
	}
	g.coveredAfter = max(g.coveredAfter, cut)
}

// mayConvert reports whether a goal the engine processed so far may
// convert a trigger at `at` under the distinct id own of the person with
// these distinct ids: then
// its send is checked against the event store at send time.
func (g *goalCache) mayConvert(projectID, campaignID int64, own string, ids []string, at time.Time) bool {
	t := at.UnixMilli()
	g.mu.Lock()
	defer g.mu.Unlock()
	if t <= g.coveredAfter || len(ids) > maxIDsChecked || g.seen[goalKey{projectID, campaignID, own}] >= t {
		return true
	}
	for _, id := range ids {
		if g.seen[goalKey{projectID, campaignID, id}] >= t {
			return true
		}
	}
	return false
}

// load starts a run: goals of earlier runs are at or before the stored
// mark. An engine that ran before (hadCheckpoint) but stored no mark
// vouches for nothing up to upgradeMargin from now.
func (g *goalCache) load(ctx context.Context, m meta.Store, hadCheckpoint bool, now time.Time) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.loaded {
		return nil
	}
	pos, ok, err := m.ConsumerPosition(ctx, GoalMarkConsumer)
	if err != nil {
		return fmt.Errorf("cannot read the campaign engine's goal mark: %w", err)
	}
	stored := int64(pos)
	if !ok && hadCheckpoint {
		stored = now.Add(upgradeMargin).UnixMilli()
	}
	g.coveredAfter, g.mark, g.loaded = max(g.coveredAfter, stored), max(g.mark, stored), true
	if ok {
		g.saved = max(g.saved, int64(pos))
	} else {
		g.saved = -1 // none stored: store one at the next save
	}
	return nil
}

// save persists the mark when it rose; before the log checkpoint, so a
// goal behind the checkpoint is always at or before the stored mark.
func (g *goalCache) save(ctx context.Context, m meta.Store) error {
	g.mu.Lock()
	mark, saved := g.mark, g.saved
	g.mu.Unlock()
	if mark <= saved {
		return nil
	}
	if err := m.SetConsumerPosition(ctx, GoalMarkConsumer, uint64(mark)); err != nil {
		return fmt.Errorf("cannot store the campaign engine's goal mark: %w", err)
	}
	g.mu.Lock()
	g.saved = max(g.saved, mark)
	g.mu.Unlock()
	return nil
}

// IDsDigest is a short digest of a person's set of distinct ids (order
// does not matter): Payload.IDs, compared at send time to see a merge.
func IDsDigest(ids []string) string {
	s := slices.Clone(ids)
	sort.Strings(s)
	h := sha256.New()
	for _, id := range s {
		h.Write([]byte(id))
		h.Write([]byte{0})
	}
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:12])
}

// GoalSig is a short digest of a campaign's goal (event, filters, match,
// window): Payload.Goal, compared at send time to see a changed goal.
func GoalSig(d *Definition) string {
	if d.Goal == nil {
		return ""
	}
	b, _ := json.Marshal(struct {
		G *Goal
		W time.Duration
	}{d.Goal, d.Goal.WithinDur})
	sum := sha256.Sum256(b)
	return base64.RawURLEncoding.EncodeToString(sum[:9])
}

// goalsCheckedAt says whether the sender must read the person's events
// to see whether the goal was reached: only where the engine's
// cancellation may have missed it (see the top of this file).
func goalsCheckedAt(p Payload, d *Definition, scheduledFor int64, person store.Person, found bool, ids []string) bool {
	return p.Recheck || p.IDs == "" || !found || person.ID != scheduledFor || p.IDs != IDsDigest(ids) || p.Goal != GoalSig(d)
}

// goalCancels cancels, for one goal event, the person's pending sends of
// the campaign that it converts, by key, and records the goal for sends
// scheduled later.
func (b *batch) goalCancels(projectID int64, l *Live, ev *event.Raw, props map[string]any, personID int64) error {
	d := l.Def
	b.e.goals.record(projectID, l.Meta.ID, ev.DistinctID, ev.Timestamp)
	if err := b.flush(); err != nil { // this batch's triggers first
		return err
	}
	sends, err := b.e.cfg.Meta.SendsForPerson(b.ctx, projectID, personID)
	if err != nil {
		return err
	}
	var keys []string
	for _, s := range sends {
		if s.CampaignID != l.Meta.ID || s.State != meta.SendPending {
			continue
		}
		if p, err := ParsePayload(s.Payload); err == nil && Converts(d, p, ev.Timestamp, props) {
			keys = append(keys, s.Key)
		}
	}
	for len(keys) > 0 {
		n := min(len(keys), meta.MaxSendBatch)
		cancelled, err := b.e.cfg.Meta.CancelSendsByKey(b.ctx, projectID, l.Meta.ID, keys[:n], "goal reached: "+d.Goal.Event+" "+ev.UUID)
		if err != nil {
			return err
		}
		engineCancelled.Add(cancelled)
		keys = keys[n:]
	}
	return nil
}
