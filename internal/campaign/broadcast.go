package campaign

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/google/uuid"

	"github.com/journey-dev/journey/internal/channel"
	"github.com/journey-dev/journey/internal/event"
	"github.com/journey-dev/journey/internal/insight"
	"github.com/journey-dev/journey/internal/meta"
	"github.com/journey-dev/journey/internal/store"
)

// Campaigns that act on a cohort's members (issue 15 item 1): a
// broadcast sends one message to every member of its cohort, once, at its
// time; a cohort trigger messages the persons who entered its cohort
// (cohorttrigger.go). Both go through the cohort in passes, page by page
// (store.CohortPersons, after the last person id done), so a cohort of
// millions is never held in memory, and keep each pass's progress in the
// metadata store (meta.CohortRun): a crash resumes the pass after the last
// page recorded, at the same as-of time, and a page scheduled again
// inserts nothing, because the idempotency keys (campaign, person, a
// stable trigger id of the broadcast or of the pass, variant) are those
// already scheduled. The pass is claimed with a lease, so on the scale-out
// stack one replica works on a campaign at a time, and another takes over
// when it stops. Sends go through the durable schedule with the arms,
// variants and rendering of triggered sends, so the sender handles them
// alike (the holdout's "would have sent" included).

var (
	cohortScheduled = metrics.NewCounter("journey_campaign_cohort_scheduled_total")
	cohortErrors    = metrics.NewCounter("journey_campaign_cohort_errors_total")
)

// Trigger event names of the sends of broadcasts and cohort triggers (the
// payload's trigger_event; templates read them as {{event.event}}).
const (
	BroadcastEvent     = "$broadcast"
	CohortEnteredEvent = "$cohort_entered"
)

// cohortNS is the namespace of the stable trigger ids of broadcasts and
// cohort passes.
var cohortNS = uuid.MustParse("0d5c1f8e-5a7b-4c61-9e2f-3b8a4d6c7e90")

// BroadcastTriggerUUID is the trigger id of every send of a broadcast:
// one per campaign, so that a person's key is the same however often the
// broadcast's pages are scheduled.
func BroadcastTriggerUUID(campaignID int64) string {
	return uuid.NewSHA1(cohortNS, []byte("broadcast\x00"+strconv.FormatInt(campaignID, 10))).String()
}

// CohortEntryUUID is the trigger id of the persons who entered a cohort
// trigger's cohort at one pass (generation).
func CohortEntryUUID(campaignID, generation int64) string {
	return uuid.NewSHA1(cohortNS, []byte("cohort-entry\x00"+strconv.FormatInt(campaignID, 10)+"\x00"+strconv.FormatInt(generation, 10))).String()
}

// CohortConfig configures a CohortScheduler.
type CohortConfig struct {
	Meta   meta.Store
	Events store.Store
	// Campaigns is the process's campaign cache (shared with the engine
	// and the sender).
	Campaigns *Campaigns
	// PublicURL is the base of click URLs, as the engine's.
	PublicURL string
	// Owner names this scheduler in claims (a replica id).
	Owner string
	// Interval is how often a cohort trigger evaluates its cohort (default
	// 1 min); Poll how often the scheduler looks for due work (default
	// 5 s, at most Interval).
	Interval time.Duration
	Poll     time.Duration
	// Lease is how long a claim of a pass holds without progress (default
	// 2 min); Page how many persons a page holds (default and at most
	// meta.MaxSendBatch); PagesPerTick how many pages one campaign gets
	// before the others have their turn (default 20; the next tick then
	// follows at once).
	Lease        time.Duration
	Page         int
	PagesPerTick int
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// CohortScheduler runs the broadcasts and the cohort triggers of every
// project.
type CohortScheduler struct {
	cfg CohortConfig
	// engine renders messages and reads best times and re-eligibility as
	// the trigger engine does (it is never run).
	engine *Engine

	mu    sync.Mutex
	done  map[int64]bool      // broadcasts whose pass ended
	next  map[int64]time.Time // cohort triggers: when the next pass is due
	reset map[int64]bool      // cohort triggers not active whose run is reset
}

// NewCohortScheduler returns a scheduler; Run starts it.
func NewCohortScheduler(cfg CohortConfig) *CohortScheduler {
	if cfg.Campaigns == nil {
		cfg.Campaigns = &Campaigns{Meta: cfg.Meta}
	}
	if cfg.Interval <= 0 {
		cfg.Interval = time.Minute
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 5 * time.Second
	}
	cfg.Poll = min(cfg.Poll, cfg.Interval)
	if cfg.Lease <= 0 {
		cfg.Lease = 2 * time.Minute
	}
	if cfg.Page <= 0 || cfg.Page > meta.MaxSendBatch {
		cfg.Page = meta.MaxSendBatch
	}
	if cfg.PagesPerTick <= 0 {
		cfg.PagesPerTick = 20
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	e := NewEngine(EngineConfig{Meta: cfg.Meta, Events: cfg.Events, Campaigns: cfg.Campaigns, PublicURL: cfg.PublicURL, Now: cfg.Now})
	return &CohortScheduler{cfg: cfg, engine: e, done: map[int64]bool{}, next: map[int64]time.Time{}, reset: map[int64]bool{}}
}

// Run ticks until ctx is done: at once again while a pass has pages left,
// else after Poll.
func (s *CohortScheduler) Run(ctx context.Context) error {
	for ctx.Err() == nil {
		more, err := s.Tick(ctx)
		if err != nil && ctx.Err() == nil {
			slog.Error("campaign cohorts: cannot list the campaigns; retrying", "err", err)
		}
		if more && err == nil {
			continue
		}
		t := time.NewTimer(s.cfg.Poll)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
	return nil
}

// cohortView is a project's campaigns on cohorts, with what their sends
// need of the project.
type cohortView struct {
	projectID int64
	loc       *time.Location
	control   float64
	list      []*Live
}

// cohortCampaigns lists a project's broadcasts and cohort triggers (any
// status) from the cache, by id.
func (cs *Campaigns) cohortCampaigns(ctx context.Context, projectID int64) (cohortView, error) {
	pc, err := cs.fresh(ctx, projectID, time.Time{})
	if err != nil {
		return cohortView{}, err
	}
	pc.mu.Lock()
	defer pc.mu.Unlock()
	v := cohortView{projectID: projectID, loc: pc.loc, control: pc.control}
	for _, l := range pc.byID {
		if onCohort(l.Def) {
			v.list = append(v.list, l)
		}
	}
	slices.SortFunc(v.list, func(a, b *Live) int { return cmp.Compare(a.Meta.ID, b.Meta.ID) })
	return v, nil
}

func onCohort(d *Definition) bool {
	return (d.Kind == KindBroadcast && d.Broadcast != nil) || (d.Kind == KindTriggered && d.Trigger != nil && d.Trigger.Cohort != 0)
}

// Tick goes once over every project's broadcasts and cohort triggers;
// more says a pass has pages left. A campaign's failure is logged and
// leaves the others be.
func (s *CohortScheduler) Tick(ctx context.Context) (more bool, err error) {
	projects, err := s.cfg.Meta.Projects(ctx)
	if err != nil {
		return false, err
	}
	for _, p := range projects {
		v, err := s.cfg.Campaigns.cohortCampaigns(ctx, p.ID)
		if err != nil {
			if !errors.Is(err, meta.ErrNotFound) {
				slog.Warn("campaign cohorts: cannot read the campaigns of a project", "project", p.ID, "err", err)
			}
			continue
		}
		for _, l := range v.list {
			var left bool
			if l.Def.Kind == KindBroadcast {
				left, err = s.broadcast(ctx, v, l)
			} else {
				left, err = s.cohortTrigger(ctx, v, l)
			}
			if err != nil && ctx.Err() == nil {
				cohortErrors.Inc()
				slog.Warn("campaign cohorts: pass left to a later tick", "project", p.ID, "campaign", l.Meta.ID, "err", err)
			}
			more = more || left
		}
		if ctx.Err() != nil {
			return false, nil
		}
	}
	return more, nil
}

// broadcast works on a broadcast that is active and due: its one pass
// over the cohort, up to PagesPerTick pages.
func (s *CohortScheduler) broadcast(ctx context.Context, v cohortView, l *Live) (bool, error) {
	c, d := l.Meta, l.Def
	now := s.cfg.Now()
	if c.Status != meta.CampaignActive || (d.Broadcast.At != nil && now.Before(*d.Broadcast.At)) || s.isDone(c.ID) {
		return false, nil
	}
	run, ok, err := s.claim(ctx, c, now, func(r meta.CohortRun) bool { return r.DoneAt.IsZero() })
	if !run.DoneAt.IsZero() {
		s.markDone(c.ID)
	}
	if err != nil || !ok {
		return false, err
	}
	if run.Generation == 0 { // the pass starts: the cohort as of now
		run.Generation, run.Cursor, run.AsOf = 1, 0, now
	}
	p := &pass{s: s, ctx: ctx, v: v, l: l, run: run}
	def, err := p.cohort(d.Broadcast.Cohort)
	if err != nil || def == nil {
		return false, errors.Join(err, p.release())
	}
	trig := memberTrigger{event: BroadcastEvent, uuid: BroadcastTriggerUUID(c.ID), at: run.AsOf,
		props: map[string]any{"cohort_id": d.Broadcast.Cohort}}
	state, err := p.pages(def, func(members []store.CohortPerson) error { return p.schedule(members, trig) })
	if err != nil {
		return false, errors.Join(err, p.release())
	}
	if state != passFinished {
		return state == passMore, p.release()
	}
	p.run.DoneAt = s.cfg.Now()
	if err := p.release(); err != nil {
		return false, err
	}
	s.markDone(c.ID)
	slog.Info("broadcast scheduled", "project", c.ProjectID, "campaign", c.ID, "cohort", d.Broadcast.Cohort)
	return false, nil
}

func (s *CohortScheduler) isDone(id int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.done[id]
}

func (s *CohortScheduler) markDone(id int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.done) > 100_000 {
		s.done = map[int64]bool{}
	}
	s.done[id] = true
}

// claim reads the campaign's run and claims it when there is work
// (want) and no other replica holds it: one read, and a write only when
// the claim is taken.
func (s *CohortScheduler) claim(ctx context.Context, c meta.Campaign, now time.Time, want func(meta.CohortRun) bool) (meta.CohortRun, bool, error) {
	run, err := s.cfg.Meta.CohortRun(ctx, c.ProjectID, c.ID)
	switch {
	case errors.Is(err, meta.ErrNotFound):
	case err != nil:
		return run, false, err
	case !want(run):
		return run, false, nil
	case run.ClaimedBy != s.cfg.Owner && now.Before(run.ClaimedUntil):
		return run, false, nil // another replica's
	}
	run, ok, err := s.cfg.Meta.ClaimCohortRun(ctx, c.ProjectID, c.ID, s.cfg.Owner, now, s.cfg.Lease)
	if errors.Is(err, meta.ErrNotFound) { // deleted meanwhile
		return run, false, nil
	}
	return run, ok, err
}

// release stores a run and gives its claim back.
func (s *CohortScheduler) release(ctx context.Context, run meta.CohortRun) error {
	err := s.cfg.Meta.SaveCohortRun(ctx, run, s.cfg.Owner, s.cfg.Now())
	if errors.Is(err, meta.ErrNotClaimed) || errors.Is(err, meta.ErrNotFound) {
		return nil // taken over, or the campaign reset: the run is not ours
	}
	return err
}

// pass is one claimed pass of a campaign over its cohort.
type pass struct {
	s   *CohortScheduler
	ctx context.Context
	v   cohortView
	l   *Live
	run meta.CohortRun
}

// release stores the pass's progress and gives the claim back, even when
// ctx ended (bounded): what was scheduled need not be scheduled again.
func (p *pass) release() error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(p.ctx), bookkeeping)
	defer cancel()
	return p.s.release(ctx, p.run)
}

// cohort reads the pass's cohort; nil (and no error) when it is gone, in
// which case the campaign is paused, saying why.
func (p *pass) cohort(id int64) (*insight.CohortDef, error) {
	c := p.l.Meta
	def, err := CohortDef(p.ctx, p.s.cfg.Meta, c.ProjectID, id)
	if err == nil {
		return def, nil
	}
	var bad *insight.Error
	if !errors.Is(err, meta.ErrNotFound) && !errors.As(err, &bad) {
		return nil, err
	}
	reason := fmt.Sprintf("cohort %d cannot be read (%v): campaign paused", id, err)
	if errors.Is(err, meta.ErrNotFound) {
		reason = fmt.Sprintf("cohort %d was deleted: campaign paused", id)
	}
	if err := SetStatus(p.ctx, p.s.cfg.Meta, c.ProjectID, c.ID, meta.CampaignPaused, reason); err != nil {
		return nil, err
	}
	p.s.cfg.Campaigns.Invalidate(c.ProjectID)
	slog.Warn("campaign paused", "project", c.ProjectID, "campaign", c.ID, "reason", reason)
	return nil, nil
}

// passState is where a pass is after a tick's pages.
type passState int

const (
	passStopped  passState = iota // the campaign is no longer active
	passMore                      // pages left for the next tick
	passFinished                  // no person left
)

// pages goes through up to PagesPerTick pages of the cohort from the
// run's cursor, handing each to fn, then recording the cursor (and
// extending the claim).
func (p *pass) pages(def *insight.CohortDef, fn func([]store.CohortPerson) error) (passState, error) {
	s, c := p.s, p.l.Meta
	for range s.cfg.PagesPerTick {
		if err := p.ctx.Err(); err != nil {
			return passStopped, err
		}
		if l, _, err := s.cfg.Campaigns.Get(p.ctx, c.ProjectID, c.ID); err != nil || l.Meta.Status != meta.CampaignActive {
			if errors.Is(err, meta.ErrNotFound) {
				err = nil
			}
			return passStopped, err // paused, stopped or deleted meanwhile
		}
		members, err := s.cfg.Events.CohortPersons(p.ctx, c.ProjectID, def, p.run.AsOf, p.run.Cursor, s.cfg.Page)
		if err != nil {
			return passStopped, err
		}
		if len(members) > 0 {
			if err := fn(members); err != nil {
				return passStopped, err
			}
			p.run.Cursor = members[len(members)-1].ID
		}
		if err := s.cfg.Meta.SaveCohortRun(p.ctx, p.run, s.cfg.Owner, s.cfg.Now().Add(s.cfg.Lease)); err != nil {
			return passStopped, fmt.Errorf("cannot record the progress of campaign %d: %w", c.ID, err)
		}
		if len(members) < s.cfg.Page {
			return passFinished, nil
		}
	}
	return passMore, nil
}

// memberTrigger is what the sends of one page are triggered by: a
// broadcast, or the persons' entering the cohort at a pass.
type memberTrigger struct {
	event string
	uuid  string
	at    time.Time
	props map[string]any
}

// schedule schedules the sends of members: each person's arm, variant,
// due time and message as triggered sends have them.
func (p *pass) schedule(members []store.CohortPerson, tr memberTrigger) error {
	s, c := p.s, p.l.Meta
	ids := make([]int64, len(members))
	for i, m := range members {
		ids[i] = m.ID
	}
	persons, err := s.cfg.Events.Persons(p.ctx, ids)
	if err != nil {
		return fmt.Errorf("cannot read the persons of a cohort: %w", err)
	}
	b := &batch{e: s.engine, ctx: p.ctx, now: s.cfg.Now(), persons: map[personKey]*resolved{}, last: map[[2]int64]time.Time{}}
	sends := make([]meta.Send, 0, len(members))
	for _, m := range members {
		person, ok := persons[m.ID]
		if !ok || m.DistinctID == "" {
			continue // merged away since the page was read: its survivor is a member
		}
		sd, ok, err := p.send(b, m, person, tr)
		if err != nil {
			return err
		}
		if ok {
			sends = append(sends, sd)
		}
	}
	for len(sends) > 0 {
		n := min(len(sends), meta.MaxSendBatch)
		inserted, err := s.cfg.Meta.ScheduleSends(p.ctx, sends[:n])
		if err != nil {
			return fmt.Errorf("cannot schedule the sends of campaign %d: %w", c.ID, err)
		}
		cohortScheduled.Add(inserted)
		sends = sends[n:]
	}
	return nil
}

// send is one member's send; ok is false when the person is not
// re-eligible yet (cohort triggers) or no variant can be chosen.
func (p *pass) send(b *batch, m store.CohortPerson, person store.Person, tr memberTrigger) (meta.Send, bool, error) {
	l, v := p.l, p.v
	d, c := l.Def, l.Meta
	if after := d.Audience.ReeligibleAfterDur; after > 0 && d.Kind == KindTriggered {
		last, err := b.lastTrigger(v.projectID, c.ID, person.ID)
		if err != nil {
			return meta.Send{}, false, err
		}
		if !Reeligible(last, tr.at, after) {
			return meta.Send{}, false, nil
		}
		b.last[[2]int64{c.ID, person.ID}] = tr.at
	}
	pid, cid, who := strconv.FormatInt(v.projectID, 10), strconv.FormatInt(c.ID, 10), strconv.FormatInt(person.ID, 10)
	arm := Assign(pid, cid, who, d.Holdout, v.control)
	vr := d.Variant(pid, cid, who)
	if vr == nil {
		return meta.Send{}, false, nil
	}
	tz := Zone(stringProp(person.Properties, "$timezone"), v.loc)
	due := tr.at
	if d.Wait != nil {
		var err error
		if due, err = b.dueAt(v.projectID, d, person.ID, tr.at, tz); err != nil {
			return meta.Send{}, false, err
		}
	}
	due = d.Audience.QuietHours.SendAt(due, tz)
	key := channel.NewKey(c.ID, person.ID, tr.uuid, vr.Name)
	ev := &event.Raw{UUID: tr.uuid, Event: tr.event, DistinctID: m.DistinctID, Timestamp: tr.at, ReceivedAt: tr.at}
	payload := p.s.engine.render(v.projectID, l, vr, key, ev, tr.props, person, "")
	raw, err := json.Marshal(payload)
	if err != nil {
		return meta.Send{}, false, err
	}
	return meta.Send{Key: key, ProjectID: v.projectID, CampaignID: c.ID, PersonID: person.ID, DistinctID: m.DistinctID,
		Variant: vr.Name, TriggerUUID: tr.uuid, Channel: d.Channel.Type, Arm: string(arm), DueAt: due, Payload: raw}, true, nil
}

// CohortDef reads a project's cohort as the event stores take it:
// decoded, validated (an *insight.Error when the stored definition is not
// one) and with the action it names resolved. meta.ErrNotFound when the
// cohort (or its action) does not exist.
func CohortDef(ctx context.Context, m meta.Store, projectID, id int64) (*insight.CohortDef, error) {
	c, err := m.Cohort(ctx, projectID, id)
	if err != nil {
		return nil, err
	}
	var def insight.CohortDef
	if err := json.Unmarshal(c.Definition, &def); err != nil {
		return nil, insight.Bad("cohort", "cannot decode cohort %d: %v", id, err)
	}
	if err := def.Validate("cohort"); err != nil {
		return nil, err
	}
	b := def.Behavior
	if b == nil || b.Action == nil || b.Action.Resolved() {
		return &def, nil
	}
	a, err := m.Action(ctx, projectID, b.Action.ID)
	if err != nil {
		return nil, err
	}
	resolved := insight.ActionDef{ID: a.ID, Name: a.Name}
	if err := json.Unmarshal(a.Steps, &resolved.Steps); err != nil || len(resolved.Steps) == 0 {
		return nil, insight.Bad("cohort.behavior.action", "action %d of cohort %d has no steps", a.ID, id)
	}
	b.Action = &resolved
	return &def, nil
}
