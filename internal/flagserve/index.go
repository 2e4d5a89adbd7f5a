package flagserve

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
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
	return IndexStats{Keys: len(t.keys), Persons: t.persons(), DistinctIDs: t.ids.live, EstimatedBytes: t.bytes.Load()}
}

// personTable is one project's persons for one set of keys, pointer-free
// (the collector marks none of it): slots hold persons (stored or only
// pointed at by distinct ids); distinct ids are interned in ids (aux: the
// slot, next: the slot's next id); each slot's values are len(keys)
// codes in codes, a value's code indexing vals (aux: its reference
// count) past the fixed codes below.
type personTable struct {
	keys []string // sorted
	col  map[string]int

	mu      sync.RWMutex
	ready   bool                 // built; until then, writes go to pending
	pending []func(*personTable) // fed while building, in order
	cancel  func()

	ids    strTable
	slotOf map[int64]uint32 // person id → slot
	pid    []int64
	head   []uint32 // the slot's first distinct id entry + 1 (0 none)
	stored []bool
	codes  []uint32
	free   []uint32
	vals   strTable // encoded values: a kind byte, then its bytes
	enc    []byte   // scratch for encoding values
	bytes  atomic.Int64
}

// Fixed value codes; a code past them is vals' entry codeVal less.
const (
	codeMissing = iota
	codeNull
	codeFalse
	codeTrue
	codeVal
)

// Kinds of encoded values.
const (
	kindString = 's'
	kindNumber = 'n' // float64 bits, little endian
	kindJSON   = 'j' // a list or object, as JSON
)

// slotMapCost is a slotOf entry's estimated bytes (Go maps at their
// average load).
const slotMapCost = 24

func newPersonTable(keys []string) *personTable {
	t := &personTable{keys: slices.Clone(keys), col: make(map[string]int, len(keys)), cancel: func() {},
		slotOf: map[int64]uint32{}}
	for i, k := range t.keys {
		t.col[k] = i
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

// account sets bytes from the parts' sizes.
func (t *personTable) account() {
	n := t.ids.size() + t.vals.size() + int64(len(t.slotOf))*slotMapCost +
		int64(cap(t.pid))*8 + int64(cap(t.head))*4 + int64(cap(t.stored)) + int64(cap(t.codes))*4 + int64(cap(t.free))*4
	t.bytes.Store(n)
}

// person answers the person behind id as the store would: its values of
// the table's keys and every distinct id, or an unknown person.
func (t *personTable) person(id string) person {
	t.mu.RLock()
	defer t.mu.RUnlock()
	e, ok := t.ids.find(id)
	if !ok || !t.stored[t.ids.ents[e].aux] {
		return person{ids: []string{id}}
	}
	s := t.ids.ents[e].aux
	k := len(t.keys)
	cells := t.codes[int(s)*k : int(s)*k+k]
	n := 0
	for _, c := range cells {
		if c != codeMissing {
			n++
		}
	}
	props := make(map[string]any, n)
	for i, c := range cells {
		if c != codeMissing {
			props[t.keys[i]] = t.value(c)
		}
	}
	nids := 0
	for x := t.head[s]; x != 0; x = t.ids.ents[x-1].next {
		nids++
	}
	ids := make([]string, 0, nids)
	for x := t.head[s]; x != 0; x = t.ids.ents[x-1].next {
		if x-1 == e {
			ids = append(ids, id) // the caller's string: no copy
		} else {
			ids = append(ids, t.ids.str(x-1))
		}
	}
	slices.Sort(ids)
	return person{props: props, ids: ids, stored: true}
}

// value decodes a code as the store gives values back (JSON decoded).
func (t *personTable) value(c uint32) any {
	switch c {
	case codeNull:
		return nil
	case codeFalse:
		return false
	case codeTrue:
		return true
	}
	b := t.vals.bytesOf(c - codeVal)
	switch b[0] {
	case kindString:
		return string(b[1:])
	case kindNumber:
		return math.Float64frombits(binary.LittleEndian.Uint64(b[1:]))
	}
	var out any
	if err := json.Unmarshal(b[1:], &out); err != nil {
		return nil // encoded by encode from valid JSON: cannot happen
	}
	return out
}

// encode returns v's code as the store would give v back (JSON decoded:
// float64 numbers), taking a reference to its vals entry.
func (t *personTable) encode(v any) uint32 {
	switch x := v.(type) {
	case nil:
		return codeNull
	case bool:
		if x {
			return codeTrue
		}
		return codeFalse
	case string:
		t.enc = append(append(t.enc[:0], kindString), x...)
	case float64:
		t.enc = binary.LittleEndian.AppendUint64(append(t.enc[:0], kindNumber), math.Float64bits(x))
	case json.Number:
		f, err := strconv.ParseFloat(string(x), 64)
		if err != nil {
			return t.encodeRoundTrip(v)
		}
		return t.encode(f)
	default:
		// Lists, objects, other Go numbers: what a store round trip
		// makes of them.
		return t.encodeRoundTrip(v)
	}
	e, _ := t.vals.intern(bytesString(t.enc))
	t.vals.ents[e].aux++
	return e + codeVal
}

func (t *personTable) encodeRoundTrip(v any) uint32 {
	out := roundTrip(v)
	switch out.(type) {
	case jsonNull:
		return codeNull
	case bool, string, float64:
		return t.encode(out)
	}
	b, err := json.Marshal(out)
	if err != nil {
		return codeNull
	}
	t.enc = append(append(t.enc[:0], kindJSON), b...)
	e, _ := t.vals.intern(bytesString(t.enc))
	t.vals.ents[e].aux++
	return e + codeVal
}

// unref drops a reference to c's value.
func (t *personTable) unref(c uint32) {
	if c < codeVal {
		return
	}
	e := c - codeVal
	if t.vals.ents[e].aux--; t.vals.ents[e].aux == 0 {
		t.vals.remove(e)
	}
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
		e, ok := t.ids.find(id)
		if !ok {
			continue
		}
		s := t.ids.ents[e].aux
		t.unlink(s, e)
		t.ids.remove(e)
		t.dropPerson(t.pid[s]) // frees the slot once no id points at it
	}
	t.account()
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
		t.head = append(t.head, 0)
		t.stored = append(t.stored, false)
		t.codes = slices.Grow(t.codes, len(t.keys))[:len(t.codes)+len(t.keys)]
		clear(t.codes[len(t.codes)-len(t.keys):])
	}
	t.slotOf[personID] = s
	return s
}

// release frees a slot no distinct id points at and no person holds.
func (t *personTable) release(s uint32) {
	if t.stored[s] || t.head[s] != 0 {
		return
	}
	delete(t.slotOf, t.pid[s])
	t.free = append(t.free, s)
}

// setID points a distinct id at a person.
func (t *personTable) setID(id string, personID int64) {
	defer t.account()
	s := t.slot(personID)
	e, ok := t.ids.find(id)
	if ok && t.ids.ents[e].aux == s {
		return
	}
	if ok {
		old := t.ids.ents[e].aux
		t.unlink(old, e)
		t.release(old)
	} else {
		e, _ = t.ids.intern(id)
	}
	t.ids.ents[e].aux = s
	t.ids.ents[e].next = t.head[s]
	t.head[s] = e + 1
}

// unlink removes id entry e from slot s's distinct ids.
func (t *personTable) unlink(s, e uint32) {
	for p := &t.head[s]; *p != 0; p = &t.ids.ents[*p-1].next {
		if *p == e+1 {
			*p = t.ids.ents[e].next
			t.ids.ents[e].next = 0
			return
		}
	}
}

// setPerson stores a person's values of the table's keys (props is all
// of its properties).
func (t *personTable) setPerson(personID int64, props map[string]any) {
	s := t.slot(personID)
	t.stored[s] = true
	k := len(t.keys)
	for i, key := range t.keys {
		// Encode first: the old value's entry may be the new one's.
		c := uint32(codeMissing)
		if v, ok := props[key]; ok {
			c = t.encode(v)
		}
		cell := &t.codes[int(s)*k+i]
		t.unref(*cell)
		*cell = c
	}
	t.account()
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
	cells := t.codes[int(s)*k : int(s)*k+k]
	for i, c := range cells {
		t.unref(c)
		cells[i] = codeMissing
	}
	t.release(s)
	t.account()
}

// jsonNull marks a value that does not encode (the store refuses it).
type jsonNull struct{}

// roundTrip is v encoded and decoded again as JSON (jsonNull when it
// does not encode, as the store would have refused it).
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
