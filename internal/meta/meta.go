// Package meta is the metadata store: projects, their keys and settings,
// cohorts, actions, users, dashboards. SQLite is the embedded database,
// PostgreSQL the scale-out one; both run one implementation
// (internal/meta/sqlmeta) over twin migrations.
package meta

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"time"
)

// Project is a tenant. Token is public (capture only); secret keys are kept
// only as hashes.
type Project struct {
	ID        int64     `json:"id"`
	Name      string    `json:"name"`
	Timezone  string    `json:"timezone"`
	Token     string    `json:"token"`
	CreatedAt time.Time `json:"created_at"`
}

// Store is what the rest of Journey needs from the metadata store.
type Store interface {
	// CreateProject creates a project and its first secret key, returned
	// in clear text this once.
	CreateProject(ctx context.Context, name, timezone string) (Project, string, error)
	// CreateKey adds a secret key to a project and returns it in clear text.
	CreateKey(ctx context.Context, projectID int64) (string, error)
	ProjectByToken(ctx context.Context, token string) (Project, error)
	ProjectBySecret(ctx context.Context, secret string) (Project, error)
	Project(ctx context.Context, id int64) (Project, error)
	Projects(ctx context.Context) ([]Project, error)
	// Setting returns a project setting (JSON), ErrNotFound when unset.
	Setting(ctx context.Context, projectID int64, key string) ([]byte, error)
	SetSetting(ctx context.Context, projectID int64, key string, value []byte) error
	// Cohorts are stored as JSON definitions; every call is scoped to a project.
	CreateCohort(ctx context.Context, projectID int64, name string, definition []byte) (Cohort, error)
	Cohort(ctx context.Context, projectID, id int64) (Cohort, error)
	Cohorts(ctx context.Context, projectID int64) ([]Cohort, error)
	UpdateCohort(ctx context.Context, projectID, id int64, name string, definition []byte) error
	DeleteCohort(ctx context.Context, projectID, id int64) error
	ActionStore
	FlagStore
	ExperimentStore
	CampaignStore
	SendStore
	CohortMemberStore
	SurveyStore // surveys.go
	// ConsumerPosition is the stored event-log position of a consumer
	// besides the loader (e.g. "campaigns"); ok is false when none is.
	ConsumerPosition(ctx context.Context, name string) (pos uint64, ok bool, err error)
	// SetConsumerPosition stores a consumer's position.
	SetConsumerPosition(ctx context.Context, name string, pos uint64) error
	UI
	FeedbackStore // feedback.go: the voice-of-customer inbox
	DeletionStore // deletions.go: persons' deletion jobs and metadata exports

	PersonalKeyStore // personalkeys.go: users' personal API keys
	AuditStore       // personalkeys.go: the audit log of admin actions
	DefinitionStore  // definitions.go: event and property definitions kept at ingest
	Close() error
}

// UI is what the web UI stores: users and their roles, sessions, project
// keys, saved insights and dashboards. Project-scoped calls take the
// project id and never reach another project's rows.
type UI interface {
	CountUsers(ctx context.Context) (int, error)
	// CreateUser returns ErrExists when the email is taken.
	CreateUser(ctx context.Context, email, passwordHash string, isAdmin bool) (User, error)
	UserByEmail(ctx context.Context, email string) (User, error)
	User(ctx context.Context, id int64) (User, error)
	SetPassword(ctx context.Context, userID int64, passwordHash string) error
	// SetMember gives a user a role in a project (replacing any other).
	SetMember(ctx context.Context, projectID, userID int64, role string) error
	RemoveMember(ctx context.Context, projectID, userID int64) error
	Members(ctx context.Context, projectID int64) ([]Member, error)
	// Role is the user's role in the project, ErrNotFound when none.
	Role(ctx context.Context, projectID, userID int64) (string, error)

	// Invites offer a role in a project to whoever holds an email; the
	// user with that email becomes a member only by accepting. Adding by
	// invite rather than by account keeps project admins from learning
	// which emails have accounts.
	//
	// CreateInvite invites an email (stored lower-case) to a project; a
	// pending invite of the same email to the same project is replaced.
	CreateInvite(ctx context.Context, projectID int64, email, role string, invitedBy int64) (Invite, error)
	// Invites lists a project's pending invites by email.
	Invites(ctx context.Context, projectID int64) ([]Invite, error)
	// InvitesFor lists the pending invites addressed to an email, with
	// their projects' names.
	InvitesFor(ctx context.Context, email string) ([]Invite, error)
	// DeleteInvite revokes a pending invite of the project.
	DeleteInvite(ctx context.Context, projectID, id int64) error
	// AcceptInvite makes userID a member with the invite's role and
	// deletes the invite, at once; ErrNotFound unless the invite exists
	// and is addressed to email.
	AcceptInvite(ctx context.Context, id int64, email string, userID int64) (Invite, error)
	// DeclineInvite deletes an invite addressed to email (ErrNotFound
	// otherwise).
	DeclineInvite(ctx context.Context, id int64, email string) error

	CreateSession(ctx context.Context, tokenHash string, userID int64, csrf string, expires time.Time) error
	// Session returns ErrNotFound for unknown and expired sessions.
	Session(ctx context.Context, tokenHash string) (Session, error)
	DeleteSession(ctx context.Context, tokenHash string) error

	Keys(ctx context.Context, projectID int64) ([]Key, error)
	DeleteKey(ctx context.Context, projectID, keyID int64) error

	CreateInsight(ctx context.Context, projectID int64, name string, spec []byte) (Insight, error)
	Insight(ctx context.Context, projectID, id int64) (Insight, error)
	Insights(ctx context.Context, projectID int64) ([]Insight, error)
	UpdateInsight(ctx context.Context, projectID, id int64, name string, spec []byte) (Insight, error)
	DeleteInsight(ctx context.Context, projectID, id int64) error

	CreateDashboard(ctx context.Context, d Dashboard) (Dashboard, error)
	Dashboard(ctx context.Context, projectID, id int64) (Dashboard, error)
	Dashboards(ctx context.Context, projectID int64) ([]Dashboard, error)
	// UpdateDashboard replaces name, range, refresh and tiles (not the share token).
	UpdateDashboard(ctx context.Context, d Dashboard) (Dashboard, error)
	DeleteDashboard(ctx context.Context, projectID, id int64) error
	// SetShareToken sets the dashboard's share token; "" revokes it.
	SetShareToken(ctx context.Context, projectID, id int64, token string) error
	DashboardByShareToken(ctx context.Context, token string) (Dashboard, error)
}

// Roles, from least to most allowed.
const (
	RoleViewer = "viewer"
	RoleMember = "member"
	RoleAdmin  = "admin"
)

// RoleRank orders roles; 0 for an unknown role.
func RoleRank(role string) int {
	switch role {
	case RoleViewer:
		return 1
	case RoleMember:
		return 2
	case RoleAdmin:
		return 3
	}
	return 0
}

// User is a person who logs in to the UI.
type User struct {
	ID           int64     `json:"id"`
	Email        string    `json:"email"`
	IsAdmin      bool      `json:"is_admin"`
	PasswordHash string    `json:"-"`
	CreatedAt    time.Time `json:"created_at"`
}

// Member is a user's role in one project.
type Member struct {
	UserID int64  `json:"user_id"`
	Email  string `json:"email"`
	Role   string `json:"role"`
}

// Invite is a pending offer of a role in a project to an email.
type Invite struct {
	ID          int64     `json:"id"`
	ProjectID   int64     `json:"project_id"`
	ProjectName string    `json:"project_name,omitempty"` // filled by InvitesFor
	Email       string    `json:"email"`
	Role        string    `json:"role"`
	InvitedBy   int64     `json:"-"`
	CreatedAt   time.Time `json:"created_at"`
}

// Session is a logged-in browser.
type Session struct {
	UserID    int64
	CSRF      string
	ExpiresAt time.Time
}

// Key is a project's secret key as listed (the key itself is never stored).
type Key struct {
	ID        int64     `json:"id"`
	CreatedAt time.Time `json:"created_at"`
}

// Insight is a saved query spec.
type Insight struct {
	ID        int64           `json:"id"`
	ProjectID int64           `json:"-"`
	Name      string          `json:"name"`
	Spec      json.RawMessage `json:"spec"`
	CreatedAt time.Time       `json:"created_at"`
	UpdatedAt time.Time       `json:"updated_at"`
}

// Dashboard is an arranged list of saved insights.
type Dashboard struct {
	ID             int64     `json:"id"`
	ProjectID      int64     `json:"-"`
	Name           string    `json:"name"`
	Range          string    `json:"range"`
	RefreshSeconds int       `json:"refresh_seconds"`
	Tiles          []Tile    `json:"tiles"`
	Shared         bool      `json:"shared"` // a share link exists: its token is shown once, only its hash is kept
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
}

// Tile places one insight on a dashboard; order in Tiles is the layout.
type Tile struct {
	InsightID int64 `json:"insight_id"`
	Width     int   `json:"width"` // 1 or 2 grid columns
}

// Cohort is a saved set of persons: static (distinct ids) or behavioural.
type Cohort struct {
	ID         int64           `json:"id"`
	ProjectID  int64           `json:"-"`
	Name       string          `json:"name"`
	Definition json.RawMessage `json:"definition"`
	CreatedAt  time.Time       `json:"created_at"`
}

// Action is a saved action, PostHog's named event matcher: Steps is the
// JSON list of its steps (insight.ActionStep), OR'd together.
type Action struct {
	ID          int64           `json:"id"`
	ProjectID   int64           `json:"-"`
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Steps       json.RawMessage `json:"steps"`
	CreatedAt   time.Time       `json:"created_at"`
	UpdatedAt   time.Time       `json:"updated_at"`
}

// ActionStore keeps a project's actions. Every call is scoped to a project; ids are never
// reused, so a query naming a deleted action fails instead of reading a
// newer one.
type ActionStore interface {
	CreateAction(ctx context.Context, a Action) (Action, error)
	Action(ctx context.Context, projectID, id int64) (Action, error)
	// Actions lists the project's actions by name.
	Actions(ctx context.Context, projectID int64) ([]Action, error)
	// UpdateAction replaces name, description and steps.
	UpdateAction(ctx context.Context, a Action) (Action, error)
	DeleteAction(ctx context.Context, projectID, id int64) error
}

// ErrNotFound is returned when a project, token or key does not exist.
var ErrNotFound = errors.New("not found")

// ErrExists is returned when a unique name (a user's email) is taken.
var ErrExists = errors.New("already exists")

// NewToken returns a random public project token.
func NewToken() string { return "jpt_" + randomHex(16) }

// NewShareToken returns a random token for a dashboard's share link.
func NewShareToken() string { return "jsh_" + randomHex(16) }

// NewSessionToken returns a random session cookie value (256 bits).
func NewSessionToken() string { return randomHex(32) }

// NewCSRFToken returns a random per-session CSRF token.
func NewCSRFToken() string { return randomHex(16) }

// NewSecret returns a random secret API key.
func NewSecret() string { return "jsk_" + randomHex(24) }

// HashSecret is how secret keys are stored. Keys are 192-bit random, so a
// plain SHA-256 is enough (no password stretching needed) and lets the key
// be found by its hash.
func HashSecret(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return hex.EncodeToString(b)
}

// ValidTimezone reports whether tz is a known IANA zone name.
func ValidTimezone(tz string) bool {
	if tz == "" {
		return false
	}
	_, err := time.LoadLocation(tz)
	return err == nil
}

// ErrConflict is returned when a write conflicts with what is stored: a
// unique key taken (a flag key, a layer name), a version that is not the
// one expected, or a field that can no longer change.
var ErrConflict = errors.New("conflict")

// ErrInvalid is returned when the store refuses a value (an unknown
// status, an empty key, too many rows at once).
var ErrInvalid = errors.New("invalid")

// FieldError is a refusal about one field of what was sent: Field is its
// JSON name, so an HTTP layer can mark it. It wraps ErrInvalid or
// ErrConflict.
type FieldError struct {
	Field string
	Msg   string
	Err   error
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

func (e *FieldError) Unwrap() error { return e.Err }

// Flag is a feature flag. Definition is the flag's PostHog JSON (filters,
// ensure_experience_continuity …), validated by package flags before it
// gets here; the store keeps it byte for byte.
type Flag struct {
	ID         int64           `json:"id"`
	ProjectID  int64           `json:"-"`
	Key        string          `json:"key"`
	Name       string          `json:"name"`
	Active     bool            `json:"active"`
	Definition json.RawMessage `json:"definition"`
	Version    int             `json:"version"`
	CreatedBy  int64           `json:"created_by"`
	UpdatedBy  int64           `json:"updated_by"`
	CreatedAt  time.Time       `json:"created_at"`
	UpdatedAt  time.Time       `json:"updated_at"`
}

// FlagVersion is one entry of a flag's history: the flag as it was after
// a change, who made it and when. Every change writes one, in the same
// transaction.
type FlagVersion struct {
	FlagID     int64           `json:"flag_id"`
	Version    int             `json:"version"`
	UserID     int64           `json:"user_id"`
	At         time.Time       `json:"at"`
	Action     string          `json:"action"` // FlagCreated, FlagUpdated or FlagDeleted
	Key        string          `json:"key"`
	Name       string          `json:"name"`
	Active     bool            `json:"active"`
	Definition json.RawMessage `json:"definition"`
}

// FlagVersion actions.
const (
	FlagCreated = "created"
	FlagUpdated = "updated"
	FlagDeleted = "deleted"
)

// MaxHashKeyPairs bounds one SetFlagHashKeys call: distinct ids × flag keys.
const MaxHashKeyPairs = 1000

// FlagStore keeps a project's feature flags, their history and the hash
// keys of experience continuity. Every call is scoped to a project; flag
// ids are never reused.
type FlagStore interface {
	// CreateFlag saves a new flag of f.ProjectID at version 1, by
	// f.CreatedBy. The key is unique among the project's flags that are
	// not deleted: a taken key is ErrConflict.
	CreateFlag(ctx context.Context, f Flag) (Flag, error)
	// UpdateFlag replaces key, name, active and definition of flag f.ID of
	// f.ProjectID, by f.UpdatedBy, and bumps its version. ErrConflict when
	// expectedVersion is not 0 and not the stored version (or the new key
	// is taken); ErrNotFound when the flag is absent or deleted.
	UpdateFlag(ctx context.Context, f Flag, expectedVersion int) (Flag, error)
	// DeleteFlag soft-deletes a flag: it is no longer read or listed, its
	// key can be reused, and its history is kept.
	DeleteFlag(ctx context.Context, projectID, id, userID int64) error
	// Flag returns a flag that is not deleted.
	Flag(ctx context.Context, projectID, id int64) (Flag, error)
	// Flags lists the project's flags that are not deleted, by key.
	Flags(ctx context.Context, projectID int64) ([]Flag, error)
	// FlagVersions is a flag's history, oldest first, deleted flags'
	// included; ErrNotFound when the project has no such flag.
	FlagVersions(ctx context.Context, projectID, id int64) ([]FlagVersion, error)
	// FlagsRevision is a per-project counter bumped, in the same
	// transaction, by every change to the project's flags (0 before the
	// first), for ETags and cache reloads: one indexed read.
	FlagsRevision(ctx context.Context, projectID int64) (int64, error)
	// SetFlagHashKeys records hashKey for every (distinct id, flag key)
	// pair that has none yet: the first bucket wins and is never
	// overwritten. More than MaxHashKeyPairs pairs is ErrInvalid.
	SetFlagHashKeys(ctx context.Context, projectID int64, distinctIDs []string, flagKeys []string, hashKey string) error
	// FlagHashKeys maps flag key → hash key for one distinct id (empty,
	// not nil, when none).
	FlagHashKeys(ctx context.Context, projectID int64, distinctID string) (map[string]string, error)
}

// Experiment statuses.
const (
	ExperimentDraft   = "draft"
	ExperimentRunning = "running"
	ExperimentStopped = "stopped"
)

// Experiment decisions ("" while undecided).
const (
	DecisionWon          = "won"
	DecisionLost         = "lost"
	DecisionInconclusive = "inconclusive"
)

// Experiment is an A/B test on a feature flag. Definition (variants,
// weights, metrics, layer …) is opaque here; Result is the result frozen
// when it stopped: once stored with status stopped it never changes.
type Experiment struct {
	ID             int64           `json:"id"`
	ProjectID      int64           `json:"-"`
	Name           string          `json:"name"`
	Hypothesis     string          `json:"hypothesis"`
	OwnerID        int64           `json:"owner_id"`
	FlagKey        string          `json:"flag_key"`
	Status         string          `json:"status"`
	Definition     json.RawMessage `json:"definition"`
	Stage          string          `json:"stage"` // the journey stage it targets, free text
	StartedAt      *time.Time      `json:"started_at"`
	StoppedAt      *time.Time      `json:"stopped_at"`
	Decision       string          `json:"decision"`
	ShippedVariant string          `json:"shipped_variant"`
	Result         json.RawMessage `json:"result"`
	Notes          string          `json:"notes"`
	Version        int             `json:"version"`
	CreatedAt      time.Time       `json:"created_at"`
	UpdatedAt      time.Time       `json:"updated_at"`
}

// ExperimentFilter selects experiments; zero fields select all. Text,
// Metric and Event match case-insensitively, as substrings (Metric and
// Event of the definition's JSON). Limit 0 is no limit.
type ExperimentFilter struct {
	Status  string
	Text    string // over name, hypothesis, notes and definition
	Outcome string // the decision
	Metric  string
	Event   string
	Limit   int
}

// ExperimentEvent is one entry of an experiment's timeline.
type ExperimentEvent struct {
	ExperimentID int64     `json:"experiment_id"`
	ProjectID    int64     `json:"-"`
	UserID       int64     `json:"user_id"`
	At           time.Time `json:"at"`
	Kind         string    `json:"kind"` // created, started, stopped, decided, note or edited
	Detail       string    `json:"detail"`
}

// Layer groups mutually exclusive experiments; membership and traffic
// shares live in the experiments' definitions.
type Layer struct {
	ID        int64     `json:"id"`
	ProjectID int64     `json:"-"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

// ExperimentStore keeps a project's experiments, their timelines and
// layers. Every call is scoped to a project; ids are never reused.
type ExperimentStore interface {
	// CreateExperiment saves a new experiment of e.ProjectID at version 1.
	// Status and Decision must be known ones (ErrInvalid); an empty
	// Status is draft.
	CreateExperiment(ctx context.Context, e Experiment) (Experiment, error)
	// UpdateExperiment replaces everything but id, project and creation
	// time, and bumps the version. ErrConflict when expectedVersion is not
	// 0 and not the stored version, and (as a *FieldError) when it would
	// change the frozen Result of a stopped experiment, or restart one.
	UpdateExperiment(ctx context.Context, e Experiment, expectedVersion int) (Experiment, error)
	Experiment(ctx context.Context, projectID, id int64) (Experiment, error)
	// Experiments lists the project's experiments that match f, newest
	// first.
	Experiments(ctx context.Context, projectID int64, f ExperimentFilter) ([]Experiment, error)
	// DeleteExperiment deletes an experiment and its timeline.
	DeleteExperiment(ctx context.Context, projectID, id int64) error
	// AddExperimentEvent appends to the timeline of experiment
	// ev.ExperimentID of ev.ProjectID (ErrNotFound when none); a zero At
	// is now.
	AddExperimentEvent(ctx context.Context, ev ExperimentEvent) error
	// ExperimentEvents is an experiment's timeline, by time.
	ExperimentEvents(ctx context.Context, projectID, id int64) ([]ExperimentEvent, error)
	// CreateLayer adds a layer; a name taken in the project is ErrConflict.
	CreateLayer(ctx context.Context, l Layer) (Layer, error)
	// Layers lists the project's layers by name.
	Layers(ctx context.Context, projectID int64) ([]Layer, error)
}

// Campaign kinds.
const (
	CampaignTriggered = "triggered" // a message per trigger event, after a wait
	CampaignBroadcast = "broadcast" // one message to a cohort, now or at a time
)

// Campaign statuses.
const (
	CampaignDraft   = "draft"
	CampaignActive  = "active"
	CampaignPaused  = "paused"
	CampaignStopped = "stopped"
)

// Campaign is a messaging campaign. Definition (trigger, goal, wait,
// holdout, channel, variants, audience rules) is opaque here, validated by
// package campaign; the store keeps it byte for byte. Secret is the
// channel's secret (a webhook's whsec_… key, an SMTP password): stored as
// given, so the sender can sign or log in, and never serialised (json:"-"),
// so a handler that writes a Campaign cannot leak it.
type Campaign struct {
	ID         int64           `json:"id"`
	ProjectID  int64           `json:"-"`
	Name       string          `json:"name"`
	Kind       string          `json:"kind"`   // CampaignTriggered or CampaignBroadcast
	Status     string          `json:"status"` // CampaignDraft, CampaignActive, CampaignPaused or CampaignStopped
	Definition json.RawMessage `json:"definition"`
	Secret     string          `json:"-"`
	Version    int             `json:"version"`
	CreatedBy  int64           `json:"created_by"`
	UpdatedBy  int64           `json:"updated_by"`
	CreatedAt  time.Time       `json:"created_at"`
	UpdatedAt  time.Time       `json:"updated_at"`
}

// CampaignStore keeps a project's campaigns. Every call is scoped to a
// project; ids are never reused.
type CampaignStore interface {
	// CreateCampaign saves a new campaign of c.ProjectID at version 1, by
	// c.CreatedBy, created (and updated) at c.CreatedAt when it is set (a
	// campaign with a history, such as the demo's), else now. An empty
	// Kind is triggered, an empty Status draft; unknown ones, an empty
	// Name and a Definition that is not JSON are ErrInvalid (as a
	// *FieldError).
	CreateCampaign(ctx context.Context, c Campaign) (Campaign, error)
	// UpdateCampaign replaces name, kind, status, definition and secret of
	// campaign c.ID of c.ProjectID, by c.UpdatedBy, and bumps its version.
	// The secret is replaced too: a caller that did not receive a new one
	// passes the stored one. ErrConflict when expectedVersion is not 0 and
	// not the stored version; ErrNotFound when the campaign is absent or
	// deleted.
	UpdateCampaign(ctx context.Context, c Campaign, expectedVersion int) (Campaign, error)
	// Campaign returns a campaign that is not deleted.
	Campaign(ctx context.Context, projectID, id int64) (Campaign, error)
	// Campaigns lists the project's campaigns that are not deleted, by id;
	// a status other than "" lists only those in that status.
	Campaigns(ctx context.Context, projectID int64, status string) ([]Campaign, error)
	// DeleteCampaign soft-deletes a campaign, by userID: it is no longer
	// read or listed, and its pending sends are cancelled in the same
	// transaction.
	DeleteCampaign(ctx context.Context, projectID, id, userID int64) error
	// CampaignsRevision is a per-project counter bumped, in the same
	// transaction, by every change to the project's campaigns (0 before the
	// first): a trigger engine polls it, one indexed read, and reloads the
	// campaigns only when it moved.
	CampaignsRevision(ctx context.Context, projectID int64) (int64, error)
}

// Send states. A send is scheduled pending; a sender claims it (sending,
// with a lease) and completes it (sent, failed, held_out or cancelled) or
// puts it back (pending, for a retry or later). Cancel and merges move
// pending sends to cancelled.
const (
	SendPending   = "pending"
	SendSending   = "sending"
	SendSent      = "sent"
	SendFailed    = "failed"   // given up after retries, or refused for good
	SendHeldOut   = "held_out" // a holdout's "would have sent", recorded when it would have been
	SendCancelled = "cancelled"
)

// Send arms.
const (
	ArmTreatment    = "treatment"
	ArmHoldout      = "holdout"       // the campaign's holdout share: never messaged
	ArmControlGroup = "control_group" // the project-wide control group: never messaged
)

// MaxSendBatch bounds one ScheduleSends call (sends), one ClaimDueSends
// call (limit), one CancelSends call (persons) and one CancelSendsByKey
// call (keys).
const MaxSendBatch = 1000

// ErrNotClaimed is returned when a sender completes, retries or defers a
// send it no longer holds: its lease ran out and another sender claimed
// the send, or the send is no longer being sent.
var ErrNotClaimed = errors.New("send not claimed by this owner")

// Send is one message of the durable schedule. Key is its idempotency key
// (built by the caller from campaign, person, trigger event and variant),
// unique in the whole store: scheduling a key twice keeps the first, and
// the key travels to the receiver (webhook-id, Message-ID, push topic) on
// every delivery and re-delivery. Payload is the rendered message, fixed
// at schedule time, so a re-delivery after a crash is the same message.
// Channel is the campaign's channel type (webhook, email, web_push …),
// which frequency caps count by. Times are to the millisecond; SentAt,
// NextAttemptAt and ClaimedUntil are zero when not set.
type Send struct {
	ID            int64           `json:"id"`
	Key           string          `json:"key"`
	ProjectID     int64           `json:"-"`
	CampaignID    int64           `json:"campaign_id"`
	PersonID      int64           `json:"person_id"`
	DistinctID    string          `json:"distinct_id"`
	Variant       string          `json:"variant"`
	TriggerUUID   string          `json:"trigger_uuid"`
	Channel       string          `json:"channel"`
	Arm           string          `json:"arm"` // ArmTreatment, ArmHoldout or ArmControlGroup
	DueAt         time.Time       `json:"due_at"`
	State         string          `json:"state"` // a Send* state
	Attempts      int             `json:"attempts"`
	NextAttemptAt time.Time       `json:"next_attempt_at"`
	LastError     string          `json:"last_error"`
	Payload       json.RawMessage `json:"payload"`
	CreatedAt     time.Time       `json:"created_at"`
	SentAt        time.Time       `json:"sent_at,omitzero"`
	ClaimedBy     string          `json:"claimed_by"`
	ClaimedUntil  time.Time       `json:"claimed_until,omitzero"`
}

// SendOutcome is how one claimed send ends, or goes back to wait, in a
// CompleteSends call.
type SendOutcome struct {
	ID    int64
	State string // sent, failed, held_out or cancelled; pending: back to wait
	// SentAt is when a sent or held_out send was (required for them).
	SentAt time.Time
	// NextAttemptAt is when a pending one is claimable again (required
	// for it); Attempt counts the failed attempt (a retry, not a
	// deferral).
	NextAttemptAt time.Time
	Attempt       bool
	LastError     string
}

// SendCount is how many sends of a campaign are in one state, per arm and
// variant.
type SendCount struct {
	Arm     string `json:"arm"`
	Variant string `json:"variant"`
	State   string `json:"state"`
	Count   int64  `json:"count"`
}

// SendStore is the durable schedule of campaign messages, shared by every
// replica: each key is scheduled once, and each claim is held by one
// sender at a time. Project-scoped calls never reach another project's
// sends; claims, completions and retries serve every project at once.
type SendStore interface {
	// ScheduleSends adds up to MaxSendBatch sends (more is ErrInvalid) as
	// pending, due at DueAt (NextAttemptAt, when zero, is DueAt), in one
	// transaction, and returns how many it inserted: a key already
	// scheduled (or repeated in the batch) is kept as first scheduled and
	// not counted, and so are sends of deleted campaigns. Every send needs
	// a key, a campaign of its project, a channel, a due time and JSON (or
	// empty) payload; State must be "" or pending and Arm "" (treatment)
	// or a known arm (ErrInvalid otherwise).
	ScheduleSends(ctx context.Context, sends []Send) (inserted int, err error)
	// ClaimDueSends atomically claims up to limit (at most MaxSendBatch)
	// sends that are pending with NextAttemptAt ≤ now, or sending with a
	// lease that ran out (ClaimedUntil ≤ now), earliest first: they become
	// sending, claimed by owner until now+lease. Two callers never claim
	// one send at once, on one database connection or many.
	ClaimDueSends(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]Send, error)
	// CompleteSend ends a claimed send as state (sent, failed, held_out or
	// cancelled) at sentAt (required for sent and held_out), with
	// lastError; sent and failed count an attempt. It succeeds while owner
	// holds the claim, even past the lease if nobody claimed the send
	// since; ErrNotClaimed otherwise, ErrNotFound for an unknown id.
	CompleteSend(ctx context.Context, id int64, owner, state string, sentAt time.Time, lastError string) error
	// RetrySend puts a claimed send back to pending for another attempt
	// at nextAttemptAt, counting the failed one and keeping lastError;
	// ErrNotClaimed and ErrNotFound as CompleteSend.
	RetrySend(ctx context.Context, id int64, owner string, nextAttemptAt time.Time, lastError string) error
	// DeferSend puts a claimed send back to pending until nextAttemptAt
	// without counting an attempt (quiet hours, a rate limit, a paused
	// campaign); ErrNotClaimed and ErrNotFound as CompleteSend.
	DeferSend(ctx context.Context, id int64, owner string, nextAttemptAt time.Time) error
	// CompleteSends applies up to MaxSendBatch outcomes of sends that
	// owner holds at once (a sender's whole claim), in one transaction,
	// and returns the ids it applied, in no order. An outcome of state
	// sent, failed, held_out or cancelled ends its send as CompleteSend
	// does; one of state pending puts it back until NextAttemptAt, as
	// RetrySend (Attempt: the failed attempt counted, LastError stored) or
	// DeferSend (no attempt, the last error unchanged) do. A send that
	// owner does not hold (done, or claimed by another since its lease ran
	// out) or that does not exist is left as it is and not returned. An
	// outcome CompleteSend, RetrySend or DeferSend would refuse, or an id
	// given twice, is ErrInvalid and nothing is applied.
	CompleteSends(ctx context.Context, owner string, outcomes []SendOutcome) (applied []int64, err error)
	// CancelSends cancels the pending sends of the campaign (of every
	// campaign of the project when campaignID is 0) to up to MaxSendBatch
	// persons, recording reason as their last error (a goal reached, a
	// merged person who bought), and returns how many. Sends being sent
	// are left to their sender.
	CancelSends(ctx context.Context, projectID, campaignID int64, personIDs []int64, reason string) (int, error)
	// CancelSendsByKey cancels the campaign's pending sends of up to
	// MaxSendBatch keys (the ones a goal event converts) with reason and
	// returns how many; sends of other campaigns or projects, and sends
	// being sent or done, are left as they are.
	CancelSendsByKey(ctx context.Context, projectID, campaignID int64, keys []string, reason string) (int, error)
	// CancelCampaignSends cancels every pending send of the campaign.
	CancelCampaignSends(ctx context.Context, projectID, campaignID int64, reason string) (int, error)
	// MoveSends gives every send of fromPersonID to toPersonID (an
	// identity merge), keys unchanged, in one transaction; a pending send
	// that then duplicates another of the person for the same campaign and
	// trigger event (same TriggerUUID) is cancelled: one that is sending or
	// done wins, else the earliest scheduled. It returns how many sends
	// moved and how many it cancelled.
	MoveSends(ctx context.Context, projectID, fromPersonID, toPersonID int64) (moved, cancelled int, err error)
	// Send returns one send of the project; SendByKey finds it by key.
	Send(ctx context.Context, projectID, id int64) (Send, error)
	SendByKey(ctx context.Context, projectID int64, key string) (Send, error)
	// SendsForPerson lists a person's sends, in every state, by id.
	SendsForPerson(ctx context.Context, projectID, personID int64) ([]Send, error)
	// CountSends counts a campaign's sends by arm, variant and state, in
	// that order.
	CountSends(ctx context.Context, projectID, campaignID int64) ([]SendCount, error)
	// LastSentAt is when the person was last sent a message on channel
	// (on any channel when ""), at or after since; zero when never.
	LastSentAt(ctx context.Context, projectID, personID int64, channel string, since time.Time) (time.Time, error)
	// Unsubscribe records that address (as the channel's sender
	// normalises it: an email lower-cased, a push endpoint as is) wants no
	// more messages on channel from the project; repeating it is no error.
	Unsubscribe(ctx context.Context, projectID int64, channel, address string) error
	IsUnsubscribed(ctx context.Context, projectID int64, channel, address string) (bool, error)
}
