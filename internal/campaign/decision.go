package campaign

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/journey-dev/journey/internal/experiment"
	"github.com/journey-dev/journey/internal/insight"
	"github.com/journey-dev/journey/internal/meta"
	"github.com/journey-dev/journey/internal/stats"
)

// The decision after a campaign's test phase (issue 15 item 9): POST
// /campaigns/{id}/decision records won, lost or inconclusive with notes
// in the learning archive of the experiments (issue 14), the report
// frozen at that moment, and the campaign keeps running with a smaller
// holdout.
//
// The archive entry is a meta.Experiment row, stopped, whose Result is
// the frozen report and whose definition is an experiment definition
// (holdout and messaged arms, the goal as primary metric, revenue as a
// secondary one) with a "campaign" object naming the campaign: the
// archive's search, filters and stage counts take it as they take
// experiments, with no table of its own. Its FlagKey is empty: no flag
// runs it.

// Decision is the body of POST /campaigns/{id}/decision.
type Decision struct {
	Decision string `json:"decision"`
	Notes    string `json:"notes"`
	// HoldoutAfter is the holdout share from now on, at most the current
	// one; nil keeps it.
	HoldoutAfter *float64 `json:"holdout_after"`
	// Hypothesis and Stage describe the entry as an experiment's do;
	// RevenueProperty adds revenue to the frozen report.
	Hypothesis      string `json:"hypothesis"`
	Stage           string `json:"stage"`
	RevenueProperty string `json:"revenue_property"`
}

// Decision text limits.
const (
	maxDecisionNotes = 20000
	maxDecisionText  = 2000
)

// ParseDecision decodes and checks a decision body for a campaign whose
// holdout is now current (strictly: unknown fields are errors).
func ParseDecision(body []byte, current float64) (*Decision, error) {
	var d Decision
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return nil, insight.Bad(te.Field, "want %s, got %s", te.Type, te.Value)
		}
		if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			return nil, insight.Bad(strings.Trim(f, `"`), "unknown field")
		}
		return nil, insight.Bad("body", "cannot decode body as JSON: %v", err)
	}
	if dec.More() {
		return nil, insight.Bad("body", "one JSON object expected")
	}
	switch d.Decision {
	case meta.DecisionWon, meta.DecisionLost, meta.DecisionInconclusive:
	case "":
		return nil, insight.Bad("decision", "missing (won, lost or inconclusive)")
	default:
		return nil, insight.Bad("decision", "unknown decision %q (won, lost or inconclusive)", d.Decision)
	}
	switch {
	case len(d.Notes) > maxDecisionNotes:
		return nil, insight.Bad("notes", "at most %d bytes", maxDecisionNotes)
	case len(d.Hypothesis) > maxDecisionText:
		return nil, insight.Bad("hypothesis", "at most %d bytes", maxDecisionText)
	case len(d.Stage) > maxDecisionText:
		return nil, insight.Bad("stage", "at most %d bytes", maxDecisionText)
	case len(d.RevenueProperty) > MaxEventName:
		return nil, insight.Bad("revenue_property", "at most %d bytes", MaxEventName)
	}
	if h := d.HoldoutAfter; h != nil {
		if math.IsNaN(*h) || *h < 0 || *h > current {
			return nil, insight.Bad("holdout_after", "must be in [0, %v] (the current holdout): a decision may shrink the holdout, not grow it", current)
		}
	}
	return &d, nil
}

// ArchivedCampaign is the "campaign" object of an archive entry's
// definition.
type ArchivedCampaign struct {
	CampaignID      int64   `json:"campaign_id"`
	Name            string  `json:"name"`
	HoldoutBefore   float64 `json:"holdout_before"`
	HoldoutAfter    float64 `json:"holdout_after"`
	RevenueProperty string  `json:"revenue_property,omitempty"`
}

// archivedDefinition is an archive entry's definition: an experiment's
// (so the archive decodes and searches it) and the campaign's object.
type archivedDefinition struct {
	experiment.Definition
	Campaign *ArchivedCampaign `json:"campaign,omitempty"`
}

// CampaignOfArchived returns the campaign object of a stored experiment
// definition, nil for an experiment's own.
func CampaignOfArchived(def json.RawMessage) *ArchivedCampaign {
	var d struct {
		Campaign *ArchivedCampaign `json:"campaign"`
	}
	if json.Unmarshal(def, &d) != nil || d.Campaign == nil || d.Campaign.CampaignID == 0 {
		return nil
	}
	return d.Campaign
}

// ArchiveText is the text an archive entry of campaign id holds in its
// definition, for a search that finds it (meta.ExperimentFilter.Text)
// before CampaignOfArchived checks it exactly.
func ArchiveText(id int64) string { return fmt.Sprintf(`"campaign_id":%d`, id) }

// ArchiveEntry is the learning archive's entry of the decision on
// campaign l (holdout from before to after) with report rep frozen, by
// user, at now.
func ArchiveEntry(l *Live, rep *Report, dec *Decision, after float64, user int64, now time.Time) (meta.Experiment, error) {
	d := l.Def
	frozen, err := json.Marshal(rep)
	if err != nil {
		return meta.Experiment{}, fmt.Errorf("cannot freeze campaign report %q: %w", d.Name, err)
	}
	def := archivedDefinition{
		Definition: experiment.Definition{
			Variants: []experiment.Variant{{Key: meta.ArmHoldout, Weight: d.Holdout}, {Key: "messaged", Weight: 1 - d.Holdout}},
			Method:   stats.Frequentist, Alpha: 0.05, Correction: experiment.CorrectionNone,
		},
		Campaign: &ArchivedCampaign{CampaignID: l.Meta.ID, Name: d.Name, HoldoutBefore: d.Holdout, HoldoutAfter: after, RevenueProperty: dec.RevenueProperty},
	}
	if g := d.Goal; g != nil {
		def.Metrics.Primary = []experiment.Metric{{ExperimentMetric: insight.ExperimentMetric{Name: g.Event, Kind: insight.MetricConversion,
			Event: g.Event, Filters: g.Filters, Window: rep.Attribution}}}
		if dec.RevenueProperty != "" {
			def.Metrics.Secondary = []experiment.Metric{{ExperimentMetric: insight.ExperimentMetric{Name: g.Event + " " + dec.RevenueProperty,
				Kind: insight.MetricSum, Event: g.Event, Filters: g.Filters, Property: dec.RevenueProperty, Window: rep.Attribution}}}
		}
	}
	raw, err := json.Marshal(def)
	if err != nil {
		return meta.Experiment{}, fmt.Errorf("cannot encode archive entry of campaign %q: %w", d.Name, err)
	}
	hypothesis := dec.Hypothesis
	if hypothesis == "" {
		hypothesis = defaultHypothesis(d)
	}
	started, stopped := l.Meta.CreatedAt, now
	return meta.Experiment{ProjectID: l.Meta.ProjectID, Name: "Campaign: " + d.Name, Hypothesis: hypothesis, OwnerID: user,
		Status: meta.ExperimentStopped, Definition: raw, Stage: strings.TrimSpace(dec.Stage), StartedAt: &started, StoppedAt: &stopped,
		Decision: dec.Decision, Result: frozen, Notes: dec.Notes}, nil
}

// defaultHypothesis says what a campaign tests, from its definition.
func defaultHypothesis(d *Definition) string {
	goal := "the goal"
	if d.Goal != nil {
		goal = d.Goal.Event
	}
	if d.Trigger != nil && d.Trigger.Event != "" {
		return fmt.Sprintf("Messaging persons after %s raises %s over the holdout.", d.Trigger.Event, goal)
	}
	return fmt.Sprintf("The campaign's message raises %s over the holdout.", goal)
}
