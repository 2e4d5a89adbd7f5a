package api

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"

	"github.com/journey-dev/journey/internal/backup"
	"github.com/journey-dev/journey/internal/insight"
	"github.com/journey-dev/journey/internal/meta/sqlite"
	"github.com/journey-dev/journey/internal/store/duckdb"
)

// backupBody is POST /api/v1/admin/backup's body.
type backupBody struct {
	// Dir is where the backup goes, on the server's machine: absolute,
	// outside the data directory, missing or empty.
	Dir string `json:"dir"`
}

// backupData snapshots the embedded stack while it serves (admin key
// only): the answer is the backup's manifest. The directory is the
// server's, not the client's: an admin key can already read and change
// everything the backup holds, and the backup refuses to write anywhere
// but into a new or empty directory.
func (s *Server) backupData(w http.ResponseWriter, r *http.Request) {
	var body backupBody
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		writeBad(w, insight.Bad("body", "cannot decode body as JSON: %v", err))
		return
	}
	if body.Dir == "" {
		writeBad(w, insight.Bad("dir", "missing: an absolute directory on the server's machine"))
		return
	}
	events, embedded := s.Events.(*duckdb.Store)
	if _, sqliteMeta := s.Meta.(*sqlite.Store); !embedded || !sqliteMeta {
		writeError(w, http.StatusNotImplemented, "backups cover the embedded stack (DuckDB, SQLite, file log); back up ClickHouse, PostgreSQL and JetStream with their own tools")
		return
	}
	path, err := events.Path(r.Context())
	if err != nil || path == "" {
		slog.Error("cannot find the event store's file", "err", err)
		writeError(w, http.StatusInternalServerError, "cannot find the data directory")
		return
	}
	m, err := backup.Snapshot(r.Context(), backup.Source{DataDir: filepath.Dir(path), Events: events}, body.Dir)
	var target *backup.TargetError
	switch {
	case errors.As(err, &target):
		writeBad(w, insight.Bad("dir", "%v", err))
	case errors.Is(err, backup.ErrBusy):
		writeError(w, http.StatusConflict, "another backup is running; try again when it is done")
	case err != nil:
		slog.Error("backup failed", "dir", body.Dir, "err", err)
		writeError(w, http.StatusInternalServerError, "backup failed: "+err.Error())
	default:
		slog.Info("backup written", "dir", body.Dir, "log_end", m.LogEnd, "checkpoint", m.Checkpoint)
		writeJSON(w, http.StatusOK, m)
	}
}
