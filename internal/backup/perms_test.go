package backup_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/journey-dev/journey/internal/backup"
)

// A backup is its owner's only, even into an existing empty directory
// another mode was given (it holds webhook secrets and personal data);
// a new data directory is too.
func TestBackupPermissions(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	startServer(t, data).close()
	if fi, err := os.Stat(data); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("data directory: %v %v, want 0700", fi.Mode().Perm(), err)
	}
	dir := filepath.Join(t.TempDir(), "b")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := backup.Offline(context.Background(), data, dir); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]os.FileMode{dir: 0o700, filepath.Join(dir, "meta.db"): 0o600} {
		fi, err := os.Stat(path)
		if err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v %v, want %v", path, fi.Mode().Perm(), err, want)
		}
	}
}
