package campaign

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/journey-dev/journey/internal/channel"
	"github.com/journey-dev/journey/internal/event"
	"github.com/journey-dev/journey/internal/eventlog"
	"github.com/journey-dev/journey/internal/insight"
	"github.com/journey-dev/journey/internal/meta"
	"github.com/journey-dev/journey/internal/store"
)

// The trigger engine (SPEC §6, issue 15 item 2) is a second consumer of
// the event log, beside the loader. It reads the log from a checkpoint of
// its own, kept durably in the metadata store, and only entries the loader
// has already applied (so every distinct id resolves to its person in the
// event store). For each event that matches an active campaign's trigger
// it decides the person's arm and variant, the due time and the message,
// rendered now, and schedules the send under its idempotency key; for each
// goal event it cancels the person's pending sends that the goal makes
// pointless. Re-reading after a restart is safe: ScheduleSends keeps the
// first send of a key, so no trigger is dropped and none doubled. The
// loader trims the log only up to the engine's stored checkpoint
// (loader.SetTrimFloor(engine.Position)).

var (
	engineEvents    = metrics.NewCounter("journey_campaign_engine_events_total")
	engineScheduled = metrics.NewCounter("journey_campaign_scheduled_total")
	engineCancelled = metrics.NewCounter("journey_campaign_goal_cancelled_total")
	engineErrors    = metrics.NewCounter("journey_campaign_engine_errors_total")
)

// Events a campaign emits into its project (through the capture path, so
// funnels, cohorts and reports read them like any other event).
const (
	EventSent          = "$message_sent"
	EventDelivered     = "$message_delivered"
	EventFailed        = "$message_failed"
	EventClicked       = "$message_clicked"
	EventWouldHaveSent = "$message_would_have_sent"
)

// Properties of the emitted events.
const (
	PropCampaignID  = "campaign_id"
	PropVariant     = "variant"
	PropKey         = "key"
	PropTriggerUUID = "trigger_uuid"
	PropArm         = "arm"
	PropChannel     = "channel"
)

// ControlGroupSetting is the project setting of the project-wide control
// group that no campaign messages: {"percent": 5}.
const ControlGroupSetting = "campaigns.control_group"

// Payload is what a scheduled send carries (meta.Send.Payload): the
// message rendered when it was scheduled, so every attempt, and every
// re-delivery after a crash, sends the same message; and what the sender
// checks at send time (the trigger's time and item, for goals reached
// meanwhile, possibly under another distinct id of a merged person).
type Payload struct {
	Subject string `json:"subject,omitempty"`
	Body    string `json:"body,omitempty"`
	// URL is the click URL, the tracking redirect /c/{token}; "" when the
	// variant has no URL.
	URL string `json:"url,omitempty"`
	// Target is where a click goes: the variant's URL, rendered. The
	// redirect never goes anywhere else.
	Target string `json:"target,omitempty"`
	// Click is the random part of the click token.
	Click string `json:"click,omitempty"`
	// To is an email's recipient (the person's email property) and
	// Unsubscribe its one-click unsubscribe URL (/u/{token}).
	To          string `json:"to,omitempty"`
	Unsubscribe string `json:"unsubscribe,omitempty"`
	// Push is a Web Push's subscription (the person's
	// $web_push_subscription property).
	Push *channel.PushSubscription `json:"push,omitempty"`
	// TriggerEvent and TriggerAt are the trigger's name and time.
	TriggerEvent string    `json:"trigger_event"`
	TriggerAt    time.Time `json:"trigger_at"`
	// Match is the goal's match property and Item the trigger's value of
	// it (its text, as goals are matched: the same item).
	Match string `json:"match,omitempty"`
	Item  string `json:"item,omitempty"`
	// IDs digests the person's distinct ids and Goal the campaign's goal
	// when the send was scheduled, and Recheck says the engine may have
	// processed a converting goal before: the sender reads the person's
	// events for the goal only when one of them says so (goals.go).
	IDs     string `json:"ids,omitempty"`
	Goal    string `json:"goal,omitempty"`
	Recheck bool   `json:"recheck,omitempty"`
}

// ParsePayload decodes a send's payload.
func ParsePayload(b []byte) (Payload, error) {
	var p Payload
	if len(b) == 0 {
		return p, errors.New("empty payload")
	}
	err := json.Unmarshal(b, &p)
	return p, err
}

// ClickToken is the token of a send's click URL: the project, the send's
// key and its random click nonce. Keys and nonces hold no ".", so the
// token splits back unambiguously (ParseClickToken).
func ClickToken(projectID int64, key, nonce string) string {
	return strconv.FormatInt(projectID, 10) + "." + key + "." + nonce
}

// ParseClickToken splits a click token; ok is false when it is not one.
func ParseClickToken(token string) (projectID int64, key, nonce string, ok bool) {
	p, rest, ok1 := strings.Cut(token, ".")
	i := strings.LastIndexByte(rest, '.')
	if !ok1 || i <= 0 || i == len(rest)-1 {
		return 0, "", "", false
	}
	id, err := strconv.ParseInt(p, 10, 64)
	if err != nil || id <= 0 {
		return 0, "", "", false
	}
	key, nonce = rest[:i], rest[i+1:]
	if !channel.ValidKey(key) || !channel.ValidKey(nonce) {
		return 0, "", "", false
	}
	return id, key, nonce, true
}

func newNonce() string {
	b := make([]byte, 16)
	rand.Read(b) // crypto/rand.Read never fails
	return base64.RawURLEncoding.EncodeToString(b)
}

// Live is a campaign as the engine and the sender use it: its row and its
// parsed definition (with the channel's secret put back).
type Live struct {
	Meta meta.Campaign
	Def  *Definition
}

// Decode parses a stored campaign's definition (validated, durations
// filled) and puts its secret back into the channel.
func Decode(c meta.Campaign) (*Live, error) {
	d, err := Parse(c.Definition)
	if err != nil {
		return nil, fmt.Errorf("campaign %d: stored definition: %w", c.ID, err)
	}
	d.Channel.Secret = c.Secret
	d.Name, d.Status, d.Kind = c.Name, c.Status, c.Kind
	return &Live{Meta: c, Def: d}, nil
}

// Campaigns caches the campaigns of every project, reloading a project's
// when its CampaignsRevision moved (one indexed read), for the engine and
// the sender of one process.
type Campaigns struct {
	Meta meta.Store
	// MaxAge is how long a project's campaigns are used without reading
	// the revision again; default 1 s.
	MaxAge time.Duration

	mu       sync.Mutex
	projects map[int64]*projectCampaigns
}

type projectCampaigns struct {
	mu        sync.Mutex
	rev       int64
	loaded    bool
	checkedAt time.Time // when the revision was last read
	loadedAt  time.Time // when the campaigns were last read
	byID      map[int64]*Live
	broken    map[int64]error    // campaigns whose stored definition does not decode
	triggers  map[string][]*Live // active triggered campaigns by trigger event
	goals     map[string][]*Live // active triggered campaigns by goal event
	control   float64            // the project's control-group share
	loc       *time.Location
}

func (cs *Campaigns) project(id int64) *projectCampaigns {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.projects == nil {
		cs.projects = map[int64]*projectCampaigns{}
	}
	p := cs.projects[id]
	if p == nil {
		p = &projectCampaigns{}
		cs.projects[id] = p
	}
	return p
}

// fresh returns the project's campaigns as of a time at or after
// asOf: read again when the cache was checked before asOf, or more than
// MaxAge ago. A campaign committed before an event was received is
// therefore always seen when that event is processed.
func (cs *Campaigns) fresh(ctx context.Context, projectID int64, asOf time.Time) (*projectCampaigns, error) {
	p := cs.project(projectID)
	p.mu.Lock()
	defer p.mu.Unlock()
	maxAge := cs.MaxAge
	if maxAge <= 0 {
		maxAge = time.Second
	}
	now := time.Now()
	if p.loaded && !p.checkedAt.Before(asOf) && now.Sub(p.checkedAt) < maxAge {
		return p, nil
	}
	rev, err := cs.Meta.CampaignsRevision(ctx, projectID)
	if err != nil {
		return nil, err
	}
	// Unchanged campaigns are read again now and then all the same: the
	// project's time zone and control group are not counted by the
	// revision.
	if p.loaded && rev == p.rev && now.Sub(p.loadedAt) < 30*time.Second {
		p.checkedAt = now
		return p, nil
	}
	if err := cs.reload(ctx, projectID, p); err != nil {
		return nil, err
	}
	p.rev, p.loaded, p.checkedAt, p.loadedAt = rev, true, now, now
	return p, nil
}

// reload reads the project's campaigns (every status: the sender needs
// paused ones too), its time zone and its control group.
func (cs *Campaigns) reload(ctx context.Context, projectID int64, p *projectCampaigns) error {
	list, err := cs.Meta.Campaigns(ctx, projectID, "")
	if err != nil {
		return err
	}
	byID, broken := map[int64]*Live{}, map[int64]error{}
	triggers, goals := map[string][]*Live{}, map[string][]*Live{}
	for _, c := range list {
		l, err := Decode(c)
		if err != nil {
			slog.Warn("campaign skipped", "project", projectID, "campaign", c.ID, "err", err)
			broken[c.ID] = err
			continue
		}
		byID[c.ID] = l
		if c.Status == meta.CampaignStopped || l.Def.Kind != KindTriggered || l.Def.Trigger == nil || l.Def.Trigger.Event == "" {
			continue
		}
		// Goals of paused campaigns too: their sends wait, and the
		// sender relies on the engine to cancel converted ones.
		if l.Def.Goal != nil {
			goals[l.Def.Goal.Event] = append(goals[l.Def.Goal.Event], l)
		}
		if c.Status == meta.CampaignActive {
			triggers[l.Def.Trigger.Event] = append(triggers[l.Def.Trigger.Event], l)
		}
	}
	proj, err := cs.Meta.Project(ctx, projectID)
	if err != nil {
		return err
	}
	loc := insight.ZoneOf(proj.Timezone)
	if loc == nil {
		loc = time.UTC
	}
	control := 0.0
	if raw, err := cs.Meta.Setting(ctx, projectID, ControlGroupSetting); err == nil {
		var v struct {
			Percent float64 `json:"percent"`
		}
		if json.Unmarshal(raw, &v) == nil && v.Percent > 0 && v.Percent < 100 {
			control = v.Percent / 100
		}
	} else if !errors.Is(err, meta.ErrNotFound) {
		return err
	}
	p.byID, p.broken, p.triggers, p.goals, p.loc, p.control = byID, broken, triggers, goals, loc, control
	return nil
}

// Get returns one campaign of the project (any status), at most MaxAge
// old; meta.ErrNotFound when it does not exist or was deleted, the
// decoding error when its stored definition does not decode (its sends
// then wait rather than being cancelled).
func (cs *Campaigns) Get(ctx context.Context, projectID, id int64) (*Live, *time.Location, error) {
	l, loc, err := cs.get(ctx, projectID, id, time.Time{})
	if errors.Is(err, meta.ErrNotFound) {
		// Perhaps created on another replica since the cache was read
		// (a broadcast's sends come at once): a deletion is believed
		// only from a cache read now.
		l, loc, err = cs.get(ctx, projectID, id, time.Now())
	}
	return l, loc, err
}

func (cs *Campaigns) get(ctx context.Context, projectID, id int64, asOf time.Time) (*Live, *time.Location, error) {
	p, err := cs.fresh(ctx, projectID, asOf)
	if err != nil {
		return nil, nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	l := p.byID[id]
	if l == nil {
		if err := p.broken[id]; err != nil {
			return nil, nil, err
		}
		return nil, nil, meta.ErrNotFound
	}
	return l, p.loc, nil
}

// Invalidate drops a project's cache (after this process changed a
// campaign, so that it sees the change at once).
func (cs *Campaigns) Invalidate(projectID int64) {
	p := cs.project(projectID)
	p.mu.Lock()
	p.loaded = false
	p.mu.Unlock()
}

// Checkpoints keep the engine's log position durably.
type Checkpoints interface {
	// Load returns the stored position; ok is false when none is.
	Load(ctx context.Context) (pos uint64, ok bool, err error)
	Save(ctx context.Context, pos uint64) error
}

// EngineConsumer is the engine's name among the log's consumers.
const EngineConsumer = "campaigns"

// MetaCheckpoints keeps the engine's checkpoint in the metadata store
// (its row of log_consumers).
type MetaCheckpoints struct {
	Meta meta.Store
}

func (m *MetaCheckpoints) Load(ctx context.Context) (uint64, bool, error) {
	return m.Meta.ConsumerPosition(ctx, EngineConsumer)
}

func (m *MetaCheckpoints) Save(ctx context.Context, pos uint64) error {
	return m.Meta.SetConsumerPosition(ctx, EngineConsumer, pos)
}

// EngineConfig configures an Engine.
type EngineConfig struct {
	Log    eventlog.Log
	Meta   meta.Store
	Events store.Store
	// Campaigns is the process's campaign cache (shared with the sender).
	Campaigns *Campaigns
	// WaitApplied blocks until the loader has applied the log up to pos
	// (loader.WaitFor).
	WaitApplied func(ctx context.Context, pos uint64) error
	// Applied, when set, is how far the loader has applied the log
	// (loader.Position): the engine then processes what the loader has
	// applied as soon as it has, rather than waiting for everything it
	// read to be applied (which may take the loader's next write).
	Applied func() uint64
	// Start is where to go on from when the engine's position is no
	// longer in the log (trimmed while the engine was off): the loader's
	// checkpoint (store.Checkpoint).
	Start func(ctx context.Context) (uint64, error)
	// Checkpoints keep the position (default MetaCheckpoints on Meta).
	Checkpoints Checkpoints
	// PublicURL is the server's public base URL (http://host:port), the
	// base of click URLs.
	PublicURL string
	// MaxBytes bounds one read of the log (default 4 MiB).
	MaxBytes int
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Engine turns trigger and goal events of the log into scheduled and
// cancelled sends.
type Engine struct {
	cfg EngineConfig
	// stored is the checkpoint stored (0 until the first is read): what
	// the log may be trimmed up to.
	stored  atomic.Uint64
	started atomic.Bool

	hoursMu sync.Mutex
	hours   map[hoursKey]hoursEntry // project engagement histograms (best time fallback)

	goals goalCache // goals processed, for sends scheduled after them
}

type hoursKey struct {
	project int64
	zone    string
}

type hoursEntry struct {
	hist [24]float64
	at   time.Time
}

// NewEngine returns an engine; Run starts it.
func NewEngine(cfg EngineConfig) *Engine {
	if cfg.Checkpoints == nil {
		cfg.Checkpoints = &MetaCheckpoints{Meta: cfg.Meta}
	}
	if cfg.Campaigns == nil {
		cfg.Campaigns = &Campaigns{Meta: cfg.Meta}
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = 4 << 20
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Engine{cfg: cfg, hours: map[hoursKey]hoursEntry{}}
}

// Position is the engine's stored checkpoint: the log may be trimmed up
// to it. 0 until the engine has read it (nothing may be trimmed yet).
func (e *Engine) Position() uint64 {
	if !e.started.Load() {
		return 0
	}
	return e.stored.Load()
}

// Run processes the log until ctx is done, retrying failures after a
// pause from the stored checkpoint.
func (e *Engine) Run(ctx context.Context) error {
	for {
		err := e.run(ctx)
		if ctx.Err() != nil || errors.Is(err, eventlog.ErrClosed) {
			return nil
		}
		engineErrors.Inc()
		slog.Error("campaign engine failed; retrying", "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
}

// trimmedAway reports whether err says the position was trimmed from the
// log (the file log's and JetStream's words): the engine was off while the
// loader trimmed, and can only go on from where the log starts now.
func trimmedAway(err error) bool {
	s := err.Error()
	return strings.Contains(s, "before the oldest segment") || strings.Contains(s, "were trimmed or deleted")
}

func (e *Engine) run(ctx context.Context) error {
	// Without a stored checkpoint (a first start, or none stored yet
	// because no project existed), the engine reads the log from its
	// start: what it holds was captured before any campaign existed or
	// after, and campaigns act only on what was captured after they were
	// created, so replaying it is harmless, and skipping it could drop
	// triggers loaded while the engine was not running.
	pos, had, err := e.cfg.Checkpoints.Load(ctx)
	if err != nil {
		return fmt.Errorf("cannot read the campaign engine's checkpoint: %w", err)
	}
	if err := e.goals.load(ctx, e.cfg.Meta, had, e.cfg.Now()); err != nil {
		return err
	}
	e.stored.Store(pos)
	e.started.Store(true)
	// read holds entries read but not processed yet (contiguous from pos):
	// those the loader had not applied.
	var read []eventlog.Entry
	for {
		if len(read) == 0 {
			entries, err := e.cfg.Log.Read(ctx, pos, e.cfg.MaxBytes)
			if err != nil {
				if ctx.Err() == nil && trimmedAway(err) {
					start, serr := e.cfg.Start(ctx)
					if serr == nil && start > pos {
						slog.Warn("campaign engine: its checkpoint was trimmed from the event log (it was not running); triggers in between are skipped",
							"from", pos, "to", start)
						pos = start
						continue
					}
				}
				return err
			}
			if len(entries) == 0 {
				continue
			}
			read = entries
		}
		// Only what the loader applied: persons resolve in the store.
		entries, err := e.applied(ctx, read)
		if err != nil {
			return err
		}
		read = read[len(entries):]
		if err := e.Process(ctx, entries); err != nil {
			return err
		}
		pos = entries[len(entries)-1].Next
		// Stored even when ctx ends meanwhile (bounded): what was
		// processed need not be processed again.
		save, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		err = e.goals.save(save, e.cfg.Meta)
		if err == nil {
			err = e.cfg.Checkpoints.Save(save, pos)
		}
		cancel()
		if err != nil {
			return fmt.Errorf("cannot store the campaign engine's checkpoint: %w", err)
		}
		e.stored.Store(pos)
	}
}

// applied waits until the loader has applied the first of entries and
// returns those it has applied, at least that one (all of them, waited
// for, without Applied).
func (e *Engine) applied(ctx context.Context, entries []eventlog.Entry) ([]eventlog.Entry, error) {
	if e.cfg.Applied == nil {
		return entries, e.cfg.WaitApplied(ctx, entries[len(entries)-1].Next)
	}
	if err := e.cfg.WaitApplied(ctx, entries[0].Next); err != nil {
		return nil, err
	}
	upTo := e.cfg.Applied()
	n := sort.Search(len(entries), func(i int) bool { return entries[i].Next > upTo })
	return entries[:max(1, n)], nil
}

// batch is the work of one Process call.
type batch struct {
	e       *Engine
	ctx     context.Context
	now     time.Time
	pending []meta.Send
	persons map[personKey]*resolved
	// last is the latest trigger scheduled per campaign and person in
	// this batch (re-eligibility before the sends are stored).
	last map[[2]int64]time.Time
}

type personKey struct {
	project int64
	id      string
}

type resolved struct {
	person store.Person
	found  bool
	ids    []string // the person's distinct ids
}

// Process applies entries the loader has applied: it schedules the sends
// their trigger events call for and cancels those their goal events make
// pointless. It is idempotent (keys), so entries may be processed again.
//
// The persons of every trigger and goal event of the entries are resolved
// first, per project in one event-store query (PersonsByDistinctIDs):
// one lookup per event was what bounded the engine's rate (issue 15,
// performance).
func (e *Engine) Process(ctx context.Context, entries []eventlog.Entry) error {
	b := &batch{e: e, ctx: ctx, now: e.cfg.Now(), persons: map[personKey]*resolved{}, last: map[[2]int64]time.Time{}}
	views := make([]*entryView, len(entries))
	wanted := map[int64][]string{}
	for i, en := range entries {
		v, err := b.view(en.Batch)
		if err != nil {
			return err
		}
		views[i] = v
		if v != nil {
			wanted[en.Batch.ProjectID] = v.persons(en.Batch, wanted[en.Batch.ProjectID])
		}
	}
	for projectID, ids := range wanted {
		if err := b.resolveAll(projectID, ids); err != nil {
			return err
		}
	}
	for i, en := range entries {
		if views[i] != nil {
			if err := b.entry(en.Batch, views[i]); err != nil {
				return err
			}
		}
	}
	return b.flush()
}

// entryView is what one log entry's project has for the engine: its
// active triggers and goals by event, time zone and control group.
type entryView struct {
	triggers, goals map[string][]*Live
	loc             *time.Location
	control         float64
}

// view reads the campaigns of an entry's project as of its newest event;
// nil when the project has no triggers or goals (or no longer exists).
func (b *batch) view(rb event.RawBatch) (*entryView, error) {
	var newest time.Time
	for i := range rb.Events {
		if r := rb.Events[i].ReceivedAt; r.After(newest) {
			newest = r
		}
	}
	pc, err := b.e.cfg.Campaigns.fresh(b.ctx, rb.ProjectID, newest)
	if err != nil {
		if errors.Is(err, meta.ErrNotFound) {
			return nil, nil // no such project: nothing to trigger
		}
		return nil, fmt.Errorf("cannot read the campaigns of project %d: %w", rb.ProjectID, err)
	}
	pc.mu.Lock()
	v := &entryView{triggers: pc.triggers, goals: pc.goals, loc: pc.loc, control: pc.control}
	pc.mu.Unlock()
	if len(v.triggers) == 0 && len(v.goals) == 0 {
		return nil, nil
	}
	return v, nil
}

// persons appends the distinct ids of the entry's events that a trigger
// or goal may need resolved.
func (v *entryView) persons(rb event.RawBatch, ids []string) []string {
	for i := range rb.Events {
		ev := &rb.Events[i]
		if ev.NoPerson || ev.DistinctID == "" || (len(v.triggers[ev.Event]) == 0 && len(v.goals[ev.Event]) == 0) {
			continue
		}
		ids = append(ids, ev.DistinctID)
	}
	return ids
}

// resolveAll resolves a project's distinct ids into the batch's persons,
// MaxDistinctIDs per query; ids not found are remembered as such.
func (b *batch) resolveAll(projectID int64, ids []string) error {
	todo := make([]string, 0, len(ids))
	for _, id := range ids {
		k := personKey{projectID, id}
		if _, ok := b.persons[k]; !ok {
			b.persons[k] = nil // queued; filled below
			todo = append(todo, id)
		}
	}
	for len(todo) > 0 {
		n := min(len(todo), store.MaxDistinctIDs)
		found, err := b.e.cfg.Events.PersonsByDistinctIDs(b.ctx, projectID, todo[:n])
		if err != nil {
			return fmt.Errorf("cannot resolve %d distinct ids of project %d: %w", n, projectID, err)
		}
		for _, id := range todo[:n] {
			r, ok := found[id]
			b.persons[personKey{projectID, id}] = &resolved{person: r.Person, found: ok, ids: r.DistinctIDs}
		}
		todo = todo[n:]
	}
	return nil
}

func (b *batch) entry(rb event.RawBatch, v *entryView) error {
	triggers, goals, loc, control := v.triggers, v.goals, v.loc, v.control
	for i := range rb.Events {
		ev := &rb.Events[i]
		ts, gs := triggers[ev.Event], goals[ev.Event]
		if len(ts) == 0 && len(gs) == 0 {
			continue
		}
		engineEvents.Inc()
		props := decodeProps(ev.Properties)
		// A goal before a trigger of the same event: goals cancel sends
		// scheduled so far, so this event's own trigger comes after.
		for _, l := range gs {
			if err := b.goal(rb.ProjectID, l, ev, props); err != nil {
				return err
			}
		}
		for _, l := range ts {
			if err := b.trigger(rb.ProjectID, l, ev, props, loc, control); err != nil {
				return err
			}
		}
	}
	return nil
}

// decodeProps decodes event properties, numbers as json.Number (as filter
// values are).
func decodeProps(raw json.RawMessage) map[string]any {
	props := map[string]any{}
	if len(raw) == 0 {
		return props
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	_ = dec.Decode(&props)
	return props
}

func (b *batch) person(projectID int64, distinctID string) (*resolved, error) {
	k := personKey{projectID, distinctID}
	if r := b.persons[k]; r != nil {
		return r, nil
	}
	p, ids, err := b.e.cfg.Events.PersonByDistinctID(b.ctx, projectID, distinctID)
	r := &resolved{person: p, found: err == nil, ids: ids}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("cannot resolve distinct id %q: %w", distinctID, err)
	}
	b.persons[k] = r
	return r, nil
}

// trigger schedules the send of one trigger event for one campaign.
func (b *batch) trigger(projectID int64, l *Live, ev *event.Raw, props map[string]any, loc *time.Location, control float64) error {
	d, c := l.Def, l.Meta
	// A campaign acts on what was captured after it was created, and on
	// triggers whose goal window is still open (not on history replayed
	// from the log or imported).
	if ev.NoPerson || ev.DistinctID == "" || ev.ReceivedAt.Before(c.CreatedAt.Add(-time.Second)) {
		return nil
	}
	within := DefaultAttributionDur
	if d.Goal != nil {
		within = d.Goal.WithinDur
	}
	if b.now.Sub(ev.Timestamp) > within {
		return nil
	}
	item := ""
	if d.Goal != nil && d.Goal.Match != "" {
		v, ok := props[d.Goal.Match]
		if !ok || v == nil {
			return nil // a trigger without the matched property does not trigger
		}
		item = insight.ValueString(v)
	}
	r, err := b.person(projectID, ev.DistinctID)
	if err != nil || !r.found {
		return err
	}
	person := r.person
	if !MatchFilters(d.Trigger.Filters, props, person.Properties) {
		return nil
	}
	// Re-eligibility: the person's last scheduled trigger of the campaign.
	if after := d.Audience.ReeligibleAfterDur; after > 0 {
		last, err := b.lastTrigger(projectID, c.ID, person.ID)
		if err != nil {
			return err
		}
		if !Reeligible(last, ev.Timestamp, after) {
			return nil
		}
	}
	pid, cid, who := strconv.FormatInt(projectID, 10), strconv.FormatInt(c.ID, 10), strconv.FormatInt(person.ID, 10)
	arm := Assign(pid, cid, who, d.Holdout, control)
	v := d.Variant(pid, cid, who)
	if v == nil {
		return nil
	}
	tz := Zone(stringProp(person.Properties, "$timezone"), loc)
	due, err := b.dueAt(projectID, d, person.ID, ev.Timestamp, tz)
	if err != nil {
		return err
	}
	due = d.Audience.QuietHours.SendAt(due, tz)
	key := channel.NewKey(c.ID, person.ID, ev.UUID, v.Name)
	payload := b.e.render(projectID, l, v, key, ev, props, person, item)
	payload.IDs, payload.Goal = IDsDigest(r.ids), GoalSig(d)
	payload.Recheck = d.Goal != nil && b.e.goals.mayConvert(projectID, c.ID, ev.DistinctID, r.ids, ev.Timestamp)
	raw, err := json.Marshal(payload)
	if err != nil {
		return err
	}
	b.pending = append(b.pending, meta.Send{
		Key: key, ProjectID: projectID, CampaignID: c.ID, PersonID: person.ID, DistinctID: ev.DistinctID,
		Variant: v.Name, TriggerUUID: ev.UUID, Channel: d.Channel.Type, Arm: string(arm), DueAt: due, Payload: raw,
	})
	b.last[[2]int64{c.ID, person.ID}] = ev.Timestamp
	if len(b.pending) >= meta.MaxSendBatch {
		return b.flush()
	}
	return nil
}

// DefaultAttributionDur is DefaultAttribution as a duration.
const DefaultAttributionDur = 72 * time.Hour

// lastTrigger is when the person's last scheduled trigger of the
// campaign happened (zero: never), this batch's included.
func (b *batch) lastTrigger(projectID, campaignID, personID int64) (time.Time, error) {
	last := b.last[[2]int64{campaignID, personID}]
	sends, err := b.e.cfg.Meta.SendsForPerson(b.ctx, projectID, personID)
	if err != nil {
		return time.Time{}, err
	}
	for _, s := range sends {
		if s.CampaignID != campaignID {
			continue
		}
		t := s.CreatedAt
		if p, err := ParsePayload(s.Payload); err == nil && !p.TriggerAt.IsZero() {
			t = p.TriggerAt
		}
		if t.After(last) {
			last = t
		}
	}
	return last, nil
}

// dueAt is when the message is due: the trigger plus the delay, or the
// person's best time at least the minimum delay after it.
func (b *batch) dueAt(projectID int64, d *Definition, personID int64, trigger time.Time, tz *time.Location) (time.Time, error) {
	w := d.Wait
	if !w.BestTime {
		return trigger.Add(w.DelayDur), nil
	}
	since := b.now.Add(-90 * 24 * time.Hour)
	hists, err := b.e.cfg.Events.EngagementHours(b.ctx, projectID, tz, []int64{personID}, since)
	if err != nil {
		return time.Time{}, fmt.Errorf("cannot read the engagement of person %d: %w", personID, err)
	}
	fallback, err := b.e.projectHours(b.ctx, projectID, tz, since)
	if err != nil {
		return time.Time{}, err
	}
	return BestTime(hists[personID], trigger, w.MinDelayDur, tz, fallback), nil
}

// projectHours is the project's engagement by local hour in tz, read at
// most hourly.
func (e *Engine) projectHours(ctx context.Context, projectID int64, tz *time.Location, since time.Time) ([24]float64, error) {
	k := hoursKey{projectID, tz.String()}
	e.hoursMu.Lock()
	h, ok := e.hours[k]
	e.hoursMu.Unlock()
	if ok && time.Since(h.at) < time.Hour {
		return h.hist, nil
	}
	hist, err := e.cfg.Events.ProjectEngagementHours(ctx, projectID, tz, since)
	if err != nil {
		return hist, fmt.Errorf("cannot read the engagement of project %d: %w", projectID, err)
	}
	e.hoursMu.Lock()
	if len(e.hours) > 10000 {
		e.hours = map[hoursKey]hoursEntry{}
	}
	e.hours[k] = hoursEntry{hist: hist, at: time.Now()}
	e.hoursMu.Unlock()
	return hist, nil
}

func stringProp(props map[string]any, name string) string {
	s, _ := props[name].(string)
	return s
}

// EmailOf is a person's email address: the $email or email property.
func EmailOf(props map[string]any) string {
	for _, k := range []string{"$email", "email"} {
		if s := strings.TrimSpace(stringProp(props, k)); s != "" {
			return s
		}
	}
	return ""
}

// PushSubscriptionProperty is the person property that holds the
// browser's Web Push subscription (set by POST /push/subscribe).
const PushSubscriptionProperty = "$web_push_subscription"

// PushSubscriptionOf is a person's Web Push subscription, nil when none
// (or not a usable one; the sender checks it again against its SSRF
// guard).
func PushSubscriptionOf(props map[string]any) *channel.PushSubscription {
	v, ok := props[PushSubscriptionProperty]
	if !ok || v == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	sub, err := channel.ParsePushSubscription(b, true)
	if err != nil {
		return nil
	}
	return sub
}

// TemplateData is what a variant's templates read: the person's
// properties (with distinct_id), the trigger event's (with event, uuid
// and timestamp), the item (the trigger's value of the goal's match
// property) and the campaign's id and name.
func TemplateData(l *Live, distinctID string, personProps, eventProps map[string]any, ev *event.Raw) map[string]any {
	person := make(map[string]any, len(personProps)+1)
	for k, v := range personProps {
		person[k] = v
	}
	person["distinct_id"] = distinctID
	evm := make(map[string]any, len(eventProps)+3)
	for k, v := range eventProps {
		evm[k] = v
	}
	data := map[string]any{"person": person, "event": evm,
		"campaign": map[string]any{"id": l.Meta.ID, "name": l.Meta.Name}}
	if ev != nil {
		evm["event"], evm["uuid"], evm["timestamp"] = ev.Event, ev.UUID, ev.Timestamp
	}
	if d := l.Def; d.Goal != nil && d.Goal.Match != "" {
		if v, ok := eventProps[d.Goal.Match]; ok {
			data["item"] = v
		}
	}
	return data
}

// RenderURL renders a variant's URL template with every value
// query-escaped (so a value can never end the host or add a scheme), and
// keeps it only when the result is an absolute http or https URL.
func RenderURL(tpl string, data map[string]any) string {
	if tpl == "" {
		return ""
	}
	s := channel.Render(tpl, data, url.QueryEscape)
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || len(s) > MaxURL {
		return ""
	}
	return s
}

// render makes the message of a send: the variant's copy with the
// person's, the event's and the item's values, escaped for the channel,
// and the click URL.
func (e *Engine) render(projectID int64, l *Live, v *Variant, key string, ev *event.Raw, props map[string]any, person store.Person, item string) Payload {
	data := TemplateData(l, ev.DistinctID, person.Properties, props, ev)
	p := Payload{TriggerEvent: ev.Event, TriggerAt: ev.Timestamp, Item: item}
	if l.Def.Goal != nil {
		p.Match = l.Def.Goal.Match
	}
	subject := v.Subject
	if subject == "" {
		subject = l.Def.Channel.Subject
	}
	p.Subject = channel.RenderSubject(subject, data)
	p.Body = channel.RenderBody(v.Body, data)
	base := strings.TrimRight(e.cfg.PublicURL, "/")
	if target := RenderURL(v.URL, data); target != "" && base != "" {
		p.Target, p.Click = target, newNonce()
		p.URL = base + "/c/" + ClickToken(projectID, key, p.Click)
	}
	switch l.Def.Channel.Type {
	case ChannelEmail:
		p.To = EmailOf(person.Properties)
		if base != "" {
			if p.Click == "" {
				p.Click = newNonce()
			}
			p.Unsubscribe = base + "/u/" + ClickToken(projectID, key, p.Click)
		}
	case ChannelWebPush:
		p.Push = PushSubscriptionOf(person.Properties)
	}
	return p
}

// goal handles a goal event for one campaign: the person's pending sends
// of the campaign that it converts (the same item when the goal matches
// one, a trigger before it and within the goal's window) are cancelled,
// and the others keep waiting (goals.go).
func (b *batch) goal(projectID int64, l *Live, ev *event.Raw, props map[string]any) error {
	d := l.Def
	if ev.NoPerson || ev.DistinctID == "" {
		return nil
	}
	r, err := b.person(projectID, ev.DistinctID)
	if err != nil || !r.found {
		return err
	}
	if !MatchFilters(d.Goal.Filters, props, r.person.Properties) {
		return nil
	}
	return b.goalCancels(projectID, l, ev, props, r.person.ID)
}

// Converts reports whether a goal event at `at` with props converts the
// send of payload p: after its trigger, within the goal's window, and of
// the same item when the goal matches one.
func Converts(d *Definition, p Payload, at time.Time, props map[string]any) bool {
	if d.Goal == nil || at.Before(p.TriggerAt) || at.Sub(p.TriggerAt) > d.Goal.WithinDur {
		return false
	}
	if d.Goal.Match != "" {
		v, ok := props[d.Goal.Match]
		if !ok || v == nil || insight.ValueString(v) != p.Item {
			return false
		}
	}
	return true
}

func (b *batch) flush() error {
	for len(b.pending) > 0 {
		n := min(len(b.pending), meta.MaxSendBatch)
		inserted, err := b.e.cfg.Meta.ScheduleSends(b.ctx, b.pending[:n])
		if err != nil {
			return fmt.Errorf("cannot schedule sends: %w", err)
		}
		engineScheduled.Add(inserted)
		b.pending = b.pending[n:]
	}
	b.pending = nil
	return nil
}

// MatchFilters evaluates a trigger's or goal's property filters on an
// event in memory, as the event stores evaluate them in queries
// (json_extract_string: strings as they are, other values as JSON text):
// event filters read the event's properties, person filters the person's.
// Element and cohort filters never match here (the API refuses them in
// campaigns).
func MatchFilters(fs []insight.Filter, eventProps, personProps map[string]any) bool {
	for _, f := range fs {
		props := eventProps
		switch f.Type {
		case "", "event":
		case "person":
			props = personProps
		default:
			return false
		}
		if !matchFilter(f, props) {
			return false
		}
	}
	return true
}

var regexCache sync.Map // pattern → *regexp.Regexp (nil when it does not compile)

func matchFilter(f insight.Filter, props map[string]any) bool {
	v, present := props[f.Property]
	if v == nil {
		present = false
	}
	text := ""
	if present {
		text = insight.ValueString(v)
	}
	switch f.Op {
	case "is_set":
		return present
	case "eq":
		return present && text == insight.ValueString(f.Value)
	case "neq":
		return !present || text != insight.ValueString(f.Value)
	case "contains":
		return present && strings.Contains(strings.ToLower(text), strings.ToLower(insight.ValueString(f.Value)))
	case "gt", "lt":
		if !present {
			return false
		}
		x, err := strconv.ParseFloat(strings.TrimSpace(text), 64)
		if err != nil {
			return false
		}
		if f.Op == "gt" {
			return x > insight.ValueFloat(f.Value)
		}
		return x < insight.ValueFloat(f.Value)
	case "regex":
		if !present {
			return false
		}
		pat := insight.ValueString(f.Value)
		re, ok := regexCache.Load(pat)
		if !ok {
			c, err := regexp.Compile(pat)
			if err != nil {
				c = nil
			}
			re, _ = regexCache.LoadOrStore(pat, c)
		}
		rx, _ := re.(*regexp.Regexp)
		return rx != nil && rx.MatchString(text)
	case "in":
		if !present {
			return false
		}
		list, _ := f.Value.([]any)
		for _, x := range list {
			if text == insight.ValueString(x) {
				return true
			}
		}
		return false
	}
	return false
}
