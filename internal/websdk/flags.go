package websdk

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/journey-dev/journey/internal/flags"
	"github.com/journey-dev/journey/internal/flagserve"
)

// flagsV2 is the /flags?v=2 answer.
type flagsV2 struct {
	Flags                     map[string]flags.FlagDetail `json:"flags"`
	ErrorsWhileComputingFlags bool                        `json:"errorsWhileComputingFlags"`
	RequestID                 string                      `json:"requestId"`
	EvaluatedAt               int64                       `json:"evaluatedAt"`
}

// flagsLegacy is the answer of /decide and of /flags without v=2.
type flagsLegacy struct {
	FeatureFlags              map[string]any    `json:"featureFlags"`
	FeatureFlagPayloads       map[string]string `json:"featureFlagPayloads"`
	ErrorsWhileComputingFlags bool              `json:"errorsWhileComputingFlags"`
	RequestID                 string            `json:"requestId"`
	EvaluatedAt               int64             `json:"evaluatedAt"`
}

// flags answers /flags and /decide, GET or POST, in every encoding
// DecodeFlagsRequest reads. With config=true (and always on /decide,
// which older posthog-js read its config from) the remote config fields
// come along, as PostHog's answer has them.
func (h *Handler) flags(w http.ResponseWriter, r *http.Request) {
	if !allowMethods(w, r, http.MethodGet, http.MethodPost) {
		return
	}
	c := h.clientOf(r)
	if !h.allowRate(w, c, func() {
		writeJSON(w, http.StatusTooManyRequests, map[string]string{"error": "too many /flags requests from this client, retry later"})
	}) {
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxFlagsBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"error": "request body too large: over 256 KiB"})
			return
		}
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "cannot read request body"})
		return
	}
	query := r.URL.Query()
	badRequest := func(err error) {
		de := &DecodeError{Status: http.StatusBadRequest, Msg: err.Error()}
		errors.As(err, &de)
		writeJSON(w, de.Status, map[string]string{"type": "validation_error", "code": "invalid_request", "detail": de.Msg, "error": de.Msg})
	}
	// Undoing the encodings (gzip, base64, a form) yields at most
	// maxFlagsBody, as the body itself.
	payload, err := flagsPayload(r.Header, query, body)
	body = nil
	if err != nil {
		badRequest(err)
		return
	}
	// An unknown token is refused before the decode, when it can be read
	// cheaply.
	peeked, peekedID := "", int64(0)
	if token, ok := peekFlagsToken(payload, query); ok {
		if peekedID, ok = h.project(w, r, token, func() { unauthorized(w) }); !ok {
			return
		}
		peeked = token
	}
	// Decoding builds the request's maps: a few MB at most, so only so
	// many run at once, and only a share of them for one client. A client
	// past it retries, as after any 429.
	if !h.decodes.acquire(c) {
		w.Header().Set("Retry-After", "1")
		writeJSON(w, http.StatusTooManyRequests, map[string]string{"error": "too many /flags requests at once, retry later"})
		return
	}
	req, err := decodeFlagsPayload(payload, query)
	payload = nil
	h.decodes.release(c) // the decoded request is small; evaluation needs no slot
	if err != nil {
		badRequest(err)
		return
	}
	id := peekedID
	if req.Token != peeked || peeked == "" {
		var ok bool
		if id, ok = h.project(w, r, req.Token, func() { unauthorized(w) }); !ok {
			return
		}
	}
	decide := strings.HasPrefix(r.URL.Path, "/decide")
	var config *remoteConfig
	if decide || query.Get("config") == "true" {
		s, ok := h.sdkSettings(w, r, id)
		if !ok {
			return
		}
		cfg := buildConfig(req.Token, s)
		cfg.HasFeatureFlags = h.hasFlags(r.Context(), id)
		cfg.Surveys = h.surveys.active(r.Context(), id)
		config = &cfg
	}
	ans, err := h.evaluate(r.Context(), id, &req, c.key)
	countFlags(flagsEndpoint(decide), ans, err) // metrics.go
	if err != nil {
		slog.Warn("cannot evaluate flags", "project", id, "err", err)
		unavailable(w)
		return
	}
	v2 := v2Answer(decide, query.Get("v"))
	if v2 && config == nil {
		writeJSONBytes(w, http.StatusOK, appendFlagsV2(make([]byte, 0, 1024+256*len(ans.Results)), h.now().UnixMilli(), ans))
		return
	}
	writeJSON(w, http.StatusOK, flagsAnswer(h.now().UnixMilli(), v2, config, ans))
}

// appendFlagsV2 appends json.Marshal of the flagsV2 answer (the common
// /flags?v=2 answer, without config), byte for byte, without reflection:
// one per request.
func appendFlagsV2(dst []byte, nowMs int64, ans *flagserve.Answer) []byte {
	dst = append(dst, `{"flags":`...)
	dst = flags.AppendDetails(dst, ans.Results)
	dst = append(dst, `,"errorsWhileComputingFlags":`...)
	dst = strconv.AppendBool(dst, ans.Errored)
	dst = append(dst, `,"requestId":"`...)
	dst = append(dst, uuid.NewString()...) // hex and dashes: no escapes
	dst = append(dst, `","evaluatedAt":`...)
	dst = strconv.AppendInt(dst, nowMs, 10)
	return append(dst, '}')
}

// evaluate answers a /flags request. Without a distinct id no flag is
// evaluated, and the answer says so when the project has flags.
func (h *Handler) evaluate(ctx context.Context, projectID int64, req *FlagsRequest, client string) (*flagserve.Answer, error) {
	er := &flagserve.Request{
		ProjectID: projectID, DistinctID: req.DistinctID, AnonDistinctID: req.AnonDistinctID,
		Groups: groupKeys(req.Groups), PersonProperties: req.PersonProperties, GroupProperties: req.GroupProperties,
		FlagKeys: req.FlagKeys, Client: client,
	}
	if req.DistinctID == "" {
		n, err := h.svc.Count(ctx, projectID)
		if err != nil {
			return nil, err
		}
		return &flagserve.Answer{Errored: n > 0}, nil
	}
	ans, err := h.svc.Evaluate(ctx, er)
	if err != nil {
		return nil, err
	}
	return ans, nil
}

// groupKeys reads the request's groups ({"company": "acme"}); numeric keys
// are their text, other values are no group.
func groupKeys(in map[string]any) map[string]string {
	if len(in) == 0 {
		return nil
	}
	out := make(map[string]string, len(in))
	for t, v := range in {
		switch k := v.(type) {
		case string:
			out[t] = k
		case float64:
			out[t] = strconv.FormatFloat(k, 'f', -1, 64)
		case json.Number:
			out[t] = k.String()
		case bool:
			out[t] = strconv.FormatBool(k)
		}
	}
	return out
}

// v2Answer: /flags?v=2 (and later) and /decide?v=4 (and later) answer in
// the flags shape; earlier versions in the legacy one.
func v2Answer(decide bool, v string) bool {
	n, _ := strconv.Atoi(v)
	if decide {
		return n >= 4
	}
	return n >= 2
}

func flagsAnswer(nowMs int64, v2 bool, config *remoteConfig, ans *flagserve.Answer) any {
	id := uuid.NewString()
	var out any
	if v2 {
		out = flagsV2{Flags: flags.Details(ans.Results), ErrorsWhileComputingFlags: ans.Errored, RequestID: id, EvaluatedAt: nowMs}
	} else {
		ff, payloads := flags.Legacy(ans.Results)
		out = flagsLegacy{FeatureFlags: ff, FeatureFlagPayloads: payloads, ErrorsWhileComputingFlags: ans.Errored, RequestID: id, EvaluatedAt: nowMs}
	}
	if config == nil {
		return out
	}
	return merged(*config, out)
}

// merged is config's fields then the flags' (both are plain structs of
// JSON-safe values, so neither marshal can fail).
func merged(config remoteConfig, flags any) map[string]any {
	out := map[string]any{}
	for _, part := range []any{config, flags} {
		b, _ := json.Marshal(part)
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		for k, v := range m {
			out[k] = v
		}
	}
	delete(out, "token")
	return out
}

// unauthorized is PostHog's answer to a missing or unknown token.
func unauthorized(w http.ResponseWriter) {
	writeJSON(w, http.StatusUnauthorized, map[string]string{
		"type": "authentication_error", "code": "invalid_api_key",
		"detail": "Project token invalid. You can find your project token in Journey's Settings.",
		"error":  "unknown project token",
	})
}
