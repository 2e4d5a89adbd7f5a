package websdk

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"github.com/journey-dev/journey/internal/meta"
)

// remoteConfig is what posthog-js reads from /array/{token}/config(.js)
// (RemoteConfig in posthog-js): each module takes its field only when the
// key is present, so every field is always sent.
type remoteConfig struct {
	Token string `json:"token"`
	// gzip-js makes posthog-js gzip its bodies (sent as text/plain, which
	// capture recognises by the magic bytes); it picks gzip-js over base64.
	SupportedCompression []string `json:"supportedCompression"`
	// false (the project has no flags): posthog-js skips /flags at
	// start-up; it still asks after identify, and /flags answers.
	HasFeatureFlags bool `json:"hasFeatureFlags"`
	// Autocapture stays off until this is a boolean.
	AutocaptureOptOut     bool           `json:"autocapture_opt_out"`
	CaptureDeadClicks     bool           `json:"captureDeadClicks"`
	CapturePerformance    any            `json:"capturePerformance"` // false or performanceConfig
	AutocaptureExceptions bool           `json:"autocaptureExceptions"`
	ErrorTracking         errorTracking  `json:"errorTracking"`
	Heatmaps              bool           `json:"heatmaps"`
	ElementsChainAsString bool           `json:"elementsChainAsString"` // $elements_chain as PostHog stores it
	SessionRecording      bool           `json:"sessionRecording"`      // always false: no replay in Journey
	Surveys               bool           `json:"surveys"`               // whether the project has an active survey
	ProductTours          bool           `json:"productTours"`
	Conversations         bool           `json:"conversations"`
	SiteApps              []any          `json:"siteApps"`
	ToolbarParams         map[string]any `json:"toolbarParams"`
	IsAuthenticated       bool           `json:"isAuthenticated"`
}

type performanceConfig struct {
	NetworkTiming bool `json:"network_timing"`
	WebVitals     bool `json:"web_vitals"`
	// null: posthog-js's default metrics (LCP, CLS, FCP, INP).
	WebVitalsAllowedMetrics []string `json:"web_vitals_allowed_metrics"`
}

type errorTracking struct {
	AutocaptureExceptions bool  `json:"autocaptureExceptions"`
	SuppressionRules      []any `json:"suppressionRules"`
}

func buildConfig(token string, s meta.SDKSettings) remoteConfig {
	var perf any = false
	if s.CapturePerformance {
		perf = performanceConfig{NetworkTiming: true, WebVitals: true}
	}
	return remoteConfig{
		Token:                 token,
		SupportedCompression:  []string{"gzip", "gzip-js"},
		AutocaptureOptOut:     !s.Autocapture,
		CaptureDeadClicks:     s.DeadClicks,
		CapturePerformance:    perf,
		AutocaptureExceptions: s.Exceptions,
		ErrorTracking:         errorTracking{AutocaptureExceptions: s.Exceptions, SuppressionRules: []any{}},
		Heatmaps:              s.Heatmaps,
		ElementsChainAsString: true,
		SiteApps:              []any{},
		ToolbarParams:         map[string]any{},
	}
}

// configScript is config.js: it sets window._POSTHOG_REMOTE_CONFIG[token],
// which posthog-js reads once the script has loaded. json.Marshal escapes
// <, > and &, so the values cannot end the script early.
func configScript(token string, c remoteConfig) []byte {
	cfg, _ := json.Marshal(c) // plain strings, bools and slices: cannot fail
	tok, _ := json.Marshal(token)
	b := []byte("(function() {\n  window._POSTHOG_REMOTE_CONFIG = window._POSTHOG_REMOTE_CONFIG || {};\n  window._POSTHOG_REMOTE_CONFIG[")
	b = append(b, tok...)
	b = append(b, "] = {\n    config: "...)
	b = append(b, cfg...)
	b = append(b, ",\n    siteApps: []\n  };\n})();\n"...)
	return b
}

// configCache: settings changes reach browsers within a minute.
const configCache = "public, max-age=60"

func (h *Handler) configJS(w http.ResponseWriter, r *http.Request) {
	if !allowMethods(w, r, http.MethodGet, http.MethodHead) {
		return
	}
	token := r.PathValue("token")
	c, ok := h.remoteConfig(w, r, token, func() {
		writeScript(w, http.StatusNotFound, "no-store", []byte("/* Journey: unknown project token */\n"))
	})
	if !ok {
		return
	}
	writeScript(w, http.StatusOK, configCache, configScript(token, c))
}

func (h *Handler) configJSON(w http.ResponseWriter, r *http.Request) {
	if !allowMethods(w, r, http.MethodGet, http.MethodHead) {
		return
	}
	c, ok := h.remoteConfig(w, r, r.PathValue("token"), func() {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "unknown project token"})
	})
	if !ok {
		return
	}
	w.Header().Set("Cache-Control", configCache)
	writeJSON(w, http.StatusOK, c)
}

// arrayWithConfig is /array/{token}/array.js, the newer PostHog snippet's
// single request: the remote config script followed by array.js.
func (h *Handler) arrayWithConfig(w http.ResponseWriter, r *http.Request) {
	if !allowMethods(w, r, http.MethodGet, http.MethodHead) {
		return
	}
	token := r.PathValue("token")
	c, ok := h.remoteConfig(w, r, token, func() {
		writeScript(w, http.StatusNotFound, "no-store", []byte("/* Journey: unknown project token */\n"))
	})
	if !ok {
		return
	}
	body := append(configScript(token, c), asset("array.js").body...)
	writeScript(w, http.StatusOK, configCache, body)
}

func (h *Handler) remoteConfig(w http.ResponseWriter, r *http.Request, token string, notFound func()) (remoteConfig, bool) {
	id, ok := h.project(w, r, token, notFound)
	if !ok {
		return remoteConfig{}, false
	}
	s, ok := h.sdkSettings(w, r, id)
	if !ok {
		return remoteConfig{}, false
	}
	c := buildConfig(token, s)
	c.HasFeatureFlags = h.hasFlags(r.Context(), id)
	c.Surveys = h.surveys.active(r.Context(), id)
	return c, true
}

// hasFlags reports whether the project has flags (true when they cannot
// be read: posthog-js then asks /flags, which answers what it can).
func (h *Handler) hasFlags(ctx context.Context, projectID int64) bool {
	n, err := h.svc.Count(ctx, projectID)
	return err != nil || n > 0
}

func writeScript(w http.ResponseWriter, status int, cache string, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/javascript; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", cache)
	w.WriteHeader(status)
	if status != http.StatusNotModified {
		w.Write(body)
	}
}

// Settings are cached briefly: config and flags are asked for on every
// page view, and a change in Settings should still show within seconds.
const (
	settingsTTL       = 5 * time.Second
	maxCachedSettings = 10_000
)

// settingsCache keeps each project's SDK settings for ttl. Only resolved
// tokens reach it, so it holds at most one entry per project; max bounds
// it anyway (past it, entries are swept, then a new one is not cached).
type settingsCache struct {
	meta meta.Store
	ttl  time.Duration
	max  int
	now  func() time.Time

	mu      sync.Mutex
	entries map[int64]cachedSettings
}

type cachedSettings struct {
	s       meta.SDKSettings
	expires time.Time
}

func newSettingsCache(m meta.Store, ttl time.Duration, max int) *settingsCache {
	return &settingsCache{meta: m, ttl: ttl, max: max, now: time.Now, entries: map[int64]cachedSettings{}}
}

func (c *settingsCache) get(ctx context.Context, projectID int64) (meta.SDKSettings, error) {
	now := c.now()
	c.mu.Lock()
	e, hit := c.entries[projectID]
	c.mu.Unlock()
	if hit && now.Before(e.expires) {
		return e.s, nil
	}
	s, err := meta.LoadSDKSettings(ctx, c.meta, projectID)
	if err != nil {
		if hit {
			return e.s, nil // stale beats failing every page view while the store is away
		}
		return s, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= c.max {
		for id, old := range c.entries {
			if !now.Before(old.expires) {
				delete(c.entries, id)
			}
		}
	}
	if len(c.entries) < c.max || hit {
		c.entries[projectID] = cachedSettings{s: s, expires: now.Add(c.ttl)}
	}
	return s, nil
}
