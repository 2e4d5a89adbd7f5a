package loader

import (
	"context"
	"fmt"
	"sync"

	"github.com/journey-dev/journey/internal/identity"
)

// exclusive lets a person's deletion (internal/privacy) run between two
// batches: the loader holds excl while it resolves and stores a batch, and
// while it loads the identity state, so a deletion sees neither half a
// batch nor a resolver about to be replaced by one read before it.
type exclusive struct {
	excl     sync.Mutex
	resolver *identity.Resolver // the running loader's; nil when it is not running
}

// loadResolver reads the stored identity state into a new resolver, the
// one the loader runs with until it restarts.
func (l *Loader) loadResolver(ctx context.Context) (*identity.Resolver, error) {
	l.excl.Lock()
	defer l.excl.Unlock()
	st, err := l.store.Identity(ctx)
	if err != nil {
		return nil, fmt.Errorf("cannot load identity state: %w", err)
	}
	l.resolver = identity.New(st)
	return l.resolver, nil
}

func (l *Loader) setResolver(r *identity.Resolver) {
	l.excl.Lock()
	l.resolver = r
	l.excl.Unlock()
}

// Forget is handed to an Exclusive function: it makes the running loader
// forget the persons of distinct ids (identity.Resolver.Forget). With no
// loader running it does nothing: a loader that starts later reads the
// identity state from the store, where the deletion removed them.
type Forget func(project int64, distinctIDs []string)

// Exclusive runs fn while no batch is being resolved or stored and no
// identity state loaded; batches wait until fn returns. fn deletes from
// the event store and then calls forget with the distinct ids it deleted,
// so that the next batch resolves them as never seen.
func (l *Loader) Exclusive(ctx context.Context, fn func(ctx context.Context, forget Forget) error) error {
	l.excl.Lock()
	defer l.excl.Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	return fn(ctx, func(project int64, distinctIDs []string) {
		if l.resolver != nil {
			l.resolver.Forget(project, distinctIDs)
		}
		if f := l.forgotten.Load(); f != nil {
			(*f)(project, distinctIDs) // SetApplied's views forget them too
		}
	})
}
