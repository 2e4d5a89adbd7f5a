package channel

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// EnvAllowPrivate is the environment variable that, set to 1, lets the
// server's senders reach private addresses (with the flag
// --webhook-allow-private); the server reads it into
// ClientOptions.AllowPrivate.
const EnvAllowPrivate = "JOURNEY_WEBHOOK_ALLOW_PRIVATE"

// ClientOptions configure NewHTTPClient.
type ClientOptions struct {
	// AllowPrivate lets the client connect to private, loopback and other
	// non-public addresses (the server's --webhook-allow-private or
	// JOURNEY_WEBHOOK_ALLOW_PRIVATE=1; tests against loopback receivers).
	AllowPrivate bool
	// Timeout bounds one request, response included (default 20 s, within
	// Standard Webhooks' recommended 15–30 s).
	Timeout time.Duration
	// MaxIdleConnsPerHost is how many keep-alive connections to one host
	// stay pooled (default 64).
	MaxIdleConnsPerHost int
	// TLSConfig, when set, replaces the default TLS configuration (tests
	// use it to trust a test server's certificate).
	TLSConfig *tls.Config
}

// DefaultTimeout is the request timeout of NewHTTPClient.
const DefaultTimeout = 20 * time.Second

// HTTPClient is the pooled HTTP client that webhook and push senders
// share, with the SSRF guard unless it was made with AllowPrivate.
type HTTPClient struct {
	*http.Client
	allowPrivate bool
}

// AllowPrivate reports whether the client connects to non-public
// addresses.
func (c *HTTPClient) AllowPrivate() bool { return c.allowPrivate }

// NewHTTPClient makes the pooled HTTP client that webhook and push
// senders share; make one per process. Unless o.AllowPrivate, its dialer refuses every address that
// AddressAllowed refuses, at connect time: the check sees the resolved
// IP address of every connection, so neither DNS rebinding nor a
// hostname that resolves to an internal address gets through. The
// client never follows a redirect (the 3xx response is returned as it
// is) and ignores HTTP(S)_PROXY from the environment (a proxy would hide
// the real destination from the check).
func NewHTTPClient(o ClientOptions) *HTTPClient {
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	perHost := o.MaxIdleConnsPerHost
	if perHost <= 0 {
		perHost = 64
	}
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	if !o.AllowPrivate {
		dialer.Control = guardControl
	}
	tr := &http.Transport{
		Proxy:                  nil,
		DialContext:            dialer.DialContext,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           4 * perHost,
		MaxIdleConnsPerHost:    perHost,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    10 * time.Second,
		ExpectContinueTimeout:  time.Second,
		ResponseHeaderTimeout:  timeout,
		MaxResponseHeaderBytes: 64 << 10,
		TLSClientConfig:        o.TLSConfig,
	}
	return &HTTPClient{Client: &http.Client{
		Transport: tr,
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}, allowPrivate: o.AllowPrivate}
}

// guardControl is the net.Dialer Control function of the SSRF guard: it
// runs after the socket is made and before it connects, with the
// resolved address, so a refused address is never contacted.
func guardControl(network, address string, _ syscall.RawConn) error {
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return fmt.Errorf("%w: network %q", ErrForbiddenAddress, network)
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %q: %v", ErrForbiddenAddress, address, err)
	}
	if !AddressAllowed(ap.Addr()) {
		return fmt.Errorf("%w: %s is not a public address", ErrForbiddenAddress, ap.Addr())
	}
	return nil
}

var (
	blocked4 = prefixes(
		"0.0.0.0/8",       // "this network", unspecified
		"10.0.0.0/8",      // private
		"100.64.0.0/10",   // carrier-grade NAT (RFC 6598)
		"127.0.0.0/8",     // loopback
		"169.254.0.0/16",  // link-local (cloud metadata services)
		"172.16.0.0/12",   // private
		"192.0.0.0/24",    // IETF protocol assignments
		"192.0.2.0/24",    // documentation
		"192.88.99.0/24",  // 6to4 relay anycast
		"192.168.0.0/16",  // private
		"198.18.0.0/15",   // benchmarking
		"198.51.100.0/24", // documentation
		"203.0.113.0/24",  // documentation
		"224.0.0.0/4",     // multicast
		"240.0.0.0/4",     // reserved, broadcast
	)
	// Inside 2000::/3 (global unicast), the only IPv6 space allowed.
	blocked6 = prefixes(
		"2001::/23",     // IETF protocol assignments (Teredo, ORCHID, …)
		"2001:db8::/32", // documentation
		"3fff::/20",     // documentation
	)
	global6 = netip.MustParsePrefix("2000::/3")
	nat64   = netip.MustParsePrefix("64:ff9b::/96")
	sixTo4  = netip.MustParsePrefix("2002::/16")
)

func prefixes(ss ...string) []netip.Prefix {
	ps := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		ps[i] = netip.MustParsePrefix(s)
	}
	return ps
}

// AddressAllowed reports whether the SSRF guard lets a connection go to
// a: a public unicast address. Refused are private (10/8, 172.16/12,
// 192.168/16, fc00::/7), loopback (127/8, ::1), link-local (169.254/16,
// fe80::/10), multicast, unspecified, CGNAT (100.64/10), documentation,
// benchmarking and reserved ranges, and all IPv6 outside 2000::/3. IPv4
// inside IPv6 (IPv4-mapped ::ffff:0:0/96, NAT64 64:ff9b::/96, 6to4
// 2002::/16) is judged by the IPv4 address it carries.
func AddressAllowed(a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	a = a.WithZone("").Unmap()
	if a.Is4() {
		return allowed4(a)
	}
	if nat64.Contains(a) {
		b := a.As16()
		return allowed4(netip.AddrFrom4([4]byte(b[12:16])))
	}
	if !global6.Contains(a) {
		return false
	}
	if sixTo4.Contains(a) {
		b := a.As16()
		return allowed4(netip.AddrFrom4([4]byte(b[2:6])))
	}
	for _, p := range blocked6 {
		if p.Contains(a) {
			return false
		}
	}
	return true
}

func allowed4(a netip.Addr) bool {
	for _, p := range blocked4 {
		if p.Contains(a) {
			return false
		}
	}
	return true
}

// CheckURL parses a webhook URL or push endpoint as the senders accept
// it: absolute, http or https, with a host. Unless allowPrivate, a host
// that is an IP address must be allowed by AddressAllowed, and the
// hostname "localhost" (and its subdomains) is refused; other hostnames
// are checked when connecting, after resolution. Use it to validate a
// URL when it is configured; the senders check again on every send.
func CheckURL(raw string, allowPrivate bool) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrForbiddenURL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("%w: %q: only http and https URLs", ErrForbiddenURL, raw)
	}
	host := u.Hostname()
	if host == "" {
		return nil, fmt.Errorf("%w: %q has no host", ErrForbiddenURL, raw)
	}
	if allowPrivate {
		return u, nil
	}
	if a, err := netip.ParseAddr(host); err == nil {
		if !AddressAllowed(a) {
			return nil, fmt.Errorf("%w: %q: %s is not a public address", ErrForbiddenAddress, raw, a)
		}
		return u, nil
	}
	h := strings.TrimSuffix(strings.ToLower(host), ".")
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return nil, fmt.Errorf("%w: %q: localhost", ErrForbiddenAddress, raw)
	}
	return u, nil
}
