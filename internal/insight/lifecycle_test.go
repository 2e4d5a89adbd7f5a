package insight

import "testing"

func TestLifecycleValidate(t *testing.T) {
	f := func(body, field string) *Lifecycle {
		t.Helper()
		var l Lifecycle
		wantField(t, body, validateJSON(body, &l), field)
		return &l
	}
	l := f(`{"kind":"lifecycle","event":"$pageview",`+rangeJSON+`}`, "")
	if l.Interval != "day" {
		t.Fatalf("defaults: %+v", l)
	}
	f(`{"event":"$pageview","interval":"month","filters":[{"type":"person","property":"plan","op":"eq","value":"pro"}],`+rangeJSON+`}`, "")
	f(`{`+rangeJSON+`}`, "event")
	f(`{"event":"a","interval":"year",`+rangeJSON+`}`, "interval")
	f(`{"event":"a","breakdown":{"property":"p"},`+rangeJSON+`}`, "breakdown")
	f(`{"event":"a","filters":[{"type":"group","property":"p","op":"eq","value":1}],`+rangeJSON+`}`, "filters[0].type")
	f(`{"event":1,`+rangeJSON+`}`, "event")
}

func FuzzParseLifecycle(f *testing.F) {
	f.Add(`{"kind":"lifecycle","event":"$pageview","interval":"week",` + rangeJSON + `}`)
	f.Add(`{"event":"e","unit":"group:","filters":[{"property":"a","op":"gt","value":"3"}],` + rangeJSON + `}`)
	f.Add(`{"event":"","interval":"day","from":"2026-01-05T00:00:00+14:00","to":"2026-01-05T00:00:00-12:00"}`)
	f.Fuzz(func(t *testing.T, body string) {
		var l Lifecycle
		if validateJSON(body, &l) != nil {
			return
		}
		if l.Event == "" || l.Breakdown != nil || (l.Interval != "day" && l.Interval != "week" && l.Interval != "month") {
			t.Fatalf("valid query %+v", l)
		}
	})
}
