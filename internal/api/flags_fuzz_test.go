package api

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/journey-dev/journey/internal/flags"
	"github.com/journey-dev/journey/internal/flagserve"
	"github.com/journey-dev/journey/internal/meta"
)

// FuzzDecodeFlagBody: whatever POST /api/v1/flags is sent, the decoder
// answers a flag whose stored definition reads back as the same flag, or
// field errors; it never panics.
func FuzzDecodeFlagBody(f *testing.F) {
	for _, seed := range []string{
		betaFlag,
		`{"key":"b","filters":{"groups":[{"rollout_percentage":100}]}}`,
		`{"key":"g","filters":{"aggregation_group_type_index":0,"groups":[{"properties":[{"key":"mrr","value":100,"operator":"gt","type":"group","group_type_index":0}]}]}}`,
		`{"key":"d","filters":{"groups":[{"properties":[{"key":"signup","value":"-7d","operator":"is_date_after"},{"key":"v","value":"^1.2","operator":"semver_caret"}]}]}}`,
		`{"key":"dep","filters":{"groups":[{"properties":[{"key":"beta","type":"flag","value":"test","operator":"flag_evaluates_to"}]}]}}`,
		`{"key":"c","ensure_experience_continuity":true,"filters":{"groups":[{"properties":[{"key":"id","type":"cohort","value":3,"negation":true}]}],"payloads":{"true":{"a":[1,2]}}}}`,
		`{"key":"x","filters":{"super_groups":[{}]}}`,
		`{"key":"\u00e9"}`, `{}`, `null`, `[]`, `{"key":"k","filters":{"groups":[{"properties":[{"key":"a","value":[1,"2",null,true],"operator":"exact"}]}]}}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		fl, err := DecodeFlagBody(body)
		if err != nil {
			var fe *flags.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v (%T) names no field", err, err)
			}
			return
		}
		def := flagserve.Definition(fl)
		back, err := flagserve.FromMeta(meta.Flag{ID: 1, Key: fl.Key, Name: fl.Name, Active: fl.Active, Version: 1, Definition: def})
		if err != nil {
			t.Fatalf("stored definition %s does not read back: %v", def, err)
		}
		a, _ := json.Marshal(back.Filters)
		b, _ := json.Marshal(fl.Filters)
		if string(a) != string(b) || back.EnsureExperienceContinuity != fl.EnsureExperienceContinuity {
			t.Fatalf("round trip changed the filters:\n%s\n%s", b, a)
		}
	})
}

// FuzzDecodeFlagPatch: a PATCH body is an object of fields and an
// optional positive version, or a field error.
func FuzzDecodeFlagPatch(f *testing.F) {
	for _, seed := range []string{`{"name":"n"}`, `{"version":3,"active":false}`, `{"version":null}`, `{"version":"2"}`,
		`{"id":1}`, `{"filters":{"groups":[]}}`, `[]`, `"x"`, `{"version":1e3}`, `{"version":-1}`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		patch, version, err := DecodeFlagPatch(body)
		if err != nil {
			var fe *flags.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v names no field", err)
			}
			return
		}
		if version < 0 || patch == nil {
			t.Fatalf("version %d, patch %v", version, patch)
		}
		if _, ok := patch["version"]; ok {
			t.Fatal("version left in the patch")
		}
	})
}
