package sqlmeta

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/journey-dev/journey/internal/meta"
)

// definitionRows bounds the rows of one multi-row statement (5 to 7
// placeholders each: well under SQLite's and PostgreSQL's limits).
const definitionRows = 500

// defGroup is one project's names of one capped kind, with what each row
// writes; rows[i] belongs to names[i].
type defGroup struct {
	project int64
	kind    string // definitions_dropped kind
	names   []string
	volumes []int64
	rows    []any // the definitions, by index
}

// UpsertDefinitions merges a loader batch in one transaction: per
// project and kind it reads which names exist and how many are stored,
// admits new names (most used first) up to meta.MaxDefinitionsPerKind,
// counts the rest as dropped, and writes the admitted rows with one
// multi-row upsert per table (chunks of definitionRows).
func (t *Tables) UpsertDefinitions(ctx context.Context, b meta.DefinitionsBatch) error {
	groups := map[[2]any]*defGroup{}
	var order []*defGroup
	group := func(project int64, kind string) *defGroup {
		k := [2]any{project, kind}
		g := groups[k]
		if g == nil {
			g = &defGroup{project: project, kind: kind}
			groups[k] = g
			order = append(order, g)
		}
		return g
	}
	for _, e := range b.Events {
		g := group(e.ProjectID, meta.DefinitionEvent)
		g.names, g.volumes, g.rows = append(g.names, e.Name), append(g.volumes, e.Volume), append(g.rows, e)
	}
	for _, p := range b.Properties {
		kind := meta.DroppedEventProperties
		if p.Kind == meta.PropertiesOfPersons {
			kind = meta.DroppedPersonProperties
		} else if p.Kind != meta.PropertiesOfEvents {
			return fmt.Errorf("cannot upsert property definition %q: unknown kind %q", p.Name, p.Kind)
		}
		g := group(p.ProjectID, kind)
		g.names, g.volumes, g.rows = append(g.names, p.Name), append(g.volumes, p.Volume), append(g.rows, p)
	}
	if len(order) == 0 {
		return nil
	}
	tx, err := t.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("cannot begin definitions upsert: %w", err)
	}
	defer tx.Rollback()
	var events []meta.EventDefinition
	var props []meta.PropertyDefinition
	for _, g := range order {
		admitted, dropped, err := t.admit(ctx, tx, g)
		if err != nil {
			return err
		}
		for _, r := range admitted {
			switch d := r.(type) {
			case meta.EventDefinition:
				events = append(events, d)
			case meta.PropertyDefinition:
				props = append(props, d)
			}
		}
		if dropped > 0 {
			if _, err := tx.ExecContext(ctx, t.q(`INSERT INTO definitions_dropped (project_id, kind, dropped) VALUES (?, ?, ?)
				ON CONFLICT (project_id, kind) DO UPDATE SET dropped = definitions_dropped.dropped + excluded.dropped`),
				g.project, g.kind, dropped); err != nil {
				return fmt.Errorf("cannot count dropped definitions %q: %w", g.kind, err)
			}
		}
	}
	if err := t.upsertEventDefs(ctx, tx, events); err != nil {
		return err
	}
	if err := t.upsertPropertyDefs(ctx, tx, props); err != nil {
		return err
	}
	return tx.Commit()
}

// admit answers the rows of g to write (stored names, and new ones while
// the project is under the cap, most used first) and how many it drops.
func (t *Tables) admit(ctx context.Context, tx *sql.Tx, g *defGroup) ([]any, int64, error) {
	table, cond, args := "event_definitions", "", []any{g.project}
	switch g.kind {
	case meta.DroppedEventProperties:
		table, cond, args = "property_definitions", " AND kind = ?", []any{g.project, meta.PropertiesOfEvents}
	case meta.DroppedPersonProperties:
		table, cond, args = "property_definitions", " AND kind = ?", []any{g.project, meta.PropertiesOfPersons}
	}
	var dropped int64
	valid := make([]int, 0, len(g.names))
	for i, n := range g.names {
		if n == "" || len(n) > meta.MaxDefinitionNameBytes || !t.d.bindable(n) {
			dropped++
			continue
		}
		valid = append(valid, i)
	}
	var stored int64
	if err := tx.QueryRowContext(ctx, t.q(`SELECT count(*) FROM `+table+` WHERE project_id = ?`+cond), args...).Scan(&stored); err != nil {
		return nil, 0, fmt.Errorf("cannot count definitions of %q: %w", g.kind, err)
	}
	exists := map[string]bool{}
	for start := 0; start < len(valid); start += definitionRows {
		chunk := valid[start:min(start+definitionRows, len(valid))]
		qargs := append([]any(nil), args...)
		for _, i := range chunk {
			qargs = append(qargs, g.names[i])
		}
		rows, err := tx.QueryContext(ctx, t.q(`SELECT name FROM `+table+` WHERE project_id = ?`+cond+
			` AND name IN (`+placeholders(len(chunk))+`)`), qargs...)
		if err != nil {
			return nil, 0, fmt.Errorf("cannot read definitions of %q: %w", g.kind, err)
		}
		for rows.Next() {
			var n string
			if err := rows.Scan(&n); err != nil {
				rows.Close()
				return nil, 0, err
			}
			exists[n] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, 0, err
		}
	}
	// New names most used first, so that a flood of one-off names near
	// the cap loses to the names that matter.
	sort.SliceStable(valid, func(a, b int) bool {
		ea, eb := exists[g.names[valid[a]]], exists[g.names[valid[b]]]
		if ea != eb {
			return ea
		}
		return g.volumes[valid[a]] > g.volumes[valid[b]]
	})
	room := int64(meta.MaxDefinitionsPerKind) - stored
	out := make([]any, 0, len(valid))
	for _, i := range valid {
		if !exists[g.names[i]] {
			if room <= 0 {
				dropped++
				continue
			}
			room--
		}
		out = append(out, g.rows[i])
	}
	return out, dropped, nil
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// seenMerge keeps the earliest first and latest last seen of the stored
// row and the new one, in CASE (SQLite's MIN/MAX are PostgreSQL's
// LEAST/GREATEST).
func seenMerge(table string) string {
	return `first_seen_ms = CASE WHEN excluded.first_seen_ms < ` + table + `.first_seen_ms THEN excluded.first_seen_ms ELSE ` + table + `.first_seen_ms END,
		last_seen_ms = CASE WHEN excluded.last_seen_ms > ` + table + `.last_seen_ms THEN excluded.last_seen_ms ELSE ` + table + `.last_seen_ms END,
		volume = ` + table + `.volume + excluded.volume`
}

func (t *Tables) upsertEventDefs(ctx context.Context, tx *sql.Tx, defs []meta.EventDefinition) error {
	for start := 0; start < len(defs); start += definitionRows {
		chunk := defs[start:min(start+definitionRows, len(defs))]
		args := make([]any, 0, 5*len(chunk))
		for _, d := range chunk {
			args = append(args, d.ProjectID, d.Name, ms(d.FirstSeen), ms(d.LastSeen), d.Volume)
		}
		if _, err := tx.ExecContext(ctx, t.q(`INSERT INTO event_definitions (project_id, name, first_seen_ms, last_seen_ms, volume) VALUES `+
			rowsOf(len(chunk), 5)+` ON CONFLICT (project_id, name) DO UPDATE SET `+seenMerge("event_definitions")), args...); err != nil {
			return fmt.Errorf("cannot upsert event definitions: %w", err)
		}
	}
	return nil
}

func (t *Tables) upsertPropertyDefs(ctx context.Context, tx *sql.Tx, defs []meta.PropertyDefinition) error {
	for start := 0; start < len(defs); start += definitionRows {
		chunk := defs[start:min(start+definitionRows, len(defs))]
		args := make([]any, 0, 7*len(chunk))
		for _, d := range chunk {
			args = append(args, d.ProjectID, d.Kind, d.Name, d.Type, ms(d.FirstSeen), ms(d.LastSeen), d.Volume)
		}
		if _, err := tx.ExecContext(ctx, t.q(`INSERT INTO property_definitions (project_id, kind, name, value_type, first_seen_ms, last_seen_ms, volume) VALUES `+
			rowsOf(len(chunk), 7)+` ON CONFLICT (project_id, kind, name) DO UPDATE SET `+seenMerge("property_definitions")), args...); err != nil {
			return fmt.Errorf("cannot upsert property definitions: %w", err)
		}
	}
	return nil
}

// rowsOf is n rows of k placeholders: (?, ?), (?, ?)…
func rowsOf(n, k int) string {
	row := "(" + placeholders(k) + ")"
	return strings.TrimSuffix(strings.Repeat(row+", ", n), ", ")
}

// defFilter is the WHERE of a list: the project, kind's args, and the
// search as a case-insensitive substring (LIKE with its wildcards escaped).
func defFilter(q meta.DefinitionQuery, args []any) (string, []any) {
	if q.Search == "" {
		return "", args
	}
	esc := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(strings.ToLower(q.Search))
	return ` AND lower(name) LIKE ? ESCAPE '\'`, append(args, "%"+esc+"%")
}

func defPage(q meta.DefinitionQuery) (int, int) {
	limit := q.Limit
	if limit <= 0 || limit > meta.MaxDefinitionsListLength {
		limit = meta.MaxDefinitionsListLength
	}
	return limit, max(q.Offset, 0)
}

// EventDefinitions answers a page of a project's event names, most used
// first, and how many match in all.
func (t *Tables) EventDefinitions(ctx context.Context, projectID int64, q meta.DefinitionQuery) ([]meta.EventDefinition, int, error) {
	if !t.d.bindable(q.Search) {
		return nil, 0, nil
	}
	where, args := defFilter(q, []any{projectID})
	var n int
	if err := t.row(ctx, `SELECT count(*) FROM event_definitions WHERE project_id = ?`+where, args...).Scan(&n); err != nil {
		return nil, 0, fmt.Errorf("cannot count event definitions: %w", err)
	}
	limit, offset := defPage(q)
	rows, err := t.query(ctx, `SELECT name, first_seen_ms, last_seen_ms, volume FROM event_definitions WHERE project_id = ?`+where+
		` ORDER BY volume DESC, name LIMIT ? OFFSET ?`, append(args, limit, offset)...)
	if err != nil {
		return nil, 0, fmt.Errorf("cannot list event definitions: %w", err)
	}
	defer rows.Close()
	out := []meta.EventDefinition{}
	for rows.Next() {
		d := meta.EventDefinition{ProjectID: projectID}
		var first, last int64
		if err := rows.Scan(&d.Name, &first, &last, &d.Volume); err != nil {
			return nil, 0, err
		}
		d.FirstSeen, d.LastSeen = time.UnixMilli(first).UTC(), time.UnixMilli(last).UTC()
		out = append(out, d)
	}
	return out, n, rows.Err()
}

// PropertyDefinitions answers a page of a project's property keys of
// kind (event or person), most used first, and how many match in all.
func (t *Tables) PropertyDefinitions(ctx context.Context, projectID int64, kind string, q meta.DefinitionQuery) ([]meta.PropertyDefinition, int, error) {
	if !t.d.bindable(q.Search) || !t.d.bindable(kind) {
		return nil, 0, nil
	}
	where, args := defFilter(q, []any{projectID, kind})
	var n int
	if err := t.row(ctx, `SELECT count(*) FROM property_definitions WHERE project_id = ? AND kind = ?`+where, args...).Scan(&n); err != nil {
		return nil, 0, fmt.Errorf("cannot count property definitions: %w", err)
	}
	limit, offset := defPage(q)
	rows, err := t.query(ctx, `SELECT name, value_type, first_seen_ms, last_seen_ms, volume FROM property_definitions
		WHERE project_id = ? AND kind = ?`+where+` ORDER BY volume DESC, name LIMIT ? OFFSET ?`, append(args, limit, offset)...)
	if err != nil {
		return nil, 0, fmt.Errorf("cannot list property definitions: %w", err)
	}
	defer rows.Close()
	out := []meta.PropertyDefinition{}
	for rows.Next() {
		d := meta.PropertyDefinition{ProjectID: projectID, Kind: kind}
		var first, last int64
		if err := rows.Scan(&d.Name, &d.Type, &first, &last, &d.Volume); err != nil {
			return nil, 0, err
		}
		d.FirstSeen, d.LastSeen = time.UnixMilli(first).UTC(), time.UnixMilli(last).UTC()
		out = append(out, d)
	}
	return out, n, rows.Err()
}

// DefinitionsDropped answers how many names each kind dropped.
func (t *Tables) DefinitionsDropped(ctx context.Context, projectID int64) (map[string]int64, error) {
	rows, err := t.query(ctx, `SELECT kind, dropped FROM definitions_dropped WHERE project_id = ?`, projectID)
	if err != nil {
		return nil, fmt.Errorf("cannot read dropped definitions: %w", err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var k string
		var n int64
		if err := rows.Scan(&k, &n); err != nil {
			return nil, err
		}
		out[k] = n
	}
	return out, rows.Err()
}
