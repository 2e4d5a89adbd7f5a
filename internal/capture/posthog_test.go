package capture

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/journey-dev/journey/internal/event"
)

const oneEvent = `{"api_key":"tok_a","batch":[{"event":"e1","distinct_id":"u1"}]}`

func TestPostHogRoutes(t *testing.T) {
	h, sink := newTestHandler(Options{})
	f := func(method, target string, body []byte, wantStatus int, headers ...string) {
		t.Helper()
		before := len(sink.events())
		w := call(h, method, target, body, headers...)
		if w.Code != wantStatus {
			t.Fatalf("%s %s: status %d, want %d (%s)", method, target, w.Code, wantStatus, w.Body)
		}
		if wantStatus != http.StatusOK {
			return
		}
		if got := w.Body.String(); got != "{\"status\":1}\n" {
			t.Errorf("%s %s: body %q, want {\"status\":1}", method, target, got)
		}
		if got := len(sink.events()) - before; got != 1 {
			t.Errorf("%s %s: %d events stored, want 1", method, target, got)
		}
	}
	for _, p := range []string{"/e", "/i/v0/e", "/batch", "/capture", "/track", "/engage"} {
		f("POST", p, []byte(oneEvent), 200)
		f("POST", p+"/", []byte(oneEvent), 200)
		f("GET", p+"/?data="+url.QueryEscape(oneEvent), nil, 200)
		f("GET", p+"?data="+url.QueryEscape(b64(oneEvent)), nil, 200)
		f("PUT", p, []byte(oneEvent), http.StatusMethodNotAllowed)
	}
	f("POST", "/nope", []byte(oneEvent), http.StatusNotFound)
	f("POST", "/e/extra", []byte(oneEvent), http.StatusNotFound)
}

func TestDecodePostHogBodies(t *testing.T) {
	batch := `{"api_key":"tok_a","sent_at":"2024-05-01T12:00:00Z","batch":[{"event":"e1","distinct_id":"u1"},{"event":"e2","properties":{"distinct_id":"u2"}}]}`
	array := `[{"event":"e1","distinct_id":"u1","properties":{"token":"tok_a"}},{"event":"e2","distinct_id":"u2","properties":{"token":"tok_a"}}]`
	single := `{"event":"e1","distinct_id":"u1","api_key":"tok_a"}`
	want2 := []string{"e1/u1", "e2/u2"}
	want1 := []string{"e1/u1"}

	f := func(name string, r Request, want []string) {
		t.Helper()
		if r.Path == "" {
			r.Path = "/e/"
		}
		r.Now = testNow
		d, err := DecodePostHog(r)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			return
		}
		if d.Token != "tok_a" {
			t.Errorf("%s: token %q, want tok_a", name, d.Token)
		}
		if got := names(d.Events); !reflect.DeepEqual(got, want) || len(d.Invalid) > 0 {
			t.Errorf("%s: events %v invalid %v, want %v", name, got, d.Invalid, want)
		}
	}
	hdr := func(kv ...string) http.Header {
		h := http.Header{}
		for i := 0; i+1 < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		return h
	}
	q := func(s string) url.Values { v, _ := url.ParseQuery(s); return v }
	lzBatch := lzCompressToBase64(batch)

	f("batch object", Request{Body: []byte(batch)}, want2)
	f("bare array", Request{Body: []byte(array)}, want2)
	f("single event", Request{Body: []byte(single)}, want1)
	f("batch with token", Request{Body: []byte(`{"token":"tok_a","batch":[{"event":"e1","distinct_id":"u1"}]}`)}, want1)
	f("leading whitespace", Request{Body: []byte("\n  " + batch)}, want2)
	f("gzip by header", Request{Body: gz(t, batch), Header: hdr("Content-Encoding", "gzip")}, want2)
	f("gzip by param", Request{Body: gz(t, batch), Query: q("compression=gzip-js")}, want2)
	f("gzip by magic bytes", Request{Body: gz(t, array), Header: hdr("Content-Type", "text/plain")}, want2)
	f("plain base64 body", Request{Body: []byte(b64(batch))}, want2)
	f("base64 gzip body", Request{Body: []byte(b64(string(gz(t, batch))))}, want2)
	f("form base64, compression in form", Request{Body: form("data", b64(batch), "compression", "base64"), Header: hdr("Content-Type", "application/x-www-form-urlencoded")}, want2)
	f("form base64, compression in query", Request{Body: form("data", b64(array)), Query: q("compression=base64&beacon=1")}, want2)
	f("form with plain JSON", Request{Body: form("data", single), Header: hdr("Content-Type", "application/x-www-form-urlencoded")}, want1)
	f("form with unescaped plus", Request{Body: []byte("data=" + b64(batch+"  ") + "&compression=base64")}, want2)
	f("form lz64", Request{Body: form("data", lzBatch, "compression", "lz64"), Header: hdr("Content-Type", "application/x-www-form-urlencoded")}, want2)
	f("lz64 body, param in query", Request{Body: []byte(lzBatch), Query: q("compression=lz64")}, want2)
	f("lz64 from lz-string", Request{Body: form("data",
		// lz-string@1.5.0 compressToBase64 of JSON.stringify({api_key:'tok_a',batch:[{event:'x',distinct_id:'u1',properties:{a:1}}]})
		"N4IghgDglg+g1gUwJ4gFwgC4Hs4zCAGhACMwMBjACzQG1QEA3BAOwzRAA9CQATKAZwxRm5DDCg92AVwCM3CACcsEBAqEJ+aUPlQyAvnoC6eoA===",
		"compression", "lz64")}, []string{"x/u1"})
	f("GET data JSON", Request{Query: q("data=" + url.QueryEscape(single))}, want1)
	f("GET data base64", Request{Query: q("data=" + url.QueryEscape(b64(batch)))}, want2)
	f("GET data lz64", Request{Query: q("compression=lz64&data=" + url.QueryEscape(lzBatch))}, want2)
	f("compression param lies", Request{Body: []byte(batch), Query: q("compression=gzip-js")}, want2)

	d, err := DecodePostHog(Request{Path: "/e/", Query: q("beacon=1"), Body: []byte(single)})
	if err != nil || !d.Beacon {
		t.Errorf("beacon=1: Beacon %v, err %v", d.Beacon, err)
	}
}

func TestDecodePostHogErrors(t *testing.T) {
	f := func(name, path, body string, wantStatus int, wantMsg string) {
		t.Helper()
		var h http.Header
		if name == "gzip header, plain body" {
			h = http.Header{"Content-Encoding": {"gzip"}}
		}
		_, err := DecodePostHog(Request{Path: path, Body: []byte(body), Header: h, Now: testNow})
		e, ok := err.(*Error)
		if !ok {
			t.Errorf("%s: error %v (%T), want *Error", name, err, err)
			return
		}
		if e.Status != wantStatus || !strings.Contains(e.Error(), wantMsg) {
			t.Errorf("%s: got %d %q, want %d containing %q", name, e.Status, e.Error(), wantStatus, wantMsg)
		}
	}
	f("malformed JSON", "/e/", `{"batch":[`, 400, "cannot decode body as JSON")
	f("not JSON at all", "/e/", `hello`, 400, "cannot decode body as JSON")
	f("trailing garbage", "/e/", `{"event":"x"} x`, 400, "cannot decode body as JSON")
	f("empty body", "/e/", ``, 400, "empty body")
	f("JSON string", "/e/", `"x"`, 400, "expected an object or an array")
	f("batch not array", "/e/", `{"api_key":"tok_a","batch":{"event":"x"}}`, 400, `invalid field "batch"`)
	f("bad gzip", "/e/", "\x1f\x8bnot gzip", 400, "cannot decompress gzip body")
	f("gzip header, plain body", "/e/", oneEvent, 400, "not gzip data")
	f("bad base64", "/e/", "data=!!!!&compression=base64", 400, "cannot decode body as base64")
	f("bad lz64", "/e/", "data=N4Ig!&compression=lz64", 400, "cannot decompress lz64 body")
	f("lz64 bomb", "/e/", "compression=lz64&data="+url.QueryEscape(lzBomb(21<<20)), 413, "decompressed")
	f("too large for /e/", "/e/", strings.Repeat(" ", 2<<20+1), 413, "over 2 MB")
	f("missing token", "/e/", `{"batch":[{"event":"x","distinct_id":"u"}]}`, 401, `invalid field "api_key": missing project token`)
	f("mixed batch and event tokens", "/e/", `{"api_key":"tok_a","batch":[{"event":"x","distinct_id":"u","token":"tok_b"}]}`, 401, "more than one project token")
	f("mixed event tokens", "/e/", `[{"event":"x","distinct_id":"u","$token":"tok_a"},{"event":"x","distinct_id":"u","properties":{"token":"tok_b"}}]`, 401, "more than one project token")

	_, err := DecodePostHog(Request{Path: "/e/", Body: []byte("x"), Header: http.Header{"Content-Encoding": {"br"}}})
	if e, ok := err.(*Error); !ok || e.Status != 400 {
		t.Errorf("unsupported Content-Encoding: got %v, want 400", err)
	}
}

func TestPostHogTokenLocations(t *testing.T) {
	f := func(name, body string) {
		t.Helper()
		d, err := DecodePostHog(Request{Path: "/e/", Body: []byte(body), Now: testNow})
		if err != nil || d.Token != "tok_a" || len(d.Events) != 1 {
			t.Errorf("%s: token %q, %d events, err %v; want tok_a, 1, nil", name, d.Token, len(d.Events), err)
		}
	}
	f("batch api_key", `{"api_key":"tok_a","batch":[{"event":"x","distinct_id":"u"}]}`)
	f("batch token", `{"token":"tok_a","batch":[{"event":"x","distinct_id":"u"}]}`)
	f("event token", `[{"token":"tok_a","event":"x","distinct_id":"u"}]`)
	f("event $token", `[{"$token":"tok_a","event":"x","distinct_id":"u"}]`)
	f("event api_key", `[{"api_key":"tok_a","event":"x","distinct_id":"u"}]`)
	f("properties.token", `{"event":"x","distinct_id":"u","properties":{"token":"tok_a"}}`)
	f("same token twice", `{"api_key":"tok_a","batch":[{"event":"x","distinct_id":"u","properties":{"token":"tok_a"}}]}`)
}

func TestPostHogEventFields(t *testing.T) {
	f := func(name, ev string, check func(e event.Event) string) {
		t.Helper()
		body := `{"api_key":"tok_a","batch":[` + ev + `]}`
		d, err := DecodePostHog(Request{Path: "/e/", Body: []byte(body), Now: testNow})
		if err != nil || len(d.Events) != 1 {
			t.Errorf("%s: %d events, invalid %v, err %v", name, len(d.Events), d.Invalid, err)
			return
		}
		if msg := check(d.Events[0]); msg != "" {
			t.Errorf("%s: %s (event %+v)", name, msg, d.Events[0])
		}
	}
	distinct := func(want string) func(event.Event) string {
		return func(e event.Event) string {
			if e.DistinctID != want {
				return "distinct_id " + e.DistinctID + ", want " + want
			}
			return ""
		}
	}
	f("number distinct_id", `{"event":"x","distinct_id":123}`, distinct("123"))
	f("float distinct_id", `{"event":"x","distinct_id":1.5}`, distinct("1.5"))
	f("exponent distinct_id", `{"event":"x","distinct_id":1.23e2}`, distinct("123"))
	f("integral float distinct_id", `{"event":"x","distinct_id":42.0}`, distinct("42"))
	f("huge distinct_id", `{"event":"x","distinct_id":123456789012345678901234567890}`, distinct("123456789012345678901234567890"))
	f("distinct_id in properties", `{"event":"x","properties":{"distinct_id":"p1"}}`, distinct("p1"))
	f("root distinct_id wins", `{"event":"x","distinct_id":"r","properties":{"distinct_id":"p"}}`, distinct("r"))
	f("empty root falls back", `{"event":"x","distinct_id":"","properties":{"distinct_id":"p"}}`, distinct("p"))
	f("long distinct_id truncated", `{"event":"x","distinct_id":"`+strings.Repeat("é", 300)+`"}`, distinct(strings.Repeat("é", 200)))

	f("person updates from properties", `{"event":"$identify","distinct_id":"u","properties":{"$set":{"a":1},"$set_once":{"b":2},"$unset":["c"],"$anon_distinct_id":"anon","keep":true}}`,
		func(e event.Event) string {
			want := event.Event{Set: map[string]any{"a": json.Number("1")}, SetOnce: map[string]any{"b": json.Number("2")}, Unset: []string{"c"},
				Properties: map[string]any{"$anon_distinct_id": "anon", "keep": true}}
			if !reflect.DeepEqual(e.Set, want.Set) || !reflect.DeepEqual(e.SetOnce, want.SetOnce) || !reflect.DeepEqual(e.Unset, want.Unset) || !reflect.DeepEqual(e.Properties, want.Properties) {
				return "person updates not moved out of properties"
			}
			return ""
		})
	f("root $set wins", `{"event":"$set","distinct_id":"u","$set":{"a":"root"},"properties":{"$set":{"a":"props","b":"props"}}}`,
		func(e event.Event) string {
			if !reflect.DeepEqual(e.Set, map[string]any{"a": "root", "b": "props"}) {
				return "merged $set wrong"
			}
			return ""
		})
	f("no person", `{"event":"x","distinct_id":"u","properties":{"$process_person_profile":false}}`,
		func(e event.Event) string {
			if !e.NoPerson {
				return "NoPerson not set"
			}
			return ""
		})
	f("groups and group identify kept", `{"event":"$groupidentify","distinct_id":"u","properties":{"$groups":{"company":"c1"},"$session_id":"s","$group_type":"company","$group_key":"c1","$group_set":{"plan":"pro"}}}`,
		func(e event.Event) string {
			for _, k := range []string{"$groups", "$session_id", "$group_type", "$group_key", "$group_set"} {
				if _, ok := e.Properties[k]; !ok {
					return "lost " + k
				}
			}
			return ""
		})
	f("huge number property kept exactly", `{"event":"x","distinct_id":"u","properties":{"n":12345678901234567890123}}`,
		func(e event.Event) string {
			b, _ := json.Marshal(e.Properties)
			if string(b) != `{"n":12345678901234567890123}` {
				return "property re-encoded as " + string(b)
			}
			return ""
		})
	f("received_at", `{"event":"x","distinct_id":"u"}`, func(e event.Event) string {
		if !e.ReceivedAt.Equal(testNow) || e.ReceivedAt.Location() != time.UTC {
			return "received_at " + e.ReceivedAt.String()
		}
		return ""
	})
}

func TestPostHogUUID(t *testing.T) {
	decode := func(uuidJSON string) string {
		t.Helper()
		ev := `{"event":"x","distinct_id":"u"`
		if uuidJSON != "" {
			ev += `,"uuid":` + uuidJSON
		}
		d, err := DecodePostHog(Request{Path: "/e/", Body: []byte(`{"api_key":"tok_a","batch":[` + ev + `}]}`), Now: testNow})
		if err != nil || len(d.Events) != 1 {
			t.Fatalf("uuid %s: err %v, invalid %v", uuidJSON, err, d.Invalid)
		}
		if _, err := uuid.Parse(d.Events[0].UUID); err != nil {
			t.Fatalf("uuid %s: stored %q is not a UUID", uuidJSON, d.Events[0].UUID)
		}
		return d.Events[0].UUID
	}
	f := func(name, in, want string) {
		t.Helper()
		if got := decode(in); got != want {
			t.Errorf("%s: uuid %q, want %q", name, got, want)
		}
	}
	f("canonical", `"0190b0a2-8c1e-7d3a-9f00-1234567890ab"`, "0190b0a2-8c1e-7d3a-9f00-1234567890ab")
	f("upper case", `"0190B0A2-8C1E-7D3A-9F00-1234567890AB"`, "0190b0a2-8c1e-7d3a-9f00-1234567890ab")
	f("no dashes", `"0190b0a28c1e7d3a9f001234567890ab"`, "0190b0a2-8c1e-7d3a-9f00-1234567890ab")
	v5 := uuid.NewSHA1(uuidNamespace, []byte("msg-1")).String()
	f("not a uuid: v5", `"msg-1"`, v5)
	f("number: v5 of its text", `42`, uuid.NewSHA1(uuidNamespace, []byte("42")).String())
	if a, b := decode(""), decode(""); a == b {
		t.Errorf("absent uuid: two events got the same id %s", a)
	}
	if a := decode(`"00000000-0000-0000-0000-000000000000"`); a == uuid.Nil.String() {
		t.Errorf("nil uuid stored as is")
	}
}

func TestPostHogTimestamps(t *testing.T) {
	f := func(name, batchExtra, ev, query string, want time.Time) {
		t.Helper()
		body := `{"api_key":"tok_a"` + batchExtra + `,"batch":[` + ev + `]}`
		q, _ := url.ParseQuery(query)
		d, err := DecodePostHog(Request{Path: "/e/", Query: q, Body: []byte(body), Now: testNow})
		if err != nil || len(d.Events) != 1 {
			t.Errorf("%s: err %v invalid %v", name, err, d.Invalid)
			return
		}
		got := d.Events[0].Timestamp
		if !got.Equal(want) || got.Location() != time.UTC {
			t.Errorf("%s: timestamp %v, want %v", name, got, want)
		}
	}
	at := func(s string) time.Time { t, _ := time.Parse(time.RFC3339Nano, s); return t }
	// The client clock is 1h ahead: sent_at 13:00 when the server says 12:00.
	f("clock skew", `,"sent_at":"2024-05-01T13:00:00Z"`, `{"event":"x","distinct_id":"u","timestamp":"2024-05-01T12:59:00Z"}`, "", at("2024-05-01T11:59:00Z"))
	f("skew with offsets and fraction", `,"sent_at":"2024-05-01T15:00:00.500+02:00"`, `{"event":"x","distinct_id":"u","timestamp":"2024-05-01T14:59:00.250+02:00"}`, "", at("2024-05-01T11:58:59.750Z"))
	f("skew from _ query param", ``, `{"event":"x","distinct_id":"u","timestamp":"2024-05-01T12:59:00Z"}`, "_="+strconv.FormatInt(at("2024-05-01T13:00:00Z").UnixMilli(), 10), at("2024-05-01T11:59:00Z"))
	f("$ignore_sent_at", `,"sent_at":"2024-05-01T13:00:00Z"`, `{"event":"x","distinct_id":"u","timestamp":"2024-04-01T00:00:00Z","properties":{"$ignore_sent_at":true}}`, "", at("2024-04-01T00:00:00Z"))
	f("offset", ``, `{"event":"x","distinct_id":"u","offset":1500}`, "", testNow.Add(-1500*time.Millisecond))
	f("timestamp only", ``, `{"event":"x","distinct_id":"u","timestamp":"2024-04-30T10:00:00"}`, "", at("2024-04-30T10:00:00Z"))
	f("epoch millis", ``, `{"event":"x","distinct_id":"u","timestamp":1714564800123}`, "", at("2024-05-01T12:00:00.123Z"))
	f("epoch millis string", ``, `{"event":"x","distinct_id":"u","timestamp":"1714564800000"}`, "", at("2024-05-01T12:00:00Z"))
	f("nothing", ``, `{"event":"x","distinct_id":"u"}`, "", testNow)
	f("bad timestamp is now", ``, `{"event":"x","distinct_id":"u","timestamp":"yesterday"}`, "", testNow)
	f("far future clamped", ``, `{"event":"x","distinct_id":"u","timestamp":"2024-05-02T12:00:00Z"}`, "", testNow)
	f("near future kept", ``, `{"event":"x","distinct_id":"u","timestamp":"2024-05-02T10:00:00Z"}`, "", at("2024-05-02T10:00:00Z"))
	f("future after correction clamped", `,"sent_at":"2024-04-01T00:00:00Z"`, `{"event":"x","distinct_id":"u","timestamp":"2024-04-02T00:00:00Z"}`, "", testNow)
	f("before 1970 is now", ``, `{"event":"x","distinct_id":"u","timestamp":"0001-01-01T00:00:00Z"}`, "", testNow)
	f("huge offset ignored", ``, `{"event":"x","distinct_id":"u","offset":1e300}`, "", testNow)
}

func TestPostHogInvalidEvents(t *testing.T) {
	f := func(name, body string, wantEvents []string, wantFields []string) {
		t.Helper()
		d, err := DecodePostHog(Request{Path: "/e/", Body: []byte(body), Now: testNow})
		if err != nil {
			t.Errorf("%s: %v", name, err)
			return
		}
		var fields []string
		for _, e := range d.Invalid {
			fields = append(fields, e.Field)
		}
		if got := names(d.Events); !reflect.DeepEqual(got, wantEvents) && (len(got) > 0 || len(wantEvents) > 0) {
			t.Errorf("%s: events %v, want %v", name, got, wantEvents)
		}
		if !reflect.DeepEqual(fields, wantFields) {
			t.Errorf("%s: invalid fields %v, want %v", name, fields, wantFields)
		}
	}
	f("missing distinct_id", `{"api_key":"tok_a","batch":[{"event":"ok","distinct_id":"u"},{"event":"x"}]}`, []string{"ok/u"}, []string{"batch[1].distinct_id"})
	f("single missing distinct_id", `{"api_key":"tok_a","event":"x"}`, nil, []string{"distinct_id"})
	f("bool distinct_id", `{"api_key":"tok_a","batch":[{"event":"x","distinct_id":true}]}`, nil, []string{"batch[0].distinct_id"})
	f("missing event", `{"api_key":"tok_a","batch":[{"distinct_id":"u"}]}`, nil, []string{"batch[0].event"})
	f("event not a string", `{"api_key":"tok_a","batch":[{"event":5,"distinct_id":"u"}]}`, nil, []string{"batch[0].event"})
	f("properties not an object", `{"api_key":"tok_a","batch":[{"event":"x","distinct_id":"u","properties":[1]}]}`, nil, []string{"batch[0].properties"})
	f("item not an object", `{"api_key":"tok_a","batch":[1,{"event":"x","distinct_id":"u"}]}`, []string{"x/u"}, []string{"batch[0]"})
	f("engage defaults to $identify", `{"$token":"tok_a","$distinct_id":"u","$set":{"a":1}}`, nil, []string{"event"})

	d, err := DecodePostHog(Request{Path: "/engage/", Body: []byte(`{"$token":"tok_a","$distinct_id":"u","$set":{"a":1}}`), Now: testNow})
	if err != nil || len(d.Events) != 1 || d.Events[0].Event != event.Identify || d.Events[0].DistinctID != "u" || d.Events[0].Set["a"] == nil {
		t.Errorf("/engage: %+v, %v", d, err)
	}
}

func TestPostHogHandlerAnswers(t *testing.T) {
	f := func(name, target, body string, wantStatus int, wantBody string, wantStored int, headers ...string) {
		t.Helper()
		h, sink := newTestHandler(Options{})
		w := call(h, "POST", target, []byte(body), headers...)
		if w.Code != wantStatus {
			t.Errorf("%s: status %d, want %d (%s)", name, w.Code, wantStatus, w.Body)
		}
		if got := strings.TrimSpace(w.Body.String()); got != wantBody {
			t.Errorf("%s: body %s, want %s", name, got, wantBody)
		}
		if got := len(sink.events()); got != wantStored {
			t.Errorf("%s: %d events stored, want %d", name, got, wantStored)
		}
		if w.Header().Get("Access-Control-Allow-Origin") == "" {
			t.Errorf("%s: no CORS header", name)
		}
	}
	f("ok", "/batch/", oneEvent, 200, `{"status":1}`, 1)
	f("beacon", "/e/?beacon=1", oneEvent, 204, ``, 1)
	f("beacon form base64", "/e/?beacon=1&compression=base64", string(form("data", b64(oneEvent))), 204, ``, 1, "Content-Type: application/x-www-form-urlencoded")
	f("partial invalid", "/batch/", `{"api_key":"tok_a","batch":[{"event":"a","distinct_id":"u"},{"event":"b"},{"event":"c","distinct_id":"u"}]}`,
		200, `{"status":1,"skipped":[{"field":"batch[1].distinct_id","error":"missing"}]}`, 2)
	f("all invalid", "/batch/", `{"api_key":"tok_a","batch":[{"event":"b"}]}`,
		400, `{"status":0,"error":"invalid field \"batch[0].distinct_id\": missing","skipped":[{"field":"batch[0].distinct_id","error":"missing"}]}`, 0)
	f("single invalid", "/e/", `{"api_key":"tok_a","distinct_id":"u"}`,
		400, `{"status":0,"error":"invalid field \"event\": missing","skipped":[{"field":"event","error":"missing"}]}`, 0)
	f("malformed JSON", "/e/", `{"api_key":`, 400, `{"status":0,"error":"cannot decode body as JSON: unexpected end of JSON input"}`, 0)
	f("unknown token", "/e/", `{"api_key":"nope","batch":[{"event":"a","distinct_id":"u"}]}`, 401, `{"status":0,"error":"invalid field \"api_key\": unknown project token"}`, 0)
	f("missing token", "/e/", `{"batch":[{"event":"a","distinct_id":"u"}]}`, 401, `{"status":0,"error":"invalid field \"api_key\": missing project token"}`, 0)
	f("mixed tokens", "/e/", `[{"event":"a","distinct_id":"u","token":"tok_a"},{"event":"a","distinct_id":"u","token":"tok_b"}]`, 401,
		`{"status":0,"error":"invalid field \"api_key\": more than one project token in one request"}`, 0)
	f("empty batch", "/batch/", `{"api_key":"tok_a","batch":[]}`, 200, `{"status":1}`, 0)
	f("empty array, no token", "/batch/", `[]`, 200, `{"status":1}`, 0)
	f("gzip header", "/batch/", string(gz(t, oneEvent)), 200, `{"status":1}`, 1, "Content-Encoding: gzip", "Content-Type: application/json")
	f("gzip magic as text/plain", "/e/?ver=1.0", string(gz(t, oneEvent)), 200, `{"status":1}`, 1, "Content-Type: text/plain")
}

func TestPostHogLimits(t *testing.T) {
	h, sink := newTestHandler(Options{})
	big := func(n int) string { return strings.Repeat("x", n) }
	eventOf := func(n int) string { return `{"event":"x","distinct_id":"u","properties":{"pad":"` + big(n) + `"}}` }

	// 2.5 MB: too large for /e/, fine for /batch/.
	body := `{"api_key":"tok_a","batch":[` + eventOf(900<<10) + `,` + eventOf(900<<10) + `,` + eventOf(900<<10) + `]}`
	if w := call(h, "POST", "/e/", []byte(body)); w.Code != 413 {
		t.Errorf("/e/ 2.5 MB: status %d, want 413", w.Code)
	}
	if w := call(h, "POST", "/batch/", []byte(body)); w.Code != 200 {
		t.Errorf("/batch/ 2.5 MB: status %d, want 200 (%s)", w.Code, w.Body)
	}
	// One event over 1 MB inside a batch is skipped, the rest stored.
	before := len(sink.events())
	body = `{"api_key":"tok_a","batch":[` + eventOf(1100<<10) + `,` + eventOf(10) + `]}`
	w := call(h, "POST", "/batch/", []byte(body))
	if r := decodeBody(t, w); w.Code != 200 || len(r.Skipped) != 1 || r.Skipped[0].Field != "batch[0]" || len(sink.events())-before != 1 {
		t.Errorf("oversized event in batch: status %d, %+v, stored %d", w.Code, r, len(sink.events())-before)
	}
	// A lone oversized event is 413, so posthog-node stops halving.
	if w := call(h, "POST", "/batch/", []byte(`{"api_key":"tok_a","batch":[`+eventOf(1100<<10)+`]}`)); w.Code != 413 {
		t.Errorf("lone oversized event: status %d, want 413", w.Code)
	}
	// A gzip bomb: 30 MB of zeros in a small body.
	bomb := gz(t, `{"api_key":"tok_a","batch":[{"event":"x","distinct_id":"u","properties":{"p":"`+big(30<<20)+`"}}]}`)
	if len(bomb) > 1<<20 {
		t.Fatalf("bomb is %d bytes", len(bomb))
	}
	if w := call(h, "POST", "/batch/", bomb, "Content-Encoding: gzip"); w.Code != 413 {
		t.Errorf("gzip bomb: status %d, want 413", w.Code)
	}
	// Content-Length over the limit is refused before reading.
	r := httptest.NewRequest("POST", "/e/", strings.NewReader(oneEvent))
	r.ContentLength = 3 << 20
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != 413 {
		t.Errorf("Content-Length 3 MB: status %d, want 413", w.Code)
	}
}

func TestCORS(t *testing.T) {
	h, _ := newTestHandler(Options{})
	f := func(name, target string, headers []string, want map[string]string) {
		t.Helper()
		w := call(h, "OPTIONS", target, nil, headers...)
		if w.Code != http.StatusNoContent {
			t.Errorf("%s: status %d, want 204", name, w.Code)
		}
		for k, v := range want {
			if got := w.Header().Get(k); got != v {
				t.Errorf("%s: %s = %q, want %q", name, k, got, v)
			}
		}
	}
	f("with origin", "/e/", []string{"Origin: https://app.example", "Access-Control-Request-Method: POST", "Access-Control-Request-Headers: content-type, x-custom"},
		map[string]string{
			"Access-Control-Allow-Origin":      "https://app.example",
			"Access-Control-Allow-Headers":     "content-type, x-custom",
			"Access-Control-Allow-Credentials": "true",
			"Access-Control-Allow-Methods":     "GET, POST, OPTIONS",
		})
	f("no origin", "/batch", nil, map[string]string{"Access-Control-Allow-Origin": "*"})
	f("segment", "/v1/t", []string{"Origin: https://shop.example"}, map[string]string{"Access-Control-Allow-Origin": "https://shop.example"})

	w := call(h, "POST", "/e/", []byte(oneEvent), "Origin: https://app.example")
	if w.Header().Get("Access-Control-Allow-Origin") != "https://app.example" {
		t.Errorf("POST answer lacks CORS headers: %v", w.Header())
	}
}

func TestSinkErrors(t *testing.T) {
	f := func(name string, err error) {
		t.Helper()
		h, sink := newTestHandler(Options{})
		sink.err = err
		w := call(h, "POST", "/e/", []byte(oneEvent))
		if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" {
			t.Errorf("%s: status %d, Retry-After %q; want 503 with Retry-After", name, w.Code, w.Header().Get("Retry-After"))
		}
		if r := decodeBody(t, w); r.Status != 0 || r.Error == "" {
			t.Errorf("%s: body %+v", name, r)
		}
	}
	f("overloaded", ErrOverloaded)
	f("wrapped overloaded", fmt.Errorf("cannot append batch: %w", ErrOverloaded))
	f("deadline", context.DeadlineExceeded)
	f("other", errors.New("disk on fire"))
}

// failingProjects fails every lookup, as a database that is down would.
type failingProjects struct{}

func (failingProjects) ProjectByToken(context.Context, string) (int64, bool, error) {
	return 0, false, errors.New("db down")
}

func TestProjectsError(t *testing.T) {
	h := NewHandler(failingProjects{}, &recSink{}, Options{})
	w := call(h, "POST", "/e/", []byte(oneEvent))
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" || strings.Contains(w.Body.String(), "tok_a") {
		t.Errorf("projects down: status %d, body %s; want 503 with Retry-After and no token", w.Code, w.Body)
	}
}

func TestRateLimit(t *testing.T) {
	c := &clock{t: testNow}
	h, sink := newTestHandler(Options{RateLimit: 2, Now: c.now}) // burst of 4 events
	send := func(token string) int {
		return call(h, "POST", "/e/", []byte(`{"api_key":"`+token+`","batch":[{"event":"x","distinct_id":"u"}]}`)).Code
	}
	for i := 0; i < 4; i++ {
		if code := send("tok_a"); code != 200 {
			t.Fatalf("event %d within the burst: status %d", i, code)
		}
	}
	w := call(h, "POST", "/e/", []byte(oneEvent))
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "1" {
		t.Errorf("over the burst: status %d, Retry-After %q; want 429, 1", w.Code, w.Header().Get("Retry-After"))
	}
	if code := send("tok_b"); code != 200 {
		t.Errorf("another project is not limited: status %d", code)
	}
	c.advance(time.Second) // two more events
	if send("tok_a") != 200 || send("tok_a") != 200 || send("tok_a") != 429 {
		t.Errorf("refill after 1s did not allow exactly 2 events")
	}
	// A batch larger than the bucket passes when full, then leaves debt.
	c.advance(time.Hour)
	many := `{"api_key":"tok_a","batch":[` + strings.TrimSuffix(strings.Repeat(`{"event":"x","distinct_id":"u"},`, 10), ",") + `]}`
	if code := call(h, "POST", "/batch", []byte(many)).Code; code != 200 {
		t.Errorf("big batch into a full bucket: status %d", code)
	}
	w = call(h, "POST", "/e/", []byte(oneEvent))
	if w.Code != 429 || w.Header().Get("Retry-After") != "4" {
		t.Errorf("after the debt: status %d, Retry-After %q; want 429, 4", w.Code, w.Header().Get("Retry-After"))
	}
	if n := len(sink.events()); n != 4+1+2+10 {
		t.Errorf("stored %d events, want 17", n)
	}
}
