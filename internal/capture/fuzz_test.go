package capture

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"unicode/utf8"

	"github.com/google/uuid"
)

// checkDecoded holds the invariants every decoder result must meet,
// whatever the input: failures are client errors, and every event that
// would be stored is complete and can be encoded.
func checkDecoded(t *testing.T, d Decoded, err error) {
	t.Helper()
	if err != nil {
		e, ok := err.(*Error)
		if !ok {
			t.Fatalf("error %v is %T, want *Error", err, err)
		}
		if e.Status < 400 || e.Status > 499 {
			t.Fatalf("error %v has status %d, want 4xx", e, e.Status)
		}
		return
	}
	for _, e := range d.Invalid {
		if e == nil || e.Status < 400 || e.Status > 499 {
			t.Fatalf("invalid event error %v, want 4xx *Error", e)
		}
	}
	if len(d.Events) > 0 && d.Token == "" {
		t.Fatalf("%d events without a token", len(d.Events))
	}
	for i, ev := range d.Events {
		if ev.DistinctID == "" || ev.Event == "" {
			t.Fatalf("event %d: empty distinct_id or event: %+v", i, ev)
		}
		if _, err := uuid.Parse(ev.UUID); err != nil {
			t.Fatalf("event %d: uuid %q: %v", i, ev.UUID, err)
		}
		if y := ev.Timestamp.Year(); y < 1970 || y > 9999 || ev.Timestamp.Location().String() != "UTC" {
			t.Fatalf("event %d: timestamp %v", i, ev.Timestamp)
		}
		if _, err := json.Marshal(ev); err != nil {
			t.Fatalf("event %d cannot be encoded: %v", i, err)
		}
	}
}

func FuzzDecodePostHog(f *testing.F) {
	add := func(path, query, contentType, contentEncoding string, body []byte) {
		f.Add(path, query, contentType, contentEncoding, body)
	}
	batch := `{"api_key":"tok_a","sent_at":"2024-05-01T12:00:00Z","batch":[{"event":"e","distinct_id":"u","uuid":"x","timestamp":"2024-05-01T11:00:00Z","properties":{"$set":{"a":1},"$unset":["b"]}}]}`
	add("/e/", "", "application/json", "", []byte(batch))
	add("/batch", "", "", "", []byte(`[{"event":"e","properties":{"distinct_id":123,"token":"t"},"offset":10}]`))
	add("/capture/", "", "", "", []byte(`{"event":"e","distinct_id":1e3,"$token":"t","timestamp":1714564800000}`))
	add("/engage/", "", "", "", []byte(`{"$token":"t","$distinct_id":"u","$set":{"x":"y"}}`))
	add("/e/", "compression=gzip-js", "text/plain", "", gz(f, batch))
	add("/e/", "", "", "gzip", gz(f, batch))
	add("/e/", "compression=base64&beacon=1", "application/x-www-form-urlencoded", "", form("data", base64.StdEncoding.EncodeToString([]byte(batch))))
	add("/e/", "compression=lz64", "application/x-www-form-urlencoded", "", form("data", lzCompressToBase64(batch)))
	add("/i/v0/e/", "data="+url.QueryEscape(batch), "", "", nil)
	add("/e/", "", "", "", []byte(`{"batch":[`))
	add("/e/", "", "", "", []byte(`{"api_key":"t","batch":[1,null,{"event":5}]}`))

	f.Fuzz(func(t *testing.T, path, query, contentType, contentEncoding string, body []byte) {
		q, _ := url.ParseQuery(query)
		h := http.Header{}
		h.Set("Content-Type", contentType)
		h.Set("Content-Encoding", contentEncoding)
		d, err := DecodePostHog(Request{Path: path, Query: q, Header: h, Body: body, Now: testNow})
		checkDecoded(t, d, err)
	})
}

func FuzzDecodeSegment(f *testing.F) {
	add := func(path, writeKey, contentEncoding string, body []byte) {
		f.Add(path, writeKey, contentEncoding, body)
	}
	batch := `{"writeKey":"k","sentAt":"2024-05-01T12:00:00Z","context":{"ip":"1.2.3.4"},"batch":[` +
		`{"type":"track","event":"e","userId":"u","messageId":"m","timestamp":"2024-05-01T11:00:00Z"},` +
		`{"type":"identify","userId":"u","anonymousId":"a","traits":{"x":1}},` +
		`{"type":"group","anonymousId":"a","groupId":"g","traits":{"plan":"pro"}},` +
		`{"type":"alias","userId":"u","previousId":"a"},{"type":"page","userId":7,"name":"Home"},{"type":"screen","userId":"u","name":"S"}]}`
	add("/v1/batch", "", "", []byte(batch))
	add("/v1/b/", "k", "gzip", gz(f, batch))
	add("/v1/t", "k", "", []byte(`{"event":"e","anonymousId":"a","context":{"page":{"url":"u"},"campaign":{"source":"s"}}}`))
	add("/v1/identify", "", "", []byte(`{"writeKey":"k","userId":"u","traits":{"email":"e"}}`))
	add("/v1/g", "k", "", []byte(`{"userId":"u","groupId":42}`))
	add("/v1/a", "k", "", []byte(`{"userId":"u"}`))
	add("/v1/p", "k", "", []byte(`{"userId":"u","properties":{"url":"https://x"}}`))
	add("/v1/s", "k", "", []byte(`[`))

	f.Fuzz(func(t *testing.T, path, writeKey, contentEncoding string, body []byte) {
		h := http.Header{}
		h.Set("Content-Encoding", contentEncoding)
		if writeKey != "" {
			h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(writeKey+":")))
		}
		d, err := DecodeSegment(Request{Path: path, Header: h, Body: body, Now: testNow})
		checkDecoded(t, d, err)
	})
}

func FuzzDecompressLZBase64(f *testing.F) {
	for _, s := range []string{
		"",
		"Q===",
		"IZA=",
		"N4IghgDglg+g1gUwJ4gFwgC4Hs4zCAGhACMwMBjACzQG1QEA3BAOwzRAA9CQATKAZwxRm5DDCg92AVwCM3CACcsEBAqEJ+aUPlQyAvnoC6eoA===",
		lzCompressToBase64(`{"event":"é€😀"}`),
		"////////",
		"N4Ig!hgDglg",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out, err := decompressLZBase64(s, 1<<20)
		if err == nil && !utf8.ValidString(out) {
			t.Fatalf("DecompressLZBase64(%q) = %q: not UTF-8", s, out)
		}
		// Any text survives a round trip through the independent encoder.
		if utf8.ValidString(s) {
			back, err := DecompressLZBase64(lzCompressToBase64(s))
			if err != nil || back != s {
				t.Fatalf("round trip of %q: got %q, %v", s, back, err)
			}
		}
	})
}
