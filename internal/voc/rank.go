package voc

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
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

// agg collects one theme's or item's touches.
type agg struct {
	persons  []int64
	accounts []string
	votes    int
	items    int
	last     time.Time
	recent   int
	previous int
}

// Rank ranks themes and items of one project: items are FeedbackImpact
// rows, themes the project's (merged ones are left out).
func Rank(ctx context.Context, events store.VoC, projectID int64, items []meta.FeedbackImpact, themes []meta.Theme, o RankOptions) (*Ranking, error) {
	o.defaults()
	r := &Ranking{Themes: []Impact{}, Items: []Impact{}, Formula: Formula, GroupType: o.GroupType,
		From: o.Now.AddDate(0, 0, -o.Days).UTC(), To: o.Now.Add(time.Minute).UTC()}
	persons, err := readPersons(ctx, events, projectID, items, r, o)
	if err != nil {
		return nil, err
	}
	// Persons of unknown distinct ids get ids of their own below zero.
	unknown := map[string]int64{}
	personOf := func(f *meta.FeedbackImpact) (int64, []string, bool) {
		if p, ok := persons[f.DistinctID]; ok && p.Person != 0 {
			return p.Person, p.Accounts, p.Bad
		}
		id, ok := unknown[f.DistinctID]
		if !ok {
			id = -int64(len(unknown) + 1)
			unknown[f.DistinctID] = id
		}
		return id, nil, false
	}
	bad := map[int64]bool{}
	live := map[int64]meta.Theme{}
	for _, th := range themes {
		if th.MergedInto == 0 {
			live[th.ID] = th
		}
	}
	byTheme, byItem := map[int64]*agg{}, map[int64]*agg{}
	recentFrom, previousFrom := o.Now.AddDate(0, 0, -halfLife), o.Now.AddDate(0, 0, -2*halfLife)
	add := func(m map[int64]*agg, key int64, f *meta.FeedbackImpact, pid int64, accounts []string) {
		a := m[key]
		if a == nil {
			a = &agg{}
			m[key] = a
		}
		a.persons = append(a.persons, pid)
		a.accounts = append(append(a.accounts, f.Accounts...), accounts...)
		a.votes += f.Votes
		if f.MergedInto == 0 {
			a.items++
		}
		if f.CreatedAt.After(a.last) {
			a.last = f.CreatedAt
		}
		switch {
		case !f.CreatedAt.Before(recentFrom):
			a.recent++
		case !f.CreatedAt.Before(previousFrom):
			a.previous++
		}
	}
	for i := range items {
		f := &items[i]
		pid, accounts, isBad := personOf(f)
		if isBad {
			bad[pid] = true
		}
		if _, ok := live[f.ThemeID]; ok {
			add(byTheme, f.ThemeID, f, pid, accounts)
		}
		root := f.ID
		if f.MergedInto != 0 {
			root = f.MergedInto
		}
		add(byItem, root, f, pid, accounts)
	}
	revenue, err := readRevenue(ctx, events, projectID, o, live, byTheme, byItem)
	if err != nil {
		return nil, err
	}
	for id, a := range byTheme {
		th := live[id]
		r.Themes = append(r.Themes, a.impact(id, th.Name, th.Status, th.RevenueProperty, bad, revenue, o.Now))
	}
	status := map[int64]string{}
	for i := range items {
		status[items[i].ID] = items[i].Status
	}
	for id, a := range byItem {
		if _, ok := status[id]; !ok {
			continue // merged into an item older than the ones read
		}
		r.Items = append(r.Items, a.impact(id, "", status[id], o.RevenueProperty, bad, revenue, o.Now))
	}
	score(r.Themes)
	score(r.Items)
	return r, nil
}

// readPersons asks the event store about the items' authors, and notes
// the distinct ids whose person moved.
func readPersons(ctx context.Context, events store.VoC, projectID int64, items []meta.FeedbackImpact, r *Ranking, o RankOptions) (map[string]store.FeedbackPerson, error) {
	stored := make(map[string]int64, len(items))
	for i := range items {
		if items[i].DistinctID != "" {
			stored[items[i].DistinctID] = items[i].PersonID
		}
	}
	ids := make([]string, 0, len(stored))
	for id := range stored {
		ids = append(ids, id)
	}
	rows, err := events.FeedbackPersons(ctx, projectID, &store.FeedbackPersonsQuery{DistinctIDs: ids, GroupType: o.GroupType, Bad: o.Bad, From: r.From, To: r.To})
	if err != nil {
		return nil, fmt.Errorf("cannot read the persons of feedback: %w", err)
	}
	out := make(map[string]store.FeedbackPerson, len(rows))
	for _, p := range rows {
		out[p.DistinctID] = p
		if p.Person != 0 && stored[p.DistinctID] != p.Person {
			r.Moved = append(r.Moved, meta.FeedbackPerson{DistinctID: p.DistinctID, PersonID: p.Person})
		}
	}
	return out, nil
}

// revenueTable is each account's value of each revenue property asked.
type revenueTable map[string]map[string]float64

// readRevenue reads the revenue property values of every account touched.
func readRevenue(ctx context.Context, events store.VoC, projectID int64, o RankOptions, live map[int64]meta.Theme, aggs ...map[int64]*agg) (revenueTable, error) {
	seen := map[string]bool{}
	var keys []string
	for _, m := range aggs {
		for _, a := range m {
			if len(a.accounts) > 1 { // most items name one account or none
				slices.Sort(a.accounts)
				a.accounts = slices.Compact(a.accounts)
			}
			for _, k := range a.accounts {
				if !seen[k] {
					seen[k] = true
					keys = append(keys, k)
				}
			}
		}
	}
	props, err := events.GroupProperties(ctx, projectID, o.GroupType, keys)
	if err != nil {
		return nil, fmt.Errorf("cannot read the accounts of feedback: %w", err)
	}
	wanted := map[string]bool{o.RevenueProperty: true}
	for _, th := range live {
		wanted[th.RevenueProperty] = true
	}
	out := revenueTable{}
	for prop := range wanted {
		vals := map[string]float64{}
		for key, p := range props {
			if v, ok := number(p[prop]); ok {
				vals[key] = v
			}
		}
		out[prop] = vals
	}
	return out, nil
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

func (a *agg) impact(id int64, name, status, prop string, bad map[int64]bool, revenue revenueTable, now time.Time) Impact {
	persons := a.persons
	if len(persons) > 1 {
		slices.Sort(persons)
		persons = slices.Compact(persons)
	}
	im := Impact{ID: id, Name: name, Status: status, RevenueProperty: prop, Items: a.items, Persons: len(persons),
		Accounts: len(a.accounts), Votes: a.votes, LastAt: a.last.UTC(), RecentItems: a.recent, PreviousItems: a.previous}
	for _, p := range persons {
		if bad[p] {
			im.BadDayPersons++
		}
	}
	if im.Persons > 0 {
		im.BadDayShare = float64(im.BadDayPersons) / float64(im.Persons)
	}
	vals := revenue[prop]
	for _, k := range a.accounts {
		im.Revenue += vals[k]
	}
	im.Recency = math.Pow(0.5, math.Max(0, now.Sub(a.last).Hours()/24)/halfLife)
	im.Trend = 0.5
	if a.recent+a.previous > 0 {
		im.Trend = float64(a.recent) / float64(a.recent+a.previous)
	}
	return im
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
// score, then by id); an unknown sort is impact.
func Sort(list []Impact, by string) {
	key := func(im *Impact) float64 {
		switch by {
		case "persons":
			return float64(im.Persons)
		case "accounts":
			return float64(im.Accounts)
		case "revenue":
			return im.Revenue
		case "bad_days":
			return float64(im.BadDayPersons)
		case "votes":
			return float64(im.Votes)
		case "recent":
			return float64(im.LastAt.UnixMilli())
		case "trend":
			return im.Trend
		}
		return im.Score
	}
	sort.Slice(list, func(i, j int) bool {
		a, b := &list[i], &list[j]
		if ka, kb := key(a), key(b); ka != kb {
			return ka > kb
		}
		if a.Score != b.Score {
			return a.Score > b.Score
		}
		return a.ID < b.ID
	})
}
