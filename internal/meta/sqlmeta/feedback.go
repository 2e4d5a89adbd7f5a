package sqlmeta

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/journey-dev/journey/internal/meta"
	"github.com/journey-dev/journey/internal/ngram"
)

var _ meta.FeedbackStore = (*Tables)(nil)

// Feedback items, their comments, tags and search grams, and themes
// (migration 0010). Tags and grams live in tables of their own, rewritten
// with the item in its transaction, so a tag filter and a search are
// index lookups.

const itemCols = `i.id, i.project_id, i.text, i.source, i.distinct_id, i.person_id, i.accounts, i.status, i.priority, i.tags,
	i.assignee_id, i.attachments, i.votes, i.theme_id, i.merged_into, i.external_id, i.created_ms, i.updated_ms, i.first_response_ms, i.resolved_ms`

func scanItem(row interface{ Scan(...any) error }) (meta.FeedbackItem, error) {
	var f meta.FeedbackItem
	var accounts, tags, attachments string
	var created, updated int64
	var first, resolved sql.NullInt64
	if err := row.Scan(&f.ID, &f.ProjectID, &f.Text, &f.Source, &f.DistinctID, &f.PersonID, &accounts, &f.Status, &f.Priority, &tags,
		&f.AssigneeID, &attachments, &f.Votes, &f.ThemeID, &f.MergedInto, &f.ExternalID, &created, &updated, &first, &resolved); err != nil {
		return meta.FeedbackItem{}, notFound(err)
	}
	f.Accounts, f.Tags, f.Attachments = textList(accounts), textList(tags), textList(attachments)
	f.CreatedAt, f.UpdatedAt = fromMS(created), fromMS(updated)
	if first.Valid {
		f.FirstResponseAt = fromMS(first.Int64)
	}
	if resolved.Valid {
		f.ResolvedAt = fromMS(resolved.Int64)
	}
	return f, nil
}

// textList decodes a stored JSON list of text ("[]" mostly, read fast).
func textList(s string) []string {
	if s == "" || s == "[]" {
		return []string{}
	}
	var out []string
	if json.Unmarshal([]byte(s), &out) != nil || out == nil {
		return []string{}
	}
	return out
}

func listText(l []string) string {
	if len(l) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(l)
	return string(b)
}

func invalid(field, format string, args ...any) error {
	return &meta.FieldError{Field: field, Msg: fmt.Sprintf(format, args...), Err: meta.ErrInvalid}
}

func feedbackStatus(s string) bool {
	switch s {
	case meta.FeedbackNew, meta.FeedbackPlanned, meta.FeedbackInProgress, meta.FeedbackDone, meta.FeedbackDeclined:
		return true
	}
	return false
}

func feedbackSource(s string) bool {
	switch s {
	case meta.SourceWidget, meta.SourceAPI, meta.SourceSurvey, meta.SourceEmail, meta.SourceCSV, meta.SourceWebhook:
		return true
	}
	return false
}

func feedbackPriority(s string) bool {
	switch s {
	case meta.PriorityLow, meta.PriorityNormal, meta.PriorityHigh, meta.PriorityUrgent:
		return true
	}
	return false
}

// checkList refuses a list longer than n or an entry empty, longer than
// size or not storable.
func checkList(field string, l []string, n, size int) error {
	if len(l) > n {
		return invalid(field, "at most %d", n)
	}
	for i, s := range l {
		if s == "" || len(s) > size || !storable(s) {
			return invalid(fmt.Sprintf("%s[%d]", field, i), "want 1..%d bytes of text", size)
		}
	}
	return nil
}

// checkItem normalises f for storing, or names the field it refuses.
func checkItem(f *meta.FeedbackItem) error {
	if f.Status == "" {
		f.Status = meta.FeedbackNew
	}
	if f.Priority == "" {
		f.Priority = meta.PriorityNormal
	}
	switch {
	case strings.TrimSpace(f.Text) == "" || len(f.Text) > meta.MaxFeedbackText || !storable(f.Text):
		return invalid("text", "want 1..%d bytes of text", meta.MaxFeedbackText)
	case !feedbackSource(f.Source):
		return invalid("source", "unknown source %q: want widget, api, survey, email, csv or webhook", f.Source)
	case !feedbackStatus(f.Status):
		return invalid("status", "unknown status %q: want new, planned, in_progress, done or declined", f.Status)
	case !feedbackPriority(f.Priority):
		return invalid("priority", "unknown priority %q: want low, normal, high or urgent", f.Priority)
	case len(f.DistinctID) > 200 || !storable(f.DistinctID):
		return invalid("distinct_id", "at most 200 bytes of text")
	case len(f.ExternalID) > 200 || !storable(f.ExternalID):
		return invalid("external_id", "at most 200 bytes of text")
	case f.Votes < 0:
		return invalid("votes", "cannot be negative")
	case f.ThemeID < 0 || f.AssigneeID < 0 || f.PersonID < 0:
		return invalid("theme_id", "ids are positive")
	}
	if err := checkList("tags", f.Tags, meta.MaxFeedbackTags, meta.MaxFeedbackTag); err != nil {
		return err
	}
	if err := checkList("accounts", f.Accounts, meta.MaxFeedbackLinks, 200); err != nil {
		return err
	}
	return checkList("attachments", f.Attachments, meta.MaxFeedbackLinks, meta.MaxFeedbackLink)
}

// liveTheme refuses a theme id that is not one of the project's unmerged
// themes (0: no theme).
func (t *Tables) liveTheme(ctx context.Context, q queryer, projectID, themeID int64) error {
	if themeID == 0 {
		return nil
	}
	var merged int64
	err := q.QueryRowContext(ctx, t.q(`SELECT merged_into FROM feedback_themes WHERE project_id = ? AND id = ?`), projectID, themeID).Scan(&merged)
	if errors.Is(err, sql.ErrNoRows) {
		return invalid("theme_id", "no theme %d in this project", themeID)
	}
	if err != nil {
		return err
	}
	if merged != 0 {
		return invalid("theme_id", "theme %d was merged into theme %d", themeID, merged)
	}
	return nil
}

// byExternalID finds the stored item of an external id (ErrNotFound).
func (t *Tables) byExternalID(ctx context.Context, q queryer, f meta.FeedbackItem) (meta.FeedbackItem, error) {
	return scanItem(q.QueryRowContext(ctx, t.q(`SELECT `+itemCols+` FROM feedback_items i WHERE i.project_id = ? AND i.source = ? AND i.external_id = ?`),
		f.ProjectID, f.Source, f.ExternalID))
}

// insertItem stores a checked item with its tags and grams.
func (t *Tables) insertItem(ctx context.Context, q queryer, f *meta.FeedbackItem, now time.Time) error {
	if err := t.liveTheme(ctx, q, f.ProjectID, f.ThemeID); err != nil {
		return err
	}
	if f.CreatedAt.IsZero() {
		f.CreatedAt = now
	}
	f.CreatedAt, f.UpdatedAt = fromMS(ms(f.CreatedAt)), now
	f.Tags, f.Accounts, f.Attachments = nonNil(f.Tags), nonNil(f.Accounts), nonNil(f.Attachments)
	firstArg, resolved := historyArg(f.FirstResponseAt, f.CreatedAt), resolvedArg(f.Status, f.ResolvedAt, f.CreatedAt)
	var err error
	f.ID, err = t.insertOn(ctx, q, `INSERT INTO feedback_items (project_id, text, source, distinct_id, person_id, accounts, status, priority, tags,
		assignee_id, attachments, votes, theme_id, merged_into, external_id, created_ms, updated_ms, first_response_ms, resolved_ms)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?)`,
		f.ProjectID, f.Text, f.Source, f.DistinctID, f.PersonID, listText(f.Accounts), f.Status, f.Priority, listText(f.Tags),
		f.AssigneeID, listText(f.Attachments), f.Votes, f.ThemeID, f.ExternalID, ms(f.CreatedAt), ms(now), firstArg, resolved)
	if err != nil {
		return err
	}
	f.FirstResponseAt, f.ResolvedAt, f.MergedInto = time.Time{}, time.Time{}, 0
	if firstArg != nil {
		f.FirstResponseAt = fromMS(firstArg.(int64))
	}
	if resolved != nil {
		f.ResolvedAt = fromMS(resolved.(int64))
	}
	if err := t.writeTags(ctx, q, f.ProjectID, f.ID, f.Tags); err != nil {
		return err
	}
	return t.writeGrams(ctx, q, f.ProjectID, f.ID, f.Text)
}

func nonNil(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

// resolvedArg is resolved_ms of an item created in status: when it is
// created done or declined (an import of old feedback), the given
// resolved time, else its creation time.
func resolvedArg(status string, resolved, created time.Time) any {
	if status != meta.FeedbackDone && status != meta.FeedbackDeclined {
		return nil
	}
	if r := historyArg(resolved, created); r != nil {
		return r
	}
	return ms(created)
}

// historyArg is the ms of a time an imported item brings (its first
// response), never before its creation; nil when none.
func historyArg(at, created time.Time) any {
	if at.IsZero() {
		return nil
	}
	if at.Before(created) {
		at = created
	}
	return ms(at)
}

// writeTags replaces an item's tag rows.
func (t *Tables) writeTags(ctx context.Context, q queryer, projectID, itemID int64, tags []string) error {
	if _, err := q.ExecContext(ctx, t.q(`DELETE FROM feedback_tags WHERE item_id = ?`), itemID); err != nil {
		return err
	}
	return t.insertPairs(ctx, q, `feedback_tags (project_id, tag, item_id)`, projectID, itemID, slices.Compact(slices.Sorted(slices.Values(tags))))
}

// writeGrams replaces an item's search grams.
func (t *Tables) writeGrams(ctx context.Context, q queryer, projectID, itemID int64, text string) error {
	if _, err := q.ExecContext(ctx, t.q(`DELETE FROM feedback_grams WHERE item_id = ?`), itemID); err != nil {
		return err
	}
	return t.insertPairs(ctx, q, `feedback_grams (project_id, gram, item_id)`, projectID, itemID, ngram.Grams(text))
}

// insertPairs inserts (project, value, item) rows of distinct values, many
// a statement.
func (t *Tables) insertPairs(ctx context.Context, q queryer, table string, projectID, itemID int64, values []string) error {
	const per = 200
	for len(values) > 0 {
		n := min(per, len(values))
		args := make([]any, 0, 3*n)
		rows := make([]string, n)
		for i, v := range values[:n] {
			rows[i] = "(?, ?, ?)"
			args = append(args, projectID, v, itemID)
		}
		if _, err := q.ExecContext(ctx, t.q(`INSERT INTO `+table+` VALUES `+strings.Join(rows, ", ")), args...); err != nil {
			return fmt.Errorf("cannot index item %d: %w", itemID, err)
		}
		values = values[n:]
	}
	return nil
}

// CreateFeedback stores one item in a transaction of its own; an
// external id already stored answers the stored item and ErrExists.
func (t *Tables) CreateFeedback(ctx context.Context, f meta.FeedbackItem) (meta.FeedbackItem, error) {
	out, stored, err := t.importFeedback(ctx, []meta.FeedbackItem{f})
	if err != nil {
		return meta.FeedbackItem{}, err
	}
	if stored[0] {
		return out[0], meta.ErrExists
	}
	return out[0], nil
}

// ImportFeedback stores items in one transaction; an item whose external
// id is stored comes back as stored.
func (t *Tables) ImportFeedback(ctx context.Context, items []meta.FeedbackItem) ([]meta.FeedbackItem, error) {
	out, _, err := t.importFeedback(ctx, items)
	return out, err
}

// importFeedback is ImportFeedback, also telling which items were stored
// before.
func (t *Tables) importFeedback(ctx context.Context, items []meta.FeedbackItem) ([]meta.FeedbackItem, []bool, error) {
	if len(items) == 0 {
		return []meta.FeedbackItem{}, nil, nil
	}
	if len(items) > meta.MaxFeedbackBatch {
		return nil, nil, invalid("items", "at most %d items at once", meta.MaxFeedbackBatch)
	}
	for i := range items {
		if items[i].ProjectID != items[0].ProjectID {
			return nil, nil, invalid("items", "items of one project at once")
		}
		if items[i].Votes == 0 {
			items[i].Votes = 1
		}
		if err := checkItem(&items[i]); err != nil {
			return nil, nil, err
		}
	}
	now := fromMS(ms(time.Now()))
	tx, err := t.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, nil, err
	}
	defer tx.Rollback()
	out, stored := make([]meta.FeedbackItem, len(items)), make([]bool, len(items))
	for i, f := range items {
		if f.ExternalID != "" {
			old, err := t.byExternalID(ctx, tx, f)
			if err == nil {
				out[i], stored[i] = old, true
				continue
			}
			if !errors.Is(err, meta.ErrNotFound) {
				return nil, nil, fmt.Errorf("cannot read feedback %q: %w", f.ExternalID, err)
			}
		}
		if err := t.insertItem(ctx, tx, &f, now); err != nil {
			var fe *meta.FieldError
			if errors.As(err, &fe) {
				return nil, nil, err
			}
			return nil, nil, fmt.Errorf("cannot store feedback of %q: %w", f.DistinctID, err)
		}
		out[i] = f
	}
	if err := tx.Commit(); err != nil {
		return nil, nil, fmt.Errorf("cannot store feedback: %w", err)
	}
	return out, stored, nil
}

// Feedback returns one item of the project.
func (t *Tables) Feedback(ctx context.Context, projectID, id int64) (meta.FeedbackItem, error) {
	return t.feedbackOn(ctx, t.db, projectID, id)
}

func (t *Tables) feedbackOn(ctx context.Context, q queryer, projectID, id int64) (meta.FeedbackItem, error) {
	f, err := scanItem(q.QueryRowContext(ctx, t.q(`SELECT `+itemCols+` FROM feedback_items i WHERE i.project_id = ? AND i.id = ?`), projectID, id))
	if err != nil && !errors.Is(err, meta.ErrNotFound) {
		return f, fmt.Errorf("cannot read feedback %d: %w", id, err)
	}
	return f, err
}

// ListFeedback lists the items matching f.
func (t *Tables) ListFeedback(ctx context.Context, projectID int64, f meta.FeedbackFilter) ([]meta.FeedbackItem, error) {
	out := []meta.FeedbackItem{}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, meta.MaxFeedbackList)
	var args []any
	query := `SELECT ` + itemCols + ` FROM feedback_items i`
	order := ` ORDER BY i.id DESC`
	if len(f.Grams) > 0 {
		grams := f.Grams[:min(len(f.Grams), meta.MaxFeedbackGrams)]
		query += ` JOIN (SELECT item_id, count(*) AS n FROM feedback_grams WHERE project_id = ? AND gram IN (` + marks(len(grams)) + `)
			GROUP BY item_id HAVING count(*) >= ?) g ON g.item_id = i.id`
		args = append(args, projectID)
		for _, g := range grams {
			args = append(args, g)
		}
		args = append(args, max(1, f.MinGrams))
		order = ` ORDER BY g.n DESC, i.id DESC`
	}
	query += ` WHERE i.project_id = ?`
	args = append(args, projectID)
	add := func(cond string, a ...any) { query, args = query+" AND "+cond, append(args, a...) }
	if f.Status != "" {
		add(`i.status = ?`, f.Status)
	}
	switch {
	case f.ThemeID > 0:
		add(`i.theme_id = ?`, f.ThemeID)
	case f.ThemeID < 0:
		add(`i.theme_id = 0`)
	}
	if f.Tag != "" {
		if !t.d.bindable(f.Tag) {
			return out, nil
		}
		add(`i.id IN (SELECT item_id FROM feedback_tags WHERE project_id = ? AND tag = ?)`, projectID, f.Tag)
	}
	if f.DistinctID != "" {
		if !t.d.bindable(f.DistinctID) {
			return out, nil
		}
		add(`i.distinct_id = ?`, f.DistinctID)
	}
	if !f.IncludeMerged {
		add(`i.merged_into = 0`)
	}
	if f.BeforeID > 0 {
		add(`i.id < ?`, f.BeforeID)
	}
	for _, a := range args {
		if s, ok := a.(string); ok && !t.d.bindable(s) {
			return out, nil // matches nothing stored
		}
	}
	rows, err := t.query(ctx, query+order+fmt.Sprintf(` LIMIT %d`, limit), args...)
	if err != nil {
		return nil, fmt.Errorf("cannot list feedback of project %d: %w", projectID, err)
	}
	defer rows.Close()
	for rows.Next() {
		it, err := scanItem(rows)
		if err != nil {
			return nil, fmt.Errorf("cannot list feedback of project %d: %w", projectID, err)
		}
		out = append(out, it)
	}
	return out, rows.Err()
}

func marks(n int) string { return strings.TrimSuffix(strings.Repeat("?, ", n), ", ") }

// UpdateFeedback replaces an item's mutable fields, keeps its duplicates
// on its theme, and reindexes what changed, in one transaction.
func (t *Tables) UpdateFeedback(ctx context.Context, f meta.FeedbackItem) (meta.FeedbackItem, error) {
	tx, err := t.db.BeginTx(ctx, nil)
	if err != nil {
		return meta.FeedbackItem{}, err
	}
	defer tx.Rollback()
	old, err := t.feedbackOn(ctx, tx, f.ProjectID, f.ID)
	if err != nil {
		return meta.FeedbackItem{}, err
	}
	// What the caller cannot change.
	f.Source, f.DistinctID, f.PersonID, f.ExternalID, f.MergedInto, f.CreatedAt = old.Source, old.DistinctID, old.PersonID, old.ExternalID, old.MergedInto, old.CreatedAt
	f.FirstResponseAt = old.FirstResponseAt
	if err := checkItem(&f); err != nil {
		return meta.FeedbackItem{}, err
	}
	if f.ThemeID != old.ThemeID {
		if old.MergedInto != 0 {
			return meta.FeedbackItem{}, invalid("theme_id", "item %d is merged into item %d, whose theme it follows", f.ID, old.MergedInto)
		}
		if err := t.liveTheme(ctx, tx, f.ProjectID, f.ThemeID); err != nil {
			return meta.FeedbackItem{}, err
		}
	}
	now := fromMS(ms(time.Now()))
	f.UpdatedAt, f.ResolvedAt = now, old.ResolvedAt
	closed := func(s string) bool { return s == meta.FeedbackDone || s == meta.FeedbackDeclined }
	switch {
	case closed(f.Status) && (!closed(old.Status) || old.ResolvedAt.IsZero()):
		f.ResolvedAt = now
	case !closed(f.Status):
		f.ResolvedAt = time.Time{}
	}
	var resolved any
	if !f.ResolvedAt.IsZero() {
		resolved = ms(f.ResolvedAt)
	}
	f.Tags, f.Accounts, f.Attachments = nonNil(f.Tags), nonNil(f.Accounts), nonNil(f.Attachments)
	if _, err := tx.ExecContext(ctx, t.q(`UPDATE feedback_items SET text = ?, status = ?, priority = ?, tags = ?, assignee_id = ?, attachments = ?,
		accounts = ?, votes = ?, theme_id = ?, updated_ms = ?, resolved_ms = ? WHERE project_id = ? AND id = ?`),
		f.Text, f.Status, f.Priority, listText(f.Tags), f.AssigneeID, listText(f.Attachments), listText(f.Accounts), f.Votes, f.ThemeID,
		ms(now), resolved, f.ProjectID, f.ID); err != nil {
		return meta.FeedbackItem{}, fmt.Errorf("cannot update feedback %d: %w", f.ID, err)
	}
	if f.ThemeID != old.ThemeID {
		if _, err := tx.ExecContext(ctx, t.q(`UPDATE feedback_items SET theme_id = ? WHERE project_id = ? AND merged_into = ?`), f.ThemeID, f.ProjectID, f.ID); err != nil {
			return meta.FeedbackItem{}, fmt.Errorf("cannot move the duplicates of feedback %d: %w", f.ID, err)
		}
	}
	if !slices.Equal(f.Tags, old.Tags) {
		if err := t.writeTags(ctx, tx, f.ProjectID, f.ID, f.Tags); err != nil {
			return meta.FeedbackItem{}, err
		}
	}
	if f.Text != old.Text {
		if err := t.writeGrams(ctx, tx, f.ProjectID, f.ID, f.Text); err != nil {
			return meta.FeedbackItem{}, err
		}
	}
	if err := tx.Commit(); err != nil {
		return meta.FeedbackItem{}, fmt.Errorf("cannot update feedback %d: %w", f.ID, err)
	}
	return f, nil
}

// DeleteFeedback deletes an item, its comments, tags and grams, and
// unmerges its duplicates, in one transaction.
func (t *Tables) DeleteFeedback(ctx context.Context, projectID, id int64) error {
	tx, err := t.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := affected(tx.ExecContext(ctx, t.q(`DELETE FROM feedback_items WHERE project_id = ? AND id = ?`), projectID, id)); err != nil {
		if errors.Is(err, meta.ErrNotFound) {
			return err
		}
		return fmt.Errorf("cannot delete feedback %d: %w", id, err)
	}
	for _, stmt := range []string{
		`DELETE FROM feedback_comments WHERE project_id = ? AND item_id = ?`,
		`DELETE FROM feedback_tags WHERE project_id = ? AND item_id = ?`,
		`DELETE FROM feedback_grams WHERE project_id = ? AND item_id = ?`,
		`UPDATE feedback_items SET merged_into = 0 WHERE project_id = ? AND merged_into = ?`,
	} {
		if _, err := tx.ExecContext(ctx, t.q(stmt), projectID, id); err != nil {
			return fmt.Errorf("cannot delete feedback %d: %w", id, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("cannot delete feedback %d: %w", id, err)
	}
	return nil
}

// MergeFeedback merges a duplicate into another item.
func (t *Tables) MergeFeedback(ctx context.Context, projectID, dupID, intoID int64) (meta.FeedbackItem, error) {
	if dupID == intoID {
		return meta.FeedbackItem{}, invalid("into", "an item cannot be merged into itself")
	}
	tx, err := t.db.BeginTx(ctx, nil)
	if err != nil {
		return meta.FeedbackItem{}, err
	}
	defer tx.Rollback()
	dup, err := t.feedbackOn(ctx, tx, projectID, dupID)
	if err != nil {
		return meta.FeedbackItem{}, err
	}
	into, err := t.feedbackOn(ctx, tx, projectID, intoID)
	if errors.Is(err, meta.ErrNotFound) {
		return meta.FeedbackItem{}, invalid("into", "no item %d in this project", intoID)
	}
	if err != nil {
		return meta.FeedbackItem{}, err
	}
	switch {
	case into.MergedInto != 0:
		return meta.FeedbackItem{}, invalid("into", "item %d is itself merged into item %d", intoID, into.MergedInto)
	case dup.MergedInto != 0:
		return meta.FeedbackItem{}, invalid("id", "item %d is already merged into item %d", dupID, dup.MergedInto)
	}
	tags := slices.Compact(slices.Sorted(slices.Values(append(slices.Clone(into.Tags), dup.Tags...))))
	if len(tags) > meta.MaxFeedbackTags {
		tags = tags[:meta.MaxFeedbackTags]
	}
	now := ms(time.Now())
	into.Votes += dup.Votes
	if _, err := tx.ExecContext(ctx, t.q(`UPDATE feedback_items SET votes = ?, tags = ?, updated_ms = ? WHERE project_id = ? AND id = ?`),
		into.Votes, listText(tags), now, projectID, intoID); err != nil {
		return meta.FeedbackItem{}, fmt.Errorf("cannot merge feedback %d: %w", dupID, err)
	}
	// The duplicate and the duplicates merged into it follow intoID.
	if _, err := tx.ExecContext(ctx, t.q(`UPDATE feedback_items SET merged_into = ?, theme_id = ?, votes = 0, updated_ms = ?
		WHERE project_id = ? AND (id = ? OR merged_into = ?)`), intoID, into.ThemeID, now, projectID, dupID, dupID); err != nil {
		return meta.FeedbackItem{}, fmt.Errorf("cannot merge feedback %d: %w", dupID, err)
	}
	if !slices.Equal(tags, into.Tags) {
		if err := t.writeTags(ctx, tx, projectID, intoID, tags); err != nil {
			return meta.FeedbackItem{}, err
		}
	}
	out, err := t.feedbackOn(ctx, tx, projectID, intoID)
	if err != nil {
		return meta.FeedbackItem{}, err
	}
	if err := tx.Commit(); err != nil {
		return meta.FeedbackItem{}, fmt.Errorf("cannot merge feedback %d: %w", dupID, err)
	}
	return out, nil
}

// AddFeedbackComment adds a note or a reply (the first reply also sets
// the item's first response time), in one transaction.
func (t *Tables) AddFeedbackComment(ctx context.Context, c meta.FeedbackComment) (meta.FeedbackComment, error) {
	switch {
	case c.Kind != meta.CommentNote && c.Kind != meta.CommentReply:
		return c, invalid("kind", "unknown kind %q: want note or reply", c.Kind)
	case strings.TrimSpace(c.Text) == "" || len(c.Text) > meta.MaxFeedbackText || !storable(c.Text):
		return c, invalid("text", "want 1..%d bytes of text", meta.MaxFeedbackText)
	}
	tx, err := t.db.BeginTx(ctx, nil)
	if err != nil {
		return c, err
	}
	defer tx.Rollback()
	if _, err := t.feedbackOn(ctx, tx, c.ProjectID, c.ItemID); err != nil {
		return c, err
	}
	now := fromMS(ms(time.Now()))
	c.CreatedAt = now
	c.ID, err = t.insertOn(ctx, tx, `INSERT INTO feedback_comments (project_id, item_id, kind, user_id, text, created_ms) VALUES (?, ?, ?, ?, ?, ?)`,
		c.ProjectID, c.ItemID, c.Kind, c.UserID, c.Text, ms(now))
	if err != nil {
		return c, fmt.Errorf("cannot add a %s to feedback %d: %w", c.Kind, c.ItemID, err)
	}
	if c.Kind == meta.CommentReply {
		if _, err := tx.ExecContext(ctx, t.q(`UPDATE feedback_items SET first_response_ms = ?, updated_ms = ?
			WHERE project_id = ? AND id = ? AND first_response_ms IS NULL`), ms(now), ms(now), c.ProjectID, c.ItemID); err != nil {
			return c, fmt.Errorf("cannot record the first response to feedback %d: %w", c.ItemID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return c, fmt.Errorf("cannot add a %s to feedback %d: %w", c.Kind, c.ItemID, err)
	}
	return c, nil
}

// FeedbackComments lists an item's comments by id (time).
func (t *Tables) FeedbackComments(ctx context.Context, projectID, itemID int64) ([]meta.FeedbackComment, error) {
	rows, err := t.query(ctx, `SELECT id, project_id, item_id, kind, user_id, text, created_ms FROM feedback_comments
		WHERE project_id = ? AND item_id = ? ORDER BY id`, projectID, itemID)
	if err != nil {
		return nil, fmt.Errorf("cannot list the comments of feedback %d: %w", itemID, err)
	}
	defer rows.Close()
	out := []meta.FeedbackComment{}
	for rows.Next() {
		var c meta.FeedbackComment
		var created int64
		if err := rows.Scan(&c.ID, &c.ProjectID, &c.ItemID, &c.Kind, &c.UserID, &c.Text, &created); err != nil {
			return nil, fmt.Errorf("cannot list the comments of feedback %d: %w", itemID, err)
		}
		c.CreatedAt = fromMS(created)
		out = append(out, c)
	}
	return out, rows.Err()
}

// FeedbackImpact reads the columns a ranking needs, newest first.
func (t *Tables) FeedbackImpact(ctx context.Context, projectID int64, limit int) ([]meta.FeedbackImpact, error) {
	rows, err := t.query(ctx, `SELECT id, theme_id, merged_into, distinct_id, person_id, accounts, votes, status, created_ms
		FROM feedback_items WHERE project_id = ? ORDER BY id DESC LIMIT ?`, projectID, max(0, limit))
	if err != nil {
		return nil, fmt.Errorf("cannot read the feedback of project %d: %w", projectID, err)
	}
	defer rows.Close()
	out := []meta.FeedbackImpact{}
	for rows.Next() {
		var f meta.FeedbackImpact
		var accounts string
		var created int64
		if err := rows.Scan(&f.ID, &f.ThemeID, &f.MergedInto, &f.DistinctID, &f.PersonID, &accounts, &f.Votes, &f.Status, &created); err != nil {
			return nil, fmt.Errorf("cannot read the feedback of project %d: %w", projectID, err)
		}
		f.Accounts, f.CreatedAt = textList(accounts), fromMS(created)
		out = append(out, f)
	}
	return out, rows.Err()
}

// SetFeedbackPersons records distinct ids' current persons.
func (t *Tables) SetFeedbackPersons(ctx context.Context, projectID int64, persons []meta.FeedbackPerson) (int, error) {
	if len(persons) > meta.MaxFeedbackBatch {
		return 0, invalid("persons", "at most %d at once", meta.MaxFeedbackBatch)
	}
	tx, err := t.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	n := 0
	for _, p := range persons {
		if !t.d.bindable(p.DistinctID) {
			continue
		}
		res, err := tx.ExecContext(ctx, t.q(`UPDATE feedback_items SET person_id = ? WHERE project_id = ? AND distinct_id = ? AND person_id <> ?`),
			p.PersonID, projectID, p.DistinctID, p.PersonID)
		if err != nil {
			return 0, fmt.Errorf("cannot record the person of %q: %w", p.DistinctID, err)
		}
		k, _ := res.RowsAffected()
		n += int(k)
	}
	return n, tx.Commit()
}

const themeCols = `id, project_id, name, revenue_property, status, merged_into, created_ms, updated_ms`

func scanTheme(row interface{ Scan(...any) error }) (meta.Theme, error) {
	var th meta.Theme
	var created, updated int64
	if err := row.Scan(&th.ID, &th.ProjectID, &th.Name, &th.RevenueProperty, &th.Status, &th.MergedInto, &created, &updated); err != nil {
		return meta.Theme{}, notFound(err)
	}
	th.CreatedAt, th.UpdatedAt = fromMS(created), fromMS(updated)
	return th, nil
}

func checkTheme(th *meta.Theme) error {
	if th.RevenueProperty == "" {
		th.RevenueProperty = "mrr"
	}
	if th.Status == "" {
		th.Status = meta.FeedbackNew
	}
	switch {
	case strings.TrimSpace(th.Name) == "" || len(th.Name) > 200 || !storable(th.Name):
		return invalid("name", "want 1..200 bytes of text")
	case len(th.RevenueProperty) > 200 || !storable(th.RevenueProperty):
		return invalid("revenue_property", "at most 200 bytes of text")
	case !feedbackStatus(th.Status):
		return invalid("status", "unknown status %q: want new, planned, in_progress, done or declined", th.Status)
	}
	return nil
}

// CreateTheme stores a new theme.
func (t *Tables) CreateTheme(ctx context.Context, th meta.Theme) (meta.Theme, error) {
	if err := checkTheme(&th); err != nil {
		return meta.Theme{}, err
	}
	now := fromMS(ms(time.Now()))
	id, err := t.insert(ctx, `INSERT INTO feedback_themes (project_id, name, revenue_property, status, merged_into, created_ms, updated_ms)
		VALUES (?, ?, ?, ?, 0, ?, ?)`, th.ProjectID, th.Name, th.RevenueProperty, th.Status, ms(now), ms(now))
	if err != nil {
		return meta.Theme{}, fmt.Errorf("cannot create theme %q: %w", th.Name, err)
	}
	th.ID, th.MergedInto, th.CreatedAt, th.UpdatedAt = id, 0, now, now
	return th, nil
}

// Theme returns one theme of the project.
func (t *Tables) Theme(ctx context.Context, projectID, id int64) (meta.Theme, error) {
	return scanTheme(t.row(ctx, `SELECT `+themeCols+` FROM feedback_themes WHERE project_id = ? AND id = ?`, projectID, id))
}

// Themes lists the project's themes by id.
func (t *Tables) Themes(ctx context.Context, projectID int64) ([]meta.Theme, error) {
	rows, err := t.query(ctx, `SELECT `+themeCols+` FROM feedback_themes WHERE project_id = ? ORDER BY id`, projectID)
	if err != nil {
		return nil, fmt.Errorf("cannot list the themes of project %d: %w", projectID, err)
	}
	defer rows.Close()
	out := []meta.Theme{}
	for rows.Next() {
		th, err := scanTheme(rows)
		if err != nil {
			return nil, fmt.Errorf("cannot list the themes of project %d: %w", projectID, err)
		}
		out = append(out, th)
	}
	return out, rows.Err()
}

// UpdateTheme replaces name, revenue property and status.
func (t *Tables) UpdateTheme(ctx context.Context, th meta.Theme) (meta.Theme, error) {
	if err := checkTheme(&th); err != nil {
		return meta.Theme{}, err
	}
	out, err := scanTheme(t.row(ctx, `UPDATE feedback_themes SET name = ?, revenue_property = ?, status = ?, updated_ms = ?
		WHERE project_id = ? AND id = ? RETURNING `+themeCols, th.Name, th.RevenueProperty, th.Status, ms(time.Now()), th.ProjectID, th.ID))
	if err != nil && !errors.Is(err, meta.ErrNotFound) {
		return out, fmt.Errorf("cannot update theme %d: %w", th.ID, err)
	}
	return out, err
}

// DeleteTheme deletes a theme; its items and the themes merged into it
// are let go, in one transaction.
func (t *Tables) DeleteTheme(ctx context.Context, projectID, id int64) error {
	tx, err := t.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := affected(tx.ExecContext(ctx, t.q(`DELETE FROM feedback_themes WHERE project_id = ? AND id = ?`), projectID, id)); err != nil {
		if errors.Is(err, meta.ErrNotFound) {
			return err
		}
		return fmt.Errorf("cannot delete theme %d: %w", id, err)
	}
	for _, stmt := range []string{
		`UPDATE feedback_items SET theme_id = 0 WHERE project_id = ? AND theme_id = ?`,
		`UPDATE feedback_themes SET merged_into = 0 WHERE project_id = ? AND merged_into = ?`,
	} {
		if _, err := tx.ExecContext(ctx, t.q(stmt), projectID, id); err != nil {
			return fmt.Errorf("cannot delete theme %d: %w", id, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("cannot delete theme %d: %w", id, err)
	}
	return nil
}

// MergeThemes moves a theme's items into another and marks it merged.
func (t *Tables) MergeThemes(ctx context.Context, projectID, fromID, intoID int64) (meta.Theme, error) {
	if fromID == intoID {
		return meta.Theme{}, invalid("into", "a theme cannot be merged into itself")
	}
	tx, err := t.db.BeginTx(ctx, nil)
	if err != nil {
		return meta.Theme{}, err
	}
	defer tx.Rollback()
	var from meta.Theme
	if from, err = scanTheme(tx.QueryRowContext(ctx, t.q(`SELECT `+themeCols+` FROM feedback_themes WHERE project_id = ? AND id = ?`), projectID, fromID)); err != nil {
		return meta.Theme{}, err
	}
	if from.MergedInto != 0 {
		return meta.Theme{}, invalid("id", "theme %d is already merged into theme %d", fromID, from.MergedInto)
	}
	if err := t.liveTheme(ctx, tx, projectID, intoID); err != nil {
		var fe *meta.FieldError
		if errors.As(err, &fe) {
			fe.Field = "into"
		}
		return meta.Theme{}, err
	}
	now := ms(time.Now())
	for _, stmt := range []string{
		`UPDATE feedback_items SET theme_id = ? WHERE project_id = ? AND theme_id = ?`,
		`UPDATE feedback_themes SET merged_into = ? WHERE project_id = ? AND merged_into = ?`,
	} {
		if _, err := tx.ExecContext(ctx, t.q(stmt), intoID, projectID, fromID); err != nil {
			return meta.Theme{}, fmt.Errorf("cannot merge theme %d: %w", fromID, err)
		}
	}
	merged, err := scanTheme(tx.QueryRowContext(ctx, t.q(`UPDATE feedback_themes SET merged_into = ?, updated_ms = ? WHERE project_id = ? AND id = ? RETURNING `+themeCols),
		intoID, now, projectID, fromID))
	if err != nil {
		return meta.Theme{}, fmt.Errorf("cannot merge theme %d: %w", fromID, err)
	}
	if err := tx.Commit(); err != nil {
		return meta.Theme{}, fmt.Errorf("cannot merge theme %d: %w", fromID, err)
	}
	return merged, nil
}
