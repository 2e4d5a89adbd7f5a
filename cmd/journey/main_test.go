package main

import (
	"bytes"
	"io"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/app"
	"github.com/journey-dev/journey/internal/store/duckdb"
)

func TestFlagsEnvTwins(t *testing.T) {
	f := func(env map[string]string, args []string, want string) {
		t.Helper()
		for k, v := range env {
			t.Setenv(k, v)
		}
		var dir string
		fs := newFlags("test")
		fs.str(&dir, "data-dir", "./journey-data", "")
		if err := fs.parse(args); err != nil {
			t.Fatal(err)
		}
		if dir != want {
			t.Fatalf("data-dir = %q, want %q", dir, want)
		}
	}
	f(nil, nil, "./journey-data")
	f(map[string]string{"JOURNEY_DATA_DIR": "/env"}, nil, "/env")
	f(map[string]string{"JOURNEY_DATA_DIR": "/env"}, []string{"--data-dir", "/flag"}, "/flag") // the command line wins
}

func TestFlagsBadEnv(t *testing.T) {
	t.Setenv("JOURNEY_NO_SYNC", "maybe")
	var b bool
	fs := newFlags("test")
	fs.boolean(&b, "no-sync", false, "")
	if err := fs.parse(nil); err == nil || !strings.Contains(err.Error(), "JOURNEY_NO_SYNC") {
		t.Fatalf("err = %v, want one naming JOURNEY_NO_SYNC", err)
	}
}

func TestRender(t *testing.T) {
	f := func(raw, want string) {
		t.Helper()
		var buf bytes.Buffer
		if err := render(&buf, []byte(raw)); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(buf.String(), want) {
			t.Fatalf("render(%s) =\n%s\nwant it to contain %q", raw, buf.String(), want)
		}
	}
	f(`{"kind":"trend","series":[{"label":"$pageview","points":[{"t":"2026-01-05","value":50},{"t":"2026-01-06","value":100}]}]}`,
		"2026-01-06          100 "+strings.Repeat("█", 40))
	f(`{"kind":"trend","series":[{"label":"$pageview","points":[{"t":"2026-01-05","value":50},{"t":"2026-01-06","value":100}]}]}`,
		"2026-01-05           50 "+strings.Repeat("█", 20)+"\n")
	f(`{"kind":"funnel","steps":[{"event":"view","count":10},{"event":"buy","count":2.5}]}`, "buy          2.50 "+strings.Repeat("█", 10)+"\n")
	f(`{"kind":"journey","stages":[{"name":"Reach","count":8},{"name":"Loyalty","count":2}]}`, "Loyalty            2 "+strings.Repeat("█", 10)+"\n")
	f(`{"kind":"retention","cohorts":[{"start":"2026-01-05","size":4,"retained":[4,1]}]}`, "2026-01-05         4 100.0%  25.0%")
}

func TestBuildQuery(t *testing.T) {
	q, err := buildQuery("funnel", []string{"a", "b"}, "2026-01-01", "", "day", "total", "1h", "strict", "", "", "week", 8)
	if err != nil {
		t.Fatal(err)
	}
	if q["from"] != "2026-01-01T00:00:00Z" || q["window"] != "1h" || q["order"] != "strict" || len(q["steps"].([]map[string]any)) != 2 {
		t.Fatalf("query = %v", q)
	}
	if _, err := buildQuery("trend", nil, "yesterday", "", "day", "total", "", "", "", "", "", 0); err == nil || !strings.Contains(err.Error(), "yesterday") {
		t.Fatalf("bad --from accepted: %v", err)
	}
}

// TestTypedFlags: sizes, durations, proxies and the query plan are parsed
// once, here, from the command line or the JOURNEY_* twin (the command
// line wins); errors name the flag and its twin.
func TestTypedFlags(t *testing.T) {
	f := func(name string, env map[string]string, args []string, want func(c app.Config) bool, wantErr string) {
		t.Helper()
		t.Run(name, func(t *testing.T) {
			t.Helper()
			for k, v := range env {
				t.Setenv(k, v)
			}
			var c app.Config
			fs := newFlags("test")
			fs.SetOutput(io.Discard)
			appFlags(fs, &c)
			err := fs.parse(args)
			if wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), wantErr) {
					t.Fatalf("env %v args %v: err %v, want %q", env, args, err, wantErr)
				}
				return
			}
			if err != nil || !want(c) {
				t.Fatalf("env %v args %v: %+v, %v", env, args, c, err)
			}
		})
	}
	f("unset", nil, nil, func(c app.Config) bool {
		return c.MemoryLimit == 0 && c.QueryMemory == 0 && c.QueryTimeout == 0 && c.CaptureMemory == 0 && c.HeaderTimeout == 0 &&
			c.BodyTimeout == 0 && c.IdleTimeout == 0 && c.TrustedProxies == nil && reflect.DeepEqual(c.QueryPlan, duckdb.Plan{})
	}, "")
	f("sizes", nil, []string{"--query-memory", "4GiB", "--memory-limit", "1GB", "--capture-memory", "512MiB"}, func(c app.Config) bool {
		return c.QueryMemory == 4<<30 && c.MemoryLimit == 1e9 && c.CaptureMemory == 512<<20
	}, "")
	f("size from env", map[string]string{"JOURNEY_QUERY_MEMORY": "512MiB", "JOURNEY_MEMORY_LIMIT": "1.5GiB"}, nil, func(c app.Config) bool {
		return c.QueryMemory == 512<<20 && c.MemoryLimit == 3<<29
	}, "")
	f("command line wins", map[string]string{"JOURNEY_QUERY_MEMORY": "512MiB", "JOURNEY_QUERY_TIMEOUT": "90s"}, []string{"--query-memory=1GiB", "--query-timeout", "2m"}, func(c app.Config) bool {
		return c.QueryMemory == 1<<30 && c.QueryTimeout == 2*time.Minute
	}, "")
	f("durations", map[string]string{"JOURNEY_IDLE_TIMEOUT": "1m"}, []string{"--query-timeout", "90s", "--header-timeout", "5s", "--body-timeout", "1m30s"}, func(c app.Config) bool {
		return c.QueryTimeout == 90*time.Second && c.HeaderTimeout == 5*time.Second && c.BodyTimeout == 90*time.Second && c.IdleTimeout == time.Minute
	}, "")
	f("proxies", nil, []string{"--trusted-proxies", "10.0.0.0/8, 192.0.2.1"}, func(c app.Config) bool {
		return reflect.DeepEqual(c.TrustedProxies, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.1/32")})
	}, "")
	f("query plan", nil, []string{"--query-plan", "no-masks,no-feed-in-place"}, func(c app.Config) bool {
		return reflect.DeepEqual(c.QueryPlan, duckdb.Plan{MaskPeriods: -1, NoFeedInPlace: true})
	}, "")
	f("query plan from env", map[string]string{"JOURNEY_QUERY_PLAN": "no-dense,no-event-codes"}, nil, func(c app.Config) bool {
		return reflect.DeepEqual(c.QueryPlan, duckdb.Plan{NoDenseRetention: true, NoEventCodes: true})
	}, "")
	f("bad size", nil, []string{"--query-memory", "12XB"}, nil,
		`invalid value "12XB" for flag --query-memory (JOURNEY_QUERY_MEMORY): want a size such as 2GiB: cannot parse size "12XB": unknown unit "XB"`)
	f("bad size in env", map[string]string{"JOURNEY_QUERY_MEMORY": "12XB"}, nil, nil,
		`invalid value "12XB" for flag --query-memory (JOURNEY_QUERY_MEMORY): want a size such as 2GiB`)
	f("bad env, though the command line sets it", map[string]string{"JOURNEY_QUERY_MEMORY": "lots"}, []string{"--query-memory", "1GiB"}, nil,
		`invalid value "lots" for flag --query-memory (JOURNEY_QUERY_MEMORY)`)
	f("size too small", nil, []string{"--query-memory", "100KB"}, nil, `invalid value "100KB" for flag --query-memory (JOURNEY_QUERY_MEMORY): less than 1MiB`)
	f("explicit zero", nil, []string{"--query-memory", "0"}, nil, "less than 1MiB")
	f("capture memory", nil, []string{"--capture-memory", "lots"}, nil, `invalid value "lots" for flag --capture-memory (JOURNEY_CAPTURE_MEMORY): want a size such as 512MiB`)
	f("capture memory too small", map[string]string{"JOURNEY_CAPTURE_MEMORY": "16MiB"}, nil, nil, `--capture-memory (JOURNEY_CAPTURE_MEMORY): less than 32MiB`)
	f("memory limit", nil, []string{"--memory-limit", "0GB"}, nil, `invalid value "0GB" for flag --memory-limit (JOURNEY_MEMORY_LIMIT): must be positive`)
	f("bad duration", nil, []string{"--query-timeout", "soon"}, nil,
		`invalid value "soon" for flag --query-timeout (JOURNEY_QUERY_TIMEOUT): want a duration such as 30s: time: invalid duration "soon"`)
	f("zero duration", nil, []string{"--query-timeout", "0s"}, nil, `invalid value "0s" for flag --query-timeout (JOURNEY_QUERY_TIMEOUT): must be positive`)
	f("header timeout", nil, []string{"--header-timeout", "soon"}, nil, `invalid value "soon" for flag --header-timeout (JOURNEY_HEADER_TIMEOUT)`)
	f("body timeout", nil, []string{"--body-timeout", "0s"}, nil, `--body-timeout (JOURNEY_BODY_TIMEOUT): must be positive`)
	f("idle timeout in env", map[string]string{"JOURNEY_IDLE_TIMEOUT": "-1s"}, nil, nil, `invalid value "-1s" for flag --idle-timeout (JOURNEY_IDLE_TIMEOUT): must be positive`)
	f("bad proxy", nil, []string{"--trusted-proxies", "10.0.0.0/8,lb.internal"}, nil,
		`invalid value "10.0.0.0/8,lb.internal" for flag --trusted-proxies (JOURNEY_TRUSTED_PROXIES): want CIDRs such as 10.0.0.0/8: "lb.internal"`)
	f("unknown plan", nil, []string{"--query-plan", "no-masks,fast"}, nil,
		`invalid value "no-masks,fast" for flag --query-plan (JOURNEY_QUERY_PLAN): unknown query plan switch "fast": want a comma-separated list of no-masks, no-dense, no-event-codes, no-feed-in-place`)
	f("unknown plan in env", map[string]string{"JOURNEY_QUERY_PLAN": "all"}, nil, nil, `invalid value "all" for flag --query-plan (JOURNEY_QUERY_PLAN): unknown query plan switch "all"`)
}

// TestTypedFlagDefaults: -h shows a typed flag's default as the flag
// reads it (here from the environment).
func TestTypedFlagDefaults(t *testing.T) {
	t.Setenv("JOURNEY_QUERY_MEMORY", "512MiB")
	t.Setenv("JOURNEY_QUERY_PLAN", "no-feed-in-place,no-masks")
	var c app.Config
	fs := newFlags("test")
	var out strings.Builder
	fs.SetOutput(&out)
	appFlags(fs, &c)
	fs.PrintDefaults()
	for _, want := range []string{"(default 512MiB)", "(default no-masks,no-feed-in-place)"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("defaults lack %q:\n%s", want, out.String())
		}
	}
	if !strings.Contains(out.String(), "(env JOURNEY_QUERY_TIMEOUT)\n") { // unset: no default shown
		t.Fatalf("defaults:\n%s", out.String())
	}
}

func TestFormatSize(t *testing.T) {
	f := func(n int64, want string) {
		t.Helper()
		got := formatSize(n)
		if got != want {
			t.Fatalf("formatSize(%d) = %q, want %q", n, got, want)
		}
		if back, err := app.ParseMemoryLimit(got); n != 0 && (err != nil || back != n) {
			t.Fatalf("%q reads back as %d, %v", got, back, err)
		}
	}
	f(0, "")
	f(2<<30, "2GiB")
	f(1e9, "1GB")
	f(1536<<20, "1536MiB")
	f(3<<40, "3TiB")
	f(1500, "1500B")
	f(12e3, "12KB")
}
