package enrich

import (
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/journey-dev/journey/internal/enrich/geoiptest"
)

// TestGeoIPLookup: full City records over IPv4 and IPv6, a country-only
// record, and a miss, against a database the test writes.
func TestGeoIPLookup(t *testing.T) {
	geo, err := OpenGeoIP(geoiptest.Write(t))
	if err != nil {
		t.Fatal(err)
	}
	defer geo.Close()
	lookup := func(ip string) map[string]any {
		props := map[string]any{}
		geo.Lookup(netip.MustParseAddr(ip)).Fill(props)
		return props
	}
	if got := lookup(geoiptest.BerlinIP); !reflect.DeepEqual(got, geoiptest.Berlin) {
		t.Errorf("Berlin:\n got %v\nwant %v", got, geoiptest.Berlin)
	}
	sydney := lookup(geoiptest.SydneyIP)
	if sydney["$geoip_city_name"] != "Sydney" || sydney["$geoip_subdivision_1_code"] != "NSW" || sydney["$geoip_latitude"] != -33.8688 || sydney["$geoip_time_zone"] != "Australia/Sydney" {
		t.Errorf("Sydney: %v", sydney)
	}
	if got := lookup(geoiptest.CountryIP); len(got) != 4 || got["$geoip_country_code"] != "US" || got["$geoip_latitude"] != nil {
		t.Errorf("country only: %v", got)
	}
	if got := lookup(geoiptest.MissIP); len(got) != 0 {
		t.Errorf("miss: %v", got)
	}
	if got := lookup("::ffff:" + geoiptest.BerlinIP); got["$geoip_city_name"] != "Berlin" {
		t.Errorf("IPv4-mapped: %v", got)
	}
	for _, k := range GeoIPProps {
		if _, ok := geoiptest.Berlin[k]; !ok {
			t.Errorf("%s never tested", k)
		}
	}
}

func TestOpenGeoIPErrors(t *testing.T) {
	if _, err := OpenGeoIP(filepath.Join(t.TempDir(), "none.mmdb")); err == nil || !strings.Contains(err.Error(), "cannot open GeoIP database") {
		t.Fatalf("missing file: %v", err)
	}
	junk := filepath.Join(t.TempDir(), "junk.mmdb")
	if err := os.WriteFile(junk, []byte("not a database"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenGeoIP(junk); err == nil {
		t.Fatal("junk file opened")
	}
	var nilGeo *GeoIP
	if err := nilGeo.Close(); err != nil {
		t.Fatal(err)
	}
}
