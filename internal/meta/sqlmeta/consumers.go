package sqlmeta

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"time"
)

// ConsumerPosition reads a log consumer's stored position.
func (t *Tables) ConsumerPosition(ctx context.Context, name string) (uint64, bool, error) {
	var pos int64
	err := t.row(ctx, `SELECT position FROM log_consumers WHERE name = ?`, name).Scan(&pos)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("cannot read the log position of %q: %w", name, err)
	}
	return uint64(pos), true, nil
}

// SetConsumerPosition stores a log consumer's position.
func (t *Tables) SetConsumerPosition(ctx context.Context, name string, pos uint64) error {
	if name == "" || pos > math.MaxInt64 {
		return fmt.Errorf("cannot store the log position %d of %q: out of range", pos, name)
	}
	_, err := t.exec(ctx, `INSERT INTO log_consumers (name, position, updated_ms) VALUES (?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET position = excluded.position, updated_ms = excluded.updated_ms`,
		name, int64(pos), ms(time.Now()))
	if err != nil {
		return fmt.Errorf("cannot store the log position of %q: %w", name, err)
	}
	return nil
}
