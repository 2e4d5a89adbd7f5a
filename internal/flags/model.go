package flags

import (
	"encoding/json"
	"strings"
)

// Flag is a feature flag in PostHog's JSON shape.
type Flag struct {
	ID      int64   `json:"id"`
	Key     string  `json:"key"`
	Name    string  `json:"name"`
	Active  bool    `json:"active"`
	Version int64   `json:"version"`
	Filters Filters `json:"filters"`
	// EnsureExperienceContinuity: a person keeps the bucket of the
	// anonymous id they were first evaluated with (Subject.HashOverride).
	EnsureExperienceContinuity bool `json:"ensure_experience_continuity"`
}

// Filters is a flag's targeting.
type Filters struct {
	// Groups are the condition sets, OR'd in order.
	Groups []Condition
	// Multivariate is nil for a boolean flag.
	Multivariate *Multivariate
	// Payloads maps "true" (boolean flags) or a variant key to a JSON
	// value, compact. On the wire (and in PostHog) each is a JSON string
	// holding that JSON.
	Payloads map[string]json.RawMessage
	// AggregationGroupTypeIndex set: the flag targets groups of that type
	// and buckets by group key.
	AggregationGroupTypeIndex *int
}

// Condition is one condition set: all its properties must match, then the
// rollout applies.
type Condition struct {
	Properties []Property `json:"properties"`
	// RolloutPercentage nil means 100.
	RolloutPercentage *float64 `json:"rollout_percentage"`
	// Variant, when it names one of the flag's variants, is the variant
	// every match of this condition gets.
	Variant *string `json:"variant"`
	// AggregationGroupTypeIndex overrides the flag's for this condition
	// (PostHog's mixed person/group targeting).
	AggregationGroupTypeIndex *int `json:"aggregation_group_type_index,omitempty"`
}

// Multivariate lists a multivariate flag's variants; their rollout
// percentages sum to 100.
type Multivariate struct {
	Variants []Variant `json:"variants"`
}

// Variant is one variant of a multivariate flag.
type Variant struct {
	Key               string  `json:"key"`
	Name              string  `json:"name,omitempty"`
	RolloutPercentage float64 `json:"rollout_percentage"`
}

// Property is one property filter of a condition.
type Property struct {
	Key string `json:"key"`
	// Value is a string, a number (json.Number or any Go number), a bool,
	// nil, or a list of those, as the operator needs.
	Value any `json:"value"`
	// Operator "" means exact (in for cohorts).
	Operator string `json:"operator,omitempty"`
	// Type is "person" (or ""), "group", "cohort" (Value is the cohort id)
	// or "flag" (Key names the flag, Value is what it must evaluate to),
	// or Journey's "bucket" (Key is a salt, Value [from, to]: bucket.go).
	Type string `json:"type,omitempty"`
	// GroupTypeIndex picks the group type of a "group" property; nil
	// means the condition's aggregation.
	GroupTypeIndex *int `json:"group_type_index,omitempty"`
	// Negation inverts the match.
	Negation bool `json:"negation,omitempty"`
}

// Property types.
const (
	TypePerson = "person"
	TypeGroup  = "group"
	TypeCohort = "cohort"
	TypeFlag   = "flag"
)

// MaxGroupTypeIndex is the highest group type index (PostHog allows five
// group types, 0–4).
const MaxGroupTypeIndex = 4

type filtersJSON struct {
	Groups                    []Condition       `json:"groups"`
	Multivariate              *Multivariate     `json:"multivariate"`
	Payloads                  map[string]string `json:"payloads"`
	AggregationGroupTypeIndex *int              `json:"aggregation_group_type_index"`
}

type flagJSON struct {
	ID                         int64       `json:"id"`
	Key                        string      `json:"key"`
	Name                       string      `json:"name"`
	Active                     bool        `json:"active"`
	Version                    int64       `json:"version"`
	Filters                    filtersJSON `json:"filters"`
	EnsureExperienceContinuity bool        `json:"ensure_experience_continuity"`
}

// MarshalJSON writes PostHog's shape: payloads as JSON strings, empty
// lists as [] (never null).
func (f Flag) MarshalJSON() ([]byte, error) {
	return json.Marshal(flagJSON{
		ID: f.ID, Key: f.Key, Name: f.Name, Active: f.Active, Version: f.Version,
		Filters:                    f.Filters.wire(),
		EnsureExperienceContinuity: f.EnsureExperienceContinuity,
	})
}

// UnmarshalJSON is Decode: strict, and validated.
func (f *Flag) UnmarshalJSON(b []byte) error {
	d, err := Decode(b)
	if err != nil {
		return err
	}
	*f = *d
	return nil
}

// MarshalJSON writes PostHog's filters shape.
func (fs Filters) MarshalJSON() ([]byte, error) { return json.Marshal(fs.wire()) }

// UnmarshalJSON reads PostHog's filters shape as strictly as Decode does
// (payloads may be JSON strings); what depends on the whole flag (variant
// references, payload keys) is Validate's to check.
func (fs *Filters) UnmarshalJSON(b []byte) error {
	var d decoder
	out := d.filters("filters", b)
	if err := d.errs.err(); err != nil {
		return err
	}
	*fs = out
	return nil
}

func (fs Filters) wire() filtersJSON {
	w := filtersJSON{
		Groups:                    fs.Groups,
		Multivariate:              fs.Multivariate,
		Payloads:                  make(map[string]string, len(fs.Payloads)),
		AggregationGroupTypeIndex: fs.AggregationGroupTypeIndex,
	}
	if w.Groups == nil {
		w.Groups = []Condition{}
	}
	for k, v := range fs.Payloads {
		w.Payloads[k] = string(v)
	}
	return w
}

type conditionJSON Condition

// MarshalJSON writes properties as [] when there are none.
func (c Condition) MarshalJSON() ([]byte, error) {
	if c.Properties == nil {
		c.Properties = []Property{}
	}
	return json.Marshal(conditionJSON(c))
}

// MarshalJSON writes variants as [] when there are none.
func (m Multivariate) MarshalJSON() ([]byte, error) {
	type plain Multivariate
	if m.Variants == nil {
		m.Variants = []Variant{}
	}
	return json.Marshal(plain(m))
}

// VariantKeys lists the flag's variant keys in order.
func (f *Flag) VariantKeys() []string {
	if f.Filters.Multivariate == nil {
		return nil
	}
	keys := make([]string, len(f.Filters.Multivariate.Variants))
	for i, v := range f.Filters.Multivariate.Variants {
		keys[i] = v.Key
	}
	return keys
}

// FieldError is one thing wrong with a flag (or cohort) definition.
type FieldError struct {
	// Field is the path to the value, e.g. "filters.groups[1].properties[0].operator".
	Field string
	// Msg says what is wrong with it.
	Msg string
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.Msg
	}
	return e.Field + ": " + e.Msg
}

// Errors is every FieldError found in one definition; errors.As finds
// the first *FieldError in it.
type Errors []*FieldError

func (es Errors) Error() string {
	var b strings.Builder
	for i, e := range es {
		if i == 3 {
			b.WriteString("; …")
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// Unwrap lets errors.As and errors.Is see each FieldError.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// maxErrors bounds the errors one definition reports.
const maxErrors = 50

func (es *Errors) add(field, msg string) {
	if len(*es) < maxErrors {
		*es = append(*es, &FieldError{Field: field, Msg: msg})
	}
}

func (es Errors) err() error {
	if len(es) == 0 {
		return nil
	}
	return es
}
