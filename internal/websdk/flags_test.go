package websdk

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/flags"
	"github.com/journey-dev/journey/internal/flagserve"
	"github.com/journey-dev/journey/internal/meta"
	"github.com/journey-dev/journey/internal/store"
)

// addFlag stores a flag given as PostHog JSON in the fixture's project.
func (f *fixture) addFlag(js string) meta.Flag {
	f.t.Helper()
	return addFlagTo(f.t, f.meta, f.id, js)
}

func addFlagTo(t *testing.T, m meta.Store, projectID int64, js string) meta.Flag {
	t.Helper()
	fl, err := flags.Decode([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	stored, err := m.CreateFlag(context.Background(), meta.Flag{ProjectID: projectID, Key: fl.Key, Name: fl.Name, Active: fl.Active, Definition: flagserve.Definition(fl)})
	if err != nil {
		t.Fatal(err)
	}
	return stored
}

const (
	proFlag   = `{"key":"pro","filters":{"groups":[{"properties":[{"key":"plan","value":"pro"}]}],"payloads":{"true":"{\"n\":1}"}}}`
	splitFlag = `{"key":"split","filters":{"groups":[{"rollout_percentage":100}],"multivariate":{"variants":[{"key":"a","rollout_percentage":50},{"key":"b","rollout_percentage":50}]}}}`
	offFlag   = `{"key":"off","active":false,"filters":{"groups":[{"rollout_percentage":100}]}}`
	onFlag    = `{"key":"on","filters":{"groups":[{"rollout_percentage":100}]}}`
)

// TestFlagsAnswers: /flags?v=2 answers every flag in PostHog's detail
// shape; /flags without v and /decide the legacy maps; flag_keys
// restricts; config=true adds the remote config.
func TestFlagsAnswers(t *testing.T) {
	f := newFixture(t)
	pro := f.addFlag(proFlag)
	f.addFlag(splitFlag)
	f.addFlag(offFlag)
	body := []byte(`{"token":"` + f.token + `","distinct_id":"u1","person_properties":{"plan":"pro"}}`)
	w := f.do("POST", "/flags/?v=2&config=true", body)
	wantStatus(t, w, 200)
	var v2 struct {
		Flags                     map[string]flags.FlagDetail `json:"flags"`
		ErrorsWhileComputingFlags bool                        `json:"errorsWhileComputingFlags"`
		RequestID                 string                      `json:"requestId"`
		EvaluatedAt               int64                       `json:"evaluatedAt"`
		Autocapture               *bool                       `json:"autocapture_opt_out"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &v2); err != nil {
		t.Fatal(err)
	}
	p := v2.Flags["pro"]
	if len(v2.Flags) != 3 || !p.Enabled || p.Variant != nil || p.Reason.Code != "condition_match" || *p.Reason.ConditionIndex != 0 ||
		p.Metadata.ID != pro.ID || p.Metadata.Version != 1 || *p.Metadata.Payload != `{"n":1}` || v2.ErrorsWhileComputingFlags ||
		v2.RequestID == "" || v2.EvaluatedAt == 0 || v2.Autocapture == nil {
		t.Fatalf("v2 answer %s", w.Body.String())
	}
	want := "a"
	if flags.Hash("split", "u1", "variant") >= 0.5 {
		want = "b"
	}
	if s := v2.Flags["split"]; !s.Enabled || *s.Variant != want {
		t.Errorf("split = %+v, want variant %s", s, want)
	}
	if o := v2.Flags["off"]; o.Enabled || o.Reason.Code != "flag_disabled" {
		t.Errorf("off = %+v", o)
	}
	for _, target := range []string{"/flags", "/decide/?v=3"} {
		w := f.do("POST", target, body)
		wantStatus(t, w, 200)
		m := decodeMap(t, w.Body.Bytes())
		if got := mustJSON(m["featureFlags"]); got != `{"off":false,"pro":true,"split":"`+want+`"}` {
			t.Errorf("%s featureFlags %s", target, got)
		}
		if got := mustJSON(m["featureFlagPayloads"]); got != `{"pro":"{\"n\":1}"}` {
			t.Errorf("%s featureFlagPayloads %s", target, got)
		}
	}
	w = f.do("POST", "/flags/?v=2", []byte(`{"token":"`+f.token+`","distinct_id":"u1","flag_keys":["pro","nope"]}`))
	if m := decodeMap(t, w.Body.Bytes()); mustJSON(m["flags"]) == "{}" || len(m["flags"].(map[string]any)) != 1 {
		t.Errorf("flag_keys: %s", w.Body.String())
	}
	// posthog-js asks /flags at start-up once the project has flags.
	if c := decodeMap(t, f.do("GET", "/array/"+f.token+"/config", nil).Body.Bytes()); c["hasFeatureFlags"] != true {
		t.Errorf("remote config of a project with flags: hasFeatureFlags %v", c["hasFeatureFlags"])
	}
	// No distinct id: no flag is evaluated, and the answer says so.
	w = f.do("GET", "/flags/?v=2&token="+f.token, nil)
	if m := decodeMap(t, w.Body.Bytes()); mustJSON(m["flags"]) != "{}" || m["errorsWhileComputingFlags"] != true {
		t.Errorf("no distinct id: %s", w.Body.String())
	}
}

// TestDefinitionsRoute: the secret key authenticates, the token must be
// its project's, the ETag answers 304, on every path the SDKs use; no
// answer carries CORS (server SDKs need none, and a page must not read
// them with a visitor's credentials).
func TestDefinitionsRoute(t *testing.T) {
	f := newFixture(t)
	wantStatus := wantServerStatus
	ctx := context.Background()
	secret, err := f.meta.CreateKey(ctx, f.id)
	if err != nil {
		t.Fatal(err)
	}
	other, otherSecret, _ := f.meta.CreateProject(ctx, "other", "UTC")
	f.addFlag(proFlag)
	addFlagTo(t, f.meta, other.ID, onFlag)
	auth := "Bearer " + secret
	for _, path := range []string{"/flags/definitions?token=" + f.token + "&send_cohorts", "/api/feature_flag/local_evaluation?token=" + f.token + "&send_cohorts=true",
		"/api/feature_flag/local_evaluation/?token=" + f.token + "&send_cohorts=true", "/flags/definitions"} {
		w := f.do("GET", path, nil, "Authorization", auth, "Origin", "")
		wantStatus(t, w, 200)
		var d flags.Definitions
		if err := json.Unmarshal(w.Body.Bytes(), &d); err != nil || len(d.Flags) != 1 || d.Flags[0].Key != "pro" || d.Cohorts == nil || d.GroupTypeMapping == nil {
			t.Fatalf("%s: %s (%v)", path, w.Body.String(), err)
		}
		etag := w.Header().Get("ETag")
		if !strings.HasPrefix(etag, `W/"`) {
			t.Fatalf("%s: ETag %q", path, etag)
		}
		if w := f.do("GET", path, nil, "Authorization", auth, "If-None-Match", etag, "Origin", ""); w.Code != http.StatusNotModified || w.Body.Len() != 0 {
			t.Errorf("%s If-None-Match: %d %q, want 304", path, w.Code, w.Body.String())
		}
	}
	p := "/flags/definitions?token=" + f.token + "&send_cohorts"
	wantStatus(t, f.do("GET", p, nil), http.StatusUnauthorized)
	wantStatus(t, f.do("GET", p, nil, "Authorization", "Bearer "+f.token), http.StatusUnauthorized) // the public token is no secret
	wantStatus(t, f.do("GET", p, nil, "Authorization", "Bearer jsk_nope"), http.StatusUnauthorized)
	wantStatus(t, f.do("GET", p, nil, "Authorization", "Bearer "+otherSecret), http.StatusForbidden)
	w := f.do("GET", "/flags/definitions?token="+other.Token, nil, "Authorization", "Bearer "+otherSecret)
	if wantStatus(t, w, 200); !strings.Contains(w.Body.String(), `"key":"on"`) || strings.Contains(w.Body.String(), `"key":"pro"`) {
		t.Errorf("other project's definitions: %s", w.Body.String())
	}
	wantStatus(t, f.do("POST", p, nil, "Authorization", auth), http.StatusMethodNotAllowed)
	// From a page: the same answer, without CORS; no preflight either.
	wantStatus(t, f.do("GET", p, nil, "Authorization", auth), 200)
	wantStatus(t, f.do("OPTIONS", p, nil, "Access-Control-Request-Method", "GET", "Access-Control-Request-Headers", "authorization"), http.StatusMethodNotAllowed)
}

// wantServerStatus is wantStatus for the secret-key routes: no CORS
// header at all.
func wantServerStatus(t *testing.T, w *httptest.ResponseRecorder, status int) {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status %d, want %d; body %s", w.Code, status, w.Body.String())
	}
	for k := range w.Header() {
		if strings.HasPrefix(k, "Access-Control-") {
			t.Fatalf("status %d: CORS header %s: %q on a secret-key route", w.Code, k, w.Header().Get(k))
		}
	}
}

type ofrepAnswer struct {
	Key          string         `json:"key"`
	Reason       string         `json:"reason"`
	Variant      string         `json:"variant"`
	Value        any            `json:"value"`
	Metadata     map[string]any `json:"metadata"`
	ErrorCode    string         `json:"errorCode"`
	ErrorDetails string         `json:"errorDetails"`
}

// TestOFREP: auth by token (Bearer or X-API-Key) or secret key; errors
// with their codes and statuses; reasons; bulk with ETag and 304; CORS.
func TestOFREP(t *testing.T) {
	f := newFixture(t)
	secret, _ := f.meta.CreateKey(context.Background(), f.id)
	f.addFlag(proFlag)
	f.addFlag(splitFlag)
	f.addFlag(offFlag)
	f.addFlag(onFlag)
	f.addFlag(`{"key":"half","filters":{"groups":[{"rollout_percentage":50}]}}`)
	f.addFlag(`{"key":"none"}`)
	eval := func(key string, body string, header ...string) (int, ofrepAnswer) {
		t.Helper()
		w := f.do("POST", "/ofrep/v1/evaluate/flags/"+key, []byte(body), header...)
		wantCORS(t, w)
		var a ofrepAnswer
		json.Unmarshal(w.Body.Bytes(), &a)
		return w.Code, a
	}
	bearer := []string{"Authorization", "Bearer " + f.token}
	ctx := `{"context":{"targetingKey":"u1","plan":"pro"}}`
	// A secret key, from a server (no Origin).
	for _, h := range [][]string{bearer, {"X-API-Key", f.token}, {"Authorization", "Bearer " + secret, "Origin", ""}, {"X-API-Key", secret, "Origin", ""}} {
		if code, a := eval("pro", ctx, h...); code != 200 || a.Value != true || a.Reason != "TARGETING_MATCH" || a.Key != "pro" || a.Metadata["payload"] != `{"n":1}` {
			t.Errorf("auth %v: %d %+v", h, code, a)
		}
	}
	for _, h := range [][]string{nil, {"Authorization", "Bearer nope"}, {"X-API-Key", "nope"}, {"Authorization", "Bearer jsk_nope", "Origin", ""}} {
		if code, _ := eval("pro", ctx, h...); code != 401 {
			t.Errorf("auth %v: %d, want 401", h, code)
		}
	}
	// A secret key from a browser: refused, saying why (with CORS, so the
	// page can read it).
	for _, h := range [][]string{{"Authorization", "Bearer " + secret}, {"X-API-Key", secret}} {
		if code, a := eval("pro", ctx, h...); code != 401 || a.ErrorCode != "SECRET_KEY_IN_BROWSER" || !strings.Contains(a.ErrorDetails, "project token") {
			t.Errorf("secret key from a page (%s): %d %+v, want 401 telling to use the project token", h[0], code, a)
		}
	}
	half := "SPLIT" // in or out of the 50 % rollout, the split decided
	for key, want := range map[string]string{"pro": "TARGETING_MATCH", "split": "SPLIT", "off": "DISABLED", "on": "STATIC", "half": half, "none": "STATIC"} {
		if code, a := eval(key, ctx, bearer...); code != 200 || a.Reason != want {
			t.Errorf("%s: %d %+v, want reason %s", key, code, a, want)
		}
	}
	if _, a := eval("pro", `{"context":{"targetingKey":"u1","plan":"free"}}`, bearer...); a.Value != false || a.Reason != "DEFAULT" || a.Variant != "false" {
		t.Errorf("no match: %+v", a)
	}
	if _, a := eval("split", ctx, bearer...); a.Value != a.Variant || (a.Variant != "a" && a.Variant != "b") {
		t.Errorf("split: %+v", a)
	}
	for body, want := range map[string]struct {
		status int
		code   string
	}{
		`{"context":`:                            {400, "PARSE_ERROR"},
		`[1]`:                                    {400, "PARSE_ERROR"},
		``:                                       {400, "TARGETING_KEY_MISSING"},
		`{}`:                                     {400, "TARGETING_KEY_MISSING"},
		`{"context":{"plan":"pro"}}`:             {400, "TARGETING_KEY_MISSING"},
		`{"context":{"targetingKey":""}}`:        {400, "TARGETING_KEY_MISSING"},
		`{"context":[1]}`:                        {400, "INVALID_CONTEXT"},
		`{"context":{"targetingKey":7}}`:         {400, "INVALID_CONTEXT"},
		strings.Repeat(" ", maxFlagsBody+1) + "": {413, "GENERAL"},
	} {
		if code, a := eval("pro", body, bearer...); code != want.status || a.ErrorCode != want.code || a.Key != "pro" || a.ErrorDetails == "" {
			t.Errorf("body %.40q: %d %+v, want %d %s", body, code, a, want.status, want.code)
		}
	}
	if code, a := eval("missing", ctx, bearer...); code != 404 || a.ErrorCode != "FLAG_NOT_FOUND" || a.Key != "missing" {
		t.Errorf("unknown flag: %d %+v", code, a)
	}

	w := f.do("POST", "/ofrep/v1/evaluate/flags", []byte(ctx), bearer...)
	wantStatus(t, w, 200)
	var bulk struct {
		Flags []ofrepAnswer `json:"flags"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &bulk); err != nil || len(bulk.Flags) != 6 {
		t.Fatalf("bulk %s", w.Body.String())
	}
	etag := w.Header().Get("ETag")
	if !strings.HasPrefix(etag, `W/"`) || !strings.Contains(w.Header().Get("Access-Control-Expose-Headers"), "ETag") {
		t.Errorf("bulk headers %v", w.Header())
	}
	if w := f.do("POST", "/ofrep/v1/evaluate/flags", []byte(ctx), "Authorization", "Bearer "+f.token, "If-None-Match", etag); w.Code != http.StatusNotModified {
		t.Errorf("bulk If-None-Match: %d", w.Code)
	}
	if w := f.do("POST", "/ofrep/v1/evaluate/flags", []byte(`{"context":{"targetingKey":"u2","plan":"free"}}`), "Authorization", "Bearer "+f.token, "If-None-Match", etag); w.Code != 200 {
		t.Errorf("another context, same ETag: %d, want 200", w.Code)
	}
	if w := f.do("POST", "/ofrep/v1/evaluate/flags", []byte(`{"context":{}}`), bearer...); w.Code != 400 || !strings.Contains(w.Body.String(), "TARGETING_KEY_MISSING") {
		t.Errorf("bulk without targeting key: %d %s", w.Code, w.Body.String())
	}
	pre := f.do("OPTIONS", "/ofrep/v1/evaluate/flags", nil, "Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "authorization,content-type,if-none-match")
	wantStatus(t, pre, http.StatusNoContent)
	if pre.Header().Get("Access-Control-Allow-Headers") != "authorization,content-type,if-none-match" {
		t.Errorf("preflight %v", pre.Header())
	}
	wantStatus(t, f.do("GET", "/ofrep/v1/evaluate/flags", nil, bearer...), http.StatusMethodNotAllowed)
}

// storedPersons is an event store whose persons are the ids with one of
// the prefixes, each a person of its own.
type storedPersons struct{ prefixes []string }

func (p storedPersons) PersonByDistinctID(_ context.Context, _ int64, id string) (store.Person, []string, error) {
	for _, pre := range p.prefixes {
		if strings.HasPrefix(id, pre) {
			return store.Person{Properties: map[string]any{}}, []string{id}, nil
		}
	}
	return store.Person{}, nil, store.ErrNotFound
}

// TestAnonHashKeysBounded: one client with the public project token and
// made-up ids made the server store every $anon_distinct_id it sent,
// whole and forever (a 100 KB anonymous id was stored as is; 20 requests
// left ~4 MB of rows). Ids are refused past 200 characters (400 naming
// the field, OFREP's targetingKey too), rows are written only for stored
// persons, and one client's writes are bounded.
func TestAnonHashKeysBounded(t *testing.T) {
	f := newFixture(t)
	f.addFlag(`{"key":"cont","ensure_experience_continuity":true,"filters":{"groups":[{"rollout_percentage":50}]}}`)
	const requests, anonLen = 20, 100_000
	stored := 0
	for i := 0; i < requests; i++ {
		did := fmt.Sprintf("attacker-%d", i)
		anon := fmt.Sprintf("anon-%d-", i) + strings.Repeat("x", anonLen)
		body, _ := json.Marshal(map[string]string{"token": f.token, "distinct_id": did, "$anon_distinct_id": anon})
		w := f.do("POST", "/flags?v=2", body, "Content-Type", "application/json")
		if w.Code != 400 || !strings.Contains(w.Body.String(), `\"$anon_distinct_id\": longer than 200 characters`) {
			t.Fatalf("request %d: %d %s, want 400 naming $anon_distinct_id", i, w.Code, w.Body.String())
		}
		for _, id := range []string{did, anon} {
			hk, err := f.meta.FlagHashKeys(context.Background(), f.id, id)
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range hk {
				stored += len(id) + len(v)
			}
		}
	}
	if stored > 0 {
		t.Errorf("%d /flags requests from one client with the public token stored %d bytes of flag_hash_keys rows", requests, stored)
	}
	// 200 characters (of two bytes each) is the longest id; 201 is refused.
	ok, long := strings.Repeat("é", 200), strings.Repeat("é", 201)
	for body, want := range map[string]int{
		`{"token":"` + f.token + `","distinct_id":"` + ok + `","$anon_distinct_id":"` + ok + `"}`: 200,
		`{"token":"` + f.token + `","distinct_id":"` + long + `"}`:                                400,
	} {
		if w := f.do("POST", "/flags/?v=2", []byte(body)); w.Code != want || (want == 400 && !strings.Contains(w.Body.String(), `\"distinct_id\"`)) {
			t.Errorf("%d-byte body: %d %s, want %d", len(body), w.Code, w.Body.String(), want)
		}
	}
	for key, want := range map[string]int{ok: 200, long: 400} {
		w := f.do("POST", "/ofrep/v1/evaluate/flags/cont", []byte(`{"context":{"targetingKey":"`+key+`"}}`), "Authorization", "Bearer "+f.token)
		if w.Code != want || (want == 400 && !strings.Contains(w.Body.String(), "INVALID_CONTEXT")) {
			t.Errorf("OFREP targetingKey of %d characters: %d %s, want %d", len([]rune(key)), w.Code, w.Body.String(), want)
		}
	}

	// With an event store: rows only for its persons, and at most
	// HashKeyBurst writes from one client.
	g := newFixture(t)
	g.h.svc = flagserve.New(g.meta, storedPersons{prefixes: []string{"user-"}}, flagserve.Options{})
	addFlagTo(t, g.meta, g.id, `{"key":"cont","ensure_experience_continuity":true,"filters":{"groups":[{"rollout_percentage":50}]}}`)
	rows := func(id string) int {
		hk, _ := g.meta.FlagHashKeys(context.Background(), g.id, id)
		return len(hk)
	}
	for i := 0; i < 50; i++ {
		body := fmt.Sprintf(`{"token":%q,"distinct_id":"made-up-%d","$anon_distinct_id":"also-made-up-%d"}`, g.token, i, i)
		wantStatus(t, g.do("POST", "/flags/?v=2", []byte(body)), 200)
		if rows(fmt.Sprint("made-up-", i))+rows(fmt.Sprint("also-made-up-", i)) != 0 {
			t.Fatalf("made-up ids %d got rows", i)
		}
	}
	written := 0
	for i := 0; i < 50; i++ {
		body := fmt.Sprintf(`{"token":%q,"distinct_id":"user-%d","$anon_distinct_id":"anon-%d"}`, g.token, i, i)
		wantStatus(t, g.do("POST", "/flags/?v=2", []byte(body)), 200)
		written += rows(fmt.Sprint("user-", i))
	}
	if written == 0 || written > 20 {
		t.Errorf("50 identifies of stored persons from one client wrote %d rows; want some, at most 20 (the client's burst)", written)
	}
	body := fmt.Sprintf(`{"token":%q,"distinct_id":"user-x","$anon_distinct_id":"anon-x"}`, g.token)
	if wantStatus(t, g.doFrom("198.51.100.9:1", "POST", "/flags/?v=2", []byte(body)), 200); rows("user-x") != 1 {
		t.Error("another client's identify was not recorded")
	}
}

// TestRegexEvaluationBounded: a flag's ordinary-looking bounded repeat
// ([a-z]{2,300}@corp\.io) matched against a 250 KB person property the
// caller sent cost seconds of CPU per /flags request. Request property
// values are bounded (400 naming the field), and flags bound what they
// compare anyway (flags.MaxMatchLen, flags.MaxRegexWork).
func TestRegexEvaluationBounded(t *testing.T) {
	f := newFixture(t)
	f.addFlag(`{"key":"staff","filters":{"groups":[{"properties":[{"key":"email","operator":"regex","value":"[a-z]{2,300}@corp\\.io"}]}]}}`)
	body, _ := json.Marshal(map[string]any{"token": f.token, "distinct_id": "x",
		"person_properties": map[string]string{"email": strings.Repeat("a", 250_000)}})
	// Warm the snapshot.
	f.do("POST", "/flags?v=2", []byte(`{"token":"`+f.token+`","distinct_id":"warm"}`), "Content-Type", "application/json")
	start := time.Now()
	w := f.do("POST", "/flags?v=2", body, "Content-Type", "application/json")
	took := time.Since(start)
	if took > 250*time.Millisecond {
		t.Errorf("one /flags request (status %d, %d-byte body) took %v of CPU in regex matching", w.Code, len(body), took)
	}
	if w.Code != 400 || !strings.Contains(w.Body.String(), `person_properties.email`) {
		t.Errorf("a 250 KB person property: %d %s, want 400 naming person_properties.email", w.Code, w.Body.String())
	}
	// The longest value accepted is not compared past the regex budget:
	// answered at once, with errorsWhileComputingFlags.
	body, _ = json.Marshal(map[string]any{"token": f.token, "distinct_id": "x",
		"person_properties": map[string]string{"email": strings.Repeat("a", maxPropertyValueLen-2)}})
	start = time.Now()
	w = f.do("POST", "/flags?v=2", body)
	if took := time.Since(start); took > 250*time.Millisecond || w.Code != 200 || decodeMap(t, w.Body.Bytes())["errorsWhileComputingFlags"] != true {
		t.Errorf("a %d-byte value: %d in %v: %s", maxPropertyValueLen-2, w.Code, took, w.Body.String())
	}
}

// TestRequestPropertiesBounded: person_properties, group_properties,
// groups and an OFREP context are bounded in count, key and value size;
// past a bound, 400 naming the field.
func TestRequestPropertiesBounded(t *testing.T) {
	f := newFixture(t)
	many := map[string]any{}
	for i := 0; i <= maxRequestProperties; i++ {
		many[fmt.Sprint("k", i)] = i
	}
	groups := map[string]any{}
	groupProps := map[string]any{}
	for i := 0; i <= maxRequestGroups; i++ {
		groups[fmt.Sprint("t", i)] = "g"
		groupProps[fmt.Sprint("t", i)] = map[string]any{}
	}
	longKey := map[string]any{strings.Repeat("k", maxPropertyKeyLen+1): 1}
	for name, c := range map[string]struct {
		field string
		value any
	}{
		"too many properties":  {"person_properties", many},
		"a long key":           {"person_properties", longKey},
		"a long value":         {"person_properties", map[string]any{"a": []any{strings.Repeat("v", maxPropertyValueLen)}}},
		"too many groups":      {"groups", groups},
		"a long group key":     {"groups", map[string]any{"company": strings.Repeat("g", maxGroupKeyLen+1)}},
		"too many group types": {"group_properties", groupProps},
		"a long group value":   {"group_properties", map[string]any{"company": map[string]any{"a": strings.Repeat("v", maxPropertyValueLen)}}},
	} {
		body, _ := json.Marshal(map[string]any{"token": f.token, "distinct_id": "d", c.field: c.value})
		w := f.do("POST", "/flags/?v=2", body)
		if w.Code != 400 || !strings.Contains(decodeMap(t, w.Body.Bytes())["detail"].(string), c.field) {
			t.Errorf("%s: %d %.200s, want 400 naming %s", name, w.Code, w.Body.String(), c.field)
		}
	}
	within := map[string]any{"a": strings.Repeat("v", 1000)}
	body, _ := json.Marshal(map[string]any{"token": f.token, "distinct_id": "d", "person_properties": within,
		"group_properties": map[string]any{"company": within}, "groups": map[string]any{"company": "acme"}})
	wantStatus(t, f.do("POST", "/flags/?v=2", body), 200)
	ctx := map[string]any{"targetingKey": "d"}
	for k, v := range many {
		ctx[k] = v
	}
	for name, c := range map[string]map[string]any{"too many keys": ctx, "a long value": {"targetingKey": "d", "a": strings.Repeat("v", maxPropertyValueLen)}} {
		body, _ := json.Marshal(map[string]any{"context": c})
		w := f.do("POST", "/ofrep/v1/evaluate/flags", body, "Authorization", "Bearer "+f.token)
		if w.Code != 400 || !strings.Contains(w.Body.String(), "INVALID_CONTEXT") {
			t.Errorf("OFREP %s: %d %.200s", name, w.Code, w.Body.String())
		}
	}
}

// TestUnknownTokenBeforeDecode: the decode slots were taken before the
// token was checked, so a flood with made-up tokens starved every tenant.
// An unknown token is refused (401) before a slot is taken, in every
// encoding whose token can be read cheaply; a known token decodes.
func TestUnknownTokenBeforeDecode(t *testing.T) {
	f := newFixture(t)
	var held []client
	for i := 0; i < maxDecodes; i++ {
		c := client{key: fmt.Sprint("flood-", i)}
		f.h.decodes.acquire(c)
		held = append(held, c)
	}
	bad := []byte(`{"distinct_id":"d","person_properties":{"a":{"b":[1,"}"]}},"token":"jpt_made_up"}`)
	b64 := base64.StdEncoding.EncodeToString(bad)
	for name, c := range map[string]struct {
		body   []byte
		header []string
	}{
		"json":        {bad, nil},
		"gzip":        {gz(bad), []string{"Content-Type", "text/plain"}},
		"base64 form": {[]byte("data=" + url.QueryEscape(b64)), []string{"Content-Type", "application/x-www-form-urlencoded"}},
		"no token":    {[]byte(`{"distinct_id":"d"}`), nil},
	} {
		if w := f.do("POST", "/flags/?v=2", c.body, c.header...); w.Code != http.StatusUnauthorized {
			t.Errorf("%s: %d %s, want 401 without a decode slot", name, w.Code, w.Body.String())
		}
	}
	good := []byte(`{"distinct_id":"d","token":"` + f.token + `"}`)
	wantStatus(t, f.do("POST", "/flags/?v=2", good), http.StatusTooManyRequests)
	for _, c := range held {
		f.h.decodes.release(c)
	}
	wantStatus(t, f.do("POST", "/flags/?v=2", good), http.StatusOK)
}

// TestClientRateLimited: /flags and OFREP count each client's requests
// (intake.ClientKey, X-Forwarded-For from trusted proxies only); past
// its rate, 429 with Retry-After; other clients are not affected, and a
// process on this host is not limited per client.
func TestClientRateLimited(t *testing.T) {
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	f := newFixture(t, WithClientLimits(ClientLimits{Rate: 0.001, Burst: 5}), WithTrustedProxies(proxies))
	body := []byte(`{"token":"` + f.token + `","distinct_id":"d"}`)
	ofrep := []byte(`{"context":{"targetingKey":"d"}}`)
	for i := 0; i < 4; i++ {
		wantStatus(t, f.do("POST", "/flags/?v=2", body), 200)
	}
	wantStatus(t, f.do("POST", "/ofrep/v1/evaluate/flags", ofrep, "Authorization", "Bearer "+f.token), 200)
	w := f.do("POST", "/flags/?v=2", body)
	if wantStatus(t, w, http.StatusTooManyRequests); w.Header().Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	if w := f.do("POST", "/ofrep/v1/evaluate/flags/x", ofrep, "Authorization", "Bearer "+f.token); w.Code != http.StatusTooManyRequests || !strings.Contains(w.Body.String(), `"key":"x"`) {
		t.Errorf("OFREP past the rate: %d %s", w.Code, w.Body.String())
	}
	wantStatus(t, f.doFrom("198.51.100.1:1", "POST", "/flags/?v=2", body), 200)
	// Behind a trusted proxy, the client it forwards for counts.
	for i := 0; i < 5; i++ {
		wantStatus(t, f.doFrom("10.1.2.3:80", "POST", "/flags/?v=2", body, "X-Forwarded-For", "203.0.113.5"), 200)
	}
	wantStatus(t, f.doFrom("10.1.2.3:80", "POST", "/flags/?v=2", body, "X-Forwarded-For", "203.0.113.5"), http.StatusTooManyRequests)
	wantStatus(t, f.doFrom("10.1.2.3:80", "POST", "/flags/?v=2", body, "X-Forwarded-For", "203.0.113.6"), 200)
	// From an untrusted peer, X-Forwarded-For is ignored.
	for i := 0; i < 5; i++ {
		f.doFrom("198.51.100.2:1", "POST", "/flags/?v=2", body, "X-Forwarded-For", fmt.Sprint("203.0.113.", 100+i))
	}
	wantStatus(t, f.doFrom("198.51.100.2:1", "POST", "/flags/?v=2", body, "X-Forwarded-For", "203.0.113.200"), http.StatusTooManyRequests)
	// A local process is not limited per client; a local proxy that
	// forwards (X-Forwarded-For) without being trusted is one client.
	for i := 0; i < 10; i++ {
		wantStatus(t, f.doFrom("127.0.0.1:5000", "POST", "/flags/?v=2", body), 200)
	}
	for i := 0; i < 5; i++ {
		f.doFrom("[::1]:5000", "POST", "/flags/?v=2", body, "X-Forwarded-For", "203.0.113.7")
	}
	wantStatus(t, f.doFrom("[::1]:5000", "POST", "/flags/?v=2", body, "X-Forwarded-For", "203.0.113.8"), http.StatusTooManyRequests)
	strict := newFixture(t, WithClientLimits(ClientLimits{Rate: 0.001, Burst: 2, LimitLocal: true}))
	for i := 0; i < 2; i++ {
		strict.doFrom("127.0.0.1:5000", "POST", "/flags/?v=2", body)
	}
	if w := strict.doFrom("127.0.0.1:5000", "POST", "/flags/?v=2", []byte(`{"token":"`+strict.token+`","distinct_id":"d"}`)); w.Code != http.StatusTooManyRequests {
		t.Errorf("LimitLocal: a local process past its rate answered %d", w.Code)
	}
}

// countingProjects counts token lookups.
type countingProjects struct {
	metaProjects
	calls []string
}

func (p *countingProjects) ProjectByToken(ctx context.Context, token string) (int64, bool, error) {
	p.calls = append(p.calls, token)
	return p.metaProjects.ProjectByToken(ctx, token)
}

type countingSecrets struct {
	Secrets
	calls []string
}

func (s *countingSecrets) ProjectBySecret(ctx context.Context, secret string) (meta.Project, error) {
	s.calls = append(s.calls, secret)
	return s.Secrets.ProjectBySecret(ctx, secret)
}

// TestOFREPKeysByPrefix: OFREP tells a secret key from a project token by
// its prefix, so a secret key never goes through the token lookup (and
// its cache), nor a token through the secret lookup.
func TestOFREPKeysByPrefix(t *testing.T) {
	f := newFixture(t)
	secret, _ := f.meta.CreateKey(context.Background(), f.id)
	if !isSecretKey(secret) || !isSecretKey(meta.NewSecret()) || isSecretKey(meta.NewToken()) || isSecretKey(f.token) {
		t.Fatalf("secret keys are %q…, tokens %q…: isSecretKey no longer tells them apart", secret[:4], f.token[:4])
	}
	f.addFlag(onFlag)
	tokens := &countingProjects{metaProjects: metaProjects{f.meta}}
	secrets := &countingSecrets{Secrets: f.meta}
	f.h.projects, f.h.secrets.src = tokens, secrets
	ctx := []byte(`{"context":{"targetingKey":"u"}}`)
	wantStatus(t, f.do("POST", "/ofrep/v1/evaluate/flags/on", ctx, "Authorization", "Bearer "+secret, "Origin", ""), 200)
	wantStatus(t, f.do("POST", "/ofrep/v1/evaluate/flags/on", ctx, "X-API-Key", "jsk_unknown", "Origin", ""), 401)
	if len(tokens.calls) != 0 {
		t.Errorf("secret keys went through the token lookup: %q", tokens.calls)
	}
	wantStatus(t, f.do("POST", "/ofrep/v1/evaluate/flags/on", ctx, "Authorization", "Bearer "+f.token), 200)
	wantStatus(t, f.do("POST", "/ofrep/v1/evaluate/flags/on", ctx, "Authorization", "Bearer jpt_unknown"), 401)
	if len(secrets.calls) != 2 {
		t.Errorf("secret lookups %d (%q), want the 2 secret keys only", len(secrets.calls), secrets.calls)
	}
	// The definitions take secret keys only: a token is refused unlooked.
	wantServerStatus(t, f.do("GET", "/flags/definitions", nil, "Authorization", "Bearer "+f.token, "Origin", ""), 401)
	if len(secrets.calls) != 2 {
		t.Errorf("a project token went through the secret lookup: %q", secrets.calls)
	}
}

// TestOFREPErrorIsACode: metadata.error showed the internal error text
// (cohort ids and why they cannot be evaluated) to any page; it is a
// code now.
func TestOFREPErrorIsACode(t *testing.T) {
	f := newFixture(t)
	c, err := f.meta.CreateCohort(context.Background(), f.id, "buyers", []byte(`{"behavior":{"event":"purchase","days":30}}`))
	if err != nil {
		t.Fatal(err)
	}
	f.addFlag(fmt.Sprintf(`{"key":"b","filters":{"groups":[{"properties":[{"key":"id","type":"cohort","value":%d}]}]}}`, c.ID))
	f.addFlag(`{"key":"d","filters":{"groups":[{"properties":[{"key":"missing-flag","type":"flag","operator":"flag_evaluates_to","value":true}]}]}}`)
	for key, want := range map[string]string{"b": OFREPErrorCohort, "d": OFREPErrorDependency} {
		w := f.do("POST", "/ofrep/v1/evaluate/flags/"+key, []byte(`{"context":{"targetingKey":"u"}}`), "Authorization", "Bearer "+f.token)
		var a ofrepAnswer
		json.Unmarshal(w.Body.Bytes(), &a)
		if w.Code != 200 || a.Metadata["error"] != want || strings.Contains(w.Body.String(), "behavio") || strings.Contains(w.Body.String(), "missing-flag\\\"") {
			t.Errorf("%s: %d %s, want metadata.error %s and no error text", key, w.Code, w.Body.String(), want)
		}
	}
}
