package voc

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/journey-dev/journey/internal/insight"
	"github.com/journey-dev/journey/internal/meta"
)

// StatusAt is the status a survey's dates give at now: draft before it
// has a start date, stopped once its end date has passed, running
// otherwise (a start date still ahead is a scheduled run).
func StatusAt(start, end *time.Time, now time.Time) string {
	switch {
	case start == nil:
		return meta.SurveyDraft
	case end != nil && !end.After(now):
		return meta.SurveyStopped
	}
	return meta.SurveyRunning
}

// ApplyStatus makes the dates say the status the body asked for, at now
// (PostHog has no status: its clients launch a survey by setting
// start_date and stop it by setting end_date; Journey's clients may say
// "status" instead): running starts a draft now and lifts an end date
// that has passed; stopped ends a started survey now. Status is then the
// one the dates give. prevStart is the stored start date (nil for a new
// survey), so a started survey cannot become a draft again.
func (s *Survey) ApplyStatus(prevStart *time.Time, now time.Time) error {
	now = now.UTC().Truncate(time.Millisecond)
	switch s.Status {
	case meta.SurveyRunning:
		if s.StartDate == nil {
			s.StartDate = &now
		}
		if s.EndDate != nil && !s.EndDate.After(now) {
			s.EndDate = nil
		}
	case meta.SurveyStopped:
		if s.StartDate == nil {
			return insight.Bad("status", "a draft survey cannot be stopped: delete it, or start it first")
		}
		if s.EndDate == nil || s.EndDate.After(now) {
			s.EndDate = &now
		}
		if s.EndDate.Before(*s.StartDate) {
			s.StartDate = s.EndDate // a scheduled survey stopped before it started
		}
	case meta.SurveyDraft:
		if s.StartDate != nil || prevStart != nil {
			return insight.Bad("status", "a survey that has started cannot go back to draft")
		}
	}
	if s.StartDate == nil && prevStart != nil {
		return insight.Bad("start_date", "a survey that has started keeps its start date (stop it with end_date or status)")
	}
	s.Status = StatusAt(s.StartDate, s.EndDate, now)
	return nil
}

// Record is the survey as the metadata store keeps it: the survey's JSON
// as its definition, its name, type, status and dates as columns too.
func (s *Survey) Record(projectID, userID int64) (meta.Survey, error) {
	def, err := json.Marshal(s)
	if err != nil {
		return meta.Survey{}, fmt.Errorf("cannot encode survey %q: %w", s.Name, err)
	}
	r := meta.Survey{ProjectID: projectID, Name: s.Name, Type: s.Type, Status: s.Status, Definition: def, CreatedBy: userID, UpdatedBy: userID}
	if s.StartDate != nil {
		r.StartDate = *s.StartDate
	}
	if s.EndDate != nil {
		r.EndDate = *s.EndDate
	}
	return r, nil
}

// FromRecord decodes a stored survey; the columns win over the copy in
// the definition.
func FromRecord(r meta.Survey) (*Survey, error) {
	var s Survey
	if err := json.Unmarshal(r.Definition, &s); err != nil {
		return nil, fmt.Errorf("cannot decode survey %d: %w", r.ID, err)
	}
	s.Name, s.Type, s.Status, s.StartDate, s.EndDate = r.Name, r.Type, r.Status, nil, nil
	if !r.StartDate.IsZero() {
		t := r.StartDate
		s.StartDate = &t
	}
	if !r.EndDate.IsZero() {
		t := r.EndDate
		s.EndDate = &t
	}
	return &s, nil
}

// View is a survey as the management API answers it.
type View struct {
	ID int64 `json:"id"`
	Survey
	// ResponsesCount is the survey's `survey sent` events, given where it
	// has a responses_limit.
	ResponsesCount *int64    `json:"responses_count,omitempty"`
	Version        int       `json:"version"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
}

// SurveyCompleted is the status a view shows for a running survey that
// has reached its responses_limit: it is no longer served.
const SurveyCompleted = "completed"

// LimitReached says whether a survey with count responses has reached its
// responses_limit (PostHog counts `survey sent` events too).
func (s *Survey) LimitReached(count int64) bool {
	return s.ResponsesLimit != nil && count >= int64(*s.ResponsesLimit)
}

// ApplyCount records the response count of a survey with a limit, and
// shows a running survey that reached it as completed.
func (v *View) ApplyCount(count int64) {
	if v.ResponsesLimit == nil {
		return
	}
	v.ResponsesCount = &count
	if v.Status == meta.SurveyRunning && v.LimitReached(count) {
		v.Status = SurveyCompleted
	}
}

// NewView is the API's answer for a stored survey, its status as the
// dates give it at now.
func NewView(r meta.Survey, now time.Time) (View, error) {
	s, err := FromRecord(r)
	if err != nil {
		return View{}, err
	}
	s.Status = StatusAt(s.StartDate, s.EndDate, now)
	return View{ID: r.ID, Survey: *s, Version: r.Version, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}, nil
}

// Public is a survey as GET /api/surveys/ serves it to posthog-js, in the
// shape of PostHog's SurveyAPISerializer (posthog-js's Survey type).
type Public struct {
	ID                        string           `json:"id"`
	Name                      string           `json:"name"`
	Description               string           `json:"description"`
	Type                      string           `json:"type"`
	Questions                 []Question       `json:"questions"`
	Conditions                *PublicCondition `json:"conditions"`
	Appearance                Appearance       `json:"appearance"`
	StartDate                 *time.Time       `json:"start_date"`
	EndDate                   *time.Time       `json:"end_date"`
	CurrentIteration          *int             `json:"current_iteration"`
	CurrentIterationStartDate *time.Time       `json:"current_iteration_start_date"`
	Schedule                  string           `json:"schedule"`
	EnablePartialResponses    bool             `json:"enable_partial_responses"`
	FeatureFlagKeys           []FlagKey        `json:"feature_flag_keys"`
	LinkedFlagKey             *string          `json:"linked_flag_key"`
	TargetingFlagKey          *string          `json:"targeting_flag_key"`
	InternalTargetingFlagKey  *string          `json:"internal_targeting_flag_key"`
}

// PublicCondition is Conditions without Journey's own fields (the cohort
// becomes the targeting flag).
type PublicCondition struct {
	URL                        string        `json:"url,omitempty"`
	URLMatchType               string        `json:"urlMatchType,omitempty"`
	Selector                   string        `json:"selector,omitempty"`
	Events                     *EventTrigger `json:"events"`
	SeenSurveyWaitPeriodInDays *int          `json:"seenSurveyWaitPeriodInDays,omitempty"`
	LinkedFlagVariant          string        `json:"linkedFlagVariant,omitempty"`
	DeviceTypes                []string      `json:"deviceTypes,omitempty"`
	DeviceTypesMatchType       string        `json:"deviceTypesMatchType,omitempty"`
	Actions                    *struct{}     `json:"actions"`
	CancelEvents               *struct{}     `json:"cancelEvents"`
}

// FlagKey is one of feature_flag_keys.
type FlagKey struct {
	Key   string `json:"key"`
	Value string `json:"value,omitempty"`
}

// TargetingFlagKey is the key of the flag that holds a survey's cohort
// targeting: posthog-js shows the survey only where /flags says it is
// enabled, and sends no $feature_flag_called for this prefix.
func TargetingFlagKey(surveyID int64) string {
	return "survey-targeting-" + strconv.FormatInt(surveyID, 10)
}

// PublicSurvey is what posthog-js is served for an active survey. It
// serves no end date: posthog-js treats a survey with one as finished,
// and an active survey has not ended.
func PublicSurvey(r meta.Survey) (Public, error) {
	s, err := FromRecord(r)
	if err != nil {
		return Public{}, err
	}
	p := Public{ID: strconv.FormatInt(r.ID, 10), Name: s.Name, Description: s.Description, Type: s.Type,
		Questions: s.Questions, Appearance: s.Appearance, StartDate: s.StartDate, Schedule: s.Schedule,
		EnablePartialResponses: s.EnablePartialResponses, FeatureFlagKeys: []FlagKey{}}
	if p.Schedule == "" {
		p.Schedule = "once"
	}
	if p.Appearance == nil {
		p.Appearance = Appearance{}
	}
	if s.LinkedFlagKey != "" {
		k := s.LinkedFlagKey
		p.LinkedFlagKey = &k
		p.FeatureFlagKeys = append(p.FeatureFlagKeys, FlagKey{Key: "linked_flag_key", Value: k})
	}
	if c := s.Conditions; c != nil {
		p.Conditions = &PublicCondition{URL: c.URL, URLMatchType: c.URLMatchType, Selector: c.Selector, Events: c.Events,
			SeenSurveyWaitPeriodInDays: c.SeenSurveyWaitPeriodInDays, LinkedFlagVariant: c.LinkedFlagVariant,
			DeviceTypes: c.DeviceTypes, DeviceTypesMatchType: c.DeviceTypesMatchType}
		if c.Cohort != 0 {
			k := TargetingFlagKey(r.ID)
			p.TargetingFlagKey = &k
			p.FeatureFlagKeys = append(p.FeatureFlagKeys, FlagKey{Key: "targeting_flag_key", Value: k})
		}
	}
	if s.IterationCount != nil && s.IterationFrequencyDays != nil && s.StartDate != nil {
		p.CurrentIteration, p.CurrentIterationStartDate = iteration(*s.StartDate, *s.IterationCount, *s.IterationFrequencyDays, time.Now())
	}
	return p, nil
}

// iteration is a recurring survey's current iteration (from 1) and its
// start: one every freq days from start, at most count.
func iteration(start time.Time, count, freq int, now time.Time) (*int, *time.Time) {
	n := 1
	if now.After(start) {
		n = int(now.Sub(start)/(time.Duration(freq)*24*time.Hour)) + 1
	}
	n = min(n, count)
	at := start.Add(time.Duration(n-1) * time.Duration(freq) * 24 * time.Hour)
	return &n, &at
}
