package sqlmeta

import (
	"context"
	"fmt"
	"strings"

	"github.com/journey-dev/journey/internal/meta"
)

// completeRows is how many outcomes one UPDATE of CompleteSends carries,
// of completeArgs placeholders each (far below either database's limit).
const (
	completeRows = 100
	completeArgs = 6
)

// checkOutcome refuses an outcome that CompleteSend, RetrySend or
// DeferSend would refuse, naming the field.
func checkOutcome(o meta.SendOutcome) error {
	switch o.State {
	case meta.SendSent, meta.SendHeldOut:
		if o.SentAt.IsZero() {
			return &meta.FieldError{Field: "sent_at", Msg: fmt.Sprintf("a send that is %s needs the time it was", o.State), Err: meta.ErrInvalid}
		}
	case meta.SendFailed, meta.SendCancelled:
	case meta.SendPending:
		if o.NextAttemptAt.IsZero() {
			return &meta.FieldError{Field: "next_attempt_at", Msg: "a send put back to wait needs a time", Err: meta.ErrInvalid}
		}
	default:
		return &meta.FieldError{Field: "state", Msg: fmt.Sprintf("a send completes as sent, failed, held_out or cancelled, or waits as pending, not %q", o.State),
			Err: meta.ErrInvalid}
	}
	return nil
}

// outcomeArgs are an outcome's values in completeSQL's order: id, state,
// sent_ms (NULL: none), last_error (NULL: unchanged), attempts to add and
// next_attempt_ms (NULL: unchanged).
func outcomeArgs(o meta.SendOutcome) []any {
	var sent, next any
	var lastError any = errorText(o.LastError)
	attempt := 0
	switch o.State {
	case meta.SendSent, meta.SendFailed:
		attempt = 1
	case meta.SendPending:
		next, lastError = ms(o.NextAttemptAt), nil
		if o.Attempt {
			attempt, lastError = 1, errorText(o.LastError)
		}
	}
	if !o.SentAt.IsZero() && o.State != meta.SendPending {
		sent = ms(o.SentAt) // as CompleteSend stores any time given
	}
	return []any{o.ID, o.State, sent, lastError, attempt, next}
}

// completeSQL updates the rows of a VALUES list (columns column1 … on
// both databases; typed by CAST, as PostgreSQL cannot infer a VALUES
// parameter's type) that owner holds: a completed send keeps its claim's
// fields, as CompleteSend leaves them; one put back to wait drops them, as
// RetrySend and DeferSend do.
func completeSQL(rows int) string {
	row := "(CAST(? AS BIGINT), CAST(? AS TEXT), CAST(? AS BIGINT), CAST(? AS TEXT), CAST(? AS INTEGER), CAST(? AS BIGINT))"
	values := strings.TrimSuffix(strings.Repeat(row+", ", rows), ", ")
	return `UPDATE sends SET state = v.column2,
		sent_ms = CASE WHEN v.column2 = 'pending' THEN sends.sent_ms ELSE v.column3 END,
		last_error = COALESCE(v.column4, sends.last_error),
		attempts = sends.attempts + v.column5,
		next_attempt_ms = COALESCE(v.column6, sends.next_attempt_ms),
		wake_ms = COALESCE(v.column6, sends.wake_ms),
		claimed_by = CASE WHEN v.column2 = 'pending' THEN '' ELSE sends.claimed_by END,
		claimed_until_ms = CASE WHEN v.column2 = 'pending' THEN NULL ELSE sends.claimed_until_ms END
		FROM (VALUES ` + values + `) AS v
		WHERE sends.id = v.column1 AND sends.state = 'sending' AND sends.claimed_by = ?
		RETURNING sends.id`
}

// CompleteSends applies a sender's outcomes in one transaction, one
// UPDATE … FROM (VALUES …) per completeRows: what made a sender's
// bookkeeping one write per message (issue 15, performance).
func (t *Tables) CompleteSends(ctx context.Context, owner string, outcomes []meta.SendOutcome) ([]int64, error) {
	if err := checkOwner(owner); err != nil {
		return nil, err
	}
	if len(outcomes) > meta.MaxSendBatch {
		return nil, fmt.Errorf("cannot complete %d sends: at most %d at once: %w", len(outcomes), meta.MaxSendBatch, meta.ErrInvalid)
	}
	seen := make(map[int64]bool, len(outcomes))
	for _, o := range outcomes {
		if err := checkOutcome(o); err != nil {
			return nil, err
		}
		if seen[o.ID] {
			return nil, &meta.FieldError{Field: "id", Msg: fmt.Sprintf("send %d given twice", o.ID), Err: meta.ErrInvalid}
		}
		seen[o.ID] = true
	}
	applied := make([]int64, 0, len(outcomes))
	if len(outcomes) == 0 {
		return applied, nil
	}
	tx, err := t.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("cannot complete sends: %w", err)
	}
	defer tx.Rollback()
	for start := 0; start < len(outcomes); start += completeRows {
		part := outcomes[start:min(start+completeRows, len(outcomes))]
		args := make([]any, 0, len(part)*completeArgs+1)
		for _, o := range part {
			args = append(args, outcomeArgs(o)...)
		}
		rows, err := tx.QueryContext(ctx, t.q(completeSQL(len(part))), append(args, owner)...)
		if err != nil {
			return nil, fmt.Errorf("cannot complete sends: %w", err)
		}
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return nil, fmt.Errorf("cannot complete sends: %w", err)
			}
			applied = append(applied, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("cannot complete sends: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("cannot complete sends: %w", err)
	}
	return applied, nil
}
