package sqlmeta

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Dialect is everything the shared SQL has to know about the database it
// runs on. Each difference is one field, set once here for SQLite and once
// for PostgreSQL. Nothing in sqlmeta looks at the SQL text or the driver's
// name to decide how to behave.
type Dialect struct {
	name string
	// dollar: placeholders are $1, $2… (PostgreSQL), not ?.
	dollar bool
	// textTimes: the *_at columns of migrations 0001 and 0002 (projects,
	// api_keys, project_settings, cohorts) hold RFC 3339 text (SQLite),
	// not TIMESTAMPTZ. Those migrations predate sqlmeta; tables added
	// since use Unix milliseconds, which need no hook.
	textTimes bool
	// timeUnit is the resolution those *_at columns keep, so that a time a
	// Create call returns equals the one read back later.
	timeUnit time.Duration
	// unique reports a UNIQUE or PRIMARY KEY violation.
	unique func(error) bool
	// bindable reports whether a string can be bound as TEXT at all.
	// PostgreSQL refuses NUL bytes and invalid UTF-8 with an error, where
	// a lookup of such a string should find nothing, as on SQLite.
	bindable func(string) bool
	// skipLocked ends the SELECT that picks the rows a claim takes
	// (ClaimDueSends): PostgreSQL's FOR UPDATE SKIP LOCKED, so that
	// replicas claiming at once lock disjoint rows instead of queueing on
	// (and then losing) the same ones. SQLite has no row locks and needs
	// none: the claim is one write statement, which takes the database's
	// write lock before it reads.
	skipLocked string
}

// SQLite is the embedded store's database (modernc.org/sqlite).
var SQLite = Dialect{
	name:      "SQLite",
	textTimes: true,
	timeUnit:  time.Nanosecond,
	unique: func(err error) bool {
		var e *sqlite.Error
		return errors.As(err, &e) && (e.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || e.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY)
	},
	bindable: func(string) bool { return true },
}

// PostgreSQL is the scale-out store's database (pgx through database/sql).
var PostgreSQL = Dialect{
	name:     "PostgreSQL",
	dollar:   true,
	timeUnit: time.Microsecond, // TIMESTAMPTZ
	unique: func(err error) bool {
		var e *pgconn.PgError
		return errors.As(err, &e) && e.Code == "23505" // unique_violation
	},
	bindable:   func(s string) bool { return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 },
	skipLocked: " FOR UPDATE SKIP LOCKED",
}

// String names the database.
func (d Dialect) String() string { return d.name }

// rebind rewrites the ? placeholders of query for the database. The shared
// SQL has no ? anywhere else (no string literals holding one, no jsonb ?
// operators).
func (d Dialect) rebind(query string) string {
	if !d.dollar {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// now is the current time as a *_at column keeps it, in UTC.
func (d Dialect) now() time.Time { return time.Now().UTC().Truncate(d.timeUnit) }

// timeArg encodes t for a *_at column.
func (d Dialect) timeArg(t time.Time) any {
	if d.textTimes {
		return t.UTC().Format(time.RFC3339Nano)
	}
	return t
}

// atTime scans a *_at column: RFC 3339 text on SQLite, TIMESTAMPTZ on
// PostgreSQL (which pgx returns in the process's local zone). Either way
// the result is UTC, as the API serialises it.
type atTime struct{ t time.Time }

func (a *atTime) Scan(v any) error {
	switch v := v.(type) {
	case time.Time:
		a.t = v.UTC()
		return nil
	case string:
		return a.parse(v)
	case []byte:
		return a.parse(string(v))
	}
	return fmt.Errorf("cannot scan %T as a time", v)
}

func (a *atTime) parse(s string) error {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return fmt.Errorf("cannot parse stored time %q: %w", s, err)
	}
	a.t = t.UTC()
	return nil
}
