package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/journey-dev/journey/internal/insight"
	"github.com/journey-dev/journey/internal/meta"
)

// Flag usage: the calls SDKs report with $feature_flag_called (posthog-js
// and the server SDKs send it when code reads a flag), per day and per
// value — PostHog's "usage" tab. It is a trend over the project's events,
// so it works on every event store.
func (s *Server) registerFlagUsage(mux *routeMux) {
	mux.HandleFunc("GET /api/v1/flags/{id}/usage", s.withProject(s.flagUsage))
	mux.HandleFunc("GET /ui/api/projects/{pid}/flags/{id}/usage", s.withUIProject(meta.RoleViewer,
		func(w http.ResponseWriter, r *http.Request, _ *uiUser, p meta.Project) { s.flagUsage(w, r, p) }))
}

// maxUsageDays bounds the usage range.
const maxUsageDays = 90

// flagUsageSpec is the trend behind a flag's usage: calls and persons per
// day, by the value the SDK reported.
func flagUsageSpec(key string, from, to time.Time) ([]byte, error) {
	calls := map[string]any{"event": insight.ExposureEvent, "filters": []map[string]any{{"property": "$feature_flag", "op": "eq", "value": key}}}
	persons := map[string]any{"math": "dau"}
	for k, v := range calls {
		persons[k] = v
	}
	calls["math"] = "total"
	calls["label"], persons["label"] = "calls", "persons"
	return json.Marshal(map[string]any{
		"kind": "trend", "interval": "day", "from": from, "to": to,
		"series":    []any{calls, persons},
		"breakdown": map[string]any{"property": "$feature_flag_response", "limit": 20},
	})
}

func (s *Server) flagUsage(w http.ResponseWriter, r *http.Request, p meta.Project) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		writeError(w, http.StatusNotFound, "no such flag")
		return
	}
	days := 30
	if v := r.URL.Query().Get("days"); v != "" {
		if days, err = strconv.Atoi(v); err != nil || days < 1 || days > maxUsageDays {
			writeBad(w, insight.Bad("days", "a whole number of days from 1 to %d", maxUsageDays))
			return
		}
	}
	f, err := s.Meta.Flag(r.Context(), p.ID, id)
	if errors.Is(err, meta.ErrNotFound) {
		writeError(w, http.StatusNotFound, "no such flag")
		return
	}
	if err != nil {
		metaError(w, "flag", err)
		return
	}
	tz := projectTZ(p)
	now := time.Now().In(tz)
	to := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, tz).AddDate(0, 0, 1)
	spec, err := flagUsageSpec(f.Key, to.AddDate(0, 0, -days), to)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "cannot build the usage query")
		return
	}
	res, err := s.runSpec(r.Context(), p, spec)
	if err != nil {
		specError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"flag_id": f.ID, "key": f.Key, "days": days, "usage": res})
}
