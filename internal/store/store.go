// Package store defines the event store: events with their resolved person,
// and the identity tables (distinct ids, persons, merges, groups) that
// queries join. DuckDB is the embedded implementation, ClickHouse the
// scale-out one; both pass the same tests.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/journey-dev/journey/internal/insight"
)

// Row is one event ready to store.
type Row struct {
	ProjectID  int64
	UUID       [16]byte
	Event      string
	DistinctID string
	PersonID   int64
	Timestamp  time.Time
	Properties json.RawMessage
	ReceivedAt time.Time
}

// DistinctID maps a distinct id to its person.
type DistinctID struct {
	ProjectID  int64
	DistinctID string
	PersonID   int64
}

// Person is a person and its properties.
type Person struct {
	ProjectID  int64
	ID         int64
	CreatedAt  time.Time
	Properties map[string]any
}

// ResolvedPerson is a person with all its distinct ids (sorted), what
// PersonsByDistinctIDs answers per distinct id.
type ResolvedPerson struct {
	Person      Person
	DistinctIDs []string
}

// MaxDistinctIDs bounds one PersonsByDistinctIDs call (more is an error).
const MaxDistinctIDs = 1000

// Override says events stored with OldPersonID belong to PersonID (a merge
// that happened after the events were stored).
type Override struct {
	ProjectID   int64
	OldPersonID int64
	PersonID    int64
}

// Group is a group (B2B account) property update; Properties are merged
// into the stored ones.
type Group struct {
	ProjectID  int64
	Type, Key  string
	Properties map[string]any
	CreatedAt  time.Time
}

// Write is everything one loader batch changes, applied atomically together
// with the log checkpoint so a batch is never applied twice.
type Write struct {
	Events         []Row
	DistinctIDs    []DistinctID
	Persons        []Person
	DeletedPersons []int64
	Overrides      []Override
	Groups         []Group
	Checkpoint     uint64
}

// Identity is the stored identity state the resolver starts from.
type Identity struct {
	DistinctIDs []DistinctID
	Overrides   []Override
	MaxPersonID int64
	// GroupLinks are derived from the stored Segment group calls (events
	// marked event.PropSegmentGroup), so nothing else has to be written.
	GroupLinks []GroupLink
	// Identified lists the person ids (as stored, before overrides) of
	// the stored events that asked for a merge: $identify with an
	// $anon_distinct_id, $create_alias and $merge_dangerously with an
	// alias, each other than the event's distinct id. They are PostHog's
	// identified persons, whose merge into another the resolver refuses
	// (internal/identity/identified.go); derived, so nothing else is
	// written.
	Identified []int64
}

// GroupLink is the latest Segment group call stored with one person id
// (before overrides: the resolver follows them). "Latest" is the greatest
// (At, Type, Key), so every store and the resolver pick the same one.
type GroupLink struct {
	ProjectID int64
	PersonID  int64
	Type, Key string
	At        time.Time // the call's timestamp, to the microsecond
}

// Writer is what the loader needs of an event store: where to resume
// (Checkpoint, Identity), the stored persons a batch touches, and Apply.
// Every Store is one.
type Writer interface {
	Apply(ctx context.Context, w *Write) error
	Checkpoint(ctx context.Context) (uint64, error)
	Identity(ctx context.Context) (Identity, error)
	Persons(ctx context.Context, ids []int64) (map[int64]Person, error)
}

var _ Writer = Store(nil)

// Store is implemented by every event store.
type Store interface {
	Apply(ctx context.Context, w *Write) error
	Checkpoint(ctx context.Context) (uint64, error)
	Identity(ctx context.Context) (Identity, error)
	// Persons returns the stored properties of the given persons.
	Persons(ctx context.Context, ids []int64) (map[int64]Person, error)
	// PersonByDistinctID returns the person and all its distinct ids.
	PersonByDistinctID(ctx context.Context, projectID int64, distinctID string) (Person, []string, error)
	// PersonsByDistinctIDs resolves up to MaxDistinctIDs distinct ids of
	// a project at once (the trigger engine's and the sender's batches):
	// each id found maps to its person and all the person's distinct ids,
	// as PersonByDistinctID answers; ids not found are absent.
	PersonsByDistinctIDs(ctx context.Context, projectID int64, distinctIDs []string) (map[string]ResolvedPerson, error)
	// Trend runs a trend query for a project in timezone tz.
	Trend(ctx context.Context, projectID int64, tz *time.Location, q *insight.Trend) (*insight.TrendResult, error)
	Funnel(ctx context.Context, projectID int64, tz *time.Location, q *insight.Funnel) (*insight.FunnelResult, error)
	Retention(ctx context.Context, projectID int64, tz *time.Location, q *insight.Retention) (*insight.RetentionResult, error)
	Stickiness(ctx context.Context, projectID int64, tz *time.Location, q *insight.Stickiness) (*insight.StickinessResult, error)
	Lifecycle(ctx context.Context, projectID int64, tz *time.Location, q *insight.Lifecycle) (*insight.LifecycleResult, error)
	BadDays(ctx context.Context, projectID int64, tz *time.Location, q *insight.BadDays) (*insight.BadDaysResult, error)
	Paths(ctx context.Context, projectID int64, tz *time.Location, q *insight.Paths) (*insight.PathsResult, error)
	Journey(ctx context.Context, projectID int64, tz *time.Location, q *insight.Journey) (*insight.JourneyResult, error)
	KPI(ctx context.Context, projectID int64, tz *time.Location, q *insight.KPI) (*insight.KPIResult, error)
	Experiment(ctx context.Context, projectID int64, tz *time.Location, q *insight.Experiment) (*insight.ExperimentCounts, error)
	GoldenTime(ctx context.Context, projectID int64, tz *time.Location, q *insight.GoldenTime) (*insight.GoldenTimeResult, error)
	// Attribution reads a campaign report's touches, conversions and goal
	// value (issue 15 item 8).
	Attribution(ctx context.Context, projectID int64, q *insight.Attribution) (*insight.AttributionResult, error)
	EngagementHours(ctx context.Context, projectID int64, tz *time.Location, personIDs []int64, since time.Time) (map[int64][24]float64, error)
	ProjectEngagementHours(ctx context.Context, projectID int64, tz *time.Location, since time.Time) ([24]float64, error)
	// CohortPersons pages through a cohort's members (cohortpersons.go).
	CohortPersons(ctx context.Context, projectID int64, c *insight.CohortDef, asOf time.Time, after int64, limit int) ([]CohortPerson, error)
	// SQL runs a user's read-only SELECT scoped to the project.
	SQL(ctx context.Context, projectID int64, q *insight.SQL) (*insight.SQLResult, error)
	Explorer
	SurveyReader
	VoC         // voc.go: the voice-of-customer ranking's reads
	GroupLister // groups.go: the public API's groups
	// CountEvents counts a project's stored events (all projects when 0).
	CountEvents(ctx context.Context, projectID int64) (int64, error)
	Close() error
}

// Explorer is what the UI's pickers and person pages read.
type Explorer interface {
	// EventNames counts a project's events by name in [from, to), most
	// frequent first.
	EventNames(ctx context.Context, projectID int64, from, to time.Time, limit int) ([]NameCount, error)
	// SampleProperties returns the JSON properties of up to n recent events
	// (of one name, or any when event is ""), or of n recent persons when
	// persons is true; callers count keys and values from the sample.
	SampleProperties(ctx context.Context, projectID int64, event string, persons bool, n int) ([]string, error)
	// SearchPersons returns ids of persons, newest first, whose distinct id
	// contains q, one of whose property values is q, or whose id is q; the
	// newest persons when q is "".
	SearchPersons(ctx context.Context, projectID int64, q string, limit int) ([]int64, error)
	// FindPersons is SearchPersons with each person's properties and
	// distinct ids (sorted), read in one query for the whole page.
	FindPersons(ctx context.Context, projectID int64, q string, limit int) ([]FoundPerson, error)
	// PersonByID returns a person and its distinct ids.
	PersonByID(ctx context.Context, projectID, personID int64) (Person, []string, error)
	// PersonEvents returns a person's latest events, newest first, including
	// events stored under persons merged into it.
	PersonEvents(ctx context.Context, projectID, personID int64, limit int) ([]Row, error)
}

// FoundPerson is a person of FindPersons with its distinct ids.
type FoundPerson struct {
	Person
	DistinctIDs []string
}

// NameCount is a name and how often it occurs.
type NameCount struct {
	Name  string `json:"name"`
	Count int64  `json:"count"`
}

// ErrNotFound is returned when a person does not exist.
var ErrNotFound = errors.New("not found")

// PropertiesJSON is how stores write a person's or group's properties:
// a JSON object, "{}" when empty (properties come from decoded JSON, so
// they always encode).
func PropertiesJSON(m map[string]any) string {
	if len(m) == 0 {
		return "{}"
	}
	b, err := json.Marshal(m)
	if err != nil {
		return "{}"
	}
	return string(b)
}

// AsMemoryError returns err as an *insight.MemoryError when it says the
// query ran out of memory: past its own cap (insight.MemoryCap) or past an
// engine's limit, as told by the tests the store packages register
// (RegisterOutOfMemory); else err itself.
func AsMemoryError(ctx context.Context, err error) error {
	if err == nil || insight.IsMemoryError(err) {
		return err
	}
	for _, f := range outOfMemory {
		if m := f(ctx, err); m != nil {
			return m
		}
	}
	return err
}

// outOfMemory: the engines' tests for their own out-of-memory errors.
var outOfMemory []func(context.Context, error) *insight.MemoryError

// RegisterOutOfMemory adds an engine's test for its out-of-memory errors
// (nil: not one); store packages call it from init.
func RegisterOutOfMemory(f func(context.Context, error) *insight.MemoryError) {
	outOfMemory = append(outOfMemory, f)
}
