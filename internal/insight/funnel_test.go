package insight

import (
	"errors"
	"strings"
	"testing"
	"time"
)

const funnelBody = `{"kind":"funnel","steps":[{"event":"product_viewed"},{"event":"added_to_cart"},{"event":"order_completed"}],
 "window":"24h","order":"ordered","from":"2026-01-05T00:00:00Z","to":"2026-01-12T00:00:00Z"}`

func TestParseFunnelDefaults(t *testing.T) {
	f, err := ParseFunnel([]byte(`{"kind":"funnel","steps":[{"event":"a"},{"event":"b","label":"Bought"}],"from":"2026-01-05T00:00:00Z","to":"2026-01-12T00:00:00Z"}`))
	if err != nil {
		t.Fatal(err)
	}
	if f.Window != "14d" || f.WindowDur != 14*24*time.Hour || f.Order != "ordered" || f.Limit != 100 || f.Offset != 0 {
		t.Fatalf("defaults = %+v", f)
	}
	if f.Steps[0].Label != "a" || f.Steps[1].Label != "Bought" {
		t.Fatalf("labels = %+v", f.Steps)
	}
	if mode, step := f.PersonsQuery(); mode != "" || step != 0 {
		t.Fatalf("persons = %q %d", mode, step)
	}
	f, err = ParseFunnel([]byte(funnelBody))
	if err != nil || f.WindowDur != 24*time.Hour || len(f.Steps) != 3 {
		t.Fatalf("%+v, %v", f, err)
	}
}

func TestFunnelValidate(t *testing.T) {
	ok := func() Funnel {
		return Funnel{
			Steps: []FunnelStep{{Event: "a"}, {Event: "b"}, {Event: "c"}},
			Range: Range{From: time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 1, 12, 0, 0, 0, 0, time.UTC)},
		}
	}
	f := func(field string, change func(*Funnel)) {
		t.Helper()
		q := ok()
		change(&q)
		err := q.Validate()
		var e *Error
		if field == "" {
			if err != nil {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if !errors.As(err, &e) || e.Field != field {
			t.Fatalf("error = %v, want one naming %q", err, field)
		}
	}
	f("", func(*Funnel) {})
	f("steps", func(q *Funnel) { q.Steps = q.Steps[:1] })
	f("steps", func(q *Funnel) { q.Steps = make([]FunnelStep, 21) })
	f("steps[2].event", func(q *Funnel) { q.Steps[2].Event = "" })
	f("steps[1].filters[0].op", func(q *Funnel) { q.Steps[1].Filters = []Filter{{Property: "x", Op: "like", Value: "1"}} })
	f("steps[0].filters[0].property", func(q *Funnel) { q.Steps[0].Filters = []Filter{{Op: "eq", Value: "1"}} })
	f("filters[0].value", func(q *Funnel) { q.Filters = []Filter{{Property: "x", Op: "in", Value: "1"}} })
	f("from", func(q *Funnel) { q.From = time.Time{} })
	f("to", func(q *Funnel) { q.To = q.From })
	f("unit", func(q *Funnel) { q.Unit = "company" })
	f("breakdown.property", func(q *Funnel) { q.Breakdown = &Breakdown{} })
	for _, w := range []string{"30s", "15m", "24h", "14d", "2w", "1830d"} {
		f("", func(q *Funnel) { q.Window = w })
	}
	for _, w := range []string{"abc", "0d", "-1h", "1.5h", "d", "14", "14 d", "14D", "+1d", "01d", "1831d", "99999999999999999999d", "9223372036854775807s"} {
		f("window", func(q *Funnel) { q.Window = w })
	}
	f("", func(q *Funnel) { q.Order = "strict" })
	f("", func(q *Funnel) { q.Order = "unordered" })
	f("order", func(q *Funnel) { q.Order = "sorted" })
	f("", func(q *Funnel) { q.Exclusions = []FunnelExclusion{{Event: "x", FromStep: 1, ToStep: 3}} })
	f("exclusions[0].event", func(q *Funnel) { q.Exclusions = []FunnelExclusion{{FromStep: 1, ToStep: 2}} })
	f("exclusions[0].from_step", func(q *Funnel) { q.Exclusions = []FunnelExclusion{{Event: "x", FromStep: 0, ToStep: 2}} })
	f("exclusions[0].from_step", func(q *Funnel) { q.Exclusions = []FunnelExclusion{{Event: "x", FromStep: 3, ToStep: 3}} })
	f("exclusions[1].to_step", func(q *Funnel) {
		q.Exclusions = []FunnelExclusion{{Event: "x", FromStep: 1, ToStep: 2}, {Event: "y", FromStep: 2, ToStep: 2}}
	})
	f("exclusions[0].to_step", func(q *Funnel) { q.Exclusions = []FunnelExclusion{{Event: "x", FromStep: 1, ToStep: 4}} })
	f("exclusions[0].filters[0].op", func(q *Funnel) {
		q.Exclusions = []FunnelExclusion{{Event: "x", FromStep: 1, ToStep: 2, Filters: []Filter{{Property: "p"}}}}
	})
	f("exclusions[0].from_step", func(q *Funnel) {
		q.Order = "unordered"
		q.Exclusions = []FunnelExclusion{{Event: "x", FromStep: 1, ToStep: 2}}
	})
	f("exclusions", func(q *Funnel) { q.Exclusions = make([]FunnelExclusion, 11) })
	for _, p := range []string{"converted:1", "converted:3", "dropped:1", "dropped:2"} {
		f("", func(q *Funnel) { q.Persons = p })
	}
	for _, p := range []string{"converted", "converted:0", "converted:4", "dropped:3", "dropped:0", "dropped:-1", "dropped:02", "left:1", "converted:1:2", "converted: 1"} {
		f("persons", func(q *Funnel) { q.Persons = p })
	}
	f("limit", func(q *Funnel) { q.Limit = 10001 })
	f("limit", func(q *Funnel) { q.Limit = -1 })
	f("", func(q *Funnel) { q.Limit = 10000 })
	f("offset", func(q *Funnel) { q.Offset = -1 })
	f("", func(q *Funnel) { q.OverTime = "week" })
	f("over_time", func(q *Funnel) { q.OverTime = "month" })

	q := ok()
	q.Persons = "dropped:2"
	if err := q.Validate(); err != nil {
		t.Fatal(err)
	}
	if mode, step := q.PersonsQuery(); mode != "dropped" || step != 2 {
		t.Fatalf("persons = %q %d", mode, step)
	}
}

func TestParseFunnelErrors(t *testing.T) {
	f := func(body, field string) {
		t.Helper()
		_, err := ParseFunnel([]byte(body))
		var e *Error
		if !errors.As(err, &e) || e.Field != field {
			t.Fatalf("%s: error = %v, want one naming %q", body, err, field)
		}
	}
	f(`{`, "body")
	f(`12`, "body")
	f(`{"steps":"a"}`, "steps")
	f(`{"steps":[{"event":1}]}`, "steps.event")
	f(`{"window":14}`, "window")
	f(strings.Replace(funnelBody, `"24h"`, `"24x"`, 1), "window")
	f(strings.Replace(funnelBody, `"ordered"`, `"chaos"`, 1), "order")
	f(strings.Replace(funnelBody, `"window"`, `"persons":"dropped:3","window"`, 1), "persons")
}

func FuzzParseFunnel(f *testing.F) {
	f.Add([]byte(funnelBody))
	f.Add([]byte(`{"steps":[{"event":"a","filters":[{"property":"p","op":"in","value":["x",1]}]},{"event":"b"}],"window":"30s","order":"unordered",
		"exclusions":[{"event":"x","from_step":1,"to_step":2}],"persons":"dropped:1","limit":5,"offset":3,"over_time":"week",
		"from":"2026-01-05T00:00:00Z","to":"2026-01-12T00:00:00Z","unit":"group:company","breakdown":{"property":"src","limit":3}}`))
	f.Add([]byte(`{"steps":[{"event":"a"},{"event":"b"}],"window":"9223372036854775807d","from":"2026-01-05T00:00:00Z","to":"2026-01-12T00:00:00Z"}`))
	f.Add([]byte(`{"steps":[],"persons":"converted:99999999999999999999"}`))
	f.Add([]byte(`000`))
	f.Fuzz(func(t *testing.T, body []byte) {
		q, err := ParseFunnel(body)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Field == "" {
				t.Fatalf("error without a field: %v", err)
			}
			return
		}
		if len(q.Steps) < 2 || len(q.Steps) > MaxFunnelSteps || q.WindowDur <= 0 || q.WindowDur > MaxRange ||
			q.Limit < 1 || q.Limit > MaxFunnelPersons || q.Offset < 0 || !q.To.After(q.From) {
			t.Fatalf("accepted a bad funnel: %+v", q)
		}
		for _, x := range q.Exclusions {
			if x.FromStep < 1 || x.ToStep <= x.FromStep || x.ToStep > len(q.Steps) {
				t.Fatalf("accepted a bad exclusion: %+v", x)
			}
		}
		if mode, step := q.PersonsQuery(); q.Persons != "" && (mode == "" || step < 1 || step > len(q.Steps)) {
			t.Fatalf("accepted bad persons %q", q.Persons)
		}
	})
}
