package backup

import (
	"context"
	"database/sql"
	"fmt"
	"runtime"
	"runtime/debug"

	_ "github.com/duckdb/duckdb-go/v2" // the "duckdb" driver, for its version
)

// Build is what a binary says about itself (journey version, manifests).
type Build struct {
	Version    string `json:"version"`               // the module version, "(devel)" from a checkout
	Commit     string `json:"commit,omitempty"`      // vcs.revision
	CommitTime string `json:"commit_time,omitempty"` // vcs.time
	Modified   bool   `json:"modified,omitempty"`    // built from a work tree with changes
	Go         string `json:"go"`
	DuckDB     string `json:"duckdb_version,omitempty"`
}

// ReadBuild reads the binary's build information (the VCS stamp that go
// build records from a checkout); DuckDB's version is filled in by who
// has a database open.
func ReadBuild() Build {
	b := Build{Version: "(unknown)", Go: runtime.Version()}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	b.Version = info.Main.Version
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Commit = s.Value
		case "vcs.time":
			b.CommitTime = s.Value
		case "vcs.modified":
			b.Modified = s.Value == "true"
		}
	}
	return b
}

// DuckDBVersion is the version of the DuckDB library linked in, from an
// in-memory database.
func DuckDBVersion(ctx context.Context) (string, error) {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		return "", fmt.Errorf("cannot open DuckDB: %w", err)
	}
	defer db.Close()
	var v string
	if err := db.QueryRowContext(ctx, `SELECT version()`).Scan(&v); err != nil {
		return "", fmt.Errorf("cannot read DuckDB version: %w", err)
	}
	return v, nil
}
