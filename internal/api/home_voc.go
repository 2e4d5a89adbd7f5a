package api

import (
	"cmp"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/journey-dev/journey/internal/insight"
	"github.com/journey-dev/journey/internal/meta"
	"github.com/journey-dev/journey/internal/voc"
)

// VoC on the customer journey (issue 16 item 7): the home page shows the
// top themes by impact beside the stage where their customers are. A
// theme's customers are its items' authors (merged duplicates included);
// where they are is their current stage: the furthest journey stage each
// reached in the home page's range (the journey query of the project's
// stages, restricted to them by a cohort of their distinct ids). The
// theme goes beside the stage most of them are at (the earliest on a
// tie); -1 when none reached a stage in the range.

// Bounds of GET /home/voc.
const (
	homeThemesDefault = 5
	homeThemesMax     = 10
	// homeThemeIDs bounds the distinct ids of one theme's cohort (the
	// cohort filter's own limit); a theme with more is placed by its
	// newest items' authors.
	homeThemeIDs = 10_000
)

// homeTheme is one theme of GET /home/voc: its ranking figures and its
// place on the journey. Furthest[i] is how many of its persons reached
// stage i and no further.
type homeTheme struct {
	voc.Impact
	StageIndex int     `json:"stage_index"`
	Stage      string  `json:"stage"`
	Furthest   []int64 `json:"furthest"`
	Placed     int64   `json:"placed"` // persons at some stage (the sum of furthest)
}

func (s *Server) registerHomeVoC(mux *routeMux) {
	mux.HandleFunc("GET /ui/api/projects/{pid}/home/voc", s.withUIProject(meta.RoleViewer, s.homeVoC))
}

// homeVoC: GET /home/voc?from=&to=&limit=5 → {"from","to","stages":[names],
// "themes":[theme + {"stage_index","stage","furthest","placed"}],
// "formula"}: the top themes by impact (with items), each placed on the
// journey of [from, to) (default the last 30 days, as /home).
func (s *Server) homeVoC(w http.ResponseWriter, r *http.Request, _ *uiUser, p meta.Project) {
	from, to, err := timeRange(r, 30)
	if err != nil {
		writeBad(w, insight.Bad("from", "%v", err))
		return
	}
	limit, err := queryInt(r.URL.Query().Get("limit"), homeThemesDefault, 1, homeThemesMax)
	if err != nil {
		writeBad(w, insight.Bad("limit", "%v", err))
		return
	}
	res, err := s.rank(r.Context(), r, p)
	if err != nil {
		feedbackError(w, "theme", err)
		return
	}
	voc.Sort(res.Themes, "impact")
	var top []voc.Impact
	for _, t := range res.Themes {
		if t.Items > 0 && len(top) < limit {
			top = append(top, t)
		}
	}
	items, err := s.Meta.FeedbackImpact(r.Context(), p.ID, voc.MaxRankItems)
	if err != nil {
		feedbackError(w, "feedback", err)
		return
	}
	ids := themeDistinctIDs(items, top)
	out := make([]homeTheme, len(top))
	errs := make([]error, len(top))
	var names []string
	var once sync.Once
	var wg sync.WaitGroup
	for i, t := range top {
		wg.Add(1)
		go func() {
			defer wg.Done()
			j, err := s.themeJourney(r, p, ids[t.ID], from, to)
			if err != nil {
				errs[i] = err
				return
			}
			once.Do(func() {
				for _, st := range j.Stages {
					names = append(names, st.Name)
				}
			})
			out[i] = placeTheme(t, j)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		specError(w, err)
		return
	}
	if names == nil {
		names = []string{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"from": from, "to": to, "stages": names, "themes": out, "formula": res.Formula})
}

// themeDistinctIDs lists each theme's authors' distinct ids, newest item
// first, each once, at most homeThemeIDs. Items merged into another
// follow its theme (the store keeps their theme_id so).
func themeDistinctIDs(items []meta.FeedbackImpact, themes []voc.Impact) map[int64][]string {
	want := map[int64]bool{}
	for _, t := range themes {
		want[t.ID] = true
	}
	out := map[int64][]string{}
	seen := map[int64]map[string]bool{}
	for _, it := range newestFirst(items) {
		if !want[it.ThemeID] || it.DistinctID == "" || len(out[it.ThemeID]) >= homeThemeIDs {
			continue
		}
		if seen[it.ThemeID] == nil {
			seen[it.ThemeID] = map[string]bool{}
		}
		if !seen[it.ThemeID][it.DistinctID] {
			seen[it.ThemeID][it.DistinctID] = true
			out[it.ThemeID] = append(out[it.ThemeID], it.DistinctID)
		}
	}
	return out
}

// newestFirst orders items by creation, newest first (ids break ties),
// without changing the caller's slice.
func newestFirst(items []meta.FeedbackImpact) []meta.FeedbackImpact {
	out := append([]meta.FeedbackImpact(nil), items...)
	slices.SortFunc(out, func(a, b meta.FeedbackImpact) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(b.ID, a.ID)
	})
	return out
}

// themeJourney runs the project's journey over [from, to) for the persons
// of the distinct ids (none: the journey of nobody, with the stages'
// names and zero counts).
func (s *Server) themeJourney(r *http.Request, p meta.Project, ids []string, from, to time.Time) (*insight.JourneyResult, error) {
	if len(ids) == 0 {
		ids = []string{"journey:no-one"} // a cohort of no one (a theme with items always has authors)
	}
	spec, err := json.Marshal(map[string]any{"kind": "journey", "from": from.Format(time.RFC3339), "to": to.Format(time.RFC3339),
		"filters": []any{map[string]any{"type": "cohort", "cohort": map[string]any{"distinct_ids": ids}}}})
	if err != nil {
		return nil, err
	}
	res, err := s.runSpec(r.Context(), p, spec)
	if err != nil {
		return nil, err
	}
	j, ok := res.(*insight.JourneyResult)
	if !ok {
		return nil, errors.New("cannot place themes: the journey query answered no journey")
	}
	return j, nil
}

// placeTheme puts a theme at the stage most of its persons reached last.
func placeTheme(t voc.Impact, j *insight.JourneyResult) homeTheme {
	h := homeTheme{Impact: t, StageIndex: -1, Furthest: make([]int64, len(j.Stages))}
	for i, st := range j.Stages {
		n := st.Count
		if i+1 < len(j.Stages) {
			n -= j.Stages[i+1].Count
		}
		h.Furthest[i] = max(0, n)
		h.Placed += h.Furthest[i]
		if h.Furthest[i] > 0 && (h.StageIndex < 0 || h.Furthest[i] > h.Furthest[h.StageIndex]) {
			h.StageIndex = i
		}
	}
	if h.StageIndex >= 0 {
		h.Stage = j.Stages[h.StageIndex].Name
	}
	return h
}
