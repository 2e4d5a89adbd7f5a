package channel

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestAddressAllowed(t *testing.T) {
	refused := []string{
		"127.0.0.1", "127.255.255.254", "10.0.0.1", "10.255.255.255", "172.16.0.1", "172.31.255.255",
		"192.168.1.1", "169.254.169.254", "169.254.0.1", "100.64.0.1", "100.127.255.255",
		"0.0.0.0", "0.1.2.3", "224.0.0.1", "239.255.255.250", "255.255.255.255", "240.0.0.1",
		"192.0.2.10", "198.51.100.7", "203.0.113.9", "198.18.0.1", "192.0.0.8", "192.88.99.1",
		"::", "::1", "fe80::1", "fe80::1%eth0", "fc00::1", "fd12:3456::1", "ff02::1", "ff05::2",
		"::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254", "::ffff:0.0.0.0",
		"::127.0.0.1", "64:ff9b::7f00:1", "64:ff9b::a00:1", "64:ff9b:1::1",
		"2002:7f00:1::1", "2002:a00:1::", "2001:db8::1", "2001::1", "3fff::1", "100::1", "fec0::1",
		"5f00::1",
	}
	allowed := []string{
		"1.1.1.1", "8.8.8.8", "93.184.216.34", "172.15.255.255", "172.32.0.1", "100.63.255.255",
		"100.128.0.1", "169.253.255.255", "192.169.0.1", "11.0.0.1",
		"2606:4700:4700::1111", "2a00:1450:4001:80b::200e", "::ffff:8.8.8.8", "64:ff9b::808:808",
		"2002:808:808::1",
	}
	for _, s := range refused {
		if AddressAllowed(netip.MustParseAddr(s)) {
			t.Errorf("%s allowed", s)
		}
	}
	for _, s := range allowed {
		if !AddressAllowed(netip.MustParseAddr(s)) {
			t.Errorf("%s refused", s)
		}
	}
	if AddressAllowed(netip.Addr{}) {
		t.Error("the zero Addr allowed")
	}
}

// The dialer's Control function sees the resolved address right before
// connect; it is called here directly for addresses that no test may
// send a packet to.
func TestGuardControl(t *testing.T) {
	for _, a := range []string{
		"127.0.0.1:80", "10.1.2.3:443", "169.254.169.254:80", "[::1]:80", "[::ffff:127.0.0.1]:80",
		"[::ffff:10.0.0.1]:8080", "192.168.0.10:25", "100.64.1.1:80", "[fe80::1%25eth0]:80", "[fd00::1]:443",
		"0.0.0.0:80", "not-an-address:80",
	} {
		if err := guardControl("tcp", a, nil); !errors.Is(err, ErrForbiddenAddress) {
			t.Errorf("Control(%s) = %v, want ErrForbiddenAddress", a, err)
		}
	}
	for _, a := range []string{"93.184.216.34:443", "[2606:4700:4700::1111]:443"} {
		if err := guardControl("tcp4", a, nil); err != nil {
			t.Errorf("Control(%s) = %v", a, err)
		}
	}
	if err := guardControl("udp", "93.184.216.34:53", nil); !errors.Is(err, ErrForbiddenAddress) {
		t.Errorf("udp allowed: %v", err)
	}
}

// Real connections through the guarded client to a listening loopback
// server: every spelling of loopback is refused at connect time, before
// any byte reaches the server.
func TestGuardRefusesLoopbackAtConnect(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())

	var accepted6 atomic.Int32
	if l6, err := net.Listen("tcp6", "[::1]:"+port); err == nil { // IPv6 loopback where the machine has it
		defer l6.Close()
		go func() {
			for {
				c, err := l6.Accept()
				if err != nil {
					return
				}
				accepted6.Add(1)
				c.Close()
			}
		}()
	}

	guarded := NewHTTPClient(ClientOptions{Timeout: 2 * time.Second})
	for _, u := range []string{
		"http://127.0.0.1:" + port + "/",
		"http://[::ffff:127.0.0.1]:" + port + "/",
		"http://[::1]:" + port + "/",
		"http://localhost:" + port + "/", // a hostname that resolves to loopback
	} {
		resp, err := guarded.Get(u)
		if err == nil {
			resp.Body.Close()
			t.Errorf("%s: connected (%d)", u, resp.StatusCode)
			continue
		}
		if !errors.Is(err, ErrForbiddenAddress) {
			t.Errorf("%s: %v, want ErrForbiddenAddress", u, err)
		}
	}
	if hits.Load() != 0 || accepted6.Load() != 0 {
		t.Fatalf("the guard let %d+%d connections through", hits.Load(), accepted6.Load())
	}

	// The same server is reachable with AllowPrivate.
	resp, err := loopbackClient().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if hits.Load() != 1 {
		t.Fatal("AllowPrivate client did not reach the server")
	}

	// Through the webhook sender: refused when configured (CheckURL) ...
	for _, u := range []string{"http://127.0.0.1:" + port, "http://[::1]:" + port, "http://localhost:" + port, "http://10.0.0.1/", "http://169.254.169.254/latest/meta-data"} {
		if _, err := NewWebhook(u, NewSecret(), guarded); !errors.Is(err, ErrForbiddenAddress) {
			t.Errorf("NewWebhook(%s) = %v, want ErrForbiddenAddress", u, err)
		}
	}
	// ... and at connect time for a hostname that passed the configuration
	// check (here: a sender made with a private client, then sending
	// through a guarded one, as if DNS had changed in between).
	wh, err := NewWebhook("http://localhost:"+port, NewSecret(), loopbackClient())
	if err != nil {
		t.Fatal(err)
	}
	wh.client = guarded
	o := wh.Send(context.Background(), testMessage())
	if !o.Permanent || !errors.Is(o.Err, ErrForbiddenAddress) {
		t.Fatalf("guarded send to localhost: %v", o)
	}
	if hits.Load() != 1 {
		t.Fatal("the guarded send reached the server")
	}
}

// A redirect is never followed: not to a private address (the classic
// SSRF bypass) and not anywhere else.
func TestNoRedirects(t *testing.T) {
	var inner atomic.Int32
	internal := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { inner.Add(1) }))
	defer internal.Close()
	outer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, internal.URL+"/admin", http.StatusFound)
	}))
	defer outer.Close()
	resp, err := loopbackClient().Get(outer.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || inner.Load() != 0 {
		t.Fatalf("status %d, inner hits %d", resp.StatusCode, inner.Load())
	}
}

func TestCheckURL(t *testing.T) {
	ok := []string{"https://hooks.example.com/x?y=1", "http://93.184.216.34:8080/", "https://user:pw@example.com/", "https://[2606:4700::1]/"}
	for _, u := range ok {
		if _, err := CheckURL(u, false); err != nil {
			t.Errorf("CheckURL(%s) = %v", u, err)
		}
	}
	bad := []string{"ftp://example.com", "javascript:alert(1)", "data:text/plain,x", "file:///etc/passwd", "//example.com/x",
		"http://127.0.0.1/", "http://[::1]/", "http://[::ffff:7f00:1]/", "http://10.0.0.1/", "http://0.0.0.0/",
		"http://localhost/", "http://api.localhost/", "http://%zz/", ""}
	for _, u := range bad {
		if _, err := CheckURL(u, false); err == nil {
			t.Errorf("CheckURL(%q) accepted", u)
		}
	}
	if _, err := CheckURL("http://127.0.0.1:9/", true); err != nil {
		t.Errorf("AllowPrivate: %v", err)
	}
	if _, err := CheckURL("ftp://127.0.0.1/", true); err == nil || !strings.Contains(err.Error(), "http") {
		t.Errorf("AllowPrivate still checks the scheme: %v", err)
	}
}
