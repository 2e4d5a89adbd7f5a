package flags

import (
	"encoding/json"
	"strconv"
)

// FlagDetail is one flag of the /flags?v=2 answer's "flags" map, the
// shape posthog-js and the server SDKs read:
//
//	{"key","enabled","variant"|null,
//	 "reason":{"code","condition_index"|null,"description"},
//	 "metadata":{"id","version","description"|null,"payload"|null}}
type FlagDetail struct {
	Key      string         `json:"key"`
	Enabled  bool           `json:"enabled"`
	Variant  *string        `json:"variant"`
	Reason   DetailReason   `json:"reason"`
	Metadata DetailMetadata `json:"metadata"`
}

// DetailReason is why the flag has its value.
type DetailReason struct {
	Code           string `json:"code"`
	ConditionIndex *int   `json:"condition_index"`
	Description    string `json:"description"`
}

// DetailMetadata identifies the flag version and carries the payload, a
// JSON string holding JSON as PostHog sends it.
type DetailMetadata struct {
	ID          int64   `json:"id"`
	Version     int64   `json:"version"`
	Description *string `json:"description"`
	Payload     *string `json:"payload"`
}

// Detail is r in the /flags?v=2 shape.
func Detail(r Result) FlagDetail {
	d := FlagDetail{
		Key:      r.Key,
		Enabled:  r.Enabled,
		Reason:   DetailReason{Code: string(r.Reason), Description: r.Reason.Description(r.ConditionIndex)},
		Metadata: DetailMetadata{ID: r.ID, Version: r.Version},
	}
	if r.Enabled && r.Variant != "" {
		v := r.Variant
		d.Variant = &v
	}
	if r.ConditionIndex >= 0 {
		i := r.ConditionIndex
		d.Reason.ConditionIndex = &i
	}
	if r.Enabled && r.Payload != nil {
		p := string(r.Payload)
		d.Metadata.Payload = &p
	}
	return d
}

// Details is the /flags?v=2 "flags" map of the results.
func Details(rs []Result) map[string]FlagDetail {
	out := make(map[string]FlagDetail, len(rs))
	for _, r := range rs {
		out[r.Key] = Detail(r)
	}
	return out
}

// Legacy is the /decide (and /flags without v=2) pair: featureFlags maps
// each key to its value (the variant, or true/false); featureFlagPayloads
// maps each enabled flag that has a payload to it, a JSON string.
func Legacy(rs []Result) (featureFlags map[string]any, featureFlagPayloads map[string]string) {
	featureFlags = make(map[string]any, len(rs))
	featureFlagPayloads = map[string]string{}
	for _, r := range rs {
		featureFlags[r.Key] = r.Value()
		if r.Enabled && r.Payload != nil {
			featureFlagPayloads[r.Key] = string(r.Payload)
		}
	}
	return featureFlags, featureFlagPayloads
}

// Errored reports whether any result could not be fully computed (the
// answer's errorsWhileComputingFlags).
func Errored(rs []Result) bool {
	for _, r := range rs {
		if r.Err != nil {
			return true
		}
	}
	return false
}

// Definitions is the local-evaluation answer server SDKs poll
// (/flags/definitions, /api/feature_flag/local_evaluation): flags in
// PostHog's shape, the group type mapping ({"0":"company"}) and cohort
// definitions ({"<id>":{"type","values"}}).
type Definitions struct {
	Flags            []*Flag                    `json:"flags"`
	GroupTypeMapping map[string]string          `json:"group_type_mapping"`
	Cohorts          map[string]json.RawMessage `json:"cohorts"`
}

// NewDefinitions builds the local-evaluation answer; nil maps become {}.
func NewDefinitions(flags []*Flag, groupTypes map[int]string, cohorts map[string]json.RawMessage) Definitions {
	d := Definitions{Flags: flags, GroupTypeMapping: make(map[string]string, len(groupTypes)), Cohorts: cohorts}
	if d.Flags == nil {
		d.Flags = []*Flag{}
	}
	for i, name := range groupTypes {
		d.GroupTypeMapping[strconv.Itoa(i)] = name
	}
	if d.Cohorts == nil {
		d.Cohorts = map[string]json.RawMessage{}
	}
	return d
}
