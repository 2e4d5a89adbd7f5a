package voc

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/journey-dev/journey/internal/campaign"
	"github.com/journey-dev/journey/internal/insight"
	"github.com/journey-dev/journey/internal/meta"
	"github.com/journey-dev/journey/internal/store"
)

// Messenger schedules the VoC's messages (notify.go): a reply as it is
// added, the close-the-loop notices of a theme as it is marked done, and,
// in its sweeps, the notices of themes done that a crash left unsent and
// the SLA breach alerts. Every replica may run one: keys make their work
// idempotent.
type Messenger struct {
	Meta   meta.Store
	Events store.Store
	// PublicURL is the base of unsubscribe links ("" : emails carry
	// none).
	PublicURL string
	// Interval is how often Run sweeps every project (default 15 s).
	Interval time.Duration
	// Now is the clock (time.Now when nil).
	Now func() time.Time

	alerted memo[string] // alert keys scheduled by this process
	replied memo[int64]  // replies found scheduled by this process

	mu        sync.Mutex
	repliesAt map[int64]time.Time
}

// memo remembers what this process already scheduled so sweeps skip it.
// It forgets everything past 100 000 keys: the schedule's keys keep each
// send once, so forgetting costs only a re-check.
type memo[K comparable] struct {
	mu   sync.Mutex
	keys map[K]bool
}

func (m *memo[K]) has(k K) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.keys[k]
}

func (m *memo[K]) add(k K) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.keys == nil || len(m.keys) > 100_000 {
		m.keys = map[K]bool{}
	}
	m.keys[k] = true
}

func (m *Messenger) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

var vocNS = uuid.MustParse("3e0b6c1d-8f4a-4f7e-b1c2-5d9a7e6f4a10")

// triggerUUID is the stable trigger id of what a message is about.
func triggerUUID(parts ...any) string {
	return uuid.NewSHA1(vocNS, []byte(fmt.Sprint(parts...))).String()
}

// personKey names a person in a key: its id, or a digest of the distinct
// id when the event store does not know it.
func personKey(personID int64, distinctID string) string {
	if personID > 0 {
		return strconv.FormatInt(personID, 10)
	}
	h := sha256.Sum256([]byte(distinctID))
	return "d" + hex.EncodeToString(h[:8])
}

// ReplyKey, LoopKey and AlertKey are the idempotency keys of the
// messages: one per reply, per (theme, person), per (item, clock).
func ReplyKey(projectID, commentID int64) string {
	return fmt.Sprintf("voc-reply-%d-%d", projectID, commentID)
}

func LoopKey(projectID, themeID int64, person string) string {
	return fmt.Sprintf("voc-loop-%d-%d-%s", projectID, themeID, person)
}

func AlertKey(projectID, itemID int64, kind string) string {
	return fmt.Sprintf("voc-sla-%d-%d-%s", projectID, itemID, strings.ReplaceAll(kind, "_", "-"))
}

// person is who a message goes to.
type person struct {
	id         int64
	distinctID string
	email      string
}

// resolve finds a distinct id's person now (after merges); unknown to
// the event store, it is the given id (found false) with no email.
func (m *Messenger) resolve(ctx context.Context, projectID int64, distinctID string, fallback int64) (person, bool, error) {
	p := person{id: sendPerson(fallback, distinctID), distinctID: distinctID}
	if m.Events == nil || distinctID == "" {
		return p, false, nil
	}
	found, _, err := m.Events.PersonByDistinctID(ctx, projectID, distinctID)
	if errors.Is(err, store.ErrNotFound) {
		return p, false, nil
	}
	if err != nil {
		return p, false, fmt.Errorf("cannot resolve distinct id %q: %w", distinctID, err)
	}
	p.id, p.email = found.ID, campaign.EmailOf(found.Properties)
	return p, true, nil
}

// sendPerson is the person id of a send: the person's, or for a distinct
// id the event store does not know yet a negative id of its own. Never 0:
// the sender moves the sends of a send's person to the person its
// distinct id resolves to at send time, and the unresolved sends of many
// persons under one id 0 would all move to the first person resolved,
// and be cancelled there as duplicates.
func sendPerson(personID int64, distinctID string) int64 {
	if personID > 0 {
		return personID
	}
	h := sha256.Sum256([]byte(distinctID))
	return -int64(binary.BigEndian.Uint64(h[:8])>>2) - 1
}

// schedule stores sends in batches; it returns how many were new.
func (m *Messenger) schedule(ctx context.Context, sends []meta.Send) (int, error) {
	n := 0
	for len(sends) > 0 {
		k := min(len(sends), meta.MaxSendBatch)
		ins, err := m.Meta.ScheduleSends(ctx, sends[:k])
		if err != nil {
			return n, fmt.Errorf("cannot schedule VoC messages: %w", err)
		}
		n += ins
		sends = sends[k:]
	}
	return n, nil
}

// Reply schedules a customer-visible reply to the item's author through
// the customers' channel; scheduled is false when the project has none,
// the comment is a note, or it predates the channel.
func (m *Messenger) Reply(ctx context.Context, item meta.FeedbackItem, c meta.FeedbackComment) (scheduled bool, err error) {
	if c.Kind != meta.CommentReply || item.DistinctID == "" {
		return false, nil
	}
	s, ok, err := LoadNotify(ctx, m.Meta, item.ProjectID)
	if err != nil || !ok {
		return false, err
	}
	l, ok, err := systemCampaign(ctx, m.Meta, item.ProjectID, s.CustomersCampaign)
	if err != nil || !ok || c.CreatedAt.Before(l.c.CreatedAt) {
		return false, err
	}
	to, _, err := m.resolve(ctx, item.ProjectID, item.DistinctID, item.PersonID)
	if err != nil {
		return false, err
	}
	sd, err := l.send(item.ProjectID, m.PublicURL, message{key: ReplyKey(item.ProjectID, c.ID), variant: VariantReply,
		trigger: triggerUUID("reply", item.ProjectID, c.ID), triggerEvent: TriggerReply, distinctID: item.DistinctID, personID: to.id,
		to: to.email, subject: "Re: " + clipName(item.Text), body: c.Text, at: c.CreatedAt, customer: true})
	if err != nil {
		return false, err
	}
	_, err = m.schedule(ctx, []meta.Send{sd})
	return err == nil, err
}

// MaxReplySweepItems bounds the items (newest first) whose replies a
// sweep checks for a schedule entry, and ReplySweepEvery how often a
// project's are checked (each item with a reply costs a read of its
// comments).
const (
	MaxReplySweepItems = 1000
	ReplySweepEvery    = time.Minute
)

// Replies schedules the replies that have no send: the reply is stored
// before it is scheduled, so a store error (or a crash) between the two
// leaves it unsent; this finds them among the newest MaxReplySweepItems
// items that have a reply and schedules them under their key (a reply
// being scheduled meanwhile is inserted once). It returns how many were
// scheduled.
func (m *Messenger) Replies(ctx context.Context, p meta.Project) (int, error) {
	s, ok, err := LoadNotify(ctx, m.Meta, p.ID)
	if err != nil || !ok {
		return 0, err
	}
	l, ok, err := systemCampaign(ctx, m.Meta, p.ID, s.CustomersCampaign)
	if err != nil || !ok {
		return 0, err
	}
	items, err := recentItems(ctx, m.Meta, p.ID, MaxReplySweepItems)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, f := range items {
		if f.FirstResponseAt.IsZero() || f.DistinctID == "" {
			continue // no reply yet, or nobody to send one to
		}
		k, err := m.unscheduledReplies(ctx, f, l.c.CreatedAt)
		n += k
		if err != nil {
			return n, err
		}
	}
	if n > 0 {
		slog.Info("voc: replies that had no send scheduled", "project", p.ID, "replies", n)
	}
	return n, nil
}

// recentItems reads up to limit of the project's newest items, merged
// duplicates included (a reply to one goes to its author too).
func recentItems(ctx context.Context, m meta.Store, projectID int64, limit int) ([]meta.FeedbackItem, error) {
	var out []meta.FeedbackItem
	for before := int64(0); len(out) < limit; {
		page, err := m.ListFeedback(ctx, projectID, meta.FeedbackFilter{IncludeMerged: true, BeforeID: before, Limit: meta.MaxFeedbackList})
		if err != nil {
			return nil, fmt.Errorf("cannot list the feedback of project %d: %w", projectID, err)
		}
		out = append(out, page[:min(len(page), limit-len(out))]...)
		if len(page) < meta.MaxFeedbackList {
			break
		}
		before = page[len(page)-1].ID
	}
	return out, nil
}

// unscheduledReplies schedules the item's replies since the channel
// existed that have no send.
func (m *Messenger) unscheduledReplies(ctx context.Context, f meta.FeedbackItem, since time.Time) (int, error) {
	comments, err := m.Meta.FeedbackComments(ctx, f.ProjectID, f.ID)
	if err != nil {
		return 0, fmt.Errorf("cannot read the replies of feedback %d: %w", f.ID, err)
	}
	n := 0
	for _, c := range comments {
		if c.Kind != meta.CommentReply || c.CreatedAt.Before(since) || m.replied.has(c.ID) {
			continue
		}
		switch _, err := m.Meta.SendByKey(ctx, f.ProjectID, ReplyKey(f.ProjectID, c.ID)); {
		case err == nil:
			m.replied.add(c.ID)
			continue
		case !errors.Is(err, meta.ErrNotFound):
			return n, fmt.Errorf("cannot read the send of reply %d: %w", c.ID, err)
		}
		scheduled, err := m.Reply(ctx, f, c)
		if err != nil {
			return n, err
		}
		if scheduled {
			n++
			m.replied.add(c.ID)
		}
	}
	return n, nil
}

// repliesDue says whether the project's replies are due a check, and
// if so records the check as done now.
func (m *Messenger) repliesDue(projectID int64) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if last, ok := m.repliesAt[projectID]; ok && now.Sub(last) < ReplySweepEvery {
		return false
	}
	if m.repliesAt == nil {
		m.repliesAt = map[int64]time.Time{}
	}
	m.repliesAt[projectID] = now
	return true
}

// loopMark is the project setting that records a theme's notices as
// scheduled (LoopMark), so sweeps skip it.
func loopMark(themeID int64) string { return "voc.loop." + strconv.FormatInt(themeID, 10) }

// LoopMark is what a theme's loop mark holds.
type LoopMark struct {
	At        time.Time `json:"at"`
	Persons   int       `json:"persons"`
	Scheduled int       `json:"scheduled"`
}

// Linked are the persons linked to a theme: the authors of its items,
// merged duplicates included (they keep their persons), each person once
// after identity merges, in the order of their newest item; unresolved
// counts the distinct ids the event store does not know yet.
func (m *Messenger) Linked(ctx context.Context, projectID, themeID int64) (out []person, unresolved int, err error) {
	items, err := m.Meta.FeedbackImpact(ctx, projectID, MaxRankItems)
	if err != nil {
		return nil, 0, fmt.Errorf("cannot read the feedback of project %d: %w", projectID, err)
	}
	seenID := map[string]bool{}
	seen := map[string]bool{}
	for _, it := range items {
		if it.ThemeID != themeID || it.DistinctID == "" || seenID[it.DistinctID] {
			continue
		}
		seenID[it.DistinctID] = true
		p, found, err := m.resolve(ctx, projectID, it.DistinctID, 0)
		if err != nil {
			return nil, 0, err
		}
		if !found {
			unresolved++
		}
		if k := personKey(p.id, p.distinctID); !seen[k] {
			seen[k] = true
			out = append(out, p)
		}
	}
	return out, unresolved, nil
}

// ResolveGrace is how long after a theme is done its notices wait for
// every linked distinct id to be known to the event store (an item's
// $feedback_submitted event still being loaded): the keys are per person,
// so they are made once the persons are known. Past it, the unknown ones
// are keyed by distinct id.
const ResolveGrace = 10 * time.Minute

// ErrPersonsPending says a theme's notices wait for their persons.
var ErrPersonsPending = errors.New("linked persons not loaded yet")

// CloseLoop schedules the notice of a done theme to everyone linked to
// it, once per (theme, person), through the customers' channel, and marks
// the theme; it returns how many notices were new. A theme not done, done
// before the channel existed, or already marked is left alone.
func (m *Messenger) CloseLoop(ctx context.Context, th meta.Theme) (int, error) {
	if th.Status != meta.FeedbackDone || th.MergedInto != 0 {
		return 0, nil
	}
	s, ok, err := LoadNotify(ctx, m.Meta, th.ProjectID)
	if err != nil || !ok {
		return 0, err
	}
	l, ok, err := systemCampaign(ctx, m.Meta, th.ProjectID, s.CustomersCampaign)
	if err != nil || !ok || th.UpdatedAt.Before(l.c.CreatedAt) {
		return 0, err
	}
	switch _, err := m.Meta.Setting(ctx, th.ProjectID, loopMark(th.ID)); {
	case err == nil:
		return 0, nil
	case !errors.Is(err, meta.ErrNotFound):
		return 0, err
	}
	persons, unresolved, err := m.Linked(ctx, th.ProjectID, th.ID)
	if err != nil {
		return 0, err
	}
	now := m.now()
	if unresolved > 0 && now.Before(th.UpdatedAt.Add(ResolveGrace)) {
		return 0, fmt.Errorf("theme %d: %d distinct ids: %w", th.ID, unresolved, ErrPersonsPending)
	}
	copyOf := func(s string) string { return strings.ReplaceAll(s, "{{theme}}", th.Name) }
	sends := make([]meta.Send, 0, len(persons))
	for _, p := range persons {
		sd, err := l.send(th.ProjectID, m.PublicURL, message{key: LoopKey(th.ProjectID, th.ID, personKey(p.id, p.distinctID)), variant: VariantLoop,
			trigger: triggerUUID("loop", th.ProjectID, th.ID), triggerEvent: TriggerLoop, distinctID: p.distinctID, personID: p.id,
			to: p.email, subject: copyOf(s.Loop.Subject), body: copyOf(s.Loop.Body), at: now, customer: true})
		if err != nil {
			return 0, err
		}
		sends = append(sends, sd)
	}
	n, err := m.schedule(ctx, sends)
	if err != nil {
		return n, err
	}
	raw, _ := json.Marshal(LoopMark{At: now, Persons: len(persons), Scheduled: n})
	if err := m.Meta.SetSetting(ctx, th.ProjectID, loopMark(th.ID), raw); err != nil {
		return n, fmt.Errorf("cannot mark theme %d notified: %w", th.ID, err)
	}
	slog.Info("voc: theme done, linked customers notified", "project", th.ProjectID, "theme", th.ID, "persons", len(persons), "new", n)
	return n, nil
}

// LoadSLA reads the project's SLA setting (the defaults when unset) in
// the project's time zone.
func LoadSLA(ctx context.Context, m meta.Store, p meta.Project) (*SLA, error) {
	loc := insight.ZoneOf(p.Timezone)
	raw, err := m.Setting(ctx, p.ID, SettingSLA)
	if errors.Is(err, meta.ErrNotFound) {
		return DefaultSLA(loc), nil
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read the SLA of project %d: %w", p.ID, err)
	}
	return ParseSLA(raw, loc)
}

// MaxSLAItems bounds the items an SLA view or sweep reads (newest first).
const MaxSLAItems = 20_000

// SLAItems reads up to limit items of the given statuses (all when
// none), newest first, merged duplicates left out.
func SLAItems(ctx context.Context, m meta.Store, projectID int64, limit int, statuses ...string) ([]meta.FeedbackItem, error) {
	if len(statuses) == 0 {
		statuses = []string{""}
	}
	var out []meta.FeedbackItem
	for _, st := range statuses {
		before := int64(0)
		for len(out) < limit {
			page, err := m.ListFeedback(ctx, projectID, meta.FeedbackFilter{Status: st, BeforeID: before, Limit: meta.MaxFeedbackList})
			if err != nil {
				return nil, fmt.Errorf("cannot list the feedback of project %d: %w", projectID, err)
			}
			out = append(out, page[:min(len(page), limit-len(out))]...)
			if len(page) < meta.MaxFeedbackList {
				break
			}
			before = page[len(page)-1].ID
		}
	}
	return out, nil
}

// Alerts schedules an alert, through the team's channel, for every clock
// of an open item that breached its target since the alerts channel
// exists, once per (item, clock); it returns how many were new.
func (m *Messenger) Alerts(ctx context.Context, p meta.Project) (int, error) {
	s, ok, err := LoadNotify(ctx, m.Meta, p.ID)
	if err != nil || !ok {
		return 0, err
	}
	l, ok, err := systemCampaign(ctx, m.Meta, p.ID, s.AlertsCampaign)
	if err != nil || !ok {
		return 0, err
	}
	sla, err := LoadSLA(ctx, m.Meta, p)
	if err != nil {
		return 0, err
	}
	items, err := SLAItems(ctx, m.Meta, p.ID, MaxSLAItems, meta.FeedbackNew, meta.FeedbackPlanned, meta.FeedbackInProgress)
	if err != nil {
		return 0, err
	}
	now := m.now()
	var sends []meta.Send
	for _, f := range items {
		if !Open(f) {
			continue
		}
		first, resolve := sla.ItemClocks(f, now)
		for _, c := range []Clock{first, resolve} {
			if c.Done || !c.Breached || c.Due.Before(l.c.CreatedAt) {
				continue
			}
			key := AlertKey(p.ID, f.ID, c.Kind)
			if m.alerted.has(key) {
				continue
			}
			variant, what := VariantFirst, "first response"
			if c.Kind == ClockResolve {
				variant, what = VariantSolve, "resolution"
			}
			sd, err := l.send(p.ID, m.PublicURL, message{key: key, variant: variant, trigger: triggerUUID("sla", p.ID, f.ID, c.Kind),
				triggerEvent: TriggerSLA, distinctID: f.DistinctID, personID: sendPerson(f.PersonID, f.DistinctID), to: s.AlertsTo,
				subject: fmt.Sprintf("SLA breach: %s of feedback #%d (%s)", what, f.ID, f.Priority),
				body: fmt.Sprintf("Feedback #%d (%s priority, from %s) missed its %s target of %s business time, due %s.\n\n%s",
					f.ID, f.Priority, f.DistinctID, what, c.Target, c.Due.In(sla.Hours.Loc).Format(time.RFC1123), clipName(f.Text)),
				at: now})
			if err != nil {
				return 0, err
			}
			sends = append(sends, sd)
		}
	}
	n, err := m.schedule(ctx, sends)
	if err == nil {
		for _, sd := range sends {
			m.alerted.add(sd.Key)
		}
	}
	return n, err
}

// Sweep does a project's periodic work: the notices of done themes not
// yet marked (a crash between marking the theme done and scheduling), the
// SLA alerts, and every ReplySweepEvery the replies left unscheduled.
func (m *Messenger) Sweep(ctx context.Context, p meta.Project) error {
	if _, ok, err := LoadNotify(ctx, m.Meta, p.ID); err != nil || !ok {
		return err
	}
	themes, err := m.Meta.Themes(ctx, p.ID)
	if err != nil {
		return fmt.Errorf("cannot list the themes of project %d: %w", p.ID, err)
	}
	var errs []error
	for _, th := range themes {
		if th.Status == meta.FeedbackDone && th.MergedInto == 0 {
			if _, err := m.CloseLoop(ctx, th); err != nil && !errors.Is(err, ErrPersonsPending) {
				errs = append(errs, err)
			}
		}
	}
	if _, err := m.Alerts(ctx, p); err != nil {
		errs = append(errs, err)
	}
	if m.repliesDue(p.ID) {
		if _, err := m.Replies(ctx, p); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Run sweeps every project at once and then every Interval until ctx is
// done.
func (m *Messenger) Run(ctx context.Context) {
	every := m.Interval
	if every <= 0 {
		every = 15 * time.Second
	}
	for {
		projects, err := m.Meta.Projects(ctx)
		if err != nil && ctx.Err() == nil {
			slog.Warn("voc messages: cannot list the projects", "err", err)
		}
		for _, p := range projects {
			if err := m.Sweep(ctx, p); err != nil && ctx.Err() == nil {
				slog.Warn("voc messages: sweep left to the next one", "project", p.ID, "err", err)
			}
		}
		t := time.NewTimer(every)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}
