package api

import (
	"net/http/httptest"
	"net/netip"
	"testing"
)

// TestClientIP: X-Forwarded-For counts only behind a trusted proxy, and
// only up to the first hop that is not one; IPv6 counts per /64.
func TestClientIP(t *testing.T) {
	s := &Server{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}
	f := func(remote, xff, want string) {
		t.Helper()
		r := httptest.NewRequest("POST", "/ui/api/login", nil)
		r.RemoteAddr = remote
		if xff != "" {
			r.Header.Set("X-Forwarded-For", xff)
		}
		if got := s.clientIP(r); got != want {
			t.Fatalf("peer %s, X-Forwarded-For %q: got %s, want %s", remote, xff, got, want)
		}
	}
	f("203.0.113.7:5000", "", "203.0.113.7")
	f("203.0.113.7:5000", "198.51.100.1", "203.0.113.7")                  // not behind a trusted proxy: header ignored
	f("10.1.2.3:5000", "198.51.100.1", "198.51.100.1")                    // the proxy's client
	f("10.1.2.3:5000", "6.6.6.6, 198.51.100.1, 10.9.9.9", "198.51.100.1") // forged first entry ignored
	f("10.1.2.3:5000", "", "10.1.2.3")
	f("10.1.2.3:5000", "not-an-ip", "10.1.2.3")
	f("[2001:db8:1:2:3:4:5:6]:443", "", "2001:db8:1:2::/64")
	f("[::ffff:192.0.2.9]:80", "", "192.0.2.9")
}
