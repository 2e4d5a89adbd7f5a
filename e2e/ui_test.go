package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/journey-dev/journey/internal/bench"
	"github.com/journey-dev/journey/internal/testutil"
)

// TestWebUIInChromium drives the real UI in Debian's Chromium through
// playwright-core (test/ui/e2e.mjs) against `journey demo` data: log in,
// build a funnel, list a step's dropped persons, save it to a dashboard,
// open its share link logged out, revoke it, change a retention period,
// time a six-insight dashboard, and check a phone-width layout; then the
// learning loop: a flag made in the editor (condition, two variants, a
// payload, its rollout preview), an experiment made in the wizard and
// started, exposures ($feature_flag_called with variants) and conversions
// sent to the capture API by the script, its results, a stop with a
// decision, and the experiment found in the learning archive.
// Screenshots go to $JOURNEY_SCREENSHOTS (default test/ui/screenshots).
func TestWebUIInChromium(t *testing.T) {
	chromium := os.Getenv("CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	root, _ := filepath.Abs("..")
	_, errBrowser := os.Stat(chromium)
	_, errModules := os.Stat(filepath.Join(root, "test/ui/node_modules/playwright-core"))
	_, errNode := exec.LookPath("node")
	if errBrowser != nil || errModules != nil || errNode != nil {
		testutil.Missing(t, "needs chromium, node and test/ui/node_modules (scripts/test-deps.sh): %v; %v; %v", errBrowser, errModules, errNode)
	}
	dir := t.TempDir()
	const password = "e2e-password-123"
	run(t, "demo", "--data-dir", dir, "--count", "60000", "--days", "30", "--no-serve", "--password", password)
	srv, err := bench.StartServer(binary, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Kill()
	shots := os.Getenv("JOURNEY_SCREENSHOTS")
	if shots == "" {
		shots = filepath.Join(root, "test/ui/screenshots")
	}
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("node", "e2e.mjs")
	cmd.Dir = filepath.Join(root, "test/ui")
	cmd.Env = append(os.Environ(), "JOURNEY_URL="+srv.URL, "JOURNEY_EMAIL=admin@journey.local", "JOURNEY_PASSWORD="+password,
		"CHROMIUM="+chromium, "SHOT_DIR="+shots)
	out, err := cmd.CombinedOutput()
	t.Logf("e2e.mjs output:\n%s", out)
	if err != nil {
		t.Fatalf("UI end-to-end test failed: %v", err)
	}
	if !strings.Contains(string(out), `"dashboard_render_ms"`) {
		t.Fatal("e2e.mjs did not report the dashboard render time")
	}
}
