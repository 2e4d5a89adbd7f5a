package duckdb

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/event"
	"github.com/journey-dev/journey/internal/insight"
	"github.com/journey-dev/journey/internal/testutil/chtest"
)

// randomEvents makes a seeded event set: persons p0..pN doing events a..d
// at whole seconds (ClickHouse 18 DateTime has second resolution) over a
// few days, with no two events of a person at the same second so that
// order-dependent functions have one answer.
func randomEvents(seed uint64, persons, perPerson int, span time.Duration) []event.Raw {
	r := rand.New(rand.NewPCG(seed, 99))
	var out []event.Raw
	for p := 0; p < persons; p++ {
		used := map[int64]bool{}
		n := 1 + r.IntN(perPerson)
		for i := 0; i < n; i++ {
			off := r.Int64N(int64(span / time.Second))
			if used[off] {
				continue
			}
			used[off] = true
			name := string(rune('a' + r.IntN(4)))
			out = append(out, ev(name, fmt.Sprintf("p%d", p), day0.Add(time.Duration(off)*time.Second), nil))
		}
	}
	return out
}

// loadBoth stores events in a fresh DuckDB store and a fresh ClickHouse
// table events(person String, event String, ts DateTime).
func loadBoth(t *testing.T, events []event.Raw) (*Store, *chtest.DB) {
	t.Helper()
	s := testdb(t)
	newLoader(t, s).Load(1, events...)
	ch := chtest.Open(t)
	ch.Exec("CREATE TABLE events (person String, event String, ts DateTime('UTC')) ENGINE = MergeTree ORDER BY (person, ts)")
	rows := make([][]string, len(events))
	for i, e := range events {
		rows[i] = []string{e.DistinctID, e.Event, e.Timestamp.UTC().Format("2006-01-02 15:04:05")}
	}
	ch.Insert("events", rows)
	return s, ch
}

func TestTrendMatchesClickHouse(t *testing.T) {
	for seed := uint64(1); seed <= 5; seed++ {
		events := randomEvents(seed, 200, 30, 5*24*time.Hour)
		s, ch := loadBoth(t, events)
		for _, tz := range []string{"UTC", "Europe/Berlin", "America/Los_Angeles"} {
			loc, _ := time.LoadLocation(tz)
			from, to := day0.Add(-24*time.Hour), day0.Add(6*24*time.Hour)
			for _, math := range []string{"total", "dau"} {
				agg := "count()"
				if math == "dau" {
					agg = "uniqExact(person)"
				}
				want := map[string]float64{}
				for _, row := range ch.Query(fmt.Sprintf("SELECT toString(toDate(ts, '%s')) AS d, %s FROM events WHERE event = 'b' AND ts >= toDateTime(%d) AND ts < toDateTime(%d) GROUP BY d",
					tz, agg, from.Unix(), to.Unix())) {
					v, _ := strconv.ParseFloat(row[1], 64)
					want[row[0]] = v
				}
				got := dau(t, s, 1, "b", loc, from, to, "day")
				if math == "total" {
					got = trendTotal(t, s, loc, from, to)
				}
				for _, p := range got {
					if p.Value != want[p.T] {
						t.Fatalf("seed %d %s %s day %s: journey %v, clickhouse %v", seed, tz, math, p.T, p.Value, want[p.T])
					}
					delete(want, p.T)
				}
				for day, v := range want {
					if v != 0 {
						t.Fatalf("seed %d %s %s: clickhouse has day %s = %v that journey lacks", seed, tz, math, day, v)
					}
				}
			}
		}
	}
}

func trendTotal(t *testing.T, s *Store, loc *time.Location, from, to time.Time) []insight.Point {
	t.Helper()
	q := &insight.Trend{Series: []insight.Series{{Event: "b", Math: "total", Label: "b"}}, Interval: "day", Range: insight.Range{From: from, To: to}}
	res, err := s.Trend(context.Background(), 1, loc, q)
	if err != nil {
		t.Fatal(err)
	}
	return res.Series[0].Points
}

// TestRetentionMatchesClickHouse compares first_time daily retention with
// ClickHouse's retention() on the same random event sets.
func TestRetentionMatchesClickHouse(t *testing.T) {
	for seed := uint64(11); seed <= 15; seed++ {
		events := randomEvents(seed, 300, 25, 6*24*time.Hour)
		s, ch := loadBoth(t, events)
		const periods = 5
		q := &insight.Retention{Start: insight.EventMatch{Event: "a"}, Return: insight.EventMatch{Event: "b"}, Period: "day", Periods: periods, Mode: "first_time",
			Range: insight.Range{From: day0, To: day0.AddDate(0, 0, 6)}}
		if err := q.Validate(); err != nil {
			t.Fatal(err)
		}
		res, err := s.Retention(context.Background(), 1, time.UTC, q)
		if err != nil {
			t.Fatal(err)
		}
		conds := "event = 'a' AND toDate(ts) = cohort"
		for k := 1; k < periods; k++ {
			conds += fmt.Sprintf(", event = 'b' AND toDate(ts) = cohort + %d", k)
		}
		rows := ch.Query(`SELECT toString(cohort) AS c, groupArray(r) FROM (
  SELECT person, cohort, retention(` + conds + `) AS r
  FROM events ANY INNER JOIN (SELECT person, toDate(min(ts)) AS cohort FROM events WHERE event = 'a' GROUP BY person) USING person
  GROUP BY person, cohort) GROUP BY c ORDER BY c`)
		want := map[string][]int64{}
		for _, row := range rows {
			var arrays [][]int64
			if err := json.Unmarshal([]byte(row[1]), &arrays); err != nil {
				t.Fatalf("cannot parse %q: %v", row[1], err)
			}
			sums := make([]int64, periods)
			for _, a := range arrays {
				for k, v := range a {
					sums[k] += v
				}
			}
			want[row[0]] = sums
		}
		if len(res.Cohorts) != len(want) {
			t.Fatalf("seed %d: %d cohorts, clickhouse %d (%v)", seed, len(res.Cohorts), len(want), want)
		}
		returned := int64(0)
		for _, c := range res.Cohorts {
			for _, v := range c.Retained[1:] {
				returned += v
			}
			w := want[c.Start]
			if c.Size != w[0] || !reflect.DeepEqual(c.Retained, w[:len(c.Retained)]) {
				t.Fatalf("seed %d cohort %s: journey %d %v, clickhouse %v", seed, c.Start, c.Size, c.Retained, w)
			}
		}
		if returned == 0 {
			t.Fatalf("seed %d: no returns at all; the comparison would prove nothing", seed)
		}
	}
}
