package voc

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/journey-dev/journey/internal/meta"
	"github.com/journey-dev/journey/internal/store"
)

// The ranking's bookkeeping (issue 16: 100 000 items in well under a
// second). Distinct ids, persons and accounts are numbered once, densely,
// and every theme's or item's distinct persons and accounts are counted
// with a mark per number instead of maps and sorted slices of strings;
// items are bucketed by theme and by root item in two passes (a counting
// sort), so one loop over each bucket tallies it.

// span is a range of a flat []int32.
type span struct{ lo, hi int32 }

// ranker is one ranking's items resolved against the event store.
type ranker struct {
	items []meta.FeedbackImpact
	// Per item: its author's dense person and the accounts it counts
	// (those it names, then its author's, as account numbers in acc).
	author   []int32
	named    []span
	authored []span // of the author's distinct id; empty when unknown
	acc      []int32
	bad      []bool   // per dense person: a bad day in the window
	keys     []string // account keys, ascending; an account's number indexes it
}

// resolve numbers the items' distinct ids, asks the event store about
// them, numbers their persons (an unknown distinct id is a person of its
// own) and the accounts (in the keys' order, so that a sorted list of
// numbers is a sorted list of keys), and notes the distinct ids whose
// person moved in r.Moved.
func resolve(ctx context.Context, events store.VoC, projectID int64, items []meta.FeedbackImpact, r *Ranking, o RankOptions) (*ranker, error) {
	rk := &ranker{items: items, author: make([]int32, len(items)), named: make([]span, len(items)), authored: make([]span, len(items))}
	ids := make(map[string]int32, len(items))
	idOf := make([]int32, len(items))
	var stored []int64 // per distinct id, the person its last item recorded
	var names []string
	for i := range items {
		d, ok := ids[items[i].DistinctID]
		if !ok {
			d = int32(len(names))
			ids[items[i].DistinctID] = d
			names = append(names, items[i].DistinctID)
			stored = append(stored, 0)
		}
		idOf[i], stored[d] = d, items[i].PersonID
	}
	ask := make([]string, 0, len(names))
	askedAs := make([]int32, 0, len(names)) // an asked id's number
	for d, id := range names {
		if id != "" {
			ask, askedAs = append(ask, id), append(askedAs, int32(d))
		}
	}
	rows, err := events.FeedbackPersons(ctx, projectID, &store.FeedbackPersonsQuery{DistinctIDs: ask, GroupType: o.GroupType, Bad: o.Bad, From: r.From, To: r.To})
	if err != nil {
		return nil, fmt.Errorf("cannot read the persons of feedback: %w", err)
	}
	accounts := newNumbering(0)
	person := make([]int64, len(names)) // per distinct id, 0 when unknown
	isBad := make([]bool, len(names))
	idAcc := make([]span, len(names))
	for _, p := range rows {
		var d int32
		ok := p.Asked >= 0 && p.Asked < len(ask) && ask[p.Asked] == p.DistinctID
		if ok {
			d = askedAs[p.Asked] // the store says where it is: no lookup
		} else {
			d, ok = ids[p.DistinctID]
		}
		var was int64
		if ok {
			was = stored[d]
		}
		if p.Person != 0 && was != p.Person {
			r.Moved = append(r.Moved, meta.FeedbackPerson{DistinctID: p.DistinctID, PersonID: p.Person})
		}
		if !ok {
			continue
		}
		person[d], isBad[d] = p.Person, p.Bad
		idAcc[d] = accounts.addAll(&rk.acc, p.Accounts)
	}
	rk.numberPersons(idOf, person, isBad)
	for i := range items {
		rk.named[i] = accounts.addAll(&rk.acc, items[i].Accounts)
		if d := idOf[i]; person[d] != 0 {
			rk.authored[i] = idAcc[d]
		}
	}
	rk.keys = accounts.sortKeys(rk.acc)
	return rk, nil
}

// numberPersons gives each item's author a dense person: the stored
// person of its distinct id, or one per unknown distinct id; a person is
// bad when any of its distinct ids is.
func (rk *ranker) numberPersons(idOf []int32, person []int64, isBad []bool) {
	dense := make(map[int64]int32, len(person))
	ofID := make([]int32, len(person))
	n := int32(0)
	for d, p := range person {
		if p == 0 {
			ofID[d], n = n, n+1
			rk.bad = append(rk.bad, false)
			continue
		}
		k, ok := dense[p]
		if !ok {
			k, n = n, n+1
			dense[p] = k
			rk.bad = append(rk.bad, false)
		}
		ofID[d] = k
		rk.bad[k] = rk.bad[k] || isBad[d]
	}
	for i, d := range idOf {
		rk.author[i] = ofID[d]
	}
}

// numbering numbers strings in the order first seen; sortKeys renumbers
// them in ascending order.
type numbering struct {
	of   map[string]int32
	keys []string
}

func newNumbering(n int) *numbering { return &numbering{of: make(map[string]int32, n)} }

// addAll appends the numbers of keys to *buf and returns their span.
func (nb *numbering) addAll(buf *[]int32, keys []string) span {
	lo := int32(len(*buf))
	for _, k := range keys {
		v, ok := nb.of[k]
		if !ok {
			v = int32(len(nb.keys))
			nb.of[k] = v
			nb.keys = append(nb.keys, k)
		}
		*buf = append(*buf, v)
	}
	return span{lo, int32(len(*buf))}
}

// sortKeys renumbers the keys in ascending order, rewriting buf, and
// returns the keys in that order.
func (nb *numbering) sortKeys(buf []int32) []string {
	order := make([]int32, len(nb.keys))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(a, b int32) int {
		switch ka, kb := nb.keys[a], nb.keys[b]; {
		case ka < kb:
			return -1
		case ka > kb:
			return 1
		}
		return 0
	})
	renumber := make([]int32, len(order))
	sorted := make([]string, len(order))
	for rank, old := range order {
		renumber[old], sorted[rank] = int32(rank), nb.keys[old]
	}
	for i, v := range buf {
		buf[i] = renumber[v]
	}
	return sorted
}

// touches are what one theme or item touches. Accounts are distinct account
// numbers, ascending.
type touches struct {
	members, items             int
	persons, badPersons, votes int
	recent, previous           int
	last                       time.Time
	accounts                   []int32
}

// tallyBy tallies the items by group: groupOf[i] is item i's group in
// [0, groups), or -1 for none.
func (rk *ranker) tallyBy(groups int, groupOf []int32, recentFrom, previousFrom time.Time) []touches {
	start := make([]int32, groups+1)
	for _, g := range groupOf {
		if g >= 0 {
			start[g+1]++
		}
	}
	for g := range groups {
		start[g+1] += start[g]
	}
	bucket := make([]int32, start[groups])
	next := slices.Clone(start[:groups])
	for i, g := range groupOf {
		if g >= 0 {
			bucket[next[g]] = int32(i)
			next[g]++
		}
	}
	out := make([]touches, groups)
	personMark := make([]int32, len(rk.bad))
	accountMark := make([]int32, len(rk.keys))
	var accounts []int32
	for g := range groups {
		t, stamp := &out[g], int32(g+1)
		from := len(accounts)
		for _, i := range bucket[start[g]:start[g+1]] {
			f := &rk.items[i]
			t.members++
			if p := rk.author[i]; personMark[p] != stamp {
				personMark[p] = stamp
				t.persons++
				if rk.bad[p] {
					t.badPersons++
				}
			}
			for _, s := range [2]span{rk.named[i], rk.authored[i]} {
				for _, a := range rk.acc[s.lo:s.hi] {
					if accountMark[a] != stamp {
						accountMark[a] = stamp
						accounts = append(accounts, a)
					}
				}
			}
			t.votes += f.Votes
			if f.MergedInto == 0 {
				t.items++
			}
			if f.CreatedAt.After(t.last) {
				t.last = f.CreatedAt
			}
			switch {
			case !f.CreatedAt.Before(recentFrom):
				t.recent++
			case !f.CreatedAt.Before(previousFrom):
				t.previous++
			}
		}
		t.accounts = accounts[from:len(accounts):len(accounts)]
		slices.Sort(t.accounts)
	}
	return out
}

// impact is the figures of t; revenue is the revenue property's value
// per account number (0 where unset), summed in the keys' order.
func (t *touches) impact(id int64, name, status, prop string, revenue []float64, now time.Time) Impact {
	im := Impact{ID: id, Name: name, Status: status, RevenueProperty: prop, Items: t.items, Persons: t.persons,
		Accounts: len(t.accounts), BadDayPersons: t.badPersons, Votes: t.votes, LastAt: t.last.UTC(),
		RecentItems: t.recent, PreviousItems: t.previous}
	if im.Persons > 0 {
		im.BadDayShare = float64(im.BadDayPersons) / float64(im.Persons)
	}
	for _, a := range t.accounts {
		im.Revenue += revenue[a]
	}
	im.Recency = math.Pow(0.5, math.Max(0, now.Sub(t.last).Hours()/24)/halfLife)
	im.Trend = 0.5
	if t.recent+t.previous > 0 {
		im.Trend = float64(t.recent) / float64(t.recent+t.previous)
	}
	return im
}

// revenues reads, for each property asked, its value on every account
// (0 where unset or not a number), indexed by account number.
func (rk *ranker) revenues(ctx context.Context, events store.VoC, projectID int64, groupType string, props map[string]bool) (map[string][]float64, error) {
	names := make([]string, 0, len(props))
	for prop := range props {
		names = append(names, prop)
	}
	stored, err := events.GroupPropertyValues(ctx, projectID, groupType, rk.keys, names)
	if err != nil {
		return nil, fmt.Errorf("cannot read the accounts of feedback: %w", err)
	}
	out := make(map[string][]float64, len(props))
	for prop := range props {
		vals := make([]float64, len(rk.keys))
		for a, key := range rk.keys {
			if v, ok := number(stored[key][prop]); ok {
				vals[a] = v
			}
		}
		out[prop] = vals
	}
	return out, nil
}
