package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/journey-dev/journey/internal/capture"
	"github.com/journey-dev/journey/internal/event"
	"github.com/journey-dev/journey/internal/flagserve"
	"github.com/journey-dev/journey/internal/insight"
	"github.com/journey-dev/journey/internal/intake"
	"github.com/journey-dev/journey/internal/meta"
	"github.com/journey-dev/journey/internal/ngram"
	"github.com/journey-dev/journey/internal/voc"
)

// The voice-of-customer inbox (SPEC §7, issue 16, package voc): feedback
// items, their notes and replies, themes and the impact ranking, over the
// secret-key API (/api/v1/…) and the UI (/ui/api/projects/{pid}/…:
// viewers read, members change); and the widget's public POST /feedback/
// (project token, CORS, per-client limits).

// EventFeedback is the event every stored item is captured as, through
// the event log like any event, so funnels, cohorts and KPIs can use it.
const EventFeedback = "$feedback_submitted"

// SettingBadDays is the project setting that may define bad days for
// the ranking, {"bad":[{"event":…,"filters":[…]}]} (bad_days' own
// shape); unset, a bad day is one with an $exception, as on the home page.
const SettingBadDays = "bad_days"

// Widget limits per client (intake.ClientKey: an address, an IPv6 /64):
// a person types feedback, a script floods it.
const (
	widgetRate    = 0.2 // a second: one every 5 s on average
	widgetBurst   = 10
	widgetClients = 100_000
	maxCSVBody    = 1 << 20 // the server's API body limit
)

func (s *Server) registerFeedback(mux *routeMux) {
	viewer, member := meta.RoleViewer, meta.RoleMember
	routes := []projectRoute{
		{"GET", "/feedback", viewer, s.listFeedback},
		{"POST", "/feedback", member, s.createFeedback},
		{"POST", "/feedback/import", member, s.importFeedback},
		{"POST", "/feedback/inbound", member, s.inboundFeedback},
		{"GET", "/feedback/{id}", viewer, s.getFeedback},
		{"PATCH", "/feedback/{id}", member, s.patchFeedback},
		{"DELETE", "/feedback/{id}", member, s.deleteFeedback},
		{"POST", "/feedback/{id}/notes", member, s.feedbackComment(meta.CommentNote)},
		{"POST", "/feedback/{id}/replies", member, s.feedbackComment(meta.CommentReply)},
		{"POST", "/feedback/{id}/merge", member, s.mergeFeedback},
		{"POST", "/feedback/{id}/vote", member, s.voteFeedback},
		{"GET", "/feedback/{id}/suggestions", viewer, s.feedbackSuggestions},
		{"GET", "/themes", viewer, s.listThemes},
		{"POST", "/themes", member, s.createTheme},
		{"GET", "/themes/suggestions", viewer, s.themeSuggestions},
		{"GET", "/themes/{id}", viewer, s.getTheme},
		{"PATCH", "/themes/{id}", member, s.patchTheme},
		{"DELETE", "/themes/{id}", member, s.deleteTheme},
		{"POST", "/themes/{id}/merge", member, s.mergeTheme},
	}
	s.handleProjectRoutes(mux, routes)
	for _, path := range []string{"/feedback", "/feedback/{$}"} {
		mux.HandleFunc("POST "+path, s.widgetFeedback)
		mux.HandleFunc("OPTIONS "+path, s.widgetFeedback)
	}
}

// feedbackError answers a refused value (400 naming its field), a missing
// item or theme (404), or a store error.
func feedbackError(w http.ResponseWriter, what string, err error) {
	var fe *meta.FieldError
	var bad *insight.Error
	switch {
	case errors.As(err, &bad):
		writeBad(w, err)
	case errors.As(err, &fe):
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": fe.Error(), "field": fe.Field})
	case errors.Is(err, meta.ErrNotFound):
		writeError(w, http.StatusNotFound, "no such "+what+" in this project")
	default:
		metaError(w, what, err)
	}
}

// feedbackEventUUID is the stored item's event uuid: one per item, so a
// retried emission is deduplicated by the event store.
func feedbackEventUUID(projectID, id int64) string {
	return uuid.NewSHA1(uuid.NameSpaceURL, []byte(fmt.Sprintf("journey:feedback:%d:%d", projectID, id))).String()
}

// feedbackEvent is the $feedback_submitted event of a stored item.
func feedbackEvent(f meta.FeedbackItem, now time.Time) event.Event {
	props := map[string]any{"feedback_id": f.ID, "source": f.Source, "tags": f.Tags}
	if f.ThemeID != 0 {
		props["theme_id"] = f.ThemeID
	}
	return event.Event{UUID: feedbackEventUUID(f.ProjectID, f.ID), Event: EventFeedback, DistinctID: f.DistinctID,
		Timestamp: f.CreatedAt, ReceivedAt: now, Properties: props}
}

// emitFeedback captures items' events through the event log (the path
// campaigns' $message_* events take). The items are stored already: a
// failure is reported with them, not as a failed write.
func (s *Server) emitFeedback(ctx context.Context, projectID int64, items []meta.FeedbackItem) error {
	if s.Campaigns.Emit == nil || len(items) == 0 {
		return nil
	}
	now := time.Now()
	evs := make([]event.Event, len(items))
	for i, f := range items {
		evs[i] = feedbackEvent(f, now)
	}
	if err := s.Campaigns.Emit(ctx, event.Batch{ProjectID: projectID, Events: evs}); err != nil {
		slog.Error("cannot record feedback events", "project", projectID, "err", err)
		return err
	}
	return nil
}

// storeFeedback stores one decoded input as an item of p, resolving its
// person, captures its event and answers 201 with the item (200 with the
// stored one for a repeated external id). The public widget endpoint
// gets only the item's id, its own distinct id, source, status and time:
// its person id would tell anyone with the page's token whether a
// distinct id is a known customer.
func (s *Server) storeFeedback(w http.ResponseWriter, r *http.Request, p meta.Project, in voc.Input, public bool) {
	answer := func(status int, f meta.FeedbackItem, eventError string) {
		var v any = f
		switch {
		case public:
			v = map[string]any{"id": f.ID, "distinct_id": f.DistinctID, "source": f.Source, "status": f.Status, "created_at": f.CreatedAt}
		case eventError != "":
			v = map[string]any{"item": f, "id": f.ID, "event_error": eventError}
		}
		writeJSON(w, status, v)
	}
	var person int64
	if s.Events != nil {
		if found, _, err := s.Events.PersonByDistinctID(r.Context(), p.ID, in.DistinctID); err == nil {
			person = found.ID
		}
	}
	f, err := s.Meta.CreateFeedback(r.Context(), in.Item(p.ID, person))
	if errors.Is(err, meta.ErrExists) {
		answer(http.StatusOK, f, "")
		return
	}
	if err != nil {
		feedbackError(w, "feedback", err)
		return
	}
	if err := s.emitFeedback(r.Context(), p.ID, []meta.FeedbackItem{f}); err != nil {
		answer(http.StatusCreated, f, "the item is stored; its "+EventFeedback+" event is not")
		return
	}
	answer(http.StatusCreated, f, "")
}

// createFeedback: POST /api/v1/feedback {"text","distinct_id","source",
// "tags","theme_id"?, …} → the item (contract: "id").
func (s *Server) createFeedback(w http.ResponseWriter, r *http.Request, p meta.Project, _ int64) {
	body, ok := readExperimentBody(w, r)
	if !ok {
		return
	}
	in, err := voc.DecodeFeedback(body, meta.SourceAPI)
	if err != nil {
		writeBad(w, err)
		return
	}
	s.storeFeedback(w, r, p, in, false)
}

// inboundFeedback: POST /api/v1/feedback/inbound, a help desk's ticket
// (voc.Inbound); a retried ticket answers the stored item.
func (s *Server) inboundFeedback(w http.ResponseWriter, r *http.Request, p meta.Project, _ int64) {
	body, ok := readExperimentBody(w, r)
	if !ok {
		return
	}
	in, err := voc.DecodeInbound(body)
	if err != nil {
		writeBad(w, err)
		return
	}
	s.storeFeedback(w, r, p, in, false)
}

var widgetLimiters sync.Map // *Server → *flagserve.ClientLimiter

func (s *Server) widgetLimiter() *flagserve.ClientLimiter {
	if l, ok := widgetLimiters.Load(s); ok {
		return l.(*flagserve.ClientLimiter)
	}
	l, _ := widgetLimiters.LoadOrStore(s, flagserve.NewClientLimiter(widgetRate, widgetBurst, widgetClients, time.Now))
	return l.(*flagserve.ClientLimiter)
}

// widgetFeedback: POST /feedback/ from a web page, {"token", "text",
// "distinct_id", "tags"} as JSON or text/plain (no preflight), with the
// project token; CORS like capture's. A public caller can name neither a
// theme nor accounts: those would steer the ranking.
func (s *Server) widgetFeedback(w http.ResponseWriter, r *http.Request) {
	capture.SetCORS(w.Header(), r)
	if r.Method == http.MethodOptions {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if ok, wait := s.widgetLimiter().Allow(intake.ClientKey(r, s.TrustedProxies)); !ok {
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int((wait+time.Second-1)/time.Second))))
		writeError(w, http.StatusTooManyRequests, "too much feedback from this address; try again later")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, voc.MaxFeedbackBody))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body too large: at most %d bytes", voc.MaxFeedbackBody))
		return
	}
	in, err := voc.DecodeFeedback(body, meta.SourceWidget)
	if err == nil && in.Source != meta.SourceWidget {
		err = insight.Bad("source", "the widget's feedback is source widget")
	}
	if err != nil {
		writeBad(w, err)
		return
	}
	token := in.Token
	if token == "" {
		token = r.URL.Query().Get("token")
	}
	p, err := s.Meta.ProjectByToken(r.Context(), token)
	if errors.Is(err, meta.ErrNotFound) {
		writeError(w, http.StatusUnauthorized, "unknown project token")
		return
	}
	if err != nil {
		metaError(w, "project", err)
		return
	}
	in.ThemeID, in.Accounts, in.ExternalID, in.Priority = 0, nil, "", ""
	s.storeFeedback(w, r, p, in, true)
}

// importFeedback: POST /api/v1/feedback/import, a CSV file (voc.ParseCSV)
// of up to voc.MaxCSVRows rows. All or nothing: any refused row answers
// 400 with the rows and nothing is stored. Persons are resolved by the
// next ranking.
func (s *Server) importFeedback(w http.ResponseWriter, r *http.Request, p meta.Project, _ int64) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxCSVBody))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body too large: at most %d bytes", maxCSVBody))
		return
	}
	ins, bad, err := voc.ParseCSV(strings.NewReader(string(body)))
	if err != nil {
		writeBad(w, err)
		return
	}
	if len(bad) > 0 {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": fmt.Sprintf("%d rows refused (the first at line %d: %s); nothing was imported", len(bad), bad[0].Row, bad[0].Error),
			"field": "rows", "rows": bad})
		return
	}
	ids := []int64{}
	var emitErr error
	for len(ins) > 0 {
		n := min(meta.MaxFeedbackBatch, len(ins))
		items := make([]meta.FeedbackItem, n)
		for i, in := range ins[:n] {
			items[i] = in.Item(p.ID, 0)
		}
		stored, err := s.Meta.ImportFeedback(r.Context(), items)
		if err != nil {
			feedbackError(w, "feedback", err)
			return
		}
		for _, f := range stored {
			ids = append(ids, f.ID)
		}
		if err := s.emitFeedback(r.Context(), p.ID, stored); err != nil {
			emitErr = err
		}
		ins = ins[n:]
	}
	out := map[string]any{"imported": len(ids), "ids": ids}
	if emitErr != nil {
		out["event_error"] = "the items are stored; some of their " + EventFeedback + " events are not"
	}
	writeJSON(w, http.StatusOK, out)
}

// feedbackView is an item with its notes and replies.
type feedbackView struct {
	meta.FeedbackItem
	Notes   []meta.FeedbackComment `json:"notes"`
	Replies []replyView            `json:"replies"`
}

// replyView is a reply with its delivery to the customer: the state of
// its send in the durable schedule (pending while the sender retries with
// backoff, sent, failed once it gave up, cancelled when unsubscribed),
// absent when it was not sent (no customers' channel).
type replyView struct {
	meta.FeedbackComment
	Delivery *replyDelivery `json:"delivery,omitempty"`
}

type replyDelivery struct {
	State         string    `json:"state"`
	Attempts      int       `json:"attempts"`
	NextAttemptAt time.Time `json:"next_attempt_at,omitzero"`
	SentAt        time.Time `json:"sent_at,omitzero"`
	LastError     string    `json:"last_error,omitempty"`
}

func (s *Server) loadFeedback(w http.ResponseWriter, r *http.Request, p meta.Project) (meta.FeedbackItem, bool) {
	id, ok := pathID(w, r, "feedback item")
	if !ok {
		return meta.FeedbackItem{}, false
	}
	f, err := s.Meta.Feedback(r.Context(), p.ID, id)
	if err != nil {
		feedbackError(w, "feedback item", err)
		return f, false
	}
	return f, true
}

func (s *Server) getFeedback(w http.ResponseWriter, r *http.Request, p meta.Project, _ int64) {
	f, ok := s.loadFeedback(w, r, p)
	if !ok {
		return
	}
	comments, err := s.Meta.FeedbackComments(r.Context(), p.ID, f.ID)
	if err != nil {
		feedbackError(w, "feedback item", err)
		return
	}
	v := feedbackView{FeedbackItem: f, Notes: []meta.FeedbackComment{}, Replies: []replyView{}}
	for _, c := range comments {
		if c.Kind == meta.CommentReply {
			rv := replyView{FeedbackComment: c}
			if sd, err := s.Meta.SendByKey(r.Context(), p.ID, voc.ReplyKey(p.ID, c.ID)); err == nil {
				rv.Delivery = &replyDelivery{State: sd.State, Attempts: sd.Attempts, NextAttemptAt: sd.NextAttemptAt, SentAt: sd.SentAt, LastError: sd.LastError}
				if sd.State != meta.SendPending {
					rv.Delivery.NextAttemptAt = time.Time{}
				}
			} else if !errors.Is(err, meta.ErrNotFound) {
				slog.Warn("cannot read a reply's delivery", "reply", c.ID, "err", err)
			}
			v.Replies = append(v.Replies, rv)
		} else {
			v.Notes = append(v.Notes, c)
		}
	}
	writeJSON(w, http.StatusOK, v)
}

// feedbackPatch is what PATCH /feedback/{id} may change; absent fields
// stay.
type feedbackPatch struct {
	Text        *string   `json:"text"`
	Status      *string   `json:"status"`
	Priority    *string   `json:"priority"`
	Tags        *[]string `json:"tags"`
	AssigneeID  *int64    `json:"assignee_id"`
	Attachments *[]string `json:"attachments"`
	Accounts    *[]string `json:"accounts"`
	Votes       *int      `json:"votes"`
	ThemeID     *int64    `json:"theme_id"`
}

// decodeStrictJSON decodes one JSON object, refusing unknown fields.
func decodeStrictJSON(body []byte, v any) error {
	d := json.NewDecoder(strings.NewReader(string(body)))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return insight.Bad("body", "cannot decode body as JSON: %v", err)
	}
	return nil
}

func (s *Server) patchFeedback(w http.ResponseWriter, r *http.Request, p meta.Project, _ int64) {
	f, ok := s.loadFeedback(w, r, p)
	if !ok {
		return
	}
	body, ok := readExperimentBody(w, r)
	if !ok {
		return
	}
	var pt feedbackPatch
	if err := decodeStrictJSON(body, &pt); err != nil {
		writeBad(w, err)
		return
	}
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = strings.TrimSpace(*v)
		}
	}
	set(&f.Text, pt.Text)
	set(&f.Status, pt.Status)
	set(&f.Priority, pt.Priority)
	if pt.Tags != nil {
		f.Tags = make([]string, 0, len(*pt.Tags))
		for _, t := range *pt.Tags {
			f.Tags = append(f.Tags, strings.ToLower(strings.TrimSpace(t)))
		}
	}
	if pt.Attachments != nil {
		if err := voc.CheckAttachments(*pt.Attachments); err != nil {
			writeBad(w, err)
			return
		}
		f.Attachments = *pt.Attachments
	}
	if pt.Accounts != nil {
		f.Accounts = *pt.Accounts
	}
	if pt.Votes != nil {
		f.Votes = *pt.Votes
	}
	if pt.ThemeID != nil {
		f.ThemeID = *pt.ThemeID
	}
	if pt.AssigneeID != nil {
		if *pt.AssigneeID != 0 {
			if _, err := s.Meta.Role(r.Context(), p.ID, *pt.AssigneeID); err != nil {
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid field \"assignee_id\": not a member of this project", "field": "assignee_id"})
				return
			}
		}
		f.AssigneeID = *pt.AssigneeID
	}
	up, err := s.Meta.UpdateFeedback(r.Context(), f)
	if err != nil {
		feedbackError(w, "feedback item", err)
		return
	}
	writeJSON(w, http.StatusOK, up)
}

func (s *Server) deleteFeedback(w http.ResponseWriter, r *http.Request, p meta.Project, _ int64) {
	id, ok := pathID(w, r, "feedback item")
	if !ok {
		return
	}
	if err := s.Meta.DeleteFeedback(r.Context(), p.ID, id); err != nil {
		feedbackError(w, "feedback item", err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// feedbackComment: POST /feedback/{id}/notes (internal) and /replies
// (customer-visible; the first one is the item's first response), {"text"}.
func (s *Server) feedbackComment(kind string) experimentHandler {
	return func(w http.ResponseWriter, r *http.Request, p meta.Project, userID int64) {
		id, ok := pathID(w, r, "feedback item")
		if !ok {
			return
		}
		body, ok := readExperimentBody(w, r)
		if !ok {
			return
		}
		var req struct {
			Text string `json:"text"`
		}
		if err := decodeStrictJSON(body, &req); err != nil {
			writeBad(w, err)
			return
		}
		c, err := s.Meta.AddFeedbackComment(r.Context(), meta.FeedbackComment{ProjectID: p.ID, ItemID: id, Kind: kind, UserID: userID, Text: strings.TrimSpace(req.Text)})
		if err != nil {
			feedbackError(w, "feedback item", err)
			return
		}
		s.deliverReply(r, p, c) // feedback_sla.go: a reply goes to the customer
		writeJSON(w, http.StatusCreated, c)
	}
}

// intoBody decodes {"into": id}.
func intoBody(w http.ResponseWriter, r *http.Request) (int64, bool) {
	body, ok := readExperimentBody(w, r)
	if !ok {
		return 0, false
	}
	var req struct {
		Into int64 `json:"into"`
	}
	if err := decodeStrictJSON(body, &req); err != nil {
		writeBad(w, err)
		return 0, false
	}
	if req.Into <= 0 {
		writeBad(w, insight.Bad("into", "want the id to merge into"))
		return 0, false
	}
	return req.Into, true
}

// mergeFeedback: POST /feedback/{id}/merge {"into"}: the item is a
// duplicate of into (votes and tags move; its person and accounts stay
// linked to into's theme). Answers into.
func (s *Server) mergeFeedback(w http.ResponseWriter, r *http.Request, p meta.Project, _ int64) {
	id, ok := pathID(w, r, "feedback item")
	if !ok {
		return
	}
	into, ok := intoBody(w, r)
	if !ok {
		return
	}
	f, err := s.Meta.MergeFeedback(r.Context(), p.ID, id, into)
	if err != nil {
		feedbackError(w, "feedback item", err)
		return
	}
	writeJSON(w, http.StatusOK, f)
}

// voteFeedback: POST /feedback/{id}/vote adds one vote (to the item a
// duplicate was merged into).
func (s *Server) voteFeedback(w http.ResponseWriter, r *http.Request, p meta.Project, _ int64) {
	f, ok := s.loadFeedback(w, r, p)
	if !ok {
		return
	}
	if f.MergedInto != 0 {
		var err error
		if f, err = s.Meta.Feedback(r.Context(), p.ID, f.MergedInto); err != nil {
			feedbackError(w, "feedback item", err)
			return
		}
	}
	f.Votes++
	up, err := s.Meta.UpdateFeedback(r.Context(), f)
	if err != nil {
		feedbackError(w, "feedback item", err)
		return
	}
	writeJSON(w, http.StatusOK, up)
}

// listFeedback: GET /feedback?q=&status=&theme=&tag=&distinct_id=&before=
// &limit= (newest first; best match first with q), or sort=impact for
// the items ranked (voc.Rank; status and theme filter the ranked items).
func (s *Server) listFeedback(w http.ResponseWriter, r *http.Request, p meta.Project, _ int64) {
	q := r.URL.Query()
	f := meta.FeedbackFilter{Status: q.Get("status"), Tag: strings.ToLower(q.Get("tag")), DistinctID: q.Get("distinct_id")}
	if f.Status != "" && !validFeedbackStatus(f.Status) {
		writeBad(w, insight.Bad("status", "unknown status %q: want new, planned, in_progress, done or declined", f.Status))
		return
	}
	switch th := q.Get("theme"); th {
	case "":
	case "none":
		f.ThemeID = -1
	default:
		id, err := strconv.ParseInt(th, 10, 64)
		if err != nil || id <= 0 {
			writeBad(w, insight.Bad("theme", "want a theme id or none"))
			return
		}
		f.ThemeID = id
	}
	var err error
	if f.Limit, err = queryInt(q.Get("limit"), 100, 1, meta.MaxFeedbackList); err != nil {
		writeBad(w, insight.Bad("limit", "%v", err))
		return
	}
	if f.BeforeID, err = queryInt64(q.Get("before")); err != nil {
		writeBad(w, insight.Bad("before", "want an item id"))
		return
	}
	if sortBy := q.Get("sort"); sortBy != "" && sortBy != "new" {
		s.rankedItems(w, r, p, f, sortBy)
		return
	}
	if text := q.Get("q"); strings.TrimSpace(text) != "" {
		f.Grams, f.MinGrams = ngram.SearchGrams(text)
		if len(f.Grams) == 0 {
			writeJSON(w, http.StatusOK, map[string]any{"items": []meta.FeedbackItem{}})
			return
		}
	}
	items, err := s.Meta.ListFeedback(r.Context(), p.ID, f)
	if err != nil {
		feedbackError(w, "feedback", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
}

func validFeedbackStatus(st string) bool {
	switch st {
	case meta.FeedbackNew, meta.FeedbackPlanned, meta.FeedbackInProgress, meta.FeedbackDone, meta.FeedbackDeclined:
		return true
	}
	return false
}

func queryInt(v string, def, lo, hi int) (int, error) {
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("want %d..%d", lo, hi)
	}
	return n, nil
}

func queryInt64(v string) (int64, error) {
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, errors.New("want a non-negative id")
	}
	return n, nil
}

// rankOptions reads the ranking's parameters: days (1..365, default 90),
// group_type (default company), revenue_property (items'; default mrr),
// and the project's bad_days setting.
func (s *Server) rankOptions(ctx context.Context, r *http.Request, p meta.Project) (voc.RankOptions, error) {
	q := r.URL.Query()
	o := voc.RankOptions{GroupType: q.Get("group_type"), RevenueProperty: q.Get("revenue_property")}
	var err error
	if o.Days, err = queryInt(q.Get("days"), 90, 1, 365); err != nil {
		return o, insight.Bad("days", "%v", err)
	}
	if len(o.GroupType) > 200 || !storable(o.GroupType) {
		return o, insight.Bad("group_type", "at most 200 bytes of text")
	}
	if len(o.RevenueProperty) > 200 || !storable(o.RevenueProperty) {
		return o, insight.Bad("revenue_property", "at most 200 bytes of text")
	}
	raw, err := s.Meta.Setting(ctx, p.ID, SettingBadDays)
	switch {
	case errors.Is(err, meta.ErrNotFound):
	case err != nil:
		return o, err
	default:
		var def struct {
			Bad []insight.EventMatch `json:"bad"`
		}
		if json.Unmarshal(raw, &def) == nil && len(def.Bad) > 0 && len(def.Bad) <= insight.MaxBadDaysMatches {
			o.Bad = def.Bad
		}
	}
	return o, nil
}

// rank ranks the project's themes and items, and records the persons the
// ranking found moved (merges since the items were written).
func (s *Server) rank(ctx context.Context, r *http.Request, p meta.Project) (*voc.Ranking, error) {
	o, err := s.rankOptions(ctx, r, p)
	if err != nil {
		return nil, err
	}
	timeout := s.QueryTimeout
	if timeout <= 0 {
		timeout = 60 * time.Second
	}
	bad, _ := json.Marshal(o.Bad) // by value: %v would print the actions' pointers
	key := fmt.Sprintf("%d|%d|%q|%q|%s", p.ID, o.Days, o.GroupType, o.RevenueProperty, bad)
	return s.ranks.do(ctx, key, timeout, func(ctx context.Context) (*voc.Ranking, error) { return s.rankNow(ctx, p, o) })
}

// rankNow computes one ranking (rank shares it among concurrent callers).
func (s *Server) rankNow(ctx context.Context, p meta.Project, o voc.RankOptions) (*voc.Ranking, error) {
	items, err := s.Meta.FeedbackImpact(ctx, p.ID, voc.MaxRankItems)
	if err != nil {
		return nil, err
	}
	themes, err := s.Meta.Themes(ctx, p.ID)
	if err != nil {
		return nil, err
	}
	res, err := voc.Rank(ctx, s.Events, p.ID, items, themes, o)
	if err != nil {
		return nil, err
	}
	for moved := res.Moved; len(moved) > 0; {
		n := min(meta.MaxFeedbackBatch, len(moved))
		if _, err := s.Meta.SetFeedbackPersons(ctx, p.ID, moved[:n]); err != nil {
			slog.Error("cannot record feedback persons", "project", p.ID, "err", err)
			break
		}
		moved = moved[n:]
	}
	return res, nil
}

func validSort(by string) bool {
	for _, s := range voc.Sorts {
		if s == by {
			return true
		}
	}
	return false
}

func (s *Server) rankedItems(w http.ResponseWriter, r *http.Request, p meta.Project, f meta.FeedbackFilter, by string) {
	if !validSort(by) {
		writeBad(w, insight.Bad("sort", "want new or one of %s", strings.Join(voc.Sorts, ", ")))
		return
	}
	res, err := s.rank(r.Context(), r, p)
	if err != nil {
		feedbackError(w, "feedback", err)
		return
	}
	themeOf := map[int64]int64{}
	if f.ThemeID != 0 {
		items, err := s.Meta.FeedbackImpact(r.Context(), p.ID, voc.MaxRankItems)
		if err != nil {
			feedbackError(w, "feedback", err)
			return
		}
		for _, it := range items {
			themeOf[it.ID] = it.ThemeID
		}
	}
	out := []voc.Impact{}
	for _, im := range res.Items {
		switch {
		case f.Status != "" && im.Status != f.Status:
		case f.ThemeID > 0 && themeOf[im.ID] != f.ThemeID:
		case f.ThemeID < 0 && themeOf[im.ID] != 0:
		default:
			out = append(out, im)
		}
	}
	voc.Sort(out, by)
	writeJSON(w, http.StatusOK, map[string]any{"items": out[:min(len(out), f.Limit)], "formula": res.Formula,
		"group_type": res.GroupType, "from": res.From, "to": res.To})
}

// listThemes: GET /themes?sort=impact|persons|accounts|revenue|bad_days|
// votes|recent|trend → {"themes":[{"id","name","items","persons",
// "accounts","revenue","bad_day_share","score",…}],"formula",…} (contract
// fields); themes without items rank with zeros, merged ones are left out.
func (s *Server) listThemes(w http.ResponseWriter, r *http.Request, p meta.Project, _ int64) {
	by := r.URL.Query().Get("sort")
	if by == "" {
		by = "impact"
	}
	if !validSort(by) {
		writeBad(w, insight.Bad("sort", "want one of %s", strings.Join(voc.Sorts, ", ")))
		return
	}
	res, err := s.rank(r.Context(), r, p)
	if err != nil {
		feedbackError(w, "theme", err)
		return
	}
	themes, err := s.Meta.Themes(r.Context(), p.ID)
	if err != nil {
		feedbackError(w, "theme", err)
		return
	}
	ranked := map[int64]bool{}
	for _, im := range res.Themes {
		ranked[im.ID] = true
	}
	for _, th := range themes {
		if th.MergedInto == 0 && !ranked[th.ID] {
			res.Themes = append(res.Themes, voc.Impact{ID: th.ID, Name: th.Name, Status: th.Status, RevenueProperty: th.RevenueProperty})
		}
	}
	voc.Sort(res.Themes, by)
	writeJSON(w, http.StatusOK, map[string]any{"themes": res.Themes, "sort": by, "formula": res.Formula,
		"group_type": res.GroupType, "from": res.From, "to": res.To})
}

// themeBody is what POST and PATCH /themes take.
type themeBody struct {
	Name            *string `json:"name"`
	RevenueProperty *string `json:"revenue_property"`
	Status          *string `json:"status"`
}

func (b themeBody) apply(th *meta.Theme) {
	if b.Name != nil {
		th.Name = strings.TrimSpace(*b.Name)
	}
	if b.RevenueProperty != nil {
		th.RevenueProperty = strings.TrimSpace(*b.RevenueProperty)
	}
	if b.Status != nil {
		th.Status = *b.Status
	}
}

// createTheme: POST /themes {"name","revenue_property":"mrr"?,"status"?}
// → the theme (contract: "id").
func (s *Server) createTheme(w http.ResponseWriter, r *http.Request, p meta.Project, _ int64) {
	body, ok := readExperimentBody(w, r)
	if !ok {
		return
	}
	var b themeBody
	if err := decodeStrictJSON(body, &b); err != nil {
		writeBad(w, err)
		return
	}
	th := meta.Theme{ProjectID: p.ID}
	b.apply(&th)
	out, err := s.Meta.CreateTheme(r.Context(), th)
	if err != nil {
		feedbackError(w, "theme", err)
		return
	}
	writeJSON(w, http.StatusCreated, out)
}

func (s *Server) loadTheme(w http.ResponseWriter, r *http.Request, p meta.Project) (meta.Theme, bool) {
	id, ok := pathID(w, r, "theme")
	if !ok {
		return meta.Theme{}, false
	}
	th, err := s.Meta.Theme(r.Context(), p.ID, id)
	if err != nil {
		feedbackError(w, "theme", err)
		return th, false
	}
	return th, true
}

func (s *Server) getTheme(w http.ResponseWriter, r *http.Request, p meta.Project, _ int64) {
	if th, ok := s.loadTheme(w, r, p); ok {
		writeJSON(w, http.StatusOK, th)
	}
}

func (s *Server) patchTheme(w http.ResponseWriter, r *http.Request, p meta.Project, _ int64) {
	th, ok := s.loadTheme(w, r, p)
	if !ok {
		return
	}
	body, ok := readExperimentBody(w, r)
	if !ok {
		return
	}
	var b themeBody
	if err := decodeStrictJSON(body, &b); err != nil {
		writeBad(w, err)
		return
	}
	b.apply(&th)
	out, err := s.Meta.UpdateTheme(r.Context(), th)
	if err != nil {
		feedbackError(w, "theme", err)
		return
	}
	s.themeChanged(r, out) // feedback_sla.go: a theme done closes the loop
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) deleteTheme(w http.ResponseWriter, r *http.Request, p meta.Project, _ int64) {
	id, ok := pathID(w, r, "theme")
	if !ok {
		return
	}
	if err := s.Meta.DeleteTheme(r.Context(), p.ID, id); err != nil {
		feedbackError(w, "theme", err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// mergeTheme: POST /themes/{id}/merge {"into"}: its items move to into;
// answers the merged theme (merged_into set).
func (s *Server) mergeTheme(w http.ResponseWriter, r *http.Request, p meta.Project, _ int64) {
	id, ok := pathID(w, r, "theme")
	if !ok {
		return
	}
	into, ok := intoBody(w, r)
	if !ok {
		return
	}
	th, err := s.Meta.MergeThemes(r.Context(), p.ID, id, into)
	if err != nil {
		feedbackError(w, "theme", err)
		return
	}
	writeJSON(w, http.StatusOK, th)
}

// maxSuggestThemes bounds the themes a suggestion compares against.
const maxSuggestThemes = 200

// themeSamples are the project's live themes (at most maxSuggestThemes),
// each with its newest items' texts.
func (s *Server) themeSamples(ctx context.Context, projectID int64) ([]voc.ThemeSample, error) {
	themes, err := s.Meta.Themes(ctx, projectID)
	if err != nil {
		return nil, err
	}
	var out []voc.ThemeSample
	for _, th := range themes {
		if th.MergedInto != 0 {
			continue
		}
		if len(out) == maxSuggestThemes {
			break
		}
		items, err := s.Meta.ListFeedback(ctx, projectID, meta.FeedbackFilter{ThemeID: th.ID, Limit: voc.MaxSampleTexts})
		if err != nil {
			return nil, err
		}
		sample := voc.ThemeSample{Theme: th}
		for _, it := range items {
			sample.Texts = append(sample.Texts, it.Text)
		}
		out = append(out, sample)
	}
	return out, nil
}

// feedbackSuggestions: GET /feedback/{id}/suggestions → {"suggestions":
// [{"theme_id","name","score"}]}, themes with similar items or names.
func (s *Server) feedbackSuggestions(w http.ResponseWriter, r *http.Request, p meta.Project, _ int64) {
	f, ok := s.loadFeedback(w, r, p)
	if !ok {
		return
	}
	samples, err := s.themeSamples(r.Context(), p.ID)
	if err != nil {
		feedbackError(w, "theme", err)
		return
	}
	out := []voc.Suggestion{}
	for _, sg := range voc.SuggestThemes(f.Text, samples) {
		if sg.ThemeID != f.ThemeID {
			out = append(out, sg)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"item_id": f.ID, "suggestions": out})
}

// maxSuggestItems bounds the unthemed items given theme suggestions.
const maxSuggestItems = 100

// themeSuggestions: GET /themes/suggestions → {"items":[{"item_id",
// "suggestions"}]} for the newest unthemed items, and {"clusters":[{"name",
// "items"}]}: groups of similar unthemed items, new themes to make.
func (s *Server) themeSuggestions(w http.ResponseWriter, r *http.Request, p meta.Project, _ int64) {
	unthemed, err := s.Meta.ListFeedback(r.Context(), p.ID, meta.FeedbackFilter{ThemeID: -1, Limit: voc.MaxClusterItems})
	if err != nil {
		feedbackError(w, "feedback", err)
		return
	}
	samples, err := s.themeSamples(r.Context(), p.ID)
	if err != nil {
		feedbackError(w, "theme", err)
		return
	}
	type itemSuggestions struct {
		ItemID      int64            `json:"item_id"`
		Suggestions []voc.Suggestion `json:"suggestions"`
	}
	items := []itemSuggestions{}
	for _, it := range unthemed[:min(len(unthemed), maxSuggestItems)] {
		if sg := voc.SuggestThemes(it.Text, samples); len(sg) > 0 {
			items = append(items, itemSuggestions{ItemID: it.ID, Suggestions: sg})
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items, "clusters": voc.ClusterItems(unthemed)})
}
