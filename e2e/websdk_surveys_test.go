package e2e

import (
	"encoding/json"
	"fmt"
	"io"
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

// browserSurvey is an NPS popover as PostHog's API creates one: one 0–10
// rating question, shown at once on every page, started a minute ago.
func browserSurvey() string {
	start := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
	return `{"name":"NPS","type":"popover","start_date":"` + start + `",
	 "questions":[{"id":"nps","type":"rating","display":"number","scale":10,"question":"How likely are you to recommend Journey?",
	   "lowerBoundLabel":"Unlikely","upperBoundLabel":"Very likely"}],
	 "conditions":{"seenSurveyWaitPeriodInDays":30},
	 "appearance":{"position":"right","displayThankYouMessage":true,"thankYouMessageHeader":"Thanks!"}}`
}

// TestPostHogSurveyInChromium: posthog-js 1.449.2, loaded by the
// README's snippet from Journey's /static, in Chromium
// (test/ui/posthog-survey.mjs) on a page of another origin, with a
// Journey NPS popover running. posthog-js reads Journey's remote config,
// lazy-loads surveys.js from Journey and asks /api/surveys/ (no request
// fails, none goes elsewhere, no console error); the popover shows; the
// script answers 9 by clicking in the page; the answer arrives as
// `survey sent` with PostHog's properties ($survey_id,
// $survey_response_<question id>, $survey_questions, $survey_completed,
// $set of $survey_responded/<id>), is stored for the identified person,
// and the results endpoint counts that person as one NPS promoter.
func TestPostHogSurveyInChromium(t *testing.T) {
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
	token, secret, err := srv.CreateProject("surveys-web")
	if err != nil {
		t.Fatal(err)
	}
	var created struct {
		ID     int64  `json:"id"`
		Status string `json:"status"`
	}
	apiCall(t, srv.URL, secret, "POST", "/api/v1/surveys", browserSurvey(), http.StatusCreated, &created)
	if created.ID == 0 || created.Status != "running" {
		t.Fatalf("created survey %+v", created)
	}
	id := fmt.Sprint(created.ID)
	checkServedBundle(t, root, srv.URL)

	snippet := readmePostHogSnippet(t, filepath.Join(root, "README.md"), token, srv.URL)
	reportPath := filepath.Join(t.TempDir(), "report.json")
	const user, score = "nps-user@shop.test", 9
	cmd := exec.Command("node", "posthog-survey.mjs")
	cmd.Dir = filepath.Join(root, "test/ui")
	cmd.Env = append(os.Environ(), "JOURNEY_URL="+srv.URL, "SNIPPET="+snippet, "CHROMIUM="+chromium, "REPORT="+reportPath,
		"SURVEY_ID="+id, "USER_ID="+user, fmt.Sprintf("SCORE=%d", score))
	out, err := cmd.CombinedOutput()
	t.Logf("posthog-survey.mjs output:\n%s", out)
	var rep struct {
		Version  string           `json:"version"`
		Events   []map[string]any `json:"events"`
		Requests []struct {
			Method, URL string
			Status      *int
			Failure     *string
		} `json:"requests"`
		Surveys struct {
			Surveys []map[string]any `json:"surveys"`
		} `json:"surveys"`
		Problems []string `json:"problems"`
	}
	if b, rerr := os.ReadFile(reportPath); rerr != nil || json.Unmarshal(b, &rep) != nil {
		t.Fatalf("no report from posthog-survey.mjs (%v): %v", err, rerr)
	}
	if err != nil || len(rep.Problems) > 0 {
		for _, r := range rep.Requests {
			t.Logf("request %s %s: %v %v", r.Method, r.URL, r.Status, r.Failure)
		}
		t.Fatalf("posthog-survey.mjs failed (%v): %v", err, rep.Problems)
	}
	if rep.Version != websdk.PostHogJSVersion {
		t.Errorf("posthog-js %s ran, want %s", rep.Version, websdk.PostHogJSVersion)
	}
	// It fetched the list and the bundle from Journey, and both answered.
	fetched := map[string]bool{}
	for _, r := range rep.Requests {
		if r.Failure != nil || r.Status == nil || *r.Status >= 400 {
			t.Errorf("request %s %s: status %v, failure %v", r.Method, r.URL, r.Status, r.Failure)
		}
		switch {
		case strings.HasPrefix(r.URL, srv.URL+"/api/surveys/?token="+token):
			fetched["surveys"] = true
		case strings.HasPrefix(r.URL, srv.URL+"/static/surveys.js"), strings.HasPrefix(r.URL, srv.URL+"/static/"+websdk.PostHogJSVersion+"/surveys.js"):
			fetched["bundle"] = true
		}
	}
	if !fetched["surveys"] || !fetched["bundle"] || len(rep.Surveys.Surveys) != 1 || rep.Surveys.Surveys[0]["id"] != id {
		t.Fatalf("fetched %v; /api/surveys/ answered %v", fetched, rep.Surveys)
	}
	sent := checkSurveySent(t, rep.Events, id, user, score)

	// Stored as sent, for the identified person.
	if err := srv.WaitLoaded(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	var rows [][]any
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline) && len(rows) == 0; time.Sleep(200 * time.Millisecond) {
		rows = sqlRows(t, srv.URL, secret, "SELECT uuid, distinct_id, properties FROM events WHERE event = 'survey sent'")
	}
	if len(rows) != 1 || rows[0][0] != sent["uuid"] || rows[0][1] != user {
		t.Fatalf("stored survey sent events = %v, want the one the page sent (%v)", rows, sent["uuid"])
	}
	var stored map[string]any
	if err := json.Unmarshal([]byte(fmt.Sprint(rows[0][2])), &stored); err != nil || stored["$survey_response_nps"] != float64(score) || stored["$survey_id"] != id {
		t.Fatalf("stored properties %v (%v)", rows[0][2], err)
	}

	// The person's NPS in the results.
	var res struct {
		Respondents int `json:"respondents"`
		Questions   []struct {
			ID  string `json:"id"`
			NPS *struct {
				Promoters, Passives, Detractors int
				Score                           float64
			} `json:"nps"`
			Distribution []struct {
				Value string
				Count int
			} `json:"distribution"`
		} `json:"questions"`
	}
	apiCall(t, srv.URL, secret, "GET", "/api/v1/surveys/"+id+"/results", "", http.StatusOK, &res)
	if res.Respondents != 1 || len(res.Questions) != 1 || res.Questions[0].NPS == nil || res.Questions[0].NPS.Promoters != 1 ||
		res.Questions[0].NPS.Score != 100 || res.Questions[0].Distribution[score].Count != 1 {
		t.Fatalf("results = %+v", res)
	}
}

// checkSurveySent finds the page's one `survey sent` event and checks
// PostHog's properties on it.
func checkSurveySent(t *testing.T, events []map[string]any, id, user string, score int) map[string]any {
	t.Helper()
	var sent []map[string]any
	shown := false
	for _, e := range events {
		switch e["event"] {
		case "survey sent":
			sent = append(sent, e)
		case "survey shown":
			shown = true
		}
	}
	if len(sent) != 1 || !shown {
		t.Fatalf("%d survey sent events (survey shown: %v), want one after it was shown", len(sent), shown)
	}
	e := sent[0]
	p, _ := e["properties"].(map[string]any)
	qs, _ := p["$survey_questions"].([]any)
	set, _ := e["$set"].(map[string]any)
	if set == nil {
		set, _ = p["$set"].(map[string]any)
	}
	if p["$survey_id"] != id || p["$survey_response_nps"] != float64(score) || p["$survey_completed"] != true || p["distinct_id"] != user ||
		len(qs) != 1 || qs[0].(map[string]any)["id"] != "nps" || qs[0].(map[string]any)["response"] != float64(score) ||
		set["$survey_responded/"+id] != true || p["$survey_submission_id"] == nil {
		t.Fatalf("survey sent = %v", e)
	}
	return e
}

// apiCall sends a secret-key request and decodes the answer into out.
func apiCall(t *testing.T, url, secret, method, path, body string, want int, out any) {
	t.Helper()
	req, _ := http.NewRequest(method, url+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+secret)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want || (out != nil && json.Unmarshal(raw, out) != nil) {
		t.Fatalf("%s %s: %d %s, want %d", method, path, resp.StatusCode, raw, want)
	}
}
