package capture

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/journey-dev/journey/internal/enrich"
	"github.com/journey-dev/journey/internal/event"
)

// handler serves the PostHog and Segment capture routes.
type handler struct {
	projects  Projects
	sink      Sink
	now       func() time.Time
	groupType string
	limiter   *limiter

	bodyTimeout time.Duration
	gate        *gate
	trusted     []netip.Prefix
	geo         *enrich.GeoIP
}

// NewHandler serves every capture route (see Routes). Mount it at "/".
func NewHandler(p Projects, s Sink, o Options) http.Handler {
	h := &handler{projects: p, sink: s, now: o.Now, groupType: o.GroupType}
	if h.now == nil {
		h.now = time.Now
	}
	if h.groupType == "" {
		h.groupType = DefaultGroupType
	}
	h.limiter = newLimiter(o.RateLimit, h.now)
	h.bodyTimeout = o.BodyTimeout
	if h.bodyTimeout <= 0 {
		h.bodyTimeout = DefaultBodyTimeout
	}
	h.gate = newGate(o.ClientBodies, o.BodyMemory)
	h.trusted = o.TrustedProxies
	h.geo = o.GeoIP
	return h
}

// route is what the handler needs to know about a path before decoding.
type route struct {
	segment bool
	limit   int // largest raw body
}

func lookupRoute(path string) (route, bool) {
	if kind, ok := segmentPaths[path]; ok {
		if kind == "batch" {
			return route{segment: true, limit: maxSegmentBatch}, true
		}
		return route{segment: true, limit: maxSegmentCall}, true
	}
	for _, p := range postHogPaths {
		if p == path {
			return route{limit: postHogBodyLimit(path)}, true
		}
	}
	return route{}, false
}

// serve answers a capture request; ServeHTTP (metrics.go) counts it.
func (h *handler) serve(w http.ResponseWriter, r *http.Request) {
	SetCORS(w.Header(), r)
	path := r.URL.Path
	if len(path) > 1 {
		path = strings.TrimSuffix(path, "/")
	}
	if key, ok := settingsWriteKey(path); ok {
		h.serveSegmentSettings(w, r, key) // segment_settings.go
		return
	}
	rt, ok := lookupRoute(path)
	if !ok {
		writeJSON(w, http.StatusNotFound, response{Error: "no capture route at " + strconv.Quote(r.URL.Path)})
		return
	}
	if !methodAllowed(w, r.Method, rt) {
		return
	}
	var query url.Values // nil reads as empty: most requests have no query to parse
	if r.URL.RawQuery != "" {
		query = r.URL.Query()
	}
	if e := h.checkOutsideTokens(r.Context(), rt, query, r.Header); e != nil {
		abandonBody(w, r)
		writeError(w, e)
		return
	}
	// The slot and the memory are held until the answer: the decoded
	// request lives that long.
	hd, e := h.enter(r)
	if e != nil {
		abandonBody(w, r)
		writeError(w, e)
		return
	}
	defer hd.release()
	body, e := h.receive(w, r, rt.limit, hd)
	if e != nil {
		abandonBody(w, r)
		writeError(w, e)
		return
	}
	req := Request{
		Path: path, Query: query, Header: r.Header, Body: body,
		Now: h.now().UTC(), GroupType: h.groupType,
	}
	d, e := h.decode(r.Context(), rt, req, hd)
	if e != nil {
		writeError(w, e)
		return
	}
	h.store(w, r, rt, d)
}

// decode decodes within the request's hold, unknown tokens at the top of
// the body refused before its events are decoded.
func (h *handler) decode(ctx context.Context, rt route, req Request, hd *hold) (Decoded, *Error) {
	b := &bounds{mem: hd, token: func(token string) *Error { return h.checkToken(ctx, rt, token) }}
	if rt.segment {
		return decodeSegment(req, b)
	}
	return decodePostHog(req, b)
}

// methodAllowed answers preflights and wrong methods itself; it returns true
// when the request should be decoded.
func methodAllowed(w http.ResponseWriter, method string, rt route) bool {
	switch {
	case method == http.MethodOptions:
		w.WriteHeader(http.StatusNoContent)
		return false
	case method == http.MethodPost, method == http.MethodGet && !rt.segment:
		return true
	}
	allow := "GET, POST, OPTIONS"
	if rt.segment {
		allow = "POST, OPTIONS"
	}
	w.Header().Set("Allow", allow)
	writeJSON(w, http.StatusMethodNotAllowed, response{Error: "method " + method + " not allowed"})
	return false
}

// store resolves the token, applies the rate limit and appends the valid
// events; every failure that a retry can fix answers 5xx or 429, the
// statuses SDKs retry.
func (h *handler) store(w http.ResponseWriter, r *http.Request, rt route, d Decoded) {
	if len(d.Events) == 0 && len(d.Invalid) == 0 {
		h.success(w, d)
		return
	}
	id, ok, err := h.projects.ProjectByToken(r.Context(), d.Token)
	if err != nil {
		// The lookup error may quote the token, so it is not passed on.
		retryLater(w, time.Second, "cannot look up project token: temporarily unavailable")
		return
	}
	if !ok {
		writeError(w, unauthorized(tokenField(rt), "unknown project token"))
		return
	}
	if len(d.Events) == 0 {
		h.allInvalid(w, rt, d)
		return
	}
	if err := h.enrichAddresses(r, d); err != nil {
		retryLater(w, time.Second, "cannot look up project settings: temporarily unavailable")
		return
	}
	if ok, wait := h.limiter.take(id, len(d.Events)); !ok {
		w.Header().Set("Retry-After", retrySeconds(wait))
		writeJSON(w, http.StatusTooManyRequests, response{Error: "rate limit exceeded for this project"})
		return
	}
	if err := h.sink.Append(r.Context(), event.Batch{ProjectID: id, Events: d.Events}); err != nil {
		retryLater(w, time.Second, sinkMessage(err))
		return
	}
	h.success(w, d)
}

func tokenField(rt route) string {
	if rt.segment {
		return "writeKey"
	}
	return "api_key"
}

// allInvalid answers a request none of whose events can be stored. PostHog
// says 400 (or 413) naming the first bad field. Segment's API answers 200 to
// everything but size and JSON errors, and its SDKs rely on that.
func (h *handler) allInvalid(w http.ResponseWriter, rt route, d Decoded) {
	first := d.Invalid[0]
	if rt.segment && first.Status != http.StatusRequestEntityTooLarge {
		h.success(w, d)
		return
	}
	writeJSON(w, first.Status, response{Error: first.Error(), Skipped: skippedList(d.Invalid)})
}

func (h *handler) success(w http.ResponseWriter, d Decoded) {
	if d.Beacon {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if len(d.Invalid) == 0 {
		writeBody(w, http.StatusOK, okBody)
		return
	}
	writeJSON(w, http.StatusOK, response{Status: 1, Skipped: skippedList(d.Invalid)})
}

// okBody is the answer to nearly every capture request, encoded once
// rather than per request.
var okBody = func() []byte {
	b, _ := json.Marshal(response{Status: 1})
	return append(b, '\n')
}()

// okLength is okBody's Content-Length, formatted once too.
var okLength = []string{strconv.Itoa(len(okBody))}

func sinkMessage(err error) string {
	switch {
	case errors.Is(err, ErrOverloaded):
		return "server overloaded, retry later"
	case errors.Is(err, context.DeadlineExceeded):
		return "timed out storing events, retry later"
	}
	return "cannot store events, retry later"
}

func retryLater(w http.ResponseWriter, wait time.Duration, msg string) {
	w.Header().Set("Retry-After", retrySeconds(wait))
	writeJSON(w, http.StatusServiceUnavailable, response{Error: msg})
}

// retrySeconds rounds up: Retry-After is in whole seconds, and 0 would
// invite an immediate retry.
func retrySeconds(d time.Duration) string {
	s := int64(math.Ceil(d.Seconds()))
	if s < 1 {
		s = 1
	}
	return strconv.FormatInt(s, 10)
}

// response is the JSON body of every answer.
type response struct {
	Status  int       `json:"status"`
	Error   string    `json:"error,omitempty"`
	Skipped []skipped `json:"skipped,omitempty"`
}

// skipped reports one invalid event of an otherwise stored request.
type skipped struct {
	Field string `json:"field"`
	Error string `json:"error"`
}

func skippedList(errs []*Error) []skipped {
	if len(errs) == 0 {
		return nil
	}
	out := make([]skipped, len(errs))
	for i, e := range errs {
		out[i] = skipped{Field: e.Field, Error: e.Msg}
	}
	return out
}

func writeError(w http.ResponseWriter, e *Error) {
	if e.Status == http.StatusTooManyRequests || e.Status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", retrySeconds(time.Second))
	}
	writeJSON(w, e.Status, response{Error: e.Error()})
}

func writeJSON(w http.ResponseWriter, status int, v response) {
	b, _ := json.Marshal(v) // response has only strings and ints: cannot fail
	writeBody(w, status, append(b, '\n'))
}

var jsonType = []string{"application/json"}

// writeBody writes a JSON body that ends with its newline; the header
// values are shared slices (net/http only reads them).
func writeBody(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h["Content-Type"] = jsonType
	if len(body) == len(okBody) {
		h["Content-Length"] = okLength
	} else {
		h.Set("Content-Length", strconv.Itoa(len(body)))
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// SetCORS lets browsers on any site send events, as PostHog's and Segment's
// public endpoints do: the project token in the page is public anyway.
func SetCORS(h http.Header, r *http.Request) {
	if origin := r.Header.Get("Origin"); origin != "" {
		h.Set("Access-Control-Allow-Origin", origin)
	} else {
		h["Access-Control-Allow-Origin"] = corsAnyOrigin
	}
	if vary := h["Vary"]; len(vary) == 0 {
		h["Vary"] = corsVary
	} else {
		h["Vary"] = append(vary[:len(vary):len(vary)], "Origin") // a copy: vary may be shared
	}
	h["Access-Control-Allow-Credentials"] = corsTrue
	h["Access-Control-Allow-Methods"] = corsMethods
	if allowHeaders := r.Header.Get("Access-Control-Request-Headers"); allowHeaders != "" {
		h.Set("Access-Control-Allow-Headers", allowHeaders)
	} else {
		h["Access-Control-Allow-Headers"] = corsHeaders
	}
	if r.Method == http.MethodOptions {
		h.Set("Access-Control-Max-Age", "86400")
	}
}

// The constant CORS values, shared by every answer rather than allocated
// per request (net/http only reads them; Header.Add appends to a copy, as
// each has no spare capacity).
var (
	corsAnyOrigin = []string{"*"}
	corsVary      = []string{"Origin"}
	corsTrue      = []string{"true"}
	corsMethods   = []string{"GET, POST, OPTIONS"}
	corsHeaders   = []string{"Content-Type, Content-Encoding, Authorization, X-Requested-With"}
)
