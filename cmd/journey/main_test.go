package main

import (
	"bytes"
	"strings"
	"testing"
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
