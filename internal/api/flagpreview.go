package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/journey-dev/journey/internal/flags"
	"github.com/journey-dev/journey/internal/flagserve"
	"github.com/journey-dev/journey/internal/meta"
	"github.com/journey-dev/journey/internal/store"
)

// Rollout preview: POST /api/v1/flags/preview (secret key) and POST
// /ui/api/projects/{pid}/flags/preview (viewer) take a flag body, as
// POST /api/v1/flags does (the key may be left out of a draft), and
// answer the share of the project's recent persons it would match:
//
//	{"matched":412, "sampled":2000, "share":0.206,
//	 "variants":{"control":205,"test":207},
//	 "window_days":30, "since":"…", "recent":true, "unevaluated":0}
//
// The sample is the newest persons (at most previewSample) created in
// the last previewDays days; when the project has none that recent
// (old data), the newest persons whatever their age, and "recent" is
// false. The flag is evaluated as if it were active, with package flags
// (Decode, CompileIn, Evaluate) on each person's stored properties; flag
// dependencies resolve against the project's stored flags, property
// cohorts are computed, static cohorts are matched on the person's
// distinct ids, and a filter that cannot be evaluated (a behavioural
// cohort) does not match: such persons count in "unevaluated", and
// "warning" says why.
const (
	previewSample  = 2000
	previewDays    = 30
	maxPreviewBody = 1 << 20
)

// previewAnswer is the answer of a rollout preview.
type previewAnswer struct {
	Matched     int            `json:"matched"`
	Sampled     int            `json:"sampled"`
	Share       float64        `json:"share"`
	Variants    map[string]int `json:"variants"`
	WindowDays  int            `json:"window_days"`
	Since       time.Time      `json:"since"`
	Recent      bool           `json:"recent"`
	Unevaluated int            `json:"unevaluated"`
	Warning     string         `json:"warning,omitempty"`
}

func (s *Server) registerFlagPreview(mux *routeMux) {
	mux.HandleFunc("POST /api/v1/flags/preview", s.withProject(s.flagPreview))
	mux.HandleFunc("POST /ui/api/projects/{pid}/flags/preview", s.withUIProject(meta.RoleViewer,
		func(w http.ResponseWriter, r *http.Request, _ *uiUser, p meta.Project) { s.flagPreview(w, r, p) }))
}

func (s *Server) flagPreview(w http.ResponseWriter, r *http.Request, p meta.Project) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxPreviewBody))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body too large: a flag is at most %d bytes", maxPreviewBody))
		return
	}
	f, err := decodePreviewFlag(body)
	if err != nil {
		writePreviewError(w, err)
		return
	}
	if f.Filters.AggregationGroupTypeIndex != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{
			"error": "the preview counts persons; this flag targets groups (aggregation_group_type_index)",
			"field": "filters.aggregation_group_type_index",
		})
		return
	}
	tz := projectTZ(p)
	c, err := flags.CompileIn(f, tz)
	if err != nil {
		writePreviewError(w, err)
		return
	}
	if s.Events == nil {
		writeError(w, http.StatusServiceUnavailable, "event store unavailable")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.queryTimeout())
	defer cancel()
	ans, err := s.preview(ctx, p, c, tz, time.Now())
	if err != nil {
		if ctx.Err() != nil {
			writeError(w, http.StatusGatewayTimeout, "the preview timed out")
			return
		}
		writeError(w, http.StatusServiceUnavailable, "cannot read persons: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, ans)
}

// decodePreviewFlag reads a draft flag: PostHog's flag JSON, with a
// placeholder key when none is given yet, made active (the preview shows
// what turning it on would do).
func decodePreviewFlag(body []byte) (*flags.Flag, error) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(body, &doc); err != nil || doc == nil {
		return nil, flags.Errors{{Field: "", Msg: "must be a JSON object: a flag"}}
	}
	if k, ok := doc["key"]; !ok || string(bytes.TrimSpace(k)) == `""` || string(bytes.TrimSpace(k)) == "null" {
		doc["key"] = json.RawMessage(`"preview"`)
	}
	doc["active"] = json.RawMessage("true")
	for _, k := range []string{"id", "version", "created_by", "updated_by", "created_at", "updated_at"} {
		delete(doc, k) // what the API answers with a flag, when the UI sends it back
	}
	b, _ := json.Marshal(doc)
	return flags.Decode(b)
}

func writePreviewError(w http.ResponseWriter, err error) {
	var fe *flags.FieldError
	if errors.As(err, &fe) {
		field := fe.Field
		if field == "" {
			field = "body"
		}
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error(), "field": field})
		return
	}
	writeError(w, http.StatusBadRequest, err.Error())
}

// preview evaluates c over the sample of recent persons.
func (s *Server) preview(ctx context.Context, p meta.Project, c *flags.Compiled, tz *time.Location, now time.Time) (*previewAnswer, error) {
	since := now.AddDate(0, 0, -previewDays)
	ids, err := s.Events.SearchPersons(ctx, p.ID, "", previewSample)
	if err != nil {
		return nil, err
	}
	persons, err := s.Events.Persons(ctx, ids)
	if err != nil {
		return nil, err
	}
	// Newest first (SearchPersons' order); the recent ones when there are any.
	sample := make([]store.Person, 0, len(ids))
	for _, id := range ids {
		if pr, ok := persons[id]; ok && !pr.CreatedAt.Before(since) {
			sample = append(sample, pr)
		}
	}
	ans := &previewAnswer{Variants: map[string]int{}, WindowDays: previewDays, Since: since.UTC(), Recent: true}
	if len(sample) == 0 {
		ans.Recent = false
		for _, id := range ids {
			if pr, ok := persons[id]; ok {
				sample = append(sample, pr)
			}
		}
	}
	for _, k := range c.Flag().VariantKeys() {
		ans.Variants[k] = 0
	}

	cohorts, err := s.previewCohorts(ctx, p.ID, tz)
	if err != nil {
		return nil, err
	}
	deps, err := s.previewDependencies(ctx, p.ID, c, tz)
	if err != nil {
		return nil, err
	}
	var warning error
	for _, pr := range sample {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		// Bucketing hashes the person id instead of the distinct id an SDK
		// would send. sha1(key.id) is uniform over ids either way, so the
		// share in the rollout and in each variant is the same in
		// expectation (a binomial sample of the same probability); only
		// which persons land where differs from what their SDKs will get.
		sub := &flags.Subject{DistinctID: strconv.FormatInt(pr.ID, 10), PersonProperties: pr.Properties}
		env := &flags.Env{Cohorts: cohorts.matcher(ctx, s.Events, p.ID, pr.ID), Flags: deps, Now: now}
		res := flags.Evaluate(c, sub, env)
		if res.Err != nil {
			ans.Unevaluated++
			if warning == nil {
				warning = res.Err
			}
		}
		if !res.Enabled {
			continue
		}
		ans.Matched++
		if res.Variant != "" {
			ans.Variants[res.Variant]++
		}
	}
	ans.Sampled = len(sample)
	if ans.Sampled > 0 {
		ans.Share = float64(ans.Matched) / float64(ans.Sampled)
	}
	if warning != nil {
		ans.Warning = fmt.Sprintf("%d of %d persons could not be fully evaluated and count as not matching: %v", ans.Unevaluated, ans.Sampled, warning)
	}
	return ans, nil
}

// previewDependencies are the project's stored flags that c depends on
// (type "flag" properties), by key and by id, compiled; c itself (when
// the draft is a stored flag being edited) is the draft.
func (s *Server) previewDependencies(ctx context.Context, projectID int64, c *flags.Compiled, tz *time.Location) (map[string]*flags.Compiled, error) {
	uses := false
	for _, g := range c.Flag().Filters.Groups {
		for _, pr := range g.Properties {
			uses = uses || pr.Type == flags.TypeFlag
		}
	}
	if !uses {
		return nil, nil
	}
	list, err := s.Meta.Flags(ctx, projectID)
	if err != nil {
		return nil, err
	}
	out := map[string]*flags.Compiled{c.Key(): c}
	for _, m := range list {
		if m.Key == c.Key() {
			continue
		}
		f, err := flagserve.FromMeta(m)
		if err != nil {
			continue // a broken stored flag: a dependency on it does not match
		}
		sc, err := flags.CompileIn(f, tz)
		if err != nil {
			continue
		}
		out[m.Key] = sc
		out[strconv.FormatInt(m.ID, 10)] = sc
	}
	return out, nil
}

// previewCohortSet is a project's cohorts as the preview evaluates them:
// property cohorts compiled (PostHog's {"type","values"} or
// {"properties":…} shapes, as the flag service reads them), static ones
// by their distinct ids, and why the others cannot be.
type previewCohortSet struct {
	props       *flags.Cohorts
	static      map[string]map[string]struct{}
	unsupported map[string]string
}

func (s *Server) previewCohorts(ctx context.Context, projectID int64, tz *time.Location) (*previewCohortSet, error) {
	list, err := s.Meta.Cohorts(ctx, projectID)
	if err != nil {
		return nil, err
	}
	cs := &previewCohortSet{static: map[string]map[string]struct{}{}, unsupported: map[string]string{}}
	raw := map[string]json.RawMessage{}
	for _, c := range list {
		id := strconv.FormatInt(c.ID, 10)
		var fields map[string]json.RawMessage
		if json.Unmarshal(c.Definition, &fields) != nil || fields == nil {
			cs.unsupported[id] = "its definition is not a JSON object"
			continue
		}
		switch {
		case fields["distinct_ids"] != nil:
			var ids []string
			if json.Unmarshal(fields["distinct_ids"], &ids) != nil {
				cs.unsupported[id] = "its distinct_ids are not a list of strings"
				continue
			}
			set := make(map[string]struct{}, len(ids))
			for _, d := range ids {
				set[d] = struct{}{}
			}
			cs.static[id] = set
		case fields["behavior"] != nil:
			cs.unsupported[id] = "behavioural cohorts cannot be targeted by flags yet"
		case fields["properties"] != nil && fields["values"] == nil:
			raw[id] = fields["properties"]
		case fields["type"] != nil && fields["values"] != nil:
			raw[id] = c.Definition
		default:
			cs.unsupported[id] = "its definition is neither static, behavioural nor a property group"
		}
	}
	// A bad definition drops its own cohort only.
	for attempt := 0; len(raw) > 0 && attempt < 10; attempt++ {
		compiled, err := flags.CompileCohorts(raw, tz)
		if err == nil {
			cs.props = compiled
			break
		}
		var es flags.Errors
		dropped := false
		if errors.As(err, &es) {
			for _, fe := range es {
				rest, ok := strings.CutPrefix(fe.Field, "cohorts.")
				if !ok {
					continue
				}
				id, _, _ := strings.Cut(rest, ".")
				if _, ok := raw[id]; ok {
					delete(raw, id)
					cs.unsupported[id] = "its definition is invalid: " + fe.Error()
					dropped = true
				}
			}
		}
		if !dropped {
			keys := make([]string, 0, len(raw))
			for id := range raw {
				keys = append(keys, id)
			}
			sort.Strings(keys)
			for _, id := range keys {
				cs.unsupported[id] = "the property cohorts are invalid: " + err.Error()
			}
			break
		}
	}
	return cs, nil
}

// matcher answers cohort filters for one person; a static cohort reads
// the person's distinct ids once, and only when a filter asks.
func (cs *previewCohortSet) matcher(ctx context.Context, ex store.Explorer, projectID, personID int64) flags.CohortMatcher {
	var ids []string
	loaded := false
	fallback := flags.CohortFunc(func(id string, _ *flags.Subject, _ time.Time) (bool, error) {
		if set, ok := cs.static[id]; ok {
			if !loaded {
				loaded = true
				_, list, err := ex.PersonByID(ctx, projectID, personID)
				if err != nil && !errors.Is(err, store.ErrNotFound) {
					return false, fmt.Errorf("cohort %s: cannot read the person's distinct ids: %w", id, err)
				}
				ids = list
			}
			for _, d := range ids {
				if _, in := set[d]; in {
					return true, nil
				}
			}
			return false, nil
		}
		if why, ok := cs.unsupported[id]; ok {
			return false, fmt.Errorf("cohort %s: %s", id, why)
		}
		return false, fmt.Errorf("cohort %s does not exist in this project", id)
	})
	if cs.props == nil {
		return fallback
	}
	c := *cs.props
	c.Fallback = fallback
	return &c
}
