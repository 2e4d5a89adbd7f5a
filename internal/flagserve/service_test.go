package flagserve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/flags"
	"github.com/journey-dev/journey/internal/meta"
	"github.com/journey-dev/journey/internal/meta/sqlite"
	"github.com/journey-dev/journey/internal/store"
)

// persons is an event store's person lookup, counting its calls.
type persons struct {
	mu    sync.Mutex
	byID  map[string]store.Person
	ids   map[string][]string
	calls int
	err   error
}

func (p *persons) PersonByDistinctID(_ context.Context, _ int64, id string) (store.Person, []string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls++
	if p.err != nil {
		return store.Person{}, nil, p.err
	}
	sp, ok := p.byID[id]
	if !ok {
		return store.Person{}, nil, store.ErrNotFound
	}
	return sp, p.ids[id], nil
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type world struct {
	t     testing.TB
	meta  *sqlite.Store
	p     *persons
	clock *clock
	s     *Service
	pid   int64
}

func newWorld(t testing.TB, opt Options) *world {
	t.Helper()
	m, err := sqlite.Open(filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	pr, _, err := m.CreateProject(context.Background(), "p", "UTC")
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, meta: m, p: &persons{byID: map[string]store.Person{}, ids: map[string][]string{}}, clock: &clock{t: time.Unix(1_800_000_000, 0)}, pid: pr.ID}
	opt.Now = w.clock.now
	w.s = New(m, w.p, opt)
	return w
}

// flag stores a flag given as PostHog JSON.
func (w *world) flag(js string) meta.Flag {
	w.t.Helper()
	f, err := flags.Decode([]byte(js))
	if err != nil {
		w.t.Fatal(err)
	}
	m, err := w.meta.CreateFlag(context.Background(), meta.Flag{ProjectID: w.pid, Key: f.Key, Name: f.Name, Active: f.Active, Definition: Definition(f)})
	if err != nil {
		w.t.Fatal(err)
	}
	return m
}

func (w *world) eval(req Request) *Answer {
	w.t.Helper()
	req.ProjectID = w.pid
	a, err := w.s.Evaluate(context.Background(), &req)
	if err != nil {
		w.t.Fatal(err)
	}
	return a
}

// values is key=value for each result.
func values(a *Answer) string {
	var out []string
	for _, r := range a.Results {
		out = append(out, fmt.Sprintf("%s=%v", r.Key, r.Value()))
	}
	return strings.Join(out, " ")
}

// TestReloadWithinCheckEvery: a change is seen once the snapshot is
// CheckEvery old, not before, and costs one revision read per period.
func TestReloadWithinCheckEvery(t *testing.T) {
	w := newWorld(t, Options{})
	w.flag(`{"key":"a","filters":{"groups":[{"rollout_percentage":100}]}}`)
	if got := values(w.eval(Request{DistinctID: "u"})); got != "a=true" {
		t.Fatalf("first answer %q", got)
	}
	w.flag(`{"key":"b","filters":{"groups":[{"rollout_percentage":100}]}}`)
	w.clock.add(500 * time.Millisecond)
	if got := values(w.eval(Request{DistinctID: "u"})); got != "a=true" {
		t.Errorf("within a second: %q (the snapshot was not used)", got)
	}
	w.clock.add(600 * time.Millisecond)
	if got := values(w.eval(Request{DistinctID: "u"})); got != "a=true b=true" {
		t.Errorf("after a second: %q, want the new flag", got)
	}
	if n, _ := w.s.Count(context.Background(), w.pid); n != 2 {
		t.Errorf("Count %d", n)
	}
}

// TestMetaDown: a project with a snapshot keeps answering from it when
// the metadata store fails; one without answers ErrUnavailable.
func TestMetaDown(t *testing.T) {
	w := newWorld(t, Options{})
	w.flag(`{"key":"a"}`)
	w.eval(Request{DistinctID: "u"})
	w.meta.Close()
	w.clock.add(2 * time.Second)
	if got := values(w.eval(Request{DistinctID: "u"})); got != "a=false" {
		t.Errorf("from the last snapshot: %q", got)
	}
	if _, err := w.s.Evaluate(context.Background(), &Request{ProjectID: w.pid + 1, DistinctID: "u"}); !errors.Is(err, ErrUnavailable) {
		t.Errorf("no snapshot, no store: %v, want ErrUnavailable", err)
	}
}

// TestPersonProperties: stored properties target, the request's win, an
// unknown person has only the request's, the cache keeps a person for
// PersonTTL, and a project whose flags need no person never looks one up.
func TestPersonProperties(t *testing.T) {
	w := newWorld(t, Options{})
	w.p.byID["u"] = store.Person{Properties: map[string]any{"plan": "pro", "n": json.Number("7")}}
	w.p.ids["u"] = []string{"u", "u-old"}
	rollout := w.flag(`{"key":"all","filters":{"groups":[{"rollout_percentage":100}]}}`)
	if w.eval(Request{DistinctID: "u"}); w.p.calls != 0 {
		t.Fatalf("%d person lookups for flags without person filters", w.p.calls)
	}
	w.meta.DeleteFlag(context.Background(), w.pid, rollout.ID, 0)
	w.flag(`{"key":"pro","filters":{"groups":[{"properties":[{"key":"plan","value":"pro"},{"key":"n","value":5,"operator":"gt"}]}]}}`)
	w.clock.add(2 * time.Second)
	if got := values(w.eval(Request{DistinctID: "u"})); got != "pro=true" {
		t.Errorf("stored properties: %q", got)
	}
	if got := values(w.eval(Request{DistinctID: "u", PersonProperties: map[string]any{"plan": "free"}})); got != "pro=false" {
		t.Errorf("request wins: %q", got)
	}
	if got := values(w.eval(Request{DistinctID: "nobody", PersonProperties: map[string]any{"plan": "pro", "n": 6.0}})); got != "pro=true" {
		t.Errorf("unknown person, request properties: %q", got)
	}
	calls := w.p.calls
	w.p.byID["u"] = store.Person{Properties: map[string]any{"plan": "free"}}
	w.clock.add(10 * time.Second)
	if got := values(w.eval(Request{DistinctID: "u"})); got != "pro=true" || w.p.calls != calls {
		t.Errorf("within the TTL: %q after %d lookups, want the cached person", got, w.p.calls-calls)
	}
	w.clock.add(25 * time.Second)
	if got := values(w.eval(Request{DistinctID: "u"})); got != "pro=false" {
		t.Errorf("after the TTL: %q, want the stored change", got)
	}
	w.p.err = errors.New("store down")
	a := w.eval(Request{DistinctID: "other", PersonProperties: map[string]any{"plan": "pro", "n": 9}})
	if values(a) != "pro=true" || !a.Errored {
		t.Errorf("store error: %q errored=%v, want the request's properties and errorsWhileComputingFlags", values(a), a.Errored)
	}
}

// TestCachesBounded: snapshots and persons stay within their bounds.
func TestCachesBounded(t *testing.T) {
	w := newWorld(t, Options{MaxProjects: 2, MaxPersons: 10})
	w.flag(`{"key":"pro","filters":{"groups":[{"properties":[{"key":"plan","value":"pro"}]}]}}`)
	for i := 0; i < 100; i++ {
		w.p.byID[fmt.Sprint(i)] = store.Person{Properties: map[string]any{"plan": "pro"}}
		w.eval(Request{DistinctID: fmt.Sprint(i)})
	}
	if n := w.s.persons.lru.Len(); n != 10 || len(w.s.persons.byKey) != 10 {
		t.Errorf("person cache holds %d entries, bounded at 10", n)
	}
	for i := int64(0); i < 5; i++ {
		p, _, _ := w.meta.CreateProject(context.Background(), fmt.Sprint(i), "UTC")
		w.s.Evaluate(context.Background(), &Request{ProjectID: p.ID, DistinctID: "u"})
	}
	if len(w.s.projects) != 2 || w.s.lru.Len() != 2 {
		t.Errorf("%d snapshots kept, bounded at 2", len(w.s.projects))
	}
	big := newPersonCache(w.p, time.Minute, 1000, 16<<10, w.clock.now)
	huge := map[string]any{}
	for i := 0; i < 1000; i++ {
		huge[fmt.Sprint("k", i)] = strings.Repeat("v", 100)
	}
	w.p.byID["huge"] = store.Person{Properties: huge}
	for i := 0; i < 50; i++ {
		w.p.byID[fmt.Sprint("s", i)] = store.Person{Properties: map[string]any{"a": strings.Repeat("x", 500)}}
		big.get(context.Background(), 1, fmt.Sprint("s", i))
	}
	big.get(context.Background(), 1, "huge")
	if big.bytes > 16<<10 || big.byKey["1\x00huge"] != nil {
		t.Errorf("byte-bounded cache holds %d bytes (bound %d), huge cached: %v", big.bytes, 16<<10, big.byKey["1\x00huge"] != nil)
	}
}

// TestCohorts: static cohorts match any of the person's distinct ids,
// property cohorts match on properties (and are served to SDKs), a
// behavioural cohort matches no one and says so.
func TestCohorts(t *testing.T) {
	w := newWorld(t, Options{})
	ctx := context.Background()
	w.p.byID["u"] = store.Person{Properties: map[string]any{"country": "FR"}}
	w.p.ids["u"] = []string{"u", "u-anon"}
	static, _ := w.meta.CreateCohort(ctx, w.pid, "static", []byte(`{"distinct_ids":["u-anon","x"]}`))
	props, _ := w.meta.CreateCohort(ctx, w.pid, "fr", []byte(`{"type":"OR","values":[{"type":"AND","values":[{"key":"country","value":["FR","BE"],"operator":"exact","type":"person"}]}]}`))
	behav, _ := w.meta.CreateCohort(ctx, w.pid, "buyers", []byte(`{"behavior":{"event":"purchase","days":30}}`))
	cohort := func(key string, id int64) {
		w.flag(fmt.Sprintf(`{"key":%q,"filters":{"groups":[{"properties":[{"key":"id","type":"cohort","value":%d}]}]}}`, key, id))
	}
	cohort("s", static.ID)
	cohort("p", props.ID)
	a := w.eval(Request{DistinctID: "u"})
	if values(a) != "p=true s=true" || a.Errored {
		t.Errorf("static and property cohorts: %q errored=%v", values(a), a.Errored)
	}
	if got := values(w.eval(Request{DistinctID: "v", PersonProperties: map[string]any{"country": "DE"}})); got != "p=false s=false" {
		t.Errorf("outside both: %q", got)
	}
	cohort("b", behav.ID)
	w.clock.add(2 * time.Second)
	a = w.eval(Request{DistinctID: "u", FlagKeys: []string{"b"}})
	if values(a) != "b=false" || !a.Errored || !errors.Is(a.Results[0].Err, ErrCohort) {
		t.Errorf("behavioural cohort: %q errored=%v err=%v", values(a), a.Errored, a.Results[0].Err)
	}
	defs, _, err := w.s.Definitions(ctx, w.pid)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Cohorts map[string]json.RawMessage `json:"cohorts"`
	}
	json.Unmarshal(defs, &d)
	if len(d.Cohorts) != 1 || d.Cohorts[fmt.Sprint(props.ID)] == nil {
		t.Errorf("definitions serve cohorts %s, want only the property cohort %d", defs, props.ID)
	}
	// A cohort change bumps the revision: the next check sees it.
	w.meta.UpdateCohort(ctx, w.pid, static.ID, "static", []byte(`{"distinct_ids":["x"]}`))
	w.clock.add(2 * time.Second)
	if got := values(w.eval(Request{DistinctID: "u", FlagKeys: []string{"s"}})); got != "s=false" {
		t.Errorf("after the cohort changed: %q", got)
	}
}

// TestExperienceContinuity: on identify ($anon_distinct_id) the anonymous
// id becomes the hash key of continuity flags for both ids, so the person
// keeps the anonymous bucket, then and later; other flags bucket by the
// distinct id.
func TestExperienceContinuity(t *testing.T) {
	w := newWorld(t, Options{})
	w.flag(`{"key":"keep","ensure_experience_continuity":true,"filters":{"groups":[{"rollout_percentage":50}]}}`)
	w.flag(`{"key":"plain","filters":{"groups":[{"rollout_percentage":50}]}}`)
	// An anonymous id inside both rollouts and a user id outside both.
	var anon, user string
	for i := 0; anon == "" || user == ""; i++ {
		id := fmt.Sprint("id-", i)
		in := flags.Hash("keep", id, "") <= 0.5 && flags.Hash("plain", id, "") <= 0.5
		out := flags.Hash("keep", id, "") > 0.5 && flags.Hash("plain", id, "") > 0.5
		if in && anon == "" {
			anon = id
		} else if out && user == "" {
			user = id
		}
	}
	if got := values(w.eval(Request{DistinctID: anon})); got != "keep=true plain=true" {
		t.Fatalf("anonymous: %q", got)
	}
	if got := values(w.eval(Request{DistinctID: user, AnonDistinctID: anon})); got != "keep=true plain=false" {
		t.Errorf("on identify: %q, want the anonymous bucket for keep only", got)
	}
	if got := values(w.eval(Request{DistinctID: user})); got != "keep=true plain=false" {
		t.Errorf("later: %q, want the stored hash key", got)
	}
	for _, id := range []string{user, anon} {
		if hk, _ := w.meta.FlagHashKeys(context.Background(), w.pid, id); hk["keep"] != anon || len(hk) != 1 {
			t.Errorf("hash keys of %s: %v", id, hk)
		}
	}
}

// TestDefinitions: PostHog's local-evaluation shape, an ETag that changes
// with the flags and only then.
func TestDefinitions(t *testing.T) {
	w := newWorld(t, Options{})
	w.meta.SetSetting(context.Background(), w.pid, SettingGroupTypes, []byte(`{"0":"company"}`))
	w.flag(`{"key":"a","filters":{"groups":[{"rollout_percentage":30}],"payloads":{"true":"{\"x\":1}"}}}`)
	body, etag, err := w.s.Definitions(context.Background(), w.pid)
	if err != nil || !strings.HasPrefix(etag, `W/"`) {
		t.Fatalf("%s %q %v", body, etag, err)
	}
	var d struct {
		Flags []struct {
			ID      int64  `json:"id"`
			Key     string `json:"key"`
			Active  bool   `json:"active"`
			Filters struct {
				Payloads map[string]string `json:"payloads"`
			} `json:"filters"`
		} `json:"flags"`
		GroupTypeMapping map[string]string `json:"group_type_mapping"`
		Cohorts          map[string]any    `json:"cohorts"`
	}
	if err := json.Unmarshal(body, &d); err != nil || len(d.Flags) != 1 || d.Flags[0].ID == 0 || d.Flags[0].Filters.Payloads["true"] != `{"x":1}` ||
		d.GroupTypeMapping["0"] != "company" || d.Cohorts == nil {
		t.Fatalf("definitions %s (%v)", body, err)
	}
	w.clock.add(2 * time.Second)
	if _, again, _ := w.s.Definitions(context.Background(), w.pid); again != etag {
		t.Errorf("unchanged flags, new ETag %s != %s", again, etag)
	}
	w.flag(`{"key":"b"}`)
	w.clock.add(2 * time.Second)
	if _, next, _ := w.s.Definitions(context.Background(), w.pid); next == etag {
		t.Error("a new flag kept the ETag")
	}
}

func TestParseGroupTypes(t *testing.T) {
	for raw, ok := range map[string]bool{`{"0":"company","4":"team"}`: true, `{}`: true, `{"5":"x"}`: false, `{"01":"x"}`: false,
		`{"0":""}`: false, `{"0":"a","1":"a"}`: false, `[]`: false, `{"0":1}`: false} {
		if _, err := ParseGroupTypes([]byte(raw)); (err == nil) != ok {
			t.Errorf("%s: %v", raw, err)
		}
	}
}

// BenchmarkEvaluate: one /flags evaluation of 20 flags from a warm
// snapshot and person cache (what a replica does per request).
func BenchmarkEvaluate(b *testing.B) {
	w := newWorld(b, Options{CheckEvery: time.Hour})
	for i := 0; i < 20; i++ {
		w.flag(fmt.Sprintf(`{"key":"f%d","filters":{"groups":[{"properties":[{"key":"plan","value":["pro","team"]}],"rollout_percentage":50}],
			"multivariate":{"variants":[{"key":"a","rollout_percentage":50},{"key":"b","rollout_percentage":50}]}}}`, i))
	}
	w.p.byID["u"] = store.Person{Properties: map[string]any{"plan": "pro", "email": "u@example.com"}}
	req := &Request{ProjectID: w.pid, DistinctID: "u", PersonProperties: map[string]any{"$browser": "Firefox"}}
	ctx := context.Background()
	if _, err := w.s.Evaluate(ctx, req); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := w.s.Evaluate(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}
