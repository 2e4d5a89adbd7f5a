package voc

import (
	"cmp"
	"context"
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/journey-dev/journey/internal/insight"
	"github.com/journey-dev/journey/internal/store"
)

// Bounds of a results request.
const (
	// MaxResponses is how many `survey sent` events one results request
	// reads; more is an error asking for a shorter range.
	MaxResponses = 200_000
	// MaxSegments breakdown values are listed, the most respondents
	// first; the others are counted together as "$other".
	MaxSegments = 50
	// MaxOpenAnswers latest open answers are listed per question.
	MaxOpenAnswers = 50
)

// ResponseKey is the event property posthog-js sends a question's answer
// in: $survey_response_<question id>.
func ResponseKey(questionID string) string { return "$survey_response_" + questionID }

// ResponseKeys are the properties of the survey's questions, in order.
func (s *Survey) ResponseKeys() []string {
	keys := make([]string, len(s.Questions))
	for i, q := range s.Questions {
		keys[i] = ResponseKey(q.ID)
	}
	return keys
}

// Results are a survey's responses summarised: overall, per period (with
// an interval) and per segment (with a breakdown by a person property).
// Every count is of persons, after merges: each person's latest answer to
// a question counts, once, in each summary (Responses counts the events).
type Results struct {
	SurveyID  int64     `json:"survey_id"`
	From      time.Time `json:"from"`
	To        time.Time `json:"to"`
	Interval  string    `json:"interval,omitempty"`
	Breakdown string    `json:"breakdown,omitempty"`
	Summary
	Series   []PeriodSummary  `json:"series,omitempty"`
	Segments []SegmentSummary `json:"segments,omitempty"`
}

// Summary is what a set of responses says.
type Summary struct {
	Responses   int              `json:"responses"`
	Respondents int              `json:"respondents"`
	Questions   []QuestionResult `json:"questions"`
}

// PeriodSummary is one period's summary (of one segment, with a
// breakdown).
type PeriodSummary struct {
	Period  time.Time `json:"period"`
	Segment *string   `json:"segment,omitempty"`
	Summary
}

// SegmentSummary is one breakdown value's summary.
type SegmentSummary struct {
	Segment string `json:"segment"`
	Summary
}

// QuestionResult is one question's answers: how many persons answered,
// the distribution of their answers (rating values and choices in order,
// "$other" for an answer outside the choices), the mean rating, NPS for a
// 0–10 rating, CSAT for a 1–5 one, and the latest open answers.
type QuestionResult struct {
	ID           string       `json:"id"`
	Type         string       `json:"type"`
	Question     string       `json:"question"`
	Answered     int          `json:"answered"`
	Distribution []ValueCount `json:"distribution,omitempty"`
	Mean         *float64     `json:"mean,omitempty"`
	NPS          *NPS         `json:"nps,omitempty"`
	CSAT         *CSAT        `json:"csat,omitempty"`
	Answers      []OpenAnswer `json:"answers,omitempty"`
}

// ValueCount is how many persons gave one answer.
type ValueCount struct {
	Value string `json:"value"`
	Count int    `json:"count"`
}

// NPS is the net promoter score of a 0–10 question: promoters answer 9
// or 10, passives 7 or 8, detractors 0 to 6; Score is the percentage of
// promoters minus that of detractors (−100 to 100), to 0.01.
type NPS struct {
	Promoters  int     `json:"promoters"`
	Passives   int     `json:"passives"`
	Detractors int     `json:"detractors"`
	Score      float64 `json:"score"`
}

// CSAT is the customer satisfaction of a 1–5 question: the percentage of
// answers that are 4 or 5, to 0.01.
type CSAT struct {
	Satisfied int     `json:"satisfied"`
	Total     int     `json:"total"`
	Score     float64 `json:"score"`
}

// OpenAnswer is one person's latest open answer.
type OpenAnswer struct {
	PersonID int64     `json:"person_id"`
	At       time.Time `json:"at"`
	Text     string    `json:"text"`
}

// ResultsOptions say what to summarise. Interval is "", day, week or
// month (in TZ); Breakdown is a person property, BreakdownChannel or
// BreakdownCohort (with Cohorts), or "".
type ResultsOptions struct {
	From, To  time.Time
	Interval  string
	Breakdown string
	Cohorts   []CohortSegment
	TZ        *time.Location
}

// Breakdowns that are not a person property.
const (
	// BreakdownChannel is the person's first-touch channel, as PostHog's
	// person properties keep it: $initial_utm_source where the first visit
	// had one, else $initial_referring_domain ("$direct" without a
	// referrer), "$none" for a person with neither (e.g. server-side only).
	BreakdownChannel = "$channel"
	// BreakdownCohort segments by membership of ResultsOptions.Cohorts: a
	// response counts in each cohort its person is in now, "$none" when in
	// none.
	BreakdownCohort = "$cohort"
	// MaxCohortSegments cohorts one results request segments by.
	MaxCohortSegments = 10
	// MaxCohortMembers bounds the members read of one segment cohort.
	MaxCohortMembers = 1_000_000
)

// CohortSegment is a cohort whose members are one segment, named Name.
type CohortSegment struct {
	ID      int64
	Name    string
	Members map[int64]bool
}

// CohortMembers reads a cohort's members as of asOf, page by page, into a
// set; an error past MaxCohortMembers.
func CohortMembers(ctx context.Context, events store.Store, projectID int64, def *insight.CohortDef, asOf time.Time) (map[int64]bool, error) {
	out := map[int64]bool{}
	var after int64
	for {
		page, err := events.CohortPersons(ctx, projectID, def, asOf, after, store.MaxCohortPage)
		if err != nil {
			return nil, err
		}
		for _, p := range page {
			out[p.ID] = true
		}
		if len(out) > MaxCohortMembers {
			return nil, insight.Bad("cohort", "more than %d persons in the cohort", MaxCohortMembers)
		}
		if len(page) < store.MaxCohortPage {
			return out, nil
		}
		after = page[len(page)-1].ID
	}
}

// Query is the store query of the survey's responses under o.
func (s *Survey) Query(surveyID int64, o ResultsOptions) *store.SurveyQuery {
	q := &store.SurveyQuery{SurveyID: strconv.FormatInt(surveyID, 10), From: o.From, To: o.To, Keys: s.ResponseKeys(),
		Breakdown: o.Breakdown, Limit: MaxResponses + 1}
	switch o.Breakdown {
	case BreakdownChannel:
		q.Breakdown, q.Fallback = "$initial_utm_source", []string{"$initial_referring_domain"}
	case BreakdownCohort:
		q.Breakdown = ""
	}
	return q
}

// cohortRows is each row once per cohort its person is in (Segment the
// cohort's name), or once as "$none".
func cohortRows(rows []store.SurveyResponse, cohorts []CohortSegment) []store.SurveyResponse {
	out := make([]store.SurveyResponse, 0, len(rows))
	for _, r := range rows {
		in := false
		for _, c := range cohorts {
			if c.Members[r.PersonID] {
				r.Segment, in = c.Name, true
				out = append(out, r)
			}
		}
		if !in {
			r.Segment = "$none"
			out = append(out, r)
		}
	}
	return out
}

// answer is one person's latest answer to one question.
type answer struct {
	at  time.Time
	raw json.RawMessage
}

// tally collects the latest answers of each person in one summary.
type tally struct {
	responses int
	persons   map[int64][]answer // by question index
}

func newTally() *tally { return &tally{persons: map[int64][]answer{}} }

// add counts one response row; rows come in time order per person, so a
// later answer replaces an earlier one.
func (t *tally) add(r store.SurveyResponse, n int) {
	t.responses++
	key := r.PersonID
	if key == 0 { // a personless event: a respondent of its own
		key = -int64(t.responses)
	}
	as, ok := t.persons[key]
	if !ok {
		as = make([]answer, n)
		t.persons[key] = as
	}
	for i, v := range r.Values {
		if v != nil && i < n {
			as[i] = answer{at: r.Timestamp, raw: v}
		}
	}
}

// Summarise computes the results of the rows the store returned for
// s.Query; ErrTooMany when there were more than MaxResponses.
func (s *Survey) Summarise(surveyID int64, rows []store.SurveyResponse, o ResultsOptions) (*Results, error) {
	if len(rows) > MaxResponses {
		return nil, insight.Bad("date_from", "more than %d responses in the range: ask for a shorter one", MaxResponses)
	}
	if o.TZ == nil {
		o.TZ = time.UTC
	}
	res := &Results{SurveyID: surveyID, From: o.From, To: o.To, Interval: o.Interval, Breakdown: o.Breakdown}
	all := newTally()
	for _, r := range rows {
		all.add(r, len(s.Questions))
	}
	if o.Breakdown == BreakdownCohort {
		rows = cohortRows(rows, o.Cohorts)
	}
	bySegment := map[string]*tally{}
	for _, r := range rows {
		if o.Breakdown != "" {
			if bySegment[r.Segment] == nil {
				bySegment[r.Segment] = newTally()
			}
			bySegment[r.Segment].add(r, len(s.Questions))
		}
	}
	res.Summary = s.summary(all)
	segments := s.segments(bySegment)
	for _, seg := range segments {
		res.Segments = append(res.Segments, SegmentSummary{Segment: seg.name, Summary: s.summary(seg.t)})
	}
	if o.Interval != "" {
		res.Series = s.series(rows, o, segments)
	}
	return res, nil
}

type segment struct {
	name string
	t    *tally
}

// segments orders the breakdown values by respondents (then name) and
// folds those past MaxSegments into "$other".
func (s *Survey) segments(by map[string]*tally) []segment {
	var out []segment
	for name, t := range by {
		out = append(out, segment{name, t})
	}
	slices.SortFunc(out, func(a, b segment) int {
		if d := len(b.t.persons) - len(a.t.persons); d != 0 {
			return d
		}
		if a.name < b.name {
			return -1
		}
		return 1
	})
	if len(out) <= MaxSegments {
		return out
	}
	other := newTally()
	for _, seg := range out[MaxSegments:] {
		other.responses += seg.t.responses
		for p, as := range seg.t.persons {
			other.persons[p] = as
		}
	}
	return append(out[:MaxSegments], segment{"$other", other})
}

// series summarises each period (each segment's, with a breakdown),
// every period of the range listed, empty ones too.
func (s *Survey) series(rows []store.SurveyResponse, o ResultsOptions, segments []segment) []PeriodSummary {
	buckets := insight.Buckets(o.From, o.To, o.TZ, o.Interval)
	index := map[int64]int{}
	for i, b := range buckets {
		index[b.Unix()] = i
	}
	other := map[string]bool{}
	names := []string{""}
	if o.Breakdown != "" {
		names = names[:0]
		for _, seg := range segments {
			names = append(names, seg.name)
		}
		if n := len(segments); n > 0 && segments[n-1].name == "$other" && len(segments) > MaxSegments {
			kept := map[string]bool{}
			for _, seg := range segments[:MaxSegments] {
				kept[seg.name] = true
			}
			for _, r := range rows {
				if !kept[r.Segment] {
					other[r.Segment] = true
				}
			}
		}
	}
	tallies := map[string][]*tally{}
	for _, name := range names {
		ts := make([]*tally, len(buckets))
		for i := range ts {
			ts[i] = newTally()
		}
		tallies[name] = ts
	}
	for _, r := range rows {
		i, ok := index[insight.Truncate(r.Timestamp.In(o.TZ), o.Interval).Unix()]
		if !ok {
			continue
		}
		name := ""
		if o.Breakdown != "" {
			name = r.Segment
			if other[name] {
				name = "$other"
			}
		}
		tallies[name][i].add(r, len(s.Questions))
	}
	var out []PeriodSummary
	for _, name := range names {
		for i, b := range buckets {
			ps := PeriodSummary{Period: b, Summary: s.summary(tallies[name][i])}
			if o.Breakdown != "" {
				n := name
				ps.Segment = &n
			}
			out = append(out, ps)
		}
	}
	return out
}

// summary computes each question's result from a tally.
func (s *Survey) summary(t *tally) Summary {
	sum := Summary{Responses: t.responses, Respondents: len(t.persons), Questions: make([]QuestionResult, len(s.Questions))}
	for i, q := range s.Questions {
		var as []personAnswer
		for p, answers := range t.persons {
			if answers[i].raw != nil {
				as = append(as, personAnswer{p, answers[i]})
			}
		}
		sum.Questions[i] = questionResult(q, as)
	}
	return sum
}

type personAnswer struct {
	person int64
	answer
}

func questionResult(q Question, as []personAnswer) QuestionResult {
	r := QuestionResult{ID: q.ID, Type: q.Type, Question: q.Question}
	switch q.Type {
	case QuestionRating:
		rateResult(&r, q, as)
	case QuestionSingleChoice, QuestionMultipleChoice:
		choiceResult(&r, q, as)
	case QuestionOpen:
		openResult(&r, as)
	default: // link: any answer counts
		r.Answered = len(as)
	}
	return r
}

// ratingRange is the values a rating question takes: 0–10 for a scale of
// 10 (NPS), 1–scale otherwise, as posthog-js shows them.
func ratingRange(scale int) (lo, hi int) {
	if scale == 10 {
		return 0, 10
	}
	return 1, scale
}

// rating reads a rating answer: a JSON number or numeric string, an
// integer within the question's range.
func rating(raw json.RawMessage, lo, hi int) (int, bool) {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return 0, false
	}
	var f float64
	switch t := v.(type) {
	case float64:
		f = t
	case string:
		var err error
		if f, err = strconv.ParseFloat(t, 64); err != nil {
			return 0, false
		}
	default:
		return 0, false
	}
	if f != math.Trunc(f) || f < float64(lo) || f > float64(hi) {
		return 0, false
	}
	return int(f), true
}

func rateResult(r *QuestionResult, q Question, as []personAnswer) {
	lo, hi := ratingRange(q.Scale)
	counts := make([]int, hi-lo+1)
	total, sum := 0, 0
	for _, a := range as {
		v, ok := rating(a.raw, lo, hi)
		if !ok {
			continue
		}
		counts[v-lo]++
		total++
		sum += v
	}
	r.Answered = total
	for i, c := range counts {
		r.Distribution = append(r.Distribution, ValueCount{Value: strconv.Itoa(lo + i), Count: c})
	}
	if total == 0 {
		return
	}
	mean := float64(sum) / float64(total)
	r.Mean = &mean
	pct := func(n int) float64 { return 100 * float64(n) / float64(total) }
	round := func(x float64) float64 { return math.Round(x*100) / 100 } // scores to 0.01 points
	switch q.Scale {
	case 10:
		n := &NPS{}
		for v, c := range counts { // lo is 0
			switch {
			case v >= 9:
				n.Promoters += c
			case v >= 7:
				n.Passives += c
			default:
				n.Detractors += c
			}
		}
		n.Score = round(pct(n.Promoters) - pct(n.Detractors))
		r.NPS = n
	case 5:
		c := &CSAT{Satisfied: counts[3] + counts[4], Total: total}
		c.Score = round(pct(c.Satisfied))
		r.CSAT = c
	}
}

// choiceResult counts each choice once per person; answers outside the
// choices (an open choice) count as "$other".
func choiceResult(r *QuestionResult, q Question, as []personAnswer) {
	index := map[string]int{}
	for i, c := range q.Choices {
		index[c] = i
	}
	counts := make([]int, len(q.Choices)+1) // the last is $other
	for _, a := range as {
		var picked []string
		var one string
		if json.Unmarshal(a.raw, &picked) != nil {
			if json.Unmarshal(a.raw, &one) != nil || one == "" {
				continue
			}
			picked = []string{one}
		}
		seen := map[int]bool{}
		for _, p := range picked {
			i, ok := index[p]
			if !ok {
				i = len(q.Choices)
			}
			if !seen[i] {
				seen[i] = true
				counts[i]++
			}
		}
		if len(seen) > 0 {
			r.Answered++
		}
	}
	for i, c := range q.Choices {
		r.Distribution = append(r.Distribution, ValueCount{Value: c, Count: counts[i]})
	}
	if n := counts[len(q.Choices)]; n > 0 {
		r.Distribution = append(r.Distribution, ValueCount{Value: "$other", Count: n})
	}
}

// openResult lists the latest open answers, newest first.
func openResult(r *QuestionResult, as []personAnswer) {
	for _, a := range as {
		var text string
		if json.Unmarshal(a.raw, &text) != nil || text == "" {
			continue
		}
		r.Answered++
		r.Answers = append(r.Answers, OpenAnswer{PersonID: max(a.person, 0), At: a.at, Text: text})
	}
	slices.SortFunc(r.Answers, func(x, y OpenAnswer) int {
		if c := y.At.Compare(x.At); c != 0 {
			return c
		}
		return cmp.Compare(x.PersonID, y.PersonID)
	})
	if len(r.Answers) > MaxOpenAnswers {
		r.Answers = r.Answers[:MaxOpenAnswers]
	}
}
