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

// TestCampaignsUIInChromium drives the campaigns UI in Debian's Chromium
// through playwright-core (test/ui/campaigns.mjs) against a fresh server
// with campaigns on and a webhook receiver on loopback: the first user
// and a project, a triggered campaign made in the editor (a hint and a
// server-side field error shown beside their fields, the generated
// webhook secret shown once), the list with its numbers and status
// filter, triggers and conversions captured through /batch/, the
// campaign page's report, variants, lift and golden time equal to the
// API's, a preview with a real person, a test send, an edit (PATCH), a
// broadcast to a cohort at a time, the report over time, side by side
// with the broadcast equal to /campaigns/compare, the decision (a growing
// holdout refused, then won with a smaller one, found in the archive),
// pause and resume.
// Screenshots go to $JOURNEY_SCREENSHOTS (default test/ui/screenshots).
func TestCampaignsUIInChromium(t *testing.T) {
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
	srv, err := bench.StartServer(binary, t.TempDir(), "--webhook-allow-private", "--no-sync")
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
	cmd := exec.Command("node", "campaigns.mjs")
	cmd.Dir = filepath.Join(root, "test/ui")
	cmd.Env = append(os.Environ(), "JOURNEY_URL="+srv.URL, "JOURNEY_ADMIN_KEY="+srv.AdminKey, "CHROMIUM="+chromium, "SHOT_DIR="+shots)
	out, err := cmd.CombinedOutput()
	t.Logf("campaigns.mjs output:\n%s", out)
	if err != nil {
		t.Fatalf("campaigns UI test failed: %v", err)
	}
	if !strings.Contains(string(out), " passed, 0 failed") {
		t.Fatal("campaigns.mjs did not report its steps")
	}
}
