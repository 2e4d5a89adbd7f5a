package backup_test

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/journey-dev/journey/internal/backup"
)

// FuzzVerify: a backup directory is outside input to restore. Whatever
// its manifest says, Verify neither panics nor accepts a manifest naming
// a file outside the backup's own names or a log that does not tile its
// range.
func FuzzVerify(f *testing.F) {
	sum := "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" // SHA-256 of nothing
	f.Add(`{"format":1,"created_at":"2026-12-02T00:00:00Z","journey":{"version":"(devel)","go":"go1.26"},"meta_schema_version":8,"loader_checkpoint":0,"log_start":0,"log_end":0,
"files":[{"path":"events.duckdb","size":0,"sha256":"` + sum + `"},{"path":"log/00000000000000000000.wal","size":0,"sha256":"` + sum + `"},{"path":"meta.db","size":0,"sha256":"` + sum + `"}]}`)
	f.Add(`{"format":1,"files":[{"path":"../x","size":0,"sha256":"` + sum + `"}]}`)
	f.Add(`{"format":1,"log_end":5,"loader_checkpoint":9,"files":[]}`)
	f.Add(`{"format":2}`)
	f.Add(`[`)
	allowed := regexp.MustCompile(`^(meta\.db|events\.duckdb|log/[0-9]{20}\.wal)$`)
	f.Fuzz(func(t *testing.T, manifest string) {
		dir := t.TempDir()
		for _, name := range []string{"meta.db", "events.duckdb", "log/00000000000000000000.wal"} {
			os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o700)
			os.WriteFile(filepath.Join(dir, name), nil, 0o600)
		}
		if err := os.WriteFile(filepath.Join(dir, "manifest.json"), []byte(manifest), 0o600); err != nil {
			t.Fatal(err)
		}
		m, err := backup.Verify(dir)
		if err != nil {
			return
		}
		var logged uint64
		for _, f := range m.Files {
			if !allowed.MatchString(f.Path) {
				t.Fatalf("accepted path %q", f.Path)
			}
			if f.Path[0] == 'l' {
				logged += uint64(f.Size)
			}
		}
		if m.Checkpoint < m.LogStart || m.Checkpoint > m.LogEnd || m.LogStart+logged != m.LogEnd {
			t.Fatalf("accepted log range [%d, %d) checkpoint %d with %d bytes of log", m.LogStart, m.LogEnd, m.Checkpoint, logged)
		}
	})
}
