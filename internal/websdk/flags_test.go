package websdk

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/journey-dev/journey/internal/flags"
	"github.com/journey-dev/journey/internal/flagserve"
	"github.com/journey-dev/journey/internal/meta"
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
// its project's, the ETag answers 304, on every path the SDKs use.
func TestDefinitionsRoute(t *testing.T) {
	f := newFixture(t)
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
		w := f.do("GET", path, nil, "Authorization", auth)
		wantStatus(t, w, 200)
		var d flags.Definitions
		if err := json.Unmarshal(w.Body.Bytes(), &d); err != nil || len(d.Flags) != 1 || d.Flags[0].Key != "pro" || d.Cohorts == nil || d.GroupTypeMapping == nil {
			t.Fatalf("%s: %s (%v)", path, w.Body.String(), err)
		}
		etag := w.Header().Get("ETag")
		if !strings.HasPrefix(etag, `W/"`) {
			t.Fatalf("%s: ETag %q", path, etag)
		}
		if w := f.do("GET", path, nil, "Authorization", auth, "If-None-Match", etag); w.Code != http.StatusNotModified || w.Body.Len() != 0 {
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
	for _, h := range [][]string{bearer, {"X-API-Key", f.token}, {"Authorization", "Bearer " + secret}} {
		if code, a := eval("pro", ctx, h...); code != 200 || a.Value != true || a.Reason != "TARGETING_MATCH" || a.Key != "pro" || a.Metadata["payload"] != `{"n":1}` {
			t.Errorf("auth %v: %d %+v", h, code, a)
		}
	}
	for _, h := range [][]string{nil, {"Authorization", "Bearer nope"}, {"X-API-Key", "nope"}} {
		if code, _ := eval("pro", ctx, h...); code != 401 {
			t.Errorf("auth %v: %d, want 401", h, code)
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
