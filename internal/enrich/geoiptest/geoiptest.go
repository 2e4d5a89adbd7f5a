// Package geoiptest writes a small MaxMind-format City database for tests,
// so that GeoIP is tested without shipping or downloading one. Only tests
// import it (and with it github.com/maxmind/mmdbwriter).
package geoiptest

import (
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// The networks in the database, from the documentation ranges.
const (
	BerlinIP  = "203.0.113.7"     // a full City record
	SydneyIP  = "2001:db8:1::5"   // a full City record, IPv6
	CountryIP = "198.51.100.20"   // a country only
	MissIP    = "192.0.2.1"       // not in the database
	BerlinNet = "203.0.113.0/24"  // BerlinIP's network
	SydneyNet = "2001:db8:1::/48" // SydneyIP's network
)

// Berlin is what a lookup of BerlinIP adds, as PostHog names it.
var Berlin = map[string]any{
	"$geoip_country_code": "DE", "$geoip_country_name": "Germany",
	"$geoip_city_name": "Berlin", "$geoip_subdivision_1_code": "BE", "$geoip_subdivision_1_name": "Land Berlin",
	"$geoip_continent_code": "EU", "$geoip_continent_name": "Europe", "$geoip_postal_code": "10115",
	"$geoip_latitude": 52.52, "$geoip_longitude": 13.405, "$geoip_time_zone": "Europe/Berlin",
}

// Write builds the database in a temporary directory and returns its path.
func Write(t testing.TB) string {
	t.Helper()
	w, err := mmdbwriter.New(mmdbwriter.Options{
		DatabaseType: "Journey-Test-City", RecordSize: 24,
		IncludeReservedNetworks: true, // the documentation ranges are reserved
		Languages:               []string{"en", "de"},
	})
	if err != nil {
		t.Fatal(err)
	}
	insert(t, w, BerlinNet, city("DE", "Germany", "EU", "Europe", "Berlin", "BE", "Land Berlin", "10115", 52.52, 13.405, "Europe/Berlin"))
	insert(t, w, SydneyNet, city("AU", "Australia", "OC", "Oceania", "Sydney", "NSW", "New South Wales", "2000", -33.8688, 151.2093, "Australia/Sydney"))
	insert(t, w, "198.51.100.0/24", mmdbtype.Map{
		"country":   mmdbtype.Map{"iso_code": mmdbtype.String("US"), "names": en("United States")},
		"continent": mmdbtype.Map{"code": mmdbtype.String("NA"), "names": en("North America")},
	})
	path := filepath.Join(t.TempDir(), "test-city.mmdb")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := w.WriteTo(f); err != nil {
		t.Fatal(err)
	}
	return path
}

func insert(t testing.TB, w *mmdbwriter.Tree, cidr string, v mmdbtype.Map) {
	t.Helper()
	_, n, err := net.ParseCIDR(cidr)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Insert(n, v); err != nil {
		t.Fatal(err)
	}
}

func en(name string) mmdbtype.Map {
	return mmdbtype.Map{"en": mmdbtype.String(name), "de": mmdbtype.String(name + " (de)")}
}

func city(cc, country, ccode, continent, cityName, sub, subName, postal string, lat, lon float64, tz string) mmdbtype.Map {
	return mmdbtype.Map{
		"city":         mmdbtype.Map{"geoname_id": mmdbtype.Uint32(1), "names": en(cityName)},
		"continent":    mmdbtype.Map{"code": mmdbtype.String(ccode), "names": en(continent)},
		"country":      mmdbtype.Map{"iso_code": mmdbtype.String(cc), "names": en(country)},
		"location":     mmdbtype.Map{"latitude": mmdbtype.Float64(lat), "longitude": mmdbtype.Float64(lon), "time_zone": mmdbtype.String(tz), "accuracy_radius": mmdbtype.Uint16(20)},
		"postal":       mmdbtype.Map{"code": mmdbtype.String(postal)},
		"subdivisions": mmdbtype.Slice{mmdbtype.Map{"iso_code": mmdbtype.String(sub), "names": en(subName)}},
	}
}
