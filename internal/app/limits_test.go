package app

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// dialFrom connects to the served app from the loopback address src
// (127.0.0.0/8 is all local on Linux), so that tests have several client
// addresses without a proxy.
func dialFrom(t *testing.T, url, src string) (net.Conn, error) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 2 * time.Second}
	c, err := d.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err == nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, err
}

// get sends a keep-alive GET on c and returns the status, 0 when the
// server closed c instead.
func get(c net.Conn, path string) int {
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path); err != nil {
		return 0
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// heapPeak runs f while sampling the heap in use every 5 ms and returns
// the peak growth over what was in use before.
func heapPeak(f func()) int64 {
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
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	f()
	close(stop)
	<-done
	return peak - base
}

// TestHeaderLimit: a header over MaxHeaderBytes (64 KiB by default, not
// net/http's 1 MB) is answered 431; one under it is served.
func TestHeaderLimit(t *testing.T) {
	ta := serveApp(t, Config{})
	for _, tc := range []struct {
		size, want int
	}{{60 << 10, 200}, {100 << 10, 431}} {
		c := rawRequest(t, ta.URL, "GET /healthz HTTP/1.1\nHost: x\nX-Pad: "+strings.Repeat("p", tc.size))
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != tc.want {
			t.Fatalf("%d KB header: %v %v, want %d", tc.size>>10, resp, err, tc.want)
		}
		resp.Body.Close()
	}
}

// TestStalledHeadersBounded: 300 connections from two addresses, each
// sending a megabyte of headers that never end, hold a few tens of
// megabytes at most: each is cut off past MaxHeaderBytes.
func TestStalledHeadersBounded(t *testing.T) {
	ta := serveApp(t, Config{HeaderTimeout: 5 * time.Second})
	line := []byte("X-Pad: " + strings.Repeat("p", 1000) + "\r\n")
	chunk := bytes.Repeat(line, 16)
	grew := heapPeak(func() {
		var wg sync.WaitGroup
		for i := range 300 {
			c, err := dialFrom(t, ta.URL, fmt.Sprintf("127.0.0.%d", i%2+1))
			if err != nil {
				t.Fatal(err)
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
				_, _ = io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n")
				for sent := 0; sent < 1<<20; sent += len(chunk) {
					if _, err := c.Write(chunk); err != nil {
						return // cut off: what the test expects
					}
				}
			}()
		}
		wg.Wait()
	})
	t.Logf("heap grew by %d MB for 300 connections sending 1 MB headers", grew>>20)
	if grew > 48<<20 {
		t.Fatalf("heap grew by %d MB, want < 48 MB", grew>>20)
	}
}

// TestConnectionCaps: past ClientConns from one address and MaxConns in
// total, new connections are closed at once; behind a trusted proxy its
// address counts only in the total.
func TestConnectionCaps(t *testing.T) {
	ta := serveApp(t, Config{ClientConns: 3, MaxConns: 5})
	open := func(src string) int {
		t.Helper()
		c, err := dialFrom(t, ta.URL, src)
		if err != nil {
			return 0 // reset at once
		}
		return get(c, "/healthz")
	}
	for i, want := range []int{200, 200, 200, 0} {
		if got := open("127.0.0.1"); got != want {
			t.Fatalf("connection %d from 127.0.0.1: %d, want %d", i+1, got, want)
		}
	}
	for i, want := range []int{200, 200, 0} {
		if got := open("127.0.0.2"); got != want {
			t.Fatalf("connection %d from 127.0.0.2 (total %d): %d, want %d", i+1, i+4, got, want)
		}
	}
	tp := serveApp(t, Config{ClientConns: 3, MaxConns: 5, TrustedProxies: proxies(t, "127.0.0.1/32")})
	for i, want := range []int{200, 200, 200, 200, 200, 0} {
		c, err := dialFrom(t, tp.URL, "127.0.0.1")
		got := 0
		if err == nil {
			got = get(c, "/healthz")
		}
		if got != want {
			t.Fatalf("connection %d from a trusted proxy: %d, want %d", i+1, got, want)
		}
	}
}

// TestAPIBodiesBounded: 100 slow 1 MB bodies to /ui/api/login from one
// address hold little memory (429 past its slots and its share of the
// budget), while another address logs in as usual; bodies over the API's
// limit are refused with 413 before they are read, a static cohort's
// larger body is not.
func TestAPIBodiesBounded(t *testing.T) {
	ta := serveApp(t, Config{})
	head := "POST /ui/api/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1040000\r\n\r\n"
	pad := bytes.Repeat([]byte(" "), 900<<10)
	var refused int
	var mu sync.Mutex
	grew := heapPeak(func() {
		var wg sync.WaitGroup
		for range 100 {
			c, err := dialFrom(t, ta.URL, "127.0.0.1")
			if err != nil {
				t.Fatal(err)
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				_ = c.SetDeadline(time.Now().Add(3 * time.Second))
				_, _ = io.WriteString(c, head)
				_, _ = c.Write(pad) // then stalls
				if resp, err := http.ReadResponse(bufio.NewReader(c), nil); err == nil {
					resp.Body.Close()
					mu.Lock()
					refused += map[bool]int{true: 1}[resp.StatusCode == 429]
					mu.Unlock()
				}
			}()
		}
		time.Sleep(500 * time.Millisecond)
		if code := loginFrom(t, ta.URL, "127.0.0.2"); code != 401 {
			t.Errorf("login from another address meanwhile: %d, want 401 (wrong password)", code)
		}
		wg.Wait()
	})
	t.Logf("%d of 100 slow bodies refused with 429; heap grew by %d MB", refused, grew>>20)
	if refused < 84 || grew > 40<<20 {
		t.Fatalf("%d slow bodies refused, heap grew by %d MB; want >= 84 and < 40 MB", refused, grew>>20)
	}
	for _, tc := range []struct {
		path   string
		length int
		want   func(int) bool
	}{
		{"/ui/api/login", 2 << 20, func(c int) bool { return c == 413 }},
		{"/api/v1/cohorts", 2 << 20, func(c int) bool { return c != 413 }},
	} {
		body := `{"name":"x","definition":{"distinct_ids":["` + strings.Repeat("a", tc.length-50) + `"]}}`
		resp, err := http.Post(ta.URL+tc.path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if !tc.want(resp.StatusCode) {
			t.Fatalf("%s with %d MB: %d", tc.path, tc.length>>20, resp.StatusCode)
		}
	}
}

// loginFrom tries a wrong password from the loopback address src.
func loginFrom(t *testing.T, url, src string) int {
	t.Helper()
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
		return d.DialContext(ctx, network, addr)
	}}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Post(url+"/ui/api/login", "application/json", strings.NewReader(`{"email":"a@b.c","password":"nope"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestConfigValidateConns(t *testing.T) {
	f := func(c Config, wantErr string) {
		t.Helper()
		c.DataDir = "d"
		err := c.Validate()
		if wantErr == "" && err != nil || wantErr != "" && (err == nil || !strings.Contains(err.Error(), wantErr)) {
			t.Fatalf("Validate(%+v) = %v, want %q", c, err, wantErr)
		}
	}
	f(Config{MaxHeaderBytes: 16 << 10, ClientConns: 64, MaxConns: 1000}, "")
	f(Config{MaxHeaderBytes: 100}, "--max-header-bytes")
	f(Config{MaxHeaderBytes: -1}, "--max-header-bytes")
	f(Config{ClientConns: -1}, "--client-conns")
	f(Config{MaxConns: -1}, "--max-conns")
	if got := (&Config{}).maxHeaderBytes(); got != DefaultMaxHeaderBytes {
		t.Fatalf("default header cap %d", got)
	}
}
