package duckdb

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/bits-and-blooms/bloom/v3"

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

// seenFalsePositives is the filter's false-positive rate per event when
// full, 1e-5 (24 bits and 17 probes per slot of capacity): a batch with a
// single suspect scans every stored uuid (dedup.go, ~24 ms at 2 M stored
// events, linear in them), and at 0.1 % nearly every loader batch had one
// (1-0.999^10000); at 1e-5 about one 10 000-event batch in ten does when
// the filter is full, fewer while it is half full after a rebuild. The
// cost is memory: 3 bytes per slot, 3.3 to 6 bytes per stored event
// (capacity is twice the stored events at a rebuild, 90 % when full).
// A variable so that the benchmark can compare rates.
var seenFalsePositives = 1e-5

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
	return s.buildSeen(ctx, max(1<<20, 2*(n+uint(incoming))), n)
}

// buildSeen makes a filter of the given capacity from the n stored events.
func (s *Store) buildSeen(ctx context.Context, capacity, n uint) error {
	f := bloom.NewWithEstimates(capacity, seenFalsePositives)
	// The driver gives a UUID as its 16 bytes: no text to format and parse
	// (that took ~5 s per 2 M events, with Apply waiting).
	rows, err := s.db.QueryContext(ctx, `SELECT project_id, uuid FROM events`)
	if err != nil {
		return fmt.Errorf("cannot read stored uuids: %w", err)
	}
	defer rows.Close()
	var raw []byte
	for rows.Next() {
		var project int64
		if err := rows.Scan(&project, &raw); err != nil {
			return err
		}
		if len(raw) != 16 {
			return fmt.Errorf("cannot read stored uuid %x: %d bytes", raw, len(raw))
		}
		f.Add(seenKey(project, [16]byte(raw)))
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
