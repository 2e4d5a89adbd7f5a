package journeyidx

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

func execCommand(name string, args ...string) *exec.Cmd { return exec.Command(name, args...) }

// waitForFiles waits until the child has written at least n segments.
func waitForFiles(t *testing.T, dir string, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		segs, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
		if _, err := os.Stat(filepath.Join(dir, manifestName)); err == nil && len(segs) >= n {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("the child wrote no segments")
}
