package flagserve

import (
	"encoding/json"
	"fmt"

	"github.com/journey-dev/journey/internal/flags"
	"github.com/journey-dev/journey/internal/meta"
)

// definition is what meta.Flag.Definition holds: the parts of PostHog's
// flag JSON that have no column of their own (key, name, active and
// version are columns).
type definition struct {
	Filters                    flags.Filters `json:"filters"`
	EnsureExperienceContinuity bool          `json:"ensure_experience_continuity"`
}

// Definition is the meta.Flag.Definition of f.
func Definition(f *flags.Flag) json.RawMessage {
	b, err := json.Marshal(definition{Filters: f.Filters, EnsureExperienceContinuity: f.EnsureExperienceContinuity})
	if err != nil {
		// A validated flag always encodes (payloads are valid JSON).
		panic(fmt.Sprintf("flagserve: cannot encode flag %q: %v", f.Key, err))
	}
	return b
}

// FromMeta is the stored flag in PostHog's model: the columns, and the
// definition's filters and experience continuity. It is validated, as
// what the API stored always is.
func FromMeta(m meta.Flag) (*flags.Flag, error) {
	f, err := decodeMeta(m)
	if err != nil {
		return nil, fmt.Errorf("flag %d (%q): %w", m.ID, m.Key, err)
	}
	if err := flags.Validate(f); err != nil {
		return nil, fmt.Errorf("flag %d (%q): %w", m.ID, m.Key, err)
	}
	return f, nil
}

// decodeMeta is FromMeta without the validation, for a caller that
// compiles the flag next (which validates it).
func decodeMeta(m meta.Flag) (*flags.Flag, error) {
	var d definition
	if len(m.Definition) > 0 {
		if err := json.Unmarshal(m.Definition, &d); err != nil {
			return nil, fmt.Errorf("cannot decode its definition: %w", err)
		}
	}
	return &flags.Flag{
		ID: m.ID, Key: m.Key, Name: m.Name, Active: m.Active, Version: int64(m.Version),
		Filters: d.Filters, EnsureExperienceContinuity: d.EnsureExperienceContinuity,
	}, nil
}
