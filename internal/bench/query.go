package bench

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	duckdbdriver "github.com/duckdb/duckdb-go/v2"

	"github.com/journey-dev/journey/internal/insight"
	"github.com/journey-dev/journey/internal/store"
	"github.com/journey-dev/journey/internal/store/clickhouse"
	"github.com/journey-dev/journey/internal/store/duckdb"
)

// QueryOptions sizes the query benchmark.
type QueryOptions struct {
	Events     int    // events in the main run (persons = Events/20)
	Seed       int    // generator seed
	Dir        string // where the DuckDB files go; "" = a temporary directory
	ClickHouse string // ClickHouse HTTP URL for windowFunnel; "" = skip
	Scale      bool   // also run at 2 × Events for the linearity ratio
	Threads    int    // DuckDB threads; 0 = all cores
	Repeat     int    // runs per measurement (the best is kept); default 3
	// Store, when set (clickhouse://…), also loads the events into that
	// ClickHouse event store and runs the same insights there. Give it a
	// database of its own: the events are added to what is there.
	Store string
}

// StoreFigures are one store's timings.
type StoreFigures struct {
	Store       string  `json:"store"`
	FunnelMS    float64 `json:"funnel_ms"`
	RetentionMS float64 `json:"retention_ms"`
	TrendMS     float64 `json:"trend_ms"`
	FloorMS     float64 `json:"floor_ms"`
	FunnelSteps []int64 `json:"funnel_steps"`
}

// QueryResult is the contract output of `journey bench query --json`.
type QueryResult struct {
	Events      int     `json:"events"`
	Persons     int     `json:"persons"`
	FunnelMS    float64 `json:"funnel_ms"`
	RetentionMS float64 `json:"retention_ms"`
	TrendMS     float64 `json:"trend_ms"`
	FloorMS     float64 `json:"floor_ms"`
	// Each insight's own floor: the same plain count per person over the
	// rows that insight reads (floor_ms is the funnel's).
	TrendFloorMS       float64 `json:"trend_floor_ms"`
	RetentionFloorMS   float64 `json:"retention_floor_ms"`
	ClickHouseFunnelMS float64 `json:"clickhouse_funnel_ms"`
	// Scaled run (2 × events), when asked.
	Events2x   int     `json:"events_2x,omitempty"`
	Funnel2xMS float64 `json:"funnel_2x_ms,omitempty"`
	Floor2xMS  float64 `json:"floor_2x_ms,omitempty"`
	// FunnelSteps are the funnel's counts, so runs can be checked against
	// ClickHouse's (ClickHouseSteps).
	FunnelSteps     []int64 `json:"funnel_steps"`
	ClickHouseSteps []int64 `json:"clickhouse_steps,omitempty"`
	// ClickHouseStore: the same insights through Journey's ClickHouse store.
	ClickHouseStore *StoreFigures `json:"clickhouse_store,omitempty"`
	// The journey index (issue 18): the figures above read it; these are
	// the same insights on the SQL plans (--query-plan no-journey-index),
	// in the same run.
	FunnelNoIndexMS    float64 `json:"funnel_no_index_ms"`
	RetentionNoIndexMS float64 `json:"retention_no_index_ms"`
	TrendNoIndexMS     float64 `json:"trend_no_index_ms"`
	Funnel2xNoIndexMS  float64 `json:"funnel_2x_no_index_ms,omitempty"`
	// IndexBuildMS: rebuilding the index from the event store; IndexBytes:
	// its files.
	IndexBuildMS float64 `json:"index_build_ms"`
	IndexBytes   int64   `json:"index_bytes"`
	// ClickHouseServerMS is ClickHouse's own query_duration_ms of the best
	// windowFunnel run (system.query_log), beside the wall time above.
	ClickHouseServerMS float64 `json:"clickhouse_funnel_server_ms,omitempty"`
	// Threads both sides ran with (DuckDB threads, the index's scan
	// workers, ClickHouse's max_threads); LoadAverage is the machine's
	// 1-minute load when the run ended.
	Threads     int    `json:"threads"`
	LoadAverage string `json:"load_average,omitempty"`
}

// The generated data covers the 56 days before benchEnd: the retention
// query's 8 weeks.
var benchEnd = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC) // a Monday

// generateSQL fills events with n seeded events over n/20 persons, in time
// order (as live capture stores them). Event mix: 50% $pageview, 25%
// product_viewed, 12% added_to_cart, 5% order_completed, 3% signed_up,
// 5% other. Persons are drawn by hash so each has events spread over time.
const generateSQL = `
INSERT INTO events
SELECT 1 AS project_id,
       (substr(h, 1, 8) || '-' || substr(h, 9, 4) || '-' || substr(h, 13, 4) || '-' || substr(h, 17, 4) || '-' || substr(h, 21, 12))::UUID,
       CASE WHEN k < 50 THEN '$pageview' WHEN k < 75 THEN 'product_viewed' WHEN k < 87 THEN 'added_to_cart'
            WHEN k < 92 THEN 'order_completed' WHEN k < 95 THEN 'signed_up' ELSE 'other_event' END,
       'p' || person::VARCHAR,
       person,
       TIMESTAMP '%[1]s' + to_microseconds((i::HUGEINT * %[2]d // %[3]d)::BIGINT),
       '{"$current_url":"https://shop.example/p/' || (k %% 7)::VARCHAR || '","utm_source":"' || (['google','newsletter','ads','direct'])[1 + (k %% 4)] || '"}',
       TIMESTAMP '%[1]s'
FROM (
    SELECT i, md5(%[4]d::VARCHAR || '-' || i::VARCHAR) AS h,
           1 + (hash(i, %[4]d) %% %[5]d)::BIGINT AS person,
           (hash(i, %[4]d + 1) %% 100)::INTEGER AS k
    FROM range(%[3]d) t(i)
)`

// Query runs the query benchmark.
func Query(ctx context.Context, o QueryOptions, logf func(string, ...any)) (QueryResult, error) {
	if o.Repeat <= 0 {
		o.Repeat = 3
	}
	dir := o.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "journey-bench-query-")
		if err != nil {
			return QueryResult{}, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	if o.Threads <= 0 {
		o.Threads = runtime.NumCPU()
	}
	res := QueryResult{Events: o.Events, Persons: max(1, o.Events/20), Threads: o.Threads}
	st, err := generate(ctx, filepath.Join(dir, "q1.duckdb"), o, o.Events, logf)
	if err != nil {
		return res, err
	}
	defer st.Close()
	if res.IndexBuildMS, res.IndexBytes, err = buildIndex(ctx, st, logf); err != nil {
		return res, err
	}
	m, err := measure(ctx, st, o.Repeat, logf)
	if err != nil {
		return res, err
	}
	res.FunnelMS, res.RetentionMS, res.TrendMS, res.FloorMS, res.FunnelSteps = m.funnel, m.retention, m.trend, m.floor, m.steps
	res.TrendFloorMS, res.RetentionFloorMS = m.trendFloor, m.retentionFloor
	res.FunnelNoIndexMS, res.RetentionNoIndexMS, res.TrendNoIndexMS = m.sql.funnel, m.sql.retention, m.sql.trend
	if o.ClickHouse != "" {
		if res.ClickHouseFunnelMS, res.ClickHouseServerMS, res.ClickHouseSteps, err = clickHouseFunnel(ctx, st, o, dir, logf); err != nil {
			return res, err
		}
	}
	if o.Store != "" {
		if res.ClickHouseStore, err = clickHouseStore(ctx, st, o, dir, logf); err != nil {
			return res, err
		}
	}
	if o.Scale {
		st.Close()
		os.Remove(filepath.Join(dir, "q1.duckdb"))
		st2, err := generate(ctx, filepath.Join(dir, "q2.duckdb"), o, 2*o.Events, logf)
		if err != nil {
			return res, err
		}
		defer st2.Close()
		if _, _, err := buildIndex(ctx, st2, logf); err != nil {
			return res, err
		}
		m2, err := measure(ctx, st2, o.Repeat, logf)
		if err != nil {
			return res, err
		}
		res.Events2x, res.Funnel2xMS, res.Floor2xMS, res.Funnel2xNoIndexMS = 2*o.Events, m2.funnel, m2.floor, m2.sql.funnel
	}
	res.LoadAverage = loadAverage()
	return res, nil
}

// duckStore is a benchmark's DuckDB event store and the bench's own
// connection to the same file, for what the store does not offer:
// generating the events, the floor queries and the exports. In one
// process DuckDB keeps one database instance per file, shared by every
// connector that opens it, so the connection sees the store's data and
// settings (generate checks that the store sees the events it wrote).
type duckStore struct {
	*duckdb.Store
	sql *sql.DB
}

func (d *duckStore) Close() error {
	d.sql.Close()
	return d.Store.Close()
}

// openSQL opens the bench's own connection to the DuckDB file at path,
// in UTC like the store's.
func openSQL(path string) (*sql.DB, error) {
	connector, err := duckdbdriver.NewConnector(path, func(execer driver.ExecerContext) error {
		_, err := execer.ExecContext(context.Background(), "SET TimeZone = 'UTC'", nil)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("cannot open %q: %w", path, err)
	}
	return sql.OpenDB(connector), nil
}

func generate(ctx context.Context, path string, o QueryOptions, n int, logf func(string, ...any)) (*duckStore, error) {
	os.Remove(path) // a fresh file: --dir may hold an earlier run's
	os.Remove(path + ".wal")
	os.RemoveAll(path + ".jidx") // an earlier run's journey index
	st, err := duckdb.Open(path, duckdb.Options{Threads: o.Threads, AllowExternalAccess: true})
	if err != nil {
		return nil, err
	}
	db, err := openSQL(path)
	if err != nil {
		st.Close()
		return nil, err
	}
	d := &duckStore{Store: st, sql: db}
	start := time.Now()
	span := int64(56 * 24 * time.Hour / time.Microsecond)
	q := fmt.Sprintf(generateSQL, benchEnd.AddDate(0, 0, -56).Format("2006-01-02 15:04:05"), span, n, o.Seed, max(1, n/20))
	if _, err := db.ExecContext(ctx, q); err != nil {
		d.Close()
		return nil, fmt.Errorf("cannot generate events: %w", err)
	}
	if _, err := db.ExecContext(ctx, "CHECKPOINT"); err != nil {
		d.Close()
		return nil, err
	}
	if stored, err := st.CountEvents(ctx, 1); err != nil || stored != int64(n) {
		d.Close()
		return nil, fmt.Errorf("the store sees %d of the %d generated events (%v): its database is not the bench's", stored, n, err)
	}
	logf("generated %d events over %d persons in %s", n, max(1, n/20), time.Since(start).Round(time.Millisecond))
	return d, nil
}

type measurement struct {
	funnel, retention, trend, floor float64
	trendFloor, retentionFloor      float64
	steps                           []int64
	// sql: the same insights with the journey index off.
	sql *measurement
}

// buildIndex builds the journey index of events the generator wrote
// behind the store's back, and returns how long it took and its size.
func buildIndex(ctx context.Context, st *duckStore, logf func(string, ...any)) (float64, int64, error) {
	start := time.Now()
	if err := st.RebuildJourneyIndex(ctx); err != nil {
		return 0, 0, err
	}
	ms := float64(time.Since(start).Microseconds()) / 1000
	var size int64
	if dir := st.JourneyIndexDir(); dir != "" {
		filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				if info, err := d.Info(); err == nil {
					size += info.Size()
				}
			}
			return nil
		})
	}
	logf("built the journey index in %.0f ms: %.1f MB", ms, float64(size)/1e6)
	return ms, size, nil
}

// loadAverage is the machine's 1-minute load average ("" where unknown).
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return ""
	}
	return f[0]
}

var benchRange = insight.Range{From: benchEnd.AddDate(0, 0, -56), To: benchEnd}

func funnelSpec() *insight.Funnel {
	return &insight.Funnel{
		Steps:  []insight.FunnelStep{{Event: "product_viewed"}, {Event: "added_to_cart"}, {Event: "order_completed"}},
		Window: "24h", Order: "ordered", Range: benchRange,
	}
}

// floorSQL is the store's floor: a plain count per person over the rows
// an insight reads (%s: its events).
const floorSQL = `SELECT count(*) FROM (
  SELECT person_id, count(*) FROM events
  WHERE project_id = 1 AND ts >= ? AND ts < ? AND event IN (%s)
  GROUP BY person_id)`

func measure(ctx context.Context, st *duckStore, repeat int, logf func(string, ...any)) (measurement, error) {
	// Each insight alternates the SQL plans (index off) and the index in
	// every round, so that a change of the machine's load between them
	// does not decide the comparison; a warm-up of each comes first.
	logf("(each line: journey index off = the SQL plans, then on)")
	ms, err := measureStore(ctx, st, repeat, func() error {
		var n int64
		return st.sql.QueryRowContext(ctx, fmt.Sprintf(floorSQL, "'product_viewed', 'added_to_cart', 'order_completed'"), benchRange.From, benchRange.To).Scan(&n)
	}, logf, func() { st.UseJourneyIndex(false) }, func() { st.UseJourneyIndex(true) })
	st.UseJourneyIndex(true)
	if err != nil {
		return measurement{}, err
	}
	m, sqlm := ms[1], ms[0]
	floor := func(name, events string) (float64, error) {
		b, err := timeBestOf(repeat, name, logf, nil, func() error {
			var n int64
			return st.sql.QueryRowContext(ctx, fmt.Sprintf(floorSQL, events), benchRange.From, benchRange.To).Scan(&n)
		})
		return b[0], err
	}
	if m.trendFloor, err = floor("floor (trend)", "'$pageview'"); err != nil {
		return m, err
	}
	m.retentionFloor, err = floor("floor (retention)", "'signed_up', 'product_viewed'")
	if err == nil && !slices.Equal(m.steps, sqlm.steps) {
		err = fmt.Errorf("the funnel on the journey index counts %v, on the SQL plan %v", m.steps, sqlm.steps)
	}
	m.sql = &sqlm
	return m, err
}

// timeBest runs f repeat times after a warm-up and returns the best time
// in ms.
func timeBest(repeat int, name string, logf func(string, ...any), f func() error) (float64, error) {
	b, err := timeBestOf(repeat, name, logf, nil, f)
	if err != nil {
		return 0, err
	}
	return b[0], nil
}

// timeBestOf is timeBest of variants: each round runs f once after each
// setup, and the best of each variant comes back (nil: f alone).
func timeBestOf(repeat int, name string, logf func(string, ...any), setups []func(), f func() error) ([]float64, error) {
	if len(setups) == 0 {
		setups = []func(){func() {}}
	}
	best := make([]float64, len(setups))
	for v, setup := range setups {
		setup()
		if err := f(); err != nil { // warm-up, not counted
			return nil, fmt.Errorf("cannot run %s: %w", name, err)
		}
		best[v] = -1
	}
	for i := 0; i < repeat; i++ {
		for v, setup := range setups {
			setup()
			start := time.Now()
			if err := f(); err != nil {
				return nil, fmt.Errorf("cannot run %s: %w", name, err)
			}
			if ms := float64(time.Since(start).Microseconds()) / 1000; best[v] < 0 || ms < best[v] {
				best[v] = ms
			}
		}
	}
	line := fmt.Sprintf("%-18s", name)
	for _, b := range best {
		line += fmt.Sprintf(" %9.1f ms", b)
	}
	logf("%s", line)
	return best, nil
}

// measureStore times the funnel, retention and DAU trend on any event
// store, and its floor with floorFn (nil: none); with variants (setups
// switching the store's plans), one measurement per variant, their runs
// alternating.
func measureStore(ctx context.Context, st store.Store, repeat int, floorFn func() error, logf func(string, ...any), variants ...func()) ([]measurement, error) {
	n := max(1, len(variants))
	ms := make([]measurement, n)
	var cur int // the variant running now
	setups := make([]func(), len(variants))
	for i, v := range variants {
		setups[i] = func() { cur = i; v() }
	}
	put := func(get func(*measurement) *float64, best []float64) {
		for i := range ms {
			*get(&ms[i]) = best[i]
		}
	}
	fq := funnelSpec()
	if err := fq.Validate(); err != nil {
		return nil, err
	}
	best, err := timeBestOf(repeat, "funnel", logf, setups, func() error {
		r, err := st.Funnel(ctx, 1, time.UTC, fq)
		if err == nil {
			m := &ms[cur]
			m.steps = m.steps[:0]
			for _, s := range r.Steps {
				m.steps = append(m.steps, s.Count)
			}
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	put(func(m *measurement) *float64 { return &m.funnel }, best)
	rq := &insight.Retention{Start: insight.EventMatch{Event: "signed_up"}, Return: insight.EventMatch{Event: "product_viewed"}, Period: "week", Periods: 8, Mode: "first_time", Range: benchRange}
	if err := rq.Validate(); err != nil {
		return nil, err
	}
	if best, err = timeBestOf(repeat, "retention", logf, setups, func() error { _, err := st.Retention(ctx, 1, time.UTC, rq); return err }); err != nil {
		return nil, err
	}
	put(func(m *measurement) *float64 { return &m.retention }, best)
	tq := &insight.Trend{Series: []insight.Series{{Event: "$pageview", Math: "dau"}}, Interval: "day", Range: benchRange}
	if err := tq.Validate(); err != nil {
		return nil, err
	}
	if best, err = timeBestOf(repeat, "trend", logf, setups, func() error { _, err := st.Trend(ctx, 1, time.UTC, tq); return err }); err != nil {
		return nil, err
	}
	put(func(m *measurement) *float64 { return &m.trend }, best)
	if floorFn != nil {
		if best, err = timeBestOf(repeat, "floor", logf, nil, floorFn); err != nil {
			return nil, err
		}
		for i := range ms {
			ms[i].floor = best[0]
		}
	}
	return ms, nil
}

// clickHouseFunnel loads the same events into ClickHouse and times its
// windowFunnel over them, returning the per-step counts too.
//
// Fairness: the table is merged to one part first (OPTIMIZE … FINAL
// waits for it), a warm-up run is not counted, the best of o.Repeat runs
// is reported, ClickHouse runs with max_threads = o.Threads as DuckDB and
// the index do, and its own query_duration_ms (system.query_log) is
// reported beside the wall time, which adds HTTP and result formatting.
func clickHouseFunnel(ctx context.Context, st *duckStore, o QueryOptions, dir string, logf func(string, ...any)) (wallMS, serverMS float64, steps []int64, err error) {
	file := filepath.Join(dir, "events.tsv")
	start := time.Now()
	if _, err := st.sql.ExecContext(ctx, `COPY (SELECT person_id, event, epoch(ts)::BIGINT FROM events ORDER BY person_id, ts) TO '`+file+`' (DELIMITER '\t', HEADER false)`); err != nil {
		return 0, 0, nil, fmt.Errorf("cannot export events: %w", err)
	}
	defer os.Remove(file)
	ch := &chClient{url: o.ClickHouse}
	db := fmt.Sprintf("journey_bench_%d", time.Now().UnixNano())
	if _, err := ch.do("CREATE DATABASE "+db, nil); err != nil {
		return 0, 0, nil, err
	}
	defer ch.do("DROP DATABASE IF EXISTS "+db, nil)
	if _, err := ch.do("CREATE TABLE "+db+".events (person_id UInt64, event String, ts DateTime('UTC')) ENGINE = MergeTree ORDER BY (person_id, ts)", nil); err != nil {
		return 0, 0, nil, err
	}
	f, err := os.Open(file)
	if err != nil {
		return 0, 0, nil, err
	}
	defer f.Close()
	if _, err := ch.do("INSERT INTO "+db+".events FORMAT TabSeparated", f); err != nil {
		return 0, 0, nil, err
	}
	if _, err := ch.do("OPTIMIZE TABLE "+db+".events FINAL", nil); err != nil {
		return 0, 0, nil, err
	}
	logf("loaded the events into ClickHouse in %s", time.Since(start).Round(time.Millisecond))
	q := fmt.Sprintf(`SELECT level, count() FROM (
  SELECT person_id, windowFunnel(86400)(ts, event = 'product_viewed', event = 'added_to_cart', event = 'order_completed') AS level
  FROM %s.events WHERE ts >= toDateTime(%d) AND ts < toDateTime(%d) AND event IN ('product_viewed', 'added_to_cart', 'order_completed')
  GROUP BY person_id) GROUP BY level ORDER BY level FORMAT TabSeparated`, db, benchRange.From.Unix(), benchRange.To.Unix())
	settings := fmt.Sprintf("&max_threads=%d&log_queries=1", o.Threads)
	var out string
	if out, err = ch.do(q, nil, settings); err != nil { // warm-up, not counted
		return 0, 0, nil, err
	}
	wallMS = -1.0
	var ids []string
	for i := 0; i < max(1, o.Repeat); i++ {
		id := fmt.Sprintf("%s_%d", db, i)
		ids = append(ids, "'"+id+"'")
		t := time.Now()
		if out, err = ch.do(q, nil, settings+"&query_id="+id); err != nil {
			return 0, 0, nil, err
		}
		ms := float64(time.Since(t).Microseconds()) / 1000
		if wallMS < 0 || ms < wallMS {
			wallMS = ms
		}
	}
	// The server's own time of its best run.
	if _, err := ch.do("SYSTEM FLUSH LOGS", nil); err == nil {
		if v, err := ch.do("SELECT min(query_duration_ms) FROM system.query_log WHERE toString(type) IN ('2', 'QueryFinish') AND query_id IN ("+strings.Join(ids, ", ")+") FORMAT TabSeparated", nil); err == nil {
			fmt.Sscan(strings.TrimSpace(v), &serverMS)
		}
	}
	logf("%-18s %9.1f ms wall, %.0f ms in ClickHouse (query_log), max_threads %d", "clickhouse", wallMS, serverMS, o.Threads)
	// Per-level counts → cumulative step counts.
	levels := make([]int64, 4)
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var lvl int
		var n int64
		if _, err := fmt.Sscanf(line, "%d\t%d", &lvl, &n); err == nil && lvl >= 0 && lvl <= 3 {
			levels[lvl] = n
		}
	}
	steps = make([]int64, 3)
	for k := 1; k <= 3; k++ {
		for l := k; l <= 3; l++ {
			steps[k-1] += levels[l]
		}
	}
	return wallMS, serverMS, steps, nil
}

type chClient struct{ url string }

// do runs a query; settings are more URL parameters ("&name=value…").
func (c *chClient) do(query string, body io.Reader, settings ...string) (string, error) {
	if body == nil {
		body = strings.NewReader("")
	}
	// insert_distributed_sync: inserts into a Distributed table are visible when they return.
	resp, err := http.Post(c.url+"/?insert_distributed_sync=1"+strings.Join(settings, "")+"&query="+url.QueryEscape(query), "text/plain", body)
	if err != nil {
		return "", fmt.Errorf("cannot reach ClickHouse at %s: %w", c.url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return "", fmt.Errorf("clickhouse: %s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	return string(b), nil
}

// clickHouseStore loads the generated events into a ClickHouse event store
// (over HTTP, in the store's schema) and times the same insights there.
func clickHouseStore(ctx context.Context, st *duckStore, o QueryOptions, dir string, logf func(string, ...any)) (*StoreFigures, error) {
	if o.ClickHouse == "" {
		return nil, fmt.Errorf("--events %s needs --clickhouse (the HTTP address used to load the data)", o.Store)
	}
	chs, err := clickhouse.Open(ctx, o.Store)
	if err != nil {
		return nil, err
	}
	defer chs.Close()
	file := filepath.Join(dir, "store.tsv")
	start := time.Now()
	if _, err := st.sql.ExecContext(ctx, `COPY (SELECT project_id, uuid, event, distinct_id, person_id,
		strftime(ts, '%Y-%m-%d %H:%M:%S'), epoch_us(ts), properties, strftime(received_at, '%Y-%m-%d %H:%M:%S') FROM events)
		TO '`+file+`' (DELIMITER '\t', HEADER false, QUOTE '', ESCAPE '')`); err != nil {
		return nil, fmt.Errorf("cannot export events: %w", err)
	}
	defer os.Remove(file)
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ch := &chClient{url: o.ClickHouse}
	table := chs.EventsTable()
	if _, err := ch.do("INSERT INTO "+table+" (project_id, uuid, event, distinct_id, person_id, ts, ts_us, properties, received_at) FORMAT TabSeparated", f); err != nil {
		return nil, err
	}
	logf("loaded the events into the ClickHouse store %s in %s", o.Store, time.Since(start).Round(time.Millisecond))
	ms, err := measureStore(ctx, chs, o.Repeat, func() error {
		_, err := ch.do(fmt.Sprintf(`SELECT count() FROM (SELECT person_id, count() FROM %s WHERE project_id = 1 AND ts >= toDateTime(%d) AND ts < toDateTime(%d)
			AND event IN ('product_viewed', 'added_to_cart', 'order_completed') GROUP BY person_id)`, table, benchRange.From.Unix(), benchRange.To.Unix()), nil)
		return err
	}, logf)
	if err != nil {
		return nil, err
	}
	m := ms[0]
	return &StoreFigures{Store: o.Store, FunnelMS: m.funnel, RetentionMS: m.retention, TrendMS: m.trend, FloorMS: m.floor, FunnelSteps: m.steps}, nil
}
