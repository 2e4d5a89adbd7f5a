package intake

import (
	"io"
	"net"
	"net/netip"
	"testing"
	"time"
)

// serve accepts on l until it is closed, keeping what it accepts open.
func serve(t *testing.T, l *Listener) chan net.Conn {
	t.Helper()
	accepted := make(chan net.Conn, 64)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	t.Cleanup(func() {
		l.Close()
		for c := range accepted {
			c.Close()
		}
	})
	return accepted
}

// dialFrom connects to addr from the loopback address src (127.0.0.0/8
// is all local on Linux).
func dialFrom(t *testing.T, src, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Skipf("cannot dial from %s: %v", src, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// refused checks that a connection from src is closed without a word
// (the reset may already fail the dial).
func refused(t *testing.T, src, addr string) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	n, err := c.Read(make([]byte, 1))
	if n != 0 || err == nil || isTimeout(err) {
		t.Fatalf("connection past the cap: read %d, %v; want it closed", n, err)
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

func TestListenerCaps(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	trusted := []netip.Prefix{netip.MustParsePrefix("127.0.0.9/32")}
	l := NewListener(inner, 2, 5, trusted)
	accepted := serve(t, l)
	addr := inner.Addr().String()
	take := func() net.Conn {
		t.Helper()
		select {
		case c := <-accepted:
			return c
		case <-time.After(2 * time.Second):
			t.Fatal("no connection accepted")
			return nil
		}
	}

	dialFrom(t, "127.0.0.1", addr)
	a := take()
	dialFrom(t, "127.0.0.1", addr)
	take()
	refused(t, "127.0.0.1", addr) // third from one address
	if total, client := l.Open("127.0.0.1"); total != 2 || client != 2 {
		t.Fatalf("open %d, from 127.0.0.1 %d; want 2 and 2", total, client)
	}
	dialFrom(t, "127.0.0.2", addr) // another address has its own
	take()
	for range 2 { // a trusted proxy counts only in the total
		dialFrom(t, "127.0.0.9", addr)
		take()
	}
	refused(t, "127.0.0.9", addr) // total 5 reached
	if _, proxy := l.Open("127.0.0.9"); proxy != 0 {
		t.Fatalf("trusted proxy counted per address: %d", proxy)
	}

	a.Close()
	a.Close() // twice: counted once
	dialFrom(t, "127.0.0.1", addr)
	take()
	if total, client := l.Open("127.0.0.1"); total != 5 || client != 2 {
		t.Fatalf("after a close and a new one: open %d, from 127.0.0.1 %d; want 5 and 2", total, client)
	}
	l.mu.Lock()
	n := len(l.clients)
	l.mu.Unlock()
	if n != 2 {
		t.Fatalf("%d addresses tracked, want 2 (127.0.0.1 and .2)", n)
	}
}

// TestListenerForgetsAddresses: an address's entry goes when its last
// connection closes, so the table holds only addresses with connections.
func TestListenerForgetsAddresses(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := NewListener(inner, 0, 0, nil)
	accepted := serve(t, l)
	for _, src := range []string{"127.0.0.3", "127.0.0.4", "127.0.0.4"} {
		dialFrom(t, src, inner.Addr().String())
		c := <-accepted
		c.Close()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open != 0 || len(l.clients) != 0 {
		t.Fatalf("after every connection closed: open %d, %d addresses tracked", l.open, len(l.clients))
	}
}

func TestAddrKey(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.1":              "192.0.2.1",
		"::ffff:192.0.2.1":       "192.0.2.1",
		"2001:db8:1:2:3:4:5:6":   "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff::":    "2001:db8:1:2::/64",
		"2001:db8:1:3:3:4:5:6":   "2001:db8:1:3::/64",
		"fe80::1":                "fe80::/64",
		"2001:db8::1234:5678:9a": "2001:db8::/64",
	} {
		if got := AddrKey(netip.MustParseAddr(in)); got != want {
			t.Errorf("AddrKey(%s) = %s, want %s", in, got, want)
		}
	}
}

var _ io.ReaderFrom = (*conn)(nil)
