package duckdb

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/bits-and-blooms/bloom/v3"
	"github.com/google/uuid"

	"github.com/journey-dev/journey/internal/store"
)

// seenFilter remembers which (project, uuid) pairs are stored, with a Bloom
// filter: only the events it says may be stored already are checked
// against the stored events (dedup.go) — retries are rare, so most
// batches insert without scanning stored uuids. A "maybe" falls back to
// the exact check, so a false positive costs time, never correctness.
type seenFilter struct {
	f     *bloom.BloomFilter
	added uint
}

// seenFalsePositives is 0.1 %: each suspect costs a scan of the stored
// uuids (dedup.go), so fewer suspects are worth ~14 bits per stored event.
const seenFalsePositives = 0.001

func seenKey(project int64, id [16]byte) []byte {
	var k [24]byte
	copy(k[:16], id[:])
	binary.LittleEndian.PutUint64(k[16:], uint64(project))
	return k[:]
}

// ensureSeen builds the filter from the stored events on first use, and
// rebuilds it twice as large when it is full (its error rate would grow).
func (s *Store) ensureSeen(ctx context.Context, incoming int) error {
	if s.seen != nil && s.seen.added+uint(incoming) <= s.seen.f.Cap()/10*9 {
		return nil
	}
	var n uint
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM events`).Scan(&n); err != nil {
		return fmt.Errorf("cannot count stored events: %w", err)
	}
	capacity := max(1<<20, 2*(n+uint(incoming)))
	f := bloom.NewWithEstimates(capacity, seenFalsePositives)
	rows, err := s.db.QueryContext(ctx, `SELECT project_id, uuid::VARCHAR FROM events`)
	if err != nil {
		return fmt.Errorf("cannot read stored uuids: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var project int64
		var text string
		if err := rows.Scan(&project, &text); err != nil {
			return err
		}
		id, err := uuid.Parse(text)
		if err != nil {
			return fmt.Errorf("cannot parse stored uuid %q: %w", text, err)
		}
		f.Add(seenKey(project, id))
	}
	if err := rows.Err(); err != nil {
		return err
	}
	s.seen = &seenFilter{f: f, added: n}
	return nil
}

func (s *Store) markStored(rows []store.Row) {
	for i := range rows {
		s.seen.f.Add(seenKey(rows[i].ProjectID, rows[i].UUID))
	}
	s.seen.added += uint(len(rows))
}
