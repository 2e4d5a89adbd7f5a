package campaign

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/journey-dev/journey/internal/meta"
	"github.com/journey-dev/journey/internal/store"
)

// Cohort triggers (issue 15 item 1: "persons who entered a cohort"). While
// a campaign with trigger {"cohort": id} is active, the scheduler
// (broadcast.go) evaluates its cohort every Interval, in a pass over the
// members page by page. The first pass after activation is the baseline:
// its members are recorded and nobody is messaged, since entering means
// after activation. In every later pass, a member who was not seen in the
// pass before entered (meta.CohortEntered): the person is scheduled as an
// event trigger would be, at the pass's time plus the campaign's wait,
// with its audience rules (holdout, control group, variant, quiet hours,
// re-eligibility), under the pass's trigger id, so a page repeated after a
// crash schedules nothing twice. The page's members are recorded after
// their sends are scheduled (a crash in between schedules them again,
// under the same keys), and those not seen in the pass are dropped at its
// end, so a person who leaves and comes back enters again. A campaign that
// is not active forgets its members: when activated again, a new baseline
// is taken.
//
// The engine's goal cancellation reads the log for event-triggered
// campaigns only; the payloads of cohort triggers and broadcasts do not
// vouch for goals, so the sender checks their goal at send time.

// cohortTrigger works on a cohort-triggered campaign for one tick.
func (s *CohortScheduler) cohortTrigger(ctx context.Context, v cohortView, l *Live) (bool, error) {
	c, d := l.Meta, l.Def
	now := s.cfg.Now()
	if c.Status != meta.CampaignActive {
		return false, s.forget(ctx, c, now)
	}
	s.mu.Lock()
	delete(s.reset, c.ID)
	due := s.next[c.ID]
	s.mu.Unlock()
	if now.Before(due) {
		return false, nil
	}
	// A pass is due when none ran yet, one was cut short, or the last
	// ended an interval ago.
	run, ok, err := s.claim(ctx, c, now, func(r meta.CohortRun) bool {
		return r.Generation == 0 || r.DoneAt.IsZero() || !now.Before(r.AsOf.Add(s.cfg.Interval))
	})
	if run.Generation > 0 && !run.DoneAt.IsZero() {
		s.setNext(c.ID, run.AsOf.Add(s.cfg.Interval))
	}
	if err != nil || !ok {
		return false, err
	}
	if run.Generation > 0 && !run.DoneAt.IsZero() && now.Before(run.AsOf.Add(s.cfg.Interval)) {
		return false, s.release(ctx, run) // another replica ended a pass meanwhile
	}
	if run.Generation == 0 || !run.DoneAt.IsZero() { // a new pass: the cohort as of now
		run.Generation, run.Cursor, run.AsOf, run.DoneAt = run.Generation+1, 0, now, time.Time{}
	}
	p := &pass{s: s, ctx: ctx, v: v, l: l, run: run}
	def, err := p.cohort(d.Trigger.Cohort)
	if err != nil || def == nil {
		return false, errors.Join(err, p.release())
	}
	gen := run.Generation
	trig := memberTrigger{event: CohortEnteredEvent, uuid: CohortEntryUUID(c.ID, gen), at: run.AsOf,
		props: map[string]any{"cohort_id": d.Trigger.Cohort}}
	state, err := p.pages(def, func(members []store.CohortPerson) error { return p.entered(members, gen, trig) })
	if err != nil {
		return false, errors.Join(err, p.release())
	}
	if state != passFinished {
		return state == passMore, p.release()
	}
	if _, err := s.cfg.Meta.DropCohortMembers(ctx, c.ProjectID, c.ID, gen); err != nil {
		return false, errors.Join(fmt.Errorf("cannot drop the members who left the cohort of campaign %d: %w", c.ID, err), p.release())
	}
	p.run.DoneAt = s.cfg.Now()
	if err := p.release(); err != nil {
		return false, err
	}
	s.setNext(c.ID, run.AsOf.Add(s.cfg.Interval))
	return false, nil
}

// entered schedules the page's members who entered the cohort at the
// pass, then records the page's members as seen.
func (p *pass) entered(members []store.CohortPerson, gen int64, trig memberTrigger) error {
	m, c := p.s.cfg.Meta, p.l.Meta
	ids := make([]int64, len(members))
	for i, mb := range members {
		ids[i] = mb.ID
	}
	in, err := m.CohortEntered(p.ctx, c.ProjectID, c.ID, gen, ids)
	if err != nil {
		return err
	}
	if len(in) > 0 {
		entered := make(map[int64]bool, len(in))
		for _, id := range in {
			entered[id] = true
		}
		var who []store.CohortPerson
		for _, mb := range members {
			if entered[mb.ID] {
				who = append(who, mb)
			}
		}
		if err := p.schedule(who, trig); err != nil {
			return err
		}
	}
	return m.MarkCohortMembers(p.ctx, c.ProjectID, c.ID, gen, ids)
}

func (s *CohortScheduler) setNext(id int64, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.next) > 100_000 {
		s.next = map[int64]time.Time{}
	}
	s.next[id] = at
}

// forget resets the run and members of a cohort trigger that is not
// active (once per process while it stays so), so that its next
// activation takes a new baseline.
func (s *CohortScheduler) forget(ctx context.Context, c meta.Campaign, now time.Time) error {
	s.mu.Lock()
	done := s.reset[c.ID]
	delete(s.next, c.ID)
	s.mu.Unlock()
	if done {
		return nil
	}
	run, err := s.cfg.Meta.CohortRun(ctx, c.ProjectID, c.ID)
	switch {
	case errors.Is(err, meta.ErrNotFound):
	case err != nil:
		return err
	case run.ClaimedBy != s.cfg.Owner && now.Before(run.ClaimedUntil):
		return nil // another replica's pass: later
	default:
		_, ok, err := s.cfg.Meta.ClaimCohortRun(ctx, c.ProjectID, c.ID, s.cfg.Owner, now, s.cfg.Lease)
		if err != nil || !ok {
			return err
		}
		if err := s.cfg.Meta.ResetCohortRun(ctx, c.ProjectID, c.ID, s.cfg.Owner); err != nil && !errors.Is(err, meta.ErrNotClaimed) {
			return fmt.Errorf("cannot forget the cohort members of campaign %d: %w", c.ID, err)
		}
	}
	s.mu.Lock()
	if len(s.reset) > 100_000 {
		s.reset = map[int64]bool{}
	}
	s.reset[c.ID] = true
	s.mu.Unlock()
	return nil
}
