package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/bench"
	"github.com/journey-dev/journey/internal/testutil"
	"github.com/journey-dev/journey/internal/websdk"
)

// TestPostHogSnippetInChromium loads the README's posthog-js snippet (the
// html block after "posthog-js:", token and host filled in: PostHog's
// loader, with posthog-js served by Journey) in a page of another origin
// in Chromium (test/ui/posthog-snippet.mjs). No request to Journey may
// fail and no console error may show. The page view, the autocaptured
// click on "Buy now", a custom event, identify, a group and an event in
// it, a rage click, reset and an event of the new anonymous visitor, and
// $pageleave by beacon must be stored exactly as the page sent them (every
// event once, its properties unchanged but for Journey's $ip), the
// identified person with both distinct ids and what posthog-js set, and
// the group with its properties. Then Settings must show the same snippet,
// and its Browser SDK section turns autocapture off, in the same browser.
// JOURNEY_README names another README to try an edit before making it.
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
	readme := os.Getenv("JOURNEY_README")
	if readme == "" {
		readme = filepath.Join(root, "README.md")
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
	snippet := readmePostHogSnippet(t, readme, token, srv.URL)
	reportPath := filepath.Join(t.TempDir(), "report.json")
	cmd := exec.Command("node", "posthog-snippet.mjs")
	cmd.Dir = filepath.Join(root, "test/ui")
	cmd.Env = append(os.Environ(), "JOURNEY_URL="+srv.URL, "SNIPPET="+snippet, "CHROMIUM="+chromium, "REPORT="+reportPath,
		"JOURNEY_ADMIN_KEY="+srv.AdminKey, "TOKEN="+token, "SHOT_DIR="+os.Getenv("JOURNEY_SCREENSHOTS"))
	out, err := cmd.CombinedOutput()
	t.Logf("posthog-snippet.mjs output:\n%s", out)
	if err != nil {
		t.Fatalf("posthog-js snippet check failed: %v", err)
	}
	if !strings.Contains(string(out), "ok Settings:") {
		t.Fatal("posthog-snippet.mjs did not check the Settings page")
	}
	var rep phReport
	if b, err := os.ReadFile(reportPath); err != nil || json.Unmarshal(b, &rep) != nil {
		t.Fatalf("no report from posthog-snippet.mjs: %v", err)
	}
	checkPostHogSent(t, rep)
	rows := storedPostHogEvents(t, srv.URL, secret, len(rep.Events))
	checkPostHogStored(t, rep, rows)
	checkPostHogPersons(t, srv.URL, secret, rep, rows)
	checkPostHogInsights(t, srv.URL, secret, rep)
	groups := sqlRows(t, srv.URL, secret, "SELECT group_type, group_key, properties FROM groups")
	if want := [][]any{{"company", "acme", `{"name":"Acme"}`}}; !reflect.DeepEqual(groups, want) {
		t.Errorf("groups = %v, want %v", groups, want)
	}
}

// readmePostHogSnippet returns the html block README.md prints after the
// line "posthog-js:", with its token and host replaced.
func readmePostHogSnippet(t *testing.T, path, token, host string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "\nposthog-js:\n")
	if !ok {
		t.Fatalf(`%s has no line "posthog-js:"`, path)
	}
	block, ok := strings.CutPrefix(strings.TrimLeft(rest, "\n"), "```html\n")
	if !ok {
		t.Fatalf(`%s: no html block right after "posthog-js:"`, path)
	}
	block, _, ok = strings.Cut(block, "```")
	if !ok {
		t.Fatalf("%s: the posthog-js snippet's block is not closed", path)
	}
	if !strings.Contains(block, "jpt_your_project_token") || !strings.Contains(block, "http://localhost:8000") {
		t.Fatalf("%s: the posthog-js snippet should name jpt_your_project_token and http://localhost:8000:\n%s", path, block)
	}
	return strings.TrimSpace(strings.ReplaceAll(strings.ReplaceAll(block, "jpt_your_project_token", token), "http://localhost:8000", host))
}

// phReport is what posthog-snippet.mjs writes to REPORT: the page's
// origin, its distinct ids and every event it sent, decoded from the
// request bodies.
type phReport struct {
	Origin string `json:"origin"`
	IDs    struct {
		Anonymous  string `json:"anonymous"`
		Identified string `json:"identified"`
		Reset      string `json:"reset"`
	} `json:"ids"`
	Events []phEvent `json:"events"`
}

type phEvent struct {
	UUID       string         `json:"uuid"`
	Event      string         `json:"event"`
	Timestamp  string         `json:"timestamp"`
	Properties map[string]any `json:"properties"`
	Set        map[string]any `json:"$set"`
	SetOnce    map[string]any `json:"$set_once"`
	Transport  string         `json:"transport"`
}

func (e phEvent) distinctID() string { s, _ := e.Properties["distinct_id"].(string); return s }

// The element chains of the two buttons, as posthog-js 1.449.2 writes
// them (elementsChainAsString).
const (
	chainBuy    = `button.cta:attr__class="cta"attr__id="buy"attr_id="buy"nth-child="2"nth-of-type="1"text="Buy now";body:nth-child="2"nth-of-type="1"`
	chainCoupon = `button.coupon:attr__class="coupon"attr__id="coupon"attr_id="coupon"nth-child="3"nth-of-type="2"text="Apply coupon";body:nth-child="2"nth-of-type="1"`
)

// checkPostHogSent checks what the page sent: the script's events, in
// order, from the right distinct id with the right properties, plus the
// web vitals posthog-js reports when it likes.
func checkPostHogSent(t *testing.T, rep phReport) {
	t.Helper()
	anon, user, reset := rep.IDs.Anonymous, rep.IDs.Identified, rep.IDs.Reset
	if anon == "" || user != "snippet-user-1" || reset == "" || reset == anon {
		t.Fatalf("distinct ids %+v: want an anonymous one, snippet-user-1, and another anonymous one after reset", rep.IDs)
	}
	acme := map[string]any{"company": "acme"}
	type want struct {
		event, distinct string
		props           map[string]any // nil values: absent
	}
	click := func(distinct, chain, text string, groups any) want {
		return want{"$autocapture", distinct, map[string]any{"$elements_chain": chain, "$el_text": text, "$event_type": "click", "$groups": groups}}
	}
	wants := []want{
		{"$pageview", anon, map[string]any{"$pathname": "/", "title": "Shop", "$groups": nil}},
		click(anon, chainBuy, "Buy now", nil),
		{"snippet_checked", anon, map[string]any{"source": "posthog-snippet.mjs", "$groups": nil}},
		{"$identify", user, map[string]any{"$anon_distinct_id": anon, "$groups": nil}},
		{"$groupidentify", user, map[string]any{"$group_type": "company", "$group_key": "acme", "$group_set": map[string]any{"name": "Acme"}, "$groups": acme}},
		{"group_checked", user, map[string]any{"step": 2.0, "$groups": acme}},
		click(user, chainCoupon, "Apply coupon", acme),
		click(user, chainCoupon, "Apply coupon", acme),
		{"$rageclick", user, map[string]any{"$elements_chain": chainCoupon, "$el_text": "Apply coupon", "$event_type": "click", "$groups": acme}},
		click(user, chainCoupon, "Apply coupon", acme),
		{"after_reset", reset, map[string]any{"step": 3.0, "$groups": nil}},
		{"$pageleave", reset, map[string]any{"$groups": nil, "$prev_pageview_pathname": "/"}},
	}
	var got []phEvent
	vitals := map[string]bool{}
	for _, e := range rep.Events {
		if e.Event != "$web_vitals" {
			got = append(got, e)
			continue
		}
		if d := e.distinctID(); d != anon && d != user && d != reset {
			t.Errorf("$web_vitals from %q", d)
		}
		for k, v := range e.Properties {
			if m, ok := strings.CutPrefix(k, "$web_vitals_"); ok && strings.HasSuffix(m, "_value") {
				if f, ok := v.(float64); !ok || f < 0 {
					t.Errorf("$web_vitals %s = %v", k, v)
				}
				vitals[strings.TrimSuffix(m, "_value")] = true
			}
		}
	}
	for _, m := range []string{"FCP", "LCP"} {
		if !vitals[m] {
			t.Errorf("no $web_vitals event with %s (%v)", m, vitals)
		}
	}
	var names []string
	for _, e := range got {
		names = append(names, e.Event+" "+e.distinctID())
	}
	t.Logf("sent: %q and %d $web_vitals (%v)", names, len(rep.Events)-len(got), vitals)
	if len(got) != len(wants) {
		t.Fatalf("the page sent %d events besides web vitals, want %d: %q", len(got), len(wants), names)
	}
	for i, w := range wants {
		e := got[i]
		if e.Event != w.event || e.distinctID() != w.distinct {
			t.Fatalf("event %d: %s from %s, want %s from %s (all: %q)", i, e.Event, e.distinctID(), w.event, w.distinct, names)
		}
		w.props["$lib"], w.props["$lib_version"] = "web", websdk.PostHogJSVersion
		w.props["$current_url"] = rep.Origin + "/"
		for k, v := range w.props {
			if got, ok := e.Properties[k]; v == nil && ok || v != nil && !reflect.DeepEqual(got, v) {
				t.Errorf("%s (%d): %s = %v, want %v", e.Event, i, k, got, v)
			}
		}
		if wantBeacon := e.Event == "$pageleave"; (e.Transport == "beacon") != wantBeacon {
			t.Errorf("%s went by %s", e.Event, e.Transport)
		}
	}
	if got[3].Set["email"] != "ada@shop.test" || got[3].Set["plan"] != "pro" {
		t.Errorf("$identify $set = %v", got[3].Set)
	}
}

// storedPostHogEvents waits for n events to be stored and returns them.
func storedPostHogEvents(t *testing.T, url, secret string, n int) [][]any {
	t.Helper()
	var rows [][]any
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if rows = sqlRows(t, url, secret, "SELECT uuid, event, distinct_id, person_id, timestamp, properties FROM events"); len(rows) >= n {
			break
		}
	}
	return rows
}

// checkPostHogStored compares the stored events with the sent ones: each
// exactly once, with its name, distinct id, timestamp and properties, to
// which Journey adds only $ip.
func checkPostHogStored(t *testing.T, rep phReport, rows [][]any) {
	t.Helper()
	sent := map[string]phEvent{}
	for _, e := range rep.Events {
		sent[e.UUID] = e
	}
	if len(rows) != len(sent) {
		t.Errorf("stored %d events, the page sent %d", len(rows), len(sent))
	}
	for _, r := range rows {
		id := fmt.Sprint(r[0])
		e, ok := sent[id]
		if !ok {
			t.Errorf("stored an event the page did not send: %v", r)
			continue
		}
		delete(sent, id)
		if r[1] != e.Event || r[2] != e.distinctID() {
			t.Errorf("%s: stored as %v from %v, sent as %s from %s", id, r[1], r[2], e.Event, e.distinctID())
		}
		st, err1 := time.Parse(time.RFC3339Nano, fmt.Sprint(r[4]))
		sentAt, err2 := time.Parse(time.RFC3339Nano, e.Timestamp)
		if d := st.Sub(sentAt); err1 != nil || err2 != nil || d < -time.Second || d > time.Second {
			t.Errorf("%s %s: stored at %v, sent with timestamp %s", e.Event, id, r[4], e.Timestamp)
		}
		var props map[string]any
		if err := json.Unmarshal([]byte(fmt.Sprint(r[5])), &props); err != nil {
			t.Errorf("%s: properties %v: %v", id, r[5], err)
			continue
		}
		want := map[string]any{"$ip": "127.0.0.1"}
		for k, v := range e.Properties {
			want[k] = v
		}
		for k := range union(props, want) {
			if !reflect.DeepEqual(props[k], want[k]) {
				t.Errorf("%s %s: stored %s = %#v, sent %#v", e.Event, id, k, props[k], want[k])
			}
		}
	}
	for id, e := range sent {
		t.Errorf("not stored: %s %s from %s", e.Event, id, e.distinctID())
	}
}

func union(a, b map[string]any) map[string]bool {
	out := map[string]bool{}
	for k := range a {
		out[k] = true
	}
	for k := range b {
		out[k] = true
	}
	return out
}

// checkPostHogPersons: the anonymous id and snippet-user-1 are one person,
// whose properties are what the page's person events set ($set_once
// first, then $set, in order); the identified id's events are all that
// person's; the visitor after reset is another one, without a profile
// (posthog-js's default person_profiles "identified_only" sends its events
// with $process_person_profile false). The person ids of the anonymous
// events before identify (personless too) are not checked: PostHog counts
// them as the identified person's, Journey keeps them on their own
// personless id.
func checkPostHogPersons(t *testing.T, url, secret string, rep phReport, rows [][]any) {
	t.Helper()
	anon, user, reset := rep.IDs.Anonymous, rep.IDs.Identified, rep.IDs.Reset
	wantProps := map[string]any{}
	for _, e := range rep.Events {
		if e.Properties["$process_person_profile"] != true {
			continue
		}
		for k, v := range e.SetOnce {
			if _, ok := wantProps[k]; !ok {
				wantProps[k] = v
			}
		}
		for k, v := range e.Set {
			wantProps[k] = v
		}
	}
	wantIDs := []string{anon, user}
	sort.Strings(wantIDs)
	for _, d := range []string{user, anon} {
		p := personOf(t, url, secret, d)
		sort.Strings(p.DistinctIDs)
		if !reflect.DeepEqual(p.DistinctIDs, wantIDs) {
			t.Errorf("person of %s has distinct ids %v, want %v", d, p.DistinctIDs, wantIDs)
		}
		for k := range union(p.Properties, wantProps) {
			if !reflect.DeepEqual(p.Properties[k], wantProps[k]) {
				t.Errorf("person of %s: %s = %#v, want %#v", d, k, p.Properties[k], wantProps[k])
			}
		}
	}
	persons := map[string]map[any]bool{user: {}, reset: {}}
	for _, r := range rows {
		if d, _ := r[2].(string); persons[d] != nil {
			persons[d][r[3]] = true
		}
	}
	if len(persons[user]) != 1 || len(persons[reset]) != 1 {
		t.Errorf("person ids of %s's events %v, of %s's %v: want one each", user, persons[user], reset, persons[reset])
	}
	for p := range persons[reset] {
		if persons[user][p] {
			t.Errorf("the visitor after reset has the person of %s", user)
		}
	}
	req, _ := http.NewRequest("GET", url+"/api/v1/persons/by-distinct-id/"+reset, nil)
	req.Header.Set("Authorization", "Bearer "+secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("person of %s (no profile) answered %d, want 404", reset, resp.StatusCode)
	}
}

// checkPostHogInsights: with posthog-js's default person_profiles
// (identified_only) the visitor's anonymous events are personless; after
// identify they are the person's, so insights count one visitor before
// reset and another after it, and funnels over them answer (they were a
// 500 on personless ids).
func checkPostHogInsights(t *testing.T, url, secret string, rep phReport) {
	t.Helper()
	rows := sqlRows(t, url, secret, "SELECT count(DISTINCT person_id) FROM events WHERE distinct_id IN ('"+rep.IDs.Anonymous+"', '"+rep.IDs.Identified+"')")
	if fmt.Sprint(rows) != "[[1]]" {
		t.Errorf("persons of the visitor's anonymous and identified events = %v, want [[1]]", rows)
	}
	from, to := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339), time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	res := query(t, url, secret, `{"kind":"trend","interval":"day","series":[{"event":"$autocapture","math":"dau"}],"from":"`+from+`","to":"`+to+`"}`)
	var trend struct {
		Series []struct {
			Points []struct{ Value float64 } `json:"points"`
		} `json:"series"`
	}
	if err := json.Unmarshal([]byte(res), &trend); err != nil || len(trend.Series) != 1 {
		t.Fatalf("dau of $autocapture: %s", res)
	}
	total := 0.0
	for _, p := range trend.Series[0].Points {
		total += p.Value
	}
	if total != 1 {
		t.Errorf("dau of $autocapture = %v, want 1 (one visitor, before and after identify): %s", total, res)
	}
	res = query(t, url, secret, `{"kind":"funnel","steps":[{"event":"$pageview"},{"event":"$autocapture"}],"from":"`+from+`","to":"`+to+`"}`)
	var funnel struct {
		Steps []struct{ Count int64 } `json:"steps"`
	}
	if err := json.Unmarshal([]byte(res), &funnel); err != nil || len(funnel.Steps) != 2 || funnel.Steps[0].Count < 1 || funnel.Steps[1].Count != 1 {
		t.Errorf("funnel $pageview → $autocapture = %s", res)
	}
}
