package api

import (
	"log/slog"
	"net/http"
	"strconv"

	"github.com/journey-dev/journey/internal/api/openapi"
)

// registerOpenAPI serves the API's OpenAPI 3.1 document (issue 17 item 2;
// internal/api/openapi builds it from routes.txt and components.json).
func (s *Server) registerOpenAPI(mux *routeMux) {
	mux.HandleFunc("GET "+apiBase+"/openapi.json", func(w http.ResponseWriter, r *http.Request) {
		doc, err := openapi.Document()
		if err != nil {
			slog.Error("cannot build the OpenAPI document", "err", err)
			writeError(w, http.StatusInternalServerError, "cannot build the OpenAPI document")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=300")
		w.Header().Set("Content-Length", strconv.Itoa(len(doc)))
		_, _ = w.Write(doc)
	})
}
