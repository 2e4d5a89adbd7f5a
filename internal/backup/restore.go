package backup

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/journey-dev/journey/internal/store/duckdb"
)

// maxManifest bounds the manifest read (a few hundred bytes per file).
const maxManifest = 16 << 20

// backupPath is the allow-list of the paths a manifest may name.
var backupPath = regexp.MustCompile(`^(` + regexp.QuoteMeta(MetaFile) + `|` + regexp.QuoteMeta(EventsFile) + `|` + LogDir + `/[0-9]{20}\.wal)$`)

// Verify checks that dir holds a complete backup: a manifest of a known
// format naming only the backup's own files, each there with its size and
// checksum, and a log that runs from LogStart to LogEnd without a gap.
func Verify(dir string) (*Manifest, error) {
	m, err := readManifest(dir)
	if err != nil {
		return nil, err
	}
	for _, f := range m.Files {
		size, sum, err := hashFile(filepath.Join(dir, filepath.FromSlash(f.Path)))
		if err != nil {
			return nil, fmt.Errorf("cannot verify backup %q: %w", dir, err)
		}
		if size != f.Size || sum != f.SHA256 {
			return nil, fmt.Errorf("cannot verify backup %q: %s has %d bytes with SHA-256 %s, the manifest says %d bytes with %s", dir, f.Path, size, sum, f.Size, f.SHA256)
		}
	}
	return m, nil
}

// readManifest reads and checks a manifest without reading the files.
func readManifest(dir string) (*Manifest, error) {
	f, err := os.Open(filepath.Join(dir, ManifestFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("cannot restore %q: not a complete backup (no %s: a backup cut short writes none)", dir, ManifestFile)
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read manifest of %q: %w", dir, err)
	}
	defer f.Close()
	var m Manifest
	dec := json.NewDecoder(io.LimitReader(f, maxManifest))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("cannot decode manifest of %q: %w", dir, err)
	}
	if m.Format != Format {
		return nil, fmt.Errorf("cannot restore %q: backup format %d, this journey reads %d", dir, m.Format, Format)
	}
	if err := m.checkFiles(); err != nil {
		return nil, fmt.Errorf("invalid manifest in %q: %w", dir, err)
	}
	return &m, nil
}

// checkFiles checks the manifest's file list: allowed names, each once,
// both databases, and log segments that tile [LogStart, LogEnd).
func (m *Manifest) checkFiles() error {
	seen := map[string]bool{}
	var segs []File
	for _, f := range m.Files {
		if !backupPath.MatchString(f.Path) {
			return fmt.Errorf("unexpected file %q", f.Path)
		}
		if seen[f.Path] {
			return fmt.Errorf("file %q listed twice", f.Path)
		}
		seen[f.Path] = true
		if f.Size < 0 || len(f.SHA256) != 64 {
			return fmt.Errorf("file %q: bad size or checksum", f.Path)
		}
		if strings.HasPrefix(f.Path, LogDir+"/") {
			segs = append(segs, f)
		}
	}
	for _, need := range []string{MetaFile, EventsFile} {
		if !seen[need] {
			return fmt.Errorf("no %s", need)
		}
	}
	if m.Checkpoint < m.LogStart || m.Checkpoint > m.LogEnd {
		return fmt.Errorf("loader checkpoint %d outside the log kept [%d, %d)", m.Checkpoint, m.LogStart, m.LogEnd)
	}
	pos := m.LogStart
	for _, s := range segs { // in path order, which is position order (zero-padded)
		var start uint64
		fmt.Sscanf(strings.TrimPrefix(s.Path, LogDir+"/"), "%020d", &start)
		if start != pos {
			return fmt.Errorf("log segment %q does not start at %d", s.Path, pos)
		}
		pos += uint64(s.Size)
	}
	if len(segs) == 0 || pos != m.LogEnd {
		return fmt.Errorf("log segments end at %d, not at the log position %d", pos, m.LogEnd)
	}
	return nil
}

// stackNames are what a data directory's stores consist of; --force
// replaces these and leaves anything else alone.
var stackNames = []string{MetaFile, MetaFile + "-wal", MetaFile + "-shm", EventsFile, EventsFile + ".wal", LogDir}

// Restore verifies the backup in dir and puts it into dataDir, which must
// be missing or empty unless force, which replaces the stores of an idle
// data directory. The files are copied (and checked again) into a
// directory beside dataDir, then renamed into place, so an interrupted
// restore leaves no half-copied store in dataDir.
func Restore(ctx context.Context, dir, dataDir string, force bool) (*Manifest, error) {
	m, err := Verify(dir)
	if err != nil {
		return nil, err
	}
	target, err := filepath.Abs(dataDir)
	if err != nil {
		return nil, fmt.Errorf("cannot resolve data directory %q: %w", dataDir, err)
	}
	if err := apart(target, dir, "data directory", "backup"); err != nil {
		return nil, err
	}
	if err := requireEmpty(target); err != nil {
		if !force {
			return nil, fmt.Errorf("cannot restore into %q: %w; restore into an empty directory, or pass --force to replace its stores", target, err)
		}
		if err := clearStack(target); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return nil, fmt.Errorf("cannot create %q: %w", filepath.Dir(target), err)
	}
	stage, err := os.MkdirTemp(filepath.Dir(target), "."+filepath.Base(target)+".restore-")
	if err != nil {
		return nil, fmt.Errorf("cannot create a staging directory beside %q: %w", target, err)
	}
	defer os.RemoveAll(stage)
	for _, f := range m.Files {
		if err := copyChecked(ctx, filepath.Join(dir, filepath.FromSlash(f.Path)), filepath.Join(stage, filepath.FromSlash(f.Path)), f); err != nil {
			return nil, err
		}
	}
	if err := syncDirs(stage); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(target, 0o700); err != nil {
		return nil, fmt.Errorf("cannot create data directory %q: %w", target, err)
	}
	for _, name := range []string{LogDir, MetaFile, EventsFile} {
		if err := os.Rename(filepath.Join(stage, name), filepath.Join(target, name)); err != nil {
			return nil, fmt.Errorf("cannot move restored %s into %q: %w", name, target, err)
		}
	}
	return m, syncDir(target)
}

// clearStack removes the stores of a data directory no server uses.
func clearStack(target string) error {
	events := filepath.Join(target, EventsFile)
	if _, err := os.Stat(events); err == nil {
		// A server holds DuckDB's file lock: a read-only open fails then.
		db, err := sql.Open("duckdb", events+"?access_mode=READ_ONLY")
		if err == nil {
			err = db.Ping()
			db.Close()
		}
		if err != nil {
			return fmt.Errorf("cannot replace the stores in %q: its event store does not open (is a server running on it? stop it first): %w", target, err)
		}
	}
	for _, name := range stackNames {
		if err := os.RemoveAll(filepath.Join(target, name)); err != nil {
			return fmt.Errorf("cannot remove %s from %q: %w", name, target, err)
		}
	}
	return nil
}

// copyChecked copies src to dst, checking size and checksum on the bytes
// copied (the backup may change after Verify read it).
func copyChecked(ctx context.Context, src, dst string, f File) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return fmt.Errorf("cannot create %q: %w", filepath.Dir(dst), err)
	}
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("cannot open %q: %w", src, err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("cannot create %q: %w", dst, err)
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(out, h), ctxReader{ctx, in})
	if err == nil && (n != f.Size || hex.EncodeToString(h.Sum(nil)) != f.SHA256) {
		err = errors.New("changed since the manifest was written")
	}
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("cannot restore %q: %w", src, err)
	}
	return nil
}

// Offline backs up a data directory no server has open (the server holds
// DuckDB's lock: back it up through the server, POST /api/v1/admin/backup).
func Offline(ctx context.Context, dataDir, dir string) (*Manifest, error) {
	path := filepath.Join(dataDir, EventsFile)
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("cannot back up %q: not a data directory: %w", dataDir, err)
	}
	s, err := duckdb.Open(path, duckdb.Options{Threads: 1, SQLMemoryBudget: -1})
	if err != nil {
		return nil, fmt.Errorf("cannot open %q (is a server running on it? then back up through it with --url): %w", path, err)
	}
	defer s.Close()
	return Snapshot(ctx, Source{DataDir: dataDir, Events: s}, dir)
}
