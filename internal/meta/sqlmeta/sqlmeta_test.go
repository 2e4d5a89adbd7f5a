package sqlmeta

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

func TestMigrationsOrder(t *testing.T) {
	fsys := fstest.MapFS{
		"m/0010_later.sql": {Data: []byte("B")},
		"m/0002_first.sql": {Data: []byte("A")},
		"m/README":         {Data: []byte("not a migration")},
	}
	list, err := Migrations(fsys, "m")
	if err != nil {
		t.Fatal(err)
	}
	// By number, not by name: 2 before 10.
	if len(list) != 2 || list[0] != (Migration{2, "0002_first.sql", "A"}) || list[1] != (Migration{10, "0010_later.sql", "B"}) {
		t.Fatalf("Migrations = %+v", list)
	}
	for name, fsys := range map[string]fstest.MapFS{
		"duplicate version": {"m/0001_a.sql": {}, "m/01_b.sql": {}},
		"no version":        {"m/first.sql": {}},
	} {
		if list, err := Migrations(fsys, "m"); err == nil {
			t.Errorf("%s: Migrations = %+v, want an error", name, list)
		}
	}
}

// schema is a migration's tables and their columns, in order.
func schema(t *testing.T, sql string) map[string][]string {
	t.Helper()
	table := regexp.MustCompile(`(?is)CREATE TABLE (\w+) \((.*?)\n\);`)
	out := map[string][]string{}
	for _, m := range table.FindAllStringSubmatch(sql, -1) {
		var cols []string
		for _, line := range strings.Split(m[2], "\n") {
			f := strings.Fields(line)
			if len(f) == 0 || strings.HasPrefix(f[0], "--") {
				continue
			}
			switch strings.ToUpper(f[0]) {
			case "PRIMARY", "UNIQUE", "FOREIGN", "CHECK", "CONSTRAINT":
				continue
			}
			cols = append(cols, f[0])
		}
		out[m[1]] = cols
	}
	return out
}

// TestTwinMigrations: the SQLite and PostgreSQL stores create the same
// tables with the same columns, version by version, so the shared SQL runs
// on both. A table or column added to one store only fails here.
func TestTwinMigrations(t *testing.T) {
	lite, err := Migrations(os.DirFS("../sqlite"), "migrations")
	if err != nil {
		t.Fatal(err)
	}
	pg, err := Migrations(os.DirFS("../postgres"), "migrations")
	if err != nil {
		t.Fatal(err)
	}
	if len(lite) == 0 || len(lite) != len(pg) {
		t.Fatalf("%d SQLite migrations, %d PostgreSQL ones", len(lite), len(pg))
	}
	for i := range lite {
		l, p := lite[i], pg[i]
		if l.Version != p.Version || l.Name != p.Name {
			t.Fatalf("migration %d: SQLite %q, PostgreSQL %q", i, l.Name, p.Name)
		}
		ls, ps := schema(t, l.SQL), schema(t, p.SQL)
		if len(ls) == 0 || len(ls) != len(ps) {
			t.Fatalf("%s: SQLite tables %v, PostgreSQL tables %v", l.Name, ls, ps)
		}
		for table, cols := range ls {
			if !slices.Equal(cols, ps[table]) {
				t.Fatalf("%s: table %s has columns %q on SQLite, %q on PostgreSQL", l.Name, table, cols, ps[table])
			}
		}
	}
}

func TestRebind(t *testing.T) {
	const q = `SELECT a FROM t WHERE b = ? AND c IN (?, ?)`
	if got := SQLite.rebind(q); got != q {
		t.Fatalf("SQLite rebind = %q", got)
	}
	if got, want := PostgreSQL.rebind(q), `SELECT a FROM t WHERE b = $1 AND c IN ($2, $3)`; got != want {
		t.Fatalf("PostgreSQL rebind = %q, want %q", got, want)
	}
}

func TestTimes(t *testing.T) {
	at := time.Date(2026, 3, 29, 1, 30, 0, 123456789, time.FixedZone("CEST", 2*3600))
	// SQLite keeps text, to the nanosecond; it reads back as the same instant, in UTC.
	arg, ok := SQLite.timeArg(at).(string)
	if !ok || arg != "2026-03-28T23:30:00.123456789Z" {
		t.Fatalf("SQLite timeArg = %#v", SQLite.timeArg(at))
	}
	for _, v := range []any{arg, []byte(arg), at} {
		var got atTime
		if err := got.Scan(v); err != nil || !got.t.Equal(at) || got.t.Location() != time.UTC {
			t.Fatalf("Scan(%#v) = %v, %v; want %v in UTC", v, got.t, err, at)
		}
	}
	if PostgreSQL.timeArg(at) != any(at) {
		t.Fatalf("PostgreSQL timeArg = %#v, want the time.Time", PostgreSQL.timeArg(at))
	}
	if now := PostgreSQL.now(); now.Nanosecond()%1000 != 0 || now.Location() != time.UTC {
		t.Fatalf("PostgreSQL now = %v, want microseconds, UTC", now)
	}
	// A stored time that is not one is an error, not a zero time.
	for _, v := range []any{"yesterday", int64(5), nil} {
		var got atTime
		if err := got.Scan(v); err == nil {
			t.Fatalf("Scan(%#v) = %v, want an error", v, got.t)
		}
	}
}

func TestBindable(t *testing.T) {
	for _, s := range []string{"", "jpt_abc", "ü"} {
		if !SQLite.bindable(s) || !PostgreSQL.bindable(s) {
			t.Fatalf("bindable(%q) = false", s)
		}
	}
	for _, s := range []string{"\x00", "a\x00b", "jpt_\xff\xfe"} {
		if !SQLite.bindable(s) || PostgreSQL.bindable(s) {
			t.Fatalf("bindable(%q): SQLite %v, PostgreSQL %v; want true, false", s, SQLite.bindable(s), PostgreSQL.bindable(s))
		}
	}
}
