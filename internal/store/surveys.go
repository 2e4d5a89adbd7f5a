package store

import (
	"context"
	"encoding/json"
	"time"
)

// SurveyEvent is the event posthog-js captures when a survey is answered;
// its properties carry $survey_id and $survey_response_<question id>.
const SurveyEvent = "survey sent"

// MaxSurveyKeys bounds the properties one SurveyResponses call reads.
const MaxSurveyKeys = 64

// SurveyQuery asks for the responses to one survey: the `survey sent`
// events whose $survey_id is SurveyID, in [From, To).
type SurveyQuery struct {
	SurveyID string
	From, To time.Time
	// Keys are the properties to read of each event (at most
	// MaxSurveyKeys), e.g. $survey_response_<question id>.
	Keys []string
	// Breakdown, when set, is a person property: each response carries
	// the current value of its person (after merges).
	Breakdown string
	// Fallback are further person properties tried in order where
	// Breakdown is unset: a first-touch channel is $initial_utm_source,
	// else $initial_referring_domain.
	Fallback []string
	// Limit bounds the rows returned (a caller asks one more than it
	// takes, to tell that there were more).
	Limit int
}

// SurveyResponse is one `survey sent` event of a survey.
type SurveyResponse struct {
	PersonID  int64     // after merges
	Timestamp time.Time // UTC, to the microsecond
	// Segment is the person's Breakdown value as a string ("$none" when
	// unset), "" without breakdown.
	Segment string
	// Values are the JSON texts of the Keys, in order; nil where the
	// event has no such property (or JSON null).
	Values []json.RawMessage
}

// SurveyReader reads survey responses. Rows come ordered by person, then
// time, then uuid, so every store gives the same rows in the same order.
type SurveyReader interface {
	SurveyResponses(ctx context.Context, projectID int64, q *SurveyQuery) ([]SurveyResponse, error)
	// SurveyResponseCounts counts the `survey sent` events of each of the
	// surveys (all time), for responses_limit; a survey without any is
	// absent from the map.
	SurveyResponseCounts(ctx context.Context, projectID int64, surveyIDs []string) (map[string]int64, error)
}

// MaxSurveyCount bounds the surveys one SurveyResponseCounts call counts.
const MaxSurveyCount = 1000
