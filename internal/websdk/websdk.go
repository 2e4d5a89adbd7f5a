// Package websdk serves what SDKs fetch from Journey besides capture: the
// posthog-js bundles (vendored from npm by scripts/vendor-sdk.sh and
// embedded), posthog-js's remote config, feature flags for PostHog's
// clients (/flags, /decide), their local-evaluation definitions for
// server SDKs (/flags/definitions, /api/feature_flag/local_evaluation)
// and OpenFeature's remote evaluation protocol (/ofrep/v1/…), each
// evaluated by internal/flagserve. Every route a browser calls answers
// CORS, preflights and errors included, because a page on any site calls
// them; the routes that take a secret key (the local-evaluation
// definitions) answer none, as only server SDKs call them.
//
// The flag routes bound what a client can make the server do: a body is
// at most 256 KiB (decompressed too), its ids at most 200 characters and
// its properties at most 1000 per object, keys of 1000 bytes and values
// of 64 KiB (400 past them, naming the field); a client (ClientLimits) is
// allowed 100 requests a second and 4 bodies decoding at once, of 32
// server-wide; and an unknown project token is refused before the body
// is decoded, when the token can be read without decoding it.
package websdk

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/journey-dev/journey/internal/flagserve"
	"github.com/journey-dev/journey/internal/meta"
)

// Projects resolves a public project token to a project id (the capture
// token cache does, so that SDK routes stay off the metadata store too).
type Projects interface {
	ProjectByToken(ctx context.Context, token string) (id int64, ok bool, err error)
}

// Handler serves every route of Routes.
type Handler struct {
	projects Projects
	settings *settingsCache
	surveys  *surveysCache // surveys.go
	secrets  *secretCache
	keys     meta.Store // personalkeys.go: personal API keys
	keyUses  meta.KeyUses
	svc      *flagserve.Service
	mux      *http.ServeMux
	now      func() time.Time

	trusted []netip.Prefix
	limits  ClientLimits
	rate    *flagserve.ClientLimiter
	decodes *decodeSlots
}

// Option configures a Handler.
type Option func(*Handler)

// WithFlags evaluates flags with svc (by default, a flagserve.Service over
// the metadata store alone: no stored person properties).
func WithFlags(svc *flagserve.Service) Option { return func(h *Handler) { h.svc = svc } }

// Routes are the mux patterns to mount the handler on.
var Routes = routes()

func routes() []string {
	r := []string{
		"/array/{token}/config.js", "/array/{token}/config", "/array/{token}/array.js",
		"/flags", "/flags/{$}", "/decide", "/decide/{$}",
		"/flags/definitions", "/api/feature_flag/local_evaluation", "/api/feature_flag/local_evaluation/{$}",
		"/ofrep/v1/evaluate/flags", "/ofrep/v1/evaluate/flags/{key}",
	}
	for _, name := range assetNames() {
		r = append(r, assetPaths(name)...)
	}
	return r
}

// NewHandler serves the SDK routes of the projects p resolves, with the
// SDK settings read from m (cached for a few seconds) and secret keys
// resolved by m (cached too).
func NewHandler(p Projects, m meta.Store, opts ...Option) *Handler {
	h := &Handler{projects: p, settings: newSettingsCache(m, settingsTTL, maxCachedSettings), surveys: newSurveysCache(m, settingsTTL, maxCachedSettings),
		secrets: newSecretCache(m), keys: m, now: time.Now}
	for _, o := range opts {
		o(h)
	}
	h.newLimits()
	if h.svc == nil {
		h.svc = flagserve.New(m, nil, flagserve.Options{})
	}
	h.mux = http.NewServeMux()
	for _, name := range assetNames() {
		a := asset(name)
		for i, path := range assetPaths(name) {
			h.mux.HandleFunc(path, serveAsset(a, i == 1)) // [1] is the exact-version path
		}
	}
	h.mux.HandleFunc("/array/{token}/config.js", h.configJS)
	h.mux.HandleFunc("/array/{token}/config", h.configJSON)
	h.mux.HandleFunc("/array/{token}/array.js", h.arrayWithConfig)
	for _, path := range []string{"/flags", "/flags/{$}", "/decide", "/decide/{$}"} {
		h.mux.HandleFunc(path, h.flags)
	}
	for _, path := range []string{"/flags/definitions", "/api/feature_flag/local_evaluation", "/api/feature_flag/local_evaluation/{$}"} {
		h.mux.HandleFunc(path, h.definitions)
	}
	h.mux.HandleFunc("/ofrep/v1/evaluate/flags", h.ofrepBulk)
	h.mux.HandleFunc("/ofrep/v1/evaluate/flags/{key}", h.ofrepFlag)
	return h
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case strings.HasPrefix(r.URL.Path, "/static/"):
		setAssetCORS(w.Header())
	case secretRoute(r.URL.Path):
		// Server SDKs need no CORS; a page must not read these.
	default:
		SetCORS(w.Header(), r)
	}
	h.mux.ServeHTTP(w, r)
}

// secretRoute: the routes that take a secret key only.
func secretRoute(path string) bool {
	switch strings.TrimSuffix(path, "/") {
	case "/flags/definitions", "/api/feature_flag/local_evaluation":
		return true
	}
	return false
}

// project resolves the token of the path; it answers the failure itself
// (notFound for an unknown token) and reports whether to go on.
func (h *Handler) project(w http.ResponseWriter, r *http.Request, token string, notFound func()) (int64, bool) {
	if token == "" {
		notFound()
		return 0, false
	}
	id, ok, err := h.projects.ProjectByToken(r.Context(), token)
	if err != nil {
		// Project tokens are public, so the path (and an error quoting it) may be logged.
		slog.Warn("cannot look up project token for an SDK route", "path", r.URL.Path, "err", err)
		unavailable(w)
		return 0, false
	}
	if !ok {
		notFound()
		return 0, false
	}
	return id, true
}

// sdkSettings reads a project's settings through the cache; it answers
// 503 itself when they cannot be read.
func (h *Handler) sdkSettings(w http.ResponseWriter, r *http.Request, projectID int64) (meta.SDKSettings, bool) {
	s, err := h.settings.get(r.Context(), projectID)
	if err != nil {
		slog.Warn("cannot read SDK settings", "project", projectID, "err", err)
		unavailable(w)
		return s, false
	}
	return s, true
}

func unavailable(w http.ResponseWriter) {
	w.Header().Set("Retry-After", "1")
	writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "temporarily unavailable, retry later"})
}
