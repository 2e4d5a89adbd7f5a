package store

import (
	"context"
	"time"
)

// Subject is everything that identifies one person in the event store: the
// person, the persons merged into it (their overrides' old ids, personless
// ids adopted by a merge among them) and its distinct ids. A deletion
// removes the events stored under any of the ids or with any of the
// distinct ids (which also catches personless events no merge adopted).
type Subject struct {
	ProjectID   int64    `json:"-"`
	PersonID    int64    `json:"person_id"`
	MergedIDs   []int64  `json:"merged_ids"`
	DistinctIDs []string `json:"distinct_ids"`
}

// PersonIDs is the person and the persons merged into it.
func (s *Subject) PersonIDs() []int64 {
	return append([]int64{s.PersonID}, s.MergedIDs...)
}

// Union adds o's merged and distinct ids that s lacks (a subject resolved
// again when a deletion resumes: a merge may have added some since).
func (s *Subject) Union(o Subject) {
	s.MergedIDs = unionOf(s.MergedIDs, o.MergedIDs)
	s.DistinctIDs = unionOf(s.DistinctIDs, o.DistinctIDs)
}

func unionOf[T comparable](a, b []T) []T {
	have := make(map[T]bool, len(a))
	for _, v := range a {
		have[v] = true
	}
	for _, v := range b {
		if !have[v] {
			have[v] = true
			a = append(a, v)
		}
	}
	return a
}

// Bounds of one subject: a person with more distinct ids or merged persons
// than this is refused rather than deleted in unbounded statements.
const (
	MaxSubjectDistinctIDs = 10_000
	MaxSubjectMerged      = 10_000
)

// ErasedCounts is what a deletion found and removed in the event store.
type ErasedCounts struct {
	Events      int64 `json:"events"`
	DistinctIDs int64 `json:"distinct_ids"`
	Persons     int64 `json:"persons"` // person rows: the person, merged-away ones
	Overrides   int64 `json:"overrides"`
}

// EventCursor pages a subject's events in (timestamp, uuid) order: the
// page after the event at T with UUID; the zero cursor starts.
type EventCursor struct {
	T    time.Time
	UUID [16]byte
}

// MaxExportPage bounds one SubjectEvents call.
const MaxExportPage = 1000

// Privacy is what a person's deletion, export and data retention need of
// an event store (issue 17 item 1); both stores implement it (delete.go).
type Privacy interface {
	// ResolveSubject finds the subject of a person id, or of a distinct
	// id when personID is 0: ErrNotFound when the store has neither a
	// person row nor a distinct id for it.
	ResolveSubject(ctx context.Context, projectID, personID int64, distinctID string) (Subject, error)
	// CountSubject counts what ErasePerson would remove.
	CountSubject(ctx context.Context, s *Subject) (ErasedCounts, error)
	// ErasePerson removes the subject's events, distinct ids, overrides
	// and person rows, and keeps a tombstone of the person ids (no
	// personal data) so that they are never given to a new person. It is
	// idempotent: run again, it removes what is left, if anything. On
	// DuckDB it runs in one transaction under the write lock the loader
	// and backups take; on ClickHouse it runs mutations on every shard and
	// waits for them.
	ErasePerson(ctx context.Context, s *Subject) error
	// SubjectEvents returns up to limit (at most MaxExportPage) of the
	// subject's events after the cursor, by (timestamp, uuid), with their
	// stored person ids.
	SubjectEvents(ctx context.Context, s *Subject, after EventCursor, limit int) ([]Row, error)
	// DeleteEventsBefore removes the project's events older than cutoff
	// (data retention) and returns how many it removed.
	DeleteEventsBefore(ctx context.Context, projectID int64, cutoff time.Time) (int64, error)
}
