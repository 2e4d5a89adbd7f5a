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
	if n := w.s.persons.len(); n != 10 || len(w.s.persons.byKey) != 10 {
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

// continuityIDs finds an id inside both 50 % rollouts of keep and plain
// and one outside both.
func continuityIDs(prefix string) (in, out string) {
	for i := 0; in == "" || out == ""; i++ {
		id := fmt.Sprint(prefix, i)
		switch {
		case flags.Hash("keep", id, "") <= 0.5 && flags.Hash("plain", id, "") <= 0.5:
			if in == "" {
				in = id
			}
		case flags.Hash("keep", id, "") > 0.5 && flags.Hash("plain", id, "") > 0.5:
			if out == "" {
				out = id
			}
		}
	}
	return in, out
}

func (w *world) continuityFlags() {
	w.flag(`{"key":"keep","ensure_experience_continuity":true,"filters":{"groups":[{"rollout_percentage":50}]}}`)
	w.flag(`{"key":"plain","filters":{"groups":[{"rollout_percentage":50}]}}`)
}

// store makes the event store hold a person with these distinct ids.
func (p *persons) store(ids ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, id := range ids {
		p.byID[id] = store.Person{Properties: map[string]any{}}
		p.ids[id] = ids
	}
}

func (w *world) hashKeys(id string) map[string]string {
	w.t.Helper()
	hk, err := w.meta.FlagHashKeys(context.Background(), w.pid, id)
	if err != nil {
		w.t.Fatal(err)
	}
	return hk
}

// TestExperienceContinuity: on identify ($anon_distinct_id) the anonymous
// id becomes the hash key of continuity flags, so the person keeps the
// anonymous bucket, then and later; other flags bucket by the distinct id.
func TestExperienceContinuity(t *testing.T) {
	w := newWorld(t, Options{})
	w.continuityFlags()
	anon, user := continuityIDs("id-")
	w.p.store(anon)
	w.p.store(user)
	if got := values(w.eval(Request{DistinctID: anon})); got != "keep=true plain=true" {
		t.Fatalf("anonymous: %q", got)
	}
	if got := values(w.eval(Request{DistinctID: user, AnonDistinctID: anon})); got != "keep=true plain=false" {
		t.Errorf("on identify: %q, want the anonymous bucket for keep only", got)
	}
	if got := values(w.eval(Request{DistinctID: user})); got != "keep=true plain=false" {
		t.Errorf("later: %q, want the stored hash key", got)
	}
	if hk := w.hashKeys(user); hk["keep"] != anon || len(hk) != 1 {
		t.Errorf("hash keys of %s: %v", user, hk)
	}
}

// countingMeta counts the hash-key reads and writes.
type countingMeta struct {
	Meta
	mu           sync.Mutex
	reads, sets  int
	setsByClient map[string]int
}

func (m *countingMeta) SetFlagHashKeys(ctx context.Context, projectID int64, ids []string, keys []string, hashKey string) error {
	m.mu.Lock()
	m.sets++
	m.mu.Unlock()
	return m.Meta.SetFlagHashKeys(ctx, projectID, ids, keys, hashKey)
}

func (m *countingMeta) FlagHashKeys(ctx context.Context, projectID int64, id string) (map[string]string, error) {
	m.mu.Lock()
	m.reads++
	m.mu.Unlock()
	return m.Meta.FlagHashKeys(ctx, projectID, id)
}

// TestHashKeysOnlyForStoredPersons: every /flags call with
// $anon_distinct_id wrote flag_hash_keys rows for any ids, made-up ones
// included (the meta store grew at MB/s, and an outsider could pin the
// bucket of a person not seen yet). Rows are written only for distinct
// ids of persons the event store has, only when missing, and at most so
// many writes per client; continuity still holds when the $identify
// reaches the event store after the /flags call.
func TestHashKeysOnlyForStoredPersons(t *testing.T) {
	w := newWorld(t, Options{})
	cm := &countingMeta{Meta: w.meta}
	w.s = New(cm, w.p, Options{Now: w.clock.now})
	w.continuityFlags()
	anon, user := continuityIDs("a-")

	// Made-up ids: answered with the anonymous bucket, nothing stored.
	if got := values(w.eval(Request{DistinctID: "made-up", AnonDistinctID: anon, Client: "c"})); got != "keep=true plain="+fmt.Sprint(flags.Hash("plain", "made-up", "") <= 0.5) {
		t.Errorf("made-up ids: %q, want keep in the anonymous bucket", got)
	}
	if len(w.hashKeys("made-up")) != 0 || len(w.hashKeys(anon)) != 0 || cm.sets != 0 {
		t.Errorf("made-up ids stored hash keys: %v %v (%d writes)", w.hashKeys("made-up"), w.hashKeys(anon), cm.sets)
	}

	// The anonymous visitor is stored; the user asks before identify
	// (an unknown person, cached as such), then identifies before its
	// $identify is stored: the anonymous id gets the rows.
	w.p.store(anon)
	if got := values(w.eval(Request{DistinctID: user})); got != "keep=false plain=false" {
		t.Fatalf("the user before identify: %q", got)
	}
	if got := values(w.eval(Request{DistinctID: user, AnonDistinctID: anon, Client: "c"})); got != "keep=true plain=false" {
		t.Errorf("on identify: %q", got)
	}
	if hk := w.hashKeys(anon); hk["keep"] != anon || len(w.hashKeys(user)) != 0 {
		t.Errorf("after identify: anon %v, user %v; want rows for the stored anonymous id only", hk, w.hashKeys(user))
	}
	// The $identify reaches the event store: the user's person holds the
	// anonymous id, and the user keeps its bucket at once (the unknown
	// person was not kept) and gets its own rows.
	w.p.store(anon, user)
	if got := values(w.eval(Request{DistinctID: user})); got != "keep=true plain=false" {
		t.Errorf("after the merge: %q, want the anonymous bucket through the person's ids", got)
	}
	if hk := w.hashKeys(user); hk["keep"] != anon {
		t.Errorf("after the merge: user rows %v, want copied from the anonymous id", hk)
	}
	// Read before write, cached: the same identify again writes nothing,
	// and once the rows are read (after the write), reads nothing either.
	w.eval(Request{DistinctID: user, AnonDistinctID: anon, Client: "c"})
	sets, reads := cm.sets, cm.reads
	for i := 0; i < 5; i++ {
		if got := values(w.eval(Request{DistinctID: user, AnonDistinctID: anon, Client: "c"})); got != "keep=true plain=false" {
			t.Errorf("identify again: %q", got)
		}
	}
	if cm.sets != sets || cm.reads != reads {
		t.Errorf("identify again: %d writes and %d reads of hash keys, want none", cm.sets-sets, cm.reads-reads)
	}

	// A person with other ids and no rows: their (empty) rows are read
	// once, not on every request.
	w.p.store("many", "many-1", "many-2", "many-3")
	reads = cm.reads
	for i := 0; i < 5; i++ {
		w.eval(Request{DistinctID: "many"})
	}
	if n := cm.reads - reads; n != 5+3 {
		t.Errorf("5 requests of a person with 3 other ids and no rows: %d hash-key reads, want 8 (its own each time, the others once)", n)
	}

	// No pinning: a made-up id identified with a real anonymous id gets no
	// rows, so when that person appears it buckets by its own id.
	victimIn, victim := continuityIDs("v-")
	_ = victimIn
	w.eval(Request{DistinctID: victim, AnonDistinctID: anon, Client: "attacker"})
	w.p.store(victim)
	w.clock.add(time.Minute)
	if got := values(w.eval(Request{DistinctID: victim})); got != "keep=false plain=false" || len(w.hashKeys(victim)) != 0 {
		t.Errorf("victim: %q with rows %v, want its own bucket", got, w.hashKeys(victim))
	}

	// Per client: 100 stored persons identified from one client are
	// written at most HashKeyBurst times; another client still writes.
	for i := 0; i < 100; i++ {
		w.p.store(fmt.Sprint("p", i))
		w.p.store(fmt.Sprint("pa", i))
	}
	sets = cm.sets
	errored := 0
	for i := 0; i < 100; i++ {
		if w.eval(Request{DistinctID: fmt.Sprint("p", i), AnonDistinctID: fmt.Sprint("pa", i), Client: "flood"}).Errored {
			errored++
		}
	}
	if n := cm.sets - sets; n != 20 || errored != 80 {
		t.Errorf("one client's 100 identifies: %d writes, %d answers errored; want 20 (HashKeyBurst) and the rest refused", n, errored)
	}
	if a := w.eval(Request{DistinctID: "p99", AnonDistinctID: "pa99", Client: "other"}); a.Errored || w.hashKeys("p99")["keep"] != "pa99" {
		t.Errorf("another client: errored %v, rows %v", a.Errored, w.hashKeys("p99"))
	}
	w.clock.add(time.Second)
	if a := w.eval(Request{DistinctID: "p98", AnonDistinctID: "pa98", Client: "flood"}); a.Errored {
		t.Error("the flooding client a second later: still refused")
	}
}

// TestPersonCacheNotFlushedByOneClient: the person cache was one LRU for
// every project, bounded only in total, and /flags took distinct ids of
// any length; ~130 lookups of 250 KB made-up ids from one client with
// project A's token evicted every person of every other project. Ids
// longer than a person's can be are not looked up or cached, and a
// project filling the cache evicts its own entries.
func TestPersonCacheNotFlushedByOneClient(t *testing.T) {
	src := &persons{byID: map[string]store.Person{"vip": {Properties: map[string]any{"plan": "pro"}}}, ids: map[string][]string{}}
	c := newPersonCache(src, time.Minute, 100_000, 64<<20, time.Now)
	ctx := context.Background()
	const victimProject, attackerProject = 2, 1
	if _, err := c.get(ctx, victimProject, "vip"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 140; i++ {
		id := fmt.Sprintf("%d-", i) + strings.Repeat("x", 250_000)
		if _, err := c.get(ctx, attackerProject, id); err != nil {
			t.Fatal(err)
		}
	}
	before := src.calls
	if _, err := c.get(ctx, victimProject, "vip"); err != nil {
		t.Fatal(err)
	}
	if src.calls != before {
		t.Errorf("140 lookups of 250 KB made-up ids for project %d evicted project %d's cached person "+
			"(cache holds %d bytes); want distinct ids bounded in length and the cache shared fairly across projects/clients",
			attackerProject, victimProject, c.bytes)
	}
	if before != 1 {
		t.Errorf("%d lookups of ids longer than %d characters reached the store", before-1, MaxDistinctIDLen)
	}

	// Ids of the longest length: the attacker fills the cache with its
	// own entries (unknown persons: within their own budget) and the
	// victim's stay.
	small := newPersonCache(src, time.Minute, 1000, 64<<20, time.Now)
	for i := 0; i < 50; i++ {
		src.byID[fmt.Sprint("v", i)] = store.Person{}
		small.get(ctx, victimProject, fmt.Sprint("v", i))
	}
	for i := 0; i < 5000; i++ {
		src.byID[fmt.Sprint("a", i)] = store.Person{}
		small.get(ctx, attackerProject, fmt.Sprintf("a%d", i))
		small.get(ctx, attackerProject, fmt.Sprintf("%d-%s", i, strings.Repeat("y", 190)))
	}
	before = src.calls
	for i := 0; i < 50; i++ {
		small.get(ctx, victimProject, fmt.Sprint("v", i))
	}
	if src.calls != before {
		t.Errorf("%d of the victim's 50 persons were evicted by another project's 10 000 lookups", src.calls-before)
	}
	if small.len() > 1000 {
		t.Errorf("the cache holds %d entries, bounded at 1000", small.len())
	}
	if neg := small.projects[attackerProject].neg.Len(); neg > 1000/64 {
		t.Errorf("%d unknown persons cached for one project, budget %d", neg, 1000/64)
	}
}

// TestAnswerPayloadsBounded: an answer carries at most MaxAnswerPayloads
// bytes of payloads; past it they are left out and the answer says so.
func TestAnswerPayloadsBounded(t *testing.T) {
	w := newWorld(t, Options{MaxAnswerPayloads: 100})
	for _, k := range []string{"a", "b", "c"} {
		w.flag(fmt.Sprintf(`{"key":%q,"filters":{"groups":[{"rollout_percentage":100}],"payloads":{"true":%q}}}`, k, `"`+strings.Repeat("p", 40)+`"`))
	}
	a := w.eval(Request{DistinctID: "u"})
	if a.Results[0].Payload == nil || a.Results[1].Payload == nil || a.Results[2].Payload != nil || !a.Errored {
		t.Errorf("payloads %q %q %q, errored %v; want the third left out", a.Results[0].Payload, a.Results[1].Payload, a.Results[2].Payload, a.Errored)
	}
}

// TestSnapshotReusesCompiledFlags: a change to one flag compiles that
// flag only (the others keep their compiled regexes).
func TestSnapshotReusesCompiledFlags(t *testing.T) {
	w := newWorld(t, Options{})
	ctx := context.Background()
	w.flag(`{"key":"a","filters":{"groups":[{"properties":[{"key":"e","operator":"regex","value":"@x\\.io$"}]}]}}`)
	b := w.flag(`{"key":"b","filters":{"groups":[{"rollout_percentage":10}]}}`)
	a1, _ := w.s.Flag(ctx, w.pid, "a")
	b1, _ := w.s.Flag(ctx, w.pid, "b")
	f, _ := FromMeta(b)
	f.Filters.Groups[0].RolloutPercentage = nil
	if _, err := w.meta.UpdateFlag(ctx, meta.Flag{ID: b.ID, ProjectID: w.pid, Key: "b", Active: true, Definition: Definition(f)}, 0); err != nil {
		t.Fatal(err)
	}
	w.clock.add(2 * time.Second)
	a2, _ := w.s.Flag(ctx, w.pid, "a")
	b2, _ := w.s.Flag(ctx, w.pid, "b")
	if a1 == nil || a2 != a1 || b2 == b1 || b2.Flag().Version != 2 {
		t.Errorf("after changing b: a reused %v, b recompiled %v (version %d)", a2 == a1, b2 != b1, b2.Flag().Version)
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

// TestContinuityBeforeEitherIsStored: posthog-js identifies before the
// visitor's first events reach the event store (neither id is a stored
// person): the answer uses the anonymous bucket, nothing is written, and
// once the store shows the merge the user keeps that bucket and gets its
// rows. A pair that never merges writes nothing.
func TestContinuityBeforeEitherIsStored(t *testing.T) {
	w := newWorld(t, Options{})
	w.continuityFlags()
	anon, user := continuityIDs("early-")
	if got := values(w.eval(Request{DistinctID: user, AnonDistinctID: anon, Client: "c"})); got != "keep=true plain=false" {
		t.Fatalf("on identify: %q", got)
	}
	if len(w.hashKeys(user)) != 0 || len(w.hashKeys(anon)) != 0 {
		t.Fatalf("rows written before either id is a stored person: %v %v", w.hashKeys(user), w.hashKeys(anon))
	}
	// A made-up pair for another id: never merges, never written.
	if got := values(w.eval(Request{DistinctID: "victim", AnonDistinctID: anon, Client: "c"})); !strings.HasPrefix(got, "keep=true") {
		t.Fatalf("made-up pair: %q", got)
	}
	w.p.store("victim")
	w.eval(Request{DistinctID: "victim"})
	if hk := w.hashKeys("victim"); len(hk) != 0 {
		t.Errorf("a pair that never merged wrote rows: %v", hk)
	}
	// The events arrive: the user's person holds the anonymous id.
	w.p.store(anon, user)
	if got := values(w.eval(Request{DistinctID: user})); got != "keep=true plain=false" {
		t.Errorf("after the merge: %q, want the anonymous bucket", got)
	}
	if hk := w.hashKeys(user); hk["keep"] != anon {
		t.Errorf("after the merge: user rows %v, want the anonymous id", hk)
	}
}
