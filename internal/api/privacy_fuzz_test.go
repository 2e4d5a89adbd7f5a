package api

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/journey-dev/journey/internal/meta"
)

// FuzzRetentionBody: the retention body is outside input. Whatever it
// holds, decodeRetention never panics; what it accepts is in range and
// reads back the same from its own encoding; what it refuses names a
// field.
func FuzzRetentionBody(f *testing.F) {
	for _, seed := range []string{
		`{"retention_days":30}`, `{"retention_days":0}`, `{"retention_days":-1}`, `{"retention_days":36501}`,
		`{"retention_days":1e3}`, `{"retention_days":30.5}`, `{"retention":30}`, `{}`, `[]`, `null`, ``, `{"retention_days":"30"}`,
		`{"retention_days":30} {"retention_days":1}`, `{"retention_days":99999999999999999999}`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) {
		ret, field, err := decodeRetention(strings.NewReader(body))
		if err != nil {
			if field == "" {
				t.Fatalf("%q refused without a field: %v", body, err)
			}
			return
		}
		if ret.Days < 0 || ret.Days > meta.MaxRetentionDays {
			t.Fatalf("%q accepted out of range: %d", body, ret.Days)
		}
		raw, _ := json.Marshal(ret)
		again, _, err := decodeRetention(strings.NewReader(string(raw)))
		if err != nil || again != ret {
			t.Fatalf("%q: %s reads back as %+v, %v", body, raw, again, err)
		}
	})
}
