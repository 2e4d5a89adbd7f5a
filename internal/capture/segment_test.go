package capture

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/journey-dev/journey/internal/event"
)

// segmentCall is one call of the given type with what that type needs.
func segmentCall(typ string) map[string]any {
	m := map[string]any{"type": typ, "userId": "u1", "messageId": "ajs-next-" + typ}
	switch typ {
	case "track":
		m["event"] = "Order Completed"
	case "page", "screen":
		m["name"] = "Home"
	case "group":
		m["groupId"] = "g1"
	case "alias":
		m["previousId"] = "anon-1"
	}
	return m
}

var segmentEventNames = map[string]string{
	"track": "Order Completed", "identify": event.Identify, "page": event.Pageview,
	"screen": event.Screen, "group": event.GroupIdentify, "alias": event.CreateAlias,
}

func TestSegmentRoutes(t *testing.T) {
	h, sink := newTestHandler(Options{})
	f := func(path string, body []byte, wantEvent string, headers ...string) {
		t.Helper()
		before := len(sink.events())
		w := call(h, "POST", path, body, headers...)
		if w.Code != 200 {
			t.Fatalf("POST %s: status %d (%s)", path, w.Code, w.Body)
		}
		evs := sink.events()[before:]
		if len(evs) != 1 || evs[0].Event != wantEvent {
			t.Errorf("POST %s: stored %v, want one %s", path, names(evs), wantEvent)
		}
	}
	for typ, name := range segmentEventNames {
		call := segmentCall(typ)
		delete(call, "type") // the path says it
		inBody := mustJSON(t, mergeObjects(call, map[string]any{"writeKey": "tok_a"}))
		noKey := mustJSON(t, call)
		for _, p := range []string{"/v1/" + typ, "/v1/" + typ[:1]} {
			f(p, []byte(inBody), name, "Content-Type: text/plain")
			f(p+"/", []byte(noKey), name, basicAuth("tok_a"), "Content-Type: application/json")
			f(p, gz(t, inBody), name, "Content-Encoding: gzip")
			f(p, gz(t, inBody), name) // gzip by magic bytes
		}
		batch := mustJSON(t, map[string]any{"batch": []any{segmentCall(typ)}})
		batchKey := mustJSON(t, map[string]any{"writeKey": "tok_a", "batch": []any{segmentCall(typ)}, "sentAt": "2024-05-01T12:00:00Z"})
		for _, p := range []string{"/v1/batch", "/v1/b", "/v1/batch/", "/v1/b/"} {
			f(p, []byte(batch), name, basicAuth("tok_a"))
			f(p, []byte(batchKey), name)
		}
	}
	if w := call(h, "GET", "/v1/track", nil); w.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET /v1/track: status %d, want 405", w.Code)
	}
}

func TestSegmentMapping(t *testing.T) {
	f := func(name string, call map[string]any, check func(e event.Event) string) {
		t.Helper()
		body := mustJSON(t, map[string]any{"writeKey": "tok_a", "batch": []any{call}})
		d, err := DecodeSegment(Request{Path: "/v1/batch", Body: []byte(body), Now: testNow})
		if err != nil || len(d.Events) != 1 {
			t.Errorf("%s: err %v, invalid %v", name, err, d.Invalid)
			return
		}
		if msg := check(d.Events[0]); msg != "" {
			t.Errorf("%s: %s\n%s", name, msg, mustJSON(t, d.Events[0]))
		}
	}
	props := func(want map[string]any) func(event.Event) string {
		return func(e event.Event) string {
			for k, v := range want {
				if got := e.Properties[k]; !reflect.DeepEqual(got, v) {
					return k + " = " + mustJSON(t, got) + ", want " + mustJSON(t, v)
				}
			}
			return ""
		}
	}
	withCtx := func(m map[string]any, ctx string) map[string]any {
		var c map[string]any
		_ = json.Unmarshal([]byte(ctx), &c)
		m["context"] = c
		return m
	}

	f("track", mergeObjects(segmentCall("track"), map[string]any{"properties": map[string]any{"revenue": 10.5}}), func(e event.Event) string {
		if e.Event != "Order Completed" || e.DistinctID != "u1" || e.Properties["revenue"] != json.Number("10.5") {
			return "wrong track mapping"
		}
		return ""
	})
	f("page keeps url, gets name", mergeObjects(segmentCall("page"), map[string]any{"properties": map[string]any{"url": "https://x.example/a"}}),
		props(map[string]any{"name": "Home", "url": "https://x.example/a", "$current_url": "https://x.example/a"}))
	f("screen", segmentCall("screen"), props(map[string]any{"name": "Home", "$screen_name": "Home"}))
	f("identify with both ids", mergeObjects(segmentCall("identify"), map[string]any{"anonymousId": "anon-9", "traits": map[string]any{"plan": "pro"}}),
		func(e event.Event) string {
			if e.DistinctID != "u1" || e.Properties[event.PropAnonID] != "anon-9" || !reflect.DeepEqual(e.Set, map[string]any{"plan": "pro"}) {
				return "wrong identify mapping"
			}
			return ""
		})
	f("identify anonymous only", map[string]any{"type": "identify", "anonymousId": "anon-9", "traits": map[string]any{"a": 1}}, func(e event.Event) string {
		if e.DistinctID != "anon-9" || e.Properties[event.PropAnonID] != nil {
			return "wrong anonymous identify"
		}
		return ""
	})
	f("alias", segmentCall("alias"), func(e event.Event) string {
		if e.DistinctID != "u1" || e.Properties[event.PropAlias] != "anon-1" {
			return "wrong alias mapping"
		}
		return ""
	})
	f("group", mergeObjects(segmentCall("group"), map[string]any{"traits": map[string]any{"plan": "pro"}}),
		props(map[string]any{"$group_type": "company", "$group_key": "g1", "$group_set": map[string]any{"plan": "pro"}, "$groups": map[string]any{"company": "g1"},
			"$segment_group": true}))
	f("number userId", map[string]any{"type": "track", "event": "x", "userId": 42}, func(e event.Event) string {
		if e.DistinctID != "42" {
			return "distinct_id " + e.DistinctID
		}
		return ""
	})
	f("context flattened", withCtx(segmentCall("track"), `{"page":{"url":"https://x.example/p","path":"/p","referrer":"https://ref.example"},
		"campaign":{"source":"news","medium":"email","name":"spring"},"library":{"name":"analytics.js","version":"2.0"},"ip":"1.2.3.4","groupId":"g7"}`),
		props(map[string]any{"$current_url": "https://x.example/p", "$pathname": "/p", "$referrer": "https://ref.example",
			"utm_source": "news", "utm_medium": "email", "utm_campaign": "spring", "$lib": "analytics.js", "$lib_version": "2.0",
			"$ip": "1.2.3.4", "$groups": map[string]any{"company": "g7"}}))
	f("context does not overwrite", withCtx(mergeObjects(segmentCall("track"), map[string]any{"properties": map[string]any{"$ip": "9.9.9.9"}}), `{"ip":"1.2.3.4"}`),
		props(map[string]any{"$ip": "9.9.9.9"}))
	f("messageId to uuid v5", segmentCall("track"), func(e event.Event) string {
		if want := uuid.NewSHA1(uuidNamespace, []byte("ajs-next-track")).String(); e.UUID != want {
			return "uuid " + e.UUID + ", want " + want
		}
		return ""
	})
	f("messageId uuid kept", mergeObjects(segmentCall("track"), map[string]any{"messageId": "6F9619FF-8B86-D011-B42D-00CF4FC964FF"}), func(e event.Event) string {
		if e.UUID != "6f9619ff-8b86-d011-b42d-00cf4fc964ff" {
			return "uuid " + e.UUID
		}
		return ""
	})

	// Group type from the options.
	body := mustJSON(t, map[string]any{"writeKey": "tok_a", "batch": []any{segmentCall("group")}})
	d, err := DecodeSegment(Request{Path: "/v1/b", Body: []byte(body), Now: testNow, GroupType: "account"})
	if err != nil || len(d.Events) != 1 || d.Events[0].Properties[event.PropGroupType] != "account" {
		t.Errorf("GroupType option: %+v %v", d, err)
	}
}

func TestSegmentTimestamps(t *testing.T) {
	f := func(name string, batchSentAt string, call map[string]any, want time.Time) {
		t.Helper()
		b := map[string]any{"writeKey": "tok_a", "batch": []any{call}}
		if batchSentAt != "" {
			b["sentAt"] = batchSentAt
		}
		d, err := DecodeSegment(Request{Path: "/v1/batch", Body: []byte(mustJSON(t, b)), Now: testNow})
		if err != nil || len(d.Events) != 1 {
			t.Errorf("%s: err %v invalid %v", name, err, d.Invalid)
			return
		}
		if got := d.Events[0].Timestamp; !got.Equal(want) {
			t.Errorf("%s: timestamp %v, want %v", name, got, want)
		}
	}
	tr := func(kv ...string) map[string]any {
		m := segmentCall("track")
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	// The client clock is 10 minutes behind.
	f("batch sentAt", "2024-05-01T11:50:00Z", tr("timestamp", "2024-05-01T11:49:00Z"), testNow.Add(-time.Minute))
	f("call sentAt", "", tr("timestamp", "2024-05-01T11:49:00.000Z", "sentAt", "2024-05-01T11:50:00.000Z"), testNow.Add(-time.Minute))
	f("originalTimestamp", "2024-05-01T11:50:00Z", tr("originalTimestamp", "2024-05-01T11:49:00Z"), testNow.Add(-time.Minute))
	f("timestamp only", "", tr("timestamp", "2024-04-01T00:00:00+02:00"), time.Date(2024, 3, 31, 22, 0, 0, 0, time.UTC))
	f("nothing", "", tr(), testNow)
	f("future clamped", "", tr("timestamp", "2025-01-01T00:00:00Z"), testNow)
}

func TestSegmentErrors(t *testing.T) {
	f := func(name, path, body string, wantStatus int, wantMsg string, headers ...string) {
		t.Helper()
		h := http.Header{}
		for _, kv := range headers {
			k, v, _ := strings.Cut(kv, ":")
			h.Set(k, strings.TrimSpace(v))
		}
		_, err := DecodeSegment(Request{Path: path, Body: []byte(body), Header: h, Now: testNow})
		e, ok := err.(*Error)
		if !ok || e.Status != wantStatus || !strings.Contains(e.Error(), wantMsg) {
			t.Errorf("%s: got %v, want %d containing %q", name, err, wantStatus, wantMsg)
		}
	}
	f("malformed", "/v1/t", `{"event":`, 400, "cannot decode body as JSON")
	f("missing writeKey", "/v1/t", `{"event":"x","userId":"u"}`, 401, `invalid field "writeKey": missing project token`)
	f("mixed writeKeys", "/v1/b", `{"writeKey":"tok_a","batch":[{"type":"track","event":"x","userId":"u"}]}`, 401, "more than one", basicAuth("tok_b"))
	f("call too large", "/v1/t", `{"writeKey":"tok_a","event":"x","userId":"u","properties":{"p":"`+strings.Repeat("x", 33<<10)+`"}}`, 413, "over 32 KB")
	f("batch too large", "/v1/batch", `{"writeKey":"tok_a","batch":[`+strings.Repeat(`{"type":"track","event":"x","userId":"u","properties":{"p":"`+strings.Repeat("x", 20<<10)+`"}},`, 30)+`{}]}`, 413, "over 500 KB")
	f("not a segment path", "/e/", `{}`, 400, "not a Segment API path")
}

func TestSegmentHandlerAnswers(t *testing.T) {
	f := func(name, path, body string, wantStatus, wantStored int, wantSkipped []string) {
		t.Helper()
		h, sink := newTestHandler(Options{})
		w := call(h, "POST", path, []byte(body))
		if w.Code != wantStatus {
			t.Errorf("%s: status %d, want %d (%s)", name, w.Code, wantStatus, w.Body)
		}
		var fields []string
		for _, s := range decodeBody(t, w).Skipped {
			fields = append(fields, s.Field)
		}
		if !reflect.DeepEqual(fields, wantSkipped) {
			t.Errorf("%s: skipped %v, want %v", name, fields, wantSkipped)
		}
		if got := len(sink.events()); got != wantStored {
			t.Errorf("%s: stored %d, want %d", name, got, wantStored)
		}
	}
	f("partial invalid", "/v1/batch", `{"writeKey":"tok_a","batch":[{"type":"track","event":"x","userId":"u"},{"type":"track","event":"x"},{"type":"nope","userId":"u"},{"type":"alias","userId":"u"}]}`,
		200, 1, []string{"batch[1].userId", "batch[2].type", "batch[3].previousId"})
	f("all invalid still 200", "/v1/batch", `{"writeKey":"tok_a","batch":[{"type":"track","userId":"u"}]}`, 200, 0, []string{"batch[0].event"})
	f("single invalid still 200", "/v1/track", `{"writeKey":"tok_a","userId":"u"}`, 200, 0, []string{"event"})
	f("oversized call in batch skipped", "/v1/batch", `{"writeKey":"tok_a","batch":[{"type":"track","event":"x","userId":"u","properties":{"p":"`+strings.Repeat("x", 33<<10)+`"}},{"type":"track","event":"x","userId":"u"}]}`,
		200, 1, []string{"batch[0]"})
	f("lone oversized call in batch is 413", "/v1/batch", `{"writeKey":"tok_a","batch":[{"type":"track","event":"x","userId":"u","properties":{"p":"`+strings.Repeat("x", 33<<10)+`"}}]}`,
		413, 0, []string{"batch[0]"})
	f("unknown writeKey", "/v1/track", `{"writeKey":"nope","event":"x","userId":"u"}`, 401, 0, nil)
	f("malformed", "/v1/track", `{"writeKey":`, 400, 0, nil)
	f("too large", "/v1/track", `{"writeKey":"tok_a","event":"x","userId":"u","properties":{"p":"`+strings.Repeat("x", 33<<10)+`"}}`, 413, 0, nil)
}
