package api

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/journey-dev/journey/internal/insight"
)

// FuzzExperimentBody: an experiments API body either fails naming a field
// or gives a definition that validates again after a round trip through
// its stored JSON (what the archive and results read back).
func FuzzExperimentBody(f *testing.F) {
	f.Add([]byte(`{"name":"New checkout","hypothesis":"h","stage":"conversion","flag_key":"new-checkout",
		"variants":[{"key":"control","weight":0.5},{"key":"test","weight":0.5}],
		"metrics":{"primary":[{"kind":"conversion","event":"order_completed","window":"7d"}],"guardrail":[{"kind":"count","event":"$exception"}]},
		"method":"bayesian","alpha":0.1,"correction":"bh","cuped":{"enabled":true,"pre_days":7},"layer":{"id":1,"from":0,"to":0.5}}`))
	f.Add([]byte(`{"name":"x","flag_key":"f","metrics":{"primary":[{"kind":"ratio","numerator":{"kind":"sum","event":"p","property":"v"},"denominator":{"kind":"count","event":"q"}}]}}`))
	f.Add([]byte(`{"name":"x","flag_key":"f","variants":[{"key":"a","weight":-1}],"metrics":{}}`))
	f.Add([]byte(`{"name":1}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var b experimentBody
		err := decodeExperimentBody(body, &b)
		if err == nil {
			err = b.checkTexts()
		}
		var d any
		if err == nil {
			d, err = b.definition()
		}
		if err != nil {
			var e *insight.Error
			if !errors.As(err, &e) || e.Field == "" {
				t.Fatalf("error without a field: %v", err)
			}
			return
		}
		stored, err := json.Marshal(d)
		if err != nil {
			t.Fatalf("cannot encode a valid definition: %v", err)
		}
		back, err := decodeDefinition(stored)
		if err != nil {
			t.Fatalf("stored definition does not decode: %v\n%s", err, stored)
		}
		if err := back.Validate(); err != nil {
			t.Fatalf("stored definition does not validate: %v\n%s", err, stored)
		}
	})
}
