package app

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/posthog/posthog-go"

	"github.com/journey-dev/journey/internal/testutil"
)

// The flags every agreement test evaluates: a multivariate flag with a
// person-property condition and a 45 % rollout, a boolean flag with a
// numeric condition and a 30 % rollout, and a boolean flag with both in
// one condition (PostHog's usual "pro users, 45 %").
var sdkFlags = []string{
	`{"key":"checkout","name":"New checkout","active":true,
	  "filters":{"groups":[{"properties":[{"key":"plan","value":["enterprise"],"operator":"exact","type":"person"}],"rollout_percentage":null,"variant":null},
	                       {"properties":[],"rollout_percentage":45,"variant":null}],
	   "multivariate":{"variants":[{"key":"control","rollout_percentage":34},{"key":"test","rollout_percentage":33},{"key":"bold","rollout_percentage":33}]},
	   "payloads":{"test":"{\"color\":\"red\"}"}}}`,
	`{"key":"banner","name":"Banner","active":true,
	  "filters":{"groups":[{"properties":[{"key":"age","value":60,"operator":"gte","type":"person"}]},{"rollout_percentage":30}],
	   "payloads":{"true":"{\"text\":\"hi\"}"}}}`,
	`{"key":"trial","name":"Trial","active":true,
	  "filters":{"groups":[{"properties":[{"key":"plan","value":"pro","operator":"exact","type":"person"}],"rollout_percentage":45}]}}`,
}

// sdkKeys are the keys of sdkFlags.
var sdkKeys = []string{"checkout", "banner", "trial"}

type subject struct {
	ID    string         `json:"id"`
	Props map[string]any `json:"props"`
}

func sdkSubjects(n int) []subject {
	plans := []string{"pro", "free", "enterprise"}
	out := make([]subject, n)
	for i := range out {
		out[i] = subject{ID: fmt.Sprintf("user-%05d", i), Props: map[string]any{"plan": plans[i%3], "age": i % 90}}
	}
	return out
}

// statusLog records the status of each request by path.
type statusLog struct {
	mu  sync.Mutex
	got map[string][]int
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) { w.code = code; w.ResponseWriter.WriteHeader(code) }

func (l *statusLog) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, code: 200}
		h.ServeHTTP(sw, r)
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.got == nil {
			l.got = map[string][]int{}
		}
		l.got[r.URL.Path] = append(l.got[r.URL.Path], sw.code)
	})
}

func (l *statusLog) statuses(path string) []int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]int(nil), l.got[path]...)
}

// post sends JSON and decodes the answer into out; it returns the status.
func post(t *testing.T, c *http.Client, url string, header map[string]string, body, out any) int {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", url, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode == 200 {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s: %v: %s", url, err, raw)
		}
	}
	return resp.StatusCode
}

// parallel runs f for each subject on 8 goroutines.
func parallel(subjects []subject, f func(s subject)) {
	var wg sync.WaitGroup
	ch := make(chan subject)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s := range ch {
				f(s)
			}
		}()
	}
	for _, s := range subjects {
		ch <- s
	}
	close(ch)
	wg.Wait()
}

// answers are flag values by distinct id, then flag key: a variant, or
// true/false.
type answers map[string]map[string]any

func (a answers) set(mu *sync.Mutex, id string, v map[string]any) {
	mu.Lock()
	defer mu.Unlock()
	a[id] = v
}

// compare reports the subjects whose values of keys differ from want's.
func compare(t *testing.T, what string, want, got answers, subjects []subject, keys ...string) {
	t.Helper()
	if len(keys) == 0 {
		keys = sdkKeys
	}
	bad := 0
	for _, s := range subjects {
		for _, key := range keys {
			w, g := want[s.ID][key], got[s.ID][key]
			if w != g {
				if bad++; bad <= 5 {
					t.Errorf("%s: %s of %s (%v) = %v, the server's /flags says %v", what, key, s.ID, s.Props, g, w)
				}
			}
		}
	}
	if bad > 0 {
		t.Errorf("%s: %d answers differ from /flags", what, bad)
	}
}

// TestFlagsSDKAgreement: for 10 000 distinct ids, posthog-go and
// posthog-node (local evaluation from /flags/definitions with the secret
// key, and remote evaluation), and an OFREP client written against the
// OFREP OpenAPI document, give the same values and variants as the
// server's /flags; definitions answer 304 to the SDK's ETag; the
// $feature_flag_called events posthog-node sends are stored with their
// properties.
func TestFlagsSDKAgreement(t *testing.T) {
	dir, _ := filepath.Abs("../../test/sdk")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "posthog-node")); err != nil {
		testutil.Missing(t, "test/sdk/node_modules missing: run `make deps` (npm ci in test/sdk)")
	}
	if _, err := exec.LookPath("node"); err != nil {
		testutil.Missing(t, "node is not installed: run scripts/test-deps.sh")
	}
	ta := newTestApp(t)
	var log statusLog
	srv := httptest.NewServer(log.wrap(ta.Handler))
	defer srv.Close()
	p := ta.project("flags")
	for _, f := range sdkFlags {
		var body map[string]any
		json.Unmarshal([]byte(f), &body)
		if code, out := ta.do("POST", "/api/v1/flags", p.SecretKey, body); code != 201 {
			t.Fatalf("create flag: %d %s", code, out)
		}
	}
	subjects := sdkSubjects(10_000)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	var mu sync.Mutex

	// The reference: the server's /flags?v=2.
	start := time.Now()
	ref := answers{}
	enabled := map[string]int{}
	parallel(subjects, func(s subject) {
		var a struct {
			Flags map[string]struct {
				Enabled bool    `json:"enabled"`
				Variant *string `json:"variant"`
			} `json:"flags"`
			Errors bool `json:"errorsWhileComputingFlags"`
		}
		if code := post(t, client, srv.URL+"/flags/?v=2", nil, map[string]any{"token": p.Token, "distinct_id": s.ID, "person_properties": s.Props}, &a); code != 200 || a.Errors || len(a.Flags) != len(sdkFlags) {
			t.Errorf("/flags for %s: %d %+v", s.ID, code, a)
			return
		}
		v := map[string]any{}
		for key, d := range a.Flags {
			v[key] = d.Enabled
			if d.Variant != nil {
				v[key] = *d.Variant
			}
		}
		ref.set(&mu, s.ID, v)
		mu.Lock()
		for key, val := range v {
			enabled[fmt.Sprint(key, "=", val)]++
		}
		mu.Unlock()
	})
	t.Logf("/flags for %d ids in %v: %v", len(subjects), time.Since(start), enabled)
	if t.Failed() {
		t.FailNow()
	}
	// The flags split the ids as configured (so agreement means something).
	for k, lo := range map[string]int{"checkout=control": 1800, "checkout=test": 1800, "checkout=bold": 1800, "checkout=false": 3000,
		"banner=true": 4500, "banner=false": 4000, "trial=true": 1200, "trial=false": 8000} {
		if enabled[k] < lo {
			t.Errorf("%s for %d ids, want at least %d", k, enabled[k], lo)
		}
	}

	// OFREP, per the OpenAPI document: bulk for every id, single for some.
	start = time.Now()
	ofrep := answers{}
	parallel(subjects, func(s subject) {
		ctx := map[string]any{"targetingKey": s.ID}
		for k, v := range s.Props {
			ctx[k] = v
		}
		var bulk struct {
			Flags []struct {
				Key     string `json:"key"`
				Value   any    `json:"value"`
				Reason  string `json:"reason"`
				Variant string `json:"variant"`
			} `json:"flags"`
		}
		if code := post(t, client, srv.URL+"/ofrep/v1/evaluate/flags", map[string]string{"Authorization": "Bearer " + p.Token}, map[string]any{"context": ctx}, &bulk); code != 200 {
			t.Errorf("OFREP bulk for %s: %d", s.ID, code)
			return
		}
		v := map[string]any{}
		for _, f := range bulk.Flags {
			v[f.Key] = f.Value
		}
		if strings.HasSuffix(s.ID, "7") {
			var one struct {
				Key   string `json:"key"`
				Value any    `json:"value"`
			}
			if code := post(t, client, srv.URL+"/ofrep/v1/evaluate/flags/checkout", map[string]string{"X-API-Key": p.Token}, map[string]any{"context": ctx}, &one); code != 200 || one.Value != v["checkout"] {
				t.Errorf("OFREP single checkout for %s: %d %v, bulk %v", s.ID, code, one.Value, v["checkout"])
			}
		}
		ofrep.set(&mu, s.ID, v)
	})
	t.Logf("OFREP for %d ids in %v", len(subjects), time.Since(start))
	compare(t, "OFREP", ref, ofrep, subjects)

	// posthog-go: local evaluation with the secret key, and remote.
	no := false
	local, err := posthog.NewWithConfig(p.Token, posthog.Config{Endpoint: srv.URL, PersonalApiKey: p.SecretKey, DefaultFeatureFlagsPollingInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	remote, err := posthog.NewWithConfig(p.Token, posthog.Config{Endpoint: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer remote.Close()
	start = time.Now()
	goLocal, goRemote := answers{}, answers{}
	for _, s := range subjects {
		v, err := local.GetAllFlags(posthog.FeatureFlagPayloadNoKey{DistinctId: s.ID, PersonProperties: s.Props, OnlyEvaluateLocally: true, SendFeatureFlagEvents: &no})
		if err != nil {
			t.Fatalf("posthog-go local evaluation: %v", err)
		}
		goLocal[s.ID] = v
	}
	t.Logf("posthog-go local evaluation of %d ids in %v", len(subjects), time.Since(start))
	compare(t, "posthog-go local", ref, goLocal, subjects, "checkout", "banner")
	// posthog-go v1.5.2's local evaluation skips the rollout of a condition
	// that also has properties (isConditionMatch returns true once they
	// match: PostHog/posthog-go#100), so for trial it answers "plan is
	// pro" where PostHog's server, posthog-node and Journey apply the
	// 45 %. Checked exactly, so a fixed SDK (or a regression here) shows.
	sdkBug := 0
	for _, s := range subjects {
		if want := s.Props["plan"] == "pro"; goLocal[s.ID]["trial"] != want {
			sdkBug++
		}
	}
	if sdkBug != 0 {
		t.Errorf("posthog-go local trial differs from \"plan is pro\" for %d ids: has posthog-go#100 been fixed? Then compare trial too", sdkBug)
	}
	start = time.Now()
	parallel(subjects, func(s subject) {
		v, err := remote.GetAllFlags(posthog.FeatureFlagPayloadNoKey{DistinctId: s.ID, PersonProperties: s.Props, SendFeatureFlagEvents: &no})
		if err != nil {
			t.Errorf("posthog-go remote evaluation of %s: %v", s.ID, err)
			return
		}
		goRemote.set(&mu, s.ID, v)
	})
	t.Logf("posthog-go remote evaluation of %d ids in %v", len(subjects), time.Since(start))
	compare(t, "posthog-go remote", ref, goRemote, subjects)
	if got := log.statuses("/api/feature_flag/local_evaluation"); len(got) == 0 || got[0] != 200 {
		t.Errorf("posthog-go's definitions requests answered %v", got)
	}

	// posthog-node 5.70.0, the same both ways.
	tmp := t.TempDir()
	in, outFile := filepath.Join(tmp, "subjects.json"), filepath.Join(tmp, "out.json")
	b, _ := json.Marshal(subjects)
	os.WriteFile(in, b, 0o644)
	start = time.Now()
	cmd := exec.Command("node", "flags.mjs", srv.URL, p.Token, p.SecretKey, in, outFile)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("flags.mjs: %v\n%s", err, out)
	}
	t.Logf("posthog-node, local and remote, %d ids in %v", len(subjects), time.Since(start))
	var node struct {
		Local  answers  `json:"local"`
		Remote answers  `json:"remote"`
		Ready  bool     `json:"ready"`
		Errors []string `json:"errors"`
	}
	raw, _ := os.ReadFile(outFile)
	if err := json.Unmarshal(raw, &node); err != nil || !node.Ready || len(node.Errors) > 0 {
		t.Fatalf("flags.mjs answered ready=%v errors=%v (%v)", node.Ready, node.Errors, err)
	}
	compare(t, "posthog-node local", ref, node.Local, subjects)
	compare(t, "posthog-node remote", ref, node.Remote, subjects)
	defs := log.statuses("/flags/definitions")
	if len(defs) < 2 || defs[0] != 200 || defs[len(defs)-1] != http.StatusNotModified {
		t.Errorf("posthog-node's definitions requests answered %v, want 200 then 304 on its ETag", defs)
	}

	// The exposures posthog-node sent are stored, with their properties.
	ta.sync()
	code, out := ta.do("POST", "/api/v1/query", p.SecretKey, map[string]any{"kind": "sql",
		"query": "SELECT distinct_id, properties FROM events WHERE event = '$feature_flag_called' ORDER BY distinct_id"})
	if code != 200 {
		t.Fatalf("sql: %d %s", code, out)
	}
	var res struct {
		Rows [][]any `json:"rows"`
	}
	json.Unmarshal(out, &res)
	byFlag := map[string]int{}
	for _, row := range res.Rows {
		id, _ := row[0].(string)
		var props map[string]any
		switch x := row[1].(type) {
		case string:
			json.Unmarshal([]byte(x), &props)
		case map[string]any:
			props = x
		}
		key, _ := props["$feature_flag"].(string)
		byFlag[key]++
		if want := ref[id][key]; key == "" || props["$feature_flag_response"] != want || props["$feature/"+key] != want {
			t.Errorf("exposure of %s for %s: %v, want response %v", key, id, props, want)
		}
		switch key {
		case "checkout":
			if props["locally_evaluated"] != true {
				t.Errorf("local exposure %v", props)
			}
		case "banner":
			if props["locally_evaluated"] != false || props["$feature_flag_request_id"] == nil || props["$feature_flag_id"] == nil || props["$feature_flag_version"] == nil || props["$feature_flag_reason"] == nil {
				t.Errorf("remote exposure %v", props)
			}
		}
	}
	if byFlag["checkout"] != 3 || byFlag["banner"] != 3 {
		t.Errorf("stored exposures %v (%s), want 3 of each flag", byFlag, out)
	}
}

// TestFlagsReplicaSeesChange: a flag changed through the API is answered
// by /flags within about a second (the snapshot's revision check).
func TestFlagsReplicaSeesChange(t *testing.T) {
	ta := newTestApp(t)
	p := ta.project("change")
	code, out := ta.do("POST", "/api/v1/flags", p.SecretKey, map[string]any{"key": "f", "filters": map[string]any{"groups": []any{map[string]any{"rollout_percentage": 100}}}})
	if code != 201 {
		t.Fatalf("%d %s", code, out)
	}
	var f struct {
		ID int64 `json:"id"`
	}
	json.Unmarshal(out, &f)
	value := func() any {
		var a struct {
			FeatureFlags map[string]any `json:"featureFlags"`
		}
		post(t, http.DefaultClient, ta.URL+"/decide/?v=3", nil, map[string]any{"token": p.Token, "distinct_id": "d"}, &a)
		return a.FeatureFlags["f"]
	}
	if v := value(); v != true {
		t.Fatalf("before: %v", v)
	}
	if code, out := ta.do("PATCH", fmt.Sprintf("/api/v1/flags/%d", f.ID), p.SecretKey, map[string]any{"active": false}); code != 200 {
		t.Fatalf("patch: %d %s", code, out)
	}
	changed := time.Now()
	for value() != false {
		if time.Since(changed) > 3*time.Second {
			t.Fatal("the change was not answered within 3 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("change answered after %v", time.Since(changed))
}
