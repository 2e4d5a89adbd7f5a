package sqlmeta

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/journey-dev/journey/internal/meta"
)

var _ meta.SendStore = (*Tables)(nil)

const sendCols = `id, key, project_id, campaign_id, person_id, distinct_id, variant, trigger_uuid, channel, arm, due_ms, state, attempts,
	next_attempt_ms, last_error, payload, created_ms, sent_ms, claimed_by, claimed_until_ms`

func scanSend(row interface{ Scan(...any) error }) (meta.Send, error) {
	var s meta.Send
	var due, next, created int64
	var sent, until sql.NullInt64
	var payload string
	if err := row.Scan(&s.ID, &s.Key, &s.ProjectID, &s.CampaignID, &s.PersonID, &s.DistinctID, &s.Variant, &s.TriggerUUID, &s.Channel, &s.Arm,
		&due, &s.State, &s.Attempts, &next, &s.LastError, &payload, &created, &sent, &s.ClaimedBy, &until); err != nil {
		return meta.Send{}, notFound(err)
	}
	s.DueAt, s.NextAttemptAt, s.CreatedAt, s.Payload = fromMS(due), fromMS(next), fromMS(created), json.RawMessage(payload)
	if sent.Valid {
		s.SentAt = fromMS(sent.Int64)
	}
	if until.Valid {
		s.ClaimedUntil = fromMS(until.Int64)
	}
	return s, nil
}

// scanSends reads every row of a query of sendCols.
func scanSends(rows *sql.Rows, err error) ([]meta.Send, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []meta.Send{}
	for rows.Next() {
		s, err := scanSend(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

func sendArm(a string) bool {
	switch a {
	case meta.ArmTreatment, meta.ArmHoldout, meta.ArmControlGroup:
		return true
	}
	return false
}

// checkSend normalises s for scheduling, or names the field it refuses.
func checkSend(s *meta.Send) error {
	if s.Arm == "" {
		s.Arm = meta.ArmTreatment
	}
	if s.State == "" {
		s.State = meta.SendPending
	}
	if s.NextAttemptAt.IsZero() {
		s.NextAttemptAt = s.DueAt
	}
	s.Payload = json.RawMessage(jsonText(s.Payload))
	for _, f := range []struct{ name, v string }{{"key", s.Key}, {"distinct_id", s.DistinctID}, {"variant", s.Variant},
		{"trigger_uuid", s.TriggerUUID}, {"channel", s.Channel}, {"payload", string(s.Payload)}} {
		if !storable(f.v) {
			return &meta.FieldError{Field: f.name, Msg: "not valid UTF-8 text", Err: meta.ErrInvalid}
		}
	}
	switch {
	case s.Key == "":
		return &meta.FieldError{Field: "key", Msg: "a send needs an idempotency key", Err: meta.ErrInvalid}
	case s.CampaignID == 0:
		return &meta.FieldError{Field: "campaign_id", Msg: "a send needs a campaign", Err: meta.ErrInvalid}
	case s.Channel == "":
		return &meta.FieldError{Field: "channel", Msg: "a send needs a channel", Err: meta.ErrInvalid}
	case !sendArm(s.Arm):
		return &meta.FieldError{Field: "arm", Msg: fmt.Sprintf("unknown arm %q: want treatment, holdout or control_group", s.Arm), Err: meta.ErrInvalid}
	case s.State != meta.SendPending:
		return &meta.FieldError{Field: "state", Msg: fmt.Sprintf("a send is scheduled pending, not %s", s.State), Err: meta.ErrInvalid}
	case s.DueAt.IsZero():
		return &meta.FieldError{Field: "due_at", Msg: "a send needs a due time", Err: meta.ErrInvalid}
	case !json.Valid(s.Payload):
		return &meta.FieldError{Field: "payload", Msg: "not a JSON document", Err: meta.ErrInvalid}
	}
	return nil
}

// sendRows is how many sends one INSERT of ScheduleSends carries, of
// sendArgs placeholders each: far below either database's limit.
const (
	sendRows = 100
	sendArgs = 14
)

// ScheduleSends inserts the sends that are new, in key order (so that two
// replicas scheduling overlapping batches on PostgreSQL wait on each
// other's keys in one order, never in a cycle), in one transaction.
func (t *Tables) ScheduleSends(ctx context.Context, sends []meta.Send) (int, error) {
	if len(sends) > meta.MaxSendBatch {
		return 0, fmt.Errorf("cannot schedule %d sends: at most %d at once: %w", len(sends), meta.MaxSendBatch, meta.ErrInvalid)
	}
	batch := make([]meta.Send, len(sends))
	copy(batch, sends)
	for i := range batch {
		if err := checkSend(&batch[i]); err != nil {
			return 0, err
		}
	}
	if len(batch) == 0 {
		return 0, nil
	}
	sort.SliceStable(batch, func(i, j int) bool { return batch[i].Key < batch[j].Key })
	now := ms(time.Now())
	tx, err := t.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	// Each send's campaign must be its project's; a deleted one sends
	// nothing. (The foreign key refuses another project's campaign too,
	// but only as a database error.)
	type campaignOf struct{ project, campaign int64 }
	live := map[campaignOf]bool{}
	for _, s := range batch {
		k := campaignOf{s.ProjectID, s.CampaignID}
		if _, seen := live[k]; seen {
			continue
		}
		var deleted sql.NullInt64
		err := tx.QueryRowContext(ctx, t.q(`SELECT deleted_ms FROM campaigns WHERE project_id = ? AND id = ?`), s.ProjectID, s.CampaignID).Scan(&deleted)
		if errors.Is(err, sql.ErrNoRows) {
			return 0, &meta.FieldError{Field: "campaign_id", Msg: fmt.Sprintf("project %d has no campaign %d", s.ProjectID, s.CampaignID), Err: meta.ErrInvalid}
		}
		if err != nil {
			return 0, fmt.Errorf("cannot schedule sends: %w", err)
		}
		live[k] = !deleted.Valid
	}
	inserted := 0
	var args []any
	flush := func() error {
		if len(args) == 0 {
			return nil
		}
		values := strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?, '', ?, ?, NULL, '', NULL), ", len(args)/sendArgs), ", ")
		res, err := tx.ExecContext(ctx, t.q(`INSERT INTO sends (key, project_id, campaign_id, person_id, distinct_id, variant, trigger_uuid, channel, arm, due_ms,
			state, attempts, next_attempt_ms, wake_ms, last_error, payload, created_ms, sent_ms, claimed_by, claimed_until_ms)
			VALUES `+values+` ON CONFLICT (key) DO NOTHING`), args...)
		args = args[:0]
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		inserted += int(n)
		return err
	}
	for _, s := range batch {
		if !live[campaignOf{s.ProjectID, s.CampaignID}] {
			continue
		}
		args = append(args, s.Key, s.ProjectID, s.CampaignID, s.PersonID, s.DistinctID, s.Variant, s.TriggerUUID, s.Channel, s.Arm, ms(s.DueAt),
			ms(s.NextAttemptAt), ms(s.NextAttemptAt), string(s.Payload), now)
		if len(args) == sendArgs*sendRows {
			if err := flush(); err != nil {
				return 0, fmt.Errorf("cannot schedule sends: %w", err)
			}
		}
	}
	if err := flush(); err != nil {
		return 0, fmt.Errorf("cannot schedule sends: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("cannot schedule sends: %w", err)
	}
	return inserted, nil
}

// checkOwner refuses an owner that cannot hold a claim.
func checkOwner(owner string) error {
	if owner == "" || !storable(owner) {
		return &meta.FieldError{Field: "owner", Msg: "a claim needs an owner: non-empty UTF-8 text", Err: meta.ErrInvalid}
	}
	return nil
}

// ClaimDueSends claims due sends in one write statement. The CTE picks
// them (MATERIALIZED: once, however the plan joins it), earliest wake
// first; on PostgreSQL it locks them FOR UPDATE SKIP LOCKED, so a
// concurrent claim passes over them to others, and the UPDATE checks
// again that each is still claimable, whatever committed in between. On
// SQLite the statement holds the write lock from before its read to its
// commit (a write statement's transaction starts as BEGIN IMMEDIATE's
// does), so no other connection or process claims in between.
func (t *Tables) ClaimDueSends(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]meta.Send, error) {
	if err := checkOwner(owner); err != nil {
		return nil, err
	}
	if lease <= 0 {
		return nil, &meta.FieldError{Field: "lease", Msg: "a claim needs a positive lease", Err: meta.ErrInvalid}
	}
	if limit > meta.MaxSendBatch {
		return nil, fmt.Errorf("cannot claim %d sends: at most %d at once: %w", limit, meta.MaxSendBatch, meta.ErrInvalid)
	}
	if limit <= 0 {
		return []meta.Send{}, nil
	}
	at, until := ms(now), ms(now.Add(lease))
	out, err := scanSends(t.query(ctx, `WITH due AS MATERIALIZED (
			SELECT id FROM sends WHERE state IN ('pending', 'sending') AND wake_ms <= ?
			ORDER BY wake_ms, id LIMIT ?`+t.d.skipLocked+`
		)
		UPDATE sends SET state = 'sending', claimed_by = ?, claimed_until_ms = ?, wake_ms = ?
		WHERE id IN (SELECT id FROM due) AND state IN ('pending', 'sending') AND wake_ms <= ?
		RETURNING `+sendCols, at, limit, owner, until, until, at))
	if err != nil {
		return nil, fmt.Errorf("cannot claim sends: %w", err)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].NextAttemptAt.Equal(out[j].NextAttemptAt) {
			return out[i].NextAttemptAt.Before(out[j].NextAttemptAt)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// maxErrorBytes bounds a stored error message (a receiver's answer may be
// long).
const maxErrorBytes = 2000

// errorText makes msg storable: valid UTF-8 without NUL, at most
// maxErrorBytes, as a remote error may be anything.
func errorText(msg string) string {
	msg = strings.ReplaceAll(strings.ToValidUTF8(msg, "\uFFFD"), "\x00", "")
	if len(msg) <= maxErrorBytes {
		return msg
	}
	cut := maxErrorBytes
	for cut > 0 && !utf8.RuneStart(msg[cut]) {
		cut--
	}
	return msg[:cut]
}

// claimed explains why an UPDATE of a send claimed by owner changed
// nothing: no such send (ErrNotFound), or not held by owner (ErrNotClaimed).
func (t *Tables) claimed(ctx context.Context, res sql.Result, err error, id int64, owner, what string) error {
	err = affected(res, err)
	if !errors.Is(err, meta.ErrNotFound) {
		if err != nil {
			return fmt.Errorf("cannot %s send %d: %w", what, id, err)
		}
		return nil
	}
	var state, by string
	if err := t.row(ctx, `SELECT state, claimed_by FROM sends WHERE id = ?`, id).Scan(&state, &by); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return meta.ErrNotFound
		}
		return fmt.Errorf("cannot %s send %d: %w", what, id, err)
	}
	if state == meta.SendSending {
		return fmt.Errorf("cannot %s send %d: it is claimed by %q, not %q: %w", what, id, by, owner, meta.ErrNotClaimed)
	}
	return fmt.Errorf("cannot %s send %d: it is %s, not being sent: %w", what, id, state, meta.ErrNotClaimed)
}

// CompleteSend ends a send that owner holds.
func (t *Tables) CompleteSend(ctx context.Context, id int64, owner, state string, sentAt time.Time, lastError string) error {
	if err := checkOwner(owner); err != nil {
		return err
	}
	attempt := 0
	switch state {
	case meta.SendSent, meta.SendHeldOut:
		if sentAt.IsZero() {
			return &meta.FieldError{Field: "sent_at", Msg: fmt.Sprintf("a send that is %s needs the time it was", state), Err: meta.ErrInvalid}
		}
		if state == meta.SendSent {
			attempt = 1
		}
	case meta.SendFailed:
		attempt = 1
	case meta.SendCancelled:
	default:
		return &meta.FieldError{Field: "state", Msg: fmt.Sprintf("a send completes as sent, failed, held_out or cancelled, not %q", state), Err: meta.ErrInvalid}
	}
	var sent any
	if !sentAt.IsZero() {
		sent = ms(sentAt)
	}
	res, err := t.exec(ctx, `UPDATE sends SET state = ?, sent_ms = ?, last_error = ?, attempts = attempts + ?
		WHERE id = ? AND state = 'sending' AND claimed_by = ?`, state, sent, errorText(lastError), attempt, id, owner)
	return t.claimed(ctx, res, err, id, owner, "complete")
}

// RetrySend puts a send that owner holds back to pending, one attempt on.
func (t *Tables) RetrySend(ctx context.Context, id int64, owner string, nextAttemptAt time.Time, lastError string) error {
	if err := checkOwner(owner); err != nil {
		return err
	}
	if nextAttemptAt.IsZero() {
		return &meta.FieldError{Field: "next_attempt_at", Msg: "a retry needs a time", Err: meta.ErrInvalid}
	}
	res, err := t.exec(ctx, `UPDATE sends SET state = 'pending', attempts = attempts + 1, next_attempt_ms = ?, wake_ms = ?, last_error = ?,
		claimed_by = '', claimed_until_ms = NULL
		WHERE id = ? AND state = 'sending' AND claimed_by = ?`, ms(nextAttemptAt), ms(nextAttemptAt), errorText(lastError), id, owner)
	return t.claimed(ctx, res, err, id, owner, "retry")
}

// DeferSend puts a send that owner holds back to pending, no attempt
// counted.
func (t *Tables) DeferSend(ctx context.Context, id int64, owner string, nextAttemptAt time.Time) error {
	if err := checkOwner(owner); err != nil {
		return err
	}
	if nextAttemptAt.IsZero() {
		return &meta.FieldError{Field: "next_attempt_at", Msg: "a deferral needs a time", Err: meta.ErrInvalid}
	}
	res, err := t.exec(ctx, `UPDATE sends SET state = 'pending', next_attempt_ms = ?, wake_ms = ?, claimed_by = '', claimed_until_ms = NULL
		WHERE id = ? AND state = 'sending' AND claimed_by = ?`, ms(nextAttemptAt), ms(nextAttemptAt), id, owner)
	return t.claimed(ctx, res, err, id, owner, "defer")
}

// CancelSends cancels the pending sends of a campaign (or of all the
// project's, campaignID 0) to the persons, in one statement.
func (t *Tables) CancelSends(ctx context.Context, projectID, campaignID int64, personIDs []int64, reason string) (int, error) {
	if len(personIDs) > meta.MaxSendBatch {
		return 0, fmt.Errorf("cannot cancel the sends of %d persons: at most %d at once: %w", len(personIDs), meta.MaxSendBatch, meta.ErrInvalid)
	}
	if len(personIDs) == 0 {
		return 0, nil
	}
	query, args := `UPDATE sends SET state = 'cancelled', last_error = ? WHERE project_id = ? AND state = 'pending'`, []any{errorText(reason), projectID}
	if campaignID != 0 {
		query, args = query+` AND campaign_id = ?`, append(args, campaignID)
	}
	query += ` AND person_id IN (` + strings.TrimSuffix(strings.Repeat("?, ", len(personIDs)), ", ") + `)`
	for _, id := range personIDs {
		args = append(args, id)
	}
	res, err := t.exec(ctx, query, args...)
	if err != nil {
		return 0, fmt.Errorf("cannot cancel sends: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("cannot cancel sends: %w", err)
	}
	return int(n), nil
}

// CancelSendsByKey cancels the campaign's pending sends of the keys, in
// one statement: the ones a goal event converts, picked by the trigger
// engine from the person's sends, while the others keep waiting.
func (t *Tables) CancelSendsByKey(ctx context.Context, projectID, campaignID int64, keys []string, reason string) (int, error) {
	if len(keys) > meta.MaxSendBatch {
		return 0, fmt.Errorf("cannot cancel %d sends: at most %d at once: %w", len(keys), meta.MaxSendBatch, meta.ErrInvalid)
	}
	args := []any{errorText(reason), projectID, campaignID}
	for _, k := range keys {
		if storable(k) { // others were never stored, on either database
			args = append(args, k)
		}
	}
	if len(args) == 3 {
		return 0, nil
	}
	res, err := t.exec(ctx, `UPDATE sends SET state = 'cancelled', last_error = ?
		WHERE project_id = ? AND campaign_id = ? AND state = 'pending' AND key IN (`+strings.TrimSuffix(strings.Repeat("?, ", len(args)-3), ", ")+`)`, args...)
	if err != nil {
		return 0, fmt.Errorf("cannot cancel sends of campaign %d: %w", campaignID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("cannot cancel sends of campaign %d: %w", campaignID, err)
	}
	return int(n), nil
}

// CancelCampaignSends cancels all the pending sends of a campaign.
func (t *Tables) CancelCampaignSends(ctx context.Context, projectID, campaignID int64, reason string) (int, error) {
	res, err := t.exec(ctx, `UPDATE sends SET state = 'cancelled', last_error = ? WHERE project_id = ? AND campaign_id = ? AND state = 'pending'`,
		errorText(reason), projectID, campaignID)
	if err != nil {
		return 0, fmt.Errorf("cannot cancel the sends of campaign %d: %w", campaignID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("cannot cancel the sends of campaign %d: %w", campaignID, err)
	}
	return int(n), nil
}

// MoveSends moves a merged person's sends and cancels the pending ones
// that now duplicate another, in one transaction. Of the sends of one
// campaign and trigger event, one that is past pending wins over every
// pending one, and among pending ones the lowest id (the first scheduled):
// that send always has a witness that outranks it, whatever order the
// database updates rows in, and the winner never has one.
func (t *Tables) MoveSends(ctx context.Context, projectID, fromPersonID, toPersonID int64) (int, int, error) {
	if fromPersonID == toPersonID {
		return 0, 0, nil
	}
	tx, err := t.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, 0, err
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, t.q(`UPDATE sends SET person_id = ? WHERE project_id = ? AND person_id = ?`), toPersonID, projectID, fromPersonID)
	if err != nil {
		return 0, 0, fmt.Errorf("cannot move the sends of person %d: %w", fromPersonID, err)
	}
	moved, err := res.RowsAffected()
	if err != nil || moved == 0 {
		return 0, 0, err
	}
	res, err = tx.ExecContext(ctx, t.q(`UPDATE sends SET state = 'cancelled', last_error = ?
		WHERE project_id = ? AND person_id = ? AND state = 'pending' AND EXISTS (
			SELECT 1 FROM sends o WHERE o.project_id = sends.project_id AND o.person_id = sends.person_id
			AND o.campaign_id = sends.campaign_id AND o.trigger_uuid = sends.trigger_uuid AND o.id <> sends.id
			AND (o.state IN ('sending', 'sent', 'failed', 'held_out') OR (o.state = 'pending' AND o.id < sends.id)))`),
		fmt.Sprintf("merged: person %d into %d, a duplicate", fromPersonID, toPersonID), projectID, toPersonID)
	if err != nil {
		return 0, 0, fmt.Errorf("cannot cancel duplicate sends of person %d: %w", toPersonID, err)
	}
	cancelled, err := res.RowsAffected()
	if err != nil {
		return 0, 0, err
	}
	if err := tx.Commit(); err != nil {
		return 0, 0, fmt.Errorf("cannot move the sends of person %d: %w", fromPersonID, err)
	}
	return int(moved), int(cancelled), nil
}

// Send returns one send of the project.
func (t *Tables) Send(ctx context.Context, projectID, id int64) (meta.Send, error) {
	s, err := scanSend(t.row(ctx, `SELECT `+sendCols+` FROM sends WHERE project_id = ? AND id = ?`, projectID, id))
	if err != nil && !errors.Is(err, meta.ErrNotFound) {
		return s, fmt.Errorf("cannot read send %d: %w", id, err)
	}
	return s, err
}

// SendByKey returns the project's send of an idempotency key.
func (t *Tables) SendByKey(ctx context.Context, projectID int64, key string) (meta.Send, error) {
	if !storable(key) {
		return meta.Send{}, meta.ErrNotFound // never stored, on either database
	}
	s, err := scanSend(t.row(ctx, `SELECT `+sendCols+` FROM sends WHERE project_id = ? AND key = ?`, projectID, key))
	if err != nil && !errors.Is(err, meta.ErrNotFound) {
		return s, fmt.Errorf("cannot read send %q: %w", key, err)
	}
	return s, err
}

// SendsForPerson lists a person's sends by id.
func (t *Tables) SendsForPerson(ctx context.Context, projectID, personID int64) ([]meta.Send, error) {
	out, err := scanSends(t.query(ctx, `SELECT `+sendCols+` FROM sends WHERE project_id = ? AND person_id = ? ORDER BY id`, projectID, personID))
	if err != nil {
		return nil, fmt.Errorf("cannot list the sends of person %d: %w", personID, err)
	}
	return out, nil
}

// CountSends counts a campaign's sends by arm, variant and state (byte
// order, on both databases).
func (t *Tables) CountSends(ctx context.Context, projectID, campaignID int64) ([]meta.SendCount, error) {
	rows, err := t.query(ctx, `SELECT arm, variant, state, count(*) FROM sends WHERE project_id = ? AND campaign_id = ?
		GROUP BY arm, variant, state`, projectID, campaignID)
	if err != nil {
		return nil, fmt.Errorf("cannot count the sends of campaign %d: %w", campaignID, err)
	}
	defer rows.Close()
	out := []meta.SendCount{}
	for rows.Next() {
		var c meta.SendCount
		if err := rows.Scan(&c.Arm, &c.Variant, &c.State, &c.Count); err != nil {
			return nil, fmt.Errorf("cannot count the sends of campaign %d: %w", campaignID, err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot count the sends of campaign %d: %w", campaignID, err)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Arm != b.Arm {
			return a.Arm < b.Arm
		}
		if a.Variant != b.Variant {
			return a.Variant < b.Variant
		}
		return a.State < b.State
	})
	return out, nil
}

// LastSentAt is the latest sent_ms of the person's sent messages on the
// channel (any, when "") since the given time.
func (t *Tables) LastSentAt(ctx context.Context, projectID, personID int64, channel string, since time.Time) (time.Time, error) {
	if !storable(channel) {
		return time.Time{}, nil // never stored, on either database
	}
	query, args := `SELECT max(sent_ms) FROM sends WHERE project_id = ? AND person_id = ? AND state = 'sent' AND sent_ms >= ?`, []any{projectID, personID, ms(since)}
	if channel != "" {
		query, args = query+` AND channel = ?`, append(args, channel)
	}
	var last sql.NullInt64
	if err := t.row(ctx, query, args...).Scan(&last); err != nil {
		return time.Time{}, fmt.Errorf("cannot read the last send to person %d: %w", personID, err)
	}
	if !last.Valid {
		return time.Time{}, nil
	}
	return fromMS(last.Int64), nil
}

// checkAddress refuses a channel or address that cannot be stored.
func checkAddress(channel, address string) error {
	if channel == "" || !storable(channel) {
		return &meta.FieldError{Field: "channel", Msg: "want a channel: non-empty UTF-8 text", Err: meta.ErrInvalid}
	}
	if address == "" || !storable(address) {
		return &meta.FieldError{Field: "address", Msg: "want an address: non-empty UTF-8 text", Err: meta.ErrInvalid}
	}
	return nil
}

// Unsubscribe records an unsubscribed address; the first record stays.
func (t *Tables) Unsubscribe(ctx context.Context, projectID int64, channel, address string) error {
	if err := checkAddress(channel, address); err != nil {
		return err
	}
	if _, err := t.exec(ctx, `INSERT INTO unsubscribes (project_id, channel, address, created_ms) VALUES (?, ?, ?, ?)
		ON CONFLICT (project_id, channel, address) DO NOTHING`, projectID, channel, address, ms(time.Now())); err != nil {
		return fmt.Errorf("cannot unsubscribe from %s messages of project %d: %w", channel, projectID, err)
	}
	return nil
}

// IsUnsubscribed reports whether the address unsubscribed from the
// project's messages on the channel.
func (t *Tables) IsUnsubscribed(ctx context.Context, projectID int64, channel, address string) (bool, error) {
	if !storable(channel) || !storable(address) {
		return false, nil // never stored, on either database
	}
	var n int
	err := t.row(ctx, `SELECT count(*) FROM unsubscribes WHERE project_id = ? AND channel = ? AND address = ?`, projectID, channel, address).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("cannot read the unsubscribes of project %d: %w", projectID, err)
	}
	return n > 0, nil
}
