package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/bench"
)

func run(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(binary, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("journey %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestDemoImportQueryCLI runs the commands a newcomer runs: demo (small),
// import of an NDJSON file into the demo shop, serve, and query from the
// terminal.
func TestDemoImportQueryCLI(t *testing.T) {
	dir := t.TempDir()
	out := run(t, "demo", "--data-dir", dir, "--count", "20000", "--days", "14", "--no-serve")
	if !strings.Contains(out, "Loaded ") || !strings.Contains(out, "Demo shop") {
		t.Fatalf("demo output:\n%s", out)
	}
	shop := regexp.MustCompile(`Demo shop\s+token (\S+)\s+secret key (\S+)`).FindStringSubmatch(out)
	if shop == nil {
		t.Fatalf("no shop token and key in:\n%s", out)
	}
	token := shop[1]
	day := time.Now().UTC().Truncate(24 * time.Hour)
	ts := day.Add(time.Hour).Format(time.RFC3339)
	ndjson := filepath.Join(t.TempDir(), "events.ndjson")
	os.WriteFile(ndjson, []byte(strings.Join([]string{
		`{"event":"imported_cli","distinct_id":"cli-1","uuid":"0195f3a4-7c1e-7b7e-9d6a-2f5b8c1d0e11","timestamp":"` + ts + `"}`,
		`{"type":"track","event":"imported_cli","userId":"cli-2","messageId":"cli-m1","timestamp":"` + ts + `"}`,
		`{"event":"imported_cli","distinct_id":"cli-1","uuid":"0195f3a4-7c1e-7b7e-9d6a-2f5b8c1d0e11","timestamp":"` + ts + `"}`,
		`{"event":"imported_cli"}`,
	}, "\n")), 0o644)
	out = run(t, "import", "--data-dir", dir, "--token", token, ndjson)
	if !strings.Contains(out, "imported 2 events, skipped 1 duplicates") || !strings.Contains(out, "skipped 1 invalid") {
		t.Fatalf("import output:\n%s", out)
	}
	// demo --no-serve printed a key; a new one is issued at each start, so
	// serve and take the key from a fresh demo start instead.
	srv, err := bench.StartServer(binary, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Kill()
	q := `{"kind":"trend","series":[{"event":"imported_cli","math":"dau"}],"interval":"day","from":"` + day.Format(time.RFC3339) + `","to":"` + day.AddDate(0, 0, 1).Format(time.RFC3339) + `"}`
	out = run(t, "query", "trend", "--url", srv.URL, "--key", shop[2], "--spec", q, "--json")
	var res struct {
		Series []struct {
			Points []struct{ Value float64 } `json:"points"`
		} `json:"series"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || len(res.Series) != 1 || res.Series[0].Points[0].Value != 2 {
		t.Fatalf("query --json: %v\n%s", err, out)
	}
	out = run(t, "query", "funnel", "--url", srv.URL, "--key", shop[2], "--event", "product_viewed", "--event", "order_completed",
		"--from", day.AddDate(0, 0, -14).Format("2006-01-02"))
	if !strings.Contains(out, "product_viewed") || !strings.Contains(out, "█") {
		t.Fatalf("query funnel table:\n%s", out)
	}
}
