package enrich

import (
	"net/netip"
	"strconv"
	"testing"

	"github.com/journey-dev/journey/internal/enrich/geoiptest"
)

// BenchmarkEnrich measures what enrichment adds to one event on capture's
// hot path: the user agent (cached, as for the same browsers over and
// over, and not), the address and a GeoIP lookup.
func BenchmarkEnrich(b *testing.B) {
	geo, err := OpenGeoIP(geoiptest.Write(b))
	if err != nil {
		b.Fatal(err)
	}
	defer geo.Close()
	conn := netip.MustParseAddr(geoiptest.BerlinIP)
	b.Run("UserAgentCached", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			UserAgent(map[string]any{}, iPhoneUA)
		}
	})
	b.Run("UserAgentUncached", func(b *testing.B) {
		uas := make([]string, b.N)
		for i := range uas {
			uas[i] = macUA + " Build/" + strconv.Itoa(i)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			UserAgent(map[string]any{}, uas[i])
		}
	})
	b.Run("AddressTruncate", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			(&Batch{Conn: conn, Mode: IPTruncate}).Address(map[string]any{})
		}
	})
	b.Run("AddressGeoIP", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			// A new Batch each time: every event a new request, no reuse.
			(&Batch{Conn: conn, Mode: IPKeep, GeoIP: geo}).Address(map[string]any{})
		}
	})
	b.Run("Event", func(b *testing.B) { // one browser event, everything on
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			props := map[string]any{}
			UserAgent(props, iPhoneUA)
			(&Batch{Conn: conn, Mode: IPTruncate, GeoIP: geo}).Address(props)
		}
	})
}
