package duckdb

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/journey-dev/journey/internal/journeyidx"
)

// The index's durable tail keeps each batch's indexed events as one row
// of journey_index_batches (the batch's position, its events encoded in
// one BLOB), written in the batch's transaction. A row per event (the
// earlier journey_index_tail) made every write insert its events twice
// and every prune delete hundreds of thousands of rows: about a fifth of
// Apply's CPU per event (BenchmarkApply, write=2500); one row a batch
// costs one parameter. journey_index_tail is still read at open, for the
// rows an older Journey left there.

// encodeTailBatch encodes a batch's indexed events: the names it uses
// once, then per event its project, person, time (a delta from the
// previous event's) and name, as varints.
func encodeTailBatch(events []journeyidx.Event) []byte {
	names := map[string]uint64{}
	var order []string
	for _, e := range events {
		if _, ok := names[e.Name]; !ok {
			names[e.Name] = uint64(len(order))
			order = append(order, e.Name)
		}
	}
	b := make([]byte, 0, 16+len(events)*12)
	b = binary.AppendUvarint(b, uint64(len(order)))
	for _, n := range order {
		b = binary.AppendUvarint(b, uint64(len(n)))
		b = append(b, n...)
	}
	b = binary.AppendUvarint(b, uint64(len(events)))
	var last int64
	for _, e := range events {
		b = binary.AppendVarint(b, e.Project)
		b = binary.AppendVarint(b, e.Person)
		b = binary.AppendVarint(b, e.T-last)
		b = binary.AppendUvarint(b, names[e.Name])
		last = e.T
	}
	return b
}

var errTailBatch = errors.New("damaged batch")

// decodeTailBatch appends the events of an encoded batch to out.
func decodeTailBatch(b []byte, out []journeyidx.Event) ([]journeyidx.Event, error) {
	uv := func() uint64 {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			b = nil
			return 0
		}
		b = b[n:]
		return v
	}
	sv := func() int64 {
		v, n := binary.Varint(b)
		if n <= 0 {
			b = nil
			return 0
		}
		b = b[n:]
		return v
	}
	nNames := uv()
	if nNames > uint64(len(b)) {
		return out, errTailBatch
	}
	names := make([]string, nNames)
	for i := range names {
		l := uv()
		if l > uint64(len(b)) {
			return out, errTailBatch
		}
		names[i], b = string(b[:l]), b[l:]
	}
	n := uv()
	if b == nil || n > uint64(len(b)) {
		return out, errTailBatch
	}
	var last int64
	for range n {
		e := journeyidx.Event{Project: sv(), Person: sv(), T: last + sv()}
		k := uv()
		if b == nil || k >= uint64(len(names)) {
			return out, errTailBatch
		}
		e.Name, last = names[k], e.T
		out = append(out, e)
	}
	if len(b) != 0 {
		return out, errTailBatch
	}
	return out, nil
}

// readTailBatches appends the events of the batches in (after, upTo] to
// out, in batch order.
func readTailBatches(ctx context.Context, db *sql.DB, after, upTo uint64, out []journeyidx.Event) ([]journeyidx.Event, error) {
	rows, err := db.QueryContext(ctx, `SELECT position, events FROM journey_index_batches WHERE position > ? AND position <= ? ORDER BY position`, after, upTo)
	if err != nil {
		return out, fmt.Errorf("cannot read the journey index tail: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var pos uint64
		var blob []byte
		if err := rows.Scan(&pos, &blob); err != nil {
			return out, fmt.Errorf("cannot read the journey index tail: %w", err)
		}
		if out, err = decodeTailBatch(blob, out); err != nil {
			return out, fmt.Errorf("cannot read the journey index tail of batch %d: %w", pos, err)
		}
	}
	if err := rows.Err(); err != nil {
		return out, fmt.Errorf("cannot read the journey index tail: %w", err)
	}
	return out, nil
}

// dropJourneyTail empties the index's durable tail in tx (a deletion:
// the rows of the erased person must go, and the index is rebuilt from
// the store right after), and records that the batches up to the store's
// checkpoint are not there, so that an open after a crash before the
// rebuild rebuilds instead of adding from the tail.
func (s *Store) dropJourneyTail(ctx context.Context, tx *sql.Tx) error {
	var ckpt uint64
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(position), 0) FROM loader_checkpoint WHERE id = 1`).Scan(&ckpt); err != nil {
		return fmt.Errorf("cannot read checkpoint: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM journey_index_batches; DELETE FROM journey_index_tail`); err != nil {
		return fmt.Errorf("cannot empty the journey index tail: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO journey_index_state VALUES (1, ?)`, ckpt); err != nil {
		return fmt.Errorf("cannot empty the journey index tail: %w", err)
	}
	// Were tx rolled back, the table keeps more than pruned says: harmless.
	s.jidx.pruned = max(s.jidx.pruned, ckpt)
	return nil
}
