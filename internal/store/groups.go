package store

import "context"

// MaxGroupsPage bounds one ListGroups page (the API's ?limit=).
const MaxGroupsPage = 1000

// GroupQuery asks ListGroups for a page of one type's groups.
type GroupQuery struct {
	Type string
	// Key, when set, asks for that one group only.
	Key string
	// Search is a substring of the key, matched in any case and
	// literally: no character of it is a wildcard.
	Search        string
	Limit, Offset int
}

// GroupLister is what the public API's groups endpoints read.
type GroupLister interface {
	// ListGroups returns a page of a project's groups (current
	// properties, first created_at), newest first to the second, then by
	// key, so that every store pages them alike.
	ListGroups(ctx context.Context, projectID int64, q GroupQuery) ([]Group, error)
}
