package e2e

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/bench"
	"github.com/journey-dev/journey/internal/testutil"
	"github.com/journey-dev/journey/internal/websdk"
)

// TestPostHogSnippetInChromium loads the Settings snippet (PostHog's
// loader, with posthog-js served by Journey) in a page of another origin
// in Chromium (test/ui/posthog-snippet.mjs): no request to Journey may
// fail and no console error may show, and the page view, the autocaptured
// click on "Buy now", a custom event and identify must be stored. Then
// Settings' Browser SDK section turns autocapture off, in the same browser.
func TestPostHogSnippetInChromium(t *testing.T) {
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
	srv, err := bench.StartServer(binary, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Kill()
	token, secret, err := srv.CreateProject("web")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("node", "posthog-snippet.mjs")
	cmd.Dir = filepath.Join(root, "test/ui")
	cmd.Env = append(os.Environ(), "JOURNEY_URL="+srv.URL, "SNIPPET="+websdk.Snippet(token, srv.URL), "CHROMIUM="+chromium,
		"JOURNEY_ADMIN_KEY="+srv.AdminKey, "TOKEN="+token, "SHOT_DIR="+os.Getenv("JOURNEY_SCREENSHOTS"))
	out, err := cmd.CombinedOutput()
	t.Logf("posthog-snippet.mjs output:\n%s", out)
	if err != nil {
		t.Fatalf("posthog-js snippet check failed: %v", err)
	}
	if !strings.Contains(string(out), "ok Settings:") {
		t.Fatal("posthog-snippet.mjs did not check the Settings page")
	}
	var missing []string
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if missing = missingEvents(storedEvents(t, srv.URL, secret)); len(missing) == 0 {
			return
		}
	}
	t.Fatalf("not stored: %v", missing)
}

// missingEvents names what the page sent that is not among rows: the
// click must be stored with its element chain.
func missingEvents(rows [][2]string) []string {
	seen := map[string]bool{}
	for _, row := range rows {
		if row[0] != "$autocapture" || strings.HasPrefix(row[1], "button") && strings.Contains(row[1], `text="Buy now"`) {
			seen[row[0]] = true
		}
	}
	var missing []string
	for _, ev := range []string{"$pageview", "$autocapture", "snippet_checked", "$identify"} {
		if !seen[ev] {
			missing = append(missing, ev)
		}
	}
	return missing
}

// storedEvents reads [event, $elements_chain] of every stored event.
func storedEvents(t *testing.T, url, secret string) [][2]string {
	t.Helper()
	q := `{"kind":"sql","query":"SELECT event, coalesce(json_extract_string(properties, '$.$elements_chain'), '') FROM events"}`
	req, _ := http.NewRequest("POST", url+"/api/v1/query", strings.NewReader(q))
	req.Header.Set("Authorization", "Bearer "+secret)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var res struct {
		Rows [][]string `json:"rows"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil || resp.StatusCode != 200 {
		t.Fatalf("query: %s %v", resp.Status, err)
	}
	out := make([][2]string, len(res.Rows))
	for i, r := range res.Rows {
		if len(r) == 2 {
			out[i] = [2]string{r[0], r[1]}
		}
	}
	return out
}
