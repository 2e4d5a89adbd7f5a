package capture

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// outlineCases are JSON texts whose outline must agree with what
// splitBody decodes.
var outlineCases = []string{
	`[]`, `{}`, `[{}]`, ` [ {} , {} ] `, "\ufeff[{}]", `[1,"a",null,true,[],{}]`,
	`{"event":"e","distinct_id":"u","token":"t"}`,
	`{"api_key":"k","batch":[{"event":"e"},{"event":"f"}]}`,
	`{"batch":[{"event":"e","properties":{"a":[1,2,{"b":"}]\"["}]}}],"api_key":"after"}`,
	`{"batch":null,"token":"t"}`, `{"batch":[]}`, `{"batch":[{}],"batch":[{},{}]}`,
	`{"api\u005fkey":"esc","batch":[{}]}`, `{"writeKey":"w\"q","batch":[{"type":"track"}]}`,
	`{"api_key":5,"$token":"d","batch":[{}]}`, `[{"s":"\\"},{"s":"\\\""}]`,
	`{"event":"e","properties":{"x":[[[[]]]],"y":{"z":{}}}}`, `[-1.5e3,0]`,
}

func TestOutlineMatchesDecoder(t *testing.T) {
	for _, text := range outlineCases {
		o, ok := outlineJSON([]byte(text))
		env, err := splitBody([]byte(text))
		if !ok || err != nil {
			t.Fatalf("%s: outline ok=%v, splitBody %v", text, ok, err)
		}
		checkOutline(t, text, o, env)
	}
	for _, text := range []string{``, `  `, `[`, `[{}`, `{"batch":[{}]`, `[{}]]`, `[{}] x`, `"s"`, `{"a" 1}`, `{"a":1,}`} {
		if _, ok := outlineJSON([]byte(text)); ok {
			t.Errorf("outline of %q: ok, want refused", text)
		}
	}
}

// checkOutline compares an outline of a text splitBody accepts with what
// it decoded: the events (all batch fields together) and the top fields.
func checkOutline(t *testing.T, text string, o outline, env envelope) {
	t.Helper()
	want := len(env.items)
	if strings.Count(text, `"batch"`) > 1 {
		want = o.events // duplicates: the outline counts every one
	}
	if o.events != want || o.object != (env.top != nil) || o.hasBatch != (env.top != nil && env.batch) {
		t.Fatalf("%s: outline %+v, decoded %d items (top %v, batch %v)", text, o, len(env.items), env.top != nil, env.batch)
	}
	for _, k := range outlineKeys {
		if got, want := o.field(k), env.topString(k); got != want {
			t.Fatalf("%s: outline field %s = %q, decoded %q", text, k, got, want)
		}
	}
	if o.containers < 1 || !o.object && o.values < o.events {
		t.Fatalf("%s: outline counts %d containers, %d values", text, o.containers, o.values)
	}
}

// FuzzOutline: on any text that splitBody decodes, the outline agrees.
func FuzzOutline(f *testing.F) {
	for _, text := range outlineCases {
		f.Add([]byte(text))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		env, err := splitBody(data)
		o, ok := outlineJSON(data)
		if err != nil {
			return
		}
		if !ok {
			t.Fatalf("%q: decoded, but the outline refused it", data)
		}
		checkOutline(t, string(data), o, env)
	})
}

// TestDecodeCostCovers: what split reserves covers the memory that the
// decoded request keeps (measured after a GC, the Decoded alive), for
// SDK-like events and for texts of tiny values.
func TestDecodeCostCovers(t *testing.T) {
	event := func(i int) string {
		return fmt.Sprintf(`{"event":"product viewed","distinct_id":"user-%d","uuid":"0190b0a2-8c1e-7d3a-9f00-%012d","timestamp":"2024-05-01T11:59:59.123Z","properties":{"$current_url":"https://shop.example/p/%d","price":19.99,"$lib":"posthog-node","$groups":{"company":"c%d"}}}`, i, i, i, i%7)
	}
	props := func(inner string) string {
		return `{"api_key":"tok_a","event":"e","distinct_id":"u","properties":{"x":[` + inner + `]}}`
	}
	for _, tc := range []struct {
		name, body string
	}{
		{"sdk events", `{"api_key":"tok_a","batch":[` + repeatJoin(3000, event) + `]}`},
		{"tiny events", `{"api_key":"tok_a","batch":[` + repeatJoin(30000, func(i int) string { return fmt.Sprintf(`{"event":"e","distinct_id":"u%d"}`, i%10) }) + `]}`},
		{"empty events", `{"api_key":"tok_a","batch":[` + strings.Repeat(`{},`, 90000) + `{}]}`},
		{"nested objects", props(strings.Repeat(`{},`, 300000) + `{}`)},
		{"numbers", props(strings.Repeat(`1,`, 400000) + `1`)},
		{"strings", props(strings.Repeat(`"a",`, 250000) + `"a"`)},
	} {
		body := []byte(tc.body)
		o, _ := outlineJSON(body)
		cost := decodeCost(len(body), o)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		d, err := DecodePostHog(Request{Path: "/batch/", Header: http.Header{}, Body: body, Now: testNow})
		runtime.GC()
		runtime.ReadMemStats(&after)
		kept := int64(after.HeapAlloc) - int64(before.HeapAlloc)
		runtime.KeepAlive(d)
		t.Logf("%s: %d bytes, kept %.1f×, reserved %.1f×", tc.name, len(body), float64(kept)/float64(len(body)), float64(cost)/float64(len(body)))
		if err != nil || len(d.Events)+len(d.Invalid) == 0 {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if kept > int64(cost) {
			t.Errorf("%s: decoding kept %d bytes, more than the %d reserved", tc.name, kept, cost)
		}
	}
}

func repeatJoin(n int, f func(int) string) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = f(i)
	}
	return strings.Join(parts, ",")
}

// bomb is a request that decodes to far more than it sends.
type bomb struct {
	name, target string
	headers      []string
	body         []byte
}

// bombs are small bodies that decode to just under 20 MB of empty events
// (gzip; base64 of it; a form of that; an api_key after the batch; 4 MB
// with lz64, which decompresses all at once; Segment's 500 KB), and one
// event whose properties nest millions of empty objects. None carries a
// known token.
func bombs(t *testing.T) []bomb {
	empty := strings.Repeat(`{},`, (maxPostHogDecoded-100)/3) + `{}` // just under the limit
	gzEmpty := gz(t, `[`+empty+`]`)
	segment := strings.Repeat(`{},`, (maxSegmentBatch-100)/3) + `{}`
	b64 := []byte(b64(string(gzEmpty)))
	return []bomb{
		{"gzip", "/batch/", []string{"Content-Type: application/json", "Content-Encoding: gzip"}, gzEmpty},
		{"base64", "/batch/", nil, b64},
		{"form", "/e/", []string{"Content-Type: application/x-www-form-urlencoded"}, form("data", string(b64))},
		{"lz64", "/e/?compression=lz64", nil, []byte(lzCompressToBase64(`[` + strings.Repeat(`{},`, 4<<20/3) + `{}]`))},
		{"segment", "/v1/batch", []string{"Content-Encoding: gzip"}, gz(t, `{"batch":[`+segment+`]}`)},
		{"api_key after", "/batch/", []string{"Content-Encoding: gzip"}, gz(t, `{"batch":[`+empty+`],"api_key":"nope"}`)},
		{"nested", "/batch/", []string{"Content-Encoding: gzip"}, gz(t, `{"event":"e","distinct_id":"u","properties":{"x":[`+empty+`]}}`)},
	}
}

// TestBombsBounded: each bomb, sent 4 at once without credentials, is
// refused while the heap grows by less than 64 MB; a gzip one used to take
// about 900 MB.
func TestBombsBounded(t *testing.T) {
	const n, bound = 4, 64 << 20
	srv, h := intakeServer(t, Options{}, nil)
	for _, b := range bombs(t) {
		if len(b.body) > 2<<20 {
			t.Fatalf("%s: %d bytes, not a bomb", b.name, len(b.body))
		}
		grew, codes := heapGrowth(func() []int { return sendAtOnce(t, srv.URL, b, n) })
		t.Logf("%s: %d bytes sent, answers %v, heap grew by %d MB", b.name, len(b.body), codes, grew>>20)
		for _, c := range codes {
			if c < 400 || c == http.StatusRequestTimeout || c >= 500 && c != http.StatusServiceUnavailable {
				t.Errorf("%s: answered %d, want refused", b.name, c)
			}
		}
		if grew > bound {
			t.Errorf("%s: heap grew by %d MB for %d bombs, want < %d MB", b.name, grew>>20, n, bound>>20)
		}
		waitFor(t, func() bool { return h.gate.reservedBytes() == 0 && h.gate.addresses() == 0 })
	}
}

// heapGrowth runs f while sampling the heap in use, and returns its peak
// growth over what was in use before.
func heapGrowth(f func() []int) (int64, []int) {
	var m runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m)
	base, peak := int64(m.HeapInuse), int64(m.HeapInuse)
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			peak = max(peak, int64(m.HeapInuse))
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	codes := f()
	close(stop)
	<-done
	return peak - base, codes
}

// sendAtOnce sends n copies of b at the same time and returns the
// statuses.
func sendAtOnce(t *testing.T, base string, b bomb, n int) []int {
	codes := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i] = post(t, base+b.target, b.body, b.headers...)
		}()
	}
	wg.Wait()
	return codes
}

func post(t *testing.T, target string, body []byte, headers ...string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "POST", target, bytes.NewReader(body))
	if err != nil {
		t.Error(err)
		return 0
	}
	for _, kv := range headers {
		k, v, _ := strings.Cut(kv, ":")
		req.Header.Set(k, strings.TrimSpace(v))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Error(err)
		return 0
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// TestEventsCap: past maxEvents events a request is refused with 413
// naming the cap, before its events are decoded; maxEvents pass.
func TestEventsCap(t *testing.T) {
	h, sink := newTestHandler(Options{})
	tiny := func(i int) string { return `{"event":"e","distinct_id":"u"}` }
	over := `[` + strings.Repeat(`{},`, maxEvents) + `{}]`
	for _, tc := range []struct{ target, body string }{
		{"/batch/", over},
		{"/batch/", `{"api_key":"tok_a","batch":` + over + `}`},
		{"/batch/", `{"api_key":"tok_a","batch":[{}],"batch":` + over + `}`},
		{"/v1/batch", `{"writeKey":"tok_a","batch":` + `[` + strings.Repeat(`{},`, maxEvents) + `{}]` + `}`},
	} {
		w := call(h, "POST", tc.target, gz(t, tc.body), "Content-Encoding: gzip")
		if w.Code != 413 || !strings.Contains(w.Body.String(), fmt.Sprintf("over %d", maxEvents)) {
			t.Fatalf("%s, %d bytes: %d %s, want 413 naming the cap", tc.target, len(tc.body), w.Code, w.Body)
		}
	}
	w := call(h, "POST", "/batch/", gz(t, `{"api_key":"tok_a","batch":[`+repeatJoin(maxEvents, tiny)+`]}`), "Content-Encoding: gzip")
	if w.Code != 200 || len(sink.events()) != maxEvents {
		t.Fatalf("%d events: %d %.200s, stored %d", maxEvents, w.Code, w.Body, len(sink.events()))
	}
}

// TestTopTokenBeforeDecoding: an unknown token at the top of a body, before
// or after its batch, is refused with 401 before the events are decoded:
// the request allocates little more than its body.
func TestTopTokenBeforeDecoding(t *testing.T) {
	h, _ := newTestHandler(Options{})
	events := repeatJoin(20000, func(i int) string {
		return fmt.Sprintf(`{"event":"e","distinct_id":"u%d","properties":{"a":[1,2,3],"b":{"c":"d"}}}`, i)
	})
	segment := repeatJoin(4000, func(i int) string { return fmt.Sprintf(`{"type":"track","event":"e","userId":"u%d"}`, i) })
	for _, tc := range []struct{ target, body string }{
		{"/batch/", `{"api_key":"nope","batch":[` + events + `]}`},
		{"/batch/", `{"batch":[` + events + `],"api_key":"nope"}`},
		{"/batch/", `{"batch":[` + events + `],"token":"nope","api_key":"tok_a"}`},
		{"/v1/batch", `{"batch":[` + segment + `],"writeKey":"nope"}`},
	} {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		w := call(h, "POST", tc.target, []byte(tc.body))
		runtime.ReadMemStats(&after)
		if w.Code != 401 || !strings.Contains(w.Body.String(), "unknown project token") {
			t.Fatalf("%s %.40s: %d %s, want 401", tc.target, tc.body, w.Code, w.Body)
		}
		if got := after.TotalAlloc - before.TotalAlloc; got > uint64(4*len(tc.body)) {
			t.Errorf("%s %.40s…: allocated %d bytes for a %d-byte body refused by its token", tc.target, tc.body, got, len(tc.body))
		}
	}
	// Known tokens, before or after: stored.
	for _, body := range []string{`{"api_key":"tok_a","batch":[{"event":"e","distinct_id":"u"}]}`, `{"batch":[{"event":"e","distinct_id":"u"}],"api_key":"tok_a"}`} {
		if w := call(h, "POST", "/batch/", []byte(body)); w.Code != 200 {
			t.Fatalf("%s: %d %s", body, w.Code, w.Body)
		}
	}
}

// TestBigBatchesPass: the largest legitimate batches (a 15 MB gzip one to
// /batch/, 19 MB uncompressed) are still stored whole.
func TestBigBatchesPass(t *testing.T) {
	event := func(i int) string {
		return fmt.Sprintf(`{"event":"product viewed","distinct_id":"user-%d","uuid":"0190b0a2-8c1e-7d3a-9f00-%012d","properties":{"$current_url":"https://shop.example/p/%d","price":19.99,"pad":"%0200d"}}`, i, i, i, i)
	}
	for _, tc := range []struct {
		name     string
		mb       int
		compress bool
	}{{"gzip", 15, true}, {"plain", 19, false}} {
		n := tc.mb << 20 / len(event(0))
		body := []byte(`{"api_key":"tok_a","batch":[` + repeatJoin(n, event) + `]}`)
		var headers []string
		if tc.compress {
			body, headers = gz(t, string(body)), []string{"Content-Encoding: gzip"}
		}
		sink := &recSink{}
		srv, _ := intakeServer(t, Options{}, sink)
		if code := post(t, srv.URL+"/batch/", body, headers...); code != 200 || len(sink.events()) != n {
			t.Fatalf("%s %d MB batch of %d events: %d, stored %d", tc.name, tc.mb, n, code, len(sink.events()))
		}
	}
}

// TestAddressShare: slow bodies from three addresses cannot fill the
// memory budget: each address holds at most its share while it sends
// several (429 past it), so another client's 600 KB batch still passes;
// one body alone may exceed the share.
func TestAddressShare(t *testing.T) {
	const memory = 16 << 20 // a share of 2 MB
	loopback := netip.MustParsePrefix("127.0.0.1/32")
	srv, h := intakeServer(t, Options{BodyMemory: memory, TrustedProxies: []netip.Prefix{loopback}}, nil)
	var slow []net.Conn
	for i := range 36 {
		c := dialRaw(t, srv, fmt.Sprintf("POST /batch/ HTTP/1.1\nHost: x\nX-Forwarded-For: 10.0.0.%d\nContent-Length: 17000000", i%3+1))
		slow = append(slow, c)
		_, _ = c.Write(bytes.Repeat([]byte(" "), 1<<20)) // then stalls; past the share, 429
	}
	held := settled(h.gate.reservedBytes)
	t.Logf("%d MB of %d MB held by 3 addresses", held>>20, memory>>20)
	if held > memory/2 {
		t.Fatalf("three addresses hold %d bytes of the %d budget", held, memory)
	}
	batch := `{"api_key":"tok_a","batch":[` + repeatJoin(2000, func(i int) string {
		return fmt.Sprintf(`{"event":"e","distinct_id":"u%d","properties":{"pad":"%0250d"}}`, i, i)
	}) + `]}`
	if code := post(t, srv.URL+"/batch/", []byte(batch), "X-Forwarded-For: 10.0.1.1"); code != 200 {
		t.Fatalf("a %d KB batch from another address while the slow bodies hold: %d, want 200", len(batch)>>10, code)
	}
	for _, c := range slow {
		c.Close()
	}
	waitFor(t, func() bool { return h.gate.reservedBytes() == 0 })
	// Alone, one address may use more than its share.
	alone := `{"api_key":"tok_a","batch":[` + repeatJoin(2150, func(i int) string {
		return fmt.Sprintf(`{"event":"e","distinct_id":"u%d","properties":{"pad":"%01000d"}}`, i, i)
	}) + `]}`
	if code := post(t, srv.URL+"/batch/", []byte(alone), "X-Forwarded-For: 10.0.0.1"); code != 200 {
		t.Fatalf("one %d KB batch, over the share but alone: %d, want 200", len(alone)>>10, code)
	}
}

// settled waits until f returns the same for 200 ms, and returns that.
func settled(f func() int64) int64 {
	last, same := f(), 0
	for end := time.Now().Add(5 * time.Second); same < 4 && time.Now().Before(end); {
		time.Sleep(50 * time.Millisecond)
		if v := f(); v == last {
			same++
		} else {
			last, same = v, 0
		}
	}
	return last
}

// TestQueryDataBounded: a GET carrying an lz64 bomb in its URL is charged
// like a body: it cannot decompress past the budget.
func TestQueryDataBounded(t *testing.T) {
	h, _ := newTestHandler(Options{BodyMemory: 32 << 20})
	q := url.Values{"compression": {"lz64"}, "data": {lzBomb(maxPostHogDecoded)}}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	w := call(h, "GET", "/e/?"+q.Encode(), nil)
	runtime.ReadMemStats(&after)
	if w.Code != 413 && w.Code != 503 {
		t.Fatalf("lz64 bomb in the URL: %d %s, want 413 or 503", w.Code, w.Body)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 64<<20 {
		t.Fatalf("lz64 bomb in the URL allocated %d MB under a 32 MB budget", got>>20)
	}
}
