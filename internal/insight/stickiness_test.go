package insight

import "testing"

func TestStickinessValidate(t *testing.T) {
	f := func(body, field string) *Stickiness {
		t.Helper()
		var s Stickiness
		wantField(t, body, validateJSON(body, &s), field)
		return &s
	}
	s := f(`{"kind":"stickiness","series":[{"event":"$pageview"},{"event":"x","label":"X","filters":[{"property":"p","op":"is_set"}]}],`+rangeJSON+`}`, "")
	if s.Interval != "day" || s.Series[0].Label != "$pageview" || s.Series[1].Label != "X" {
		t.Fatalf("defaults: %+v", s)
	}
	f(`{"series":[],`+rangeJSON+`}`, "series")
	f(`{`+rangeJSON+`}`, "series")
	f(`{"series":[{"event":"a"},{"label":"b"}],`+rangeJSON+`}`, "series[1].event")
	f(`{"series":[{"event":"a","filters":[{"property":"p","op":"eq"}]}],`+rangeJSON+`}`, "series[0].filters[0].value")
	f(`{"series":[{"event":"a"}],"interval":"hour",`+rangeJSON+`}`, "interval")
	f(`{"series":[{"event":"a"}],"breakdown":{"property":"p"},`+rangeJSON+`}`, "breakdown")
	f(`{"series":[{"event":"a"}],"to":"2026-01-05T00:00:00Z"}`, "from")
	f(`{"series":[{"event":"a"}],"from":"2020-01-01T00:00:00Z","to":"2026-01-05T00:00:00Z"}`, "to")
	many := `{"series":[` + repeatJSON(`{"event":"a"}`, MaxStickinessSeries+1) + `],` + rangeJSON + `}`
	f(many, "series")
}

// repeatJSON joins n copies of item with commas.
func repeatJSON(item string, n int) string {
	out := item
	for i := 1; i < n; i++ {
		out += "," + item
	}
	return out
}

func FuzzParseStickiness(f *testing.F) {
	f.Add(`{"kind":"stickiness","series":[{"event":"$pageview","filters":[{"property":"p","op":"contains","value":"x"}]}],"interval":"week",` + rangeJSON + `}`)
	f.Add(`{"series":[{"event":"a","label":""},{"event":"b"}],"unit":"group:company",` + rangeJSON + `}`)
	f.Add(`{"series":[{}],"interval":null}`)
	f.Fuzz(func(t *testing.T, body string) {
		var s Stickiness
		if validateJSON(body, &s) != nil {
			return
		}
		if len(s.Series) == 0 || len(s.Series) > MaxStickinessSeries || s.Breakdown != nil ||
			(s.Interval != "day" && s.Interval != "week" && s.Interval != "month") {
			t.Fatalf("valid query %+v", s)
		}
		for _, m := range s.Series {
			if m.Event == "" || m.Label == "" {
				t.Fatalf("valid series %+v", m)
			}
		}
	})
}
