package voc

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/insight"
	"github.com/journey-dev/journey/internal/store"
)

// FuzzParseSurvey: any body is either refused with a field error or
// accepted as a survey that validates again unchanged, stores, and serves
// in PostHog's shape.
func FuzzParseSurvey(f *testing.F) {
	for _, seed := range []string{npsBody, `{}`, `{"name":"x","questions":[{"type":"open","question":"?"}]}`,
		`{"name":"x","questions":[{"type":"single_choice","question":"?","choices":["a","b"],"branching":{"type":"response_based","responseValues":{"a":1,"b":"end"}}}]}`,
		`{"name":"x","type":"widget","questions":[{"type":"link","question":"?","link":"mailto:a@b.c"}],"appearance":{"widgetType":"tab"},"iteration_count":2,"iteration_frequency_days":7,"start_date":"2026-01-01T00:00:00Z"}`,
		`{"name":"x","questions":[{"id":"1","type":"open","question":"?"}]}`, `[]`, `null`, `{"name":"\u0000"}`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		s, err := ParseSurvey(body)
		if err != nil {
			var bad *insight.Error
			if !errors.As(err, &bad) || bad.Field == "" {
				t.Fatalf("refusal without a field: %v", err)
			}
			return
		}
		again, _ := json.Marshal(s)
		s2, err := ParseSurvey(again)
		if err != nil {
			t.Fatalf("an accepted survey does not parse again: %v\n%s", err, again)
		}
		if b, _ := json.Marshal(s2); string(b) != string(again) {
			t.Fatalf("re-parsing changed the survey:\n%s\n%s", again, b)
		}
		if err := s.ApplyStatus(nil, time.Now()); err != nil {
			return
		}
		rec, err := s.Record(1, 1)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := PublicSurvey(rec); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzSurveyResponses: whatever a browser put in the response properties
// (any JSON, or what a store returns for it), results are computed
// without failing, and counts stay within the respondents.
func FuzzSurveyResponses(f *testing.F) {
	for _, seed := range [][]string{{`9`, `"why"`, `5`, `["Funnels","x"]`, `"Pro"`, `"link clicked"`},
		{`"10"`, `null`, `4.5`, `"Flags"`, `["Pro"]`, `{}`}, {`-1`, `1e400`, `"3"`, `[1,2]`, `true`, `[]`}, {`{`, `"`, ``, ``, ``, ``}} {
		f.Add(seed[0], seed[1], seed[2], seed[3], seed[4], seed[5], int64(1))
	}
	s, err := ParseSurvey([]byte(npsBody))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, a, b, c, d, e, g string, person int64) {
		vals := make([]json.RawMessage, 0, 6)
		for _, v := range []string{a, b, c, d, e, g} {
			if v == "" {
				vals = append(vals, nil)
			} else {
				vals = append(vals, json.RawMessage(v))
			}
		}
		at := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
		rows := []store.SurveyResponse{{PersonID: person, Timestamp: at, Segment: a, Values: vals}, {PersonID: person + 1, Timestamp: at, Segment: b, Values: vals}}
		res, err := s.Summarise(1, rows, ResultsOptions{From: at, To: at.AddDate(0, 0, 7), Interval: "day", Breakdown: "plan", TZ: time.UTC})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := json.Marshal(res); err != nil {
			t.Fatalf("results do not encode: %v", err)
		}
		for _, q := range res.Questions {
			if q.Answered > res.Respondents {
				t.Fatalf("%s: %d answered of %d respondents", q.ID, q.Answered, res.Respondents)
			}
			sum := 0
			for _, v := range q.Distribution {
				sum += v.Count
			}
			if q.Type == QuestionRating && sum != q.Answered {
				t.Fatalf("%s: distribution sums to %d, %d answered", q.ID, sum, q.Answered)
			}
		}
	})
}
