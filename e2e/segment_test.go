package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/bench"
	"github.com/journey-dev/journey/internal/testutil"
)

// TestSegmentSnippetsInChromium runs the README's analytics-next snippets
// (every `AnalyticsBrowser.load(...)` it prints: the cdnURL form and the
// inline cdnSettings form, with the token and host replaced) in Debian's
// Chromium with the real npm package (test/segment/e2e.mjs bundles it with
// esbuild), through page, track, alias, identify, group and two tracks.
// No request to Journey may fail, nothing may reach another host (the pages
// stay open past the 30 s after which analytics-next sends its metrics),
// the console stays clean, and events, the person and the group read back
// exactly, the tracks after the group call carrying the account.
// JOURNEY_README names another README to try an edit before making it.
func TestSegmentSnippetsInChromium(t *testing.T) {
	root, _ := filepath.Abs("..")
	chromium := os.Getenv("CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	_, errBrowser := os.Stat(chromium)
	_, errModules := os.Stat(filepath.Join(root, "test/segment/node_modules/@segment/analytics-next"))
	_, errNode := exec.LookPath("node")
	if errBrowser != nil || errModules != nil || errNode != nil {
		testutil.Missing(t, "needs chromium, node and test/segment/node_modules (scripts/test-deps.sh): %v; %v; %v", errBrowser, errModules, errNode)
	}
	readme := os.Getenv("JOURNEY_README")
	if readme == "" {
		readme = filepath.Join(root, "README.md")
	}
	snippets := readmeSegmentSnippets(t, readme)

	srv, err := bench.StartServer(binary, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Kill()
	host := strings.TrimPrefix(srv.URL, "http://")
	var runs []segmentRun
	for i, load := range snippets {
		token, secret, err := srv.CreateProject(fmt.Sprintf("segment-%d", i))
		if err != nil {
			t.Fatal(err)
		}
		load = strings.ReplaceAll(jptLiteral.ReplaceAllString(load, "'"+token+"'"), "localhost:8000", host)
		n := fmt.Sprint(i)
		runs = append(runs, segmentRun{Name: n + ": " + load, Load: load, token: token, secret: secret, cdnURL: strings.Contains(load, "cdnURL"),
			IDs: map[string]string{"user": "user-" + n, "alias": "alias-" + n, "group": "acme-" + n, "email": "ada" + n + "@acme.test"}})
	}
	reports := runSegmentPages(t, root, chromium, srv.URL, runs)
	if err := srv.WaitLoaded(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	for i, r := range runs {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			checkSegmentReport(t, r, reports[r.Name])
			checkSegmentData(t, srv.URL, r, reports[r.Name].AnonymousID)
		})
	}
}

// jptLiteral is a quoted project token in a README snippet.
var jptLiteral = regexp.MustCompile(`'jpt_[^']*'|"jpt_[^"]*"`)

// readmeSegmentSnippets returns each AnalyticsBrowser.load(...) call the
// README prints; there must be one with cdnURL and one with cdnSettings.
func readmeSegmentSnippets(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	seen := map[string]bool{}
	forms := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		i := strings.Index(line, "AnalyticsBrowser.load(")
		if i < 0 {
			continue
		}
		call, ok := balancedCall(line[i:])
		if !ok {
			t.Fatalf("README: unbalanced snippet %q (keep each load call on one line)", line)
		}
		for _, f := range []string{"cdnURL", "cdnSettings"} {
			if strings.Contains(call, f) {
				forms[f] = true
			}
		}
		if !seen[call] {
			seen[call] = true
			out = append(out, call)
		}
	}
	if !forms["cdnURL"] || !forms["cdnSettings"] {
		t.Fatalf("%s should print AnalyticsBrowser.load with cdnURL and with cdnSettings; found %q", path, out)
	}
	return out
}

// balancedCall returns s up to the parenthesis closing its first one,
// skipping quoted strings.
func balancedCall(s string) (string, bool) {
	depth := 0
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == '\\' {
				i++
			} else if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"' || c == '`':
			quote = c
		case c == '(':
			depth++
		case c == ')':
			if depth--; depth == 0 {
				return s[:i+1], true
			}
		}
	}
	return "", false
}

type segmentRun struct {
	Name   string            `json:"name"`
	Load   string            `json:"load"`
	IDs    map[string]string `json:"ids"`
	token  string
	secret string
	cdnURL bool
}

// segmentReport is one line of e2e.mjs's output.
type segmentReport struct {
	Snippet       string   `json:"snippet"`
	AnonymousID   string   `json:"anonymousId"`
	Journey       []string `json:"journey"`
	Failed        []string `json:"failed"`
	ConsoleErrors []string `json:"consoleErrors"`
	Foreign       []string `json:"foreign"`
}

func runSegmentPages(t *testing.T, root, chromium, url string, runs []segmentRun) map[string]segmentReport {
	t.Helper()
	spec, _ := json.Marshal(runs)
	cmd := exec.Command("node", "e2e.mjs")
	cmd.Dir = filepath.Join(root, "test/segment")
	cmd.Env = append(os.Environ(), "JOURNEY_URL="+url, "CHROMIUM="+chromium, "SNIPPETS="+string(spec))
	out, err := cmd.CombinedOutput()
	t.Logf("e2e.mjs output:\n%s", out)
	reports := map[string]segmentReport{}
	for _, line := range strings.Split(string(out), "\n") {
		var r segmentReport
		if strings.HasPrefix(line, `{"snippet"`) && json.Unmarshal([]byte(line), &r) == nil {
			reports[r.Snippet] = r
		}
	}
	if len(reports) != len(runs) {
		t.Fatalf("e2e.mjs reported %d of %d snippets (%v)", len(reports), len(runs), err)
	}
	return reports
}

func checkSegmentReport(t *testing.T, r segmentRun, rep segmentReport) {
	t.Logf("snippet %s", r.Load)
	if len(rep.Failed)+len(rep.ConsoleErrors)+len(rep.Foreign) > 0 {
		t.Errorf("failed requests %q, console errors %q, requests to other hosts %q", rep.Failed, rep.ConsoleErrors, rep.Foreign)
	}
	want := []string{"POST /v1/p 200", "POST /v1/t 200", "POST /v1/a 200", "POST /v1/i 200", "POST /v1/g 200", "POST /v1/t 200", "POST /v1/t 200"}
	if r.cdnURL {
		want = append([]string{"GET /v1/projects/" + r.token + "/settings 200"}, want...)
	}
	// analytics.js may have two calls in flight at once, so their order
	// is not fixed: the settings come first, then these requests in any
	// order (checkSegmentData checks what each one carried).
	got := slices.Clone(rep.Journey)
	if r.cdnURL && len(got) > 0 {
		if got[0] != want[0] {
			t.Errorf("first request to Journey = %q, want %q", got[0], want[0])
		}
		got, want = got[1:], want[1:]
	}
	slices.Sort(got)
	slices.Sort(want)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("requests to Journey = %q, want %q in any order", rep.Journey, want)
	}
}

// checkSegmentData reads back what the page sent: every event with its
// distinct id and properties, one person with three ids and the traits,
// and the group with its traits.
func checkSegmentData(t *testing.T, url string, r segmentRun, anon string) {
	ids := r.IDs
	if anon == "" {
		t.Fatal("the page reported no anonymous id")
	}
	acct := map[string]any{"company": ids["group"]}
	type want struct {
		distinct string
		props    map[string]any
	}
	wants := map[string]want{
		"$pageview":      {anon, map[string]any{"$pathname": "/shop", "search": "?ref=e2e", "$groups": nil}},
		"signup_clicked": {anon, map[string]any{"plan": "pro", "$groups": nil}},
		"$create_alias":  {ids["alias"], map[string]any{"alias": anon, "$groups": nil}},
		"$identify":      {ids["user"], map[string]any{"$anon_distinct_id": anon, "$groups": nil}},
		"$groupidentify": {ids["user"], map[string]any{"$group_type": "company", "$group_key": ids["group"], "$groups": acct,
			"$group_set": map[string]any{"name": "Acme Inc", "employees": 42.0}}},
		"report_run": {ids["user"], map[string]any{"rows": 3.0, "$groups": acct}}, // no groupId sent: the person's account
		"exported":   {ids["user"], map[string]any{"format": "csv", "$groups": acct}},
	}
	rows := sqlRows(t, url, r.secret, "SELECT event, distinct_id, person_id, properties FROM events")
	if len(rows) != len(wants) {
		t.Fatalf("stored %d events, want %d: %v", len(rows), len(wants), rows)
	}
	persons := map[any]bool{}
	for _, row := range rows {
		name, _ := row[0].(string)
		w, ok := wants[name]
		var props map[string]any
		if err := json.Unmarshal([]byte(row[3].(string)), &props); err != nil || !ok || row[1] != w.distinct {
			t.Errorf("event %v, want one of %v", row, wants)
			continue
		}
		persons[row[2]] = true
		w.props["$lib"], w.props["$lib_version"] = "analytics.js", "npm:next-1.84.3"
		for k, v := range w.props {
			if !reflect.DeepEqual(props[k], v) {
				t.Errorf("%s: %s = %v, want %v (properties %v)", name, k, props[k], v, props)
			}
		}
		delete(wants, name)
	}
	if len(persons) != 1 {
		t.Errorf("events of %d persons, want 1", len(persons))
	}
	p := personOf(t, url, r.secret, ids["alias"])
	sort.Strings(p.DistinctIDs)
	wantIDs := []string{ids["alias"], anon, ids["user"]}
	sort.Strings(wantIDs)
	if !reflect.DeepEqual(p.DistinctIDs, wantIDs) || !reflect.DeepEqual(p.Properties, map[string]any{"email": ids["email"], "name": "Ada"}) {
		t.Errorf("person = %+v, want ids %v and the identify traits", p, wantIDs)
	}
	groups := sqlRows(t, url, r.secret, "SELECT group_type, group_key, properties FROM groups")
	if len(groups) != 1 || groups[0][0] != "company" || groups[0][1] != ids["group"] || groups[0][2] != `{"employees":42,"name":"Acme Inc"}` {
		t.Errorf("groups = %v", groups)
	}
}

func sqlRows(t *testing.T, url, secret, sql string) [][]any {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"kind": "sql", "query": sql})
	var res struct {
		Rows [][]any `json:"rows"`
	}
	if err := json.Unmarshal([]byte(query(t, url, secret, string(body))), &res); err != nil {
		t.Fatal(err)
	}
	return res.Rows
}

type e2ePerson struct {
	DistinctIDs []string       `json:"distinct_ids"`
	Properties  map[string]any `json:"properties"`
}

func personOf(t *testing.T, url, secret, distinct string) e2ePerson {
	t.Helper()
	req, _ := http.NewRequest("GET", url+"/api/v1/persons/by-distinct-id/"+distinct, nil)
	req.Header.Set("Authorization", "Bearer "+secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var p e2ePerson
	if err := json.NewDecoder(resp.Body).Decode(&p); err != nil || resp.StatusCode != 200 {
		t.Fatalf("person %s: %d %v", distinct, resp.StatusCode, err)
	}
	return p
}
