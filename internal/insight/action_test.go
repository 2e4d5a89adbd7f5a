package insight

import (
	"errors"
	"strings"
	"testing"
)

const rng = `"from":"2026-01-05T00:00:00Z","to":"2026-01-12T00:00:00Z"`

func TestActionReferences(t *testing.T) {
	q, err := Parse([]byte(`{"kind":"trend","series":[{"action":12},{"action_id":13},
		{"action":{"name":"Buy","steps":[{"event":"$autocapture","text":"Buy","filters":[{"type":"element","property":"href","op":"contains","value":"/cart"}]}]}}],` + rng + `}`))
	if err != nil {
		t.Fatal(err)
	}
	tr := q.Spec.(*Trend)
	if tr.Series[0].Action.ID != 12 || tr.Series[1].Action.ID != 13 || tr.Series[1].ActionID != 0 {
		t.Fatalf("ids: %+v %+v", tr.Series[0].Action, tr.Series[1].Action)
	}
	// Labels wait for resolution, except an inline action's.
	if tr.Series[0].Label != "" || tr.Series[2].Label != "Buy" || tr.Series[2].Action.Steps[0].TextMatching != MatchExact {
		t.Fatalf("labels and defaults: %+v", tr.Series)
	}
	refs := Actions(tr)
	if len(refs) != 3 || refs[1].Field != "series[1].action" || refs[1].Action != tr.Series[1].Action {
		t.Fatalf("Actions = %+v", refs)
	}
	if got := EventNames("", tr.Series[2].Action); len(got) != 1 || got[0] != "$autocapture" {
		t.Fatalf("EventNames = %v", got)
	}

	f, err := Parse([]byte(`{"kind":"funnel","steps":[{"event":"a"},{"action":5}],"exclusions":[{"action_id":6,"from_step":1,"to_step":2}],
		"filters":[{"type":"cohort","cohort":{"behavior":{"action":7,"days":3}}}],` + rng + `}`))
	if err != nil {
		t.Fatal(err)
	}
	var fields []string
	for _, r := range Actions(f.Spec) {
		fields = append(fields, r.Field)
	}
	if strings.Join(fields, " ") != "steps[1].action exclusions[0].action filters[0].cohort.behavior.action" {
		t.Fatalf("funnel's actions at %v", fields)
	}
	l, err := Parse([]byte(`{"kind":"lifecycle","action":9,` + rng + `}`))
	if err != nil || l.Spec.(*Lifecycle).Action.ID != 9 || Actions(l.Spec)[0].Field != "action" {
		t.Fatalf("lifecycle: %v %+v", err, l)
	}
}

func TestActionErrors(t *testing.T) {
	for body, field := range map[string]string{
		`{"kind":"trend","series":[{}],` + rng + `}`:                                                                                             "series[0].event",
		`{"kind":"trend","series":[{"event":"x","action":1}],` + rng + `}`:                                                                       "series[0].action",
		`{"kind":"trend","series":[{"action":1,"action_id":2}],` + rng + `}`:                                                                     "series[0].action_id",
		`{"kind":"trend","series":[{"action":0}],` + rng + `}`:                                                                                   "series[0].action",
		`{"kind":"trend","series":[{"action":1.5}],` + rng + `}`:                                                                                 "body",
		`{"kind":"trend","series":[{"action":{"steps":[{"event":"e","href":"[","href_matching":"regex"}]}}],` + rng + `}`:                        "series[0].action.steps[0].href",
		`{"kind":"trend","series":[{"action":{"steps":[{"event":"e","tag_name":"a b"}]}}],` + rng + `}`:                                          "series[0].action.steps[0].tag_name",
		`{"kind":"retention","start":{"action":{"steps":[]}},"return":{"event":"r"},` + rng + `}`:                                                "start.action",
		`{"kind":"lifecycle",` + rng + `}`:                                                                                                       "event",
		`{"kind":"trend","series":[{"event":"x"}],"filters":[{"type":"element","property":"class","op":"eq","value":"x"}],` + rng + `}`:          "filters[0].property",
		`{"kind":"trend","series":[{"event":"x"}],"filters":[{"type":"element","property":"selector","op":"contains","value":"a"}],` + rng + `}`: "filters[0].op",
		`{"kind":"trend","series":[{"event":"x"}],"filters":[{"type":"element","property":"selector","op":"eq","value":"a + b"}],` + rng + `}`:   "filters[0].value",
		`{"kind":"trend","series":[{"event":"x"}],"filters":[{"property":"$current_url","op":"regex","value":"("}],` + rng + `}`:                 "filters[0].value",
		`{"kind":"trend","series":[{"event":"x"}],"filters":[{"type":"element","property":"text","op":"eq","value":5}],` + rng + `}`:             "filters[0].value",
	} {
		_, err := Parse([]byte(body))
		var e *Error
		if !errors.As(err, &e) || e.Field != field {
			t.Errorf("%s: %v, want an error on %s", body, err, field)
		}
	}
}
