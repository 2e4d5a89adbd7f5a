package flagserve

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/journey-dev/journey/internal/flags"
	"github.com/journey-dev/journey/internal/meta"
)

// cohortSet is a project's cohorts as flags can use them.
type cohortSet struct {
	// props are the property cohorts, compiled (nil when none).
	props *flags.Cohorts
	// raw are the property cohorts' definitions in PostHog's
	// local-evaluation shape, as /flags/definitions serves them.
	raw map[string]json.RawMessage
	// static maps a static cohort's id to its distinct ids.
	static map[string]map[string]struct{}
	// unsupported says why a cohort cannot be evaluated.
	unsupported map[string]string
}

// ErrCohort is wrapped by the errors of cohort filters that cannot be
// evaluated (behavioural cohorts, deleted cohorts, bad definitions).
var ErrCohort = errors.New("cohort cannot be evaluated")

func loadCohorts(list []meta.Cohort, loc *time.Location) *cohortSet {
	cs := &cohortSet{raw: map[string]json.RawMessage{}, static: map[string]map[string]struct{}{}, unsupported: map[string]string{}}
	for _, c := range list {
		id := strconv.FormatInt(c.ID, 10)
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(c.Definition, &fields); err != nil || fields == nil {
			cs.unsupported[id] = "its definition is not a JSON object"
			continue
		}
		switch {
		case fields["distinct_ids"] != nil:
			var ids []string
			if err := json.Unmarshal(fields["distinct_ids"], &ids); err != nil {
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
			cs.raw[id] = compact(fields["properties"])
		case fields["type"] != nil && fields["values"] != nil:
			cs.raw[id] = compact(c.Definition)
		default:
			cs.unsupported[id] = "its definition is neither static, behavioural nor a property group"
		}
	}
	// A bad definition drops only its own cohort.
	for attempt := 0; len(cs.raw) > 0; attempt++ {
		compiled, err := flags.CompileCohorts(cs.raw, loc)
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
				if _, ok := cs.raw[id]; ok {
					delete(cs.raw, id)
					cs.unsupported[id] = "its definition is invalid: " + fe.Error()
					dropped = true
				}
			}
		}
		if !dropped || attempt > 8 {
			for id := range cs.raw {
				cs.unsupported[id] = "the property cohorts are invalid: " + err.Error()
			}
			cs.raw = map[string]json.RawMessage{}
			break
		}
	}
	return cs
}

func compact(raw json.RawMessage) json.RawMessage {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return raw
	}
	return b.Bytes()
}

// matcher answers cohort filters for a person with these distinct ids,
// for one evaluation: each cohort is computed once (flags.ForEvaluation).
func (cs *cohortSet) matcher(ids []string) flags.CohortMatcher {
	fallback := flags.CohortFunc(func(id string, _ *flags.Subject, _ time.Time) (bool, error) {
		if set, ok := cs.static[id]; ok {
			for _, d := range ids {
				if _, in := set[d]; in {
					return true, nil
				}
			}
			return false, nil
		}
		if why, ok := cs.unsupported[id]; ok {
			return false, fmt.Errorf("%w: cohort %s: %s", ErrCohort, id, why)
		}
		return false, fmt.Errorf("%w: cohort %s does not exist in this project", ErrCohort, id)
	})
	if cs.props == nil {
		return fallback
	}
	c := cs.props.ForEvaluation()
	c.Fallback = fallback
	return c
}
