package store

import (
	"context"
	"time"

	"github.com/journey-dev/journey/internal/insight"
)

// MaxFeedbackPersons bounds the distinct ids of one FeedbackPersons call
// (a ranking of 100 000 items asks for fewer).
const MaxFeedbackPersons = 1_000_000

// MaxGroupKeys bounds the keys of one GroupProperties call.
const MaxGroupKeys = 1_000_000

// FeedbackPersonsQuery asks, for the authors of feedback (their distinct
// ids), who they are now and what the event store knows of them in
// [From, To): the keys of GroupType in the $groups of their events (the
// accounts they belong to), and whether they had a bad day, that is an
// event matching Bad (the project's bad_days definition; a bad event makes
// its day a bad day).
type FeedbackPersonsQuery struct {
	DistinctIDs []string
	GroupType   string
	Bad         []insight.EventMatch
	From, To    time.Time
}

// FeedbackPerson is what FeedbackPersons found of one distinct id. Person
// is its person after merges, 0 when the distinct id is not stored; then
// Accounts is empty and Bad false. Accounts are sorted.
type FeedbackPerson struct {
	DistinctID string
	// Asked is DistinctID's index in the query's DistinctIDs (the first
	// of repeats), so that a caller finds its own entry without a lookup.
	Asked    int
	Person   int64
	Accounts []string
	Bad      bool
}

// VoC is what the voice-of-customer ranking reads of the event store.
type VoC interface {
	// FeedbackPersons answers q, one row per distinct id that is stored
	// (in no particular order; persons shared by several distinct ids
	// answer for each).
	FeedbackPersons(ctx context.Context, projectID int64, q *FeedbackPersonsQuery) ([]FeedbackPerson, error)
	// GroupProperties returns the current properties of the groups of
	// groupType named by keys (absent keys are left out).
	GroupProperties(ctx context.Context, projectID int64, groupType string, keys []string) (map[string]map[string]any, error)
	// GroupPropertyValues is GroupProperties cut to the properties named
	// by props (groups with none of them are left out), read without
	// decoding whole property blobs: a ranking reads one property, such
	// as mrr, of thousands of accounts.
	GroupPropertyValues(ctx context.Context, projectID int64, groupType string, keys, props []string) (map[string]map[string]any, error)
}
