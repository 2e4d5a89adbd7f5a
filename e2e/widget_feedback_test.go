package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/bench"
	"github.com/journey-dev/journey/internal/testutil"
)

// TestFeedbackWidgetInChromium: Journey's feedback widget
// (/widget/feedback.js, one script tag) on pages of another origin in
// Chromium (test/ui/widget.mjs): without analytics, with posthog-js (the
// pinned copy in test/ui/node_modules) and with posthog-js arriving after
// the feedback. Every submission is keyboard-only (Tab and Enter), with
// the focus trap, Esc and the empty-message alert checked on the way.
// Then, in Journey's store, each item's person is the person of the
// page's events: every event of the item's distinct id (its
// $feedback_submitted too) and of the user the page identified as has one
// person, and the ranking gives the item that person.
func TestFeedbackWidgetInChromium(t *testing.T) {
	chromium := os.Getenv("CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	root, _ := filepath.Abs("..")
	_, errBrowser := os.Stat(chromium)
	_, errModules := os.Stat(filepath.Join(root, "test/ui/node_modules/posthog-js/dist/array.js"))
	_, errNode := exec.LookPath("node")
	if errBrowser != nil || errModules != nil || errNode != nil {
		testutil.Missing(t, "needs chromium, node and test/ui/node_modules (scripts/test-deps.sh): %v; %v; %v", errBrowser, errModules, errNode)
	}
	srv, err := bench.StartServer(binary, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Kill()
	token, secret, err := srv.CreateProject("widget-site")
	if err != nil {
		t.Fatal(err)
	}
	reportPath := filepath.Join(t.TempDir(), "report.json")
	cmd := exec.Command("node", "widget.mjs")
	cmd.Dir = filepath.Join(root, "test/ui")
	cmd.Env = append(os.Environ(), "JOURNEY_URL="+srv.URL, "TOKEN="+token, "CHROMIUM="+chromium, "REPORT="+reportPath)
	out, err := cmd.CombinedOutput()
	t.Logf("widget.mjs output:\n%s", out)
	var rep struct {
		Cases []struct {
			Page       string `json:"page"`
			ID         int64  `json:"id"`
			DistinctID string `json:"distinct_id"`
			User       string `json:"user"`
		} `json:"cases"`
		Problems []string `json:"problems"`
	}
	if b, rerr := os.ReadFile(reportPath); rerr != nil || json.Unmarshal(b, &rep) != nil {
		t.Fatalf("no report from widget.mjs (%v): %v", err, rerr)
	}
	if err != nil || len(rep.Problems) > 0 || len(rep.Cases) != 3 {
		t.Fatalf("widget.mjs failed (%v): %v; cases %+v", err, rep.Problems, rep.Cases)
	}
	if err := srv.WaitLoaded(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	persons := map[string]float64{}
	for _, c := range rep.Cases {
		if c.DistinctID == c.User {
			t.Fatalf("%s: the item's distinct id is the user's own (%s): nothing to join", c.Page, c.User)
		}
		persons[c.Page] = onePerson(t, srv.URL, secret, c.Page, c.DistinctID, c.User)
	}
	if persons["plain"] == persons["posthog"] || persons["posthog"] == persons["late"] || persons["plain"] == persons["late"] {
		t.Fatalf("the three visitors share persons: %v", persons)
	}

	// The ranking finds each item's person now and stores it on the item.
	var ranked struct {
		Items []struct {
			ID      int64 `json:"id"`
			Persons int   `json:"persons"`
		} `json:"items"`
	}
	apiCall(t, srv.URL, secret, "GET", "/api/v1/feedback?sort=persons", "", http.StatusOK, &ranked)
	if len(ranked.Items) != 3 {
		t.Fatalf("ranked items %+v, want the 3 the pages sent", ranked.Items)
	}
	for _, c := range rep.Cases {
		var item struct {
			Source     string  `json:"source"`
			DistinctID string  `json:"distinct_id"`
			PersonID   float64 `json:"person_id"`
			Tags       []string
		}
		apiCall(t, srv.URL, secret, "GET", fmt.Sprintf("/api/v1/feedback/%d", c.ID), "", http.StatusOK, &item)
		if item.Source != "widget" || item.DistinctID != c.DistinctID || item.PersonID != persons[c.Page] || strings.Join(item.Tags, ",") != "site,checkout" {
			t.Errorf("%s: item %+v, want source widget, distinct id %s, person %v, tags site,checkout", c.Page, item, c.DistinctID, persons[c.Page])
		}
	}
}

// onePerson checks that the events of the item's distinct id (its
// $feedback_submitted among them) and of the user the page identified as
// have one person, and returns it. Events the page sent without a person
// ($process_person_profile false: posthog-js's anonymous events before
// identify) are not counted: they name no person. The event log is
// loaded in the background, and the merge may land after the first rows:
// poll a while.
func onePerson(t *testing.T, url, secret, page, itemDID, user string) float64 {
	t.Helper()
	q := fmt.Sprintf(`SELECT event, distinct_id, person_id, properties FROM events WHERE distinct_id IN ('%s', '%s')`, itemDID, user)
	var got map[float64][]string
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		got = map[float64][]string{}
		feedback, own, personless := 0, 0, 0
		for _, r := range sqlRows(t, url, secret, q) {
			var props map[string]any
			json.Unmarshal([]byte(fmt.Sprint(r[3])), &props)
			if props["$process_person_profile"] == false {
				personless++
				continue
			}
			person := r[2].(float64)
			got[person] = append(got[person], fmt.Sprintf("%s/%s", r[0], r[1]))
			switch {
			case r[0] == "$feedback_submitted" && r[1] == itemDID:
				feedback++
			case r[1] == user && r[0] != "$identify":
				own++
			}
		}
		if len(got) == 1 && feedback == 1 && own >= 1 {
			for person := range got {
				t.Logf("%s: person %v has %d events of %s and %s (%d more sent without a person)", page, person, len(got[person]), itemDID, user, personless)
				return person
			}
		}
	}
	t.Fatalf("%s: the events of %s (the feedback) and %s (the page's user) by person: %v; want one person with the feedback and the user's own events", page, itemDID, user, got)
	return 0
}
