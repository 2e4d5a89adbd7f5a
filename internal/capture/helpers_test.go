package capture

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/event"
)

// testNow is the server clock in every test.
var testNow = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

// memProjects is an in-memory Projects: token → project id.
type memProjects map[string]int64

func (p memProjects) ProjectByToken(_ context.Context, token string) (int64, bool, error) {
	id, ok := p[token]
	return id, ok, nil
}

var testProjects = memProjects{"tok_a": 1, "tok_b": 2}

// recSink records the batches it is given, or fails with err.
type recSink struct {
	mu      sync.Mutex
	batches []event.Batch
	err     error
}

func (s *recSink) Append(_ context.Context, b event.Batch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	s.batches = append(s.batches, b)
	return nil
}

func (s *recSink) events() []event.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []event.Event
	for _, b := range s.batches {
		out = append(out, b.Events...)
	}
	return out
}

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newTestHandler(o Options) (http.Handler, *recSink) {
	if o.Now == nil {
		o.Now = func() time.Time { return testNow }
	}
	s := &recSink{}
	return NewHandler(testProjects, s, o), s
}

// call sends one request; headers are given as "Name: value" strings.
func call(h http.Handler, method, target string, body []byte, headers ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, bytes.NewReader(body))
	for _, kv := range headers {
		k, v, _ := strings.Cut(kv, ":")
		r.Header.Set(k, strings.TrimSpace(v))
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func gz(t testing.TB, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func form(kv ...string) []byte {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return []byte(v.Encode())
}

// decodeBody reads a handler's JSON answer.
func decodeBody(t testing.TB, w *httptest.ResponseRecorder) response {
	t.Helper()
	var r response
	if w.Body.Len() == 0 {
		return r
	}
	if err := json.Unmarshal(w.Body.Bytes(), &r); err != nil {
		t.Fatalf("cannot decode response %q: %v", w.Body.String(), err)
	}
	return r
}

func basicAuth(user string) string {
	return "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"))
}

// names lists the events' names and distinct ids as "event/distinct_id".
func names(evs []event.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.Event + "/" + e.DistinctID
	}
	return out
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
