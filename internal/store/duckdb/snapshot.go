package duckdb

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// SnapshotResult describes a copy of the store taken by Snapshot.
type SnapshotResult struct {
	// Checkpoint is the loader's log position stored in the copy: every
	// log entry before it is in the copy, none after it.
	Checkpoint uint64
	Bytes      int64  // size of the copied file
	Version    string // DuckDB's version (the file's writer)
}

// Snapshot copies the store's database file to dst, consistently with its
// loader checkpoint. It holds the write lock that Apply takes, so no batch
// lands meanwhile; CHECKPOINT first moves the write-ahead log into the
// file, so the file alone is the whole store. Readers go on answering
// (they do not write the file), capture goes on acknowledging (the loader
// catches up afterwards). during, if not nil, runs under the same lock
// before the copy: backup opens the event log there, so the log it keeps
// starts at or before the checkpoint the copy holds.
//
// The copy is refused when the file changed while it was read (a write
// outside Apply's lock and an automatic checkpoint), rather than kept torn.
func (s *Store) Snapshot(ctx context.Context, dst string, during func(checkpoint uint64) error) (SnapshotResult, error) {
	var res SnapshotResult
	src, err := s.Path(ctx)
	if err != nil {
		return res, err
	}
	if src == "" {
		return res, fmt.Errorf("cannot snapshot event store %q: it is in memory", src)
	}
	if err := s.db.QueryRowContext(ctx, `SELECT version()`).Scan(&res.Version); err != nil {
		return res, fmt.Errorf("cannot read DuckDB version: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.write.ExecContext(ctx, `CHECKPOINT`); err != nil {
		return res, fmt.Errorf("cannot checkpoint event store %q: %w", src, err)
	}
	if res.Checkpoint, err = s.Checkpoint(ctx); err != nil {
		return res, fmt.Errorf("cannot read loader checkpoint: %w", err)
	}
	if during != nil {
		if err := during(res.Checkpoint); err != nil {
			return res, err
		}
	}
	before, err := os.Stat(src)
	if err != nil {
		return res, fmt.Errorf("cannot stat event store %q: %w", src, err)
	}
	if res.Bytes, err = copyFile(ctx, src, dst); err != nil {
		return res, err
	}
	after, err := os.Stat(src)
	if err != nil {
		return res, fmt.Errorf("cannot stat event store %q: %w", src, err)
	}
	if wal, err := os.Stat(src + ".wal"); err == nil && wal.Size() > 0 || !after.ModTime().Equal(before.ModTime()) || after.Size() != before.Size() || res.Bytes != before.Size() {
		return res, fmt.Errorf("cannot snapshot event store %q: it was written during the copy; try again", src)
	}
	return res, nil
}

// Path is the absolute path of the store's database file ("" in memory).
func (s *Store) Path(ctx context.Context) (string, error) {
	var p *string
	if err := s.db.QueryRowContext(ctx, `SELECT path FROM duckdb_databases() WHERE database_name = current_database()`).Scan(&p); err != nil {
		return "", fmt.Errorf("cannot read event store path: %w", err)
	}
	if p == nil {
		return "", nil
	}
	return filepath.Abs(*p)
}

// copyFile copies src to a new file dst and syncs it; ctx stops it between
// chunks.
func copyFile(ctx context.Context, src, dst string) (int64, error) {
	in, err := os.Open(src)
	if err != nil {
		return 0, fmt.Errorf("cannot open event store %q: %w", src, err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return 0, fmt.Errorf("cannot create snapshot %q: %w", dst, err)
	}
	n, err := io.Copy(out, ctxReader{ctx, in})
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return n, fmt.Errorf("cannot write snapshot %q: %w", dst, err)
	}
	return n, nil
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
