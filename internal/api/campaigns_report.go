package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/journey-dev/journey/internal/campaign"
	"github.com/journey-dev/journey/internal/insight"
	"github.com/journey-dev/journey/internal/meta"
	"github.com/journey-dev/journey/internal/store"
)

// Campaign reports (issue 15 items 8 and 9): the report with revenue and
// a series over time, two campaigns side by side, and the decision after
// the test phase that freezes the report into the learning archive.
// Routes are registered with the other campaign routes (campaigns.go).

// reportOptions reads a report's revenue_property and interval
// parameters.
func reportOptions(r *http.Request) campaign.ReportOptions {
	q := r.URL.Query()
	return campaign.ReportOptions{RevenueProperty: strings.TrimSpace(q.Get("revenue_property")), Interval: q.Get("interval")}
}

// buildCampaignReport runs a campaign's report now under the query
// timeout and memory cap, answering the error itself (400 for bad
// options, 504 past the timeout).
func (s *Server) buildCampaignReport(w http.ResponseWriter, ctx context.Context, p meta.Project, l *campaign.Live, opt campaign.ReportOptions) (*campaign.Report, bool) {
	timeout := s.queryTimeout()
	ctx, cancel := context.WithTimeout(insight.WithMemoryCap(ctx, s.QueryMemory), timeout)
	defer cancel()
	rep, err := campaign.BuildFullReport(ctx, s.Meta, s.Events, l, projectTZ(p), time.Now(), opt)
	if err != nil && ctx.Err() != nil {
		err = &timeoutError{timeout}
	}
	if err != nil {
		specError(w, store.AsMemoryError(ctx, err))
		return nil, false
	}
	return rep, true
}

// campaignReport answers GET /campaigns/{id}/report[?revenue_property=
// &interval=hour|day|week].
func (s *Server) campaignReport(w http.ResponseWriter, r *http.Request, p meta.Project, _ int64) {
	if !paramsOK(w, r, "revenue_property", "interval") {
		return
	}
	c, ok := s.loadCampaign(w, r, p)
	if !ok {
		return
	}
	l, err := campaign.Decode(c)
	if err != nil {
		writeCampaignError(w, err)
		return
	}
	rep, ok := s.buildCampaignReport(w, r.Context(), p, l, reportOptions(r))
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

// compareIDs reads ?ids=1,2: two different campaign ids.
func compareIDs(raw string) ([2]int64, error) {
	parts := strings.Split(raw, ",")
	if raw == "" || len(parts) != 2 {
		return [2]int64{}, insight.Bad("ids", "give two campaign ids: ids=1,2")
	}
	var ids [2]int64
	for i, s := range parts {
		id, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil || id <= 0 {
			return [2]int64{}, insight.Bad("ids", "%q is not a campaign id", s)
		}
		ids[i] = id
	}
	if ids[0] == ids[1] {
		return [2]int64{}, insight.Bad("ids", "give two different campaigns")
	}
	return ids, nil
}

// compareCampaigns answers GET /campaigns/compare?ids=1,2 (and the
// report's revenue_property and interval): both reports and the first's
// CTR and CVR over the second's.
func (s *Server) compareCampaigns(w http.ResponseWriter, r *http.Request, p meta.Project, _ int64) {
	if !paramsOK(w, r, "ids", "revenue_property", "interval") {
		return
	}
	ids, err := compareIDs(r.URL.Query().Get("ids"))
	if err != nil {
		writeBad(w, err)
		return
	}
	var lives [2]*campaign.Live
	for i, id := range ids {
		c, err := s.Meta.Campaign(r.Context(), p.ID, id)
		if errors.Is(err, meta.ErrNotFound) {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": fmt.Sprintf("no campaign %d in this project", id), "field": "ids"})
			return
		}
		if err != nil {
			writeCampaignError(w, err)
			return
		}
		if lives[i], err = campaign.Decode(c); err != nil {
			writeCampaignError(w, err)
			return
		}
	}
	opt := reportOptions(r)
	var reps [2]*campaign.Report
	for i, l := range lives {
		rep, ok := s.buildCampaignReport(w, r.Context(), p, l, opt)
		if !ok {
			return
		}
		reps[i] = rep
	}
	writeJSON(w, http.StatusOK, campaign.Compare(reps[0], reps[1]))
}

// decideCampaign answers POST /campaigns/{id}/decision {"decision",
// "notes", "holdout_after", "hypothesis", "stage", "revenue_property"}:
// the report now is frozen into the learning archive (a stopped
// experiment row, campaign.ArchiveEntry) and the campaign keeps running
// with holdout_after → 201 {"archive": {"id", "kind", "link"},
// "campaign", "report"}. A campaign is decided once (409 after), and not
// once stopped (409).
//
// A smaller holdout re-messages nobody: sends keep the arm they were
// scheduled with (held-out triggers stay held out, their "would have
// sent" records already written), and the holdout is a stable hash
// threshold (campaign.Assign), so the new holdout is a subset of the old
// one and every person messaged before stays in the messaged arm; only
// triggers from now on of persons leaving the holdout get messages, each
// under its own idempotency key. Persons are not kept in their former
// arm: the test is over, and the smaller holdout keeps measuring lift.
func (s *Server) decideCampaign(w http.ResponseWriter, r *http.Request, p meta.Project, userID int64) {
	c, ok := s.loadCampaign(w, r, p)
	if !ok {
		return
	}
	if c.Status == meta.CampaignStopped {
		conflict(w, "status", "the campaign is stopped: decide while it runs, so it can go on with the smaller holdout", nil)
		return
	}
	body, ok := readExperimentBody(w, r)
	if !ok {
		return
	}
	l, err := campaign.Decode(c)
	if err != nil {
		writeCampaignError(w, err)
		return
	}
	dec, err := campaign.ParseDecision(body, l.Def.Holdout)
	if err != nil {
		writeBad(w, err)
		return
	}
	after := l.Def.Holdout
	if dec.HoldoutAfter != nil {
		after = *dec.HoldoutAfter
	}
	prior, err := s.campaignDecision(r.Context(), p.ID, c.ID)
	if err != nil {
		metaError(w, "experiments", err)
		return
	}
	if prior != nil {
		conflict(w, "decision", fmt.Sprintf("campaign %d was decided already (%s)", c.ID, prior.Decision),
			map[string]any{"experiment_id": prior.ID, "link": experimentLink(prior.ID)})
		return
	}
	rep, ok := s.buildCampaignReport(w, r.Context(), p, l, campaign.ReportOptions{RevenueProperty: dec.RevenueProperty})
	if !ok {
		return
	}
	// The version-checked update comes before the archive row: of two
	// decisions at once, the second fails here (409), before archiving.
	updated, err := s.setCampaignHoldout(r.Context(), c, after, userID)
	if err != nil {
		writeCampaignError(w, err)
		return
	}
	s.invalidateCampaigns(p.ID)
	entry, err := campaign.ArchiveEntry(l, rep, dec, after, userID, time.Now())
	if err != nil {
		writeCampaignError(w, err)
		return
	}
	e, err := s.Meta.CreateExperiment(r.Context(), entry)
	if err != nil {
		writeExperimentError(w, err)
		return
	}
	_ = s.Meta.AddExperimentEvent(r.Context(), meta.ExperimentEvent{ExperimentID: e.ID, ProjectID: p.ID, UserID: userID, Kind: "decided",
		Detail: fmt.Sprintf("campaign %d: %s; holdout %v → %v", c.ID, dec.Decision, l.Def.Holdout, after)})
	v, err := s.viewCampaign(r.Context(), updated)
	if err != nil {
		writeCampaignError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{
		"archive":  map[string]any{"id": e.ID, "kind": "campaign", "link": experimentLink(e.ID), "decision": e.Decision},
		"campaign": v, "report": rep,
	})
}

// campaignDecision finds the archive entry of campaign id's decision
// (nil when it has none).
func (s *Server) campaignDecision(ctx context.Context, projectID, id int64) (*meta.Experiment, error) {
	list, err := s.Meta.Experiments(ctx, projectID, meta.ExperimentFilter{Status: meta.ExperimentStopped, Text: campaign.ArchiveText(id)})
	if err != nil {
		return nil, err
	}
	for _, e := range list {
		if ac := campaign.CampaignOfArchived(e.Definition); ac != nil && ac.CampaignID == id {
			return &e, nil
		}
	}
	return nil, nil
}

// setCampaignHoldout stores campaign c with holdout share h, checked
// against the version read (meta.ErrConflict when it changed since).
func (s *Server) setCampaignHoldout(ctx context.Context, c meta.Campaign, h float64, userID int64) (meta.Campaign, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(c.Definition, &fields); err != nil {
		return meta.Campaign{}, fmt.Errorf("cannot decode campaign %q: %w", c.Name, err)
	}
	fields["holdout"], _ = json.Marshal(h)
	merged, err := json.Marshal(fields)
	if err != nil {
		return meta.Campaign{}, fmt.Errorf("cannot encode campaign %q: %w", c.Name, err)
	}
	d, err := campaign.Parse(merged)
	if err != nil {
		return meta.Campaign{}, err
	}
	if d.Channel.Secret == "" {
		d.Channel.Secret = c.Secret
	}
	def, secret, err := storedDefinition(d)
	if err != nil {
		return meta.Campaign{}, err
	}
	c.Definition, c.Secret, c.UpdatedBy = def, secret, userID
	return s.Meta.UpdateCampaign(ctx, c, c.Version)
}

// campaignArchiveKind marks an archive entry that is a campaign's
// decision: its kind, its campaign and a link to it.
func campaignArchiveKind(a *archiveEntry, def json.RawMessage) {
	a.Kind = "experiment"
	if ac := campaign.CampaignOfArchived(def); ac != nil {
		a.Kind, a.CampaignID, a.Link = "campaign", ac.CampaignID, "/campaigns/"+strconv.FormatInt(ac.CampaignID, 10)
	}
}
