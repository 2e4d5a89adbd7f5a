package capture

import (
	"encoding/json"
	"net/http"
	"net/netip"
	"strings"
	"time"
)

// Segment's CDN settings: analytics-next (AnalyticsBrowser.load with
// cdnURL) fetches <cdnURL>/v1/projects/<writeKey>/settings before anything
// else and takes the write key and the API host from the "Segment.io"
// integration. Journey answers as Segment's CDN does, pointing that
// integration at itself and stating that there is nothing else to load:
// no destinations, tracking plan rules, middleware, remote plugins or video
// plugins (each of those would make analytics-next fetch more scripts from
// the CDN), and no metrics: with a sampleRate above 0, analytics-next sends
// its own counters to api.segment.io.

// settingsPrefix is the Segment settings route, mounted as a prefix.
const settingsPrefix = "/v1/projects"

// settingsMaxAge lets browsers reuse the settings for a minute, as Segment's
// CDN does; a new write key or host shows within that.
const settingsMaxAge = "public, max-age=60"

// settingsWriteKey returns the write key of a /v1/projects/{key}/settings
// path (without trailing slash).
func settingsWriteKey(path string) (string, bool) {
	rest, ok := strings.CutPrefix(path, settingsPrefix+"/")
	if !ok {
		return "", false
	}
	key, ok := strings.CutSuffix(rest, "/settings")
	if !ok || key == "" || strings.Contains(key, "/") {
		return "", false
	}
	return key, true
}

// serveSegmentSettings answers the settings of a known write key, 404 for
// any other; CORS headers are already set.
func (h *handler) serveSegmentSettings(w http.ResponseWriter, r *http.Request, writeKey string) {
	switch r.Method {
	case http.MethodOptions:
		w.WriteHeader(http.StatusNoContent)
		return
	case http.MethodGet, http.MethodHead:
	default:
		w.Header().Set("Allow", "GET, HEAD, OPTIONS")
		writeJSON(w, http.StatusMethodNotAllowed, response{Error: "method " + r.Method + " not allowed"})
		return
	}
	_, ok, err := h.projects.ProjectByToken(r.Context(), writeKey)
	if err != nil {
		retryLater(w, time.Second, "cannot look up write key: temporarily unavailable")
		return
	}
	if !ok {
		writeJSON(w, http.StatusNotFound, response{Error: "unknown write key"})
		return
	}
	scheme, host := publicOrigin(r, h.trusted)
	body, _ := json.Marshal(newSegmentSettings(writeKey, scheme, host)) // strings and fixed values only
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", settingsMaxAge)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

type segmentSettings struct {
	Integrations              map[string]segmentIOSettings `json:"integrations"`
	Plan                      json.RawMessage              `json:"plan"`
	EdgeFunction              struct{}                     `json:"edgeFunction"`
	AnalyticsNextEnabled      bool                         `json:"analyticsNextEnabled"`
	MiddlewareSettings        struct{}                     `json:"middlewareSettings"`
	EnabledMiddleware         struct{}                     `json:"enabledMiddleware"`
	Metrics                   segmentMetrics               `json:"metrics"`
	LegacyVideoPluginsEnabled bool                         `json:"legacyVideoPluginsEnabled"`
	RemotePlugins             []struct{}                   `json:"remotePlugins"`
}

type segmentIOSettings struct {
	APIKey                string              `json:"apiKey"`
	APIHost               string              `json:"apiHost"`
	Protocol              string              `json:"protocol"`
	AddBundledMetadata    bool                `json:"addBundledMetadata"`
	UnbundledIntegrations []string            `json:"unbundledIntegrations"`
	MaybeBundledConfigIDs map[string][]string `json:"maybeBundledConfigIds"`
}

type segmentMetrics struct {
	SampleRate float64 `json:"sampleRate"`
}

// allEnabledPlan is Segment's plan for a source without a tracking plan.
var allEnabledPlan = json.RawMessage(`{"track":{"__default":{"enabled":true,"integrations":{}}},` +
	`"identify":{"__default":{"enabled":true}},"group":{"__default":{"enabled":true}}}`)

func newSegmentSettings(writeKey, scheme, host string) segmentSettings {
	return segmentSettings{
		Integrations: map[string]segmentIOSettings{"Segment.io": {
			APIKey: writeKey, APIHost: host + "/v1", Protocol: scheme,
			AddBundledMetadata: true, UnbundledIntegrations: []string{}, MaybeBundledConfigIDs: map[string][]string{},
		}},
		Plan:                 allEnabledPlan,
		AnalyticsNextEnabled: true,
		RemotePlugins:        []struct{}{},
	}
}

// publicOrigin is the scheme and host the browser reached Journey at: the
// request's own, or what a trusted proxy forwarded (X-Forwarded-Proto and
// X-Forwarded-Host); anyone else could make the settings point elsewhere.
func publicOrigin(r *http.Request, trusted []netip.Prefix) (scheme, host string) {
	scheme, host = "http", r.Host
	if r.TLS != nil {
		scheme = "https"
	}
	if !peerTrusted(r.RemoteAddr, trusted) {
		return scheme, host
	}
	if p := strings.ToLower(firstForwarded(r.Header.Get("X-Forwarded-Proto"))); p == "http" || p == "https" {
		scheme = p
	}
	if h := firstForwarded(r.Header.Get("X-Forwarded-Host")); validHost(h) {
		host = h
	}
	return scheme, host
}

func peerTrusted(remoteAddr string, trusted []netip.Prefix) bool {
	ap, err := netip.ParseAddrPort(remoteAddr)
	if err != nil {
		return false
	}
	for _, p := range trusted {
		if p.Contains(ap.Addr().Unmap()) {
			return true
		}
	}
	return false
}

// firstForwarded is the first entry of a forwarded list: the one the
// outermost proxy, the one the browser talked to, set.
func firstForwarded(v string) string {
	first, _, _ := strings.Cut(v, ",")
	return strings.TrimSpace(first)
}

// validHost accepts a host[:port] of DNS names or IP literals only, so a
// forwarded value cannot smuggle a path or a second URL into apiHost.
func validHost(h string) bool {
	if h == "" || len(h) > 255 {
		return false
	}
	for _, c := range h {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.ContainsRune(".-_:[]", c):
		default:
			return false
		}
	}
	return true
}
