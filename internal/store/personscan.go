package store

import "context"

// PersonScanner lists a project's stored persons and distinct ids, for
// in-memory indexes that are rebuilt from the store and then kept current
// from the loader's writes (flagserve's person index). Both stores
// implement it (personscan.go).
type PersonScanner interface {
	// ScanPersons calls person for every stored person of the project
	// (its id and properties as JSON text; the slice is only valid during
	// the call), then id for every distinct id of the project with the
	// person id it points at now (whether or not that person is stored).
	// The two scans may see different moments of the store: a caller
	// replays the writes that landed meanwhile. An error from a callback
	// stops the scan and is returned.
	ScanPersons(ctx context.Context, projectID int64, person func(id int64, properties []byte) error, id func(distinctID string, personID int64) error) error
}
