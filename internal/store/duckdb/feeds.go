package duckdb

import (
	"database/sql"
	"fmt"

	duckdb "github.com/duckdb/duckdb-go/v2"
)

// Feeds are scalar functions through which a query hands its rows to Go
// on DuckDB's worker threads, for work SQL does slowly: the funnel walk
// (journey_funnel_feed) and per-actor period masks (journey_actor_periods).
// Called from a query whose context carries their collector they feed it;
// called otherwise they only answer true.

// registerFeeds registers the feed functions in the store's database
// (functions live in the database's catalog, not the connection's).
func registerFeeds(conn *sql.Conn) error {
	if err := duckdb.RegisterScalarUDFSet(conn, funnelFeedName, funnelFeed{2}, funnelFeed{3}, funnelFeed{4}); err != nil {
		return fmt.Errorf("cannot register %s: %w", funnelFeedName, err)
	}
	if err := duckdb.RegisterScalarUDF(conn, actorPeriodsName, actorPeriodsFeed{}); err != nil {
		return fmt.Errorf("cannot register %s: %w", actorPeriodsName, err)
	}
	if err := registerExperimentFeed(conn); err != nil { // experimentidx.go
		return err
	}
	return registerJourneyIndexFeed(conn) // journeyidx.go
}

// typeInfo is a primitive type's TypeInfo.
func typeInfo(t duckdb.Type) duckdb.TypeInfo {
	info, err := duckdb.NewTypeInfo(t)
	if err != nil {
		panic(err) // primitive types always have a TypeInfo
	}
	return info
}

// answerTrue sets every row's result to true (a feed called outside its
// query).
func answerTrue(st *duckdb.ChunkIteratorState) error {
	for row, err := range st.Rows() {
		if err != nil {
			return err
		}
		if err := row.SetResult(true); err != nil {
			return err
		}
	}
	return nil
}
