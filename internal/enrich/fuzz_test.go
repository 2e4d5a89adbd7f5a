package enrich

import (
	"net/netip"
	"strings"
	"testing"
)

// FuzzUserAgent: any string parses, to values from PostHog's sets, the same
// through the cache as without, and bots are never a device.
func FuzzUserAgent(f *testing.F) {
	for _, s := range []string{
		iPhoneUA, macUA, "",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.67",
		"Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
		"Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36",
		"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
		"Mozilla/5.0 (iPad; CPU OS 17_4_ like Mac OS X) Version/17..4 Safari/",
		"Mozilla/5.0 (Windows NT ",
		"Mac OS X 1_2_3_4_5_6_7_8_9",
		"Android 99999999999999999999999999999999999999.1",
		"\xff\xfe(((((((((((;;;;;;))))",
	} {
		f.Add(s)
	}
	devices := map[string]bool{"": true, "Desktop": true, "Mobile": true, "Tablet": true, "TV": true}
	f.Fuzz(func(t *testing.T, ua string) {
		a := ParseUserAgent(ua)
		if again := parseAgent(truncateUA(ua)); again != a {
			t.Fatalf("cached %+v, parsed %+v", a, again)
		}
		if !devices[a.DeviceType] {
			t.Fatalf("device type %q", a.DeviceType)
		}
		if a.Bot && (a != Agent{Bot: true}) {
			t.Fatalf("bot with details: %+v", a)
		}
		if strings.Trim(a.OSVersion, "0123456789.") != "" || strings.HasPrefix(a.OSVersion, ".") || strings.HasSuffix(a.OSVersion, ".") || strings.Count(a.OSVersion, ".") > 3 {
			t.Fatalf("os version %q", a.OSVersion)
		}
		if a.BrowserVersion < 0 || (a.Browser == "" && a.BrowserVersion != 0) {
			t.Fatalf("browser %q version %v", a.Browser, a.BrowserVersion)
		}
		props := map[string]any{PropRawUserAgent: ua}
		UserAgent(props, "")
		if props[PropRawUserAgent] != ua {
			t.Fatal("the raw user agent changed")
		}
	})
}

func truncateUA(ua string) string {
	if len(ua) > maxUserAgent {
		return ua[:maxUserAgent]
	}
	return ua
}

// FuzzClientIP: the client address is the peer unless the peer is a
// trusted proxy, and then an address of the header, to whose right every
// hop is trusted; never an address nobody sent.
func FuzzClientIP(f *testing.F) {
	for _, s := range [][2]string{
		{"203.0.113.7:5000", ""},
		{"10.1.2.3:5000", "198.51.100.1"},
		{"10.1.2.3:5000", "6.6.6.6, 198.51.100.1, 10.9.9.9"},
		{"10.1.2.3:5000", "198.51.100.1, not-an-ip"},
		{"[fd00::1]:443", "[2001:db8::7]:1234, fd00::2"},
		{"[::ffff:10.0.0.1]:80", "::ffff:198.51.100.2,,"},
		{"[fe80::1%eth0]:80", "fe80::2%lo"},
		{"pipe", "1.2.3.4"},
		{"10.0.0.1:1", ",,,, ,\t,10.0.0.2"},
	} {
		f.Add(s[0], s[1], false)
		f.Add(s[0], s[1], true)
	}
	f.Fuzz(func(t *testing.T, remote, header string, split bool) {
		xff := []string{header}
		if split { // the same hops over two header lines
			if i := strings.IndexByte(header, ','); i >= 0 {
				xff = []string{header[:i], header[i+1:]}
			}
		}
		got := ClientIP(remote, xff, testProxies)
		peer := parseHop(remote)
		switch {
		case !peer.IsValid():
			if got.IsValid() {
				t.Fatalf("no peer address, got %v", got)
			}
			return
		case !isTrusted(peer, testProxies):
			if got != peer {
				t.Fatalf("untrusted peer %v, got %v", peer, got)
			}
			return
		}
		if got.Zone() != "" || got.Is4In6() {
			t.Fatalf("not normalized: %v", got)
		}
		hops := strings.Split(strings.Join(xff, ","), ",")
		at := len(hops) // got's position; len = the peer itself
		if got != peer {
			at = -1
			for i := len(hops) - 1; i >= 0; i-- {
				if parseHop(strings.TrimSpace(hops[i])) == got {
					at = i
					break
				}
			}
			if at < 0 {
				t.Fatalf("%v is neither the peer nor in %q", got, xff)
			}
		}
		for _, h := range hops[min(at+1, len(hops)):] {
			if a := parseHop(strings.TrimSpace(h)); !isTrusted(a, testProxies) {
				t.Fatalf("%v chosen past untrusted hop %q in %q", got, h, xff)
			}
		}
	})
}

// FuzzTruncate: a truncated address is in the same network and has its
// host part zero.
func FuzzTruncate(f *testing.F) {
	f.Add([]byte{203, 0, 113, 77})
	f.Add([]byte{0x20, 0x01, 0x0d, 0xb8, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12})
	f.Fuzz(func(t *testing.T, b []byte) {
		a, ok := netip.AddrFromSlice(b)
		if !ok {
			return
		}
		tr := Truncate(a)
		bits := 24
		if tr.Is6() {
			bits = 48
		}
		p := netip.PrefixFrom(tr, bits)
		if !p.Contains(a.Unmap()) || p.Masked().Addr() != tr {
			t.Fatalf("Truncate(%v) = %v", a, tr)
		}
	})
}
