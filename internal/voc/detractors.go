package voc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/journey-dev/journey/internal/event"
	"github.com/journey-dev/journey/internal/eventlog"
	"github.com/journey-dev/journey/internal/meta"
	"github.com/journey-dev/journey/internal/store"
)

// Detractors' open answers become feedback items (issue 16 item 4): a
// `survey sent` event whose NPS answer is 0–6 (or CSAT answer 1–2) and
// that has an open-text answer is stored as an item of source survey,
// linked to the respondent (its distinct id and person), tagged
// nps-detractor (csat-detractor) and put in the theme its text is most
// like, when one is like it.
//
// Why a consumer of the event log rather than the point where responses
// are stored: responses are not stored by Journey's survey code at all —
// posthog-js captures them as events, through the same capture path as
// any event (and imports and SDKs can send them too). The log is the one
// place every response passes, durably and in order; reading it as its
// own consumer with its own checkpoint (meta log_consumers, as the
// campaign engine does) means a crash replays the batch since the
// checkpoint, never loses one, and the item's external id (the response's
// $survey_submission_id, else the event's uuid) makes the replay store
// nothing twice. The loader trims the log only up to this checkpoint.

// DetractorConsumer names the consumer among the log's consumers.
const DetractorConsumer = "voc.detractors"

// Tags of the items made from detractors' answers.
const (
	TagNPSDetractor  = "nps-detractor"
	TagCSATDetractor = "csat-detractor"
)

// SurveySentEvent is the event posthog-js captures a response as.
const SurveySentEvent = "survey sent"

// Answer is a detractor's open answer found in a response.
type Answer struct {
	Kind         string // TagNPSDetractor or TagCSATDetractor
	Score        int
	Text         string
	SubmissionID string
}

// responseValue reads question i's answer from a response's properties:
// $survey_response_<id>, or posthog-js's older keys ($survey_response for
// the first question, $survey_response_<index> for the others).
func responseValue(props map[string]any, q Question, i int) (any, bool) {
	if v, ok := props[ResponseKey(q.ID)]; ok && v != nil {
		return v, true
	}
	legacy := "$survey_response"
	if i > 0 {
		legacy += "_" + strconv.Itoa(i)
	}
	v, ok := props[legacy]
	return v, ok && v != nil
}

// DetractorAnswer finds a detractor's open answer in a response to s: the
// first NPS (0–10) or CSAT (1–5) rating answered as a detractor, and the
// first non-empty open answer; ok is false when either is missing.
func (s *Survey) DetractorAnswer(props map[string]any) (Answer, bool) {
	var a Answer
	rated := false
	for i, q := range s.Questions {
		v, ok := responseValue(props, q, i)
		if !ok {
			continue
		}
		switch {
		case q.Type == QuestionRating && !rated && (q.Scale == 10 || q.Scale == 5):
			raw, _ := json.Marshal(v)
			lo, hi := ratingRange(q.Scale)
			n, ok := rating(raw, lo, hi)
			if !ok {
				continue
			}
			rated = true
			if q.Scale == 10 && n <= 6 {
				a.Kind, a.Score = TagNPSDetractor, n
			}
			if q.Scale == 5 && n <= 2 {
				a.Kind, a.Score = TagCSATDetractor, n
			}
		case q.Type == QuestionOpen && a.Text == "":
			if t, ok := v.(string); ok {
				a.Text = strings.TrimSpace(t)
			}
		}
	}
	if len(a.Text) > meta.MaxFeedbackText {
		a.Text = a.Text[:meta.MaxFeedbackText]
		for !utf8.ValidString(a.Text) {
			a.Text = a.Text[:len(a.Text)-1]
		}
	}
	a.SubmissionID, _ = props["$survey_submission_id"].(string)
	return a, a.Kind != "" && a.Text != ""
}

// DetractorConfig configures a Detractors consumer.
type DetractorConfig struct {
	Log    eventlog.Log
	Meta   meta.Store
	Events store.Store
	// WaitApplied blocks until the loader applied the log up to pos (so
	// respondents resolve to their persons).
	WaitApplied func(ctx context.Context, pos uint64) error
	// Start is where to go on from when the checkpoint was trimmed away
	// (the loader's checkpoint).
	Start func(ctx context.Context) (uint64, error)
	// Emit captures the items' $feedback_submitted events (nil: none).
	Emit func(ctx context.Context, b event.Batch) error
	// MaxBytes bounds one read of the log (default 4 MiB).
	MaxBytes int
}

// Detractors turns detractors' answers in the log into feedback items.
type Detractors struct {
	cfg     DetractorConfig
	stored  atomic.Uint64
	started atomic.Bool
}

// NewDetractors returns a consumer; Run starts it.
func NewDetractors(cfg DetractorConfig) *Detractors {
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = 4 << 20
	}
	return &Detractors{cfg: cfg}
}

// Position is the stored checkpoint (0 until read: nothing may be trimmed).
func (d *Detractors) Position() uint64 {
	if !d.started.Load() {
		return 0
	}
	return d.stored.Load()
}

// RunOn runs the consumer on log (on JetStream, a reader of its own, made
// for each run).
func (d *Detractors) RunOn(ctx context.Context, log eventlog.Log) {
	d.cfg.Log = log
	d.Run(ctx)
}

// Run consumes the log until ctx is done, retrying failures after a
// pause from the stored checkpoint.
func (d *Detractors) Run(ctx context.Context) {
	for {
		err := d.run(ctx)
		if ctx.Err() != nil || errors.Is(err, eventlog.ErrClosed) {
			return
		}
		slog.Error("voc detractors failed; retrying", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

func (d *Detractors) run(ctx context.Context) error {
	pos, _, err := d.cfg.Meta.ConsumerPosition(ctx, DetractorConsumer)
	if err != nil {
		return fmt.Errorf("cannot read the checkpoint of %s: %w", DetractorConsumer, err)
	}
	d.stored.Store(pos)
	d.started.Store(true)
	for {
		entries, err := d.cfg.Log.Read(ctx, pos, d.cfg.MaxBytes)
		if err != nil {
			if ctx.Err() == nil && d.cfg.Start != nil && trimmed(err) {
				if start, serr := d.cfg.Start(ctx); serr == nil && start > pos {
					slog.Warn("voc detractors: the checkpoint was trimmed from the event log; responses in between are skipped", "from", pos, "to", start)
					pos = start
					continue
				}
			}
			return err
		}
		if len(entries) == 0 {
			continue
		}
		next := entries[len(entries)-1].Next
		if d.cfg.WaitApplied != nil {
			if err := d.cfg.WaitApplied(ctx, next); err != nil {
				return err
			}
		}
		if err := d.Process(ctx, entries); err != nil {
			return err
		}
		save, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		err = d.cfg.Meta.SetConsumerPosition(save, DetractorConsumer, next)
		cancel()
		if err != nil {
			return fmt.Errorf("cannot store the checkpoint of %s: %w", DetractorConsumer, err)
		}
		pos = next
		d.stored.Store(pos)
	}
}

// trimmed reports whether err says the position is no longer in the log
// (the file log's and JetStream's words).
func trimmed(err error) bool {
	s := err.Error()
	return strings.Contains(s, "before the oldest segment") || strings.Contains(s, "were trimmed or deleted")
}

// Process stores the items of the detractors' answers in entries; it is
// idempotent, so entries may be processed again.
func (d *Detractors) Process(ctx context.Context, entries []eventlog.Entry) error {
	surveys := map[[2]int64]*Survey{} // this call's survey reads (nil: none)
	for _, en := range entries {
		rb := en.Batch
		for i := range rb.Events {
			ev := &rb.Events[i]
			if ev.Event != SurveySentEvent || ev.DistinctID == "" || ev.NoPerson {
				continue
			}
			if err := d.response(ctx, rb.ProjectID, ev, surveys); err != nil {
				return err
			}
		}
	}
	return nil
}

func (d *Detractors) response(ctx context.Context, projectID int64, ev *event.Raw, surveys map[[2]int64]*Survey) error {
	props := map[string]any{}
	dec := json.NewDecoder(bytes.NewReader(ev.Properties))
	dec.UseNumber()
	if len(ev.Properties) == 0 || dec.Decode(&props) != nil {
		return nil
	}
	for k, v := range props { // ratings read numbers as float64
		if n, ok := v.(json.Number); ok {
			if f, err := n.Float64(); err == nil {
				props[k] = f
			}
		}
	}
	id, err := strconv.ParseInt(fmt.Sprint(props["$survey_id"]), 10, 64)
	if err != nil || id <= 0 {
		return nil // not one of Journey's surveys
	}
	k := [2]int64{projectID, id}
	s, seen := surveys[k]
	if !seen {
		rec, err := d.cfg.Meta.Survey(ctx, projectID, id)
		switch {
		case errors.Is(err, meta.ErrNotFound):
		case err != nil:
			return fmt.Errorf("cannot read survey %d: %w", id, err)
		default:
			if s, err = FromRecord(rec); err != nil {
				slog.Warn("voc detractors: survey skipped", "project", projectID, "survey", id, "err", err)
			}
		}
		surveys[k] = s
	}
	if s == nil {
		return nil
	}
	a, ok := s.DetractorAnswer(props)
	if !ok {
		return nil
	}
	return d.store(ctx, projectID, id, ev, a)
}

// store makes the item of one answer and captures its event.
func (d *Detractors) store(ctx context.Context, projectID, surveyID int64, ev *event.Raw, a Answer) error {
	ext := a.SubmissionID
	if ext == "" || len(ext) > 200 {
		ext = ev.UUID
	}
	f := meta.FeedbackItem{ProjectID: projectID, Text: a.Text, Source: meta.SourceSurvey, DistinctID: ev.DistinctID,
		Tags: []string{a.Kind, "survey-" + strconv.FormatInt(surveyID, 10)}, ExternalID: "survey:" + ext, CreatedAt: ev.Timestamp}
	if d.cfg.Events != nil {
		if p, _, err := d.cfg.Events.PersonByDistinctID(ctx, projectID, ev.DistinctID); err == nil {
			f.PersonID = p.ID
		}
	}
	samples, err := ThemeSamples(ctx, d.cfg.Meta, projectID)
	if err != nil {
		return err
	}
	if sg := SuggestThemes(a.Text, samples); len(sg) > 0 {
		f.ThemeID = sg[0].ThemeID
	}
	stored, err := d.cfg.Meta.CreateFeedback(ctx, f)
	if err != nil && !errors.Is(err, meta.ErrExists) {
		var fe *meta.FieldError
		if errors.As(err, &fe) { // a text the store refuses: skip the answer
			slog.Warn("voc detractors: answer not stored", "project", projectID, "survey", surveyID, "err", err)
			return nil
		}
		return fmt.Errorf("cannot store a detractor's answer: %w", err)
	}
	if d.cfg.Emit == nil {
		return nil
	}
	// Emitted again for an item stored before a crash: its uuid is the
	// item's, so the event store keeps one.
	return d.cfg.Emit(ctx, event.Batch{ProjectID: projectID, Events: []event.Event{FeedbackEvent(stored, time.Now())}})
}

// FeedbackEvent is the $feedback_submitted event of a stored item, with
// the uuid the API gives it (one per item, so a retried emission is
// stored once).
func FeedbackEvent(f meta.FeedbackItem, now time.Time) event.Event {
	props := map[string]any{"feedback_id": f.ID, "source": f.Source, "tags": f.Tags}
	if f.ThemeID != 0 {
		props["theme_id"] = f.ThemeID
	}
	id := uuid.NewSHA1(uuid.NameSpaceURL, []byte(fmt.Sprintf("journey:feedback:%d:%d", f.ProjectID, f.ID))).String()
	return event.Event{UUID: id, Event: "$feedback_submitted", DistinctID: f.DistinctID, Timestamp: f.CreatedAt, ReceivedAt: now, Properties: props}
}

// maxSampleThemes bounds the themes a detractor's answer is compared with.
const maxSampleThemes = 200

// ThemeSamples are the project's live themes (at most 200), each with
// its newest items' texts, for SuggestThemes.
func ThemeSamples(ctx context.Context, m meta.Store, projectID int64) ([]ThemeSample, error) {
	themes, err := m.Themes(ctx, projectID)
	if err != nil {
		return nil, fmt.Errorf("cannot list the themes of project %d: %w", projectID, err)
	}
	var out []ThemeSample
	for _, th := range themes {
		if th.MergedInto != 0 {
			continue
		}
		if len(out) == maxSampleThemes {
			break
		}
		items, err := m.ListFeedback(ctx, projectID, meta.FeedbackFilter{ThemeID: th.ID, Limit: MaxSampleTexts})
		if err != nil {
			return nil, fmt.Errorf("cannot list the items of theme %d: %w", th.ID, err)
		}
		sample := ThemeSample{Theme: th}
		for _, it := range items {
			sample.Texts = append(sample.Texts, it.Text)
		}
		out = append(out, sample)
	}
	return out, nil
}
