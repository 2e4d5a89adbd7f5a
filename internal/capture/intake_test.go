package capture

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/event"
	"github.com/journey-dev/journey/internal/intake"
)

// intakeServer serves the capture handler over real TCP, where read
// deadlines exist.
func intakeServer(t *testing.T, o Options, s Sink) (*httptest.Server, *handler) {
	t.Helper()
	if s == nil {
		s = &recSink{}
	}
	h := NewHandler(testProjects, s, o).(*handler)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, h
}

// dialRaw opens a bare connection to srv and sends head, the request line
// and headers without the final blank line.
func dialRaw(t *testing.T, srv *httptest.Server, head string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := io.WriteString(c, strings.ReplaceAll(head, "\n", "\r\n")+"\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	return c
}

// answer reads one response from c, failing the test when none comes
// within d; the body is read too.
func answer(t *testing.T, c net.Conn, d time.Duration) (*http.Response, string) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(d))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer within %s: %v", d, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// silent checks that c gets no answer for d: the server is waiting for
// the body.
func silent(t *testing.T, c net.Conn, d time.Duration) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(d))
	var b [1]byte
	if n, err := c.Read(b[:]); n > 0 || !isTimeout(err) {
		t.Fatalf("the server answered before the body was sent (%d bytes, %v)", n, err)
	}
}

// TestBodyNotPreallocated: a Content-Length of 20 MB with 10 bytes sent
// must not allocate 20 MB; the buffer grows with what arrives.
func TestBodyNotPreallocated(t *testing.T) {
	h, _ := newTestHandler(Options{})
	r := httptest.NewRequest("POST", "/batch/", strings.NewReader(`{"batch":[`))
	r.ContentLength = 20_000_000
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	runtime.ReadMemStats(&after)
	if w.Code != 400 {
		t.Fatalf("status %d (%s), want 400 for a truncated body", w.Code, w.Body)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 1<<20 {
		t.Fatalf("allocated %d bytes for a 10-byte body announced as 20 MB", got)
	}
}

// TestSlowBodyCutOff: a client that announces a large body and trickles
// it, by Content-Length or chunked, is answered 408 and disconnected once
// the body deadline passes.
func TestSlowBodyCutOff(t *testing.T) {
	const deadline = 300 * time.Millisecond
	srv, h := intakeServer(t, Options{BodyTimeout: deadline}, nil)
	for _, tc := range []struct {
		name, head, drip string
	}{
		{"content-length", "POST /batch/ HTTP/1.1\nHost: x\nContent-Length: 20000000", "x"},
		{"chunked", "POST /e/ HTTP/1.1\nHost: x\nTransfer-Encoding: chunked", "1\r\nx\r\n"},
		{"segment", "POST /v1/batch HTTP/1.1\nHost: x\nContent-Length: 400000", "x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialRaw(t, srv, tc.head)
			start := time.Now()
			stop := make(chan struct{})
			defer close(stop)
			go func() { // one byte every 20 ms, far below any useful rate
				for {
					select {
					case <-stop:
						return
					case <-time.After(20 * time.Millisecond):
					}
					if _, err := io.WriteString(c, tc.drip); err != nil {
						return
					}
				}
			}()
			resp, body := answer(t, c, 10*deadline)
			if resp.StatusCode != http.StatusRequestTimeout || !resp.Close {
				t.Fatalf("status %d close=%v (%s), want 408 and the connection closed", resp.StatusCode, resp.Close, body)
			}
			if took := time.Since(start); took < deadline {
				t.Fatalf("answered after %s, before the %s deadline", took, deadline)
			}
			_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
			if _, err := io.Copy(io.Discard, c); err != nil && !strings.Contains(err.Error(), "reset") {
				t.Fatalf("connection not closed by the server: %v", err)
			}
		})
	}
	if n := h.gate.reservedBytes(); n != 0 {
		t.Fatalf("%d bytes still reserved after the bodies were cut off", n)
	}
}

func (g *gate) reservedBytes() int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.used
}

func (g *gate) inFlight(addr string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.clients[addr]
}

func (g *gate) addresses() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.clients)
}

// TestOutsideTokenBeforeBody: an unknown token in the query (PostHog) or
// in Basic auth (Segment) is answered 401 before any of the body is sent;
// a known one, or none, lets the body be read.
func TestOutsideTokenBeforeBody(t *testing.T) {
	srv, _ := intakeServer(t, Options{}, nil)
	for _, head := range []string{
		"POST /batch/?token=nope HTTP/1.1\nHost: x\nContent-Length: 20000000",
		"POST /e/?api_key=nope&compression=gzip-js HTTP/1.1\nHost: x\nTransfer-Encoding: chunked",
		"POST /e/?token=tok_a&api_key=nope HTTP/1.1\nHost: x\nContent-Length: 1000",
		"POST /v1/batch HTTP/1.1\nHost: x\nContent-Length: 400000\n" + basicAuth("nope"),
		"POST /v1/track HTTP/1.1\nHost: x\nExpect: 100-continue\nContent-Length: 100\n" + basicAuth("nope"),
	} {
		c := dialRaw(t, srv, head)
		resp, body := answer(t, c, 2*time.Second)
		if resp.StatusCode != 401 || !strings.Contains(body, "unknown project token") || !resp.Close {
			t.Fatalf("%s: %d close=%v %s, want 401 unknown project token and close", head, resp.StatusCode, resp.Close, body)
		}
	}
	ok := func(head, body string) {
		t.Helper()
		c := dialRaw(t, srv, fmt.Sprintf("%s\nContent-Length: %d", head, len(body)))
		silent(t, c, 200*time.Millisecond)
		if _, err := io.WriteString(c, body); err != nil {
			t.Fatal(err)
		}
		if resp, b := answer(t, c, 2*time.Second); resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s, want 200", head, resp.StatusCode, b)
		}
	}
	ok("POST /batch/?token=tok_a HTTP/1.1\nHost: x", `{"batch":[{"event":"x","distinct_id":"u"}]}`)
	ok("POST /v1/track HTTP/1.1\nHost: x\n"+basicAuth("tok_a"), `{"event":"x","userId":"u"}`)
	ok("POST /batch/ HTTP/1.1\nHost: x", `{"api_key":"tok_a","batch":[{"event":"x","distinct_id":"u"}]}`)
	ok("POST /v1/track HTTP/1.1\nHost: x", `{"writeKey":"tok_a","event":"x","userId":"u"}`)
}

// TestQueryToken: PostHog's token and api_key query parameters name the
// project, as the check before the body reads them.
func TestQueryToken(t *testing.T) {
	h, s := newTestHandler(Options{})
	ev := []byte(`{"event":"x","distinct_id":"u"}`)
	for _, target := range []string{"/e/?token=tok_b", "/e/?api_key=tok_b", "/e/?token=tok_b&api_key=tok_b"} {
		if w := call(h, "POST", target, ev); w.Code != 200 {
			t.Fatalf("%s: %d %s", target, w.Code, w.Body)
		}
	}
	for _, b := range s.batches {
		if b.ProjectID != 2 {
			t.Fatalf("stored in project %d, want 2", b.ProjectID)
		}
	}
	if w := call(h, "POST", "/e/?token=tok_b", []byte(`{"event":"x","distinct_id":"u","token":"tok_a"}`)); w.Code != 401 || !strings.Contains(w.Body.String(), "more than one") {
		t.Fatalf("query and body naming two projects: %d %s", w.Code, w.Body)
	}
	if w := call(h, "POST", "/e/?token=nope", ev); w.Code != 401 {
		t.Fatalf("unknown query token: %d %s", w.Code, w.Body)
	}
}

// TestClientBodiesCap: past ClientBodies bodies in flight from one
// address, the next request is refused at once with 429 and Retry-After;
// other addresses, and the same one once a body is done, go through.
func TestClientBodiesCap(t *testing.T) {
	loopback := netip.MustParsePrefix("127.0.0.1/32")
	srv, h := intakeServer(t, Options{ClientBodies: 2, TrustedProxies: []netip.Prefix{loopback}}, nil)
	body := `{"api_key":"tok_a","batch":[{"event":"x","distinct_id":"u"}]}`
	head := fmt.Sprintf("POST /batch/ HTTP/1.1\nHost: x\nX-Forwarded-For: 10.0.0.1\nContent-Length: %d", len(body))
	held := []net.Conn{dialRaw(t, srv, head), dialRaw(t, srv, head)}
	for _, c := range held {
		if _, err := io.WriteString(c, body[:10]); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, func() bool { return h.gate.inFlight("10.0.0.1") == 2 })
	resp, b := answer(t, dialRaw(t, srv, head), time.Second)
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" || !resp.Close {
		t.Fatalf("third body from one address: %d %v %s, want 429 with Retry-After", resp.StatusCode, resp.Header, b)
	}
	other := strings.Replace(head, "10.0.0.1", "10.0.0.2", 1)
	c := dialRaw(t, srv, other)
	_, _ = io.WriteString(c, body)
	if resp, b := answer(t, c, time.Second); resp.StatusCode != 200 {
		t.Fatalf("another address: %d %s, want 200", resp.StatusCode, b)
	}
	_, _ = io.WriteString(held[0], body[10:])
	if resp, b := answer(t, held[0], time.Second); resp.StatusCode != 200 {
		t.Fatalf("held body once finished: %d %s, want 200", resp.StatusCode, b)
	}
	c = dialRaw(t, srv, head)
	_, _ = io.WriteString(c, body)
	if resp, b := answer(t, c, time.Second); resp.StatusCode != 200 {
		t.Fatalf("after a slot freed: %d %s, want 200", resp.StatusCode, b)
	}
	held[1].Close()
	waitFor(t, func() bool { return h.gate.addresses() == 0 && h.gate.reservedBytes() == 0 })
}

// TestBodyMemoryCap: once the bodies being received fill BodyMemory,
// another is answered 503 with Retry-After, and passes once they are gone.
func TestBodyMemoryCap(t *testing.T) {
	srv, h := intakeServer(t, Options{BodyMemory: 64 << 10}, nil)
	big := dialRaw(t, srv, "POST /batch/ HTTP/1.1\nHost: x\nContent-Length: 1000000")
	if _, err := big.Write(bytes.Repeat([]byte(" "), 40<<10)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return h.gate.reservedBytes() == 64<<10 }) // 4+4+8+16+32 KB
	body := `{"api_key":"tok_a","batch":[{"event":"x","distinct_id":"u"}]}`
	head := fmt.Sprintf("POST /batch/ HTTP/1.1\nHost: x\nContent-Length: %d", len(body))
	c := dialRaw(t, srv, head)
	_, _ = io.WriteString(c, body)
	resp, b := answer(t, c, time.Second)
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("body past the memory cap: %d %v %s, want 503 with Retry-After", resp.StatusCode, resp.Header, b)
	}
	big.Close()
	waitFor(t, func() bool { return h.gate.reservedBytes() == 0 })
	c = dialRaw(t, srv, head)
	_, _ = io.WriteString(c, body)
	if resp, b := answer(t, c, time.Second); resp.StatusCode != 200 {
		t.Fatalf("once memory is free: %d %s, want 200", resp.StatusCode, b)
	}
}

// slowSink takes its time and fails if the request was cancelled meanwhile.
type slowSink struct{ d time.Duration }

func (s slowSink) Append(ctx context.Context, _ event.Batch) error {
	select {
	case <-time.After(s.d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// TestStoreOutlivesBodyDeadline: the body deadline ends with the body;
// storing may take longer without the request being cancelled.
func TestStoreOutlivesBodyDeadline(t *testing.T) {
	srv, _ := intakeServer(t, Options{BodyTimeout: 100 * time.Millisecond}, slowSink{400 * time.Millisecond})
	resp, err := http.Post(srv.URL+"/batch/", "application/json", strings.NewReader(`{"api_key":"tok_a","batch":[{"event":"x","distinct_id":"u"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s, want 200", resp.StatusCode, b)
	}
}

func TestClientAddr(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	f := func(remote, xff, want string) {
		t.Helper()
		r := httptest.NewRequest("POST", "/e/", nil)
		r.RemoteAddr = remote
		if xff != "" {
			r.Header.Set("X-Forwarded-For", xff)
		}
		if got := intake.ClientKey(r, trusted); got != want {
			t.Fatalf("ClientKey(%s, %q) = %s, want %s", remote, xff, got, want)
		}
	}
	f("192.0.2.1:1234", "198.51.100.7", "192.0.2.1") // untrusted peer: its header is ignored
	f("10.1.1.1:1234", "198.51.100.7", "198.51.100.7")
	f("10.1.1.1:1234", "203.0.113.9, 198.51.100.7, 10.2.2.2", "198.51.100.7") // nearest untrusted hop
	f("10.1.1.1:1234", "junk", "10.1.1.1")
	f("[2001:db8:1:2:3:4:5:6]:1234", "", "2001:db8:1:2::/64")
	f("[::ffff:192.0.2.1]:1234", "", "192.0.2.1")
	f("pipe", "", "pipe")
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(5 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatal("condition not met within 5s")
		}
	}
}
