package websdk

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/journey-dev/journey/internal/capture"
)

// SetCORS is capture's CORS for the SDK routes: pages on any site may
// call them, with the origin echoed and credentials allowed (posthog-js may
// send cookies to a first-party api host).
func SetCORS(h http.Header, r *http.Request) { capture.SetCORS(h, r) }

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
	writeJSONBytes(w, status, b)
}

// writeJSONBytes is writeJSON of an encoded answer b.
func writeJSONBytes(w http.ResponseWriter, status int, b []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	if w.Header().Get("Cache-Control") == "" {
		w.Header().Set("Cache-Control", "no-store")
	}
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
