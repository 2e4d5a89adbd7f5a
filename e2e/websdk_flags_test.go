package e2e

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/bench"
	"github.com/journey-dev/journey/internal/testutil"
	"github.com/journey-dev/journey/internal/websdk"
)

// The flags of the browser flag test, created with the secret key: a
// boolean flag with a 50 % rollout, a multivariate flag with a payload per
// variant for persons whose plan is pro, and a multivariate flag with
// experience continuity.
const (
	flagRollout    = "new-checkout"
	flagPricing    = "pricing-page"
	flagContinuity = "onboarding"
)

var browserFlags = []string{
	`{"key":"new-checkout","name":"New checkout","active":true,
	  "filters":{"groups":[{"properties":[],"rollout_percentage":50}]}}`,
	`{"key":"pricing-page","name":"Pricing page","active":true,
	  "filters":{"groups":[{"properties":[{"key":"plan","value":["pro"],"operator":"exact","type":"person"}],"rollout_percentage":100}],
	   "multivariate":{"variants":[{"key":"control","rollout_percentage":50},{"key":"annual","rollout_percentage":50}]},
	   "payloads":{"control":"{\"price\":10}","annual":"{\"price\":96,\"badge\":\"save 20%\"}"}}}`,
	`{"key":"onboarding","name":"Onboarding","active":true,"ensure_experience_continuity":true,
	  "filters":{"groups":[{"properties":[],"rollout_percentage":100}],
	   "multivariate":{"variants":[{"key":"tour","rollout_percentage":50},{"key":"checklist","rollout_percentage":50}]},
	   "payloads":{"tour":"{\"steps\":3}"}}}`,
}

// The identified user's person properties.
var browserUserProps = map[string]any{"plan": "pro", "email": "flags@shop.test"}

// TestPostHogFlagsInChromium: posthog-js 1.449.2, loaded by the README's
// snippet from Journey's /static (the npm package's dist files, byte for
// byte: their sha384 is the package's integrity.json; no test/ package
// installs posthog-js itself), in Chromium (test/ui/posthog-flags.mjs)
// on a page of another origin. With three flags in the project (a boolean
// one with a 50 % rollout, a multivariate one with payloads for plan=pro
// persons, a multivariate one with experience continuity) it must load with
// no failed request, no request elsewhere and no console error, and read,
// through posthog.onFeatureFlags, isFeatureEnabled, getFeatureFlag and
// getFeatureFlagPayload, what Journey's own /flags answers for the same
// distinct id and person properties: as the anonymous visitor, after
// identify (plan pro: the pricing variant and its payload), and after a
// reload. The continuity flag keeps the anonymous id's variant after
// identify and later, where the user's own bucket is the other variant
// (PostHog's sha1 bucketing, computed here). Each distinct id's first read
// of a (flag, value) sends one $feature_flag_called with the flag's id and
// version and the request id of the /flags answer (none again after the
// reload); each is stored once with the properties the page sent.
func TestPostHogFlagsInChromium(t *testing.T) {
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
	token, secret, err := srv.CreateProject("flags-web")
	if err != nil {
		t.Fatal(err)
	}
	defs := map[string]createdFlag{}
	for _, body := range browserFlags {
		f := createBrowserFlag(t, srv.URL, secret, body)
		defs[f.Key] = f
	}
	checkServedBundle(t, root, srv.URL)

	snippet := readmePostHogSnippet(t, filepath.Join(root, "README.md"), token, srv.URL)
	reportPath := filepath.Join(t.TempDir(), "report.json")
	props, _ := json.Marshal(browserUserProps)
	keys, _ := json.Marshal([]string{flagRollout, flagPricing, flagContinuity})
	cmd := exec.Command("node", "posthog-flags.mjs")
	cmd.Dir = filepath.Join(root, "test/ui")
	cmd.Env = append(os.Environ(), "JOURNEY_URL="+srv.URL, "SNIPPET="+snippet, "CHROMIUM="+chromium, "REPORT="+reportPath,
		"TOKEN="+token, "KEYS="+string(keys), "ROLLOUT_KEY="+flagRollout, "CONTINUITY_KEY="+flagContinuity, "USER_PROPS="+string(props))
	out, err := cmd.CombinedOutput()
	t.Logf("posthog-flags.mjs output:\n%s", out)
	var rep flagsReport
	if b, rerr := os.ReadFile(reportPath); rerr != nil || json.Unmarshal(b, &rep) != nil {
		t.Fatalf("no report from posthog-flags.mjs (%v): %v", err, rerr)
	}
	if err != nil {
		t.Errorf("posthog-flags.mjs failed: %v", err)
	}
	checkFlagsPage(t, rep, srv.URL, token)
	if len(rep.Reads) != 3 {
		t.Fatalf("%d rounds of reads, want 3 (anonymous, identified, reloaded)", len(rep.Reads))
	}
	checkFlagReads(t, rep, srv.URL, token, defs)
	sent := checkFlagCalledSent(t, rep, defs)
	if err := srv.WaitLoaded(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	var rows [][]any
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		rows = sqlRows(t, srv.URL, secret, "SELECT uuid, event, distinct_id, person_id, timestamp, properties FROM events WHERE event IN ('$feature_flag_called', 'flags_checked')")
		if len(rows) >= len(sent) {
			break
		}
	}
	checkPostHogStored(t, phReport{Origin: rep.Origin, Events: sent}, rows)
	called := 0
	for _, r := range rows {
		if r[1] == "$feature_flag_called" {
			called++
		}
	}
	t.Logf("%d $feature_flag_called and %d flags_checked events stored", called, len(rows)-called)
}

// createdFlag is what POST /api/v1/flags answered.
type createdFlag struct {
	ID                         int64  `json:"id"`
	Key                        string `json:"key"`
	Version                    int64  `json:"version"`
	EnsureExperienceContinuity bool   `json:"ensure_experience_continuity"`
	Filters                    struct {
		Groups []struct {
			RolloutPercentage *float64 `json:"rollout_percentage"`
		} `json:"groups"`
		Multivariate *struct {
			Variants []struct {
				Key               string  `json:"key"`
				RolloutPercentage float64 `json:"rollout_percentage"`
			} `json:"variants"`
		} `json:"multivariate"`
		Payloads map[string]string `json:"payloads"`
	} `json:"filters"`
}

func createBrowserFlag(t *testing.T, url, secret, body string) createdFlag {
	t.Helper()
	req, _ := http.NewRequest("POST", url+"/api/v1/flags", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+secret)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var f createdFlag
	if resp.StatusCode != 201 || json.Unmarshal(raw, &f) != nil || f.ID == 0 {
		t.Fatalf("POST /api/v1/flags: %d %s", resp.StatusCode, raw)
	}
	return f
}

// checkServedBundle: the array.js and loader.js Journey serves are the
// npm package's (their sha384 is the one integrity.json of posthog-js
// names), of websdk.PostHogJSVersion.
func checkServedBundle(t *testing.T, root, url string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "internal/websdk/static/posthog-js/integrity.json"))
	if err != nil {
		t.Fatal(err)
	}
	var integrity struct {
		Version string            `json:"version"`
		Files   map[string]string `json:"files"`
	}
	if err := json.Unmarshal(b, &integrity); err != nil || integrity.Version != websdk.PostHogJSVersion {
		t.Fatalf("integrity.json: version %q (want %s): %v", integrity.Version, websdk.PostHogJSVersion, err)
	}
	for _, f := range []string{"loader.js", "array.js"} {
		resp, err := http.Get(url + "/static/" + f)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		sum := sha384Base64(body)
		if want := integrity.Files[f]; resp.StatusCode != 200 || "sha384-"+sum != want {
			t.Errorf("/static/%s: %d, sha384-%s, the npm package's is %s", f, resp.StatusCode, sum, want)
		}
	}
}

func sha384Base64(b []byte) string {
	h := sha512.New384()
	h.Write(b)
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// flagsReport is what posthog-flags.mjs writes to REPORT.
type flagsReport struct {
	Origin  string `json:"origin"`
	Version string `json:"version"`
	IDs     struct {
		Anonymous  string `json:"anonymous"`
		Identified string `json:"identified"`
	} `json:"ids"`
	Reads []struct {
		Phase      string              `json:"phase"`
		DistinctID string              `json:"distinct_id"`
		RequestID  string              `json:"request_id"`
		Flags      map[string]flagRead `json:"flags"`
	} `json:"reads"`
	FlagsCalls []struct {
		URL    string         `json:"url"`
		Method string         `json:"method"`
		Body   map[string]any `json:"body"`
		Status int            `json:"status"`
		Answer flagsAnswer    `json:"answer"`
	} `json:"flagsCalls"`
	Events   []phEvent `json:"events"`
	Requests []struct {
		Method  string  `json:"method"`
		URL     string  `json:"url"`
		Type    string  `json:"type"`
		Status  *int    `json:"status"`
		Failure *string `json:"failure"`
	} `json:"requests"`
	Console []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	} `json:"console"`
}

// flagRead is what the page's posthog-js said of one flag.
type flagRead struct {
	Enabled any `json:"enabled"` // isFeatureEnabled
	Value   any `json:"value"`   // getFeatureFlag
	Payload any `json:"payload"` // getFeatureFlagPayload
}

// flagsAnswer is a /flags?v=2 answer.
type flagsAnswer struct {
	Flags map[string]struct {
		Key      string  `json:"key"`
		Enabled  bool    `json:"enabled"`
		Variant  *string `json:"variant"`
		Metadata struct {
			ID      int64   `json:"id"`
			Version int64   `json:"version"`
			Payload *string `json:"payload"`
		} `json:"metadata"`
	} `json:"flags"`
	ErrorsWhileComputingFlags bool   `json:"errorsWhileComputingFlags"`
	RequestID                 string `json:"requestId"`
}

// read is the answer as posthog-js gives it to an app.
func (a flagsAnswer) read(key string) flagRead {
	f, ok := a.Flags[key]
	if !ok {
		return flagRead{}
	}
	r := flagRead{Enabled: f.Enabled, Value: f.Enabled}
	if f.Variant != nil {
		r.Value = *f.Variant
	}
	if f.Metadata.Payload != nil {
		if err := json.Unmarshal([]byte(*f.Metadata.Payload), &r.Payload); err != nil {
			r.Payload = *f.Metadata.Payload
		}
	}
	return r
}

// checkFlagsPage: posthog-js of the vendored version loaded, every request
// was answered below 400 by Journey or the page's own server, the console
// had no error, and posthog-js asked /flags at start-up, after identify and
// after the reload.
func checkFlagsPage(t *testing.T, rep flagsReport, url, token string) {
	t.Helper()
	if rep.Version != websdk.PostHogJSVersion {
		t.Errorf("posthog-js %q loaded, want %s", rep.Version, websdk.PostHogJSVersion)
	}
	paths := map[string]int{}
	for _, r := range rep.Requests {
		switch {
		case r.Failure != nil:
			t.Errorf("%s %s failed: %s", r.Method, r.URL, *r.Failure)
		case r.Status == nil:
			t.Errorf("%s %s: no answer", r.Method, r.URL)
		case *r.Status >= 400:
			t.Errorf("%s %s answered %d", r.Method, r.URL, *r.Status)
		}
		if p, ok := strings.CutPrefix(r.URL, url); ok {
			p, _, _ = strings.Cut(p, "?")
			paths[p]++
		} else if !strings.HasPrefix(r.URL, rep.Origin+"/") {
			t.Errorf("a request to another host: %s %s", r.Method, r.URL)
		}
	}
	t.Logf("%d requests; Journey's paths: %v", len(rep.Requests), paths)
	for _, p := range []string{"/static/loader.js", "/static/array.js", "/array/" + token + "/config.js"} {
		if paths[p] == 0 {
			t.Errorf("the page never asked %s (%v)", p, paths)
		}
	}
	for _, m := range rep.Console {
		if m.Type == "error" {
			t.Errorf("console error: %s", m.Text)
		} else if m.Type == "warning" {
			t.Logf("console warning: %s", m.Text)
		}
	}
	who := []string{}
	for _, c := range rep.FlagsCalls {
		if c.Status != 200 || c.Answer.RequestID == "" || c.Answer.ErrorsWhileComputingFlags {
			t.Errorf("%s %s answered %d %+v", c.Method, c.URL, c.Status, c.Answer)
		}
		if !strings.Contains(c.URL, "v=2") {
			t.Errorf("posthog-js asked %s, not /flags?v=2", c.URL)
		}
		d, _ := c.Body["distinct_id"].(string)
		who = append(who, d)
	}
	if len(who) < 3 || who[0] != rep.IDs.Anonymous || who[len(who)-1] != rep.IDs.Identified {
		t.Errorf("/flags asked for %v: want the anonymous id first, the user after identify and after the reload", who)
	}
}

// checkFlagReads compares each round of reads with the /flags answer
// posthog-js got, and with Journey's /flags answer to the same distinct
// id and properties asked from here; then checks the values themselves.
func checkFlagReads(t *testing.T, rep flagsReport, url, token string, defs map[string]createdFlag) {
	t.Helper()
	anon, user := rep.IDs.Anonymous, rep.IDs.Identified
	if anon == "" || user == "" || anon == user {
		t.Fatalf("distinct ids %+v", rep.IDs)
	}
	wantPhases := []struct{ phase, distinct string }{{"anonymous", anon}, {"identified", user}, {"reloaded", user}}
	for i, rd := range rep.Reads {
		if rd.Phase != wantPhases[i].phase || rd.DistinctID != wantPhases[i].distinct {
			t.Fatalf("read %d: %s as %s, want %s as %s", i, rd.Phase, rd.DistinctID, wantPhases[i].phase, wantPhases[i].distinct)
		}
		// The /flags exchange posthog-js took these values from.
		var body map[string]any
		var got flagsAnswer
		for _, c := range rep.FlagsCalls {
			if c.Answer.RequestID == rd.RequestID {
				body, got = c.Body, c.Answer
			}
		}
		if body == nil {
			t.Fatalf("%s: no /flags answer with request id %q", rd.Phase, rd.RequestID)
		}
		if rd.Phase == "identified" && body["$anon_distinct_id"] != anon {
			t.Errorf("after identify posthog-js asked /flags with $anon_distinct_id %v, want %s", body["$anon_distinct_id"], anon)
		}
		if pp, _ := body["person_properties"].(map[string]any); rd.Phase != "anonymous" && pp["plan"] != "pro" {
			t.Errorf("%s: posthog-js sent person_properties %v, want plan pro", rd.Phase, body["person_properties"])
		}
		// Journey's own answer to the same subject, asked now. Not for the
		// anonymous read: by now the anonymous id belongs to the identified
		// person (plan pro, stored), so Journey rightly answers it as that
		// person; that read is checked against PostHog's bucketing and the
		// answer posthog-js got (the value checks below).
		if rd.Phase == "anonymous" {
			for _, key := range []string{flagRollout, flagPricing, flagContinuity} {
				if page, was := rd.Flags[key], got.read(key); !reflect.DeepEqual(page, was) {
					t.Errorf("anonymous: posthog-js reads %s as %+v, it was answered %+v", key, page, was)
				}
			}
			continue
		}
		ask := map[string]any{"token": token, "distinct_id": rd.DistinctID}
		for _, k := range []string{"person_properties", "groups", "group_properties"} {
			if v, ok := body[k]; ok {
				ask[k] = v
			}
		}
		server := askFlags(t, url, ask)
		for _, key := range []string{flagRollout, flagPricing, flagContinuity} {
			page, want := rd.Flags[key], server.read(key)
			if !reflect.DeepEqual(page, want) {
				t.Errorf("%s (%s): posthog-js reads %s as %+v, Journey's /flags answers %+v", rd.Phase, rd.DistinctID, key, page, want)
			}
			if got := got.read(key); !reflect.DeepEqual(got, want) {
				t.Errorf("%s: posthog-js was answered %s = %+v, Journey answers %+v now", rd.Phase, key, got, want)
			}
			f := got.Flags[key]
			if f.Metadata.ID != defs[key].ID || f.Metadata.Version != defs[key].Version {
				t.Errorf("%s: %s metadata id %d version %d, want %d and %d", rd.Phase, key, f.Metadata.ID, f.Metadata.Version, defs[key].ID, defs[key].Version)
			}
		}
		t.Logf("%s (%s): %v", rd.Phase, rd.DistinctID, rd.Flags)
	}
	a, u, r := rep.Reads[0].Flags, rep.Reads[1].Flags, rep.Reads[2].Flags
	// The boolean rollout: PostHog's bucket of each id.
	if want := phBucket(flagRollout, anon, "") < 0.5; a[flagRollout].Value != want {
		t.Errorf("%s of %s = %v, its bucket says %v", flagRollout, anon, a[flagRollout].Value, want)
	}
	if u[flagRollout] != (flagRead{true, true, nil}) || r[flagRollout] != u[flagRollout] {
		t.Errorf("%s of %s = %+v then %+v, want on (the driver picked a user inside the rollout)", flagRollout, user, u[flagRollout], r[flagRollout])
	}
	// The person-property condition: off for the anonymous visitor, a
	// variant with its payload for the pro user.
	if a[flagPricing] != (flagRead{false, false, nil}) {
		t.Errorf("%s of the anonymous visitor = %+v, want off", flagPricing, a[flagPricing])
	}
	variant := phVariant(defs[flagPricing], user)
	var payload any
	json.Unmarshal([]byte(defs[flagPricing].Filters.Payloads[variant]), &payload)
	if want := (flagRead{true, variant, nil}); u[flagPricing].Enabled != true || u[flagPricing].Value != variant || !reflect.DeepEqual(u[flagPricing].Payload, payload) {
		t.Errorf("%s of %s (plan pro) = %+v, want %+v with payload %v", flagPricing, user, u[flagPricing], want, payload)
	}
	if !reflect.DeepEqual(r[flagPricing], u[flagPricing]) {
		t.Errorf("%s after the reload = %+v, before %+v", flagPricing, r[flagPricing], u[flagPricing])
	}
	// Experience continuity: the anonymous id's variant, although the
	// user's own bucket is the other one.
	anonVariant, own := phVariant(defs[flagContinuity], anon), phVariant(defs[flagContinuity], user)
	if a[flagContinuity].Value != anonVariant {
		t.Errorf("%s of %s = %v, its bucket says %s", flagContinuity, anon, a[flagContinuity].Value, anonVariant)
	}
	if own == anonVariant {
		t.Errorf("%s: the user's own bucket %s is the anonymous one's: continuity is not tested", flagContinuity, own)
	}
	if u[flagContinuity].Value != anonVariant || r[flagContinuity].Value != anonVariant {
		t.Errorf("%s of %s = %v after identify and %v after the reload, want the anonymous id's %s (its own bucket is %s)",
			flagContinuity, user, u[flagContinuity].Value, r[flagContinuity].Value, anonVariant, own)
	}
	// And Journey keeps it for the user on a request without the anonymous id.
	if got := askFlags(t, url, map[string]any{"token": token, "distinct_id": user}).read(flagContinuity).Value; got != anonVariant {
		t.Errorf("/flags for %s alone answers %s = %v, want %s", user, flagContinuity, got, anonVariant)
	}
}

func askFlags(t *testing.T, url string, body map[string]any) flagsAnswer {
	t.Helper()
	b, _ := json.Marshal(body)
	resp, err := http.Post(url+"/flags/?v=2", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var a flagsAnswer
	if resp.StatusCode != 200 || json.Unmarshal(raw, &a) != nil || a.ErrorsWhileComputingFlags {
		t.Fatalf("/flags %s: %d %s", b, resp.StatusCode, raw)
	}
	return a
}

// phBucket is PostHog's bucket of an id: the first 15 hex digits of
// sha1("{key}.{id}{salt}") over 0xFFFFFFFFFFFFFFF.
func phBucket(key, id, salt string) float64 {
	sum := sha1.Sum([]byte(key + "." + id + salt))
	n, _ := strconv.ParseUint(hex.EncodeToString(sum[:])[:15], 16, 64)
	return float64(n) / float64(0xFFFFFFFFFFFFFFF)
}

// phVariant is the variant PostHog gives an id (salt "variant",
// cumulative ranges).
func phVariant(f createdFlag, id string) string {
	h, from := phBucket(f.Key, id, "variant"), 0.0
	for _, v := range f.Filters.Multivariate.Variants {
		to := from + v.RolloutPercentage/100
		if h >= from && h < to {
			return v.Key
		}
		from = to
	}
	return ""
}

// checkFlagCalledSent: the page sent one $feature_flag_called per
// distinct id and (flag, value) it read (posthog-js deduplicates them so,
// across reloads too), the first time it read it, with
// the flag's id and version and the request id of the answer read; it
// returns those events and the markers, which must all be stored.
func checkFlagCalledSent(t *testing.T, rep flagsReport, defs map[string]createdFlag) []phEvent {
	t.Helper()
	type call struct{ distinct, key, value, requestID string }
	var want []call
	seen := map[string]bool{}
	for _, rd := range rep.Reads {
		for _, key := range []string{flagRollout, flagPricing, flagContinuity} {
			v := fmt.Sprint(rd.Flags[key].Value)
			if k := rd.DistinctID + "\x00" + key + "\x00" + v; !seen[k] {
				seen[k] = true
				want = append(want, call{rd.DistinctID, key, v, rd.RequestID})
			}
		}
	}
	var out []phEvent
	var got []call
	markers := 0
	for _, e := range rep.Events {
		switch e.Event {
		case "flags_checked":
			markers++
			out = append(out, e)
			continue
		case "$feature_flag_called":
		default:
			continue
		}
		out = append(out, e)
		key, _ := e.Properties["$feature_flag"].(string)
		rid, _ := e.Properties["$feature_flag_request_id"].(string)
		got = append(got, call{e.distinctID(), key, fmt.Sprint(e.Properties["$feature_flag_response"]), rid})
		d, ok := defs[key]
		if !ok {
			t.Errorf("$feature_flag_called for %q", key)
			continue
		}
		if e.Properties["$feature_flag_id"] != float64(d.ID) || e.Properties["$feature_flag_version"] != float64(d.Version) {
			t.Errorf("$feature_flag_called %s: id %v version %v, want %d and %d", key, e.Properties["$feature_flag_id"], e.Properties["$feature_flag_version"], d.ID, d.Version)
		}
		if v := e.Properties["$feature/"+key]; v != nil && fmt.Sprint(v) != fmt.Sprint(e.Properties["$feature_flag_response"]) {
			t.Errorf("$feature_flag_called %s: $feature/%s = %v, response %v", key, key, v, e.Properties["$feature_flag_response"])
		}
	}
	// Each once; their order within a round is posthog-js's.
	sortCalls := func(cs []call) []string {
		var s []string
		for _, c := range cs {
			s = append(s, fmt.Sprintf("%s %s=%s (%s)", c.distinct, c.key, c.value, c.requestID))
		}
		sort.Strings(s)
		return s
	}
	if g, w := sortCalls(got), sortCalls(want); !reflect.DeepEqual(g, w) {
		t.Errorf("$feature_flag_called sent:\n  %s\nwant one per distinct id and (flag, value) read:\n  %s", strings.Join(g, "\n  "), strings.Join(w, "\n  "))
	}
	if markers != 3 {
		t.Errorf("%d flags_checked markers sent, want 3", markers)
	}
	t.Logf("$feature_flag_called sent: %q", sortCalls(got))
	return out
}
