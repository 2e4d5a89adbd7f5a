// Package intake holds the limits shared by everything that takes
// requests from clients: open connections per client address and in
// total, and the key that counts one client (an IPv4 address, an IPv6
// /64).
package intake

import (
	"io"
	"net"
	"net/http"
	"net/netip"
	"sync"

	"github.com/journey-dev/journey/internal/enrich"
)

// Defaults of the connection caps. A browser opens at most 6 HTTP/1.1
// connections per host, so 256 per address leaves room for a NAT of
// dozens of browsers or a busy server SDK; 10 000 in total keeps what
// connections can hold (up to a header buffer each) bounded.
const (
	DefaultClientConns = 256
	DefaultMaxConns    = 10_000
)

// ClientKey is the key a request's client is counted under, by login
// throttling as by capture's limits: the client as enrich.ClientIP finds it
// (X-Forwarded-For only from a trusted proxy), keyed by AddrKey; the raw
// remote address when it is not one.
func ClientKey(r *http.Request, trusted []netip.Prefix) string {
	addr := enrich.ClientIP(r.RemoteAddr, r.Header.Values("X-Forwarded-For"), trusted)
	if !addr.IsValid() {
		return r.RemoteAddr
	}
	return AddrKey(addr)
}

// AddrKey is the key a client address is counted under: IPv4 as it is,
// IPv6 per /64, what one host usually holds.
func AddrKey(a netip.Addr) string {
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

// Listener caps the connections open at once, per client address and in
// total, so that clients holding connections open (slowly sending headers,
// say) cannot take unbounded memory. Past a cap a new connection is closed
// as soon as it is accepted, before anything is read from it. The TCP peer
// is the client, except for trusted proxies: behind a load balancer every
// connection comes from it, so its addresses count only in the total.
type Listener struct {
	net.Listener
	perClient int
	total     int
	trusted   []netip.Prefix

	mu      sync.Mutex
	open    int
	clients map[string]int // only addresses with connections open: entries go at 0
}

// NewListener wraps ln; perClient or total <= 0 take the defaults.
func NewListener(ln net.Listener, perClient, total int, trusted []netip.Prefix) *Listener {
	if perClient <= 0 {
		perClient = DefaultClientConns
	}
	if total <= 0 {
		total = DefaultMaxConns
	}
	return &Listener{Listener: ln, perClient: perClient, total: total, trusted: trusted, clients: map[string]int{}}
}

// Accept returns the next connection within the caps; those past them are
// closed here and never reach the server.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		key, ok := l.admit(c.RemoteAddr())
		if !ok {
			refuse(c)
			continue
		}
		return &conn{Conn: c, done: sync.OnceFunc(func() { l.leave(key) })}, nil
	}
}

// refuse closes c with a reset rather than a FIN, so that a flood of
// refused connections leaves no TIME_WAIT sockets behind on the server.
func refuse(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}

// admit counts a new connection from addr; key is "" for one counted only
// in the total (a trusted proxy, or an address that is not IP).
func (l *Listener) admit(addr net.Addr) (key string, ok bool) {
	if ap, err := netip.ParseAddrPort(addr.String()); err == nil && !l.isTrusted(ap.Addr()) {
		key = AddrKey(ap.Addr())
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open >= l.total || key != "" && l.clients[key] >= l.perClient {
		return "", false
	}
	l.open++
	if key != "" {
		l.clients[key]++
	}
	return key, true
}

func (l *Listener) leave(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open--
	if key == "" {
		return
	}
	if n := l.clients[key]; n > 1 {
		l.clients[key] = n - 1
	} else {
		delete(l.clients, key)
	}
}

func (l *Listener) isTrusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range l.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Open reports the connections open in total and from the address key.
func (l *Listener) Open(key string) (total, client int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open, l.clients[key]
}

// conn gives its slot back when closed, once however often it is closed.
type conn struct {
	net.Conn
	done func()
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.done()
	return err
}

// CloseWrite lets net/http half-close before closing, so that an answer
// given without reading the whole body reaches the client instead of being
// lost to a reset.
func (c *conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// ReadFrom keeps the TCP connection's sendfile/splice path for responses.
func (c *conn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{c.Conn}, r)
}
