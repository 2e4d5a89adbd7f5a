package voc

import (
	"context"
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/journey-dev/journey/internal/insight"
	"github.com/journey-dev/journey/internal/meta"
	"github.com/journey-dev/journey/internal/store"
)

// Impact ranking (SPEC §7, issue 16): a theme, or an item with the
// duplicates merged into it, is ranked by what it touches. Its persons are
// its items' authors after merges (a distinct id not yet stored counts as
// a person of its own); its accounts are the groups of GroupType in those
// persons' events' $groups over the window, plus the accounts the items
// name; its revenue is the sum over its accounts of the group property
// RevenueProperty (the theme's, default mrr); its bad-day share is the
// share of its persons with a bad day in the window (an event of the
// project's bad_days definition: $exception unless set).

// Formula is how Score is computed, as the API shows it.
const Formula = "score = 100 × (0.25·persons/max_persons + 0.20·accounts/max_accounts + 0.30·revenue/max_revenue" +
	" + 0.10·bad_day_share + 0.05·votes/max_votes + 0.05·recency + 0.05·trend); max_* over the ranked list;" +
	" recency = 0.5^(days since the latest item / 14); trend = recent/(recent+previous), items of the last 14 days" +
	" and of the 14 before (0.5 when both are 0)"

// Weights of Formula.
const (
	wPersons  = 0.25
	wAccounts = 0.20
	wRevenue  = 0.30
	wBad      = 0.10
	wVotes    = 0.05
	wRecency  = 0.05
	wTrend    = 0.05
	halfLife  = 14 // days, of recency; also the trend's periods
)

// Sorts of a ranking.
var Sorts = []string{"impact", "persons", "accounts", "revenue", "bad_days", "votes", "recent", "trend"}

// MaxRankItems bounds the items one ranking reads (the newest).
const MaxRankItems = 200_000

// RankOptions say how to rank; zero fields take the defaults.
type RankOptions struct {
	Now       time.Time            // default time.Now()
	GroupType string               // of accounts; default "company"
	Bad       []insight.EventMatch // default the bad_days default, $exception
	Days      int                  // the window of events read, ending now; default 90
	// RevenueProperty of items (themes have their own); default mrr.
	RevenueProperty string
}

func (o *RankOptions) defaults() {
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	if o.GroupType == "" {
		o.GroupType = "company"
	}
	if o.Bad == nil { // insight.BadDays.Validate's default, as the home page's bad days
		o.Bad = []insight.EventMatch{{Event: "$exception"}}
	}
	if o.Days <= 0 {
		o.Days = 90
	}
	if o.RevenueProperty == "" {
		o.RevenueProperty = "mrr"
	}
}

// Impact is one ranked theme or item. For an item, ID is the item's and
// Items counts it and its duplicates.
type Impact struct {
	ID              int64     `json:"id"`
	Name            string    `json:"name,omitempty"`
	Status          string    `json:"status"`
	RevenueProperty string    `json:"revenue_property"`
	Items           int       `json:"items"`
	Persons         int       `json:"persons"`
	Accounts        int       `json:"accounts"`
	Revenue         float64   `json:"revenue"`
	BadDayPersons   int       `json:"bad_day_persons"`
	BadDayShare     float64   `json:"bad_day_share"`
	Votes           int       `json:"votes"`
	LastAt          time.Time `json:"last_at"`
	RecentItems     int       `json:"recent_items"`
	PreviousItems   int       `json:"previous_items"`
	Recency         float64   `json:"recency"`
	Trend           float64   `json:"trend"`
	Score           float64   `json:"score"`
}

// Ranking is the answer: themes and items, ranked by impact (Sort
// reorders), with the formula and what the figures were read over.
type Ranking struct {
	Themes    []Impact  `json:"themes"`
	Items     []Impact  `json:"items,omitempty"`
	Formula   string    `json:"formula"`
	GroupType string    `json:"group_type"`
	From      time.Time `json:"from"`
	To        time.Time `json:"to"`
	// Moved are distinct ids whose person is not the one their items
	// hold (a merge since): the caller records them (SetFeedbackPersons).
	Moved []meta.FeedbackPerson `json:"-"`
}

// Rank ranks themes and items of one project: items are FeedbackImpact
// rows, themes the project's (merged ones are left out).
func Rank(ctx context.Context, events store.VoC, projectID int64, items []meta.FeedbackImpact, themes []meta.Theme, o RankOptions) (*Ranking, error) {
	o.defaults()
	r := &Ranking{Themes: []Impact{}, Items: []Impact{}, Formula: Formula, GroupType: o.GroupType,
		From: o.Now.AddDate(0, 0, -o.Days).UTC(), To: o.Now.Add(time.Minute).UTC()}
	rk, err := resolve(ctx, events, projectID, items, r, o)
	if err != nil {
		return nil, err
	}
	live, themeOf := liveThemes(themes, items)
	props := map[string]bool{o.RevenueProperty: true}
	for _, th := range live {
		props[th.RevenueProperty] = true
	}
	revenue, err := rk.revenues(ctx, events, projectID, o.GroupType, props)
	if err != nil {
		return nil, err
	}
	recentFrom, previousFrom := o.Now.AddDate(0, 0, -halfLife), o.Now.AddDate(0, 0, -2*halfLife)
	r.Themes, r.Items = make([]Impact, 0, len(live)), make([]Impact, 0, len(items))
	for g, t := range rk.tallyBy(len(live), themeOf, recentFrom, previousFrom) {
		if th := live[g]; t.members > 0 {
			r.Themes = append(r.Themes, t.impact(th.ID, th.Name, th.Status, th.RevenueProperty, revenue[th.RevenueProperty], o.Now))
		}
	}
	for g, t := range rk.tallyBy(len(items), rootsOf(items), recentFrom, previousFrom) {
		if t.members > 0 {
			r.Items = append(r.Items, t.impact(items[g].ID, "", items[g].Status, o.RevenueProperty, revenue[o.RevenueProperty], o.Now))
		}
	}
	score(r.Themes)
	score(r.Items)
	return r, nil
}

// liveThemes numbers the themes not merged away and says which of them
// each item is in (-1: none of them).
func liveThemes(themes []meta.Theme, items []meta.FeedbackImpact) ([]meta.Theme, []int32) {
	var live []meta.Theme
	slot := map[int64]int32{}
	for _, th := range themes {
		if th.MergedInto != 0 {
			continue
		}
		if g, ok := slot[th.ID]; ok {
			live[g] = th
			continue
		}
		slot[th.ID] = int32(len(live))
		live = append(live, th)
	}
	of := make([]int32, len(items))
	for i := range items {
		g, ok := slot[items[i].ThemeID]
		if !ok {
			g = -1
		}
		of[i] = g
	}
	return live, of
}

// rootsOf says which item each item counts for: itself, or the item it
// was merged into (by index in items; -1 when that one is older than the
// items read).
func rootsOf(items []meta.FeedbackImpact) []int32 {
	slot := make(map[int64]int32, len(items))
	for i := range items {
		slot[items[i].ID] = int32(i)
	}
	of := make([]int32, len(items))
	for i := range items {
		root := items[i].ID
		if items[i].MergedInto != 0 {
			root = items[i].MergedInto
		}
		g, ok := slot[root]
		if !ok {
			g = -1
		}
		of[i] = g
	}
	return of
}

// number reads a property as a number: a JSON number or a numeric string.
func number(v any) (float64, bool) {
	switch v := v.(type) {
	case float64:
		return v, !math.IsInf(v, 0) && !math.IsNaN(v)
	case json.Number:
		f, err := v.Float64()
		return f, err == nil
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		return f, err == nil && !math.IsInf(f, 0) && !math.IsNaN(f)
	}
	return 0, false
}

// score computes Formula over a list and orders it by score, then id.
func score(list []Impact) {
	var mp, ma, mv float64
	var mr float64
	for _, im := range list {
		mp, ma, mv, mr = max(mp, float64(im.Persons)), max(ma, float64(im.Accounts)), max(mv, float64(im.Votes)), max(mr, im.Revenue)
	}
	part := func(v, m float64) float64 {
		if m <= 0 {
			return 0
		}
		return v / m
	}
	for i := range list {
		im := &list[i]
		s := wPersons*part(float64(im.Persons), mp) + wAccounts*part(float64(im.Accounts), ma) + wRevenue*part(im.Revenue, mr) +
			wBad*im.BadDayShare + wVotes*part(float64(im.Votes), mv) + wRecency*im.Recency + wTrend*im.Trend
		im.Score = math.Round(s*100*100) / 100
		im.Recency, im.Trend, im.BadDayShare = round3(im.Recency), round3(im.Trend), round3(im.BadDayShare)
	}
	Sort(list, "impact")
}

// Sort orders a ranked list by one of Sorts (highest first; ties by
// score, then by id); an unknown sort is impact. The keys are read once
// and a permutation is sorted: an Impact is large to swap, and a ranking
// sorts 100 000 items.
func Sort(list []Impact, by string) {
	key := sortKey(by)
	type entry struct {
		key, score float64
		id         int64
		at         int32
	}
	order := make([]entry, len(list))
	for i := range list {
		order[i] = entry{key(&list[i]), list[i].Score, list[i].ID, int32(i)}
	}
	slices.SortFunc(order, func(a, b entry) int {
		switch {
		case a.key != b.key:
			return cmpDesc(a.key, b.key)
		case a.score != b.score:
			return cmpDesc(a.score, b.score)
		case a.id < b.id:
			return -1
		case a.id > b.id:
			return 1
		}
		return 0
	})
	// Apply the permutation in place, a cycle at a time: place i takes
	// the Impact at order[i].at.
	for i := range order {
		if order[i].at < 0 {
			continue
		}
		held := list[i]
		j := i
		for {
			from := int(order[j].at)
			order[j].at = -1
			if from == i {
				list[j] = held
				break
			}
			list[j] = list[from]
			j = from
		}
	}
}

// cmpDesc orders a before b when a is higher (a != b).
func cmpDesc(a, b float64) int {
	if a > b {
		return -1
	}
	return 1
}

// sortKey is the figure a sort orders by.
func sortKey(by string) func(im *Impact) float64 {
	switch by {
	case "persons":
		return func(im *Impact) float64 { return float64(im.Persons) }
	case "accounts":
		return func(im *Impact) float64 { return float64(im.Accounts) }
	case "revenue":
		return func(im *Impact) float64 { return im.Revenue }
	case "bad_days":
		return func(im *Impact) float64 { return float64(im.BadDayPersons) }
	case "votes":
		return func(im *Impact) float64 { return float64(im.Votes) }
	case "recent":
		return func(im *Impact) float64 { return float64(im.LastAt.UnixMilli()) }
	case "trend":
		return func(im *Impact) float64 { return im.Trend }
	}
	return func(im *Impact) float64 { return im.Score }
}
