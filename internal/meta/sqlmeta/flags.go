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

var _ meta.FlagStore = (*Tables)(nil)

const flagCols = `id, project_id, key, name, active, definition, version, created_by, updated_by, created_ms, updated_ms`

func scanFlag(row interface{ Scan(...any) error }) (meta.Flag, error) {
	var f meta.Flag
	var active int
	var def string
	var created, updated int64
	if err := row.Scan(&f.ID, &f.ProjectID, &f.Key, &f.Name, &active, &def, &f.Version, &f.CreatedBy, &f.UpdatedBy, &created, &updated); err != nil {
		return meta.Flag{}, notFound(err)
	}
	f.Active, f.Definition, f.CreatedAt, f.UpdatedAt = active == 1, json.RawMessage(def), fromMS(created), fromMS(updated)
	return f, nil
}

func bit(b bool) int {
	if b {
		return 1
	}
	return 0
}

// jsonText is how an opaque JSON document is stored: as given, {} when
// empty.
func jsonText(doc json.RawMessage) string {
	if len(doc) == 0 {
		return "{}"
	}
	return string(doc)
}

// storable reports whether s can be stored as TEXT on both databases:
// PostgreSQL refuses NUL bytes and invalid UTF-8, so both stores refuse them.
func storable(s string) bool { return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 }

func checkFlag(f meta.Flag) error {
	if f.Key == "" {
		return &meta.FieldError{Field: "key", Msg: "a flag needs a key", Err: meta.ErrInvalid}
	}
	if !storable(f.Key) {
		return &meta.FieldError{Field: "key", Msg: "not valid UTF-8 text", Err: meta.ErrInvalid}
	}
	return nil
}

// keyTaken is the error of a flag key already used in the project.
func keyTaken(key string) error {
	return &meta.FieldError{Field: "key", Msg: fmt.Sprintf("flag key %q is taken", key), Err: meta.ErrConflict}
}

// addFlagVersion writes f's history entry and bumps the project's flags
// revision, in the transaction of the change.
func (t *Tables) addFlagVersion(ctx context.Context, tx *sql.Tx, f meta.Flag, action string, userID int64, at time.Time) error {
	if _, err := tx.ExecContext(ctx, t.q(`INSERT INTO flag_versions (project_id, flag_id, version, user_id, at_ms, action, key, name, active, definition)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		f.ProjectID, f.ID, f.Version, userID, ms(at), action, f.Key, f.Name, bit(f.Active), jsonText(f.Definition)); err != nil {
		return fmt.Errorf("cannot record version %d of flag %d: %w", f.Version, f.ID, err)
	}
	return t.bumpFlagsRevision(ctx, tx, f.ProjectID)
}

// bumpFlagsRevision adds one to the project's flags revision. Whatever
// changes what flags evaluate to (a flag; a cohort they target) calls it
// in its transaction.
func (t *Tables) bumpFlagsRevision(ctx context.Context, q queryer, projectID int64) error {
	if _, err := q.ExecContext(ctx, t.q(`INSERT INTO flag_revisions (project_id, revision) VALUES (?, 1)
		ON CONFLICT (project_id) DO UPDATE SET revision = flag_revisions.revision + 1`), projectID); err != nil {
		return fmt.Errorf("cannot bump the flags revision of project %d: %w", projectID, err)
	}
	return nil
}

// CreateFlag saves a new flag at version 1 and its first history entry.
func (t *Tables) CreateFlag(ctx context.Context, f meta.Flag) (meta.Flag, error) {
	if err := checkFlag(f); err != nil {
		return meta.Flag{}, err
	}
	now := fromMS(ms(time.Now()))
	f.Version, f.UpdatedBy, f.CreatedAt, f.UpdatedAt = 1, f.CreatedBy, now, now
	f.Definition = json.RawMessage(jsonText(f.Definition))
	tx, err := t.db.BeginTx(ctx, nil)
	if err != nil {
		return meta.Flag{}, err
	}
	defer tx.Rollback()
	f.ID, err = t.insertOn(ctx, tx, `INSERT INTO flags (project_id, key, name, active, definition, version, created_by, updated_by, created_ms, updated_ms)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		f.ProjectID, f.Key, f.Name, bit(f.Active), string(f.Definition), f.Version, f.CreatedBy, f.UpdatedBy, ms(now), ms(now))
	if t.d.unique(err) {
		return meta.Flag{}, keyTaken(f.Key)
	}
	if err != nil {
		return meta.Flag{}, fmt.Errorf("cannot create flag %q: %w", f.Key, err)
	}
	if err := t.addFlagVersion(ctx, tx, f, meta.FlagCreated, f.CreatedBy, now); err != nil {
		return meta.Flag{}, err
	}
	if err := tx.Commit(); err != nil {
		return meta.Flag{}, fmt.Errorf("cannot create flag %q: %w", f.Key, err)
	}
	return f, nil
}

// missingOrConflict explains why a versioned UPDATE of a live flag changed
// nothing: the flag is absent or deleted (ErrNotFound), or at another
// version than expected (ErrConflict).
func (t *Tables) missingOrConflict(ctx context.Context, tx *sql.Tx, projectID, id int64, expectedVersion int) error {
	var version int
	err := tx.QueryRowContext(ctx, t.q(`SELECT version FROM flags WHERE project_id = ? AND id = ? AND deleted_ms IS NULL`), projectID, id).Scan(&version)
	if err != nil {
		return notFound(err)
	}
	return &meta.FieldError{Field: "version", Msg: fmt.Sprintf("flag %d is at version %d, not %d", id, version, expectedVersion), Err: meta.ErrConflict}
}

// UpdateFlag replaces a live flag's key, name, active and definition in one
// statement that also checks and bumps its version, so two concurrent
// updates expecting one version cannot both succeed.
func (t *Tables) UpdateFlag(ctx context.Context, f meta.Flag, expectedVersion int) (meta.Flag, error) {
	if err := checkFlag(f); err != nil {
		return meta.Flag{}, err
	}
	now := fromMS(ms(time.Now()))
	tx, err := t.db.BeginTx(ctx, nil)
	if err != nil {
		return meta.Flag{}, err
	}
	defer tx.Rollback()
	up, err := scanFlag(tx.QueryRowContext(ctx, t.q(`UPDATE flags SET key = ?, name = ?, active = ?, definition = ?, version = version + 1, updated_by = ?, updated_ms = ?
		WHERE project_id = ? AND id = ? AND deleted_ms IS NULL AND (? = 0 OR version = ?)
		RETURNING `+flagCols),
		f.Key, f.Name, bit(f.Active), jsonText(f.Definition), f.UpdatedBy, ms(now), f.ProjectID, f.ID, expectedVersion, expectedVersion))
	if t.d.unique(err) {
		return meta.Flag{}, keyTaken(f.Key)
	}
	if errors.Is(err, meta.ErrNotFound) {
		// On PostgreSQL the failed statement needs no rollback: it changed
		// nothing and raised no error.
		return meta.Flag{}, t.missingOrConflict(ctx, tx, f.ProjectID, f.ID, expectedVersion)
	}
	if err != nil {
		return meta.Flag{}, fmt.Errorf("cannot update flag %d: %w", f.ID, err)
	}
	if err := t.addFlagVersion(ctx, tx, up, meta.FlagUpdated, f.UpdatedBy, now); err != nil {
		return meta.Flag{}, err
	}
	if err := tx.Commit(); err != nil {
		return meta.Flag{}, fmt.Errorf("cannot update flag %d: %w", f.ID, err)
	}
	return up, nil
}

// DeleteFlag marks a live flag deleted, as a last version by userID.
func (t *Tables) DeleteFlag(ctx context.Context, projectID, id, userID int64) error {
	now := fromMS(ms(time.Now()))
	tx, err := t.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	gone, err := scanFlag(tx.QueryRowContext(ctx, t.q(`UPDATE flags SET deleted_ms = ?, version = version + 1, updated_by = ?, updated_ms = ?
		WHERE project_id = ? AND id = ? AND deleted_ms IS NULL
		RETURNING `+flagCols), ms(now), userID, ms(now), projectID, id))
	if errors.Is(err, meta.ErrNotFound) {
		return err
	}
	if err != nil {
		return fmt.Errorf("cannot delete flag %d: %w", id, err)
	}
	if err := t.addFlagVersion(ctx, tx, gone, meta.FlagDeleted, userID, now); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("cannot delete flag %d: %w", id, err)
	}
	return nil
}

// Flag returns a live flag of the project.
func (t *Tables) Flag(ctx context.Context, projectID, id int64) (meta.Flag, error) {
	f, err := scanFlag(t.row(ctx, `SELECT `+flagCols+` FROM flags WHERE project_id = ? AND id = ? AND deleted_ms IS NULL`, projectID, id))
	if err != nil && !errors.Is(err, meta.ErrNotFound) {
		return f, fmt.Errorf("cannot read flag %d: %w", id, err)
	}
	return f, err
}

// Flags lists the project's live flags by key (byte order, on both
// databases: PostgreSQL's collation may order text otherwise).
func (t *Tables) Flags(ctx context.Context, projectID int64) ([]meta.Flag, error) {
	rows, err := t.query(ctx, `SELECT `+flagCols+` FROM flags WHERE project_id = ? AND deleted_ms IS NULL ORDER BY id`, projectID)
	if err != nil {
		return nil, fmt.Errorf("cannot list flags of project %d: %w", projectID, err)
	}
	defer rows.Close()
	out := []meta.Flag{}
	for rows.Next() {
		f, err := scanFlag(rows)
		if err != nil {
			return nil, fmt.Errorf("cannot list flags of project %d: %w", projectID, err)
		}
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot list flags of project %d: %w", projectID, err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// FlagVersions is a flag's history, oldest first.
func (t *Tables) FlagVersions(ctx context.Context, projectID, id int64) ([]meta.FlagVersion, error) {
	rows, err := t.query(ctx, `SELECT flag_id, version, user_id, at_ms, action, key, name, active, definition
		FROM flag_versions WHERE project_id = ? AND flag_id = ? ORDER BY version`, projectID, id)
	if err != nil {
		return nil, fmt.Errorf("cannot read the history of flag %d: %w", id, err)
	}
	defer rows.Close()
	out := []meta.FlagVersion{}
	for rows.Next() {
		var v meta.FlagVersion
		var at int64
		var active int
		var def string
		if err := rows.Scan(&v.FlagID, &v.Version, &v.UserID, &at, &v.Action, &v.Key, &v.Name, &active, &def); err != nil {
			return nil, fmt.Errorf("cannot read the history of flag %d: %w", id, err)
		}
		v.At, v.Active, v.Definition = fromMS(at), active == 1, json.RawMessage(def)
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot read the history of flag %d: %w", id, err)
	}
	if len(out) == 0 {
		// Every flag has its "created" version: none means no such flag.
		return nil, meta.ErrNotFound
	}
	return out, nil
}

// FlagsRevision reads the project's flags revision, 0 before any change.
func (t *Tables) FlagsRevision(ctx context.Context, projectID int64) (int64, error) {
	var rev int64
	err := t.row(ctx, `SELECT revision FROM flag_revisions WHERE project_id = ?`, projectID).Scan(&rev)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("cannot read the flags revision of project %d: %w", projectID, err)
	}
	return rev, nil
}

// hashKeyRows is how many (distinct id, flag key) pairs one INSERT of
// SetFlagHashKeys carries: 5 placeholders each, far below either
// database's limit.
const hashKeyRows = 200

// SetFlagHashKeys records hashKey for the pairs that have none, in one
// transaction: ON CONFLICT DO NOTHING keeps the first bucket.
func (t *Tables) SetFlagHashKeys(ctx context.Context, projectID int64, distinctIDs []string, flagKeys []string, hashKey string) error {
	if len(distinctIDs) > meta.MaxHashKeyPairs || len(flagKeys) > meta.MaxHashKeyPairs || len(distinctIDs)*len(flagKeys) > meta.MaxHashKeyPairs {
		return fmt.Errorf("cannot set hash keys of %d distinct ids × %d flag keys: at most %d pairs at once: %w",
			len(distinctIDs), len(flagKeys), meta.MaxHashKeyPairs, meta.ErrInvalid)
	}
	if hashKey == "" || !storable(hashKey) {
		return fmt.Errorf("cannot set hash key %q: want non-empty UTF-8 text: %w", hashKey, meta.ErrInvalid)
	}
	ids, err := distinct("distinct id", distinctIDs)
	if err != nil {
		return err
	}
	keys, err := distinct("flag key", flagKeys)
	if err != nil {
		return err
	}
	if len(ids) == 0 || len(keys) == 0 {
		return nil
	}
	now := ms(time.Now())
	tx, err := t.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var args []any
	flush := func() error {
		if len(args) == 0 {
			return nil
		}
		values := strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?), ", len(args)/5), ", ")
		_, err := tx.ExecContext(ctx, t.q(`INSERT INTO flag_hash_keys (project_id, distinct_id, flag_key, hash_key, created_ms) VALUES `+values+`
			ON CONFLICT (project_id, distinct_id, flag_key) DO NOTHING`), args...)
		args = args[:0]
		return err
	}
	for _, id := range ids {
		for _, key := range keys {
			args = append(args, projectID, id, key, hashKey, now)
			if len(args) == 5*hashKeyRows {
				if err := flush(); err != nil {
					return fmt.Errorf("cannot set hash keys: %w", err)
				}
			}
		}
	}
	if err := flush(); err != nil {
		return fmt.Errorf("cannot set hash keys: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("cannot set hash keys: %w", err)
	}
	return nil
}

// distinct drops repeats from list, refusing empty and unstorable strings.
func distinct(what string, list []string) ([]string, error) {
	seen := make(map[string]bool, len(list))
	out := make([]string, 0, len(list))
	for _, s := range list {
		if s == "" || !storable(s) {
			return nil, fmt.Errorf("cannot set hash keys for %s %q: want non-empty UTF-8 text: %w", what, s, meta.ErrInvalid)
		}
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out, nil
}

// FlagHashKeys maps flag key → hash key for one distinct id.
func (t *Tables) FlagHashKeys(ctx context.Context, projectID int64, distinctID string) (map[string]string, error) {
	out := map[string]string{}
	if !storable(distinctID) {
		return out, nil // never stored, on either database
	}
	rows, err := t.query(ctx, `SELECT flag_key, hash_key FROM flag_hash_keys WHERE project_id = ? AND distinct_id = ?`, projectID, distinctID)
	if err != nil {
		return nil, fmt.Errorf("cannot read hash keys: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k, h string
		if err := rows.Scan(&k, &h); err != nil {
			return nil, fmt.Errorf("cannot read hash keys: %w", err)
		}
		out[k] = h
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot read hash keys: %w", err)
	}
	return out, nil
}
