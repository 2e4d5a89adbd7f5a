package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/journey-dev/journey/internal/insight"
	"github.com/journey-dev/journey/internal/live"
	"github.com/journey-dev/journey/internal/meta"
	"github.com/journey-dev/journey/internal/store"
)

// Pickers read a sample of recent events rather than every event, so they
// answer fast on any data size; rare keys may be missing from the lists.
const propertySample = 5000

func (s *Server) eventNames(w http.ResponseWriter, r *http.Request, _ *uiUser, p meta.Project) {
	from, to, err := timeRange(r, 30)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	names, err := s.Events.EventNames(r.Context(), p.ID, from, to, 500)
	if err != nil {
		storeError(w, err)
		return
	}
	out := make([]map[string]any, len(names))
	for i, n := range names {
		out[i] = map[string]any{"event": n.Name, "count": n.Count}
	}
	writeJSON(w, http.StatusOK, s.withDefinedEvents(r, p, out, 500))
}

func storeError(w http.ResponseWriter, err error) {
	slog.Error("event store", "err", err)
	writeError(w, http.StatusInternalServerError, "cannot read the event store")
}

// paramsOK answers 400 naming the first query parameter that is not text a
// store can compare (NUL bytes, invalid UTF-8).
func paramsOK(w http.ResponseWriter, r *http.Request, names ...string) bool {
	for _, n := range names {
		if !storable(r.URL.Query().Get(n)) {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("invalid parameter %q: not valid UTF-8 text", n))
			return false
		}
	}
	return true
}

// sample returns decoded property objects of recent events or persons.
func (s *Server) sample(r *http.Request, p meta.Project) ([]map[string]any, error) {
	q := r.URL.Query()
	raw, err := s.Events.SampleProperties(r.Context(), p.ID, q.Get("event"), q.Get("type") == "person", propertySample)
	if err != nil {
		return nil, err
	}
	out := make([]map[string]any, 0, len(raw))
	for _, js := range raw {
		var m map[string]any
		if json.Unmarshal([]byte(js), &m) == nil {
			out = append(out, m)
		}
	}
	return out, nil
}

// ranked turns counts into [{field: name, "count": n}], most frequent first.
func ranked(field string, counts map[string]int64, limit int) []map[string]any {
	names := make([]string, 0, len(counts))
	for n := range counts {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		if counts[names[i]] != counts[names[j]] {
			return counts[names[i]] > counts[names[j]]
		}
		return names[i] < names[j]
	})
	if len(names) > limit {
		names = names[:limit]
	}
	out := make([]map[string]any, len(names))
	for i, n := range names {
		out[i] = map[string]any{field: n, "count": counts[n]}
	}
	return out
}

func (s *Server) propertyKeys(w http.ResponseWriter, r *http.Request, _ *uiUser, p meta.Project) {
	if !paramsOK(w, r, "event") {
		return
	}
	if defs, ok := s.definedPropertyKeys(r, p, 500); ok {
		writeJSON(w, http.StatusOK, defs) // every key, not a sample's
		return
	}
	rows, err := s.sample(r, p)
	if err != nil {
		storeError(w, err)
		return
	}
	counts := map[string]int64{}
	for _, m := range rows {
		for k := range m {
			counts[k]++
		}
	}
	writeJSON(w, http.StatusOK, ranked("property", counts, 500))
}

func (s *Server) propertyValues(w http.ResponseWriter, r *http.Request, _ *uiUser, p meta.Project) {
	prop := r.URL.Query().Get("property")
	if prop == "" {
		writeError(w, http.StatusBadRequest, `invalid parameter "property": missing`)
		return
	}
	if !paramsOK(w, r, "event") {
		return
	}
	rows, err := s.sample(r, p)
	if err != nil {
		storeError(w, err)
		return
	}
	counts := map[string]int64{}
	for _, m := range rows {
		if v, ok := m[prop]; ok {
			switch v.(type) {
			case map[string]any, []any: // not a value one can filter on with eq
			default:
				counts[insight.ValueString(v)]++
			}
		}
	}
	writeJSON(w, http.StatusOK, ranked("value", counts, 50))
}

type personView struct {
	ID          int64          `json:"id"`
	DistinctIDs []string       `json:"distinct_ids"`
	Properties  map[string]any `json:"properties"`
	CreatedAt   time.Time      `json:"created_at"`
}

func (s *Server) searchPersons(w http.ResponseWriter, r *http.Request, _ *uiUser, p meta.Project) {
	limit, err := strconv.Atoi(r.URL.Query().Get("limit"))
	if err != nil || limit <= 0 || limit > 200 {
		limit = 50
	}
	if !paramsOK(w, r, "q") {
		return
	}
	// One query for the page, persons and distinct ids together.
	found, err := s.Events.FindPersons(r.Context(), p.ID, r.URL.Query().Get("q"), limit)
	if err != nil {
		storeError(w, err)
		return
	}
	out := make([]personView, 0, len(found))
	for _, f := range found {
		out = append(out, personView{f.ID, f.DistinctIDs, f.Properties, f.CreatedAt})
	}
	writeJSON(w, http.StatusOK, out)
}

// livePing is how often a live stream pings and re-checks access.
func (s *Server) livePing() time.Duration {
	if s.LivePing > 0 {
		return s.LivePing
	}
	return 15 * time.Second
}

// stillAllowed reports whether a stream's session is live and its user
// still has a role in the project.
func (s *Server) stillAllowed(ctx context.Context, tokenHash string, u *uiUser, projectID int64) bool {
	sess, err := s.Meta.Session(ctx, tokenHash)
	if err != nil || sess.UserID != u.ID {
		return false
	}
	fresh, err := s.Meta.User(ctx, u.ID)
	if err != nil {
		return false
	}
	_, err = s.role(ctx, &uiUser{User: fresh}, projectID)
	return err == nil
}

type eventView struct {
	UUID       string          `json:"uuid"`
	Event      string          `json:"event"`
	DistinctID string          `json:"distinct_id"`
	Timestamp  time.Time       `json:"timestamp"`
	Properties json.RawMessage `json:"properties"`
}

func (s *Server) person(w http.ResponseWriter, r *http.Request, _ *uiUser, p meta.Project) {
	id, ok := pathID(w, r, "person")
	if !ok {
		return
	}
	person, dids, err := s.Events.PersonByID(r.Context(), p.ID, id)
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no person %d in this project", id))
		return
	}
	if err != nil {
		storeError(w, err)
		return
	}
	rows, err := s.Events.PersonEvents(r.Context(), p.ID, id, 200)
	if err != nil {
		storeError(w, err)
		return
	}
	events := make([]eventView, len(rows))
	for i, e := range rows {
		props := e.Properties
		if len(props) == 0 {
			props = json.RawMessage("{}")
		}
		events[i] = eventView{uuid.UUID(e.UUID).String(), e.Event, e.DistinctID, e.Timestamp.UTC(), props}
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"id": person.ID, "distinct_ids": dids, "properties": person.Properties, "created_at": person.CreatedAt, "events": events,
	})
}

// liveEvents streams the project's captured events as Server-Sent Events.
// The stream re-checks the session and the role at every ping, so logging
// out or losing access ends it, and gives up on a viewer that stops
// reading.
func (s *Server) liveEvents(w http.ResponseWriter, r *http.Request, u *uiUser, p meta.Project) {
	flusher, ok := w.(http.Flusher)
	if !ok || s.Live == nil {
		writeError(w, http.StatusNotImplemented, "live events are not available on this server")
		return
	}
	ch, stop, err := s.Live.Subscribe(p.ID, u.ID)
	if errors.Is(err, live.ErrUserBusy) {
		writeError(w, http.StatusTooManyRequests, err.Error()) // the asker's own cap
		return
	}
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	defer stop()
	rc := http.NewResponseController(w)
	token := meta.HashSecret(sessionToken(r))
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, ": connected\n\n")
	flusher.Flush()
	ping := time.NewTicker(s.livePing())
	defer ping.Stop()
	for {
		_ = rc.SetWriteDeadline(time.Now().Add(30 * time.Second))
		select {
		case <-r.Context().Done():
			return
		case <-ping.C:
			if !s.stillAllowed(r.Context(), token, u, p.ID) {
				return
			}
			fmt.Fprint(w, ": ping\n\n")
		case e := <-ch:
			b, _ := json.Marshal(map[string]any{"event": e.Event, "distinct_id": e.DistinctID, "timestamp": e.Timestamp, "uuid": e.UUID, "properties": e.Properties})
			fmt.Fprintf(w, "data: %s\n\n", b)
		}
		flusher.Flush()
	}
}
