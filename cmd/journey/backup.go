package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/journey-dev/journey/internal/backup"
)

// dirArg takes the command's directory argument, before or after the flags.
func dirArg(f *flags, args []string, what string) (string, error) {
	var dir string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		dir, args = args[0], args[1:]
	}
	if err := f.parse(args); err != nil {
		return "", err
	}
	if dir == "" && f.NArg() > 0 {
		dir = f.Arg(0)
	} else if f.NArg() > 0 {
		return "", fmt.Errorf("unexpected argument %q", f.Arg(0))
	}
	if dir == "" {
		return "", fmt.Errorf("usage: journey %s DIR [flags] (-h for flags)", what)
	}
	return filepath.Abs(dir)
}

// cmdBackup writes a backup of the embedded stack into DIR: through the
// running server (--url and --admin-key; DIR is on the server's machine)
// or, with no --url, from a data directory no server has open.
func cmdBackup(args []string) error {
	var url, key, dataDir string
	f := newFlags("backup")
	f.str(&url, "url", "", "back up through the server at this URL (POST /api/v1/admin/backup; DIR is then a directory on the server's machine)")
	f.str(&key, "admin-key", "", "the server's --admin-key, with --url")
	f.str(&dataDir, "data-dir", "./journey-data", "without --url: the data directory of a stopped server")
	dir, err := dirArg(f, args, "backup")
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var m *backup.Manifest
	if url != "" {
		m, err = remoteBackup(ctx, url, key, dir)
	} else {
		m, err = backup.Offline(ctx, dataDir, dir)
	}
	if err != nil {
		return err
	}
	var size int64
	for _, f := range m.Files {
		size += f.Size
	}
	fmt.Printf("backup written to %s: %d files, %d bytes, log position %d (loader checkpoint %d, metadata schema %d)\n",
		dir, len(m.Files), size, m.LogEnd, m.Checkpoint, m.MetaSchema)
	return nil
}

func remoteBackup(ctx context.Context, url, key, dir string) (*backup.Manifest, error) {
	if key == "" {
		return nil, errors.New("invalid --admin-key: missing (the server's admin key; env JOURNEY_ADMIN_KEY)")
	}
	body, _ := json.Marshal(map[string]string{"dir": dir})
	req, err := http.NewRequestWithContext(ctx, "POST", strings.TrimRight(url, "/")+"/api/v1/admin/backup", bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("invalid --url %q: %w", url, err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req) // no timeout: a large store takes long to copy
	if err != nil {
		return nil, fmt.Errorf("cannot reach %s: %w", url, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("cannot read the answer of %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct{ Error string }
		if json.Unmarshal(out, &e) == nil && e.Error != "" {
			return nil, fmt.Errorf("server answered %s: %s", resp.Status, e.Error)
		}
		return nil, fmt.Errorf("server answered %s", resp.Status)
	}
	var m backup.Manifest
	if err := json.Unmarshal(out, &m); err != nil {
		return nil, fmt.Errorf("cannot decode the backup manifest: %w", err)
	}
	return &m, nil
}

// cmdRestore puts a backup into an empty data directory (--force: replace
// the stores of a data directory no server uses).
func cmdRestore(args []string) error {
	var dataDir, dataDirAlias string
	var force bool
	f := newFlags("restore")
	f.str(&dataDir, "data", "", "the data directory to restore into (missing or empty)")
	f.str(&dataDirAlias, "data-dir", "", "the same as --data")
	f.boolean(&force, "force", false, "replace the stores of a non-empty data directory (its server stopped)")
	dir, err := dirArg(f, args, "restore")
	if err != nil {
		return err
	}
	if dataDir == "" {
		dataDir = dataDirAlias
	}
	if dataDir == "" {
		return errors.New("invalid --data: missing (the data directory to restore into)")
	}
	m, err := backup.Restore(context.Background(), dir, dataDir, force)
	if err != nil {
		return err
	}
	fmt.Printf("restored %s into %s: log position %d; journey serve --data-dir %s loads the log after the checkpoint %d at start\n",
		dir, dataDir, m.LogEnd, dataDir, m.Checkpoint)
	return nil
}
