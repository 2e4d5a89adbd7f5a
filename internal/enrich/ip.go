package enrich

import (
	"net/netip"
	"strings"
)

// PropIP is the client's address, as PostHog names it.
const PropIP = "$ip"

// PropGeoIPDisable, true on an event, asks for no GeoIP lookup (posthog-node
// sends it by default: a server's address says nothing of the person).
const PropGeoIPDisable = "$geoip_disable"

// IP modes: what capture keeps of a client's address (the values of
// meta.SDKSettings.IP).
const (
	IPKeep     = "keep"
	IPTruncate = "truncate" // last octet of IPv4, last 80 bits of IPv6 zeroed
	IPDrop     = "drop"
)

// ClientIP is the client's address: the TCP peer (remoteAddr, host:port)
// or, when the peer is one of the trusted proxies, the nearest
// X-Forwarded-For hop that is not one. Earlier hops are whatever the
// client wrote, so they are never believed; a malformed hop stops the walk
// at the last trusted one. xff holds the header's values, in order. The
// result is invalid when remoteAddr is not an address.
func ClientIP(remoteAddr string, xff []string, trusted []netip.Prefix) netip.Addr {
	addr := parseHop(remoteAddr)
	if !addr.IsValid() || !isTrusted(addr, trusted) {
		return addr
	}
	for v := len(xff) - 1; v >= 0; v-- {
		hops, more := xff[v], true
		for more {
			// Right to left, without allocating; an empty entry (or line)
			// is malformed like any other.
			var hop string
			if i := strings.LastIndexByte(hops, ','); i >= 0 {
				hop, hops = hops[i+1:], hops[:i]
			} else {
				hop, more = hops, false
			}
			next := parseHop(strings.TrimSpace(hop))
			if !next.IsValid() {
				return addr
			}
			addr = next
			if !isTrusted(addr, trusted) {
				return addr
			}
		}
	}
	return addr
}

// parseHop reads an address with or without a port ("1.2.3.4",
// "1.2.3.4:80", "[2001:db8::1]:443"), some proxies add ports), IPv4-mapped
// IPv6 as IPv4, without zone.
func parseHop(s string) netip.Addr {
	a, err := netip.ParseAddr(s)
	if err != nil {
		ap, perr := netip.ParseAddrPort(s)
		if perr != nil {
			return netip.Addr{}
		}
		a = ap.Addr()
	}
	return a.Unmap().WithZone("")
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Truncate zeroes the host part of a: the last octet of IPv4, the last 80
// bits of IPv6 (what Google Analytics and Matomo do), which keeps the
// network and drops the person.
func Truncate(a netip.Addr) netip.Addr {
	a = a.Unmap()
	bits := 24
	if a.Is6() {
		bits = 48
	}
	p, err := a.Prefix(bits)
	if err != nil {
		return netip.Addr{}
	}
	return p.Addr()
}

// ParseIP reads a $ip value the way Address does: a string address, with
// IPv4-mapped IPv6 as IPv4.
func ParseIP(v any) netip.Addr {
	s, _ := v.(string)
	a, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap().WithZone("")
}

// Batch enriches the addresses of the events of one request, which
// share the connection; an address met twice is looked up once.
type Batch struct {
	Conn  netip.Addr // the client's address (ClientIP); invalid when unknown
	Mode  string     // IPKeep, IPTruncate or IPDrop
	GeoIP *GeoIP     // nil: no GeoIP

	looked   netip.Addr
	location Location
}

// Address sets $ip and the GeoIP properties of one event under the
// project's IP mode. The address is the client's own $ip when it sent one
// (a server SDK passing on its user's), else the connection's. The
// client's $ip is never replaced by the connection's, but truncate and
// drop apply to it too: they are the project's privacy promise, whoever
// wrote the address. GeoIP looks up the full address, before truncation;
// drop means nothing derived from the address is kept, so no GeoIP either
// (as PostHog's "discard client IP data"). $geoip_disable: true on the
// event turns the lookup off.
func (b *Batch) Address(props map[string]any) {
	addr, sent := b.Conn, !unset(props, PropIP) && props[PropIP] != ""
	if sent {
		addr = ParseIP(props[PropIP])
	}
	if b.Mode != IPKeep && b.Mode != IPTruncate {
		// drop, or an unknown mode (a newer setting, a bad value): better
		// a missing address than one the project did not want.
		delete(props, PropIP)
		return
	}
	if b.GeoIP != nil && addr.IsValid() && props[PropGeoIPDisable] != true {
		b.locate(addr).Fill(props)
	}
	switch {
	case !addr.IsValid():
		if sent && b.Mode == IPTruncate {
			delete(props, PropIP) // cannot be truncated, so cannot be kept
		}
	case b.Mode == IPTruncate:
		props[PropIP] = Truncate(addr).String()
	case !sent:
		props[PropIP] = addr.String()
	}
}

func (b *Batch) locate(addr netip.Addr) Location {
	if addr != b.looked {
		b.looked, b.location = addr, b.GeoIP.Lookup(addr)
	}
	return b.location
}
