package app

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/event"
	"github.com/journey-dev/journey/internal/eventlog"
	"github.com/journey-dev/journey/internal/loader"
	"github.com/journey-dev/journey/internal/store/duckdb"
	"github.com/journey-dev/journey/internal/testutil/scaleout"
)

const testMetricsToken = "metrics-token-0123456789"

// serveTestApp serves an app through App.Serve (the listener limits and
// timeouts journey serve has) on loopback.
func serveTestApp(t *testing.T, cfg Config) *testApp {
	t.Helper()
	cfg.DataDir, cfg.AdminKey, cfg.NoSync = t.TempDir(), testAdminKey, true
	a, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- a.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		<-served
		a.Close()
	})
	return &testApp{App: a, URL: "http://" + ln.Addr().String(), t: t}
}

// scrape reads /metrics with the token: series name{labels} → value.
func (ta *testApp) scrape(token string) map[string]float64 {
	ta.t.Helper()
	code, body := ta.do("GET", "/metrics", token, nil)
	if code != 200 {
		ta.t.Fatalf("/metrics: %d %s", code, body)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			ta.t.Fatalf("/metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// metricNames are the series names of a scrape (labels dropped).
func metricNames(scrape map[string]float64) map[string]bool {
	names := map[string]bool{}
	for s := range scrape {
		if i := strings.IndexByte(s, '{'); i >= 0 {
			s = s[:i]
		}
		names[s] = true
	}
	return names
}

// deployNames are the metric names deploy/'s dashboard and alert rules
// refer to.
func deployNames(t *testing.T) []string {
	t.Helper()
	re := regexp.MustCompile(`\b(?:journey|process|go)_[a-z0-9_]+`)
	seen := map[string]bool{}
	for _, f := range []string{"../../deploy/grafana/journey.json", "../../deploy/prometheus/alerts.yml"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(f, ".json") && !json.Valid(b) {
			t.Fatalf("%s is not JSON", f)
		}
		for _, n := range re.FindAllString(string(b), -1) {
			seen[n] = true
		}
	}
	var out []string
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// TestObservability serves a real server, sends it capture, a query,
// /flags, /decide and OFREP, and checks that /metrics counts each of
// them, asks for its token, and has every metric name deploy/'s Grafana
// dashboard and Prometheus alerts use; /readyz carries the lag.
func TestObservability(t *testing.T) {
	ta := serveTestApp(t, Config{MetricsToken: testMetricsToken})
	for _, tok := range []string{"", "wrong-token-0123456789", testMetricsToken + "x"} {
		if code, body := ta.do("GET", "/metrics", tok, nil); code != 401 || !strings.Contains(string(body), "metrics token required") {
			t.Fatalf("/metrics with token %q: %d %s", tok, code, body)
		}
	}
	before := ta.scrape(testMetricsToken)
	p := ta.project("observed")
	now := time.Now().UTC()
	batch := map[string]any{"api_key": p.Token, "batch": []map[string]any{
		{"event": "seen", "distinct_id": "d1", "timestamp": now.Format(time.RFC3339)},
		{"event": "seen", "distinct_id": "d2", "timestamp": now.Format(time.RFC3339)},
	}}
	if code, body := ta.do("POST", "/batch/", "", batch); code != 200 {
		t.Fatalf("capture: %d %s", code, body)
	}
	ta.sync()
	if got := ta.trend(p.SecretKey, "seen", "total", now.AddDate(0, 0, -1), now.AddDate(0, 0, 1)); len(got) == 0 {
		t.Fatal("trend answered no points")
	}
	if code, body := ta.do("POST", "/api/v1/flags", p.SecretKey, map[string]any{"key": "observed-flag", "filters": map[string]any{"groups": []any{map[string]any{"rollout_percentage": 100}}}}); code != 201 {
		t.Fatalf("create flag: %d %s", code, body)
	}
	// The flag snapshot sees a new flag within about a second.
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, body := ta.do("POST", "/flags/?v=2", "", map[string]any{"token": p.Token, "distinct_id": "d1"})
		if code == 200 && strings.Contains(string(body), "observed-flag") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/flags never answered the flag: %d %s", code, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code, body := ta.do("POST", "/decide/?v=4", "", map[string]any{"token": p.Token, "distinct_id": "d1"}); code != 200 {
		t.Fatalf("/decide: %d %s", code, body)
	}
	if code, body := ta.do("POST", "/ofrep/v1/evaluate/flags", p.Token, map[string]any{"context": map[string]any{"targetingKey": "d1"}}); code != 200 {
		t.Fatalf("OFREP: %d %s", code, body)
	}
	after := ta.scrape(testMetricsToken)
	grew := func(series string, atLeast float64) {
		t.Helper()
		if d := after[series] - before[series]; d < atLeast {
			t.Errorf("%s grew by %v, want at least %v", series, d, atLeast)
		}
	}
	grew(`journey_capture_requests_total{route="/batch",status="200"}`, 1)
	grew(`journey_capture_request_duration_seconds_count{route="/batch"}`, 1)
	grew(`journey_eventlog_append_seconds_count{log="file"}`, 1)
	grew(`journey_store_write_seconds_count{store="duckdb"}`, 1)
	grew(`journey_query_duration_seconds_count{kind="trend",store="duckdb"}`, 1)
	grew(`journey_queries_total{kind="trend",store="duckdb",outcome="ok"}`, 1)
	grew(`journey_flag_requests_total{endpoint="flags"}`, 1)
	grew(`journey_flag_evaluations_total{endpoint="flags"}`, 1)
	grew(`journey_flag_evaluations_total{endpoint="decide"}`, 1)
	grew(`journey_flag_evaluations_total{endpoint="ofrep"}`, 1)
	if d := after[`journey_capture_request_bytes_total{route="/batch",status="200"}`] - before[`journey_capture_request_bytes_total{route="/batch",status="200"}`]; d < 100 {
		t.Errorf("capture bytes grew by %v for a batch of about 150 bytes", d)
	}
	if after["journey_loader_lag_bytes"] != 0 || after["journey_loader_lag_events"] != 0 || after["journey_loader_active"] != 1 {
		t.Errorf("loader after sync: lag %v bytes, %v events, active %v", after["journey_loader_lag_bytes"], after["journey_loader_lag_events"], after["journey_loader_active"])
	}
	if after["journey_disk_free_bytes"] <= 0 || after["journey_disk_size_bytes"] < after["journey_disk_free_bytes"] {
		t.Errorf("disk: %v free of %v", after["journey_disk_free_bytes"], after["journey_disk_size_bytes"])
	}
	names := metricNames(after)
	referenced := deployNames(t)
	if len(referenced) < 15 {
		t.Fatalf("deploy/ refers to only %d metric names: %v", len(referenced), referenced)
	}
	for _, n := range referenced {
		if !names[n] && !names[n+"_bucket"] { // a histogram's family name
			t.Errorf("deploy/ refers to %s, which /metrics does not have", n)
		}
	}
	code, body := ta.do("GET", "/readyz", "", nil)
	var ready struct {
		Status string     `json:"status"`
		Lag    loader.Lag `json:"loader_lag"`
	}
	if err := json.Unmarshal(body, &ready); code != 200 || err != nil || ready.Status != "ready" || !ready.Lag.Loading || ready.Lag.Bytes != 0 || ready.Lag.Events == nil {
		t.Fatalf("/readyz: %d %s", code, body)
	}
	if code, _ := ta.do("GET", "/healthz", "", nil); code != 200 {
		t.Fatalf("/healthz: %d", code)
	}
}

// TestReadyzLag: a loader that does not run falls behind a real file log;
// /readyz answers 503 past the byte bound and past the time bound, each
// naming its flag, with the lag in the body.
func TestReadyzLag(t *testing.T) {
	dir := t.TempDir()
	log, err := eventlog.OpenFile(filepath.Join(dir, "log"), eventlog.FileOptions{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	st, err := duckdb.Open(filepath.Join(dir, "events.duckdb"), duckdb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for i := range 3 {
		b := event.Batch{ProjectID: 1, Events: []event.Event{{UUID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i), Event: "e", DistinctID: "d"}}}
		if err := log.Append(context.Background(), b); err != nil {
			t.Fatal(err)
		}
	}
	ld := loader.New(log, st, 0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go ld.Watch(ctx, 10*time.Millisecond)
	// What api's /readyz answers from App.ready and App.loaderLag.
	readyz := func(cfg Config) (int, map[string]any) {
		a := &App{Config: cfg, Loader: ld}
		b, _ := json.Marshal(a.loaderLag())
		var lag map[string]any
		if err := json.Unmarshal(b, &lag); err != nil {
			t.Fatal(err)
		}
		body := map[string]any{"loader_lag": lag}
		if ok, why := a.ready(); !ok {
			body["reason"] = why
			return 503, body
		}
		return 200, body
	}
	behind := float64(log.End())
	code, body := readyz(Config{})
	if lag, _ := body["loader_lag"].(map[string]any); code != 200 || lag["bytes"] != behind || lag["loading"] != false {
		t.Fatalf("within the default bounds: %d %v", code, body)
	}
	code, body = readyz(Config{ReadyMaxLagBytes: 10})
	if lag, _ := body["loader_lag"].(map[string]any); code != 503 || !strings.Contains(fmt.Sprint(body["reason"]), "--ready-max-lag-bytes") || lag["bytes"] != behind {
		t.Fatalf("past 10 bytes: %d %v", code, body)
	}
	time.Sleep(300 * time.Millisecond)
	code, body = readyz(Config{ReadyMaxLag: 100 * time.Millisecond})
	if lag, _ := body["loader_lag"].(map[string]any); code != 503 || !strings.Contains(fmt.Sprint(body["reason"]), "--ready-max-lag ") || lag["seconds"].(float64) < 0.2 {
		t.Fatalf("past 100ms: %d %v", code, body)
	}
}

// TestObserveConfig: a short metrics token and negative bounds are refused.
func TestObserveConfig(t *testing.T) {
	for c, want := range map[*Config]string{
		{DataDir: "d", MetricsToken: "short"}:                     "--metrics-token",
		{DataDir: "d", ReadyMaxLag: -time.Second}:                 "--ready-max-lag",
		{DataDir: "d", ReadyMaxLagBytes: -1}:                      "--ready-max-lag-bytes",
		{DataDir: "d", MetricsToken: testMetricsToken}:            "",
		{DataDir: "d", ReadyMaxLag: time.Minute}:                  "",
		{DataDir: "d", ReadyMaxLagBytes: DefaultReadyMaxLagBytes}: "",
	} {
		err := c.Validate()
		if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("Validate(%+v) = %v, want %q", *c, err, want)
		}
	}
	if _, err := ParseReadyMaxLagBytes("0"); err == nil {
		t.Error("--ready-max-lag-bytes 0 accepted")
	}
}

// TestLagOnReplicas: two replicas on ClickHouse, PostgreSQL and NATS;
// exactly one loads, and both /readyz answers show the shared lag, which
// goes back to zero once what one replica captured is loaded.
func TestLagOnReplicas(t *testing.T) {
	so := scaleout.New(t, 1)
	cfg := Config{Events: so.Events, Meta: so.Meta, Log: so.Log}
	a, b := newTestAppWith(t, cfg), newTestAppWith(t, cfg)
	p := a.project("replicas")
	if code, body := b.do("POST", "/batch/", "", map[string]any{"api_key": p.Token, "batch": []map[string]any{{"event": "seen", "distinct_id": "d1"}}}); code != 200 {
		t.Fatalf("capture: %d %s", code, body)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		var lags []loader.Lag
		for _, r := range []*testApp{a, b} {
			code, body := r.do("GET", "/readyz", "", nil)
			var ready struct {
				Lag loader.Lag `json:"loader_lag"`
			}
			if err := json.Unmarshal(body, &ready); code != 200 || err != nil {
				t.Fatalf("/readyz: %d %s", code, body)
			}
			lags = append(lags, ready.Lag)
		}
		loading := 0
		for _, g := range lags {
			if g.Loading {
				loading++
			}
		}
		if loading == 1 && lags[0].Bytes == 0 && lags[1].Bytes == 0 && a.Log.End() > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replicas' lags never settled with one loader: %+v", lags)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
