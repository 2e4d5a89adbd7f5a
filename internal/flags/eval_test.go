package flags

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

func mustDecode(t testing.TB, js string) *Flag {
	t.Helper()
	f, err := Decode([]byte(js))
	if err != nil {
		t.Fatalf("Decode: %v\n%s", err, js)
	}
	return f
}

func mustDecodeCompile(t testing.TB, js string) *Compiled {
	t.Helper()
	c, err := Compile(mustDecode(t, js))
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return c
}

func TestInactiveFlag(t *testing.T) {
	c := mustDecodeCompile(t, `{"id":3,"version":2,"key":"off","active":false,
		"filters":{"groups":[{"rollout_percentage":100}],"payloads":{"true":"{\"a\":1}"}}}`)
	r := Evaluate(c, &Subject{DistinctID: "u"}, nil)
	if r.Enabled || r.Reason != ReasonDisabled || r.ConditionIndex != -1 || r.Payload != nil || r.Value() != false {
		t.Fatalf("inactive flag: %+v", r)
	}
	if r.ID != 3 || r.Version != 2 || r.Key != "off" {
		t.Fatalf("identity: %+v", r)
	}
	// active defaults to true when absent, as PostHog's API creates flags.
	if on := mustDecode(t, `{"key":"on"}`); !on.Active {
		t.Fatal("active should default to true")
	}
}

func TestConditionsAndReasons(t *testing.T) {
	person := func(plan string) *Subject {
		return &Subject{DistinctID: "user-1", PersonProperties: map[string]any{"plan": plan, "country": "DE"}}
	}
	for _, tc := range []struct {
		name   string
		groups string
		s      *Subject
		on     bool
		reason Reason
		index  int
	}{
		{"no conditions", `[]`, person("pro"), false, ReasonNoConditionMatch, -1},
		{"empty condition matches everyone", `[{"properties":[]}]`, person("pro"), true, ReasonConditionMatch, 0},
		{"second condition matches", `[{"properties":[{"key":"plan","value":"free"}]},{"properties":[{"key":"plan","value":"pro"}]}]`,
			person("pro"), true, ReasonConditionMatch, 1},
		{"first of two matching wins", `[{"properties":[{"key":"country","value":"de"}]},{"properties":[{"key":"plan","value":"pro"}]}]`,
			person("pro"), true, ReasonConditionMatch, 0},
		{"properties are AND'd", `[{"properties":[{"key":"plan","value":"pro"},{"key":"country","value":"FR"}]}]`,
			person("pro"), false, ReasonNoConditionMatch, 0},
		{"no match reports the last condition", `[{"properties":[{"key":"plan","value":"a"}]},{"properties":[{"key":"plan","value":"b"}]}]`,
			person("pro"), false, ReasonNoConditionMatch, 1},
		{"out of rollout beats no match", `[{"properties":[{"key":"plan","value":"pro"}],"rollout_percentage":0},{"properties":[{"key":"plan","value":"b"}]}]`,
			person("pro"), false, ReasonOutOfRollout, 0},
		{"out of rollout on a later condition", `[{"properties":[{"key":"plan","value":"b"}]},{"rollout_percentage":0}]`,
			person("pro"), false, ReasonOutOfRollout, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := mustDecodeCompile(t, `{"key":"f","filters":{"groups":`+tc.groups+`}}`)
			r := Evaluate(c, tc.s, nil)
			if r.Enabled != tc.on || r.Reason != tc.reason || r.ConditionIndex != tc.index {
				t.Fatalf("got enabled=%v %s #%d, want %v %s #%d", r.Enabled, r.Reason, r.ConditionIndex, tc.on, tc.reason, tc.index)
			}
			if r.Err != nil {
				t.Fatalf("err %v", r.Err)
			}
		})
	}
}

func TestVariantsAndPayloads(t *testing.T) {
	js := `{"key":"exp","filters":{
		"groups":[{"properties":[{"key":"email","value":"@journey.dev","operator":"icontains"}],"variant":"test"},{"rollout_percentage":100}],
		"multivariate":{"variants":[{"key":"control","rollout_percentage":50},{"key":"test","rollout_percentage":50}]},
		"payloads":{"control":"{\"color\": \"blue\"}","test":{"color":"red"}}}}`
	c := mustDecodeCompile(t, js)
	seen := map[string]int{}
	for i := 0; i < 200; i++ {
		id := fmt.Sprintf("u%d", i)
		r := Evaluate(c, &Subject{DistinctID: id}, nil)
		if !r.Enabled || r.ConditionIndex != 1 {
			t.Fatalf("%s: %+v", id, r)
		}
		want := "control"
		if Hash("exp", id, "variant") >= 0.5 {
			want = "test"
		}
		if r.Variant != want {
			t.Fatalf("%s: variant %q, want %q", id, r.Variant, want)
		}
		wantPayload := map[string]string{"control": `{"color":"blue"}`, "test": `{"color":"red"}`}[want]
		if string(r.Payload) != wantPayload {
			t.Fatalf("%s: payload %s, want %s", id, r.Payload, wantPayload)
		}
		seen[r.Variant]++
		// The override condition: everyone who matches it gets "test".
		r = Evaluate(c, &Subject{DistinctID: id, PersonProperties: map[string]any{"email": "a@Journey.dev"}}, nil)
		if r.Variant != "test" || r.ConditionIndex != 0 || r.Value() != "test" {
			t.Fatalf("%s: override: %+v", id, r)
		}
	}
	if seen["control"] == 0 || seen["test"] == 0 {
		t.Fatalf("one variant never seen: %v", seen)
	}

	b := mustDecodeCompile(t, `{"key":"bool","filters":{"groups":[{}],"payloads":{"true":"[1, 2]"}}}`)
	r := Evaluate(b, &Subject{DistinctID: "x"}, nil)
	if !r.Enabled || r.Variant != "" || string(r.Payload) != `[1,2]` || r.Value() != true {
		t.Fatalf("boolean payload: %+v", r)
	}
}

func TestGroupTargeting(t *testing.T) {
	env := &Env{GroupTypes: map[int]string{0: "company", 1: "project"}}
	c := mustDecodeCompile(t, `{"key":"b2b","filters":{"aggregation_group_type_index":0,
		"groups":[{"properties":[{"key":"plan","value":"enterprise","type":"group","group_type_index":0}]},
		          {"properties":[{"key":"seats","value":100,"operator":"gte"}],"rollout_percentage":50}]}}`)

	// No group key: false, no_group_type (on the last condition, as PostHog).
	for _, s := range []*Subject{
		{DistinctID: "u1"},
		{DistinctID: "u1", Groups: map[string]string{"project": "p1"}},
		{DistinctID: "u1", Groups: map[string]string{"company": ""}},
	} {
		r := Evaluate(c, s, env)
		if r.Enabled || r.Reason != ReasonNoGroupType || r.ConditionIndex != 1 {
			t.Fatalf("%+v: %+v", s.Groups, r)
		}
	}
	// A group type index the project has no name for: no group type.
	if r := Evaluate(c, &Subject{Groups: map[string]string{"company": "acme"}}, &Env{}); r.Reason != ReasonNoGroupType {
		t.Fatalf("unmapped index: %+v", r)
	}

	enterprise := &Subject{DistinctID: "u1", Groups: map[string]string{"company": "acme"},
		GroupProperties: map[string]map[string]any{"company": {"plan": "Enterprise"}}}
	if r := Evaluate(c, enterprise, env); !r.Enabled || r.ConditionIndex != 0 {
		t.Fatalf("enterprise group: %+v", r)
	}
	// Bucketing is by group key: every member of a group agrees, and the
	// rollout follows Hash(key, group key).
	for i := 0; i < 100; i++ {
		group := fmt.Sprintf("company-%d", i)
		want := Hash("b2b", group, "") <= 0.5
		for _, person := range []string{"alice", "bob"} {
			s := &Subject{DistinctID: person, Groups: map[string]string{"company": group},
				GroupProperties: map[string]map[string]any{"company": {"seats": "250"}}}
			r := Evaluate(c, s, env)
			if r.Enabled != want {
				t.Fatalf("%s in %s: enabled %v, want %v", person, group, r.Enabled, want)
			}
			if !want && (r.Reason != ReasonOutOfRollout || r.ConditionIndex != 1) {
				t.Fatalf("%s: %+v", group, r)
			}
		}
	}
	// Untyped properties of a group flag are the group's.
	u := mustDecodeCompile(t, `{"key":"u","filters":{"aggregation_group_type_index":1,"groups":[{"properties":[{"key":"tier","value":"gold"}]}]}}`)
	s := &Subject{DistinctID: "u1", PersonProperties: map[string]any{"tier": "gold"},
		Groups: map[string]string{"project": "p9"}, GroupProperties: map[string]map[string]any{"project": {"tier": "silver"}}}
	if Evaluate(u, s, env).Enabled {
		t.Fatal("untyped property of a group flag read the person")
	}
	s.GroupProperties["project"]["tier"] = "GOLD"
	if !Evaluate(u, s, env).Enabled {
		t.Fatal("untyped property of a group flag ignored the group")
	}
}

func TestMixedTargeting(t *testing.T) {
	env := &Env{GroupTypes: map[int]string{0: "company"}}
	c := mustDecodeCompile(t, `{"key":"mixed","filters":{"groups":[
		{"properties":[{"key":"email","value":"@staff.io","operator":"icontains","type":"person"}]},
		{"aggregation_group_type_index":0,"properties":[{"key":"plan","value":"pro","type":"group","group_type_index":0}]}]}}`)
	// No company: the group condition is skipped; the person condition's
	// no match outranks no_group_type.
	r := Evaluate(c, &Subject{DistinctID: "u", PersonProperties: map[string]any{"email": "a@b.c"}}, env)
	if r.Enabled || r.Reason != ReasonNoConditionMatch || r.ConditionIndex != 0 {
		t.Fatalf("no company: %+v", r)
	}
	r = Evaluate(c, &Subject{DistinctID: "u", Groups: map[string]string{"company": "acme"},
		GroupProperties: map[string]map[string]any{"company": {"plan": "pro"}}}, env)
	if !r.Enabled || r.ConditionIndex != 1 {
		t.Fatalf("company on pro: %+v", r)
	}
}

func TestExperienceContinuity(t *testing.T) {
	const js = `{"key":"ec","ensure_experience_continuity":%v,"filters":{"groups":[{"rollout_percentage":50}],
		"multivariate":{"variants":[{"key":"a","rollout_percentage":34},{"key":"b","rollout_percentage":33},{"key":"c","rollout_percentage":33}]}}}`
	on := mustDecodeCompile(t, fmt.Sprintf(js, true))
	off := mustDecodeCompile(t, fmt.Sprintf(js, false))
	differ := 0
	for i := 0; i < 300; i++ {
		anon := fmt.Sprintf("anon-%d", i)
		user := fmt.Sprintf("user-%d", i)
		before := Evaluate(on, &Subject{DistinctID: anon}, nil)
		after := Evaluate(on, &Subject{DistinctID: user, HashOverride: anon}, nil)
		if before.Enabled != after.Enabled || before.Variant != after.Variant {
			t.Fatalf("%s → %s: %+v then %+v", anon, user, before, after)
		}
		plain := Evaluate(off, &Subject{DistinctID: user, HashOverride: anon}, nil)
		asUser := Evaluate(off, &Subject{DistinctID: user}, nil)
		if plain.Enabled != asUser.Enabled || plain.Variant != asUser.Variant {
			t.Fatalf("override applied without continuity: %+v vs %+v", plain, asUser)
		}
		if plain.Variant != after.Variant || plain.Enabled != after.Enabled {
			differ++
		}
	}
	if differ == 0 {
		t.Fatal("continuity made no difference over 300 ids")
	}
	// An empty override falls back to the distinct id.
	a := Evaluate(on, &Subject{DistinctID: "x"}, nil)
	b := Evaluate(on, &Subject{DistinctID: "x", HashOverride: ""}, nil)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("empty override")
	}
}

func TestCohortMatcher(t *testing.T) {
	c := mustDecodeCompile(t, `{"key":"coh","filters":{"groups":[
		{"properties":[{"key":"id","value":7,"type":"cohort"}]},
		{"properties":[{"key":"id","value":"8","type":"cohort","operator":"not_in"}]}]}}`)
	var asked []string
	members := map[string]bool{"alice/7": true, "bob/8": true}
	env := &Env{Cohorts: CohortFunc(func(id string, s *Subject, _ time.Time) (bool, error) {
		asked = append(asked, id)
		if s.DistinctID == "err" {
			return false, errors.New("membership store down")
		}
		return members[s.DistinctID+"/"+id], nil
	})}
	for _, tc := range []struct {
		who   string
		on    bool
		index int
	}{{"alice", true, 0}, {"carol", true, 1}, {"bob", false, 1}} {
		r := Evaluate(c, &Subject{DistinctID: tc.who}, env)
		if r.Enabled != tc.on || r.ConditionIndex != tc.index || r.Err != nil {
			t.Errorf("%s: %+v", tc.who, r)
		}
	}
	// alice matches cohort 7; carol and bob are asked about 7, then 8.
	if strings.Join(asked, ",") != "7,7,8,7,8" {
		t.Errorf("cohort ids asked: %v", asked)
	}
	if r := Evaluate(c, &Subject{DistinctID: "err"}, env); r.Enabled || r.Err == nil {
		t.Errorf("matcher error: %+v", r)
	}
	if r := Evaluate(c, &Subject{DistinctID: "alice"}, nil); r.Enabled || r.Err == nil {
		t.Errorf("no matcher: %+v", r)
	}
}

func TestLocalCohortDefinitions(t *testing.T) {
	defs := map[string]json.RawMessage{
		// PostHog's local-evaluation shape.
		"1": json.RawMessage(`{"type":"OR","values":[{"type":"AND","values":[
			{"key":"email","value":"@acme.com","operator":"icontains","type":"person"},
			{"key":"age","value":18,"operator":"gte","type":"person"}]}]}`),
		"2": json.RawMessage(`{"type":"AND","values":[{"key":"id","value":1,"type":"cohort"},
			{"key":"country","value":["DE","AT"],"operator":"exact","type":"person","negation":true}]}`),
		"3": json.RawMessage(`{"type":"OR","values":[{"key":"id","value":1,"type":"cohort","negation":true}]}`),
		"4": json.RawMessage(`{"type":"AND","values":[{"key":"$pageview","event_type":"events","time_value":30,"time_interval":"day","value":"performed_event","type":"behavioral"}]}`),
		"5": json.RawMessage(`{}`),
		"6": json.RawMessage(`{"properties":{"type":"OR","values":[{"type":"OR","values":[{"key":"plan","value":"pro","type":"person"}]}]}}`),
	}
	cohorts, err := CompileCohorts(defs, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	in := func(id string, props map[string]any) (bool, error) {
		return cohorts.InCohort(id, &Subject{DistinctID: "u", PersonProperties: props}, now)
	}
	adult := map[string]any{"email": "jo@ACME.com", "age": "21", "country": "FR"}
	for _, tc := range []struct {
		id    string
		props map[string]any
		want  bool
	}{
		{"1", adult, true},
		{"1", map[string]any{"email": "jo@acme.com", "age": 17}, false},
		{"1", map[string]any{"age": 30}, false},
		{"2", adult, true},
		{"2", map[string]any{"email": "jo@acme.com", "age": 30, "country": "de"}, false},
		{"3", adult, false},
		{"3", nil, true},
		{"5", nil, true},
		{"6", map[string]any{"plan": "PRO"}, true},
		{"6", nil, false},
	} {
		got, err := in(tc.id, tc.props)
		if err != nil || got != tc.want {
			t.Errorf("cohort %s with %v: %v, %v; want %v", tc.id, tc.props, got, err, tc.want)
		}
	}
	// Behavioural and unknown cohorts need stored membership.
	for _, id := range []string{"4", "99"} {
		if _, err := in(id, adult); !errors.Is(err, ErrUnknownCohort) {
			t.Errorf("cohort %s: %v", id, err)
		}
	}
	if cohorts.Has("4") || cohorts.Has("99") || !cohorts.Has("1") {
		t.Error("Has")
	}
	cohorts.Fallback = CohortFunc(func(id string, _ *Subject, _ time.Time) (bool, error) { return id == "4", nil })
	if got, err := in("4", nil); !got || err != nil {
		t.Errorf("fallback: %v %v", got, err)
	}

	// Used from a flag.
	c := mustDecodeCompile(t, `{"key":"adults","filters":{"groups":[{"properties":[{"key":"id","value":2,"type":"cohort"}]}]}}`)
	if r := Evaluate(c, &Subject{DistinctID: "u", PersonProperties: adult}, &Env{Cohorts: cohorts, Now: now}); !r.Enabled {
		t.Errorf("flag on cohort 2: %+v", r)
	}

	// Malformed definitions name the field; cycles are refused.
	for js, field := range map[string]string{
		`{"type":"XOR","values":[]}`: "cohorts.9.type",
		`{"type":"AND","values":[{"key":"a","value":1,"operator":"nope","type":"person"}]}`: "cohorts.9.values[0].operator",
		`{"type":"AND","values":[{"key":"id","value":9,"type":"cohort"}]}`:                  "cohorts.9",
		`[1]`: "cohorts.9",
	} {
		_, err := CompileCohorts(map[string]json.RawMessage{"9": json.RawMessage(js)}, nil)
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != field {
			t.Errorf("%s: %v, want an error on %s", js, err, field)
		}
	}
}

func TestFlagDependencies(t *testing.T) {
	base := mustDecodeCompile(t, `{"id":10,"key":"base","filters":{"groups":[{"properties":[{"key":"beta","value":true}]}],
		"multivariate":{"variants":[{"key":"on","rollout_percentage":100}]}}}`)
	onTrue := mustDecodeCompile(t, `{"key":"needs-base","filters":{"groups":[{"properties":[{"key":"base","type":"flag","value":true,"operator":"flag_evaluates_to"}]}]}}`)
	onFalse := mustDecodeCompile(t, `{"key":"not-base","filters":{"groups":[{"properties":[{"key":"10","type":"flag","value":false,"operator":"flag_evaluates_to"}]}]}}`)
	onVariant := mustDecodeCompile(t, `{"key":"base-on","filters":{"groups":[{"properties":[{"key":10,"type":"flag","value":"on","operator":"flag_evaluates_to"}]}]}}`)
	list := []*Compiled{onTrue, onFalse, onVariant, base}
	for _, beta := range []bool{true, false} {
		rs := EvaluateAll(list, &Subject{DistinctID: "u", PersonProperties: map[string]any{"beta": beta}}, nil)
		if len(rs) != 4 || rs[3].Key != "base" || rs[3].Enabled != beta {
			t.Fatalf("beta=%v: %+v", beta, rs)
		}
		if rs[0].Enabled != beta || rs[1].Enabled != !beta || rs[2].Enabled != beta {
			t.Fatalf("beta=%v: dependents %+v", beta, rs[:3])
		}
		for _, r := range rs {
			if r.Err != nil {
				t.Fatalf("%s: %v", r.Key, r.Err)
			}
		}
	}
	// Alone, without the flag it depends on: an error, no match.
	if r := Evaluate(onTrue, &Subject{DistinctID: "u"}, nil); r.Enabled || !errors.Is(r.Err, ErrDependency) {
		t.Fatalf("missing dependency: %+v", r)
	}
	// Through Env.Flags.
	if r := Evaluate(onTrue, &Subject{PersonProperties: map[string]any{"beta": "true"}}, &Env{Flags: map[string]*Compiled{"base": base}}); !r.Enabled {
		t.Fatalf("Env.Flags: %+v", r)
	}
	// Cycles are errors, not hangs.
	a := mustDecodeCompile(t, `{"key":"a","filters":{"groups":[{"properties":[{"key":"b","type":"flag","value":true,"operator":"flag_evaluates_to"}]}]}}`)
	b := mustDecodeCompile(t, `{"key":"b","filters":{"groups":[{"properties":[{"key":"a","type":"flag","value":true,"operator":"flag_evaluates_to"}]}]}}`)
	for _, r := range EvaluateAll([]*Compiled{a, b}, &Subject{DistinctID: "u"}, nil) {
		if r.Enabled || !errors.Is(r.Err, ErrDependency) {
			t.Fatalf("cycle: %+v", r)
		}
	}
	// An inactive dependency is false.
	off := mustDecodeCompile(t, `{"key":"base","active":false}`)
	rs := EvaluateAll([]*Compiled{onTrue, onFalse, off}, &Subject{DistinctID: "u"}, nil)
	if rs[0].Enabled || rs[1].Enabled || rs[2].Reason != ReasonDisabled {
		t.Fatalf("inactive dependency: %+v", rs)
	}
}

func TestEvaluateNilArguments(t *testing.T) {
	c := mustDecodeCompile(t, `{"key":"k","filters":{"groups":[{"properties":[{"key":"a","operator":"is_not_set"}]}]}}`)
	if r := Evaluate(c, nil, nil); !r.Enabled {
		t.Fatalf("%+v", r)
	}
	if rs := EvaluateAll(nil, nil, nil); len(rs) != 0 {
		t.Fatal(rs)
	}
}

// TestCohortNestingBounded: cohort membership was recomputed for each
// reference, so cohorts that each reference the next one twice (in an OR
// that does not match) cost 2^depth evaluations; maxCohortDepth bounded
// the depth, not the work. Each cohort is computed once per check now,
// and chains of references deeper than maxCohortDepth are refused when
// compiled.
func TestCohortNestingBounded(t *testing.T) {
	chain := func(depth int) map[string]json.RawMessage {
		defs := map[string]json.RawMessage{}
		for i := 0; i < depth; i++ {
			next := fmt.Sprint(i + 1)
			defs[fmt.Sprint(i)] = json.RawMessage(fmt.Sprintf(
				`{"type":"OR","values":[{"key":"id","type":"cohort","value":%s},{"key":"id","type":"cohort","value":%s}]}`, next, next))
		}
		defs[fmt.Sprint(depth)] = json.RawMessage(`{"type":"AND","values":[{"key":"plan","operator":"exact","value":"pro","type":"person"}]}`)
		return defs
	}
	const depth = 26
	cs, err := CompileCohorts(chain(depth), nil)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	done := make(chan time.Duration, 1)
	go func() {
		start := time.Now()
		_, _ = cs.InCohort("0", &Subject{PersonProperties: map[string]any{"plan": "free"}}, time.Now())
		done <- time.Since(start)
	}()
	select {
	case took := <-done:
		if took > 100*time.Millisecond {
			t.Errorf("one membership check over %d small cohorts took %v; want work bounded (memoise per evaluation)", depth+1, took)
		}
	case <-time.After(3 * time.Second):
		t.Fatalf("one membership check over %d small cohorts did not finish in 3s (2^%d evaluations); want work bounded", depth+1, depth)
	}
	for plan, want := range map[string]bool{"pro": true, "free": false} {
		if in, err := cs.InCohort("0", &Subject{PersonProperties: map[string]any{"plan": plan}}, time.Now()); in != want || err != nil {
			t.Errorf("plan %s: %v %v, want %v", plan, in, err, want)
		}
	}
	// The deepest chain evaluation allows compiles; one more is refused.
	if _, err := CompileCohorts(chain(maxCohortDepth), nil); err != nil {
		t.Errorf("a chain of %d references: %v", maxCohortDepth, err)
	}
	if _, err := CompileCohorts(chain(maxCohortDepth+1), nil); err == nil || !strings.Contains(err.Error(), "deep") {
		t.Errorf("a chain of %d references: %v, want refused", maxCohortDepth+1, err)
	}

	// ForEvaluation computes each cohort once across checks; a fallback
	// answer too.
	calls := 0
	base, _ := CompileCohorts(map[string]json.RawMessage{
		"1": json.RawMessage(`{"type":"OR","values":[{"key":"id","type":"cohort","value":9}]}`),
		"2": json.RawMessage(`{"type":"AND","values":[{"key":"id","type":"cohort","value":9}]}`),
	}, nil)
	base.Fallback = CohortFunc(func(id string, _ *Subject, _ time.Time) (bool, error) { calls++; return id == "9", nil })
	ev := base.ForEvaluation()
	s, now := &Subject{DistinctID: "u"}, time.Now()
	for _, id := range []string{"1", "2", "9", "1"} {
		if in, err := ev.InCohort(id, s, now); !in || err != nil {
			t.Errorf("cohort %s: %v %v", id, in, err)
		}
	}
	if calls != 1 {
		t.Errorf("the fallback was asked %d times in one evaluation, want once", calls)
	}
	if in, _ := ev.InCohort("1", &Subject{DistinctID: "other"}, now); !in || calls != 2 {
		t.Errorf("another subject: %v after %d fallback calls, want computed afresh", in, calls)
	}
}
