package campaign

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/google/uuid"

	"github.com/journey-dev/journey/internal/channel"
	"github.com/journey-dev/journey/internal/event"
	"github.com/journey-dev/journey/internal/meta"
	"github.com/journey-dev/journey/internal/store"
)

// The sender worker (issue 15 items 4, 6 and 7) claims due sends from the
// durable schedule, with a lease, and ends each: a holdout's "would have
// sent", a message delivered, retried on the Standard Webhooks schedule,
// failed, deferred (quiet hours, frequency cap, send rate, a paused
// campaign) or cancelled (the goal reached meanwhile, under any distinct
// id of the person; an unsubscribed address; a stopped or deleted
// campaign). Every replica runs one; the schedule's claims (FOR UPDATE
// SKIP LOCKED on PostgreSQL) hand each send to one of them at a time, and
// the key travels with every attempt, so a receiver that deduplicates by
// webhook-id sees each message once whatever crashes in between.

var (
	// Sends by outcome, one series each (deploy/ alerts on failed).
	senderDelivered = metrics.NewCounter(`journey_campaign_sends_total{status="delivered"}`)
	senderHeldOut   = metrics.NewCounter(`journey_campaign_sends_total{status="held_out"}`)
	senderRetried   = metrics.NewCounter(`journey_campaign_sends_total{status="retried"}`)
	senderFailed    = metrics.NewCounter(`journey_campaign_sends_total{status="failed"}`)
	senderCancelled = metrics.NewCounter(`journey_campaign_sends_total{status="cancelled"}`)
	senderDeferred  = metrics.NewCounter(`journey_campaign_sends_total{status="deferred"}`)
	// goalReads counts sends whose goal was checked in the event store.
	goalReads = metrics.NewCounter("journey_campaign_goal_reads_total")
)

// SenderConfig configures a Sender.
type SenderConfig struct {
	Meta      meta.Store
	Events    store.Store
	Campaigns *Campaigns
	// Emit appends events to the project's event log, as capture does
	// ($message_sent, $message_delivered …).
	Emit func(ctx context.Context, b event.Batch) error
	// Owner names this sender in claims (a replica id).
	Owner string
	// HTTP is the pooled client of webhooks (with the SSRF guard unless
	// the server allows private addresses).
	HTTP *channel.HTTPClient
	// Channel, when set, makes the sender of a non-webhook campaign (email
	// over the server's SMTP relay, Web Push with its VAPID keys); nil, or
	// an error, fails those messages.
	Channel func(l *Live) (channel.Sender, error)
	// Lease is how long a claim holds (default 2 min: longer than an
	// attempt's timeout); Poll how often an idle sender looks for due
	// sends (default 200 ms); Batch how many a round claims at once
	// (default 250), Workers how many a round sends at once (default
	// 32), Lanes how many rounds run at once (default 2) and PerHost how
	// many sends of them all may go to one destination host at once
	// (default 32).
	Lease   time.Duration
	Poll    time.Duration
	Batch   int
	Workers int
	PerHost int
	Lanes   int
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Sender delivers due sends.
type Sender struct {
	cfg  SenderConfig
	wake chan struct{}

	mu       sync.Mutex
	senders  map[int64]senderEntry // campaign id → its channel's sender at a version
	nextSlot map[int64]time.Time   // campaign id → the next send its rate allows
	// laterSlot: campaign id → when the next send deferred by the rate
	// comes back.
	laterSlot map[int64]time.Time
	hosts     map[string]*hostSlots // destination host → its sends in flight
}

type senderEntry struct {
	version int
	sender  channel.Sender
}

// NewSender returns a sender; Run starts it.
func NewSender(cfg SenderConfig) *Sender {
	if cfg.Lease <= 0 {
		cfg.Lease = 2 * time.Minute
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 200 * time.Millisecond
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 250
	}
	cfg.Batch = min(cfg.Batch, meta.MaxSendBatch)
	if cfg.Workers <= 0 {
		cfg.Workers = 32
	}
	if cfg.PerHost <= 0 {
		cfg.PerHost = 32
	}
	if cfg.Lanes <= 0 {
		cfg.Lanes = 2
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Campaigns == nil {
		cfg.Campaigns = &Campaigns{Meta: cfg.Meta}
	}
	return &Sender{cfg: cfg, wake: make(chan struct{}, 1), senders: map[int64]senderEntry{}, nextSlot: map[int64]time.Time{},
		laterSlot: map[int64]time.Time{}, hosts: map[string]*hostSlots{}}
}

// Wake makes an idle sender look for due sends at once.
func (s *Sender) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Run sends until ctx is done; sends in flight then finish (their
// bookkeeping outlives ctx, bounded). Lanes rounds run at once, so that
// one round's claim, person reads and last writes overlap another's
// deliveries; a lane that claimed a full batch wakes an idle one.
func (s *Sender) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for range s.cfg.Lanes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.lane(ctx)
		}()
	}
	wg.Wait()
	return nil
}

func (s *Sender) lane(ctx context.Context) {
	for ctx.Err() == nil {
		n, err := s.RunOnce(ctx)
		if err != nil && ctx.Err() == nil {
			slog.Error("campaign sender: cannot claim sends; retrying", "err", err)
		}
		if n >= s.cfg.Batch && err == nil {
			s.Wake()
			continue
		}
		t := time.NewTimer(s.cfg.Poll)
		select {
		case <-ctx.Done():
		case <-s.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// RunOnce claims one batch of due sends and handles them; it returns how
// many it claimed. The batch is handled as one round (issue 15,
// performance): its persons resolved in one event-store query per
// project, its messages sent by a bounded pool of workers (at most
// PerHost to one host), and its outcomes written as they come, a few
// dozen at a time (flushRows, flushEvery): their events emitted in one
// batch per project, then the outcomes in one CompleteSends. A send's
// events are durable in the log before its outcome is written, as
// before; whatever fails in between leaves the send to its lease, to be
// sent again under the same key.
func (s *Sender) RunOnce(ctx context.Context) (int, error) {
	sends, err := s.cfg.Meta.ClaimDueSends(ctx, s.cfg.Owner, s.cfg.Now(), s.cfg.Lease, s.cfg.Batch)
	if err != nil {
		return 0, err
	}
	if len(sends) == 0 {
		return 0, nil
	}
	r := &round{s: s, persons: map[personKey]*resolved{}, done: make(chan roundOutcome, len(sends))}
	r.resolve(ctx, sends)
	r.pickTwins(sends)
	flushed := make(chan struct{})
	go func() {
		defer close(flushed)
		r.flusher(context.WithoutCancel(ctx))
	}()
	work := make(chan meta.Send)
	var wg sync.WaitGroup
	for range min(s.cfg.Workers, len(sends)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for sd := range work {
				if err := s.handle(ctx, r, sd); err != nil && !errors.Is(err, meta.ErrNotClaimed) {
					slog.Warn("campaign sender: send left to its lease", "send", sd.ID, "key", sd.Key, "err", err)
				}
			}
		}()
	}
	for _, sd := range sends {
		work <- sd
	}
	close(work)
	wg.Wait()
	close(r.done)
	<-flushed
	return len(sends), nil
}

// Outcomes are written once flushRows wait, or flushEvery after the first
// of them: a kill loses (re-sends) at most about that much.
const (
	flushRows  = 100
	flushEvery = 20 * time.Millisecond
)

// round is the work of one RunOnce: the claim's persons, and the
// outcomes its sends end with, on their way to the flusher.
type round struct {
	s       *Sender
	persons map[personKey]*resolved // read-only once the workers start
	done    chan roundOutcome       // room for every send of the round
	// winner is, per campaign, trigger event and person as resolved now,
	// the one send of the round that may go out (the lowest id): sends of
	// one trigger to persons since merged (a broadcast's shared trigger, a
	// trigger under two ids) would otherwise both pass duplicate, each
	// checking before the other's move is written.
	winner map[twinKey]int64
}

type twinKey struct {
	projectID, campaignID, personID int64
	trigger                         string
}

// pickTwins fills winner from the claim and its resolved persons.
func (r *round) pickTwins(sends []meta.Send) {
	r.winner = make(map[twinKey]int64, len(sends))
	for _, sd := range sends {
		k := r.twin(sd)
		if w, ok := r.winner[k]; !ok || sd.ID < w {
			r.winner[k] = sd.ID
		}
	}
}

// twin is sd's key among the round's sends: its person as resolved for
// the round (the scheduled one when unknown or unresolved).
func (r *round) twin(sd meta.Send) twinKey {
	id := sd.PersonID
	if p := r.persons[personKey{sd.ProjectID, sd.DistinctID}]; p != nil && p.found {
		id = p.person.ID
	}
	return twinKey{sd.ProjectID, sd.CampaignID, id, sd.TriggerUUID}
}

type roundOutcome struct {
	sd      meta.Send
	outcome meta.SendOutcome
	events  []event.Event                   // emitted before the outcome is written
	after   func(ctx context.Context) error // once the outcome is written (a disabled destination)
}

// resolve reads the persons behind the claim's distinct ids, per project
// and MaxDistinctIDs at a time; a project whose read fails is left to
// handle's one-by-one reads.
func (r *round) resolve(ctx context.Context, sends []meta.Send) {
	ids := map[int64][]string{}
	for _, sd := range sends {
		k := personKey{sd.ProjectID, sd.DistinctID}
		if _, ok := r.persons[k]; !ok {
			r.persons[k] = nil
			ids[sd.ProjectID] = append(ids[sd.ProjectID], sd.DistinctID)
		}
	}
	for projectID, list := range ids {
		for len(list) > 0 {
			n := min(len(list), store.MaxDistinctIDs)
			found, err := r.s.cfg.Events.PersonsByDistinctIDs(ctx, projectID, list[:n])
			if err != nil {
				slog.Warn("campaign sender: cannot resolve the persons of a claim; one by one", "project", projectID, "err", err)
				break
			}
			for _, id := range list[:n] {
				p, ok := found[id]
				r.persons[personKey{projectID, id}] = &resolved{person: p.Person, found: ok, ids: p.DistinctIDs}
			}
			list = list[n:]
		}
	}
}

// end records how a send ends, or waits again, with the events to emit
// first.
func (r *round) end(sd meta.Send, o meta.SendOutcome, after func(context.Context) error, evs ...event.Event) {
	o.ID = sd.ID
	r.done <- roundOutcome{sd: sd, outcome: o, events: evs, after: after}
}

// flusher writes the round's outcomes as they come, flushRows or
// flushEvery at a time, until the round ends.
func (r *round) flusher(ctx context.Context) {
	var batch []roundOutcome
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		select {
		case o, ok := <-r.done:
			if !ok {
				r.flush(ctx, batch)
				return
			}
			if batch = append(batch, o); len(batch) == 1 {
				timer.Reset(flushEvery)
			}
			if len(batch) < flushRows {
				continue
			}
		case <-timer.C:
		}
		timer.Stop()
		r.flush(ctx, batch)
		batch = batch[:0]
	}
}

// flush emits a batch's events, one log batch per project, then writes
// the outcomes whose events are durable in one CompleteSends, then runs
// what waits on them. What it cannot write is left to the sends' leases.
// The writes outlive the run's ctx, bounded, so that a shutdown does not
// leave delivered messages uncompleted.
func (r *round) flush(ctx context.Context, batch []roundOutcome) {
	if len(batch) == 0 {
		return
	}
	s := r.s
	ctx, cancel := context.WithTimeout(ctx, bookkeeping)
	defer cancel()
	events := map[int64][]event.Event{}
	for _, o := range batch {
		events[o.sd.ProjectID] = append(events[o.sd.ProjectID], o.events...)
	}
	emitted := map[int64]bool{}
	for projectID, evs := range events {
		if err := s.emitBatch(ctx, projectID, evs); err != nil {
			slog.Warn("campaign sender: sends left to their lease", "project", projectID, "events", len(evs), "err", err)
			continue
		}
		emitted[projectID] = true
	}
	outcomes := make([]meta.SendOutcome, 0, len(batch))
	for _, o := range batch {
		if len(o.events) == 0 || emitted[o.sd.ProjectID] {
			outcomes = append(outcomes, o.outcome)
		}
	}
	applied := map[int64]bool{}
	for len(outcomes) > 0 {
		n := min(len(outcomes), meta.MaxSendBatch)
		ids, err := s.cfg.Meta.CompleteSends(ctx, s.cfg.Owner, outcomes[:n])
		if err != nil {
			slog.Warn("campaign sender: cannot write the outcomes of sends; left to their lease", "sends", n, "err", err)
		}
		for _, id := range ids {
			applied[id] = true
		}
		outcomes = outcomes[n:]
	}
	for _, o := range batch {
		if o.after == nil || !applied[o.sd.ID] {
			continue
		}
		if err := o.after(ctx); err != nil {
			slog.Warn("campaign sender: cannot disable a destination", "send", o.sd.ID, "key", o.sd.Key, "err", err)
		}
	}
}

// person is the send's person now, by its distinct id, from the round's
// read (or read now when the round's failed).
func (r *round) person(ctx context.Context, sd meta.Send) (store.Person, []string, bool, error) {
	if p := r.persons[personKey{sd.ProjectID, sd.DistinctID}]; p != nil {
		if !p.found {
			return store.Person{ID: sd.PersonID}, nil, false, nil
		}
		return p.person, p.ids, true, nil
	}
	return r.s.resolve(ctx, sd)
}

// eventNS is the namespace of the emitted events' uuids: one per key and
// event name, so an event emitted again after a crash is stored once.
var eventNS = uuid.MustParse("6f1c3f57-2b39-4d1e-9a59-7d3c0c1b7e21")

// EventUUID is the uuid of the event name emitted for the message key.
func EventUUID(key, name string) string {
	return uuid.NewSHA1(eventNS, []byte(key+"\x00"+name)).String()
}

// MessageEvent is an event about one send ($message_sent …), with the
// person's distinct id and the send's campaign, variant, key, trigger,
// arm and channel, and the item under the goal's match property (so a
// golden-time query from the message to the goal matches the item).
func MessageEvent(name string, sd meta.Send, p Payload, at time.Time, extra map[string]any) event.Event {
	props := map[string]any{
		PropCampaignID: sd.CampaignID, PropVariant: sd.Variant, PropKey: sd.Key, PropTriggerUUID: sd.TriggerUUID,
		PropArm: sd.Arm, PropChannel: sd.Channel,
	}
	if p.Match != "" {
		if _, taken := props[p.Match]; !taken {
			props[p.Match] = p.Item
		}
	}
	for k, v := range extra {
		props[k] = v
	}
	return event.Event{UUID: EventUUID(sd.Key, name), Event: name, DistinctID: sd.DistinctID, Timestamp: at,
		Properties: props, ReceivedAt: at}
}

// bookkeeping bounds the store writes that end a send; they outlive the
// run's ctx, so a shutdown does not leave a delivered message uncompleted.
const bookkeeping = 15 * time.Second

// handle decides what becomes of one claimed send and sends it; its
// outcome goes to the round (written by flush), and only the reads and
// the rare writes a decision needs (a merged person's sends moved) are
// made here.
func (s *Sender) handle(ctx context.Context, r *round, sd meta.Send) error {
	bk, cancel := context.WithTimeout(context.WithoutCancel(ctx), bookkeeping)
	defer cancel()
	now := s.cfg.Now()
	m := s.cfg.Meta
	cancelSend := func(reason string) error {
		senderCancelled.Inc()
		r.end(sd, meta.SendOutcome{State: meta.SendCancelled, LastError: reason}, nil)
		return nil
	}
	deferTo := func(at time.Time) error {
		senderDeferred.Inc()
		r.end(sd, meta.SendOutcome{State: meta.SendPending, NextAttemptAt: at}, nil)
		return nil
	}
	l, loc, err := s.cfg.Campaigns.Get(bk, sd.ProjectID, sd.CampaignID)
	if errors.Is(err, meta.ErrNotFound) {
		return cancelSend("campaign deleted")
	}
	if err != nil {
		return err
	}
	switch l.Meta.Status {
	case meta.CampaignStopped:
		return cancelSend("campaign stopped")
	case meta.CampaignActive:
	default: // paused or draft: messages wait
		return deferTo(now.Add(time.Minute))
	}
	p, err := ParsePayload(sd.Payload)
	if err != nil {
		return s.fail(r, sd, p, now, "bad payload: "+err.Error(), nil)
	}
	// The person may have been merged since the send was scheduled: its
	// sends follow the surviving person, whose goals count too.
	scheduledFor := sd.PersonID
	if w, ok := r.winner[r.twin(sd)]; ok && w != sd.ID {
		return cancelSend("merged: another send of this trigger went to the person")
	}
	person, ids, found, err := r.person(bk, sd)
	if err != nil {
		return err
	}
	if found && person.ID != sd.PersonID {
		if _, _, err := m.MoveSends(bk, sd.ProjectID, sd.PersonID, person.ID); err != nil {
			return err
		}
		sd.PersonID = person.ID
		if dup, err := s.duplicate(bk, sd); err != nil || dup {
			if err != nil {
				return err
			}
			return cancelSend("merged: another send of this trigger went to the person")
		}
	}
	d := l.Def
	// The engine cancels the sends a goal converts as it sees the goal;
	// the person's events are read only where it may have missed one.
	if d.Goal != nil && goalsCheckedAt(p, d, scheduledFor, person, found, ids) {
		goalReads.Inc()
		reached, err := GoalReached(bk, s.cfg.Events, sd.ProjectID, sd.PersonID, d, p, person.Properties)
		if err != nil {
			return err
		}
		if reached {
			return cancelSend("goal reached: " + d.Goal.Event)
		}
	}
	tz := Zone(stringProp(person.Properties, "$timezone"), loc)
	if q := d.Audience.QuietHours; q.Quiet(now, tz) {
		return deferTo(q.SendAt(now, tz))
	}
	if c := d.Audience.FrequencyCap; c != nil {
		next, err := s.capped(bk, sd, c, now)
		if err != nil {
			return err
		}
		if next.After(now) {
			return deferTo(next)
		}
	}
	switch d.Channel.Type {
	case ChannelEmail:
		if p.To == "" {
			return cancelSend("the person has no email address")
		}
		unsub, err := m.IsUnsubscribed(bk, sd.ProjectID, ChannelEmail, strings.ToLower(p.To))
		if err != nil {
			return err
		}
		if unsub {
			return cancelSend("unsubscribed")
		}
	case ChannelWebPush:
		if p.Push == nil {
			return cancelSend("the person has no push subscription")
		}
		unsub, err := m.IsUnsubscribed(bk, sd.ProjectID, ChannelWebPush, p.Push.Endpoint)
		if err != nil {
			return err
		}
		if unsub {
			return cancelSend("the push subscription is gone")
		}
	case ChannelWebhook:
		// A webhook that relays a message to its person carries their
		// unsubscribe link (the VoC's replies and close-the-loop notices);
		// one without a link (a team's alert, an integration) is not the
		// person's to stop.
		if p.Unsubscribe != "" {
			unsub, err := webhookUnsubscribed(bk, m, sd, ids)
			if err != nil {
				return err
			}
			if unsub {
				return cancelSend("unsubscribed")
			}
		}
	}
	// The send rate: a slot soon is waited for (a round's sends are
	// decided within milliseconds, so deferring all but the first of a
	// campaign's would send about one per round), a later one deferred to.
	if at, ok := s.rate(sd.CampaignID, d.Audience.Spacing(), now, s.rateWait()); !ok {
		return deferTo(at)
	} else if wait := at.Sub(now); wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return deferTo(now)
		}
		now = s.cfg.Now()
	}
	if sd.Arm != meta.ArmTreatment {
		// The holdout's (or the control group's) "would have sent", now,
		// when the message would have gone.
		senderHeldOut.Inc()
		r.end(sd, meta.SendOutcome{State: meta.SendHeldOut, SentAt: now}, nil, MessageEvent(EventWouldHaveSent, sd, p, now, nil))
		return nil
	}
	snd, err := s.channelFor(l)
	if err != nil {
		return s.fail(r, sd, p, now, err.Error(), nil)
	}
	// A claim about to lapse is given back rather than sent: another
	// sender may take it over while the attempt runs.
	if sd.ClaimedUntil.Sub(now) < s.claimMargin() {
		return deferTo(now)
	}
	release, err := s.hostSlot(ctx, destination(l, p))
	if err != nil {
		return deferTo(now) // shutting down while waiting for the host
	}
	msg := channel.Message{Key: sd.Key, CampaignID: sd.CampaignID, PersonID: sd.PersonID, DistinctID: sd.DistinctID,
		Variant: sd.Variant, TriggerUUID: sd.TriggerUUID, Subject: p.Subject, Body: p.Body, URL: p.URL, To: p.To,
		Unsubscribe: p.Unsubscribe, Push: p.Push}
	o := snd.Send(ctx, msg)
	release()
	at := s.cfg.Now()
	switch {
	case o.Delivered:
		senderDelivered.Inc()
		r.end(sd, meta.SendOutcome{State: meta.SendSent, SentAt: at}, nil,
			MessageEvent(EventSent, sd, p, at, nil), MessageEvent(EventDelivered, sd, p, at, map[string]any{"status": o.Status}))
		return nil
	case o.Retry && ctx.Err() != nil:
		// Shutting down: the attempt was cut short, not failed.
		return deferTo(at)
	case o.Retry:
		if delay, ok := channel.NextDelay(sd.Attempts+1, o); ok {
			senderRetried.Inc()
			r.end(sd, meta.SendOutcome{State: meta.SendPending, NextAttemptAt: at.Add(channel.Jitter(delay)), Attempt: true, LastError: o.String()}, nil)
			return nil
		}
		return s.fail(r, sd, p, at, "gave up after "+strconv.Itoa(sd.Attempts+1)+" attempts: "+o.String(), nil)
	default:
		var after func(context.Context) error
		if o.Disable {
			after = func(ctx context.Context) error { return s.disable(ctx, sd, d, p, o) }
		}
		return s.fail(r, sd, p, at, o.String(), after)
	}
}

// maxUnsubscribeIDs bounds the distinct ids of a person checked for a
// webhook unsubscribe (a person with more is checked on the first ones).
const maxUnsubscribeIDs = 16

// webhookUnsubscribed reports whether the send's person unsubscribed from
// the project's webhook messages: the unsubscribe of a webhook message is
// recorded for its distinct id (/u), and the person may since have been
// merged with another one, so each of their distinct ids is checked.
func webhookUnsubscribed(ctx context.Context, m meta.Store, sd meta.Send, ids []string) (bool, error) {
	check := append([]string{sd.DistinctID}, ids[:min(len(ids), maxUnsubscribeIDs)]...)
	for i, id := range check {
		if id == "" || (i > 0 && id == sd.DistinctID) {
			continue
		}
		unsub, err := m.IsUnsubscribed(ctx, sd.ProjectID, ChannelWebhook, id)
		if err != nil || unsub {
			return unsub, err
		}
	}
	return false, nil
}

// disable stops sending where a receiver said the destination is gone:
// a webhook endpoint (410) pauses its campaign, saying why; a mailbox
// that does not exist (SMTP 5.1.x) and a push subscription that expired
// (404, 410) are suppressed in every campaign of the project, as
// unsubscribes are, and the subscription is unset on the person.
func (s *Sender) disable(ctx context.Context, sd meta.Send, d *Definition, p Payload, o channel.Outcome) error {
	switch d.Channel.Type {
	case ChannelEmail:
		if p.To == "" {
			return nil
		}
		return s.cfg.Meta.Unsubscribe(ctx, sd.ProjectID, ChannelEmail, strings.ToLower(p.To))
	case ChannelWebPush:
		if p.Push == nil {
			return nil
		}
		if err := s.cfg.Meta.Unsubscribe(ctx, sd.ProjectID, ChannelWebPush, p.Push.Endpoint); err != nil {
			return err
		}
		at := s.cfg.Now()
		gone := event.Event{UUID: EventUUID(sd.Key, "$web_push_unsubscribed"), Event: "$web_push_unsubscribed", DistinctID: sd.DistinctID,
			Timestamp: at, ReceivedAt: at, Properties: map[string]any{"endpoint": p.Push.Endpoint, "reason": o.String()},
			Unset: []string{PushSubscriptionProperty}}
		return s.emit(ctx, sd, gone)
	default:
		reason := fmt.Sprintf("the %s endpoint is gone (%s): campaign paused", d.Channel.Type, o.String())
		if err := SetStatus(ctx, s.cfg.Meta, sd.ProjectID, sd.CampaignID, meta.CampaignPaused, reason); err != nil {
			return err
		}
		s.cfg.Campaigns.Invalidate(sd.ProjectID)
		return nil
	}
}

// fail ends a send as failed, with $message_failed, and then runs after
// (when not nil).
func (s *Sender) fail(r *round, sd meta.Send, p Payload, at time.Time, reason string, after func(context.Context) error) error {
	senderFailed.Inc()
	r.end(sd, meta.SendOutcome{State: meta.SendFailed, LastError: reason}, after, MessageEvent(EventFailed, sd, p, at, map[string]any{"error": reason}))
	return nil
}

func (s *Sender) emit(ctx context.Context, sd meta.Send, evs ...event.Event) error {
	return s.emitBatch(ctx, sd.ProjectID, evs)
}

// emitBatch appends a project's events to its log in one batch.
func (s *Sender) emitBatch(ctx context.Context, projectID int64, evs []event.Event) error {
	if s.cfg.Emit == nil || len(evs) == 0 {
		return nil
	}
	if err := s.cfg.Emit(ctx, event.Batch{ProjectID: projectID, Events: evs}); err != nil {
		return fmt.Errorf("cannot record %d events (%s …): %w", len(evs), evs[0].Event, err)
	}
	return nil
}

// claimMargin is how much of a claim's lease must be left to start an
// attempt: the attempt's timeout, or half the lease when that is shorter
// (the crash tests' leases of seconds).
func (s *Sender) claimMargin() time.Duration {
	return min(channel.DefaultTimeout, s.cfg.Lease/2)
}

// hostSlots bounds the sends in flight to one destination host.
type hostSlots struct {
	sem   chan struct{}
	users int // senders holding or waiting for a slot
}

// hostSlot waits for one of the host's PerHost slots (ctx ending first is
// an error) and returns its release.
func (s *Sender) hostSlot(ctx context.Context, host string) (func(), error) {
	s.mu.Lock()
	h := s.hosts[host]
	if h == nil {
		h = &hostSlots{sem: make(chan struct{}, s.cfg.PerHost)}
		s.hosts[host] = h
	}
	h.users++
	s.mu.Unlock()
	done := func() {
		s.mu.Lock()
		if h.users--; h.users == 0 {
			delete(s.hosts, host) // the map holds only hosts in use
		}
		s.mu.Unlock()
	}
	select {
	case h.sem <- struct{}{}:
		return func() { <-h.sem; done() }, nil
	case <-ctx.Done():
		done()
		return nil, ctx.Err()
	}
}

// destination is the host a campaign's message goes to: the webhook's,
// the push service's, or the SMTP relay (one for every email).
func destination(l *Live, p Payload) string {
	switch l.Def.Channel.Type {
	case ChannelWebhook:
		if u, err := url.Parse(l.Def.Channel.URL); err == nil {
			return "webhook " + u.Host
		}
	case ChannelWebPush:
		if p.Push != nil {
			if u, err := url.Parse(p.Push.Endpoint); err == nil {
				return "push " + u.Host
			}
		}
	case ChannelEmail:
		return "smtp"
	}
	return l.Def.Channel.Type
}

// resolve finds the send's person now, by its distinct id, and the
// person's distinct ids.
func (s *Sender) resolve(ctx context.Context, sd meta.Send) (store.Person, []string, bool, error) {
	p, ids, err := s.cfg.Events.PersonByDistinctID(ctx, sd.ProjectID, sd.DistinctID)
	if errors.Is(err, store.ErrNotFound) {
		return store.Person{ID: sd.PersonID}, nil, false, nil
	}
	if err != nil {
		return store.Person{}, nil, false, err
	}
	return p, ids, true, nil
}

// duplicate reports whether, after a merge, another send of the same
// campaign and trigger event of the person is done or being sent (the
// lower id wins between two being sent).
func (s *Sender) duplicate(ctx context.Context, sd meta.Send) (bool, error) {
	sends, err := s.cfg.Meta.SendsForPerson(ctx, sd.ProjectID, sd.PersonID)
	if err != nil {
		return false, err
	}
	for _, o := range sends {
		if o.ID == sd.ID || o.CampaignID != sd.CampaignID || o.TriggerUUID != sd.TriggerUUID {
			continue
		}
		switch o.State {
		case meta.SendSent, meta.SendHeldOut, meta.SendFailed:
			return true, nil
		case meta.SendSending:
			if o.ID < sd.ID {
				return true, nil
			}
		}
	}
	return false, nil
}

// capped is when the frequency cap next allows a message to the person on
// the campaign's channel: now, or later.
func (s *Sender) capped(ctx context.Context, sd meta.Send, c *FrequencyCap, now time.Time) (time.Time, error) {
	since := now.Add(-c.PerDur)
	if c.Count == 1 {
		last, err := s.cfg.Meta.LastSentAt(ctx, sd.ProjectID, sd.PersonID, sd.Channel, since)
		if err != nil || last.IsZero() {
			return now, err
		}
		return c.NextAllowed([]time.Time{last}, now), nil
	}
	sends, err := s.cfg.Meta.SendsForPerson(ctx, sd.ProjectID, sd.PersonID)
	if err != nil {
		return now, err
	}
	var sent []time.Time
	for _, o := range sends {
		if o.State == meta.SendSent && o.Channel == sd.Channel && !o.SentAt.Before(since) {
			sent = append(sent, o.SentAt)
		}
	}
	return c.NextAllowed(sent, now), nil
}

// rate spaces a campaign's messages by its send rate (in this process):
// ok with the slot the send takes when it is at most wait away, else the
// time to come back.
func (s *Sender) rate(campaignID int64, spacing time.Duration, now time.Time, wait time.Duration) (time.Time, bool) {
	if spacing <= 0 {
		return now, true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.nextSlot) > 10000 {
		s.nextSlot, s.laterSlot = map[int64]time.Time{}, map[int64]time.Time{}
	}
	next := s.nextSlot[campaignID]
	if next.Before(now) {
		next = now
	}
	if next.Sub(now) <= wait {
		s.nextSlot[campaignID] = next.Add(spacing)
		return next, true
	}
	// Deferred sends come back one spacing apart, after the slots
	// taken, so that each then finds its slot near.
	later := s.laterSlot[campaignID]
	if later.Before(next) {
		later = next
	}
	s.laterSlot[campaignID] = later.Add(spacing)
	return later, false
}

// rateWait is how long a send may wait for its campaign's rate slot: a
// second, or a quarter of the lease when that is shorter.
func (s *Sender) rateWait() time.Duration {
	return min(time.Second, s.cfg.Lease/4)
}

// channelFor is the campaign's sender, kept per campaign version: a
// webhook, or what Channel makes.
func (s *Sender) channelFor(l *Live) (channel.Sender, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.senders[l.Meta.ID]; ok && e.version == l.Meta.Version {
		return e.sender, nil
	}
	var snd channel.Sender
	var err error
	switch {
	case l.Def.Channel.Type == ChannelWebhook && s.cfg.HTTP != nil:
		snd, err = channel.NewWebhook(l.Def.Channel.URL, l.Def.Channel.Secret, s.cfg.HTTP)
	case l.Def.Channel.Type != ChannelWebhook && s.cfg.Channel != nil:
		snd, err = s.cfg.Channel(l)
	default:
		err = fmt.Errorf("the %s channel is not configured on this server", l.Def.Channel.Type)
	}
	if err != nil {
		return nil, err
	}
	if len(s.senders) > 10000 {
		s.senders = map[int64]senderEntry{}
	}
	s.senders[l.Meta.ID] = senderEntry{version: l.Meta.Version, sender: snd}
	return snd, nil
}

// personEventsRead bounds the events GoalReached reads per send.
const personEventsRead = 2000

// GoalReached reports whether the person (with every person merged into
// it) did the campaign's goal after the send's trigger, within the goal's
// window, on the same item when the goal matches one. It reads the
// person's latest events from the event store, newest first, back to the
// trigger.
func GoalReached(ctx context.Context, events store.Store, projectID, personID int64, d *Definition, p Payload, personProps map[string]any) (bool, error) {
	rows, err := events.PersonEvents(ctx, projectID, personID, personEventsRead)
	if err != nil {
		return false, fmt.Errorf("cannot read the events of person %d: %w", personID, err)
	}
	for _, r := range rows {
		if r.Timestamp.Before(p.TriggerAt) {
			break
		}
		if r.Event != d.Goal.Event {
			continue
		}
		props := decodeProps(r.Properties)
		if MatchFilters(d.Goal.Filters, props, personProps) && Converts(d, p, r.Timestamp, props) {
			return true, nil
		}
	}
	return false, nil
}

// StatusReasonSetting is the project setting that records why a campaign
// last changed status when the server changed it ({"status", "reason",
// "at"}): a webhook endpoint that answered 410, say.
func StatusReasonSetting(campaignID int64) string {
	return "campaigns.status_reason." + strconv.FormatInt(campaignID, 10)
}

// StatusReason is a StatusReasonSetting's value.
type StatusReason struct {
	Status string    `json:"status"`
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

// SetStatus moves a campaign to status (in its row and its definition)
// and records why. A stopped campaign stays stopped; stopping cancels its
// pending sends.
func SetStatus(ctx context.Context, m meta.Store, projectID, id int64, status, reason string) error {
	for attempt := 0; ; attempt++ {
		c, err := m.Campaign(ctx, projectID, id)
		if err != nil {
			return err
		}
		if c.Status == status || c.Status == meta.CampaignStopped {
			return nil
		}
		def, err := WithStatus(c.Definition, status)
		if err != nil {
			return err
		}
		c.Status, c.Definition = status, def
		_, err = m.UpdateCampaign(ctx, c, c.Version)
		if errors.Is(err, meta.ErrConflict) && attempt < 3 {
			continue
		}
		if err != nil {
			return err
		}
		break
	}
	if status == meta.CampaignStopped {
		if _, err := m.CancelCampaignSends(ctx, projectID, id, "campaign stopped"); err != nil {
			return err
		}
	}
	if reason == "" {
		return nil
	}
	b, _ := json.Marshal(StatusReason{Status: status, Reason: reason, At: time.Now().UTC()})
	return m.SetSetting(ctx, projectID, StatusReasonSetting(id), b)
}

// WithStatus returns a stored definition with its status replaced, every
// other field's value kept as it was.
func WithStatus(def json.RawMessage, status string) (json.RawMessage, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(def, &fields); err != nil {
		return nil, err
	}
	fields["status"], _ = json.Marshal(status)
	return json.Marshal(fields)
}
