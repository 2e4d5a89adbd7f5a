package api

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/journey-dev/journey/internal/channel"
	"github.com/journey-dev/journey/internal/insight"
	"github.com/journey-dev/journey/internal/meta"
	"github.com/journey-dev/journey/internal/voc"
)

// Responsiveness of the VoC inbox (issue 16 item 6, package voc: sla.go,
// notify.go, loop.go): the SLA view, its setting, the VoC channels
// (replies and close-the-loop notices to customers, breach alerts to the
// team), and the hooks that schedule a reply as it is added and a theme's
// notices as it is marked done. Same routes under /api/v1 and the UI's
// /ui/api/projects/{pid}.

func (s *Server) registerFeedbackSLA(mux *routeMux) {
	viewer, member := meta.RoleViewer, meta.RoleMember
	routes := []projectRoute{
		{"GET", "/feedback/sla", viewer, s.feedbackSLA},
		{"GET", "/feedback/sla/settings", viewer, s.getSLASettings},
		{"PUT", "/feedback/sla/settings", member, s.putSLASettings},
		{"GET", "/feedback/notify", viewer, s.getNotify},
		{"PUT", "/feedback/notify", member, s.putNotify},
	}
	s.handleProjectRoutes(mux, routes)
}

// messenger schedules VoC messages; unsubscribe links point at the
// server's public URL (--public-url, else its listen address), never at
// the request's Host header, which a client chooses: a forged Host would
// put a link to any site in a customer's email.
func (s *Server) messenger(r *http.Request) *voc.Messenger {
	return &voc.Messenger{Meta: s.Meta, Events: s.Events, PublicURL: s.Campaigns.PublicURL}
}

// deliverReply schedules a customer-visible reply to the customer. The
// reply is stored already: a failure is logged, not answered (the send's
// key is the reply's, so nothing is sent twice).
func (s *Server) deliverReply(r *http.Request, p meta.Project, c meta.FeedbackComment) {
	if c.Kind != meta.CommentReply {
		return
	}
	f, err := s.Meta.Feedback(r.Context(), p.ID, c.ItemID)
	if err == nil {
		_, err = s.messenger(r).Reply(r.Context(), f, c)
	}
	if err != nil {
		slog.Error("cannot schedule a feedback reply to the customer", "project", p.ID, "reply", c.ID, "err", err)
	}
}

// themeChanged schedules a theme's close-the-loop notices when it is
// done; a failure is left to the messenger's sweep.
func (s *Server) themeChanged(r *http.Request, th meta.Theme) {
	if th.Status != meta.FeedbackDone {
		return
	}
	// The items' persons are loaded from their events within moments:
	// wait for them a little (bounded), else the sweep schedules later.
	m := s.messenger(r)
	for wait := 50 * time.Millisecond; ; wait *= 2 {
		_, err := m.CloseLoop(r.Context(), th)
		switch {
		case err == nil:
			return
		case errors.Is(err, voc.ErrPersonsPending) && wait <= 800*time.Millisecond:
			time.Sleep(wait)
			continue
		case errors.Is(err, voc.ErrPersonsPending):
			slog.Info("a done theme's customers are notified once their persons are loaded", "project", th.ProjectID, "theme", th.ID)
		default:
			slog.Error("cannot notify a done theme's customers now; the sweep will", "project", th.ProjectID, "theme", th.ID, "err", err)
		}
		return
	}
}

// slaTarget is a target as the API shows it.
type slaTarget struct {
	FirstResponseS float64 `json:"first_response_s"`
	ResolveS       float64 `json:"resolve_s"`
}

// feedbackSLA: GET /feedback/sla?days=90 → {"as_of","time_zone",
// "business_hours","targets","priorities":[{"priority","items",
// "first_response":{"median_s","p90_s","breached",…},"resolve":{…}}],
// "breaches":[{"item_id","kind","due_at","overdue_s",…}]}: items created
// in the last days (at most voc.MaxSLAItems, newest first), times in
// business seconds.
func (s *Server) feedbackSLA(w http.ResponseWriter, r *http.Request, p meta.Project, _ int64) {
	days, err := queryInt(r.URL.Query().Get("days"), 90, 1, 3650)
	if err != nil {
		writeBad(w, insight.Bad("days", "%v", err))
		return
	}
	sla, err := voc.LoadSLA(r.Context(), s.Meta, p)
	if err != nil {
		feedbackError(w, "SLA", err)
		return
	}
	items, err := voc.SLAItems(r.Context(), s.Meta, p.ID, voc.MaxSLAItems)
	if err != nil {
		feedbackError(w, "feedback", err)
		return
	}
	now := time.Now()
	since := now.AddDate(0, 0, -days)
	kept := items[:0]
	for _, f := range items {
		if !f.CreatedAt.Before(since) {
			kept = append(kept, f)
		}
	}
	rep := sla.Report(kept, now)
	targets := map[string]slaTarget{}
	for name, t := range sla.Targets {
		targets[name] = slaTarget{FirstResponseS: t.FirstResponse.Seconds(), ResolveS: t.Resolve.Seconds()}
	}
	writeJSON(w, http.StatusOK, map[string]any{"as_of": rep.AsOf, "days": days, "time_zone": sla.Hours.Loc.String(),
		"business_hours": hoursView(sla.Hours), "targets": targets, "priorities": rep.Priorities, "breaches": rep.Breaches,
		"items": len(kept)})
}

// hoursView is business hours as the API shows them.
func hoursView(h voc.BusinessHours) map[string]any {
	names := []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}
	days := []string{}
	for _, d := range []int{1, 2, 3, 4, 5, 6, 0} {
		if h.Days[d] {
			days = append(days, names[d])
		}
	}
	clock := func(d time.Duration) string {
		return time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).Add(d).Format("15:04")
	}
	end := clock(h.End)
	if h.End == 24*time.Hour {
		end = "24:00"
	}
	return map[string]any{"days": days, "start": clock(h.Start), "end": end, "holidays": len(h.Holidays)}
}

// getSLASettings: GET /feedback/sla/settings → the stored setting ({} when
// unset: the defaults).
func (s *Server) getSLASettings(w http.ResponseWriter, r *http.Request, p meta.Project, _ int64) {
	raw, err := s.Meta.Setting(r.Context(), p.ID, voc.SettingSLA)
	if errors.Is(err, meta.ErrNotFound) {
		raw, err = []byte(`{}`), nil
	}
	if err != nil {
		feedbackError(w, "SLA", err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(raw)
}

// putSLASettings: PUT /feedback/sla/settings with voc.SettingSLA's JSON,
// checked (400 naming the field) and stored as sent.
func (s *Server) putSLASettings(w http.ResponseWriter, r *http.Request, p meta.Project, _ int64) {
	body, ok := readExperimentBody(w, r)
	if !ok {
		return
	}
	if _, err := voc.ParseSLA(body, insight.ZoneOf(p.Timezone)); err != nil {
		writeBad(w, err)
		return
	}
	var compact json.RawMessage
	if err := json.Unmarshal(body, &compact); err != nil {
		writeBad(w, insight.Bad("body", "%v", err))
		return
	}
	if err := s.Meta.SetSetting(r.Context(), p.ID, voc.SettingSLA, compact); err != nil {
		feedbackError(w, "SLA", err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(compact)
}

// getNotify: GET /feedback/notify → the VoC channels' setting (the system
// campaigns' ids; {} when none).
func (s *Server) getNotify(w http.ResponseWriter, r *http.Request, p meta.Project, _ int64) {
	st, ok, err := voc.LoadNotify(r.Context(), s.Meta, p.ID)
	if err != nil {
		feedbackError(w, "VoC channels", err)
		return
	}
	if !ok {
		writeJSON(w, http.StatusOK, map[string]any{})
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// putNotify: PUT /feedback/notify {"customers":{"type":"webhook","url",
// "secret"?}|{"type":"email","from"},"alerts":{…,"to"?},"loop":{"subject",
// "body"},"send_rate"?} → the setting, with "secrets" generated for
// webhooks given none (shown once).
func (s *Server) putNotify(w http.ResponseWriter, r *http.Request, p meta.Project, userID int64) {
	body, ok := readExperimentBody(w, r)
	if !ok {
		return
	}
	b, err := voc.DecodeNotify(body)
	if err != nil {
		writeBad(w, err)
		return
	}
	for name, c := range map[string]*voc.ChannelBody{"customers": b.Customers, "alerts": b.Alerts} {
		if c != nil && c.Type == "email" && !s.Campaigns.Email {
			writeBad(w, insight.Bad(name+".type", "email needs the server's --smtp relay"))
			return
		}
		// The same SSRF guard as campaigns' webhooks, at save time, so a
		// private target is refused here rather than failing each delivery.
		if c != nil && c.Type == "webhook" {
			if _, err := channel.CheckURL(c.URL, s.Campaigns.AllowPrivate); err != nil {
				writeBad(w, insight.Bad(name+".url", "%v", err))
				return
			}
		}
	}
	st, secrets, err := voc.Configure(r.Context(), s.Meta, p.ID, userID, b)
	if err != nil {
		feedbackError(w, "VoC channels", err)
		return
	}
	if s.Campaigns.Cache != nil {
		s.Campaigns.Cache.Invalidate(p.ID)
	}
	writeJSON(w, http.StatusOK, map[string]any{"customers_campaign": st.CustomersCampaign, "alerts_campaign": st.AlertsCampaign,
		"alerts_to": st.AlertsTo, "loop": st.Loop, "send_rate": st.SendRate, "secrets": secrets})
}
