package websdk

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/journey-dev/journey/internal/flags"
	"github.com/journey-dev/journey/internal/flagserve"
	"github.com/journey-dev/journey/internal/meta"
)

// OpenFeature Remote Evaluation Protocol 0.3.0 (OFREP): POST
// /ofrep/v1/evaluate/flags/{key} evaluates one flag, POST
// /ofrep/v1/evaluate/flags every flag (with an ETag, 304 on
// If-None-Match). The body is {"context":{"targetingKey":…, …}}: the
// targeting key is the distinct id, every other key a person property
// (over the stored ones, as /flags' person_properties). Authentication:
// the project token (or, from a server, a secret key) as "Authorization:
// Bearer" or "X-API-Key". metadata.error, when present, is one of the
// OFREPError… codes.
//
// An answer is {key, reason, variant, value, metadata}: value is the
// flag's PostHog value (true/false, or the variant's key), variant its
// text, metadata {flagId, version, posthogReason, conditionIndex?,
// payload?} (payload: the JSON payload, as a string). Reasons:
//   - DISABLED: the flag is inactive;
//   - STATIC: the value cannot depend on the context (no conditions, or a
//     first condition with no properties, 100 % rollout and no variant
//     split);
//   - SPLIT: a rollout percentage or the variant split decided it;
//   - TARGETING_MATCH: properties matched, nothing bucketed;
//   - DEFAULT: no condition matched (false).

// OFREP error codes.
const (
	OFREPParseError          = "PARSE_ERROR"
	OFREPTargetingKeyMissing = "TARGETING_KEY_MISSING"
	OFREPInvalidContext      = "INVALID_CONTEXT"
	OFREPFlagNotFound        = "FLAG_NOT_FOUND"
	OFREPGeneral             = "GENERAL"
)

// OFREPRequest is a decoded OFREP body.
type OFREPRequest struct {
	TargetingKey string
	// Properties are the context's other keys (numbers as json.Number).
	Properties map[string]any
}

// OFREPError is a body OFREP refuses: 400 with its code.
type OFREPError struct {
	Code    string
	Details string
}

func (e *OFREPError) Error() string { return e.Code + ": " + e.Details }

// DecodeOFREP reads {"context":{"targetingKey":"…", …}}. It never returns
// an error other than *OFREPError.
func DecodeOFREP(body []byte) (OFREPRequest, error) {
	var out OFREPRequest
	t := bytes.TrimSpace(body)
	if len(t) == 0 {
		return out, &OFREPError{OFREPTargetingKeyMissing, "no body: want {\"context\":{\"targetingKey\":\"<distinct id>\"}}"}
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(t, &top); err != nil || top == nil {
		return out, &OFREPError{OFREPParseError, "the body is not a JSON object"}
	}
	raw, ok := top["context"]
	if !ok || string(bytes.TrimSpace(raw)) == "null" {
		return out, &OFREPError{OFREPTargetingKeyMissing, "no context: want {\"context\":{\"targetingKey\":\"<distinct id>\"}}"}
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
		return out, &OFREPError{OFREPInvalidContext, "context must be a JSON object"}
	}
	if len(fields) > maxRequestProperties+1 {
		return out, &OFREPError{OFREPInvalidContext, fmt.Sprintf("context has %d keys, at most %d and targetingKey", len(fields), maxRequestProperties)}
	}
	ctx := make(map[string]any, len(fields))
	for k, v := range fields {
		if len(k) > maxPropertyKeyLen {
			return out, &OFREPError{OFREPInvalidContext, fmt.Sprintf("context has a key of %d bytes, at most %d", len(k), maxPropertyKeyLen)}
		}
		if len(v) > maxPropertyValueLen {
			return out, &OFREPError{OFREPInvalidContext, fmt.Sprintf("context.%s is %d bytes (as JSON), at most %d", clip(k), len(v), maxPropertyValueLen)}
		}
		var x any
		dec := json.NewDecoder(bytes.NewReader(v))
		dec.UseNumber()
		if err := dec.Decode(&x); err != nil {
			return out, &OFREPError{OFREPInvalidContext, "context must be a JSON object"}
		}
		ctx[k] = x
	}
	switch k := ctx["targetingKey"].(type) {
	case nil:
		return out, &OFREPError{OFREPTargetingKeyMissing, "context.targetingKey (the distinct id) is required"}
	case string:
		if k == "" {
			return out, &OFREPError{OFREPTargetingKeyMissing, "context.targetingKey (the distinct id) is empty"}
		}
		if !flagserve.ValidDistinctID(k) {
			return out, &OFREPError{OFREPInvalidContext, fmt.Sprintf("context.targetingKey is longer than %d characters (the longest distinct id PostHog and Journey store)", flagserve.MaxDistinctIDLen)}
		}
		out.TargetingKey = k
	default:
		return out, &OFREPError{OFREPInvalidContext, "context.targetingKey must be a string"}
	}
	delete(ctx, "targetingKey")
	if len(ctx) > 0 {
		out.Properties = ctx
	}
	return out, nil
}

// OFREPResult is one evaluation's answer.
type OFREPResult struct {
	Key      string         `json:"key"`
	Reason   string         `json:"reason"`
	Variant  string         `json:"variant,omitempty"`
	Value    any            `json:"value"`
	Metadata map[string]any `json:"metadata,omitempty"`
}

// ofrepResult renders r, the result of c.
func ofrepResult(c *flags.Compiled, r flags.Result) OFREPResult {
	v := r.Value()
	out := OFREPResult{Key: r.Key, Reason: ofrepReason(c, r), Value: v,
		Metadata: map[string]any{"flagId": r.ID, "version": r.Version, "posthogReason": string(r.Reason)}}
	switch x := v.(type) {
	case string:
		out.Variant = x
	case bool:
		if x {
			out.Variant = "true"
		} else {
			out.Variant = "false"
		}
	}
	if r.ConditionIndex >= 0 {
		out.Metadata["conditionIndex"] = r.ConditionIndex
	}
	if r.Enabled && r.Payload != nil {
		out.Metadata["payload"] = string(r.Payload)
	}
	if r.Err != nil {
		// A code, not the error's text: that names cohorts, flags and
		// properties, and the caller may be any page.
		out.Metadata["error"] = ofrepErrorCode(r.Err)
	}
	return out
}

// Codes of metadata.error: what kept a result from being complete.
const (
	OFREPErrorCohort     = "COHORT_NOT_EVALUATED"     // a cohort filter (behavioural, static cohorts unknown here, deleted)
	OFREPErrorDependency = "DEPENDENCY_NOT_EVALUATED" // a flag it depends on is missing or circular
	OFREPErrorProperty   = "PROPERTY_NOT_COMPARED"    // a property value too long, or the evaluation's regex budget spent
	OFREPErrorOther      = "NOT_EVALUATED"
)

func ofrepErrorCode(err error) string {
	switch {
	case errors.Is(err, flagserve.ErrCohort), errors.Is(err, flags.ErrUnknownCohort):
		return OFREPErrorCohort
	case errors.Is(err, flags.ErrDependency):
		return OFREPErrorDependency
	case errors.Is(err, flags.ErrNotCompared):
		return OFREPErrorProperty
	}
	return OFREPErrorOther
}

func ofrepReason(c *flags.Compiled, r flags.Result) string {
	f := c.Flag()
	fs := f.Filters
	if !f.Active {
		return "DISABLED"
	}
	if len(fs.Groups) == 0 {
		return "STATIC"
	}
	split := func(g flags.Condition) (rollout, variant bool) {
		rollout = g.RolloutPercentage != nil && *g.RolloutPercentage < 100
		if mv := fs.Multivariate; mv != nil && (g.Variant == nil || *g.Variant == "") {
			variant = true
			for _, v := range mv.Variants {
				if v.RolloutPercentage >= 100 {
					variant = false
				}
			}
		}
		return rollout, variant
	}
	first := fs.Groups[0]
	if ro, va := split(first); len(first.Properties) == 0 && !ro && !va && first.AggregationGroupTypeIndex == nil && fs.AggregationGroupTypeIndex == nil {
		return "STATIC"
	}
	switch r.Reason {
	case flags.ReasonConditionMatch:
		if r.ConditionIndex >= 0 && r.ConditionIndex < len(fs.Groups) {
			if ro, va := split(fs.Groups[r.ConditionIndex]); ro || va {
				return "SPLIT"
			}
		}
		return "TARGETING_MATCH"
	case flags.ReasonOutOfRollout:
		return "SPLIT"
	}
	return "DEFAULT"
}

// ofrepAuth resolves the project of the request's key (a project token or
// a secret key, as Bearer or X-API-Key; which one by its prefix, so a
// secret key never goes through the token lookup and its cache); it
// answers 401/503 itself. A secret key from a browser (a request with an
// Origin) is refused: in a page it is no secret.
func (h *Handler) ofrepAuth(w http.ResponseWriter, r *http.Request) (int64, bool) {
	key := bearerToken(r)
	if key == "" {
		key = strings.TrimSpace(r.Header.Get("X-API-Key"))
	}
	if key == "" {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"errorDetails": "a project token is required: Authorization: Bearer <project token> or X-API-Key"})
		return 0, false
	}
	secret := isSecretKey(key)
	if secret && r.Header.Get("Origin") != "" {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"errorCode": "SECRET_KEY_IN_BROWSER",
			"errorDetails": "a secret key must not be used in a browser, where any visitor can read it: use the project token there (Authorization: Bearer <project token>), and rotate this key if it was published"})
		return 0, false
	}
	if len(key) <= maxKeyLen {
		var id int64
		var ok bool
		var err error
		if secret {
			var p meta.Project
			p, ok, err = h.secrets.project(r.Context(), key)
			id = p.ID
		} else {
			id, ok, err = h.projects.ProjectByToken(r.Context(), key)
		}
		if err != nil {
			slog.Warn("cannot look up an OFREP key", "err", err)
			w.Header().Set("Retry-After", "1")
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"errorDetails": "temporarily unavailable, retry later"})
			return 0, false
		}
		if ok {
			return id, true
		}
	}
	writeJSON(w, http.StatusUnauthorized, map[string]string{"errorDetails": "unknown project token or secret key"})
	return 0, false
}

// ofrepBody reads and decodes an OFREP body; it answers failures itself
// (key "" for the bulk route).
func (h *Handler) ofrepBody(w http.ResponseWriter, r *http.Request, key string) (OFREPRequest, bool) {
	fail := func(status int, code, details string) {
		m := map[string]string{"errorCode": code, "errorDetails": details}
		if key != "" {
			m["key"] = key
		}
		writeJSON(w, status, m)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxFlagsBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			fail(http.StatusRequestEntityTooLarge, OFREPGeneral, "request body too large: over 256 KiB")
			return OFREPRequest{}, false
		}
		fail(http.StatusBadRequest, OFREPGeneral, "cannot read request body")
		return OFREPRequest{}, false
	}
	c := h.clientOf(r)
	if !h.decodes.acquire(c) {
		w.Header().Set("Retry-After", "1")
		fail(http.StatusTooManyRequests, OFREPGeneral, "too many evaluations at once, retry later")
		return OFREPRequest{}, false
	}
	req, err := DecodeOFREP(body)
	h.decodes.release(c)
	if err != nil {
		oe := err.(*OFREPError)
		fail(http.StatusBadRequest, oe.Code, oe.Details)
		return OFREPRequest{}, false
	}
	return req, true
}

func (h *Handler) ofrepEvaluate(r *http.Request, projectID int64, req OFREPRequest, keys []string) (*flagserve.Answer, error) {
	ans, err := h.svc.Evaluate(r.Context(), &flagserve.Request{ProjectID: projectID, DistinctID: req.TargetingKey,
		PersonProperties: req.Properties, FlagKeys: keys, Client: h.clientOf(r).key})
	countFlags("ofrep", ans, err) // metrics.go
	return ans, err
}

// ofrepRate counts an OFREP request against its client's rate (key "" for
// the bulk route); it answers 429 itself.
func (h *Handler) ofrepRate(w http.ResponseWriter, r *http.Request, key string) bool {
	return h.allowRate(w, h.clientOf(r), func() {
		m := map[string]string{"errorCode": OFREPGeneral, "errorDetails": "too many evaluations from this client, retry later"}
		if key != "" {
			m["key"] = key
		}
		writeJSON(w, http.StatusTooManyRequests, m)
	})
}

func ofrepCORS(w http.ResponseWriter) {
	w.Header().Set("Access-Control-Expose-Headers", "ETag, Retry-After")
}

// ofrepFlag answers POST /ofrep/v1/evaluate/flags/{key}.
func (h *Handler) ofrepFlag(w http.ResponseWriter, r *http.Request) {
	ofrepCORS(w)
	if !allowMethods(w, r, http.MethodPost) {
		return
	}
	key := r.PathValue("key")
	if !h.ofrepRate(w, r, key) {
		return
	}
	id, ok := h.ofrepAuth(w, r)
	if !ok {
		return
	}
	req, ok := h.ofrepBody(w, r, key)
	if !ok {
		return
	}
	ans, err := h.ofrepEvaluate(r, id, req, []string{key})
	if err != nil {
		slog.Warn("cannot evaluate flags for OFREP", "project", id, "err", err)
		writeJSON(w, http.StatusInternalServerError, map[string]string{"errorDetails": "flags are temporarily unavailable"})
		return
	}
	if len(ans.Results) == 0 {
		writeJSON(w, http.StatusNotFound, map[string]string{"key": key, "errorCode": OFREPFlagNotFound, "errorDetails": "no flag " + key + " in this project"})
		return
	}
	writeJSON(w, http.StatusOK, ofrepResult(ans.Flags[0], ans.Results[0]))
}

// ofrepBulk answers POST /ofrep/v1/evaluate/flags: every flag, with a
// weak ETag of the answer; If-None-Match with it is 304.
func (h *Handler) ofrepBulk(w http.ResponseWriter, r *http.Request) {
	ofrepCORS(w)
	if !allowMethods(w, r, http.MethodPost) {
		return
	}
	if !h.ofrepRate(w, r, "") {
		return
	}
	id, ok := h.ofrepAuth(w, r)
	if !ok {
		return
	}
	req, ok := h.ofrepBody(w, r, "")
	if !ok {
		return
	}
	ans, err := h.ofrepEvaluate(r, id, req, nil)
	if err != nil {
		slog.Warn("cannot evaluate flags for OFREP", "project", id, "err", err)
		writeJSON(w, http.StatusInternalServerError, map[string]string{"errorCode": OFREPGeneral, "errorDetails": "flags are temporarily unavailable"})
		return
	}
	out := struct {
		Flags []OFREPResult `json:"flags"`
	}{Flags: make([]OFREPResult, len(ans.Results))}
	for i, res := range ans.Results {
		out.Flags[i] = ofrepResult(ans.Flags[i], res)
	}
	body, err := json.Marshal(out)
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"errorCode": OFREPGeneral, "errorDetails": "cannot encode the answer"})
		return
	}
	body = append(body, '\n')
	etag := flagserve.WeakETag(body)
	w.Header().Set("ETag", etag)
	w.Header().Set("Cache-Control", "private, no-cache")
	if etagMatch(r.Header.Get("If-None-Match"), strings.TrimPrefix(etag, "W/")) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	writeBody(w, r, http.StatusOK, body)
}
