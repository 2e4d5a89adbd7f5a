package api

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/journey-dev/journey/internal/campaign"
	"github.com/journey-dev/journey/internal/channel"
	"github.com/journey-dev/journey/internal/event"
	"github.com/journey-dev/journey/internal/insight"
	"github.com/journey-dev/journey/internal/meta"
)

// CampaignOptions configure the campaigns API.
type CampaignOptions struct {
	// AllowPrivate lets webhook URLs name private and loopback hosts (the
	// server's --webhook-allow-private).
	AllowPrivate bool
	// Emit appends events to a project's event log, as capture does: the
	// click redirect records $message_clicked with it (nil: clicks are
	// not recorded).
	Emit func(ctx context.Context, b event.Batch) error
	// Cache, when set, is the process's campaign cache, dropped after a
	// change so that the trigger engine and the sender see it at once.
	Cache *campaign.Campaigns
	// Email says the server has an SMTP relay (--smtp); VAPIDPublicKey is
	// its Web Push key, "" without Web Push. Campaigns on a channel the
	// server cannot send are refused.
	Email          bool
	VAPIDPublicKey string
	// Sender, when set, makes a campaign's channel sender for test sends
	// (POST /campaigns/{id}/test).
	Sender func(l *campaign.Live) (channel.Sender, error)
	// PublicURL is the base of links the API puts in messages it
	// schedules itself (VoC replies' unsubscribe links), as the trigger
	// engine's click links: --public-url, else the listen address.
	PublicURL string
}

// Campaigns (SPEC §6, package campaign) over the secret-key API
// (/api/v1/campaigns) and the UI (/ui/api/projects/{pid}/campaigns:
// viewers read, members change), and the public click redirect /c/{token}.
func (s *Server) registerCampaigns(mux *routeMux) {
	viewer, member, admin := meta.RoleViewer, meta.RoleMember, meta.RoleAdmin
	routes := []projectRoute{
		{"GET", "/campaigns", viewer, s.listCampaigns},
		{"GET", "/campaigns/control-group", viewer, s.getControlGroup},
		{"PUT", "/campaigns/control-group", admin, s.putControlGroup},
		{"POST", "/campaigns", member, s.createCampaign},
		{"GET", "/campaigns/{id}", viewer, s.getCampaign},
		{"PATCH", "/campaigns/{id}", member, s.patchCampaign},
		{"DELETE", "/campaigns/{id}", member, s.deleteCampaign},
		{"GET", "/campaigns/{id}/report", viewer, s.campaignReport},
		// Reports side by side and the decision after the test phase
		// (campaigns_report.go).
		{"GET", "/campaigns/compare", viewer, s.compareCampaigns},
		{"POST", "/campaigns/{id}/decision", member, s.decideCampaign},
		{"GET", "/campaigns/{id}/golden-time", viewer, s.campaignGoldenTime},
		{"POST", "/campaigns/{id}/preview", viewer, s.previewCampaign},
		{"POST", "/campaigns/{id}/test", member, s.testCampaign},
	}
	s.handleProjectRoutes(mux, routes)
	mux.HandleFunc("GET /c/{token}", s.campaignClick)
	mux.HandleFunc("GET /u/{token}", s.unsubscribePage)
	mux.HandleFunc("POST /u/{token}", s.unsubscribe)
	mux.HandleFunc("GET /push/vapid-public-key", s.vapidPublicKey)
	mux.HandleFunc("OPTIONS /push/subscribe", s.pushSubscribe)
	mux.HandleFunc("POST /push/subscribe", s.pushSubscribe)
	mux.HandleFunc("GET /push/sw.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", channel.ServiceWorkerContentType)
		_, _ = w.Write(channel.ServiceWorker())
	})
}

// campaignView is a campaign as the API answers it: its definition (never
// its secret) with its id, version and times.
type campaignView struct {
	ID int64 `json:"id"`
	campaign.Definition
	Version   int       `json:"version"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	// StatusReason says why the server last changed the status (a
	// webhook endpoint gone, say).
	StatusReason *campaign.StatusReason `json:"status_reason,omitempty"`
	// WebhookSecret is the signing secret Journey generated for a webhook
	// sent without one: answered once, when the campaign is created.
	WebhookSecret string `json:"webhook_secret,omitempty"`
}

func (s *Server) viewCampaign(ctx context.Context, c meta.Campaign) (campaignView, error) {
	l, err := campaign.Decode(c)
	if err != nil {
		return campaignView{}, err
	}
	d := *l.Def
	d.Channel.Secret = ""
	v := campaignView{ID: c.ID, Definition: d, Version: c.Version, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt}
	if raw, err := s.Meta.Setting(ctx, c.ProjectID, campaign.StatusReasonSetting(c.ID)); err == nil {
		var sr campaign.StatusReason
		if json.Unmarshal(raw, &sr) == nil && sr.Status == c.Status {
			v.StatusReason = &sr
		}
	}
	return v, nil
}

// writeCampaignError answers a refused body (400 naming its field), a
// conflict (409), a missing campaign (404) or a store error.
func writeCampaignError(w http.ResponseWriter, err error) {
	var bad *insight.Error
	var c *conflictError
	var me *meta.FieldError
	switch {
	case errors.As(err, &bad):
		writeBad(w, err)
	case errors.As(err, &c):
		conflict(w, c.field, c.msg, c.extra)
	case errors.As(err, &me) && errors.Is(err, meta.ErrConflict):
		conflict(w, me.Field, me.Error(), nil)
	case errors.As(err, &me) && errors.Is(err, meta.ErrInvalid):
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": me.Error(), "field": me.Field})
	case errors.Is(err, meta.ErrConflict):
		writeError(w, http.StatusConflict, "the campaign changed meanwhile; read it again")
	case errors.Is(err, meta.ErrNotFound):
		writeError(w, http.StatusNotFound, "no such campaign in this project")
	default:
		metaError(w, "campaign", err)
	}
}

// checkCampaign refuses cohorts the project does not have
// (campaigns_cohorts.go), filters the engine does not run and webhook URLs
// the server may not reach; it fills a missing webhook secret (returned
// as generated).
func (s *Server) checkCampaign(ctx context.Context, projectID int64, d *campaign.Definition) (generated string, err error) {
	if err := s.checkCampaignCohort(ctx, projectID, d); err != nil {
		return "", err
	}
	check := func(field string, fs []insight.Filter) error {
		for i, f := range fs {
			switch f.Type {
			case "", "event", "person":
			default:
				return insight.Bad(fmt.Sprintf("%s[%d].type", field, i), "%s filters are not supported in campaigns (event and person filters are)", f.Type)
			}
		}
		return nil
	}
	if d.Trigger != nil {
		if err := check("trigger.filters", d.Trigger.Filters); err != nil {
			return "", err
		}
	}
	if d.Goal != nil {
		if err := check("goal.filters", d.Goal.Filters); err != nil {
			return "", err
		}
	}
	switch {
	case d.Channel.Type == campaign.ChannelEmail && !s.Campaigns.Email:
		return "", insight.Bad("channel.type", "this server has no SMTP relay for email campaigns (start it with --smtp)")
	case d.Channel.Type == campaign.ChannelWebPush && s.Campaigns.VAPIDPublicKey == "":
		return "", insight.Bad("channel.type", "this server has no Web Push keys (start it with --vapid-public-key, --vapid-private-key and --vapid-subject)")
	}
	if d.Channel.Type == campaign.ChannelWebhook {
		if _, err := channel.CheckURL(d.Channel.URL, s.Campaigns.AllowPrivate); err != nil {
			return "", insight.Bad("channel.url", "%v", err)
		}
		if d.Channel.Secret == "" {
			d.Channel.Secret = channel.NewSecret()
			generated = d.Channel.Secret
		}
	}
	return generated, nil
}

// storedDefinition is a validated definition as stored: without its
// secret (kept in its own column) and with its defaults filled in.
func storedDefinition(d *campaign.Definition) (json.RawMessage, string, error) {
	secret := d.TakeSecret()
	b, err := json.Marshal(d)
	d.Channel.Secret = secret
	return b, secret, err
}

func (s *Server) invalidateCampaigns(projectID int64) {
	if s.Campaigns.Cache != nil {
		s.Campaigns.Cache.Invalidate(projectID)
	}
}

func (s *Server) createCampaign(w http.ResponseWriter, r *http.Request, p meta.Project, userID int64) {
	body, ok := readExperimentBody(w, r)
	if !ok {
		return
	}
	d, err := campaign.Parse(body)
	if err != nil {
		writeCampaignError(w, err)
		return
	}
	generated, err := s.checkCampaign(r.Context(), p.ID, d)
	if err != nil {
		writeCampaignError(w, err)
		return
	}
	def, secret, err := storedDefinition(d)
	if err != nil {
		writeCampaignError(w, err)
		return
	}
	c, err := s.Meta.CreateCampaign(r.Context(), meta.Campaign{ProjectID: p.ID, Name: d.Name, Kind: d.Kind, Status: d.Status,
		Definition: def, Secret: secret, CreatedBy: userID, UpdatedBy: userID})
	if err != nil {
		writeCampaignError(w, err)
		return
	}
	s.invalidateCampaigns(p.ID)
	v, err := s.viewCampaign(r.Context(), c)
	if err != nil {
		writeCampaignError(w, err)
		return
	}
	v.WebhookSecret = generated
	writeJSON(w, http.StatusCreated, v)
}

func (s *Server) listCampaigns(w http.ResponseWriter, r *http.Request, p meta.Project, _ int64) {
	status := r.URL.Query().Get("status")
	switch status {
	case "", meta.CampaignDraft, meta.CampaignActive, meta.CampaignPaused, meta.CampaignStopped:
	default:
		writeBad(w, insight.Bad("status", "unknown status %q (draft, active, paused, stopped)", status))
		return
	}
	list, err := s.Meta.Campaigns(r.Context(), p.ID, status)
	if err != nil {
		writeCampaignError(w, err)
		return
	}
	out := make([]campaignView, 0, len(list))
	for _, c := range list {
		v, err := s.viewCampaign(r.Context(), c)
		if err != nil {
			slog.Warn("campaign not listed", "campaign", c.ID, "err", err)
			continue
		}
		out = append(out, v)
	}
	writeJSON(w, http.StatusOK, map[string]any{"campaigns": out})
}

func (s *Server) loadCampaign(w http.ResponseWriter, r *http.Request, p meta.Project) (meta.Campaign, bool) {
	id, ok := pathID(w, r, "campaign")
	if !ok {
		return meta.Campaign{}, false
	}
	c, err := s.Meta.Campaign(r.Context(), p.ID, id)
	if err != nil {
		writeCampaignError(w, err)
		return meta.Campaign{}, false
	}
	return c, true
}

func (s *Server) getCampaign(w http.ResponseWriter, r *http.Request, p meta.Project, _ int64) {
	c, ok := s.loadCampaign(w, r, p)
	if !ok {
		return
	}
	v, err := s.viewCampaign(r.Context(), c)
	if err != nil {
		writeCampaignError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// patchCampaign replaces the top-level fields of the definition that the
// body names ({"status": "paused"}, {"variants": […]} …), validates the
// result as a whole and stores it. A channel sent without a secret keeps
// the stored one (for the same channel type). A stopped campaign cannot
// change; stopping cancels its pending sends.
func (s *Server) patchCampaign(w http.ResponseWriter, r *http.Request, p meta.Project, userID int64) {
	c, ok := s.loadCampaign(w, r, p)
	if !ok {
		return
	}
	body, ok := readExperimentBody(w, r)
	if !ok {
		return
	}
	var patch map[string]json.RawMessage
	if err := decodeExperimentBody(body, &patch); err != nil {
		writeCampaignError(w, err)
		return
	}
	if c.Status == meta.CampaignStopped {
		conflict(w, "status", "the campaign is stopped: it cannot change (create another)", nil)
		return
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(c.Definition, &fields); err != nil {
		writeCampaignError(w, err)
		return
	}
	for k, v := range patch {
		if bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
			delete(fields, k)
			continue
		}
		fields[k] = v
	}
	merged, err := json.Marshal(fields)
	if err != nil {
		writeCampaignError(w, err)
		return
	}
	d, err := campaign.Parse(merged)
	if err != nil {
		writeCampaignError(w, err)
		return
	}
	old, err := campaign.Decode(c)
	if err != nil {
		writeCampaignError(w, err)
		return
	}
	if d.Channel.Secret == "" && d.Channel.Type == old.Def.Channel.Type {
		d.Channel.Secret = c.Secret
	}
	generated, err := s.checkCampaign(r.Context(), p.ID, d)
	if err != nil {
		writeCampaignError(w, err)
		return
	}
	def, secret, err := storedDefinition(d)
	if err != nil {
		writeCampaignError(w, err)
		return
	}
	c.Name, c.Kind, c.Status, c.Definition, c.Secret, c.UpdatedBy = d.Name, d.Kind, d.Status, def, secret, userID
	updated, err := s.Meta.UpdateCampaign(r.Context(), c, c.Version)
	if err != nil {
		writeCampaignError(w, err)
		return
	}
	if updated.Status == meta.CampaignStopped {
		if _, err := s.Meta.CancelCampaignSends(r.Context(), p.ID, c.ID, "campaign stopped"); err != nil {
			slog.Warn("cannot cancel the sends of a stopped campaign", "campaign", c.ID, "err", err)
		}
	}
	s.invalidateCampaigns(p.ID)
	v, err := s.viewCampaign(r.Context(), updated)
	if err != nil {
		writeCampaignError(w, err)
		return
	}
	v.WebhookSecret = generated
	writeJSON(w, http.StatusOK, v)
}

func (s *Server) deleteCampaign(w http.ResponseWriter, r *http.Request, p meta.Project, userID int64) {
	id, ok := pathID(w, r, "campaign")
	if !ok {
		return
	}
	if err := s.Meta.DeleteCampaign(r.Context(), p.ID, id, userID); err != nil {
		writeCampaignError(w, err)
		return
	}
	s.invalidateCampaigns(p.ID)
	w.WriteHeader(http.StatusNoContent)
}

// campaignReport is in campaigns_report.go.

// previewCampaign renders every variant of the campaign for a real person
// (by distinct id) and an optional trigger event's properties:
// {"distinct_id", "event": {…}} → {"variants": [{"name", "subject", "body", "url"}]}.
func (s *Server) previewCampaign(w http.ResponseWriter, r *http.Request, p meta.Project, _ int64) {
	c, ok := s.loadCampaign(w, r, p)
	if !ok {
		return
	}
	body, ok := readExperimentBody(w, r)
	if !ok {
		return
	}
	var req struct {
		DistinctID string         `json:"distinct_id"`
		Event      map[string]any `json:"event"`
	}
	if err := decodeExperimentBody(body, &req); err != nil {
		writeCampaignError(w, err)
		return
	}
	if req.DistinctID == "" {
		writeBad(w, insight.Bad("distinct_id", "missing: the person to preview the message for"))
		return
	}
	l, err := campaign.Decode(c)
	if err != nil {
		writeCampaignError(w, err)
		return
	}
	person, _, err := s.Events.PersonByDistinctID(r.Context(), p.ID, req.DistinctID)
	if err != nil {
		writeError(w, http.StatusNotFound, "no person with that distinct id")
		return
	}
	if req.Event == nil {
		req.Event = map[string]any{}
	}
	data := campaign.TemplateData(l, req.DistinctID, person.Properties, req.Event, nil)
	type rendered struct {
		Name    string `json:"name"`
		Subject string `json:"subject"`
		Body    string `json:"body"`
		URL     string `json:"url"`
	}
	out := []rendered{}
	for _, v := range l.Def.Variants {
		subject := v.Subject
		if subject == "" {
			subject = l.Def.Channel.Subject
		}
		out = append(out, rendered{Name: v.Name, Subject: channel.RenderSubject(subject, data), Body: channel.RenderBody(v.Body, data),
			URL: campaign.RenderURL(v.URL, data)})
	}
	writeJSON(w, http.StatusOK, map[string]any{"person_id": person.ID, "variants": out})
}

// campaignClick is the tracking redirect of a message's link: it records
// $message_clicked for the send and redirects to the URL the message was
// rendered with, and nowhere else; an unknown or forged token is 404.
func (s *Server) campaignClick(w http.ResponseWriter, r *http.Request) {
	sdp, plp := s.sendOfToken(w, r)
	if sdp == nil {
		return
	}
	sd, pl, projectID, key := *sdp, *plp, sdp.ProjectID, sdp.Key
	if pl.Target == "" {
		writeError(w, http.StatusNotFound, "no such link")
		return
	}
	if s.Campaigns.Emit != nil {
		now := time.Now()
		ev := campaign.MessageEvent(campaign.EventClicked, sd, pl, now, map[string]any{"$current_url": pl.Target})
		// One event per message and minute (the uuid dedups repeats): a
		// link opened again is one more click later, while a client looping
		// over a link cannot inflate the project's events. Nobody's redirect
		// is refused (a whole office behind one address may click a blast).
		ev.UUID = campaign.EventUUID(key, campaign.EventClicked+"@"+strconv.FormatInt(now.Unix()/60, 10))
		if err := s.Campaigns.Emit(r.Context(), event.Batch{ProjectID: projectID, Events: []event.Event{ev}}); err != nil {
			slog.Warn("cannot record a message click", "key", key, "err", err)
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	http.Redirect(w, r, pl.Target, http.StatusFound)
}

// sendOfToken finds the send of a click or unsubscribe token (nil, and
// 404 answered, when there is none or the token is forged).
func (s *Server) sendOfToken(w http.ResponseWriter, r *http.Request) (*meta.Send, *campaign.Payload) {
	notFound := func() { writeError(w, http.StatusNotFound, "no such link") }
	projectID, key, nonce, ok := campaign.ParseClickToken(r.PathValue("token"))
	if !ok {
		notFound()
		return nil, nil
	}
	sd, err := s.Meta.SendByKey(r.Context(), projectID, key)
	if errors.Is(err, meta.ErrNotFound) {
		notFound()
		return nil, nil
	}
	if err != nil {
		metaError(w, "link", err)
		return nil, nil
	}
	pl, err := campaign.ParsePayload(sd.Payload)
	if err != nil || pl.Click == "" || subtle.ConstantTimeCompare([]byte(pl.Click), []byte(nonce)) != 1 {
		notFound()
		return nil, nil
	}
	return &sd, &pl
}

// unsubscribeFrom is what a send's unsubscribe link stops: an email's
// recipient address, or, for a webhook message relayed to its person
// (the VoC's), the send's distinct id on the webhook channel; what names
// it on the pages. ok is false for a send that offers no unsubscribe.
func unsubscribeFrom(sd meta.Send, pl campaign.Payload) (channel, address, what string, ok bool) {
	switch {
	case pl.To != "":
		return campaign.ChannelEmail, strings.ToLower(pl.To), "emails to " + pl.To, true
	case sd.Channel == campaign.ChannelWebhook && pl.Unsubscribe != "" && sd.DistinctID != "":
		return campaign.ChannelWebhook, sd.DistinctID, "these messages", true
	}
	return "", "", "", false
}

// unsubscribePage answers the link of an unsubscribe URL with a button
// (a GET never unsubscribes: mail scanners follow links).
func (s *Server) unsubscribePage(w http.ResponseWriter, r *http.Request) {
	sd, pl := s.sendOfToken(w, r)
	if sd == nil {
		return
	}
	_, _, what, ok := unsubscribeFrom(*sd, *pl)
	if !ok {
		writeError(w, http.StatusNotFound, "no such link")
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	fmt.Fprintf(w, `<!DOCTYPE html><html><head><meta charset="utf-8"><title>Unsubscribe</title></head><body>
<form method="post"><p>Stop %s?</p><button type="submit">Unsubscribe</button></form></body></html>
`, html.EscapeString(what))
}

// unsubscribe is the one-click unsubscribe (RFC 8058: a POST of
// "List-Unsubscribe=One-Click", or the page's button): the address gets
// no more email from any campaign of the project; a webhook recipient no
// more webhook messages that carry an unsubscribe link.
func (s *Server) unsubscribe(w http.ResponseWriter, r *http.Request) {
	sd, pl := s.sendOfToken(w, r)
	if sd == nil {
		return
	}
	ch, address, what, ok := unsubscribeFrom(*sd, *pl)
	if !ok {
		writeError(w, http.StatusNotFound, "no such link")
		return
	}
	if err := s.Meta.Unsubscribe(r.Context(), sd.ProjectID, ch, address); err != nil {
		metaError(w, "unsubscribe", err)
		return
	}
	if s.Campaigns.Emit != nil {
		ev := campaign.MessageEvent("$message_unsubscribed", *sd, *pl, time.Now(), nil)
		if err := s.Campaigns.Emit(r.Context(), event.Batch{ProjectID: sd.ProjectID, Events: []event.Event{ev}}); err != nil {
			slog.Warn("cannot record an unsubscribe", "key", sd.Key, "err", err)
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	fmt.Fprintf(w, "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Unsubscribed</title></head><body><p>Unsubscribed: no more %s.</p></body></html>\n",
		html.EscapeString(what))
}

// vapidPublicKey answers the key browsers subscribe to Web Push with
// (applicationServerKey): {"public_key"}.
func (s *Server) vapidPublicKey(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Access-Control-Allow-Origin", "*")
	if s.Campaigns.VAPIDPublicKey == "" {
		writeError(w, http.StatusNotFound, "this server has no Web Push keys")
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"public_key": s.Campaigns.VAPIDPublicKey})
}

// maxSubscribeBody bounds a Web Push subscription request.
const maxSubscribeBody = 16 << 10

// pushSubscribe records a browser's Web Push subscription for a distinct
// id: POST /push/subscribe {"token": project token, "distinct_id",
// "subscription": PushSubscription.toJSON()} (from any origin, as JSON or
// text/plain, as capture is). It is stored as the person property
// $web_push_subscription by a $web_push_subscribed event through the
// event log, so it follows merges like every property.
func (s *Server) pushSubscribe(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Access-Control-Allow-Origin", "*")
	if r.Method == http.MethodOptions {
		w.Header().Set("Access-Control-Allow-Methods", "POST")
		w.Header().Set("Access-Control-Allow-Headers", "Content-Type")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if s.Campaigns.VAPIDPublicKey == "" || s.Campaigns.Emit == nil {
		writeError(w, http.StatusNotFound, "this server has no Web Push keys")
		return
	}
	if !s.allowPublic(w, r, &subscribeLimiters, subscribeRate, subscribeBurst) {
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxSubscribeBody))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body too large: at most %d bytes", maxSubscribeBody))
		return
	}
	var req struct {
		Token        string          `json:"token"`
		DistinctID   string          `json:"distinct_id"`
		Subscription json.RawMessage `json:"subscription"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		writeBad(w, insight.Bad("body", "cannot decode body as JSON: %v", err))
		return
	}
	if req.DistinctID == "" || len(req.DistinctID) > 200 || !storable(req.DistinctID) {
		writeBad(w, insight.Bad("distinct_id", "missing (at most 200 bytes of text)"))
		return
	}
	sub, err := channel.ParsePushSubscription(req.Subscription, s.Campaigns.AllowPrivate)
	if err != nil {
		writeBad(w, insight.Bad("subscription", "%v", err))
		return
	}
	p, err := s.Meta.ProjectByToken(r.Context(), req.Token)
	if errors.Is(err, meta.ErrNotFound) {
		writeError(w, http.StatusUnauthorized, "unknown project token")
		return
	}
	if err != nil {
		metaError(w, "project", err)
		return
	}
	var value map[string]any
	b, _ := json.Marshal(sub)
	_ = json.Unmarshal(b, &value)
	now := time.Now()
	ev := event.Event{UUID: uuid.NewString(), Event: "$web_push_subscribed", DistinctID: req.DistinctID, Timestamp: now, ReceivedAt: now,
		Properties: map[string]any{"endpoint": sub.Endpoint}, Set: map[string]any{campaign.PushSubscriptionProperty: value}}
	if err := s.Campaigns.Emit(r.Context(), event.Batch{ProjectID: p.ID, Events: []event.Event{ev}}); err != nil {
		writeError(w, http.StatusServiceUnavailable, "cannot record the subscription; try again")
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "subscribed"})
}

// controlGroup is the project-wide control group that no campaign
// messages, at most 50 percent.
var controlGroup = percentSetting{key: campaign.ControlGroupSetting, what: "control group", max: 50}

// getControlGroup answers it: {"percent"} (0: none).
func (s *Server) getControlGroup(w http.ResponseWriter, r *http.Request, p meta.Project, _ int64) {
	controlGroup.get(w, r, s.Meta, p)
}

// putControlGroup sets it (admins): {"percent": 0..50}. Persons fall in
// it by a project-wide stable hash, so the same persons stay in it as
// long as the share does not shrink.
func (s *Server) putControlGroup(w http.ResponseWriter, r *http.Request, p meta.Project, _ int64) {
	controlGroup.put(w, r, s.Meta, p, func() { s.invalidateCampaigns(p.ID) })
}

// testCampaign sends one variant of the campaign, rendered for a real
// person, once and at once, to the campaign's channel (to "to" instead of
// the person's address, for an email): {"distinct_id", "variant", "to",
// "event": {…}} → {"delivered", "status", "outcome", "key"}. A test send
// is outside the schedule: no events, no frequency cap, a fresh key.
func (s *Server) testCampaign(w http.ResponseWriter, r *http.Request, p meta.Project, _ int64) {
	c, ok := s.loadCampaign(w, r, p)
	if !ok {
		return
	}
	body, ok := readExperimentBody(w, r)
	if !ok {
		return
	}
	var req struct {
		DistinctID string         `json:"distinct_id"`
		Variant    string         `json:"variant"`
		To         string         `json:"to"`
		Event      map[string]any `json:"event"`
	}
	if err := decodeExperimentBody(body, &req); err != nil {
		writeCampaignError(w, err)
		return
	}
	if req.DistinctID == "" {
		writeBad(w, insight.Bad("distinct_id", "missing: the person to render the message for"))
		return
	}
	if s.Campaigns.Sender == nil {
		writeError(w, http.StatusServiceUnavailable, "this server does not send campaigns")
		return
	}
	l, err := campaign.Decode(c)
	if err != nil {
		writeCampaignError(w, err)
		return
	}
	v := &l.Def.Variants[0]
	if req.Variant != "" {
		v = nil
		for i := range l.Def.Variants {
			if l.Def.Variants[i].Name == req.Variant {
				v = &l.Def.Variants[i]
			}
		}
		if v == nil {
			writeBad(w, insight.Bad("variant", "the campaign has no variant %q", req.Variant))
			return
		}
	}
	person, _, err := s.Events.PersonByDistinctID(r.Context(), p.ID, req.DistinctID)
	if err != nil {
		writeError(w, http.StatusNotFound, "no person with that distinct id")
		return
	}
	if req.Event == nil {
		req.Event = map[string]any{}
	}
	data := campaign.TemplateData(l, req.DistinctID, person.Properties, req.Event, nil)
	subject := v.Subject
	if subject == "" {
		subject = l.Def.Channel.Subject
	}
	key := "test_" + strings.ReplaceAll(uuid.NewString(), "-", "")
	m := channel.Message{Key: key, CampaignID: c.ID, PersonID: person.ID, DistinctID: req.DistinctID, Variant: v.Name,
		Subject: channel.RenderSubject(subject, data), Body: channel.RenderBody(v.Body, data), URL: campaign.RenderURL(v.URL, data),
		To: req.To, Push: campaign.PushSubscriptionOf(person.Properties)}
	if m.To == "" {
		m.To = campaign.EmailOf(person.Properties)
	}
	snd, err := s.Campaigns.Sender(l)
	if err != nil {
		writeBad(w, insight.Bad("channel", "%v", err))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	o := snd.Send(ctx, m)
	writeJSON(w, http.StatusOK, map[string]any{"delivered": o.Delivered, "status": o.Status, "outcome": o.String(), "key": key})
}
