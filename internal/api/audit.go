package api

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/journey-dev/journey/internal/meta"
)

// The audit log (issue 17 item 2) is written in one place: routeMux wraps
// every route that changes something in audited, which records the route,
// who called it (set by the authentication wrappers: withProject,
// withUIProject, withUser, admin), the project, the id acted on and the
// status answered. Refusals before anyone is authenticated (401) are not
// recorded: nobody did anything; a 403 of a known user or key is.

type auditCtxKey struct{}

// auditActor is filled in by whichever wrapper authenticates the request.
type auditActor struct {
	projectID int64
	actor     string
	name      string
}

// setActor names the caller of an audited request (a no-op elsewhere).
func setActor(r *http.Request, projectID int64, actor, name string) {
	if a, ok := r.Context().Value(auditCtxKey{}).(*auditActor); ok {
		a.projectID, a.actor, a.name = projectID, actor, name
	}
}

// readLike are the endpoints of mutating methods that change nothing: a
// query, a preview or a computation sent by POST (and the session's own
// login and logout, audited by nobody).
var readLike = []string{"/query", "/preview", "/run", "/stats/", "/estimate", "/ui/api/login", "/ui/api/logout", "/ui/api/bootstrap"}

// auditedRoute reports whether pattern is an action the audit log keeps:
// every change through the management API or the UI's.
func auditedRoute(pattern string) bool {
	method, path, _ := strings.Cut(pattern, " ")
	switch method {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
	default:
		return false
	}
	if !strings.HasPrefix(path, apiBase+"/") && !strings.HasPrefix(path, "/ui/api/") {
		return false
	}
	for _, s := range readLike {
		if strings.Contains(path, s) {
			return false
		}
	}
	return true
}

// audited wraps h in the audit middleware when pattern is audited.
func (s *Server) audited(pattern string, h http.Handler) http.Handler {
	if !auditedRoute(pattern) {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		who := &auditActor{}
		r = r.WithContext(context.WithValue(r.Context(), auditCtxKey{}, who))
		cw := &captureWriter{ResponseWriter: w}
		h.ServeHTTP(cw, r)
		if who.actor == "" {
			return
		}
		status := cw.status
		if status == 0 {
			status = http.StatusOK
		}
		e := meta.AuditEntry{ProjectID: who.projectID, At: time.Now(), Actor: who.actor, ActorName: who.name,
			Action: pattern, Target: auditTarget(pattern, r, status, cw.head.Bytes()), Status: status}
		// The action is done: record it even if the client has gone.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 5*time.Second)
		defer cancel()
		if _, err := s.Meta.AddAudit(ctx, e); err != nil {
			slog.Error("cannot record audit entry", "action", pattern, "project", who.projectID, "err", err)
		}
	})
}

// auditTarget is what the action was on: the path's wildcards but the
// project's ("id=7", "id=3 variant=b"), else the id of what a successful
// POST created, read from its answer.
func auditTarget(pattern string, r *http.Request, status int, body []byte) string {
	var parts []string
	for rest := pattern; ; {
		i := strings.IndexByte(rest, '{')
		if i < 0 {
			break
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			break
		}
		name := strings.TrimSuffix(rest[i+1:i+j], "...")
		rest = rest[i+j+1:]
		if name == "pid" || name == "$" {
			continue
		}
		parts = append(parts, name+"="+r.PathValue(name))
	}
	if len(parts) > 0 {
		return strings.Join(parts, " ")
	}
	if status/100 != 2 || len(body) == 0 {
		return ""
	}
	// The object created, or {"key": object, "secret": …} for a personal
	// key; a flag's "key" is its text key.
	var created struct {
		ID  json.RawMessage `json:"id"`
		Key json.RawMessage `json:"key"`
	}
	if json.Unmarshal(body, &created) != nil {
		return "" // longer than auditHead, or not an object
	}
	if len(created.ID) == 0 && len(created.Key) > 0 && created.Key[0] == '{' {
		_ = json.Unmarshal(created.Key, &created)
	}
	if len(created.ID) == 0 || created.ID[0] == '{' || created.ID[0] == '[' {
		return ""
	}
	return "id=" + strings.Trim(string(created.ID), `"`)
}

// captureWriter keeps the status and the start of the answer.
type captureWriter struct {
	http.ResponseWriter
	status int
	head   bytes.Buffer
}

// auditHead bounds what is kept of an answer to find its id (answers to
// a creation are the object created: a flag or a campaign, well under it).
const auditHead = 64 << 10

func (c *captureWriter) WriteHeader(status int) {
	if c.status == 0 {
		c.status = status
	}
	c.ResponseWriter.WriteHeader(status)
}

func (c *captureWriter) Write(b []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	if room := auditHead - c.head.Len(); room > 0 {
		c.head.Write(b[:min(room, len(b))])
	}
	return c.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the real writer.
func (c *captureWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

// auditPage answers a page of the log: ?before=<id>&limit=<1..200>
// (default 50), with next_before for the following page (0: none).
func (s *Server) auditPage(w http.ResponseWriter, r *http.Request, projectID int64) {
	q := r.URL.Query()
	limit, before := 50, int64(0)
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > meta.MaxAuditPage {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": `invalid field "limit": between 1 and 200`, "field": "limit"})
			return
		}
		limit = n
	}
	if v := q.Get("before"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": `invalid field "before": an entry id`, "field": "before"})
			return
		}
		before = n
	}
	entries, err := s.Meta.Audit(r.Context(), projectID, before, limit)
	if err != nil {
		metaError(w, "audit log", err)
		return
	}
	next := int64(0)
	if len(entries) == limit {
		next = entries[len(entries)-1].ID
	}
	writeJSON(w, http.StatusOK, map[string]any{"entries": entries, "next_before": next})
}
