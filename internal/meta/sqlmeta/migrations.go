package sqlmeta

import (
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

// Migration is one schema change, migrations/NNNN_name.sql. The SQLite and
// PostgreSQL stores hold twins of every migration (the same file names,
// tables and columns), so a version in schema_migrations means the same
// schema on both.
type Migration struct {
	Version int
	Name    string // the file name, e.g. 0003_users_dashboards.sql
	SQL     string
}

// Migrations reads the migrations in dir of fsys, in version order. Versions
// are the numeric prefixes of the file names; two files of one version are
// an error.
func Migrations(fsys fs.FS, dir string) ([]Migration, error) {
	names, err := fs.Glob(fsys, path.Join(dir, "*.sql"))
	if err != nil {
		return nil, err
	}
	var out []Migration
	seen := map[int]string{}
	for _, name := range names {
		base := path.Base(name)
		version, err := strconv.Atoi(strings.SplitN(base, "_", 2)[0])
		if err != nil {
			return nil, fmt.Errorf("cannot parse migration version of %q: %w", base, err)
		}
		if other, dup := seen[version]; dup {
			return nil, fmt.Errorf("cannot order migration %q: version %d is also %q", base, version, other)
		}
		seen[version] = base
		body, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("cannot read migration %q: %w", base, err)
		}
		out = append(out, Migration{Version: version, Name: base, SQL: string(body)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}
