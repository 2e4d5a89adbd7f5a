package voc

// Surveys in PostHog's JSON model, so that posthog-js (1.449.x) renders
// Journey's surveys itself: the body of POST /api/v1/surveys is PostHog's
// survey JSON, decoded strictly (unknown fields refused, every text
// bounded) and validated with field errors (*insight.Error). What is
// stored is the Survey re-encoded, defaults filled in (question ids,
// rating display), so what browsers are served is always valid.

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/journey-dev/journey/internal/insight"
	"github.com/journey-dev/journey/internal/meta"
)

// Limits of a survey body.
const (
	MaxSurveyBody     = 256 << 10
	MaxQuestions      = 50
	MaxChoices        = 50
	MaxEventTriggers  = 50
	maxNameLen        = 400
	maxTextLen        = 10_000 // a description or question text
	maxShortLen       = 500    // labels, button texts, choices, colours
	maxURLLen         = 2000
	maxQuestionIDLen  = 64
	maxWaitPeriodDays = 3650
	maxAppearanceKeys = 64
)

// Question types (PostHog's).
const (
	QuestionOpen           = "open"
	QuestionLink           = "link"
	QuestionRating         = "rating"
	QuestionSingleChoice   = "single_choice"
	QuestionMultipleChoice = "multiple_choice"
)

// Survey is a survey as the API takes and answers it (PostHog's field
// names). Status is Journey's: draft (never started), running, stopped;
// it follows the dates (see Normalize).
type Survey struct {
	Name                   string      `json:"name"`
	Description            string      `json:"description"`
	Type                   string      `json:"type"`
	Status                 string      `json:"status,omitempty"`
	Questions              []Question  `json:"questions"`
	Conditions             *Conditions `json:"conditions"`
	Appearance             Appearance  `json:"appearance"`
	LinkedFlagKey          string      `json:"linked_flag_key,omitempty"`
	StartDate              *time.Time  `json:"start_date"`
	EndDate                *time.Time  `json:"end_date"`
	ResponsesLimit         *int        `json:"responses_limit"`
	Schedule               string      `json:"schedule,omitempty"` // once (default), recurring, always
	IterationCount         *int        `json:"iteration_count"`
	IterationFrequencyDays *int        `json:"iteration_frequency_days"`
	EnablePartialResponses bool        `json:"enable_partial_responses"`
}

// Question is one survey question. Rating fields apply to rating
// questions, Choices to single and multiple choice, Link to link.
type Question struct {
	ID                     string     `json:"id"`
	Type                   string     `json:"type"`
	Question               string     `json:"question"`
	Description            string     `json:"description,omitempty"`
	DescriptionContentType string     `json:"descriptionContentType,omitempty"` // text or html
	Optional               bool       `json:"optional,omitempty"`
	ButtonText             string     `json:"buttonText,omitempty"`
	Display                string     `json:"display,omitempty"` // rating: number or emoji
	Scale                  int        `json:"scale,omitempty"`   // rating: 10 is NPS (0–10), others 1–scale
	LowerBoundLabel        string     `json:"lowerBoundLabel,omitempty"`
	UpperBoundLabel        string     `json:"upperBoundLabel,omitempty"`
	SkipSubmitButton       bool       `json:"skipSubmitButton,omitempty"`
	Choices                []string   `json:"choices,omitempty"`
	HasOpenChoice          bool       `json:"hasOpenChoice,omitempty"`
	ShuffleOptions         bool       `json:"shuffleOptions,omitempty"`
	Link                   string     `json:"link,omitempty"`
	Branching              *Branching `json:"branching,omitempty"`
}

// Branching says where a question leads (PostHog's branching).
type Branching struct {
	Type           string                     `json:"type"` // next_question, end, response_based, specific_question
	Index          *int                       `json:"index,omitempty"`
	ResponseValues map[string]json.RawMessage `json:"responseValues,omitempty"`
}

// Conditions say to whom and where a survey shows. posthog-js evaluates
// url, selector, events, device types, the wait period and the linked
// flag itself; Cohort (Journey's) is served as a targeting flag.
type Conditions struct {
	URL                        string        `json:"url,omitempty"`
	URLMatchType               string        `json:"urlMatchType,omitempty"`
	Selector                   string        `json:"selector,omitempty"`
	Events                     *EventTrigger `json:"events,omitempty"`
	SeenSurveyWaitPeriodInDays *int          `json:"seenSurveyWaitPeriodInDays,omitempty"`
	LinkedFlagVariant          string        `json:"linkedFlagVariant,omitempty"`
	DeviceTypes                []string      `json:"deviceTypes,omitempty"`
	DeviceTypesMatchType       string        `json:"deviceTypesMatchType,omitempty"`
	Cohort                     int64         `json:"cohort,omitempty"`
}

// EventTrigger shows the survey when the visitor sends one of the events.
type EventTrigger struct {
	RepeatedActivation bool         `json:"repeatedActivation"`
	Values             []EventValue `json:"values"`
}

// EventValue is one triggering event.
type EventValue struct {
	Name string `json:"name"`
}

// Appearance is PostHog's survey appearance: a flat object of the keys
// posthog-js reads (appearanceKeys), each of its JSON kind.
type Appearance map[string]any

// appearanceKeys is the allow-list of appearance keys, by JSON kind
// ("string", "bool" or "number"), as posthog-js's SurveyAppearance.
var appearanceKeys = map[string]string{
	"backgroundColor": "string", "textColor": "string", "submitButtonColor": "string", "submitButtonText": "string",
	"submitButtonTextColor": "string", "ratingButtonColor": "string", "ratingButtonActiveColor": "string",
	"ratingButtonHoverColor": "string", "inputBackground": "string", "inputTextColor": "string", "autoDisappear": "bool",
	"displayThankYouMessage": "bool", "thankYouMessageHeader": "string", "thankYouMessageDescription": "string",
	"thankYouMessageDescriptionContentType": "string", "thankYouMessageCloseButtonText": "string",
	"displayIntroScreen": "bool", "introScreenHeader": "string", "introScreenDescription": "string",
	"introScreenDescriptionContentType": "string", "introScreenButtonText": "string", "borderColor": "string",
	"position": "string", "placeholder": "string", "shuffleQuestions": "bool", "surveyPopupDelaySeconds": "number",
	"allowGoBack": "bool", "backButtonText": "string", "widgetType": "string", "widgetSelector": "string",
	"widgetLabel": "string", "widgetColor": "string", "whiteLabel": "bool", "tabPosition": "string",
	"fontFamily": "string", "maxWidth": "string", "zIndex": "string", "disabledButtonOpacity": "string",
	"boxPadding": "string", "hideCancelButton": "bool", "disableAutofocus": "bool",
}

// Allowed values of the enumerated fields.
var (
	surveyTypes    = set(meta.SurveyPopover, meta.SurveyWidget, meta.SurveyAPI)
	surveyStatuses = set(meta.SurveyDraft, meta.SurveyRunning, meta.SurveyStopped)
	questionTypes  = set(QuestionOpen, QuestionLink, QuestionRating, QuestionSingleChoice, QuestionMultipleChoice)
	schedules      = set("once", "recurring", "always")
	matchTypes     = set("exact", "is_not", "icontains", "not_icontains", "regex", "not_regex")
	deviceTypes    = set("Desktop", "Mobile", "Tablet")
	contentTypes   = set("text", "html")
	branchingTypes = set("next_question", "end", "response_based", "specific_question")
	positions      = set("top_left", "top_right", "top_center", "middle_left", "middle_right", "middle_center", "left", "center", "right", "next_to_trigger")
	widgetTypes    = set("button", "tab", "selector")
	tabPositions   = set("top", "left", "right", "bottom")
	ratingScales   = map[string]map[int]bool{"number": {3: true, 5: true, 7: true, 10: true}, "emoji": {2: true, 3: true, 5: true}}
)

func set(vs ...string) map[string]bool {
	m := make(map[string]bool, len(vs))
	for _, v := range vs {
		m[v] = true
	}
	return m
}

// questionID: letters, digits, - and _; never only digits, because
// posthog-js also sends $survey_response_<index> for each question (the
// legacy keys), which a numeric id would collide with.
var questionID = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// ParseSurvey decodes and validates a survey body (POST /api/v1/surveys).
func ParseSurvey(body []byte) (*Survey, error) {
	var s Survey
	if err := decodeStrict(body, &s); err != nil {
		return nil, err
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return &s, nil
}

// decodeStrict decodes one JSON object into v, refusing unknown fields
// and anything after it, and names the field a wrong type is at.
func decodeStrict(body []byte, v any) error {
	if len(body) > MaxSurveyBody {
		return insight.Bad("body", "at most %d bytes", MaxSurveyBody)
	}
	if !utf8.Valid(body) || bytes.IndexByte(body, 0) >= 0 {
		return insight.Bad("body", "not UTF-8 text")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if ok := asTypeError(err, &te); ok && te.Field != "" {
			return insight.Bad(te.Field, "want %s, got JSON %s", te.Type, te.Value)
		}
		if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			if f = strings.Trim(f, `"`); f != "" {
				return insight.Bad(f, "unknown field")
			}
			return insight.Bad("body", "unknown field \"\"")
		}
		return insight.Bad("body", "cannot decode JSON: %v", err)
	}
	if dec.More() {
		return insight.Bad("body", "one JSON object only")
	}
	return nil
}

func asTypeError(err error, te **json.UnmarshalTypeError) bool {
	t, ok := err.(*json.UnmarshalTypeError)
	if ok {
		*te = t
	}
	return ok
}

// Validate checks the whole survey and fills in defaults: type popover,
// question ids (random, 16 hex digits), rating display number.
func (s *Survey) Validate() error {
	if err := surveyText("name", s.Name, maxNameLen, true); err != nil {
		return err
	}
	if err := surveyText("description", s.Description, maxTextLen, false); err != nil {
		return err
	}
	if s.Type == "" {
		s.Type = meta.SurveyPopover
	}
	if !surveyTypes[s.Type] {
		return insight.Bad("type", "unknown survey type %q (popover, widget, api)", s.Type)
	}
	if s.Status != "" && !surveyStatuses[s.Status] {
		return insight.Bad("status", "unknown status %q (draft, running, stopped)", s.Status)
	}
	if err := s.validateQuestions(); err != nil {
		return err
	}
	if err := s.Conditions.validate(s.LinkedFlagKey); err != nil {
		return err
	}
	if err := s.Appearance.validate(s.Type); err != nil {
		return err
	}
	if err := surveyText("linked_flag_key", s.LinkedFlagKey, 400, false); err != nil {
		return err
	}
	if s.StartDate != nil && s.EndDate != nil && s.EndDate.Before(*s.StartDate) {
		return insight.Bad("end_date", "before start_date")
	}
	if s.Schedule != "" && !schedules[s.Schedule] {
		return insight.Bad("schedule", "unknown schedule %q (once, recurring, always)", s.Schedule)
	}
	for _, n := range []struct {
		field string
		v     *int
		max   int
	}{{"responses_limit", s.ResponsesLimit, 1 << 30}, {"iteration_count", s.IterationCount, 500}, {"iteration_frequency_days", s.IterationFrequencyDays, 3650}} {
		if n.v != nil && (*n.v < 1 || *n.v > n.max) {
			return insight.Bad(n.field, "want 1 to %d", n.max)
		}
	}
	if (s.IterationCount == nil) != (s.IterationFrequencyDays == nil) {
		return insight.Bad("iteration_frequency_days", "iteration_count and iteration_frequency_days go together")
	}
	return nil
}

func (s *Survey) validateQuestions() error {
	if len(s.Questions) == 0 {
		return insight.Bad("questions", "a survey needs at least one question")
	}
	if len(s.Questions) > MaxQuestions {
		return insight.Bad("questions", "at most %d questions", MaxQuestions)
	}
	seen := map[string]bool{}
	for i := range s.Questions {
		q := &s.Questions[i]
		at := fmt.Sprintf("questions[%d]", i)
		if q.ID == "" {
			q.ID = newQuestionID()
		}
		if len(q.ID) > maxQuestionIDLen || !questionID.MatchString(q.ID) || strings.Trim(q.ID, "0123456789") == "" {
			return insight.Bad(at+".id", "want up to %d letters, digits, - or _, not only digits", maxQuestionIDLen)
		}
		if seen[q.ID] {
			return insight.Bad(at+".id", "id %q is used by another question", q.ID)
		}
		seen[q.ID] = true
		if err := q.validate(at, len(s.Questions)); err != nil {
			return err
		}
	}
	return nil
}

func newQuestionID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b) // crypto/rand never fails
	return "q" + hex.EncodeToString(b)
}

func (q *Question) validate(at string, n int) error {
	if !questionTypes[q.Type] {
		return insight.Bad(at+".type", "unknown question type %q (open, link, rating, single_choice, multiple_choice)", q.Type)
	}
	for _, t := range []struct {
		field, v string
		max      int
		required bool
	}{
		{"question", q.Question, maxTextLen, true}, {"description", q.Description, maxTextLen, false},
		{"buttonText", q.ButtonText, maxShortLen, false}, {"lowerBoundLabel", q.LowerBoundLabel, maxShortLen, false},
		{"upperBoundLabel", q.UpperBoundLabel, maxShortLen, false},
	} {
		if err := surveyText(at+"."+t.field, t.v, t.max, t.required); err != nil {
			return err
		}
	}
	if q.DescriptionContentType != "" && !contentTypes[q.DescriptionContentType] {
		return insight.Bad(at+".descriptionContentType", "want text or html")
	}
	if err := q.validateKind(at); err != nil {
		return err
	}
	return q.Branching.validate(at+".branching", n)
}

// validateKind checks the fields of the question's type, and that no
// other type's fields are set (a choice list on a rating is a mistake).
func (q *Question) validateKind(at string) error {
	ratingFields := q.Display != "" || q.Scale != 0 || q.LowerBoundLabel != "" || q.UpperBoundLabel != ""
	choiceFields := len(q.Choices) > 0 || q.HasOpenChoice || q.ShuffleOptions
	var foreign bool
	switch q.Type {
	case QuestionRating:
		if err := q.validateRating(at); err != nil {
			return err
		}
		foreign = choiceFields || q.Link != ""
	case QuestionSingleChoice, QuestionMultipleChoice:
		if err := q.validateChoices(at); err != nil {
			return err
		}
		foreign = ratingFields || q.Link != ""
	case QuestionLink:
		if err := checkLink(at+".link", q.Link); err != nil {
			return err
		}
		foreign = ratingFields || choiceFields
	default: // open
		foreign = ratingFields || choiceFields || q.Link != ""
	}
	if q.SkipSubmitButton && q.Type != QuestionRating && q.Type != QuestionSingleChoice {
		foreign = true
	}
	if foreign {
		return insight.Bad(at+".type", "fields of another question type are set on a %s question", q.Type)
	}
	return nil
}

func (q *Question) validateRating(at string) error {
	if q.Display == "" {
		q.Display = "number"
	}
	scales, ok := ratingScales[q.Display]
	if !ok {
		return insight.Bad(at+".display", "want number or emoji")
	}
	if !scales[q.Scale] {
		return insight.Bad(at+".scale", "a %s rating has a scale of %s", q.Display,
			map[string]string{"number": "3, 5, 7 or 10 (NPS, 0–10)", "emoji": "2, 3 or 5"}[q.Display])
	}
	return nil
}

func (q *Question) validateChoices(at string) error {
	if len(q.Choices) < 2 || len(q.Choices) > MaxChoices {
		return insight.Bad(at+".choices", "want 2 to %d choices", MaxChoices)
	}
	seen := map[string]bool{}
	for j, c := range q.Choices {
		field := fmt.Sprintf("%s.choices[%d]", at, j)
		if err := surveyText(field, c, maxShortLen, true); err != nil {
			return err
		}
		if seen[c] {
			return insight.Bad(field, "choice %q is listed twice", c)
		}
		seen[c] = true
	}
	return nil
}

// checkLink allows web and mail links only: posthog-js opens it on submit.
func checkLink(field, link string) error {
	if link == "" {
		return insight.Bad(field, "a link question needs a link")
	}
	u, err := url.Parse(link)
	if err != nil || len(link) > maxURLLen || (u.Scheme != "https" && u.Scheme != "http" && u.Scheme != "mailto") ||
		(u.Scheme != "mailto" && u.Host == "") {
		return insight.Bad(field, "want an http(s) or mailto URL of at most %d bytes", maxURLLen)
	}
	return nil
}

func (b *Branching) validate(at string, n int) error {
	if b == nil {
		return nil
	}
	if !branchingTypes[b.Type] {
		return insight.Bad(at+".type", "unknown branching %q (next_question, end, response_based, specific_question)", b.Type)
	}
	if (b.Type == "specific_question") != (b.Index != nil) {
		return insight.Bad(at+".index", "an index goes with specific_question branching only")
	}
	if b.Index != nil && (*b.Index < 0 || *b.Index >= n) {
		return insight.Bad(at+".index", "no question %d", *b.Index)
	}
	if (b.Type == "response_based") != (b.ResponseValues != nil) {
		return insight.Bad(at+".responseValues", "responseValues go with response_based branching only")
	}
	if len(b.ResponseValues) > MaxChoices+11 {
		return insight.Bad(at+".responseValues", "too many responses")
	}
	for k, v := range b.ResponseValues {
		var target any
		if json.Unmarshal(v, &target) != nil || len(k) > maxShortLen {
			return insight.Bad(at+".responseValues", "bad response %q", k)
		}
		switch t := target.(type) {
		case string:
			if t != "end" {
				return insight.Bad(at+".responseValues", "response %q leads to %q: want a question index or \"end\"", k, t)
			}
		case float64:
			if t != float64(int(t)) || t < 0 || int(t) >= n {
				return insight.Bad(at+".responseValues", "response %q leads to no question", k)
			}
		default:
			return insight.Bad(at+".responseValues", "response %q: want a question index or \"end\"", k)
		}
	}
	return nil
}

func (c *Conditions) validate(linkedFlag string) error {
	if c == nil {
		return nil
	}
	if err := surveyText("conditions.url", c.URL, maxURLLen, false); err != nil {
		return err
	}
	if c.URLMatchType != "" && !matchTypes[c.URLMatchType] {
		return insight.Bad("conditions.urlMatchType", "unknown match type %q (exact, is_not, icontains, not_icontains, regex, not_regex)", c.URLMatchType)
	}
	if c.URLMatchType != "" && c.URL == "" {
		return insight.Bad("conditions.urlMatchType", "a match type needs a url")
	}
	if err := surveyText("conditions.selector", c.Selector, 1000, false); err != nil {
		return err
	}
	if c.Events != nil {
		if len(c.Events.Values) > MaxEventTriggers {
			return insight.Bad("conditions.events.values", "at most %d events", MaxEventTriggers)
		}
		for i, e := range c.Events.Values {
			if err := surveyText(fmt.Sprintf("conditions.events.values[%d].name", i), e.Name, 200, true); err != nil {
				return err
			}
		}
	}
	if w := c.SeenSurveyWaitPeriodInDays; w != nil && (*w < 0 || *w > maxWaitPeriodDays) {
		return insight.Bad("conditions.seenSurveyWaitPeriodInDays", "want 0 to %d days", maxWaitPeriodDays)
	}
	if err := surveyText("conditions.linkedFlagVariant", c.LinkedFlagVariant, 400, false); err != nil {
		return err
	}
	if c.LinkedFlagVariant != "" && linkedFlag == "" {
		return insight.Bad("conditions.linkedFlagVariant", "a variant needs linked_flag_key")
	}
	seen := map[string]bool{}
	for i, d := range c.DeviceTypes {
		if !deviceTypes[d] || seen[d] {
			return insight.Bad(fmt.Sprintf("conditions.deviceTypes[%d]", i), "want Desktop, Mobile or Tablet, each once")
		}
		seen[d] = true
	}
	if c.DeviceTypesMatchType != "" && !matchTypes[c.DeviceTypesMatchType] {
		return insight.Bad("conditions.deviceTypesMatchType", "unknown match type %q", c.DeviceTypesMatchType)
	}
	if c.Cohort < 0 {
		return insight.Bad("conditions.cohort", "want a cohort id")
	}
	return nil
}

func (a Appearance) validate(surveyType string) error {
	if len(a) > maxAppearanceKeys {
		return insight.Bad("appearance", "too many keys")
	}
	for k, v := range a {
		field := "appearance." + k
		kind, ok := appearanceKeys[k]
		if !ok {
			return insight.Bad(field, "unknown appearance key")
		}
		switch t := v.(type) {
		case nil:
		case string:
			if kind != "string" {
				return insight.Bad(field, "want a %s", kind)
			}
			if err := surveyText(field, t, maxTextLen, false); err != nil {
				return err
			}
		case bool:
			if kind != "bool" {
				return insight.Bad(field, "want a %s", kind)
			}
		case float64:
			if kind != "number" || t < 0 || t > 3600 {
				return insight.Bad(field, "want a %s", kind)
			}
		default:
			return insight.Bad(field, "want a %s", kind)
		}
	}
	for k, allowed := range map[string]map[string]bool{"position": positions, "widgetType": widgetTypes, "tabPosition": tabPositions,
		"thankYouMessageDescriptionContentType": contentTypes, "introScreenDescriptionContentType": contentTypes} {
		if v, ok := a[k].(string); ok && !allowed[v] {
			return insight.Bad("appearance."+k, "unknown value %q", v)
		}
	}
	if _, ok := a["widgetType"]; ok && surveyType != meta.SurveyWidget {
		return insight.Bad("appearance.widgetType", "only widget surveys have a widget type")
	}
	return nil
}

// surveyText checks a text field: UTF-8 without NUL, at most max bytes, and not
// blank when required.
func surveyText(field, v string, max int, required bool) error {
	switch {
	case required && strings.TrimSpace(v) == "":
		return insight.Bad(field, "required")
	case len(v) > max:
		return insight.Bad(field, "at most %d bytes", max)
	case !utf8.ValidString(v) || strings.IndexByte(v, 0) >= 0:
		return insight.Bad(field, "not UTF-8 text")
	}
	return nil
}
