package voc

// The ranking as first written (issue 16), kept verbatim as the oracle of
// TestRankMatchesReference: straightforward maps per theme and item, so
// that the faster ranking of rank.go can be checked to give the very same
// answer on data with merges, unknown authors, accounts named by items,
// several revenue properties and non-integer revenue.

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

	"github.com/journey-dev/journey/internal/meta"
	"github.com/journey-dev/journey/internal/store"
)

// agg collects one theme's or item's touches.
type refAgg struct {
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
func refRank(ctx context.Context, events store.VoC, projectID int64, items []meta.FeedbackImpact, themes []meta.Theme, o RankOptions) (*Ranking, error) {
	o.defaults()
	r := &Ranking{Themes: []Impact{}, Items: []Impact{}, Formula: Formula, GroupType: o.GroupType,
		From: o.Now.AddDate(0, 0, -o.Days).UTC(), To: o.Now.Add(time.Minute).UTC()}
	persons, err := refReadPersons(ctx, events, projectID, items, r, o)
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
	byTheme, byItem := map[int64]*refAgg{}, map[int64]*refAgg{}
	recentFrom, previousFrom := o.Now.AddDate(0, 0, -halfLife), o.Now.AddDate(0, 0, -2*halfLife)
	add := func(m map[int64]*refAgg, key int64, f *meta.FeedbackImpact, pid int64, accounts []string) {
		a := m[key]
		if a == nil {
			a = &refAgg{}
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
	revenue, err := refReadRevenue(ctx, events, projectID, o, live, byTheme, byItem)
	if err != nil {
		return nil, err
	}
	for id, a := range byTheme {
		th := live[id]
		r.Themes = append(r.Themes, a.refImpact(id, th.Name, th.Status, th.RevenueProperty, bad, revenue, o.Now))
	}
	status := map[int64]string{}
	for i := range items {
		status[items[i].ID] = items[i].Status
	}
	for id, a := range byItem {
		if _, ok := status[id]; !ok {
			continue // merged into an item older than the ones read
		}
		r.Items = append(r.Items, a.refImpact(id, "", status[id], o.RevenueProperty, bad, revenue, o.Now))
	}
	refScore(r.Themes)
	refScore(r.Items)
	return r, nil
}

// readPersons asks the event store about the items' authors, and notes
// the distinct ids whose person moved.
func refReadPersons(ctx context.Context, events store.VoC, projectID int64, items []meta.FeedbackImpact, r *Ranking, o RankOptions) (map[string]store.FeedbackPerson, error) {
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

// refRevenueTable is each account's value of each revenue property asked.
type refRevenueTable map[string]map[string]float64

// readRevenue reads the revenue property values of every account touched.
func refReadRevenue(ctx context.Context, events store.VoC, projectID int64, o RankOptions, live map[int64]meta.Theme, aggs ...map[int64]*refAgg) (refRevenueTable, error) {
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
	out := refRevenueTable{}
	for prop := range wanted {
		vals := map[string]float64{}
		for key, p := range props {
			if v, ok := refNumber(p[prop]); ok {
				vals[key] = v
			}
		}
		out[prop] = vals
	}
	return out, nil
}

// number reads a property as a number: a JSON number or a numeric string.
func refNumber(v any) (float64, bool) {
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

func (a *refAgg) refImpact(id int64, name, status, prop string, bad map[int64]bool, revenue refRevenueTable, now time.Time) Impact {
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

// refScore computes Formula over a list and orders it by score, then id.
func refScore(list []Impact) {
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
	refSort(list, "impact")
}

// refSort orders a ranked list by one of Sorts (highest first; ties by
// score, then by id); an unknown sort is impact.
func refSort(list []Impact, by string) {
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
