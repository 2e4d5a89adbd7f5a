package flags

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// missing marks a property the person does not have.
type missingT struct{}

var missing = missingT{}

type opCase struct {
	value any // a property value, or missing
	want  bool
}

// checkOp evaluates a one-condition flag with the property filter prop
// (JSON) against each person property value, as PostHog's server would.
func checkOp(t *testing.T, prop string, now time.Time, loc *time.Location, cases ...opCase) {
	t.Helper()
	f := mustDecode(t, `{"key":"op","filters":{"groups":[{"properties":[`+prop+`]}]}}`)
	c, err := CompileIn(f, loc)
	if err != nil {
		t.Fatalf("%s: %v", prop, err)
	}
	for _, tc := range cases {
		props := map[string]any{"other": "x"}
		if tc.value != missing {
			props["key"] = tc.value
		}
		r := Evaluate(c, &Subject{DistinctID: "d", PersonProperties: props}, &Env{Now: now})
		if r.Enabled != tc.want {
			t.Errorf("%s with %#v: %v, want %v", prop, tc.value, r.Enabled, tc.want)
		}
	}
}

func op(t *testing.T, prop string, cases ...opCase) {
	t.Helper()
	checkOp(t, prop, time.Now(), time.UTC, cases...)
}

func TestOperatorExact(t *testing.T) {
	op(t, `{"key":"key","value":"value"}`,
		opCase{"value", true}, opCase{"VALUE", true}, opCase{"value2", false}, opCase{"", false},
		opCase{nil, false}, opCase{missing, false})
	op(t, `{"key":"key","value":"value","operator":"exact","type":"person"}`,
		opCase{"value", true}, opCase{"value2", false})
	op(t, `{"key":"key","value":["value1","value2","value3"],"operator":"exact"}`,
		opCase{"value1", true}, opCase{"value2", true}, opCase{"value3", true}, opCase{"value4", false}, opCase{missing, false})
	// Lists compare case-insensitively both ways (PostHog's server).
	op(t, `{"key":"key","value":["US","CA","Uk"],"operator":"exact"}`,
		opCase{"us", true}, opCase{"Us", true}, opCase{"US", true}, opCase{"ca", true}, opCase{"uk", true},
		opCase{"UK", true}, opCase{"de", false})
	// Numbers and booleans compare as their text.
	op(t, `{"key":"key","value":5}`,
		opCase{5, true}, opCase{5.0, true}, opCase{"5", true}, opCase{json.Number("5"), true}, opCase{6, false}, opCase{"5.5", false})
	op(t, `{"key":"key","value":true}`,
		opCase{true, true}, opCase{"true", true}, opCase{"True", true}, opCase{false, false}, opCase{"false", false}, opCase{"yes", false})
	op(t, `{"key":"key","value":["true"]}`, opCase{true, true}, opCase{false, false})
	op(t, `{"key":"key","value":"null"}`, opCase{nil, true}, opCase{"NULL", true}, opCase{"x", false})
	// Long lists use a set.
	op(t, `{"key":"key","value":["a","b","c","d","e","f","g","h","i","J"]}`,
		opCase{"j", true}, opCase{"A", true}, opCase{"k", false})
	// Negation.
	op(t, `{"key":"key","value":"value","negation":true}`, opCase{"value", false}, opCase{"other", true})
}

func TestOperatorIsNot(t *testing.T) {
	op(t, `{"key":"key","value":"value","operator":"is_not"}`,
		opCase{"value2", true}, opCase{"", true}, opCase{nil, true}, opCase{"value", false}, opCase{"VALUE", false},
		// The server holds every property: a missing one "is not" anything.
		opCase{missing, true})
	op(t, `{"key":"key","value":["value1","value2","value3"],"operator":"is_not"}`,
		opCase{"value4", true}, opCase{"value5", true}, opCase{"", true}, opCase{nil, true},
		opCase{"value1", false}, opCase{"value2", false}, opCase{"value3", false}, opCase{missing, true})
	op(t, `{"key":"key","value":"null","operator":"is_not"}`, opCase{nil, false}, opCase{"non", true})
}

func TestOperatorIsSet(t *testing.T) {
	op(t, `{"key":"key","value":"is_set","operator":"is_set"}`,
		opCase{"value", true}, opCase{"", true}, opCase{nil, true}, opCase{0, true}, opCase{missing, false})
	op(t, `{"key":"key","value":"is_not_set","operator":"is_not_set"}`,
		opCase{missing, true}, opCase{"value", false}, opCase{nil, false}, opCase{"", false})
}

func TestOperatorStrings(t *testing.T) {
	op(t, `{"key":"key","value":"valUe","operator":"icontains"}`,
		opCase{"value", true}, opCase{"value2", true}, opCase{"vaLue4", true}, opCase{"343tfvalue5", true},
		opCase{"Alakazam", false}, opCase{123, false}, opCase{nil, false}, opCase{missing, false})
	op(t, `{"key":"key","value":"3","operator":"icontains"}`,
		opCase{"3", true}, opCase{323, true}, opCase{"val3", true}, opCase{"three", false})
	op(t, `{"key":"key","value":"ÄRGER","operator":"icontains"}`, opCase{"viel ärger", true})
	op(t, `{"key":"key","value":"valUe","operator":"not_icontains"}`,
		opCase{"Alakazam", true}, opCase{"value", false}, opCase{"VALUE2", false}, opCase{missing, true}, opCase{nil, false})
	op(t, `{"key":"key","value":"Val","operator":"starts_with"}`,
		opCase{"value", true}, opCase{"VALUE", true}, opCase{"prevalue", false}, opCase{"Alakazam", false}, opCase{missing, false})
	op(t, `{"key":"key","value":"3","operator":"starts_with"}`, opCase{323, true}, opCase{123, false})
	op(t, `{"key":"key","value":"Val","operator":"not_starts_with"}`,
		opCase{"value", false}, opCase{"Alakazam", true}, opCase{missing, true})
	op(t, `{"key":"key","value":"Lue","operator":"ends_with"}`,
		opCase{"value", true}, opCase{"VALUE", true}, opCase{"valueish", false}, opCase{missing, false})
	op(t, `{"key":"key","value":"3","operator":"ends_with"}`, opCase{323, true}, opCase{321, false})
	op(t, `{"key":"key","value":"Lue","operator":"not_ends_with"}`,
		opCase{"value", false}, opCase{"Alakazam", true}, opCase{missing, true})
	op(t, `{"key":"key","value":["foo","BAR"],"operator":"icontains_multi"}`,
		opCase{"xxbarxx", true}, opCase{"Food", true}, opCase{"baz", false}, opCase{missing, false})
	op(t, `{"key":"key","value":"bar","operator":"not_icontains_multi"}`,
		opCase{"baz", true}, opCase{"BARN", false}, opCase{missing, true})
}

func TestOperatorRegex(t *testing.T) {
	op(t, `{"key":"key","value":"\\.com$","operator":"regex"}`,
		opCase{"value.com", true}, opCase{"value2.com", true}, opCase{"value2com", false},
		opCase{".com343tfvalue5", false}, opCase{"Alakazam", false}, opCase{123, false},
		opCase{"valuecom", false}, opCase{`value\com`, false}, opCase{missing, false})
	op(t, `{"key":"key","value":"3","operator":"regex"}`,
		opCase{"3", true}, opCase{323, true}, opCase{"val3", true}, opCase{"three", false})
	// A number is its text; regexes are case-sensitive.
	op(t, `{"key":"key","value":4,"operator":"regex"}`, opCase{"4", true}, opCase{4, true}, opCase{"value", false})
	op(t, `{"key":"key","value":"Nu","operator":"regex"}`, opCase{"nu", false}, opCase{"Nu", true}, opCase{nil, false})
	op(t, `{"key":"key","value":"(?i)^ab+c$","operator":"regex"}`, opCase{"ABBC", true}, opCase{"abd", false})
	op(t, `{"key":"key","value":"\\.com$","operator":"not_regex"}`,
		opCase{"value.com", false}, opCase{"value.org", true}, opCase{missing, true}, opCase{nil, false})
}

func TestOperatorNumbers(t *testing.T) {
	op(t, `{"key":"key","value":1,"operator":"gt"}`,
		opCase{2, true}, opCase{3, true}, opCase{0, false}, opCase{-1, false}, opCase{1, false},
		// Numeric strings coerce; non-numbers never match.
		opCase{"23", true}, opCase{json.Number("1.5"), true}, opCase{"abc", false}, opCase{true, false},
		opCase{nil, false}, opCase{missing, false})
	op(t, `{"key":"key","value":1,"operator":"lt"}`,
		opCase{0, true}, opCase{-1, true}, opCase{-3, true}, opCase{1, false}, opCase{"1", false}, opCase{"3", false})
	op(t, `{"key":"key","value":1,"operator":"gte"}`,
		opCase{1, true}, opCase{2, true}, opCase{0, false}, opCase{-1, false}, opCase{"3", true})
	op(t, `{"key":"key","value":"43","operator":"lte"}`,
		opCase{"41", true}, opCase{"42", true}, opCase{"43", true}, opCase{"44", false}, opCase{44, false}, opCase{42, true})
	// Numbers compare as numbers, not text (PostHog's server: "100" < "30" is false).
	op(t, `{"key":"key","value":"30","operator":"lt"}`, opCase{"29", true}, opCase{"100", false}, opCase{100, false})
	op(t, `{"key":"key","value":[70000,80000],"operator":"between"}`,
		opCase{70000, true}, opCase{80000, true}, opCase{75000, true}, opCase{"75000", true},
		opCase{69999, false}, opCase{80001, false}, opCase{"abc", false}, opCase{"NaN", false}, opCase{missing, false})
	op(t, `{"key":"key","value":["70000","80000"],"operator":"not_between"}`,
		opCase{70000, false}, opCase{69999, true}, opCase{80001, true}, opCase{"abc", false}, opCase{"NaN", false}, opCase{missing, true})
}

func TestOperatorDates(t *testing.T) {
	now := time.Now()
	madrid, err := time.LoadLocation("Europe/Madrid")
	if err != nil {
		madrid = time.FixedZone("CEST", 2*3600)
	}
	op(t, `{"key":"key","value":"2022-05-01","operator":"is_date_before"}`,
		opCase{"2022-03-01", true}, opCase{"2022-04-30", true}, opCase{"2022-05-30", false},
		opCase{time.Date(2022, 4, 30, 1, 2, 3, 0, madrid), true},
		opCase{"2022-04-30T23:59:59.999Z", true}, opCase{"2022-05-01T00:00:00Z", false},
		// Numbers are Unix seconds.
		opCase{1, true}, opCase{"1651363199", true}, opCase{1651363201.5, false},
		opCase{"abcdef", false}, opCase{true, false}, opCase{nil, false}, opCase{missing, false})
	op(t, `{"key":"key","value":"2022-05-01","operator":"is_date_after"}`,
		opCase{"2022-05-02", true}, opCase{"2022-05-30", true}, opCase{"2022-04-30", false},
		opCase{"2022-05-01 00:00:01 UTC", true}, opCase{"abcdef", false})
	// With an offset (posthog-python's test_match_property_date_operators).
	op(t, `{"key":"key","value":"2022-04-05 12:34:12 +01:00","operator":"is_date_before"}`,
		opCase{"2022-05-30", false}, opCase{"2022-03-30", true},
		opCase{"2022-04-05 12:34:11 +01:00", true}, opCase{"2022-04-05 12:34:13 +01:00", false},
		opCase{"2022-04-05 11:34:11 +00:00", true}, opCase{"2022-04-05 11:34:13 +00:00", false},
		opCase{"2022-04-05T11:34:11Z", true}, opCase{"2022-04-05T13:34:11+0200", true})
	op(t, `{"key":"key","value":"2022-05-01T10:00:00Z","operator":"is_date_exact"}`,
		opCase{"2022-05-01T12:00:00+02:00", true}, opCase{"2022-05-01 10:00:00", true}, opCase{"2022-05-01 10:00:01", false})
	// Naive dates are in the project's zone.
	checkOp(t, `{"key":"key","value":"2022-05-01","operator":"is_date_after"}`, now, madrid,
		opCase{"2022-04-30T23:00:00Z", true}, opCase{"2022-04-30 23:00:00", false})
	checkOp(t, `{"key":"key","value":"2022-05-01","operator":"is_date_after"}`, now, time.UTC,
		opCase{"2022-04-30T23:00:00Z", false})
}

// TestOperatorRelativeDates: posthog-python's
// test_match_property_relative_date_operators, frozen at 2022-05-01.
func TestOperatorRelativeDates(t *testing.T) {
	now := time.Date(2022, 5, 1, 0, 0, 0, 0, time.UTC)
	rel := func(prop string, cases ...opCase) {
		t.Helper()
		checkOp(t, prop, now, time.UTC, cases...)
	}
	rel(`{"key":"key","value":"-6h","operator":"is_date_before"}`,
		opCase{"2022-03-01", true}, opCase{"2022-04-30", true},
		opCase{"2022-04-30T01:02:03", true}, opCase{"2022-04-30T19:02:03", false},
		opCase{"2022-05-30", false}, opCase{"abcdef", false})
	rel(`{"key":"key","value":"1h","operator":"is_date_after"}`,
		opCase{"2022-05-02", true}, opCase{"2022-05-30", true}, opCase{"2022-04-30", false})
	rel(`{"key":"key","value":"12d","operator":"is_date_before"}`,
		opCase{"2022-05-30", false}, opCase{"2022-03-30", true},
		opCase{"2022-04-05 12:34:11+01:00", true}, opCase{"2022-04-19 01:34:11+02:00", true},
		opCase{"2022-04-19 02:00:01+02:00", false})
	rel(`{"key":"key","value":"1h","operator":"is_date_before"}`,
		opCase{"2022-05-01 00:00:00", false}, opCase{"2022-04-30 22:00:00", true})
	rel(`{"key":"key","value":"-1d","operator":"is_date_before"}`,
		opCase{"2022-04-29 23:59:00", true}, opCase{"2022-04-30 00:00:01", false})
	rel(`{"key":"key","value":"1w","operator":"is_date_before"}`,
		opCase{"2022-04-23 00:00:00", true}, opCase{"2022-04-24 00:00:00", false}, opCase{"2022-04-24 00:00:01", false})
	rel(`{"key":"key","value":"1m","operator":"is_date_before"}`,
		opCase{"2022-03-01 00:00:00", true}, opCase{"2022-04-05 00:00:00", false})
	rel(`{"key":"key","value":"1y","operator":"is_date_before"}`,
		opCase{"2021-04-28 00:00:00", true}, opCase{"2021-05-01 00:00:01", false})
	rel(`{"key":"key","value":"122h","operator":"is_date_after"}`,
		opCase{"2022-05-01 00:00:00", true}, opCase{"2022-04-23 01:00:00", false})
	rel(`{"key":"key","value":"2d","operator":"is_date_after"}`,
		opCase{"2022-05-01 00:00:00", true}, opCase{"2022-04-29 00:00:01", true}, opCase{"2022-04-29 00:00:00", false})
	rel(`{"key":"key","value":"-02w","operator":"is_date_after"}`,
		opCase{"2022-05-01 00:00:00", true}, opCase{"2022-04-16 00:00:00", false})
	rel(`{"key":"key","value":"1m","operator":"is_date_after"}`,
		opCase{"2022-04-01 00:00:01", true}, opCase{"2022-04-01 00:00:00", false})
	rel(`{"key":"key","value":"1y","operator":"is_date_after"}`,
		opCase{"2022-05-01 00:00:00", true}, opCase{"2021-05-01 00:00:01", true},
		opCase{"2021-05-01 00:00:00", false}, opCase{"2021-04-30 00:00:00", false}, opCase{"2021-03-01 12:13:00", false})
	// Months clamp to the target month's end: 2024-03-31 − 1m is 2024-02-29.
	checkOp(t, `{"key":"key","value":"-1m","operator":"is_date_after"}`, time.Date(2024, 3, 31, 12, 0, 0, 0, time.UTC), time.UTC,
		opCase{"2024-02-29 12:00:01", true}, opCase{"2024-02-29 12:00:00", false})
	checkOp(t, `{"key":"key","value":"-1y","operator":"is_date_after"}`, time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC), time.UTC,
		opCase{"2023-02-28 00:00:01", true}, opCase{"2023-02-28 00:00:00", false})
}

func TestRelativeDateParsing(t *testing.T) {
	for s, ok := range map[string]bool{
		"-3d": true, "3d": true, "-3h": true, "3w": true, "-3m": true, "3y": true, "000h": true, "9999d": true,
		"invalid": false, "3x": false, "10000d": false, "1": false, "1.2y": false, "1s": false, "-": false,
		"--1d": false, "1D": false, "000bello": false, "": false,
	} {
		if _, got := parseRelative(s); got != ok {
			t.Errorf("parseRelative(%q) = %v, want %v", s, got, ok)
		}
	}
	now := time.Date(2020, 1, 1, 12, 1, 20, 134000000, time.UTC)
	for s, want := range map[string]time.Time{
		"1h":  time.Date(2020, 1, 1, 11, 1, 20, 134000000, time.UTC),
		"30h": time.Date(2019, 12, 31, 6, 1, 20, 134000000, time.UTC),
		"7d":  time.Date(2019, 12, 25, 12, 1, 20, 134000000, time.UTC),
		"8w":  time.Date(2019, 11, 6, 12, 1, 20, 134000000, time.UTC),
		"4m":  time.Date(2019, 9, 1, 12, 1, 20, 134000000, time.UTC),
		"12m": time.Date(2019, 1, 1, 12, 1, 20, 134000000, time.UTC),
		"1y":  time.Date(2019, 1, 1, 12, 1, 20, 134000000, time.UTC),
	} {
		r, _ := parseRelative(s)
		if got := r.from(now, time.UTC); !got.Equal(want) {
			t.Errorf("%s before %v = %v, want %v", s, now, got, want)
		}
	}
}

func TestOperatorSemver(t *testing.T) {
	op(t, `{"key":"key","value":"1.2.3","operator":"semver_eq"}`,
		opCase{"1.2.3", true}, opCase{"v1.2.3", true}, opCase{"1.2.3-beta+7", true}, opCase{" 1.2.3 ", true},
		opCase{"1.2.4", false}, opCase{"abc", false}, opCase{nil, false}, opCase{missing, false})
	op(t, `{"key":"key","value":"1.2","operator":"semver_eq"}`, opCase{"1.2.0", true}, opCase{"1.2.0.9", true})
	op(t, `{"key":"key","value":"3.8","operator":"semver_eq"}`, opCase{"3.08", true})
	op(t, `{"key":"key","value":"1.2.3","operator":"semver_neq"}`, opCase{"1.2.4", true}, opCase{"1.2.3", false})
	op(t, `{"key":"key","value":"1.2.3","operator":"semver_gt"}`,
		opCase{"1.10.0", true}, opCase{"2", true}, opCase{"1.2.3", false}, opCase{"1.2.2", false})
	op(t, `{"key":"key","value":"1.2.3","operator":"semver_gte"}`, opCase{"1.2.3", true}, opCase{"1.2.2", false})
	op(t, `{"key":"key","value":"1.2.3","operator":"semver_lt"}`, opCase{"1.2.2", true}, opCase{"1.2.3", false})
	op(t, `{"key":"key","value":"2.0","operator":"semver_lte"}`, opCase{"2.0.0", true}, opCase{"2.0.1", false})
	op(t, `{"key":"key","value":"1.2.3","operator":"semver_tilde"}`,
		opCase{"1.2.3", true}, opCase{"1.2.9", true}, opCase{"1.3.0", false}, opCase{"1.2.2", false})
	op(t, `{"key":"key","value":"1.2.3","operator":"semver_caret"}`, opCase{"1.9.0", true}, opCase{"2.0.0", false})
	op(t, `{"key":"key","value":"0.2.3","operator":"semver_caret"}`, opCase{"0.2.9", true}, opCase{"0.3.0", false})
	op(t, `{"key":"key","value":"0.0.3","operator":"semver_caret"}`, opCase{"0.0.3", true}, opCase{"0.0.4", false})
	op(t, `{"key":"key","value":"1.*","operator":"semver_wildcard"}`,
		opCase{"1.0.0", true}, opCase{"1.9.9", true}, opCase{"2.0.0", false}, opCase{"0.9", false})
	op(t, `{"key":"key","value":"1.2.*","operator":"semver_wildcard"}`, opCase{"1.2.7", true}, opCase{"1.3.0", false})
}

func TestPropertySources(t *testing.T) {
	env := &Env{GroupTypes: map[int]string{0: "company", 2: "team"}}
	c := mustDecodeCompile(t, `{"key":"src","filters":{"groups":[{"properties":[
		{"key":"plan","value":"pro","type":"person"},
		{"key":"size","value":10,"operator":"gt","type":"group","group_type_index":2}]}]}}`)
	s := &Subject{DistinctID: "u", PersonProperties: map[string]any{"plan": "pro", "size": 1},
		GroupProperties: map[string]map[string]any{"team": {"size": 50}, "company": {"size": 1}}}
	if !Evaluate(c, s, env).Enabled {
		t.Fatal("person and group properties in one condition")
	}
	s.GroupProperties["team"]["size"] = 5
	if Evaluate(c, s, env).Enabled {
		t.Fatal("group property read from the wrong place")
	}
}

// TestRegexEvaluationBounded: Go's RE2 is linear in the input but times
// the program size, so an ordinary-looking bounded repeat matched against
// a 250 KB property value cost seconds. Values over MaxMatchLen are not
// compared, and one evaluation spends at most MaxRegexWork on regexes;
// what is not compared does not match (negated or not) and says so.
func TestRegexEvaluationBounded(t *testing.T) {
	c := mustDecodeCompile(t, regexFlag(`[a-z]{2,300}@corp\.io`))
	neg := mustDecodeCompile(t, `{"key":"nrx","filters":{"groups":[{"properties":[{"key":"p","operator":"not_regex","value":"[a-z]{2,300}@corp\\.io"}]}]}}`)
	for _, n := range []int{250_000, MaxMatchLen + 1, 60_000} {
		subj := &Subject{DistinctID: "x", PersonProperties: map[string]any{"p": strings.Repeat("a", n)}}
		start := time.Now()
		rs := EvaluateAll([]*Compiled{c, neg}, subj, nil)
		if took := time.Since(start); took > 100*time.Millisecond {
			t.Errorf("%d-byte value: matching took %v", n, took)
		}
		for _, r := range rs {
			if r.Enabled || !errors.Is(r.Err, ErrNotCompared) {
				t.Errorf("%d-byte value, %s: enabled %v, err %v; want not compared (false, ErrNotCompared)", n, r.Key, r.Enabled, r.Err)
			}
		}
	}
	if r := Evaluate(c, &Subject{DistinctID: "x", PersonProperties: map[string]any{"p": "jo@corp.io"}}, nil); !r.Enabled || r.Err != nil {
		t.Errorf("an ordinary value: %+v", r)
	}
	// The budget is per evaluation: 30 such flags against a 2 KB value
	// (1.2 M units each) are not all compared.
	var list []*Compiled
	for i := 0; i < 30; i++ {
		list = append(list, mustDecodeCompile(t, fmt.Sprintf(`{"key":"rx%d","filters":{"groups":[{"properties":[{"key":"p","operator":"regex","value":"[a-z]{2,300}@corp\\.io"}]}]}}`, i)))
	}
	subj := &Subject{DistinctID: "x", PersonProperties: map[string]any{"p": strings.Repeat("a", 2000) + "@corp.io"}}
	start := time.Now()
	rs := EvaluateAll(list, subj, nil)
	took := time.Since(start)
	compared := 0
	for _, r := range rs {
		if r.Err == nil {
			compared++
			if !r.Enabled {
				t.Errorf("%s compared and false", r.Key)
			}
		} else if !errors.Is(r.Err, ErrNotCompared) {
			t.Errorf("%s: %v", r.Key, r.Err)
		}
	}
	if compared == 0 || compared == len(list) || took > time.Second {
		t.Errorf("%d of %d heavy regex flags compared in %v; want the evaluation's budget to stop some", compared, len(list), took)
	}
	// Other operators do not compare values over MaxMatchLen either.
	for _, opName := range []string{"icontains", "not_icontains", "exact", "is_not", "starts_with"} {
		c := mustDecodeCompile(t, fmt.Sprintf(`{"key":"s","filters":{"groups":[{"properties":[{"key":"p","operator":%q,"value":"zz"}]}]}}`, opName))
		big := map[string]any{"p": map[string]any{"list": []any{strings.Repeat("z", MaxMatchLen)}}}
		if r := Evaluate(c, &Subject{DistinctID: "x", PersonProperties: big}, nil); r.Enabled || !errors.Is(r.Err, ErrNotCompared) {
			t.Errorf("%s on a %d-byte object: %+v", opName, MaxMatchLen, r)
		}
	}
}
