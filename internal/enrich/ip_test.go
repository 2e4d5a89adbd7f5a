package enrich

import (
	"net/netip"
	"reflect"
	"testing"

	"github.com/journey-dev/journey/internal/enrich/geoiptest"
)

var testProxies = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}

// TestClientIP: X-Forwarded-For counts only behind a trusted proxy, and
// only up to the first hop that is not one, so entries a client forges
// in front are never believed.
func TestClientIP(t *testing.T) {
	cases := []struct {
		name, remote string
		xff          []string
		want         string // "" = invalid
	}{
		{"direct", "203.0.113.7:5000", nil, "203.0.113.7"},
		{"untrusted peer: header ignored", "203.0.113.7:5000", []string{"198.51.100.1"}, "203.0.113.7"},
		{"the proxy's client", "10.1.2.3:5000", []string{"198.51.100.1"}, "198.51.100.1"},
		{"forged first entry ignored", "10.1.2.3:5000", []string{"6.6.6.6, 198.51.100.1, 10.9.9.9"}, "198.51.100.1"},
		{"forged entries in an earlier header", "10.1.2.3:5000", []string{"6.6.6.6", "198.51.100.1"}, "198.51.100.1"},
		{"chain of trusted proxies across headers", "10.1.2.3:5000", []string{"198.51.100.1, 10.0.0.9", "10.0.0.8"}, "198.51.100.1"},
		{"all trusted: the farthest proxy", "10.1.2.3:5000", []string{"10.0.0.9"}, "10.0.0.9"},
		{"no header behind a proxy", "10.1.2.3:5000", nil, "10.1.2.3"},
		{"malformed hop stops at the last trusted", "10.1.2.3:5000", []string{"198.51.100.1, not-an-ip"}, "10.1.2.3"},
		{"empty entry stops", "10.1.2.3:5000", []string{"198.51.100.1,"}, "10.1.2.3"},
		{"hop with a port", "10.1.2.3:5000", []string{"198.51.100.1:4711"}, "198.51.100.1"},
		{"IPv6 peer", "[2001:db8:1:2:3:4:5:6]:443", nil, "2001:db8:1:2:3:4:5:6"},
		{"IPv6 proxy and client", "[fd00::1]:443", []string{"[2001:db8::7]:1234"}, "2001:db8::7"},
		{"IPv6 hop without port", "[fd00::1]:443", []string{"2001:db8::8"}, "2001:db8::8"},
		{"IPv4-mapped peer", "[::ffff:192.0.2.9]:80", nil, "192.0.2.9"},
		{"IPv4-mapped trusted peer", "[::ffff:10.0.0.1]:80", []string{"198.51.100.2"}, "198.51.100.2"},
		{"zone dropped", "[fe80::1%eth0]:80", nil, "fe80::1"},
		{"not an address", "pipe", []string{"198.51.100.1"}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := ClientIP(c.remote, c.xff, testProxies)
			if (c.want == "" && got.IsValid()) || (c.want != "" && got.String() != c.want) {
				t.Fatalf("ClientIP(%q, %q) = %v, want %q", c.remote, c.xff, got, c.want)
			}
		})
	}
	if got := ClientIP("10.1.2.3:5000", []string{"198.51.100.1"}, nil); got.String() != "10.1.2.3" {
		t.Fatalf("no trusted proxies: %v", got)
	}
}

func TestTruncate(t *testing.T) {
	for in, want := range map[string]string{
		"203.0.113.77":                   "203.0.113.0",
		"2001:db8:1:2:3:4:5:6":           "2001:db8:1::",
		"2001:db8:ffff:ffff:ffff::1":     "2001:db8:ffff::",
		"::ffff:203.0.113.77":            "203.0.113.0",
		"255.255.255.255":                "255.255.255.0",
		"2001:db8:abcd:12:ffff:ffff::ff": "2001:db8:abcd::",
	} {
		if got := Truncate(netip.MustParseAddr(in)).String(); got != want {
			t.Errorf("Truncate(%s) = %s, want %s", in, got, want)
		}
	}
}

// TestAddress: $ip from the connection unless the client sent one, the
// project's mode applied to either, GeoIP from the full address.
func TestAddress(t *testing.T) {
	geo, err := OpenGeoIP(geoiptest.Write(t))
	if err != nil {
		t.Fatal(err)
	}
	defer geo.Close()
	berlin := func(kv ...any) map[string]any {
		out := map[string]any{}
		for k, v := range geoiptest.Berlin {
			out[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			out[kv[i].(string)] = kv[i+1]
		}
		return out
	}
	conn := netip.MustParseAddr(geoiptest.BerlinIP)
	cases := []struct {
		name  string
		mode  string
		geo   bool
		props map[string]any
		want  map[string]any
	}{
		{"keep", IPKeep, false, map[string]any{}, map[string]any{"$ip": "203.0.113.7"}},
		{"keep with GeoIP", IPKeep, true, map[string]any{}, berlin("$ip", "203.0.113.7")},
		{"truncate: GeoIP from the full address", IPTruncate, true, map[string]any{}, berlin("$ip", "203.0.113.0")},
		{"drop: no address, no GeoIP", IPDrop, true, map[string]any{}, map[string]any{}},
		{"unknown mode drops", "bogus", true, map[string]any{}, map[string]any{}},
		{"client's $ip kept", IPKeep, false, map[string]any{"$ip": "198.51.100.20"}, map[string]any{"$ip": "198.51.100.20"}},
		{"client's $ip located", IPKeep, true, map[string]any{"$ip": "198.51.100.20"},
			map[string]any{"$ip": "198.51.100.20", "$geoip_country_code": "US", "$geoip_country_name": "United States", "$geoip_continent_code": "NA", "$geoip_continent_name": "North America"}},
		{"client's $ip truncated", IPTruncate, false, map[string]any{"$ip": "2001:db8:1:2:3:4:5:6"}, map[string]any{"$ip": "2001:db8:1::"}},
		{"client's $ip dropped", IPDrop, false, map[string]any{"$ip": "198.51.100.20"}, map[string]any{}},
		{"client's bad $ip kept as sent", IPKeep, true, map[string]any{"$ip": "unknown"}, map[string]any{"$ip": "unknown"}},
		{"client's bad $ip cannot be truncated", IPTruncate, true, map[string]any{"$ip": "unknown"}, map[string]any{}},
		{"client's empty $ip is none", IPKeep, false, map[string]any{"$ip": ""}, map[string]any{"$ip": "203.0.113.7"}},
		{"$geoip_disable", IPKeep, true, map[string]any{"$geoip_disable": true}, map[string]any{"$ip": "203.0.113.7", "$geoip_disable": true}},
		{"client's location kept whole", IPKeep, true, map[string]any{"$geoip_country_code": "FR"}, map[string]any{"$ip": "203.0.113.7", "$geoip_country_code": "FR"}},
		{"address not in the database", IPKeep, true, map[string]any{"$ip": geoiptest.MissIP}, map[string]any{"$ip": geoiptest.MissIP}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := Batch{Conn: conn, Mode: c.mode}
			if c.geo {
				b.GeoIP = geo
			}
			b.Address(c.props)
			if !reflect.DeepEqual(c.props, c.want) {
				t.Errorf("got  %v\nwant %v", c.props, c.want)
			}
		})
	}
	t.Run("no connection address", func(t *testing.T) {
		props := map[string]any{}
		(&Batch{Mode: IPKeep, GeoIP: geo}).Address(props)
		if len(props) != 0 {
			t.Fatalf("got %v", props)
		}
	})
}
