package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"

	"github.com/journey-dev/journey/internal/insight"
	"github.com/journey-dev/journey/internal/meta"
)

// percentSetting is a project setting holding {"percent": 0..max}: the
// experiments' holdout and the campaigns' control group.
type percentSetting struct {
	key, what string
	max       float64
}

// read is the stored percent (0 when unset).
func (ps percentSetting) read(ctx context.Context, m meta.Store, projectID int64) (float64, error) {
	raw, err := m.Setting(ctx, projectID, ps.key)
	if errors.Is(err, meta.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	var v struct {
		Percent float64 `json:"percent"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return 0, fmt.Errorf("cannot decode the %s setting: %w", ps.what, err)
	}
	return v.Percent, nil
}

// get answers {"percent"}.
func (ps percentSetting) get(w http.ResponseWriter, r *http.Request, m meta.Store, p meta.Project) {
	pct, err := ps.read(r.Context(), m, p.ID)
	if err != nil {
		metaError(w, ps.what, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"percent": pct})
}

// put stores the body's {"percent"}, calls changed (if any) and answers
// the stored percent.
func (ps percentSetting) put(w http.ResponseWriter, r *http.Request, m meta.Store, p meta.Project, changed func()) {
	raw, ok := readExperimentBody(w, r)
	if !ok {
		return
	}
	var b struct {
		Percent *float64 `json:"percent"`
	}
	if err := decodeExperimentBody(raw, &b); err != nil {
		writeBad(w, err)
		return
	}
	switch {
	case b.Percent == nil:
		writeBad(w, insight.Bad("percent", "missing"))
		return
	case math.IsNaN(*b.Percent) || *b.Percent < 0 || *b.Percent > ps.max:
		writeBad(w, insight.Bad("percent", "must be 0..%g", ps.max))
		return
	}
	out, _ := json.Marshal(map[string]float64{"percent": *b.Percent})
	if err := m.SetSetting(r.Context(), p.ID, ps.key, out); err != nil {
		metaError(w, ps.what, err)
		return
	}
	if changed != nil {
		changed()
	}
	writeJSON(w, http.StatusOK, map[string]any{"percent": *b.Percent})
}
