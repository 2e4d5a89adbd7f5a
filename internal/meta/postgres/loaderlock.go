package postgres

import (
	"context"
	"fmt"
	"time"
)

// loaderLockKey is the advisory lock that elects the one loader among
// replicas ("journey loader" in ASCII, truncated).
const loaderLockKey = 0x6a6c6f61646572

// LoaderLock blocks until this process holds the loader lock. The lock is
// a session-level advisory lock on a dedicated connection: when the
// process dies, PostgreSQL ends the session and another replica's
// LoaderLock returns. lost is closed when the connection fails, since the
// lock may be gone; the caller must stop loading then.
func (s *Store) LoaderLock(ctx context.Context) (release func(), lost <-chan struct{}, err error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot get a connection for the loader lock: %w", err)
	}
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", int64(loaderLockKey)); err != nil {
		conn.Release()
		return nil, nil, fmt.Errorf("cannot take the loader lock: %w", err)
	}
	done := make(chan struct{})
	gone := make(chan struct{})
	go func() {
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				ping, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				err := conn.Ping(ping)
				cancel()
				if err != nil {
					close(gone)
					return
				}
			}
		}
	}()
	release = func() {
		close(done)
		unlock, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		conn.Exec(unlock, "SELECT pg_advisory_unlock($1)", int64(loaderLockKey))
		conn.Release()
	}
	return release, gone, nil
}
