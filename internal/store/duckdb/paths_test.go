package duckdb

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/insight"
)

func TestPaths(t *testing.T) {
	s := testdb(t)
	l := newLoader(t, s)
	seq := func(who string, names ...string) {
		for i, n := range names {
			l.Load(1, ev(n, who, day0.Add(time.Duration(i)*time.Minute), nil))
		}
	}
	seq("a", "home", "view", "view", "cart", "buy")
	seq("b", "home", "view", "cart")
	seq("c", "search", "home", "view", "buy")
	seq("d", "view")
	run := func(q insight.Paths) *insight.PathsResult {
		t.Helper()
		q.From, q.To = day0, day0.AddDate(0, 0, 1)
		if err := q.Validate(); err != nil {
			t.Fatal(err)
		}
		res, err := s.Paths(context.Background(), 1, time.UTC, &q)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	res := run(insight.Paths{Start: &insight.PathPoint{Event: "home"}, Steps: 3})
	wantEdges := []insight.PathEdge{
		{Source: "1_home", Target: "2_view", Value: 3},
		{Source: "2_view", Target: "3_cart", Value: 2},
		{Source: "2_view", Target: "3_buy", Value: 1},
	}
	if !reflect.DeepEqual(res.Edges, wantEdges) {
		t.Fatalf("edges after home = %+v", res.Edges)
	}
	wantPaths := []insight.PathCount{{Path: []string{"home", "view", "cart"}, Count: 2}, {Path: []string{"home", "view", "buy"}, Count: 1}}
	if !reflect.DeepEqual(res.Paths, wantPaths) {
		t.Fatalf("paths after home = %+v", res.Paths)
	}
	res = run(insight.Paths{End: &insight.PathPoint{Event: "buy"}, Steps: 2})
	if want := []insight.PathEdge{{Source: "1_cart", Target: "2_buy", Value: 1}, {Source: "1_view", Target: "2_buy", Value: 1}}; !reflect.DeepEqual(res.Edges, want) {
		t.Fatalf("edges before buy = %+v", res.Edges)
	}
	res = run(insight.Paths{Steps: 2, Events: []string{"home", "view"}})
	if want := []insight.PathEdge{{Source: "1_home", Target: "2_view", Value: 3}}; !reflect.DeepEqual(res.Edges, want) {
		t.Fatalf("edges of home/view only = %+v", res.Edges)
	}
	if len(res.Paths) != 2 || res.Paths[0].Count != 3 || res.Paths[1].Count != 1 || !reflect.DeepEqual(res.Paths[1].Path, []string{"view"}) {
		t.Fatalf("paths of home/view only = %+v", res.Paths)
	}
}
