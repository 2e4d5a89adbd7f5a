// Package backup takes consistent snapshots of the embedded stack's data
// directory and restores them (journey backup, journey restore).
//
// A data directory holds three stores (internal/app lays them out):
// meta.db, the SQLite metadata; events.duckdb, the DuckDB event store,
// which keeps the loader's log position (its checkpoint) in the same
// transaction as the events; and log/, the file event log, whose segments
// are named by the position of their first byte. A backup is a directory
// with a copy of each and manifest.json, written last:
//
//  1. events.duckdb under the event store's write lock, after a
//     CHECKPOINT (duckdb.Store.Snapshot): no batch lands meanwhile, and the
//     copy holds the loader's checkpoint of its last batch.
//  2. Under the same lock, first the log's segments are opened (the
//     loader's trims cannot take them away now) and the end of its last
//     whole record is read: that is the snapshot's log position (LogEnd);
//     then meta.db is copied by VACUUM INTO, a transactionally consistent
//     copy taken on a connection of its own, so the server's metadata keeps
//     answering. Meta is copied after the log is held and while the loader
//     waits, so what it refers to (persons a campaign send is for, the
//     campaign engine's log position, never past the loader's) is in the
//     event copy or in the log kept.
//  3. log/: the segments held, the last one cut at LogEnd, copied from the
//     open files once the lock is released.
//  4. manifest.json: versions, checkpoint, log range, every file's size
//     and SHA-256.
//
// Every event acknowledged before the backup began was on disk in the log
// by then, so it is before LogEnd: either in events.duckdb or in the log
// after its checkpoint, which the restored server loads at start. Events
// appended after LogEnd are not in the backup. The loader pauses while
// the event store's file is copied; capture keeps acknowledging and
// queries keep answering.
//
// A backup cut short (the server killed, the disk full) has no manifest,
// and Restore refuses it.
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
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/journey-dev/journey/internal/store/duckdb"
	_ "modernc.org/sqlite" // the "sqlite" driver, for VACUUM INTO
)

// Names inside a data directory and a backup (as internal/app lays them out).
const (
	MetaFile     = "meta.db"
	EventsFile   = "events.duckdb"
	LogDir       = "log"
	ManifestFile = "manifest.json"
)

// Format is the backup layout's version; Restore refuses others.
const Format = 1

// Manifest describes a complete backup.
type Manifest struct {
	Format    int       `json:"format"`
	CreatedAt time.Time `json:"created_at"`
	Journey   Build     `json:"journey"`
	// MetaSchema is the newest metadata migration applied in meta.db.
	MetaSchema int `json:"meta_schema_version"`
	// Checkpoint is the loader position stored in events.duckdb.
	Checkpoint uint64 `json:"loader_checkpoint"`
	// LogStart and LogEnd bound the log kept: [LogStart, LogEnd). LogEnd is
	// the snapshot's log position: entries before it are in the backup.
	LogStart uint64 `json:"log_start"`
	LogEnd   uint64 `json:"log_end"`
	Files    []File `json:"files"`
}

// File is one file of a backup, its path relative to the backup.
type File struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// TargetError is a backup directory that cannot take a backup (relative,
// overlapping the data directory, not empty).
type TargetError struct{ Err error }

func (e *TargetError) Error() string { return e.Err.Error() }
func (e *TargetError) Unwrap() error { return e.Err }

// ErrBusy is returned while another backup of this process runs.
var ErrBusy = errors.New("another backup is running")

// running allows one backup at a time per process: each one holds the
// event store's write lock for its copy and doubles the disk traffic.
var running sync.Mutex

// Source is the embedded stack being backed up.
type Source struct {
	DataDir string
	Events  *duckdb.Store // open on DataDir/events.duckdb
}

// Snapshot writes a backup of src into dir, which must be absolute, outside
// the data directory and either missing or empty.
func Snapshot(ctx context.Context, src Source, dir string) (*Manifest, error) {
	if !running.TryLock() {
		return nil, ErrBusy
	}
	defer running.Unlock()
	if err := prepareTarget(src.DataDir, dir); err != nil {
		return nil, &TargetError{err}
	}
	m := &Manifest{Format: Format, CreatedAt: time.Now().UTC(), Journey: ReadBuild()}
	var segs *openLog
	defer func() { segs.close() }()
	res, err := src.Events.Snapshot(ctx, filepath.Join(dir, EventsFile), func(checkpoint uint64) error {
		var err error
		if segs, err = openSegments(filepath.Join(src.DataDir, LogDir), checkpoint); err != nil {
			return err
		}
		m.MetaSchema, err = copyMeta(ctx, filepath.Join(src.DataDir, MetaFile), filepath.Join(dir, MetaFile))
		return err
	})
	if err != nil {
		return nil, err
	}
	m.Journey.DuckDB, m.Checkpoint = res.Version, res.Checkpoint
	m.LogStart, m.LogEnd = segs.start(), segs.end
	if err := segs.copyTo(ctx, filepath.Join(dir, LogDir)); err != nil {
		return nil, err
	}
	if m.Files, err = listFiles(dir); err != nil {
		return nil, err
	}
	if err := writeManifest(dir, m); err != nil {
		return nil, err
	}
	return m, nil
}

// prepareTarget checks dir and creates it (0700: the metadata holds key
// hashes and campaign secrets).
func prepareTarget(dataDir, dir string) error {
	if !filepath.IsAbs(dir) {
		return fmt.Errorf("invalid backup directory %q: want an absolute path (on the server's machine)", dir)
	}
	if err := apart(dir, dataDir, "backup directory", "data directory"); err != nil {
		return err
	}
	if err := requireEmpty(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("cannot create backup directory %q: %w", dir, err)
	}
	// An existing empty directory keeps its mode under MkdirAll: the
	// backup holds webhook secrets and personal data, for its owner only.
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("cannot restrict backup directory %q: %w", dir, err)
	}
	return nil
}

// apart fails when a and b are the same directory or one is inside the
// other, symbolic links resolved.
func apart(a, b, aName, bName string) error {
	ra, err := resolve(a)
	if err != nil {
		return fmt.Errorf("cannot resolve %s %q: %w", aName, a, err)
	}
	rb, err := resolve(b)
	if err != nil {
		return fmt.Errorf("cannot resolve %s %q: %w", bName, b, err)
	}
	if inside(ra, rb) || inside(rb, ra) {
		return fmt.Errorf("invalid %s %q: it overlaps the %s %q", aName, a, bName, b)
	}
	return nil
}

// resolve makes path absolute with the symbolic links of its existing
// part resolved (the rest may not exist yet).
func resolve(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	var rest []string
	for p := abs; ; p = filepath.Dir(p) {
		if r, err := filepath.EvalSymlinks(p); err == nil {
			return filepath.Join(append([]string{r}, rest...)...), nil
		}
		if filepath.Dir(p) == p {
			return abs, nil
		}
		rest = append([]string{filepath.Base(p)}, rest...)
	}
}

// inside reports whether path is base or below it.
func inside(path, base string) bool {
	rel, err := filepath.Rel(base, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// requireEmpty fails unless dir is missing or an empty directory.
func requireEmpty(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("cannot read directory %q: %w", dir, err)
	}
	if len(entries) > 0 {
		return fmt.Errorf("directory %q is not empty (%s, …)", dir, entries[0].Name())
	}
	return nil
}

// copyMeta copies the SQLite database with VACUUM INTO on a connection of
// its own (a read transaction: WAL mode lets the server write meanwhile)
// and returns the newest migration in the copy.
func copyMeta(ctx context.Context, src, dst string) (int, error) {
	if _, err := os.Stat(src); err != nil {
		return 0, fmt.Errorf("cannot back up metadata %q: %w", src, err)
	}
	db, err := sql.Open("sqlite", "file:"+src+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return 0, fmt.Errorf("cannot open metadata %q: %w", src, err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `VACUUM INTO ?`, dst); err != nil {
		return 0, fmt.Errorf("cannot copy metadata %q: %w", src, err)
	}
	if err := os.Chmod(dst, 0o600); err != nil { // SQLite creates it by the umask
		return 0, fmt.Errorf("cannot restrict metadata copy %q: %w", dst, err)
	}
	if err := syncFile(dst); err != nil {
		return 0, err
	}
	return metaSchema(ctx, dst)
}

// metaSchema reads the newest applied migration of a metadata file.
func metaSchema(ctx context.Context, path string) (int, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		return 0, fmt.Errorf("cannot open metadata %q: %w", path, err)
	}
	defer db.Close()
	var v sql.NullInt64
	if err := db.QueryRowContext(ctx, `SELECT max(version) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, fmt.Errorf("cannot read schema version of %q: %w", path, err)
	}
	return int(v.Int64), nil
}

// listFiles lists every file under dir with its size and SHA-256, in
// path order.
func listFiles(dir string) ([]File, error) {
	var out []File
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		f := File{Path: filepath.ToSlash(rel)}
		if f.Size, f.SHA256, err = hashFile(path); err != nil {
			return err
		}
		out = append(out, f)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cannot list backup %q: %w", dir, err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

func hashFile(path string) (int64, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, "", fmt.Errorf("cannot open %q: %w", path, err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return 0, "", fmt.Errorf("cannot read %q: %w", path, err)
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}

// writeManifest writes the manifest through a temporary file renamed into
// place, after every file it lists is synced: its presence is what makes
// a backup complete.
func writeManifest(dir string, m *Manifest) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("cannot encode manifest: %w", err)
	}
	if err := syncDirs(dir); err != nil {
		return err
	}
	tmp := filepath.Join(dir, ManifestFile+".tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("cannot write manifest %q: %w", tmp, err)
	}
	if err := syncFile(tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, ManifestFile)); err != nil {
		return fmt.Errorf("cannot write manifest in %q: %w", dir, err)
	}
	return syncDir(dir)
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("cannot open %q: %w", path, err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("cannot sync %q: %w", path, err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("cannot open directory %q: %w", dir, err)
	}
	defer d.Close()
	_ = d.Sync() // not every file system syncs directories; the files are synced
	return nil
}

// syncDirs syncs dir and its subdirectories, so the files' names are
// durable before the manifest names them.
func syncDirs(dir string) error {
	return filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		return syncDir(path)
	})
}
