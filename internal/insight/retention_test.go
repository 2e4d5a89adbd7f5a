package insight

import (
	"errors"
	"testing"
)

type validator interface{ Validate() error }

// validateJSON decodes body the way Parse does, then validates it.
func validateJSON(body string, v validator) error {
	if err := strictDecode([]byte(body), v); err != nil {
		return err
	}
	return v.Validate()
}

// wantField checks that err is an *Error naming field ("" for no error).
func wantField(t *testing.T, body string, err error, field string) {
	t.Helper()
	if field == "" {
		if err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		return
	}
	var e *Error
	if !errors.As(err, &e) || e.Field != field {
		t.Fatalf("%s: error %v, want one naming %q", body, err, field)
	}
}

const rangeJSON = `"from":"2026-01-05T00:00:00Z","to":"2026-02-02T00:00:00Z"`

func TestRetentionValidate(t *testing.T) {
	f := func(body, field string) *Retention {
		t.Helper()
		var r Retention
		wantField(t, body, validateJSON(body, &r), field)
		return &r
	}
	r := f(`{"kind":"retention","start":{"event":"signed_up"},"return":{"event":"product_viewed"},`+rangeJSON+`}`, "")
	if r.Period != "day" || r.Periods != 8 || r.Mode != "first_time" {
		t.Fatalf("defaults: %+v", r)
	}
	r = f(`{"start":{"event":"a","filters":[{"property":"x","op":"eq","value":1}]},"return":{"event":"b"},"period":"week","periods":52,"mode":"recurring","breakdown":{"property":"plan"},"unit":"group:company",`+rangeJSON+`}`, "")
	if r.Period != "week" || r.Periods != 52 || r.Mode != "recurring" || r.Breakdown.Limit != 10 || r.GroupType() != "company" {
		t.Fatalf("parsed: %+v", r)
	}
	f(`{"return":{"event":"b"},`+rangeJSON+`}`, "start.event")
	f(`{"start":{"event":"a"},`+rangeJSON+`}`, "return.event")
	f(`{"start":{"event":"a"},"return":{"event":"b"},"period":"hour",`+rangeJSON+`}`, "period")
	f(`{"start":{"event":"a"},"return":{"event":"b"},"periods":53,`+rangeJSON+`}`, "periods")
	f(`{"start":{"event":"a"},"return":{"event":"b"},"periods":-1,`+rangeJSON+`}`, "periods")
	f(`{"start":{"event":"a"},"return":{"event":"b"},"periods":"8",`+rangeJSON+`}`, "periods")
	f(`{"start":{"event":"a"},"return":{"event":"b"},"mode":"sometimes",`+rangeJSON+`}`, "mode")
	f(`{"start":{"event":"a","filters":[{"property":"x","op":"like","value":1}]},"return":{"event":"b"},`+rangeJSON+`}`, "start.filters[0].op")
	f(`{"start":{"event":"a"},"return":{"event":"b","filters":[{"op":"eq","value":1}]},`+rangeJSON+`}`, "return.filters[0].property")
	f(`{"start":{"event":"a"},"return":{"event":"b"},"filters":[{"property":"x","op":"in","value":1}],`+rangeJSON+`}`, "filters[0].value")
	f(`{"start":{"event":"a"},"return":{"event":"b"},"breakdown":{"property":""},`+rangeJSON+`}`, "breakdown.property")
	f(`{"start":{"event":"a"},"return":{"event":"b"},"unit":"team",`+rangeJSON+`}`, "unit")
	f(`{"start":{"event":"a"},"return":{"event":"b"},"from":"2026-01-05T00:00:00Z"}`, "to")
	f(`{"start":{"event":"a"},"return":{"event":"b"},"from":"2026-01-05T00:00:00Z","to":"2026-01-05T00:00:00Z"}`, "to")
	f(`{"start":"a","return":{"event":"b"},`+rangeJSON+`}`, "start")
	f(`{"start":{"event":"a","filters":[{"type":"cohort","value":7}]},"return":{"event":"b","filters":[{"type":"cohort","cohort":{"distinct_ids":["x"]},"op":"not_in"}]},`+rangeJSON+`}`, "start.filters[0].type")
	f(`{"start":{"event":"a"},"return":{"event":"b"},"filters":[{"type":"cohort","cohort":{"distinct_ids":["x"]},"op":"not_in"}],`+rangeJSON+`}`, "")
	f(`{"start":{"event":"a"},"return":{"event":"b","filters":[{"type":"cohort","value":7}]},"unit":"group:company",`+rangeJSON+`}`, "return.filters[0].type")
	f(`{"start":{"event":"a"},"return":{"event":"b"},"filters":[{"type":"cohort","op":"maybe","value":7}],`+rangeJSON+`}`, "filters[0].op")
}

func FuzzParseRetention(f *testing.F) {
	f.Add(`{"kind":"retention","start":{"event":"signed_up","filters":[{"property":"plan","op":"eq","value":"pro"}]},"return":{"event":"product_viewed"},"period":"week","periods":6,"mode":"first_time",` + rangeJSON + `}`)
	f.Add(`{"start":{"event":"a"},"return":{"event":"b"},"mode":"recurring","breakdown":{"property":"x","type":"person","limit":3},"unit":"group:c",` + rangeJSON + `}`)
	f.Add(`{"start":{"event":"a"},"return":{"event":"b"},"periods":1e300,"filters":[{"property":"p","op":"in","value":[1,"2",null]}],` + rangeJSON + `}`)
	f.Add(`{"start":null,"return":{},"period":"","from":"0001-01-01T00:00:00Z","to":"9999-12-31T23:59:59Z"}`)
	f.Fuzz(func(t *testing.T, body string) {
		var r Retention
		if validateJSON(body, &r) != nil {
			return
		}
		if r.Start.Event == "" || r.Return.Event == "" || r.Periods < 1 || r.Periods > MaxRetentionPeriods ||
			(r.Mode != RetentionFirstTime && r.Mode != RetentionRecurring) || !r.To.After(r.From) ||
			(r.Period != "day" && r.Period != "week" && r.Period != "month") {
			t.Fatalf("valid query %+v", r)
		}
	})
}
