// Package voc is the voice-of-customer inbox (SPEC §7): feedback bodies
// decoded and validated (API, widget, CSV import, help-desk webhooks),
// similar-text theme suggestions (package ngram) that work for Korean as
// for English, the impact ranking of themes and items by the persons,
// accounts, revenue and bad days they touch, and surveys.
package voc

import (
	"sort"

	"github.com/journey-dev/journey/internal/meta"
	"github.com/journey-dev/journey/internal/ngram"
)

// Theme suggestions by similar text (character n-grams, so Korean and
// English near-duplicates match alike; see package ngram).

// SuggestThreshold is the least similarity a suggestion needs: Dice of
// two n-gram sets, where rewordings of one complaint ("invoice export
// fails" / "invoice exporting failed", "송장 내보내기가 실패해요" / "송장
// 내보내기 실패합니다") score about 0.6 to 0.8 and unrelated texts under 0.2.
const SuggestThreshold = 0.45

// Limits of what suggestions compare, so one request stays bounded.
const (
	MaxSampleTexts   = 50  // items of a theme it is compared by
	MaxClusterItems  = 500 // unthemed items clustered at once
	MaxSuggestions   = 5   // themes suggested for one item
	maxClusterResult = 50
)

// ThemeSample is a theme with some of its items' texts.
type ThemeSample struct {
	Theme meta.Theme
	Texts []string
}

// Suggestion is a theme suggested for a text, with its similarity.
type Suggestion struct {
	ThemeID int64   `json:"theme_id"`
	Name    string  `json:"name"`
	Score   float64 `json:"score"`
}

// SuggestThemes ranks the themes a text is most like: the best of its
// similarity to the theme's items and the share of the theme's name it
// contains (a short name inside a long text). Merged themes are skipped.
func SuggestThemes(text string, themes []ThemeSample) []Suggestion {
	p := ngram.NewProfile(text)
	out := []Suggestion{}
	for _, th := range themes {
		if th.Theme.MergedInto != 0 {
			continue
		}
		best := 0.9 * Containment(ngram.NewProfile(th.Theme.Name), p)
		for _, t := range th.Texts[:min(len(th.Texts), MaxSampleTexts)] {
			best = max(best, ngram.Similarity(p, ngram.NewProfile(t)))
		}
		if best >= SuggestThreshold {
			out = append(out, Suggestion{ThemeID: th.Theme.ID, Name: th.Theme.Name, Score: round3(best)})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Score > out[j].Score })
	return out[:min(len(out), MaxSuggestions)]
}

// Containment is the share of a's grams that b holds (0 when a is empty).
func Containment(a, b ngram.Profile) float64 {
	if len(a) == 0 {
		return 0
	}
	return ngram.Similarity(a, b) * float64(len(a)+len(b)) / (2 * float64(len(a)))
}

// Cluster is a group of similar unthemed items: a new theme to suggest,
// named after its first (newest) item's text.
type Cluster struct {
	Name  string  `json:"name"`
	Items []int64 `json:"items"`
}

// ClusterItems groups near-duplicate items (newest first, at most
// MaxClusterItems): each item joins the first cluster whose first item it
// is similar to, else starts one. Clusters of one item are dropped; the
// biggest come first.
func ClusterItems(items []meta.FeedbackItem) []Cluster {
	items = items[:min(len(items), MaxClusterItems)]
	type cl struct {
		lead ngram.Profile
		c    Cluster
	}
	var cls []*cl
	for _, it := range items {
		p := ngram.NewProfile(it.Text)
		var home *cl
		for _, c := range cls {
			if ngram.Similarity(c.lead, p) >= SuggestThreshold {
				home = c
				break
			}
		}
		if home == nil {
			home = &cl{lead: p, c: Cluster{Name: clipName(it.Text)}}
			cls = append(cls, home)
		}
		home.c.Items = append(home.c.Items, it.ID)
	}
	out := []Cluster{}
	for _, c := range cls {
		if len(c.c.Items) > 1 {
			out = append(out, c.c)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return len(out[i].Items) > len(out[j].Items) })
	return out[:min(len(out), maxClusterResult)]
}

// clipName is a text's first 60 runes, as a theme name.
func clipName(s string) string {
	r := []rune(s)
	if len(r) > 60 {
		return string(r[:60]) + "…"
	}
	return s
}

func round3(v float64) float64 { return float64(int64(v*1000+0.5)) / 1000 }
