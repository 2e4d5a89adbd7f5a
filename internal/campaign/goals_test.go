package campaign

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/meta/sqlite"
	"github.com/journey-dev/journey/internal/store"
)

func TestGoalCacheMayConvert(t *testing.T) {
	var g goalCache
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	g.record(1, 7, "anon", at)
	cases := []struct {
		project, campaign int64
		own               string
		ids               []string
		trigger           time.Time
		want              bool
	}{
		{1, 7, "user", []string{"user", "anon"}, at.Add(-time.Second), true}, // a goal after the trigger, under a merged id
		{1, 7, "anon", nil, at, true},                                        // the same time converts (Converts: not before)
		{1, 7, "user", []string{"user", "anon"}, at.Add(time.Millisecond), false},
		{1, 7, "user", []string{"user"}, at.Add(-time.Second), false}, // another person's goal
		{1, 8, "anon", []string{"anon"}, at.Add(-time.Second), false}, // another campaign's
		{2, 7, "anon", []string{"anon"}, at.Add(-time.Second), false}, // another project's
	}
	for _, c := range cases {
		if got := g.mayConvert(c.project, c.campaign, c.own, c.ids, c.trigger); got != c.want {
			t.Errorf("%+v: %v, want %v", c, got, c.want)
		}
	}
	many := make([]string, maxIDsChecked+1)
	for i := range many {
		many[i] = fmt.Sprint("id-", i)
	}
	if !g.mayConvert(1, 7, "x", many, at.Add(time.Hour)) {
		t.Error("a person with too many distinct ids to look up is vouched for")
	}
}

func TestGoalCacheEvicts(t *testing.T) {
	var g goalCache
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	for i := range maxGoalCache + 1 {
		g.record(1, 1, fmt.Sprint("p", i), at.Add(time.Duration(i)*time.Millisecond))
	}
	if len(g.seen) > maxGoalCache/2+1 {
		t.Fatalf("%d entries kept of %d", len(g.seen), maxGoalCache)
	}
	// A dropped goal may convert any trigger at or before it: those are
	// checked at send time; later ones still by the cache.
	if !g.mayConvert(1, 1, "someone", nil, at.Add(time.Duration(maxGoalCache/4)*time.Millisecond)) {
		t.Error("a trigger before a dropped goal is vouched for")
	}
	if g.mayConvert(1, 1, "someone", nil, at.Add(time.Duration(maxGoalCache)*time.Millisecond)) {
		t.Error("a trigger after every goal needs a check")
	}
	if !g.mayConvert(1, 1, fmt.Sprint("p", maxGoalCache), nil, at.Add(time.Duration(maxGoalCache)*time.Millisecond)) {
		t.Error("a kept goal is forgotten")
	}
}

// TestGoalMarkPersists: the latest goal time survives a restart (in the
// metadata store), so a trigger no later than a goal of an earlier run
// is checked at send time; an engine that ran before without a mark
// checks everything up to upgradeMargin ahead.
func TestGoalMarkPersists(t *testing.T) {
	ctx := context.Background()
	m, err := sqlite.Open(filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	var first goalCache
	if err := first.load(ctx, m, false, now); err != nil {
		t.Fatal(err)
	}
	if first.mayConvert(1, 1, "a", nil, now.Add(-time.Hour)) {
		t.Fatal("a first run vouches for nothing before it")
	}
	first.record(1, 1, "a", now.Add(time.Minute))
	if err := first.save(ctx, m); err != nil {
		t.Fatal(err)
	}
	var second goalCache
	if err := second.load(ctx, m, true, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if !second.mayConvert(1, 1, "b", nil, now.Add(time.Minute)) || second.mayConvert(1, 1, "b", nil, now.Add(time.Minute+time.Millisecond)) {
		t.Fatal("the next run does not check exactly the triggers up to the stored goal mark")
	}
	// An engine that ran before the mark existed (a checkpoint, no mark).
	m2, err := sqlite.Open(filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	var upgraded goalCache
	if err := upgraded.load(ctx, m2, true, now); err != nil {
		t.Fatal(err)
	}
	if !upgraded.mayConvert(1, 1, "c", nil, now.Add(23*time.Hour)) || upgraded.mayConvert(1, 1, "c", nil, now.Add(25*time.Hour)) {
		t.Fatal("an upgraded engine does not check the next day's triggers")
	}
	if err := upgraded.save(ctx, m2); err != nil {
		t.Fatal(err)
	}
	if pos, ok, err := m2.ConsumerPosition(ctx, GoalMarkConsumer); err != nil || !ok || int64(pos) != now.Add(upgradeMargin).UnixMilli() {
		t.Fatalf("stored mark %d %v %v", pos, ok, err)
	}
}

func TestGoalChecks(t *testing.T) {
	d, err := Parse([]byte(reminder))
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{"user", "anon"}
	if IDsDigest(ids) != IDsDigest([]string{"anon", "user"}) || IDsDigest(ids) == IDsDigest([]string{"user"}) ||
		IDsDigest([]string{"ab", "c"}) == IDsDigest([]string{"a", "bc"}) {
		t.Fatal("IDsDigest is not a digest of the set")
	}
	other, _ := Parse([]byte(reminder))
	other.Goal.Match = ""
	if GoalSig(d) == "" || GoalSig(d) == GoalSig(other) || GoalSig(d) != GoalSig(must(Parse([]byte(reminder)))) {
		t.Fatal("GoalSig does not follow the goal")
	}
	p := Payload{IDs: IDsDigest(ids), Goal: GoalSig(d)}
	person := store.Person{ID: 5}
	cases := []struct {
		name   string
		p      Payload
		d      *Definition
		person store.Person
		found  bool
		ids    []string
		want   bool
	}{
		{"nothing changed", p, d, person, true, ids, false},
		{"the engine may have seen the goal first", Payload{IDs: p.IDs, Goal: p.Goal, Recheck: true}, d, person, true, ids, true},
		{"scheduled before payloads said", Payload{}, d, person, true, ids, true},
		{"the person not found", p, d, person, false, nil, true},
		{"merged into another person", p, d, store.Person{ID: 6}, true, ids, true},
		{"another person merged in", p, d, person, true, append(ids, "phone"), true},
		{"the goal changed", p, other, person, true, ids, true},
	}
	for _, c := range cases {
		if got := goalsCheckedAt(c.p, c.d, 5, c.person, c.found, c.ids); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
