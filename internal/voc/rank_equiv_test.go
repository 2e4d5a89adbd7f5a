package voc

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/meta"
	"github.com/journey-dev/journey/internal/store"
)

// memVoC is an event store's answers held in memory: the persons of
// distinct ids (after merges) and the groups' properties. Each call
// answers fresh copies, in a shuffled order, as a store may.
type memVoC struct {
	persons map[string]store.FeedbackPerson
	groups  map[string]map[string]any
	rng     *rand.Rand
}

func (m *memVoC) FeedbackPersons(_ context.Context, _ int64, q *store.FeedbackPersonsQuery) ([]store.FeedbackPerson, error) {
	out := []store.FeedbackPerson{}
	for i, id := range q.DistinctIDs {
		if p, ok := m.persons[id]; ok {
			p.Accounts = slices.Clone(p.Accounts)
			p.Asked = i
			if i%7 == 3 {
				p.Asked = 0 // wrong: the ranking must look the id up
			}
			out = append(out, p)
		}
	}
	m.rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out, nil
}

func (m *memVoC) GroupProperties(_ context.Context, _ int64, _ string, keys []string) (map[string]map[string]any, error) {
	out := map[string]map[string]any{}
	for _, k := range keys {
		if p, ok := m.groups[k]; ok {
			out[k] = p
		}
	}
	return out, nil
}

func (m *memVoC) GroupPropertyValues(ctx context.Context, projectID int64, groupType string, keys, props []string) (map[string]map[string]any, error) {
	all, _ := m.GroupProperties(ctx, projectID, groupType, keys)
	out := map[string]map[string]any{}
	for key, p := range all {
		for _, prop := range props {
			if v, ok := p[prop]; ok {
				if out[key] == nil {
					out[key] = map[string]any{}
				}
				out[key][prop] = v
			}
		}
	}
	return out, nil
}

// TestRankMatchesReference: the ranking gives the reference ranking's
// answer (rank_ref_test.go, the first, map-based implementation) field
// for field, on random projects with what the hand-computed test has
// few of: persons with several distinct ids and accounts, authors not
// stored, items without an author, accounts named by items (stored or
// not), themes merged and with other revenue properties, revenue values
// as fractions, numeric strings and non-numbers, duplicates merged into
// items read and into items not read, items of no theme or of an
// unknown one.
func TestRankMatchesReference(t *testing.T) {
	for seed := uint64(1); seed <= 40; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 42))
			events, items, themes, now := randomProject(rng)
			o := RankOptions{Now: now}
			if seed%3 == 0 {
				o.RevenueProperty = "arr"
			}
			want, err := refRank(context.Background(), events, 1, slices.Clone(items), themes, o)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Rank(context.Background(), events, 1, items, themes, o)
			if err != nil {
				t.Fatal(err)
			}
			if len(want.Themes) == 0 || len(want.Items) == 0 {
				t.Fatalf("a degenerate project: %d themes, %d items ranked", len(want.Themes), len(want.Items))
			}
			for _, c := range []struct {
				name      string
				got, want []Impact
			}{{"themes", got.Themes, want.Themes}, {"items", got.Items, want.Items}} {
				if len(c.got) != len(c.want) {
					t.Fatalf("%d %s ranked, want %d", len(c.got), c.name, len(c.want))
				}
				for i := range c.want {
					if !reflect.DeepEqual(c.got[i], c.want[i]) {
						t.Fatalf("%s[%d] =\n%+v\nwant\n%+v", c.name, i, c.got[i], c.want[i])
					}
				}
			}
			for _, by := range append(slices.Clone(Sorts), "unknown") {
				for _, list := range [][]Impact{want.Themes, want.Items} {
					g, w := slices.Clone(list), slices.Clone(list)
					rng.Shuffle(len(g), func(i, j int) { g[i], g[j] = g[j], g[i] })
					Sort(g, by)
					refSort(w, by)
					if !reflect.DeepEqual(g, w) {
						t.Fatalf("Sort by %s differs from the reference's", by)
					}
				}
			}
			byID := func(a, b meta.FeedbackPerson) int { return strings.Compare(a.DistinctID, b.DistinctID) }
			gm, wm := slices.SortedFunc(slices.Values(got.Moved), byID), slices.SortedFunc(slices.Values(want.Moved), byID)
			if !slices.Equal(gm, wm) || len(wm) == 0 {
				t.Fatalf("moved = %v, want %v (not empty)", gm, wm)
			}
			got.Themes, got.Items, got.Moved, want.Themes, want.Items, want.Moved = nil, nil, nil, nil, nil, nil
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("ranking = %+v, want %+v", got, want)
			}
		})
	}
}

// randomProject makes a project's event-store answers, items and themes.
func randomProject(rng *rand.Rand) (*memVoC, []meta.FeedbackImpact, []meta.Theme, time.Time) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	m := &memVoC{persons: map[string]store.FeedbackPerson{}, groups: map[string]map[string]any{}, rng: rng}
	accounts := make([]string, 25)
	for i := range accounts {
		accounts[i] = fmt.Sprintf("acc%02d", i)
		if i%5 == 4 {
			continue // not stored
		}
		props := map[string]any{}
		switch rng.IntN(5) {
		case 0:
			props["mrr"] = float64(rng.IntN(1000))
		case 1:
			props["mrr"] = float64(rng.IntN(100000)) / 100 // fractions: the sum's order counts
		case 2:
			props["mrr"] = fmt.Sprintf(" %d.25 ", rng.IntN(50))
		case 3:
			props["mrr"] = "n/a"
		}
		if rng.IntN(2) == 0 {
			props["arr"] = float64(rng.IntN(10000)) / 10
		}
		m.groups[accounts[i]] = props
	}
	var ids []string
	for p := 1; p <= 60; p++ {
		var accs []string
		for range rng.IntN(4) {
			accs = append(accs, accounts[rng.IntN(len(accounts))])
		}
		slices.Sort(accs)
		accs = slices.Compact(accs)
		bad := rng.IntN(3) == 0
		for k := range 1 + rng.IntN(3) { // a person's distinct ids answer alike
			id := fmt.Sprintf("d%d_%d", p, k)
			m.persons[id] = store.FeedbackPerson{DistinctID: id, Person: int64(1000 + p), Accounts: slices.Clone(accs), Bad: bad}
			ids = append(ids, id)
		}
	}
	for i := range 10 {
		ids = append(ids, fmt.Sprintf("x%d", i)) // not stored
	}
	ids = append(ids, "")
	themes := make([]meta.Theme, 9)
	props := []string{"mrr", "mrr", "arr", "nope"}
	for i := range themes {
		themes[i] = meta.Theme{ID: int64(10 + i), ProjectID: 1, Name: fmt.Sprintf("T%d", i), Status: "new", RevenueProperty: props[rng.IntN(len(props))]}
	}
	themes[7].MergedInto, themes[8].MergedInto = themes[1].ID, themes[2].ID
	n := 400
	items := make([]meta.FeedbackImpact, n)
	statuses := []string{"new", "planned", "in progress", "done", "declined"}
	for i := range items {
		f := &items[i]
		f.ID = int64(5000 - i) // newest first, as FeedbackImpact reads them
		f.DistinctID = ids[rng.IntN(len(ids))]
		if p, ok := m.persons[f.DistinctID]; ok && rng.IntN(2) == 0 {
			f.PersonID = p.Person // recorded already
		}
		switch r := rng.IntN(12); {
		case r == 0:
			f.ThemeID = 0
		case r == 1:
			f.ThemeID = 999 // not a theme of the project
		default:
			f.ThemeID = themes[rng.IntN(len(themes))].ID
		}
		switch r := rng.IntN(10); {
		case r == 0 && i+1 < n:
			f.MergedInto = int64(5000 - (i + 1 + rng.IntN(n-i-1))) // an older item read
		case r == 1:
			f.MergedInto = 100 // older than the items read
		}
		for range rng.IntN(3) / 2 * (1 + rng.IntN(2)) {
			f.Accounts = append(f.Accounts, accounts[rng.IntN(len(accounts))], "named-only")
		}
		f.Votes = rng.IntN(4)
		f.Status = statuses[rng.IntN(len(statuses))]
		f.CreatedAt = now.Add(-time.Duration(rng.Int64N(int64(60 * 24 * time.Hour))))
	}
	return m, items, themes, now
}
