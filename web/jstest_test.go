package web

import (
	"os/exec"
	"testing"

	"github.com/journey-dev/journey/internal/testutil"
)

// TestJavaScriptUnits runs the UI's pure-function unit tests (jstest/,
// node's built-in runner), so that `go test ./...` covers them too.
func TestJavaScriptUnits(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		testutil.Missing(t, "node not installed (scripts/test-deps.sh installs it)")
	}
	out, err := exec.Command(node, "--test", "jstest/").CombinedOutput()
	if err != nil {
		t.Fatalf("node --test jstest/: %v\n%s", err, out)
	}
}
