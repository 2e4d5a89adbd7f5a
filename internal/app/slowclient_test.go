package app

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// serveApp starts the embedded stack the way `journey serve` does: Serve
// on a loopback listener, with its timeouts and body deadlines.
func serveApp(t *testing.T, cfg Config) *testApp {
	t.Helper()
	cfg.DataDir, cfg.AdminKey, cfg.NoSync = t.TempDir(), testAdminKey, true
	a, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	url := serveHandler(t, a)
	t.Cleanup(func() { a.Close() }) // runs after serveHandler's cleanup
	return &testApp{App: a, URL: url, t: t}
}

// serveHandler runs a.Serve on 127.0.0.1 until the test ends.
func serveHandler(t *testing.T, a *App) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return "http://" + ln.Addr().String()
}

// rawRequest dials addr and sends head (lines joined by \n, no blank line
// at the end) as a request's start.
func rawRequest(t *testing.T, url, head string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := io.WriteString(c, strings.ReplaceAll(head, "\n", "\r\n")+"\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	return c
}

// closedWithin checks that the server ends c within d, whatever it
// answers first.
func closedWithin(t *testing.T, c net.Conn, d time.Duration) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, c)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("connection still open after %s", d)
	}
}

// TestServeTimeouts: Serve cuts off slow headers, slow bodies and idle
// connections, but not a handler that runs long after reading its body
// nor a long streamed response (the UI's live events).
func TestServeTimeouts(t *testing.T) {
	const limit = 300 * time.Millisecond
	mux := http.NewServeMux()
	mux.HandleFunc("/read", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
	})
	mux.HandleFunc("/long", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		time.Sleep(3 * limit)
		if r.Context().Err() != nil {
			http.Error(w, "cancelled", 500)
			return
		}
		_, _ = w.Write(b)
	})
	mux.HandleFunc("/stream", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		for i := 0; i < 8; i++ {
			fmt.Fprintf(w, "tick %d\n", i)
			w.(http.Flusher).Flush()
			time.Sleep(limit / 2)
		}
	})
	a := &App{Handler: mux, Config: Config{HeaderTimeout: limit, BodyTimeout: limit, IdleTimeout: limit}}
	url := serveHandler(t, a)

	t.Run("slow headers", func(t *testing.T) {
		c, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		go func() { // a header line at a time; the blank line never comes
			if _, err := io.WriteString(c, "POST /read HTTP/1.1\r\nHost: x\r\n"); err != nil {
				return
			}
			for i := range 100 {
				time.Sleep(limit / 10)
				if _, err := fmt.Fprintf(c, "X-%d: y\r\n", i); err != nil {
					return
				}
			}
		}()
		closedWithin(t, c, 10*limit)
	})
	t.Run("slow body", func(t *testing.T) {
		c := rawRequest(t, url, "POST /read HTTP/1.1\nHost: x\nContent-Length: 1000000")
		go func() {
			for range 100 {
				if _, err := io.WriteString(c, "x"); err != nil {
					return
				}
				time.Sleep(limit / 10)
			}
		}()
		closedWithin(t, c, 10*limit)
	})
	t.Run("idle", func(t *testing.T) {
		c := rawRequest(t, url, "GET /read HTTP/1.1\nHost: x")
		r := bufio.NewReader(c)
		resp, err := http.ReadResponse(r, nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%v %v", resp, err)
		}
		resp.Body.Close()
		_ = c.SetReadDeadline(time.Now().Add(10 * limit))
		if _, err := r.ReadByte(); err != io.EOF {
			t.Fatalf("idle connection: %v, want closed by the server", err)
		}
	})
	t.Run("long handler", func(t *testing.T) {
		resp, err := http.Post(url+"/long", "text/plain", strings.NewReader("body"))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(b) != "body" {
			t.Fatalf("%d %q, want the body back after %s", resp.StatusCode, b, 3*limit)
		}
	})
	t.Run("long response", func(t *testing.T) {
		resp, err := http.Post(url+"/stream", "text/plain", strings.NewReader("body"))
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || strings.Count(string(b), "tick") != 8 {
			t.Fatalf("stream cut off: %q %v", b, err)
		}
	})
}

// TestLiveStreamThroughServe: the UI's live stream outlives the header
// and body timeouts when served by Serve.
func TestLiveStreamThroughServe(t *testing.T) {
	ta := serveApp(t, Config{HeaderTimeout: 200 * time.Millisecond, BodyTimeout: 200 * time.Millisecond})
	admin := ta.browser()
	res := admin.call("POST", "/ui/api/bootstrap", map[string]string{"admin_key": testAdminKey, "email": "root@x.io", "password": "correct horse"}, 200)
	admin.csrf = field(res, "csrf_token").(string)
	p := admin.call("POST", "/ui/api/projects", map[string]string{"name": "A"}, 201)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("%s/ui/api/projects/%v/live", ta.URL, field(p, "id")), nil)
	resp, err := admin.c.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("live: %v %v", err, resp)
	}
	defer resp.Body.Close()
	lines := bufio.NewScanner(resp.Body)
	lines.Scan() // ": connected"
	time.Sleep(time.Second)
	body := fmt.Sprintf(`{"api_key":%q,"event":"late","distinct_id":"d1"}`, field(p, "token"))
	r, err := http.Post(ta.URL+"/capture/", "application/json", strings.NewReader(body))
	if err != nil || r.StatusCode != 200 {
		t.Fatalf("capture: %v %v", err, r)
	}
	r.Body.Close()
	for lines.Scan() {
		if strings.HasPrefix(lines.Text(), "data: ") && strings.Contains(lines.Text(), `"late"`) {
			return
		}
	}
	t.Fatalf("live stream ended before the event: %v", lines.Err())
}

func TestConfigValidateLimits(t *testing.T) {
	f := func(c Config, wantErr string) {
		t.Helper()
		c.DataDir = "d"
		err := c.Validate()
		if wantErr == "" && err != nil || wantErr != "" && (err == nil || !strings.Contains(err.Error(), wantErr)) {
			t.Fatalf("Validate(%+v) = %v, want %q", c, err, wantErr)
		}
	}
	// Their text is parsed by the flag layer: see TestParseSettings.
	f(Config{HeaderTimeout: 5 * time.Second, BodyTimeout: time.Minute, IdleTimeout: 2 * time.Minute, ClientBodies: 64, CaptureMemory: 1 << 30}, "")
	f(Config{HeaderTimeout: -time.Second}, "invalid --header-timeout -1s")
	f(Config{BodyTimeout: -1}, "--body-timeout")
	f(Config{IdleTimeout: -time.Second}, "must be positive")
	f(Config{ClientBodies: -1}, "--client-bodies")
	f(Config{CaptureMemory: 16 << 20}, "less than 32MiB")
	header, body, idle := (&Config{}).serverTimeouts()
	if header != DefaultHeaderTimeout || body != 30*time.Second || idle != DefaultIdleTimeout {
		t.Fatalf("default timeouts %v %v %v", header, body, idle)
	}
	if header, body, idle := (&Config{HeaderTimeout: time.Second, BodyTimeout: 2 * time.Second, IdleTimeout: 3 * time.Second}).serverTimeouts(); header != time.Second || body != 2*time.Second || idle != 3*time.Second {
		t.Fatalf("set timeouts %v %v %v", header, body, idle)
	}
}

// TestSlowClientSoak: 500 sockets that announce 20 MB bodies (or chunked
// ones) and trickle them, from 25 client addresses (X-Forwarded-For through a trusted
// proxy), against a served app: memory stays bounded, every socket is
// answered (429 past the per-client cap, 408 at the body deadline) and
// closed, and a normal client keeps capturing meanwhile.
func TestSlowClientSoak(t *testing.T) {
	const (
		sockets   = 500
		addresses = 25
		deadline  = 2 * time.Second
	)
	ta := serveApp(t, Config{BodyTimeout: deadline, TrustedProxies: proxies(t, "127.0.0.1/32")})
	p := ta.project("soak")
	batch := fmt.Sprintf(`{"api_key":%q,"batch":[{"event":"normal","distinct_id":"u"}]}`, p.Token)
	capture := func() (int, error) {
		resp, err := http.Post(ta.URL+"/batch/", "application/json", strings.NewReader(batch))
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, nil
	}
	if code, err := capture(); code != 200 {
		t.Fatalf("warm-up capture: %d %v", code, err)
	}
	var base runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&base)
	baseRSS := vmRSS()

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var peakHeap, peakRSS uint64
	sampled := make(chan struct{})
	go func() { // memory, every 50 ms until the slow sockets are done
		defer close(sampled)
		var m runtime.MemStats
		for ctx.Err() == nil {
			runtime.ReadMemStats(&m)
			peakHeap = max(peakHeap, m.HeapInuse)
			peakRSS = max(peakRSS, vmRSS())
			select {
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()

	var mu sync.Mutex
	codes := map[int]int{}
	var wg sync.WaitGroup
	for i := range sockets {
		c, err := net.Dial("tcp", strings.TrimPrefix(ta.URL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		wg.Add(1)
		go func() {
			defer wg.Done()
			code := slowSocket(ctx, c, fmt.Sprintf("10.0.0.%d", i%addresses+1), i%2 == 1)
			mu.Lock()
			codes[code]++
			mu.Unlock()
		}()
	}
	slowDone := make(chan struct{})
	go func() { wg.Wait(); close(slowDone) }()

	captured := 0
	for running := true; running; {
		select {
		case <-slowDone:
			running = false
		case <-ctx.Done():
			t.Fatalf("slow sockets still open after 20s: %v", codes)
		case <-time.After(20 * time.Millisecond):
		}
		if code, err := capture(); code != 200 {
			t.Fatalf("normal capture during the soak: %d %v", code, err)
		}
		captured++
	}
	cancel()
	<-sampled
	t.Logf("answers %v; %d normal captures; heap in use %d → %d MB peak; RSS %d → %d MB peak",
		codes, captured, base.HeapInuse>>20, peakHeap>>20, baseRSS>>20, peakRSS>>20)
	if codes[408]+codes[429] != sockets || codes[429] == 0 || codes[408] == 0 {
		t.Fatalf("answers %v, want each of %d sockets answered 408 or 429", codes, sockets)
	}
	if captured < 10 {
		t.Fatalf("only %d normal captures during the soak", captured)
	}
	if grew := int64(peakHeap) - int64(base.HeapInuse); grew > 200<<20 {
		t.Fatalf("heap in use grew by %d MB during the soak, want < 200 MB", grew>>20)
	}
}

// slowSocket announces a 20 MB batch (or a chunked one) from client
// address xff and sends 256 bytes every 100 ms until the server answers;
// it returns the status, 0 for none.
func slowSocket(ctx context.Context, c net.Conn, xff string, chunked bool) int {
	head := "POST /batch/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Forwarded-For: " + xff + "\r\n"
	drip := bytes.Repeat([]byte(" "), 256)
	if chunked {
		head += "Transfer-Encoding: chunked\r\n\r\n"
		drip = append(append([]byte("100\r\n"), drip...), "\r\n"...)
	} else {
		head += "Content-Length: 20000000\r\n\r\n"
	}
	if _, err := io.WriteString(c, head); err != nil {
		return 0
	}
	answered := make(chan int, 1)
	go func() {
		dl, _ := ctx.Deadline()
		_ = c.SetReadDeadline(dl)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			answered <- 0
			return
		}
		resp.Body.Close()
		answered <- resp.StatusCode
	}()
	for {
		select {
		case code := <-answered:
			c.Close()
			return code
		case <-time.After(100 * time.Millisecond):
			_, _ = c.Write(drip) // fails once the server closes; the answer is what counts
		}
	}
}

// vmRSS is the process' resident set size, from /proc/self/status.
func vmRSS() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0 // not Linux: the heap check still holds
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}
