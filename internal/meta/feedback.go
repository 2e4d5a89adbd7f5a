package meta

import (
	"context"
	"time"
)

// Feedback sources: where an item came from.
const (
	SourceWidget  = "widget"
	SourceAPI     = "api"
	SourceSurvey  = "survey"
	SourceEmail   = "email"
	SourceCSV     = "csv"
	SourceWebhook = "webhook"
)

// Feedback statuses, of items and of themes (themes start "new" too).
const (
	FeedbackNew        = "new"
	FeedbackPlanned    = "planned"
	FeedbackInProgress = "in_progress"
	FeedbackDone       = "done"
	FeedbackDeclined   = "declined"
)

// Feedback priorities.
const (
	PriorityLow    = "low"
	PriorityNormal = "normal"
	PriorityHigh   = "high"
	PriorityUrgent = "urgent"
)

// Comment kinds: an internal note, or a reply the customer sees.
const (
	CommentNote  = "note"
	CommentReply = "reply"
)

// Bounds of what one item, comment or call holds.
const (
	MaxFeedbackText    = 10_000 // bytes of an item's or comment's text
	MaxFeedbackTags    = 20
	MaxFeedbackTag     = 50 // bytes of a tag
	MaxFeedbackLinks   = 10 // attachments, accounts
	MaxFeedbackLink    = 2000
	MaxFeedbackBatch   = 1000 // items of one ImportFeedback call
	MaxFeedbackList    = 1000 // items of one ListFeedback answer
	MaxFeedbackIndexed = 2000 // runes of an item's text in the search index
	MaxFeedbackGrams   = 64   // grams of one search
)

// FeedbackItem is one piece of customer feedback. PersonID is the person
// of DistinctID when it was written (0 when not yet stored), updated when
// a ranking finds that the distinct id's person changed (a merge).
// Accounts are group keys named by the writer (the persons' groups in the
// event store add to them when ranking). Votes start at 1 (the author);
// merging a duplicate moves its votes to the item it merges into and sets
// MergedInto, keeping its person and account linked to the theme.
// FirstResponseAt is the first reply's time, ResolvedAt when the status
// last became done or declined (zero otherwise).
type FeedbackItem struct {
	ID              int64     `json:"id"`
	ProjectID       int64     `json:"-"`
	Text            string    `json:"text"`
	Source          string    `json:"source"`
	DistinctID      string    `json:"distinct_id"`
	PersonID        int64     `json:"person_id"`
	Accounts        []string  `json:"accounts"`
	Status          string    `json:"status"`
	Priority        string    `json:"priority"`
	Tags            []string  `json:"tags"`
	AssigneeID      int64     `json:"assignee_id"`
	Attachments     []string  `json:"attachments"`
	Votes           int       `json:"votes"`
	ThemeID         int64     `json:"theme_id"`
	MergedInto      int64     `json:"merged_into"`
	ExternalID      string    `json:"external_id"`
	CreatedAt       time.Time `json:"created_at"`
	UpdatedAt       time.Time `json:"updated_at"`
	FirstResponseAt time.Time `json:"first_response_at,omitzero"`
	ResolvedAt      time.Time `json:"resolved_at,omitzero"`
}

// FeedbackComment is an internal note or a customer-visible reply on an
// item, by a UI user (0: a secret key).
type FeedbackComment struct {
	ID        int64     `json:"id"`
	ProjectID int64     `json:"-"`
	ItemID    int64     `json:"item_id"`
	Kind      string    `json:"kind"` // CommentNote or CommentReply
	UserID    int64     `json:"user_id"`
	Text      string    `json:"text"`
	CreatedAt time.Time `json:"created_at"`
}

// FeedbackFilter selects items; zero fields select all. ThemeID -1
// selects items without a theme. Grams (from voc.SearchGrams) keep items
// whose indexed text holds at least MinGrams of them, best match first.
// Merged duplicates are left out unless IncludeMerged. BeforeID pages
// (ids below it); Limit 0 is 100, at most MaxFeedbackList.
type FeedbackFilter struct {
	Status        string
	ThemeID       int64
	Tag           string
	DistinctID    string
	Grams         []string
	MinGrams      int
	IncludeMerged bool
	BeforeID      int64
	Limit         int
}

// FeedbackImpact is what a ranking reads of one item.
type FeedbackImpact struct {
	ID         int64
	ThemeID    int64
	MergedInto int64
	DistinctID string
	PersonID   int64
	Accounts   []string
	Votes      int
	Status     string
	CreatedAt  time.Time
}

// FeedbackPerson is a distinct id's person now (a ranking's finding).
type FeedbackPerson struct {
	DistinctID string
	PersonID   int64
}

// Theme groups feedback items. RevenueProperty is the group property
// summed as the theme's revenue (default "mrr"). A theme merged into
// another keeps MergedInto and no items.
type Theme struct {
	ID              int64     `json:"id"`
	ProjectID       int64     `json:"-"`
	Name            string    `json:"name"`
	RevenueProperty string    `json:"revenue_property"`
	Status          string    `json:"status"`
	MergedInto      int64     `json:"merged_into"`
	CreatedAt       time.Time `json:"created_at"`
	UpdatedAt       time.Time `json:"updated_at"`
}

// FeedbackStore keeps a project's feedback items, their comments and
// themes. Every call is scoped to a project; ids are never reused. Refused
// values are *FieldError wrapping ErrInvalid.
type FeedbackStore interface {
	// CreateFeedback stores a new item: empty Status is new, Priority
	// normal, Votes 1; its text is indexed for search. An ExternalID
	// already stored for the project and source returns the stored item
	// and ErrExists (a help desk's retry). An item brought with its
	// history (an import) keeps a given FirstResponseAt, and ResolvedAt
	// when it is done or declined (else its CreatedAt then), neither
	// before its CreatedAt.
	CreateFeedback(ctx context.Context, f FeedbackItem) (FeedbackItem, error)
	// ImportFeedback stores up to MaxFeedbackBatch items (of one project)
	// in one transaction, as CreateFeedback, and returns them in order;
	// an item whose ExternalID is stored comes back as stored.
	ImportFeedback(ctx context.Context, items []FeedbackItem) ([]FeedbackItem, error)
	Feedback(ctx context.Context, projectID, id int64) (FeedbackItem, error)
	// ListFeedback lists items matching f, newest first (best search
	// match first when f.Grams is set).
	ListFeedback(ctx context.Context, projectID int64, f FeedbackFilter) ([]FeedbackItem, error)
	// UpdateFeedback replaces text, status, priority, tags, assignee,
	// attachments, accounts, votes and theme of item f.ID; ResolvedAt is
	// set when the status becomes done or declined and cleared when it
	// leaves them. A theme that is not the project's (or merged) is
	// refused.
	UpdateFeedback(ctx context.Context, f FeedbackItem) (FeedbackItem, error)
	// DeleteFeedback deletes an item with its comments; duplicates merged
	// into it stay, unmerged.
	DeleteFeedback(ctx context.Context, projectID, id int64) error
	// MergeFeedback merges item dupID into intoID, in one transaction:
	// intoID gains dupID's votes and tags; dupID keeps its person and
	// accounts, takes intoID's theme and MergedInto, and loses its votes.
	// Merging into a merged item, or into itself, is ErrInvalid.
	MergeFeedback(ctx context.Context, projectID, dupID, intoID int64) (FeedbackItem, error)
	// AddFeedbackComment adds a note or reply; the item's first reply sets
	// its FirstResponseAt.
	AddFeedbackComment(ctx context.Context, c FeedbackComment) (FeedbackComment, error)
	// FeedbackComments lists an item's comments by time.
	FeedbackComments(ctx context.Context, projectID, itemID int64) ([]FeedbackComment, error)
	// FeedbackImpact reads up to limit items (newest first) for a ranking.
	FeedbackImpact(ctx context.Context, projectID int64, limit int) ([]FeedbackImpact, error)
	// SetFeedbackPersons records distinct ids' persons now (at most
	// MaxFeedbackBatch) on their items, and returns how many items changed.
	SetFeedbackPersons(ctx context.Context, projectID int64, persons []FeedbackPerson) (int, error)

	// CreateTheme stores a theme: an empty RevenueProperty is "mrr", an
	// empty Status new.
	CreateTheme(ctx context.Context, th Theme) (Theme, error)
	Theme(ctx context.Context, projectID, id int64) (Theme, error)
	// Themes lists the project's themes, merged ones too, by id.
	Themes(ctx context.Context, projectID int64) ([]Theme, error)
	// UpdateTheme replaces name, revenue property and status.
	UpdateTheme(ctx context.Context, th Theme) (Theme, error)
	// DeleteTheme deletes a theme; its items lose their theme.
	DeleteTheme(ctx context.Context, projectID, id int64) error
	// MergeThemes moves every item of fromID to intoID and marks fromID
	// merged into it, in one transaction. Merging into a merged theme, or
	// into itself, is ErrInvalid.
	MergeThemes(ctx context.Context, projectID, fromID, intoID int64) (Theme, error)
}
