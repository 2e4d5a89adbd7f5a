// Package privacy runs persons' deletion jobs, exports what is stored
// about a person, and drops events past a project's retention (issue 17
// item 1).
//
// A deletion is a job in the metadata store (meta.DeletionJob), run by the
// process that loads events, step by step, each step recorded before the
// next begins, so that a crash resumes it where it was:
//
//  1. resolve: wait until the loader has stored everything the log held
//     when the job was first claimed (what was captured before the
//     request), then, between two loader batches (loader.Exclusive), find
//     the person's ids and distinct ids and record them with their counts;
//  2. events: still between the same two batches, delete them from the
//     event store (idempotent) and have the running loader forget the
//     distinct ids, so a later capture with one starts a new person;
//  3. metadata: delete the person's feedback, campaign sends, cohort
//     memberships and flag hash keys, and mark the job done, in one
//     metadata transaction.
//
// A job resumed at step events resolves the person again and adds what a
// merge may have added since to what it recorded.
package privacy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/journey-dev/journey/internal/loader"
	"github.com/journey-dev/journey/internal/meta"
	"github.com/journey-dev/journey/internal/store"
)

// Loader is what a deletion needs of the event loader (*loader.Loader).
type Loader interface {
	WaitFor(ctx context.Context, pos uint64) error
	Exclusive(ctx context.Context, fn func(ctx context.Context, forget loader.Forget) error) error
}

// Runner claims and runs deletion jobs.
type Runner struct {
	Meta   meta.Store
	Events store.Privacy
	Loader Loader
	// LogEnd is the event log's end (eventlog.Log.End).
	LogEnd func() uint64
	// Owner names this process in claims: a stable name for an embedded
	// server, whose restart takes its own jobs back at once; a per-process
	// one for replicas, which take each other's after the lease.
	Owner string
	// Lease is how long a claim holds between two saves; 0 = 1 min.
	Lease time.Duration
	// Poll is how often the runner looks for jobs; 0 = 1 s.
	Poll time.Duration
	// Active, when set, says whether this process loads events now (the
	// replica holding the loader lock): only that one runs jobs, since
	// only its loader can forget.
	Active func() bool
	// Erased, when set, runs after a person left the event store, before
	// the next loader batch: caches that keep persons drop the project's
	// (the embedded flag evaluator's person index).
	Erased func(projectID int64)
	// StepPause pauses after each recorded step, between the saves; for
	// the crash tests, which kill the server while a job is paused.
	StepPause time.Duration

	wake chan struct{}
}

func (r *Runner) lease() time.Duration {
	if r.Lease > 0 {
		return r.Lease
	}
	return time.Minute
}

// Wake makes a sleeping Run look for jobs now (a job was just created).
func (r *Runner) Wake() {
	select {
	case r.wakeChan() <- struct{}{}:
	default:
	}
}

func (r *Runner) wakeChan() chan struct{} {
	if r.wake == nil {
		r.wake = make(chan struct{}, 1)
	}
	return r.wake
}

// Run runs jobs until ctx ends; a failed job is retried after a back-off
// that doubles up to a minute (meta.MaxDeletionAttempts in all).
func (r *Runner) Run(ctx context.Context) {
	wake := r.wakeChan()
	poll := r.Poll
	if poll <= 0 {
		poll = time.Second
	}
	backoff := time.Duration(0)
	for ctx.Err() == nil {
		wait := poll
		if r.Active == nil || r.Active() {
			if err := r.RunPending(ctx); err != nil && ctx.Err() == nil {
				backoff = min(max(2*backoff, poll), time.Minute)
				wait = backoff
				slog.Warn("deletion job failed; retrying", "err", err, "in", wait)
			} else {
				backoff = 0
			}
		}
		select {
		case <-ctx.Done():
		case <-wake:
		case <-time.After(wait):
		}
	}
}

// RunPending runs the jobs there are to run now, oldest first, and stops
// at the first that fails.
func (r *Runner) RunPending(ctx context.Context) error {
	for ctx.Err() == nil {
		j, ok, err := r.Meta.ClaimDeletion(ctx, r.Owner, time.Now(), r.lease())
		if err != nil || !ok {
			return err
		}
		if err := r.run(ctx, j); err != nil {
			j.Error = err.Error()
			if serr := r.save(ctx, j); serr != nil && !errors.Is(serr, meta.ErrNotClaimed) {
				slog.Warn("cannot record deletion error", "job", j.ID, "err", serr)
			}
			return fmt.Errorf("cannot run deletion %d: %w", j.ID, err)
		}
		slog.Info("person deleted", "project", j.ProjectID, "job", j.ID, "person", j.Subject.PersonID, "events", j.Counts.Events)
	}
	return ctx.Err()
}

// save records j and renews the claim.
func (r *Runner) save(ctx context.Context, j meta.DeletionJob) error {
	return r.Meta.SaveDeletion(ctx, j, r.Owner, time.Now().Add(r.lease()))
}

// step records j and pauses (StepPause) once it is durable.
func (r *Runner) step(ctx context.Context, j *meta.DeletionJob) error {
	if err := r.save(ctx, *j); err != nil {
		return err
	}
	if r.StepPause > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(r.StepPause):
		}
	}
	return nil
}

func (r *Runner) run(ctx context.Context, j meta.DeletionJob) error {
	if j.Step == meta.StepResolve || j.Step == meta.StepEvents {
		if err := r.caughtUp(ctx, &j); err != nil {
			return err
		}
		if err := r.Loader.Exclusive(ctx, func(ctx context.Context, forget loader.Forget) error {
			return r.eventsStep(ctx, &j, forget)
		}); err != nil {
			return err
		}
	}
	if j.Step != meta.StepMetadata {
		return fmt.Errorf("deletion %d is at unknown step %q", j.ID, j.Step)
	}
	done, err := r.Meta.ErasePersonMetadata(ctx, j, r.Owner)
	if err != nil {
		return err
	}
	j.Counts = done.Counts
	return nil
}

// caughtUp waits until the loader has stored the log up to the job's
// position (set at its first claim), renewing the claim meanwhile.
func (r *Runner) caughtUp(ctx context.Context, j *meta.DeletionJob) error {
	if j.LogPosition == 0 && r.LogEnd != nil {
		j.LogPosition = r.LogEnd()
		if err := r.save(ctx, *j); err != nil {
			return err
		}
	}
	for {
		wait, cancel := context.WithTimeout(ctx, r.lease()/3)
		err := r.Loader.WaitFor(wait, j.LogPosition)
		cancel()
		if err == nil || ctx.Err() != nil {
			return ctx.Err()
		}
		if err := r.save(ctx, *j); err != nil {
			return err
		}
	}
}

// eventsStep resolves and records the subject, deletes it from the event
// store and makes the loader forget it; it runs between loader batches.
func (r *Runner) eventsStep(ctx context.Context, j *meta.DeletionJob, forget loader.Forget) error {
	sub := store.Subject{ProjectID: j.ProjectID, PersonID: j.Subject.PersonID, MergedIDs: j.Subject.MergedIDs, DistinctIDs: j.Subject.DistinctIDs}
	if j.Step == meta.StepResolve {
		sub.PersonID = j.PersonID
		if j.DistinctID != "" {
			sub.DistinctIDs = []string{j.DistinctID} // metadata may name it even if the store does not
		}
	}
	fresh, err := r.Events.ResolveSubject(ctx, j.ProjectID, sub.PersonID, j.DistinctID)
	switch {
	case errors.Is(err, store.ErrNotFound): // gone already, or only ever in the metadata
	case err != nil:
		return err
	default:
		sub.PersonID = fresh.PersonID
		sub.Union(fresh)
	}
	if j.Step == meta.StepResolve {
		c, err := r.Events.CountSubject(ctx, &sub)
		if err != nil {
			return err
		}
		j.Counts.Events, j.Counts.DistinctIDs, j.Counts.Persons, j.Counts.Overrides = c.Events, c.DistinctIDs, c.Persons, c.Overrides
	}
	j.PersonID, j.Step = sub.PersonID, meta.StepEvents
	j.Subject = meta.DeletionSubject{PersonID: sub.PersonID, MergedIDs: sub.MergedIDs, DistinctIDs: sub.DistinctIDs}
	if err := r.step(ctx, j); err != nil { // the subject is durable before anything is deleted
		return err
	}
	if err := r.Events.ErasePerson(ctx, &sub); err != nil {
		return err
	}
	forget(j.ProjectID, sub.DistinctIDs)
	if r.Erased != nil {
		r.Erased(j.ProjectID)
	}
	j.Step = meta.StepMetadata
	return r.step(ctx, j)
}
