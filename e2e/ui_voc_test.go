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

// TestVoCUIInChromium drives the voice-of-customer UI in Debian's Chromium
// through playwright-core (test/ui/voc.mjs) against a fresh server:
// feedback created through the secret-key API appears in the inbox, is
// found by Korean and English searches and by the theme and tag filters;
// an item is triaged (status, priority, tags), gets a note and a reply
// (its first response), and a duplicate is merged into it; the themes
// page ranks the themes as GET /themes does for each sort (persons,
// accounts, revenue from the accounts' MRR, bad days) and shows the
// formula; an NPS survey made in the editor gets answers and shows its
// score, chart and segments; the home page puts the top theme beside the
// stage of its customers and shows the NPS and the SLA breaches.
// Screenshots go to $JOURNEY_SCREENSHOTS (default test/ui/screenshots).
func TestVoCUIInChromium(t *testing.T) {
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
	srv, err := bench.StartServer(binary, t.TempDir(), "--no-sync")
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
	cmd := exec.Command("node", "voc.mjs")
	cmd.Dir = filepath.Join(root, "test/ui")
	cmd.Env = append(os.Environ(), "JOURNEY_URL="+srv.URL, "JOURNEY_ADMIN_KEY="+srv.AdminKey, "CHROMIUM="+chromium, "SHOT_DIR="+shots)
	out, err := cmd.CombinedOutput()
	t.Logf("voc.mjs output:\n%s", out)
	if err != nil {
		t.Fatalf("VoC UI test failed: %v", err)
	}
	if !strings.Contains(string(out), " passed, 0 failed") {
		t.Fatal("voc.mjs did not report its steps")
	}
}
