package insight

import "testing"

func TestBadDaysValidate(t *testing.T) {
	f := func(body, field string) *BadDays {
		t.Helper()
		var b BadDays
		wantField(t, body, validateJSON(body, &b), field)
		return &b
	}
	b := f(`{"kind":"bad_days","bad":[{"event":"$exception"}],`+rangeJSON+`}`, "")
	if b.Top != 10 || len(b.Active) != 0 {
		t.Fatalf("defaults: %+v", b)
	}
	b = f(`{"bad":[{"event":"$exception","filters":[{"property":"handled","op":"neq","value":true}]}],"active":[{"event":"$pageview"}],"top":1000,`+rangeJSON+`}`, "")
	if b.Top != 1000 || b.Active[0].Event != "$pageview" {
		t.Fatalf("parsed: %+v", b)
	}
	if b := f(`{`+rangeJSON+`}`, ""); len(b.Bad) != 1 || b.Bad[0].Event != "$exception" {
		t.Fatalf("default bad events: %+v", b.Bad)
	}
	f(`{"bad":[],`+rangeJSON+`}`, "bad")
	f(`{"bad":[{"event":""}],`+rangeJSON+`}`, "bad[0].event")
	f(`{"bad":[{"event":"e"}],"active":[{"event":"a"},{}],`+rangeJSON+`}`, "active[1].event")
	f(`{"bad":[{"event":"e","filters":[{"property":"p","op":"nope"}]}],`+rangeJSON+`}`, "bad[0].filters[0].op")
	f(`{"bad":[{"event":"e"}],"top":1001,`+rangeJSON+`}`, "top")
	f(`{"bad":[{"event":"e"}],"active":[{"event":"a","filters":[{"type":"cohort","value":1}]}],"unit":"group:g",`+rangeJSON+`}`, "active[0].filters[0].type")
	f(`{"bad":[{"event":"e"}],"top":-1,`+rangeJSON+`}`, "top")
	f(`{"bad":[{"event":"e"}],"breakdown":{"property":"p"},`+rangeJSON+`}`, "breakdown")
	f(`{"bad":[`+repeatJSON(`{"event":"e"}`, MaxBadDaysMatches+1)+`],`+rangeJSON+`}`, "bad")
	f(`{"bad":[{"event":"e"}],"from":"yesterday",`+rangeJSON[len(`"from":"2026-01-05T00:00:00Z",`):]+`}`, "body")
}

func FuzzParseBadDays(f *testing.F) {
	f.Add(`{"kind":"bad_days","bad":[{"event":"$exception"}],"active":[{"event":"$pageview","filters":[{"property":"p","op":"in","value":["a"]}]}],"top":5,` + rangeJSON + `}`)
	f.Add(`{"bad":[{"event":"e"}],"unit":"group:company",` + rangeJSON + `}`)
	f.Add(`{"bad":[{"event":"e"}],"active":null,"top":0}`)
	f.Fuzz(func(t *testing.T, body string) {
		var b BadDays
		if validateJSON(body, &b) != nil {
			return
		}
		if len(b.Bad) == 0 || len(b.Bad) > MaxBadDaysMatches || len(b.Active) > MaxBadDaysMatches || b.Top < 1 || b.Top > MaxBadDaysTop || b.Breakdown != nil {
			t.Fatalf("valid query %+v", b)
		}
		for _, m := range append(b.Bad, b.Active...) {
			if m.Event == "" {
				t.Fatalf("valid match %+v", m)
			}
		}
	})
}
