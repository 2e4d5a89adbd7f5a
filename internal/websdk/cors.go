package websdk

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// SetCORS lets pages on any site call the SDK routes, as PostHog's public
// endpoints do (the project token in the page is public anyway): the
// origin is echoed with credentials allowed, because posthog-js may send
// cookies to a first-party api host. It matches capture's headers.
func SetCORS(h http.Header, r *http.Request) {
	origin := r.Header.Get("Origin")
	if origin == "" {
		origin = "*"
	}
	h.Set("Access-Control-Allow-Origin", origin)
	h.Add("Vary", "Origin")
	h.Set("Access-Control-Allow-Credentials", "true")
	h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
	allow := r.Header.Get("Access-Control-Request-Headers")
	if allow == "" {
		allow = "Content-Type, Content-Encoding, Authorization, X-Requested-With"
	}
	h.Set("Access-Control-Allow-Headers", allow)
	if r.Method == http.MethodOptions {
		h.Set("Access-Control-Max-Age", "86400")
	}
}

// setAssetCORS is for the public bundles: "*" keeps one cached copy for
// every site (no Vary: Origin), and the loader fetches them without
// credentials (crossorigin="anonymous").
func setAssetCORS(h http.Header) {
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS")
	h.Set("Access-Control-Max-Age", "86400")
	// A page that isolates itself (COEP) may still load them.
	h.Set("Cross-Origin-Resource-Policy", "cross-origin")
}

// allowMethods answers preflights (204) and other methods than those
// given (405) itself; it reports whether the request should be served.
func allowMethods(w http.ResponseWriter, r *http.Request, methods ...string) bool {
	if r.Method == http.MethodOptions {
		w.WriteHeader(http.StatusNoContent)
		return false
	}
	for _, m := range methods {
		if r.Method == m {
			return true
		}
	}
	allow := ""
	for _, m := range methods {
		allow += m + ", "
	}
	w.Header().Set("Allow", allow+"OPTIONS")
	writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "method " + r.Method + " not allowed"})
	return false
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"cannot encode the answer"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	if w.Header().Get("Cache-Control") == "" {
		w.Header().Set("Cache-Control", "no-store")
	}
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
