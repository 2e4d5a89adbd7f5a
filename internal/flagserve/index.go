package flagserve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/journey-dev/journey/internal/store"
)

// PersonIndex keeps, in this process, what flags read of every stored
// person: the distinct ids and the values of the person property keys
// some active flag or cohort of the project reads (flags.PersonKeys),
// nothing else. A /flags request then reads no store at all for person
// properties. It is rebuilt from the event store (store.PersonScanner,
// one scan) when a project's flags first need it or come to read a key it
// does not hold, and kept current by Feed, which the loader calls with
// every write it stored (loader.Loader.SetApplied). It is only right
// where this process is the store's only writer and sees every write: the
// embedded stack (internal/app wires it there; the scale-out replicas
// read the store through the person cache).
//
// Until a project's index is built (seconds at a million persons, in the
// background), and when it would pass its memory bound, evaluations read
// the store as without it. Erasing a person outside the loader
// (store.Privacy) must call Forget.
type PersonIndex struct {
	src store.PersonScanner
	opt IndexOptions

	mu       sync.RWMutex // guards projects and every table's build state
	projects map[int64]*projectIndex
}

// IndexOptions bound a PersonIndex; zero fields take the defaults.
type IndexOptions struct {
	// MaxBytes bounds the estimated memory of all projects' tables
	// together (1 GiB): a table that would pass it is dropped and its
	// project reads the store, retrying after RetryAfter.
	MaxBytes int64
	// RetryAfter is how long a project whose table was refused (memory,
	// a failed scan) reads the store before the index tries again (10 min).
	RetryAfter time.Duration
	// Now is the clock (time.Now).
	Now func() time.Time
}

// NewPersonIndex returns an empty index over src.
func NewPersonIndex(src store.PersonScanner, opt IndexOptions) *PersonIndex {
	if opt.MaxBytes <= 0 {
		opt.MaxBytes = 1 << 30
	}
	if opt.RetryAfter <= 0 {
		opt.RetryAfter = 10 * time.Minute
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	return &PersonIndex{src: src, opt: opt, projects: map[int64]*projectIndex{}}
}

// projectIndex is one project's tables: the one answering and the one
// being built (for other keys, or the first).
type projectIndex struct {
	current  atomic.Pointer[personTable]
	building *personTable // guarded by PersonIndex.mu
	// refused: the keys (joined) whose build failed or passed the bound,
	// retried after until.
	refused string
	until   time.Time
}

// errTooLarge stops a build past the memory bound.
var errTooLarge = errors.New("the person index would pass its memory bound")

// lookup answers the person behind distinctID from the project's table
// when it holds every key of keys (sorted); ok is false otherwise, and a
// build for keys starts in the background.
func (x *PersonIndex) lookup(projectID int64, keys []string, distinctID string) (person, bool) {
	x.mu.RLock()
	if pi := x.projects[projectID]; pi != nil {
		if t := pi.current.Load(); t != nil && t.covers(keys) && !t.stale(keys) {
			x.mu.RUnlock()
			return t.person(distinctID), true
		}
	}
	x.mu.RUnlock()
	x.mu.Lock()
	pi := x.projects[projectID]
	if pi == nil {
		pi = &projectIndex{}
		x.projects[projectID] = pi
	}
	t := pi.current.Load()
	if t == nil || !t.covers(keys) {
		x.startBuildLocked(projectID, pi, keys)
		x.mu.Unlock()
		return person{}, false
	}
	if t.stale(keys) {
		// Keys no flag reads any more: rebuild with fewer, answering
		// from this table meanwhile.
		x.startBuildLocked(projectID, pi, keys)
	}
	x.mu.Unlock()
	return t.person(distinctID), true
}

// startBuildLocked starts building pi's table for keys unless one is
// being built for them, or they were refused lately.
func (x *PersonIndex) startBuildLocked(projectID int64, pi *projectIndex, keys []string) {
	if b := pi.building; b != nil && b.covers(keys) {
		return
	}
	if pi.building != nil {
		pi.building.cancel() // it lacks a key: the new one replaces it
	}
	joined := strings.Join(keys, "\x00")
	if pi.refused == joined && x.opt.Now().Before(pi.until) {
		return
	}
	t := newPersonTable(keys)
	ctx, cancel := context.WithCancel(context.Background())
	t.cancel = cancel
	pi.building = t
	go x.build(ctx, projectID, pi, t)
}

// build scans the store into t, replays the writes fed meanwhile, and
// makes t the project's table.
func (x *PersonIndex) build(ctx context.Context, projectID int64, pi *projectIndex, t *personTable) {
	start := x.opt.Now()
	defer t.cancel()
	budget := x.budget(pi)
	var props map[string]any
	err := x.src.ScanPersons(ctx, projectID, func(id int64, raw []byte) error {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		clear(props)
		if err := json.Unmarshal(raw, &props); err != nil {
			return fmt.Errorf("cannot decode properties of person %d: %w", id, err)
		}
		t.setPerson(id, props)
		return t.checkBudget(budget)
	}, func(distinctID string, personID int64) error {
		t.setID(distinctID, personID)
		return t.checkBudget(budget)
	})
	x.mu.Lock()
	defer x.mu.Unlock()
	if pi.building != t {
		return // replaced by a build for other keys
	}
	pi.building = nil
	if err != nil {
		pi.refused, pi.until = strings.Join(t.keys, "\x00"), x.opt.Now().Add(x.opt.RetryAfter)
		slog.Warn("cannot build the flags person index; flags read persons from the event store", "project", projectID,
			"keys", len(t.keys), "estimated_bytes", t.bytes.Load(), "err", err, "retry_in", x.opt.RetryAfter)
		return
	}
	t.mu.Lock()
	for _, change := range t.pending {
		change(t)
	}
	t.pending, t.ready = nil, true
	t.mu.Unlock()
	pi.current.Store(t)
	slog.Info("flags person index built", "project", projectID, "keys", len(t.keys), "persons", t.persons(),
		"estimated_bytes", t.bytes.Load(), "took", x.opt.Now().Sub(start).Round(time.Millisecond))
}

// budget is what one table may take: the bound less the other tables.
func (x *PersonIndex) budget(self *projectIndex) int64 {
	x.mu.RLock()
	defer x.mu.RUnlock()
	used := int64(0)
	for _, pi := range x.projects {
		if t := pi.current.Load(); t != nil && pi != self {
			used += t.bytes.Load()
		}
		if pi.building != nil && pi != self {
			used += pi.building.bytes.Load()
		}
	}
	return x.opt.MaxBytes - used
}

// Feed applies a write the store committed: the loader calls it with
// every write, in order (loader.Loader.SetApplied).
func (x *PersonIndex) Feed(w *store.Write) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if len(x.projects) == 0 {
		return
	}
	for projectID, part := range splitWrite(w, x.projects) {
		pi := x.projects[projectID]
		if t := pi.current.Load(); t != nil {
			t.mu.Lock()
			t.apply(part)
			t.mu.Unlock()
			if t.bytes.Load() > x.opt.MaxBytes {
				pi.current.Store(nil)
				pi.refused, pi.until = strings.Join(t.keys, "\x00"), x.opt.Now().Add(x.opt.RetryAfter)
				slog.Warn("the flags person index passed its memory bound; flags read persons from the event store", "project", projectID,
					"estimated_bytes", t.bytes.Load(), "bound", x.opt.MaxBytes)
			}
		}
		if b := pi.building; b != nil {
			b.mu.Lock()
			b.pending = append(b.pending, func(t *personTable) { t.apply(part) })
			b.mu.Unlock()
		}
	}
}

// ForgetIDs removes distinct ids and their persons, which a deletion
// erased from the store between two loader writes (the loader calls it:
// loader.Loader.SetApplied).
func (x *PersonIndex) ForgetIDs(projectID int64, distinctIDs []string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	pi := x.projects[projectID]
	if pi == nil {
		return
	}
	ids := slices.Clone(distinctIDs)
	if t := pi.current.Load(); t != nil {
		t.mu.Lock()
		t.forget(ids)
		t.mu.Unlock()
	}
	if b := pi.building; b != nil {
		b.mu.Lock()
		b.pending = append(b.pending, func(t *personTable) { t.forget(ids) })
		b.mu.Unlock()
	}
}

// splitWrite is w's rows by project, for the projects indexed; deleted
// persons (ids are unique across projects) go to every one.
func splitWrite(w *store.Write, indexed map[int64]*projectIndex) map[int64]*store.Write {
	out := map[int64]*store.Write{}
	part := func(p int64) *store.Write {
		if _, ok := indexed[p]; !ok {
			return nil
		}
		if out[p] == nil {
			out[p] = &store.Write{}
		}
		return out[p]
	}
	for _, d := range w.DistinctIDs {
		if p := part(d.ProjectID); p != nil {
			p.DistinctIDs = append(p.DistinctIDs, d)
		}
	}
	for _, r := range w.Persons {
		if p := part(r.ProjectID); p != nil {
			p.Persons = append(p.Persons, r)
		}
	}
	for _, o := range w.Overrides {
		if p := part(o.ProjectID); p != nil {
			p.Overrides = append(p.Overrides, o)
		}
	}
	if len(w.DeletedPersons) > 0 {
		for p := range indexed {
			part(p).DeletedPersons = w.DeletedPersons
		}
	}
	return out
}

// Forget drops the project's tables: the next evaluation rebuilds them
// from the store.
func (x *PersonIndex) Forget(projectID int64) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if pi := x.projects[projectID]; pi != nil {
		if pi.building != nil {
			pi.building.cancel()
		}
		delete(x.projects, projectID)
	}
}

// Ready reports whether the project's table answers evaluations.
func (x *PersonIndex) Ready(projectID int64) bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	pi := x.projects[projectID]
	return pi != nil && pi.current.Load() != nil
}

// IndexStats are a project table's figures.
type IndexStats struct {
	Keys, Persons, DistinctIDs int
	EstimatedBytes             int64
}

// Stats returns the project's table's figures (zero when none answers).
func (x *PersonIndex) Stats(projectID int64) IndexStats {
	x.mu.RLock()
	pi := x.projects[projectID]
	x.mu.RUnlock()
	if pi == nil {
		return IndexStats{}
	}
	t := pi.current.Load()
	if t == nil {
		return IndexStats{}
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	return IndexStats{Keys: len(t.keys), Persons: t.persons(), DistinctIDs: len(t.ids), EstimatedBytes: t.bytes.Load()}
}

// personTable is one project's persons for one set of keys. Slots hold
// persons (stored or only pointed at by distinct ids); each slot's values
// are len(keys) cells of vals, nil for a key the person lacks (JSON null
// is jsonNull).
type personTable struct {
	keys []string // sorted
	col  map[string]int

	mu      sync.RWMutex
	ready   bool                 // built; until then, writes go to pending
	pending []func(*personTable) // fed while building, in order
	cancel  func()

	ids    map[string]uint32 // distinct id → slot
	slotOf map[int64]uint32  // person id → slot
	pid    []int64
	first  []string            // a distinct id of the slot ("" none)
	more   map[uint32][]string // the slot's other distinct ids
	stored []bool
	vals   []any
	free   []uint32
	intern []map[any]any // per key: shared boxes of common values
	bytes  atomic.Int64  // estimated
}

// jsonNull is a stored JSON null (nil in vals is a missing key).
type jsonNull struct{}

// Estimated costs, in bytes, of the table's parts (Go maps at their
// average load, slices, string headers); calibrated against the heap
// `journey bench flags` measures.
const (
	idCost       = 56 // ids entry and its string
	slotCost     = 64 // slotOf entry, pid, first, stored
	cellCost     = 16 // one value cell
	boxCost      = 16 // a value not shared through intern
	maxInterned  = 4096
	moreListCost = 48
)

func newPersonTable(keys []string) *personTable {
	t := &personTable{keys: slices.Clone(keys), col: make(map[string]int, len(keys)), cancel: func() {},
		ids: map[string]uint32{}, slotOf: map[int64]uint32{}, more: map[uint32][]string{}}
	for i, k := range t.keys {
		t.col[k] = i
		t.intern = append(t.intern, map[any]any{})
	}
	return t
}

// covers: the table holds every key of keys.
func (t *personTable) covers(keys []string) bool {
	for _, k := range keys {
		if _, ok := t.col[k]; !ok {
			return false
		}
	}
	return true
}

// stale: the table holds many more keys than keys (a superset).
func (t *personTable) stale(keys []string) bool {
	return len(t.keys) > 2*len(keys)+8
}

func (t *personTable) persons() int {
	n := 0
	for _, s := range t.stored {
		if s {
			n++
		}
	}
	return n
}

func (t *personTable) checkBudget(budget int64) error {
	if t.bytes.Load() > budget {
		return errTooLarge
	}
	return nil
}

// person answers the person behind id as the store would: its values of
// the table's keys and every distinct id, or an unknown person.
func (t *personTable) person(id string) person {
	t.mu.RLock()
	defer t.mu.RUnlock()
	s, ok := t.ids[id]
	if !ok || !t.stored[s] {
		return person{ids: []string{id}}
	}
	k := len(t.keys)
	cells := t.vals[int(s)*k : int(s)*k+k]
	n := 0
	for _, v := range cells {
		if v != nil {
			n++
		}
	}
	props := make(map[string]any, n)
	for i, v := range cells {
		switch v.(type) {
		case nil:
		case jsonNull:
			props[t.keys[i]] = nil
		default:
			props[t.keys[i]] = v
		}
	}
	ids := make([]string, 0, 1+len(t.more[s]))
	if t.first[s] != "" {
		ids = append(ids, t.first[s])
	}
	ids = append(ids, t.more[s]...)
	slices.Sort(ids)
	return person{props: props, ids: ids, stored: true}
}

// apply applies one project's part of a write, as the store's Apply does:
// distinct ids, persons, then the merged-away persons removed.
func (t *personTable) apply(w *store.Write) {
	for _, d := range w.DistinctIDs {
		t.setID(d.DistinctID, d.PersonID)
	}
	for i := range w.Persons {
		t.setPerson(w.Persons[i].ID, w.Persons[i].Properties)
	}
	for _, o := range w.Overrides {
		t.dropPerson(o.OldPersonID)
	}
	for _, id := range w.DeletedPersons {
		t.dropPerson(id)
	}
}

// forget removes distinct ids and the persons they point at.
func (t *personTable) forget(ids []string) {
	for _, id := range ids {
		s, ok := t.ids[id]
		if !ok {
			continue
		}
		t.unlink(s, id)
		delete(t.ids, id)
		t.bytes.Add(-idCost - int64(len(id)))
		t.dropPerson(t.pid[s]) // frees the slot once no id points at it
	}
}

// slot returns the person's slot, taking a free one or a new one.
func (t *personTable) slot(personID int64) uint32 {
	if s, ok := t.slotOf[personID]; ok {
		return s
	}
	var s uint32
	if n := len(t.free); n > 0 {
		s, t.free = t.free[n-1], t.free[:n-1]
		t.pid[s] = personID
	} else {
		s = uint32(len(t.pid))
		t.pid = append(t.pid, personID)
		t.first = append(t.first, "")
		t.stored = append(t.stored, false)
		t.vals = append(t.vals, make([]any, len(t.keys))...)
		t.bytes.Add(slotCost + int64(len(t.keys))*cellCost)
	}
	t.slotOf[personID] = s
	return s
}

// release frees a slot no distinct id points at and no person holds.
func (t *personTable) release(s uint32) {
	if t.stored[s] || t.first[s] != "" || len(t.more[s]) > 0 {
		return
	}
	delete(t.slotOf, t.pid[s])
	t.free = append(t.free, s)
}

// setID points a distinct id at a person.
func (t *personTable) setID(id string, personID int64) {
	s := t.slot(personID)
	old, ok := t.ids[id]
	if ok && old == s {
		return
	}
	if ok {
		t.unlink(old, id)
		t.release(old)
	} else {
		t.bytes.Add(idCost + int64(len(id)))
	}
	t.ids[id] = s
	if t.first[s] == "" {
		t.first[s] = id
		return
	}
	if len(t.more[s]) == 0 {
		t.bytes.Add(moreListCost)
	}
	t.more[s] = append(t.more[s], id)
	t.bytes.Add(16)
}

// unlink removes id from slot s's distinct ids.
func (t *personTable) unlink(s uint32, id string) {
	if t.first[s] == id {
		t.first[s] = ""
		if m := t.more[s]; len(m) > 0 {
			t.first[s] = m[len(m)-1]
			t.more[s] = m[:len(m)-1]
		}
	} else if m := t.more[s]; len(m) > 0 {
		if i := slices.Index(m, id); i >= 0 {
			m[i] = m[len(m)-1]
			t.more[s] = m[:len(m)-1]
		}
	}
	if m, ok := t.more[s]; ok && len(m) == 0 {
		delete(t.more, s)
	}
}

// setPerson stores a person's values of the table's keys (props is all
// of its properties).
func (t *personTable) setPerson(personID int64, props map[string]any) {
	s := t.slot(personID)
	t.stored[s] = true
	k := len(t.keys)
	cells := t.vals[int(s)*k : int(s)*k+k]
	for i, key := range t.keys {
		t.bytes.Add(-t.cellBytes(i, cells[i]))
		v, ok := props[key]
		if !ok {
			cells[i] = nil
			continue
		}
		cells[i] = t.box(i, v)
		t.bytes.Add(t.cellBytes(i, cells[i]))
	}
}

// cellBytes is what a cell's value costs beyond the cell: nothing for
// values shared through intern (their cost is the intern entry's) and
// for those boxing does not allocate.
func (t *personTable) cellBytes(col int, v any) int64 {
	switch x := v.(type) {
	case nil, bool, jsonNull:
		return 0
	case string:
		if _, ok := t.intern[col][v]; ok {
			return 0
		}
		return boxCost + int64(len(x))
	case float64:
		if _, ok := t.intern[col][v]; ok {
			return 0
		}
		return boxCost
	}
	return int64(approxSize(v, 0))
}

// dropPerson removes a person's row (merged away, deleted); distinct ids
// still pointing at it find no person, as in the store.
func (t *personTable) dropPerson(personID int64) {
	s, ok := t.slotOf[personID]
	if !ok {
		return
	}
	t.stored[s] = false
	k := len(t.keys)
	cells := t.vals[int(s)*k : int(s)*k+k]
	for i, v := range cells {
		t.bytes.Add(-t.cellBytes(i, v))
	}
	clear(cells)
	t.release(s)
}

// box is v as the store gives it back (JSON decoded: float64 numbers),
// shared with equal values of the key while the key has few of them.
func (t *personTable) box(col int, v any) any {
	switch x := v.(type) {
	case nil:
		return jsonNull{}
	case bool:
		return x // boxing a bool allocates nothing
	case string, float64:
	case json.Number:
		f, err := strconv.ParseFloat(string(x), 64)
		if err != nil {
			return t.box(col, roundTrip(v))
		}
		v = f
	default:
		// Lists, objects, other Go numbers: what a store round trip
		// makes of them; not shared.
		return roundTrip(v)
	}
	in := t.intern[col]
	if shared, ok := in[v]; ok {
		return shared
	}
	if len(in) < maxInterned {
		in[v] = v
		t.bytes.Add(boxCost + 48 + int64(len(stringOf(v))))
	}
	return v
}

func stringOf(v any) string {
	s, _ := v.(string)
	return s
}

// roundTrip is v encoded and decoded again as JSON (nil when it does not
// encode, as the store would have refused it).
func roundTrip(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		return jsonNull{}
	}
	var out any
	if json.Unmarshal(b, &out) != nil || out == nil {
		return jsonNull{}
	}
	return out
}
