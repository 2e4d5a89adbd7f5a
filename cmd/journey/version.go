package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/journey-dev/journey/internal/backup"
)

// cmdVersion prints the build: version, commit, Go and DuckDB versions.
func cmdVersion(args []string) error {
	var asJSON bool
	f := newFlags("version")
	f.boolean(&asJSON, "json", false, "print JSON")
	if err := f.parse(args); err != nil {
		return err
	}
	b := backup.ReadBuild()
	var err error
	if b.DuckDB, err = backup.DuckDBVersion(context.Background()); err != nil {
		return err
	}
	if asJSON {
		return json.NewEncoder(os.Stdout).Encode(b)
	}
	commit := b.Commit
	if commit == "" {
		commit = "unknown (built outside a checkout or with -buildvcs=false)"
	} else if b.Modified {
		commit += " (with uncommitted changes)"
	}
	fmt.Printf("journey %s\ncommit  %s %s\ngo      %s\nduckdb  %s\n", b.Version, commit, b.CommitTime, b.Go, b.DuckDB)
	return nil
}
