package app

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/testutil"
)

// TestNodeSDKs drives posthog-node, @segment/analytics-node and every
// posthog-js / analytics.js wire encoding (test/sdk/send.mjs) against the
// server, then checks what was stored. `make test` installs the npm
// packages; in CI (CI=true) a missing install fails instead of skipping.
func TestNodeSDKs(t *testing.T) {
	dir, _ := filepath.Abs("../../test/sdk")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "posthog-node")); err != nil {
		testutil.Missing(t, "test/sdk/node_modules missing: run `make deps` (npm ci in test/sdk)")
	}
	ta := newTestApp(t)
	p := ta.project("sdk")
	cmd := exec.Command("node", "send.mjs", ta.URL, p.Token)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("send.mjs: %v\n%s", err, out)
	}
	ta.sync()

	day := time.Now().UTC().Truncate(24 * time.Hour)
	from, to := day, day.AddDate(0, 0, 1)
	f := func(event, math string, want float64) {
		t.Helper()
		if got := ta.trend(p.SecretKey, event, math, from, to); !reflect.DeepEqual(got, []float64{want}) {
			t.Errorf("%s %s = %v, want %v", event, math, got, want)
		}
	}
	// posthog-node: 26 captures; node-anon and node-user are one person (alias).
	f("node_capture", "total", 26)
	f("node_capture", "dau", 7) // node-user(=node-anon) + 6 bulk ids
	// Segment node: 10 tracks; seg-anon, seg-user, seg-old are one person.
	f("seg_track", "total", 10)
	f("seg_track", "dau", 9)
	f("$pageview", "total", 2) // segment page + analytics.js page
	f("$screen", "total", 2)
	// posthog-js encodings.
	f("js_gzip", "total", 2)
	f("js_beacon", "total", 1)
	f("js_lz64", "total", 2)
	f("js_array", "total", 3)
	f("js_header_gzip", "total", 1)
	// analytics.js short routes; the retried messageId is stored once.
	f("ajs_track", "total", 2)
	f("ajs_track", "dau", 1) // ajs-anon was identified as ajs-user
	f("ajs_batch", "total", 2)
	f("ajs_batch", "dau", 1) // ajs-prev is an alias of ajs-user

	check := func(distinct string, ids []string, prop, value string) {
		t.Helper()
		got, code := ta.person(p.SecretKey, distinct)
		if code != 200 || !reflect.DeepEqual(got.DistinctIDs, ids) || got.Properties[prop] != value {
			t.Errorf("person %s = %d %+v, want ids %v and %s=%s", distinct, code, got, ids, prop, value)
		}
	}
	check("node-anon", []string{"node-anon", "node-user"}, "email", "node@example.com")
	check("seg-old", []string{"seg-anon", "seg-old", "seg-user"}, "email", "seg@example.com")
	check("ajs-prev", []string{"ajs-anon", "ajs-prev", "ajs-user"}, "name", "A")
}
