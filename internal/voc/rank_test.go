package voc_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"

	"github.com/journey-dev/journey/internal/event"
	"github.com/journey-dev/journey/internal/meta"
	"github.com/journey-dev/journey/internal/meta/sqlite"
	"github.com/journey-dev/journey/internal/store"
	"github.com/journey-dev/journey/internal/store/clickhouse"
	"github.com/journey-dev/journey/internal/store/duckdb"
	"github.com/journey-dev/journey/internal/store/storetest"
	"github.com/journey-dev/journey/internal/testutil"
	"github.com/journey-dev/journey/internal/voc"
)

// The ranking on a generated dataset with a hand-computed answer, on the
// embedded store and on ClickHouse (identical answers).
//
// Accounts (group company, mrr): A 1000, B 200, C "50" (a numeric
// string), D 10. Persons: a1 a2 in A, b1 b2 b3 in B, c1..c4 in C, d1..d6
// in D; bad days ($exception in the 90-day window): a1, b1, b2, d1 (c2's
// is older than the window). a2 wrote as anon-a2 before identifying.
// Themes and their items' authors:
//
//	T1 Invoice export: a1, anon-a2          2 persons, 1 account, 1000, bad 1/2, votes 2
//	T2 Dark mode:      d1..d6               6 persons, 1 account,   10, bad 1/6, votes 6
//	T3 Slow dashboard: b1 b2 b3 c1          4 persons, 2 accounts,  250, bad 2/4, votes 4
//	T4 SSO:            c1..c4, c4 again (merged into c4's first, +1 vote),
//	                   x9 (unknown, names account D)
//	                                        5 persons, 2 accounts,   60, bad 0,   votes 6
//	T5 merged into T2 (no items of its own left)
//
// Every item is recent (recency 1, trend 1), so by the formula:
//
//	T1 = .25·2/6 + .2·1/2 + .3·1 + .1·.5 + .05·2/6 + .05 + .05 = 65.00
//	T3 = .25·4/6 + .2·1 + .3·.25 + .1·.5 + .05·4/6 + .1        = 62.50
//	T4 = .25·5/6 + .2·1 + .3·.06 + 0 + .05·1 + .1             = 57.63
//	T2 = .25·1 + .2·1/2 + .3·.01 + .1·1/6 + .05·1 + .1        = 51.97
func TestRankKnownAnswer(t *testing.T) {
	t.Run("DuckDB", func(t *testing.T) {
		s, err := duckdb.Open(filepath.Join(t.TempDir(), "events.duckdb"), duckdb.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		rankKnownAnswer(t, s)
	})
	t.Run("ClickHouse", func(t *testing.T) { rankKnownAnswer(t, openClickHouse(t)) })
}

func openClickHouse(t *testing.T) store.Store {
	name := fmt.Sprintf("journey_voc_%d_%d", time.Now().UnixNano(), rand.IntN(1e6))
	dsn := "clickhouse://127.0.0.1:19000/" + name
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := clickhouse.Open(ctx, dsn)
	if err != nil {
		testutil.Missing(t, "ClickHouse not usable at %s (run scripts/test-deps.sh): %v", dsn, err)
	}
	t.Cleanup(func() {
		s.Close()
		if conn, err := ch.Open(&ch.Options{Addr: []string{"127.0.0.1:19000"}}); err == nil {
			conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name)
			conn.Close()
		}
	})
	return s
}

func rankKnownAnswer(t *testing.T, s store.Store) {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	at := func(hoursAgo float64) time.Time { return now.Add(-time.Duration(hoursAgo * float64(time.Hour))) }
	var evs []event.Raw
	group := func(key string, mrr any) {
		evs = append(evs, storetest.Ev(event.GroupIdentify, "admin", at(50), map[string]any{
			event.PropGroupType: "company", event.PropGroupKey: key, event.PropGroupSet: map[string]any{"mrr": mrr}}))
	}
	group("A", 1000)
	group("B", 200)
	group("C", "50")
	group("D", 10)
	member := func(who, account string) {
		evs = append(evs, storetest.Ev("$pageview", who, at(40), map[string]any{"$groups": map[string]any{"company": account}}))
	}
	for _, p := range []struct{ who, account string }{{"a1", "A"}, {"a2", "A"}, {"b1", "B"}, {"b2", "B"}, {"b3", "B"},
		{"c1", "C"}, {"c2", "C"}, {"c3", "C"}, {"c4", "C"}} {
		member(p.who, p.account)
	}
	for i := 1; i <= 6; i++ {
		member(fmt.Sprintf("d%d", i), "D")
	}
	for _, who := range []string{"a1", "b1", "b2", "d1"} {
		evs = append(evs, storetest.Ev("$exception", who, at(30), nil))
	}
	evs = append(evs, storetest.Ev("$exception", "c2", at(100*24), nil)) // before the window
	evs = append(evs, storetest.Ev("$pageview", "anon-a2", at(45), nil))
	l := storetest.NewLoader(t, s)
	l.Load(1, evs...)
	l.Load(1, storetest.Ev(event.Identify, "a2", at(39), map[string]any{event.PropAnonID: "anon-a2"}))

	m, err := sqlite.Open(filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	p, _, err := m.CreateProject(ctx, "saas", "UTC")
	if err != nil || p.ID != 1 {
		t.Fatalf("project %+v, %v; want id 1, the events' project", p, err)
	}
	theme := func(name string) meta.Theme {
		th, err := m.CreateTheme(ctx, meta.Theme{ProjectID: 1, Name: name})
		if err != nil {
			t.Fatal(err)
		}
		return th
	}
	t1, t2, t3, t4, t5 := theme("Invoice export"), theme("Dark mode"), theme("Slow dashboard"), theme("SSO"), theme("Dark theme")
	item := func(th meta.Theme, who string, accounts ...string) meta.FeedbackItem {
		f, err := m.CreateFeedback(ctx, meta.FeedbackItem{ProjectID: 1, Text: th.Name + " from " + who, Source: meta.SourceAPI,
			DistinctID: who, ThemeID: th.ID, Accounts: accounts, CreatedAt: now})
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	item(t1, "a1")
	item(t1, "anon-a2")
	for i := 1; i <= 5; i++ {
		item(t5, fmt.Sprintf("d%d", i))
	}
	item(t2, "d6")
	if _, err := m.MergeThemes(ctx, 1, t5.ID, t2.ID); err != nil {
		t.Fatal(err)
	}
	for _, who := range []string{"b1", "b2", "b3", "c1"} {
		item(t3, who)
	}
	for _, who := range []string{"c1", "c2", "c3"} {
		item(t4, who)
	}
	c4 := item(t4, "c4")
	dup := item(meta.Theme{Name: "SSO please"}, "c4")
	if _, err := m.MergeFeedback(ctx, 1, dup.ID, c4.ID); err != nil {
		t.Fatal(err)
	}
	item(t4, "x9", "D")
	loose := item(meta.Theme{Name: "No theme"}, "b1")

	items, err := m.FeedbackImpact(ctx, 1, voc.MaxRankItems)
	if err != nil {
		t.Fatal(err)
	}
	themes, err := m.Themes(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	r, err := voc.Rank(ctx, s, 1, items, themes, voc.RankOptions{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	type fig struct {
		id                       int64
		items, persons, accounts int
		revenue                  float64
		badPersons, votes        int
		badShare, score          float64
	}
	want := []fig{
		{t1.ID, 2, 2, 1, 1000, 1, 2, 0.5, 65.00},
		{t3.ID, 4, 4, 2, 250, 2, 4, 0.5, 62.50},
		{t4.ID, 5, 5, 2, 60, 0, 6, 0, 57.63},
		{t2.ID, 6, 6, 1, 10, 1, 6, 0.167, 51.97},
	}
	var got []fig
	for _, im := range r.Themes {
		got = append(got, fig{im.ID, im.Items, im.Persons, im.Accounts, im.Revenue, im.BadDayPersons, im.Votes, im.BadDayShare, im.Score})
		if im.Recency < 0.99 || im.Trend != 1 {
			t.Errorf("theme %d: recency %v, trend %v; want about 1 and 1", im.ID, im.Recency, im.Trend)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("ranking by impact =\n%+v\nwant\n%+v", got, want)
	}
	for by, order := range map[string][]int64{
		"persons":  {t2.ID, t4.ID, t3.ID, t1.ID},
		"accounts": {t3.ID, t4.ID, t1.ID, t2.ID},
		"revenue":  {t1.ID, t3.ID, t4.ID, t2.ID},
		"bad_days": {t3.ID, t1.ID, t2.ID, t4.ID},
	} {
		list := slices.Clone(r.Themes)
		voc.Sort(list, by)
		var ids []int64
		for _, im := range list {
			ids = append(ids, im.ID)
		}
		if !slices.Equal(ids, order) {
			t.Errorf("by %s: %v, want %v", by, ids, order)
		}
	}
	// Items: c4's with its duplicate is one item of two, one person.
	for _, im := range r.Items {
		switch im.ID {
		case dup.ID:
			t.Errorf("the merged duplicate is ranked on its own: %+v", im)
		case c4.ID:
			if im.Items != 1 || im.Persons != 1 || im.Votes != 2 || im.Revenue != 50 || im.Accounts != 1 {
				t.Errorf("c4's item = %+v", im)
			}
		case loose.ID:
			if im.Persons != 1 || im.BadDayPersons != 1 || im.Revenue != 200 {
				t.Errorf("b1's unthemed item = %+v", im)
			}
		}
	}
	if len(r.Items) != 18 {
		t.Errorf("%d items ranked, want 18 (19 stored, one merged)", len(r.Items))
	}
	// anon-a2's items now belong to a2's person: the ranking says so.
	var moved []string
	for _, mv := range r.Moved {
		moved = append(moved, mv.DistinctID)
	}
	if !slices.Contains(moved, "anon-a2") || slices.Contains(moved, "x9") {
		t.Errorf("moved = %v, want anon-a2 (and never x9, who is not stored)", moved)
	}
}
