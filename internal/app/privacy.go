package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"os"
	"time"

	"github.com/journey-dev/journey/internal/privacy"
	"github.com/journey-dev/journey/internal/store"
)

// deletionPauseEnv, when set to a Go duration, pauses a deletion job after
// each step it records: the crash tests kill the server in such a pause.
const deletionPauseEnv = "JOURNEY_TEST_DELETION_PAUSE"

// startPrivacy runs the deletion jobs and the retention loop beside the
// loader: both only act while this process loads events (a.loading), the
// single writer of the event store and the only resolver to forget.
func (a *App) startPrivacy(ctx context.Context) {
	ps, ok := a.Events.(store.Privacy)
	if !ok {
		return
	}
	// Embedded, the process is alone with its data directory: a stable
	// owner takes its own jobs back at once after a crash. Replicas need
	// names of their own, so that one takes another's after the lease.
	owner := "embedded"
	if _, shared := a.Meta.(loaderLock); shared {
		b := make([]byte, 8)
		rand.Read(b)
		owner = "replica-" + hex.EncodeToString(b)
	}
	var pause time.Duration
	if v := os.Getenv(deletionPauseEnv); v != "" {
		if d, err := time.ParseDuration(v); err == nil {
			pause = d
		}
	}
	r := &privacy.Runner{Meta: a.Meta, Events: ps, Loader: a.Loader, LogEnd: a.Log.End, Owner: owner,
		Active: a.loading.Load, StepPause: pause}
	a.wg.Add(2)
	go func() {
		defer a.wg.Done()
		r.Run(ctx)
	}()
	go func() {
		defer a.wg.Done()
		a.retentionLoop(ctx, ps)
	}()
}

// retentionLoop applies the projects' retention now and then every
// Config.RetentionInterval, while this process loads events.
func (a *App) retentionLoop(ctx context.Context, ps store.Privacy) {
	every := a.Config.RetentionInterval
	if every < 0 {
		return
	}
	if every == 0 {
		every = time.Hour
	}
	wait := min(every, 10*time.Second) // soon after start, once the loader has the lock
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = every
		if !a.loading.Load() {
			continue
		}
		if _, err := privacy.ApplyRetention(ctx, a.Meta, ps, time.Now()); err != nil && ctx.Err() == nil {
			slog.Warn("cannot apply retention", "err", err)
		}
	}
}
