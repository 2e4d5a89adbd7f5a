package flagserve

import (
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/journey-dev/journey/internal/flags"
	"github.com/journey-dev/journey/internal/meta"
)

// Meta is what the service reads and writes in the metadata store; every
// meta.Store is one.
type Meta interface {
	Project(ctx context.Context, id int64) (meta.Project, error)
	Setting(ctx context.Context, projectID int64, key string) ([]byte, error)
	Cohorts(ctx context.Context, projectID int64) ([]meta.Cohort, error)
	Flags(ctx context.Context, projectID int64) ([]meta.Flag, error)
	FlagsRevision(ctx context.Context, projectID int64) (int64, error)
	SetFlagHashKeys(ctx context.Context, projectID int64, distinctIDs []string, flagKeys []string, hashKey string) error
	FlagHashKeys(ctx context.Context, projectID int64, distinctID string) (map[string]string, error)
}

// SettingGroupTypes is the project setting holding PostHog's group type
// mapping, {"0":"company","1":"team"}: which group type a flag's
// aggregation_group_type_index names.
const SettingGroupTypes = "flag_group_types"

// ParseGroupTypes reads SettingGroupTypes: indexes 0 to
// flags.MaxGroupTypeIndex, each naming a distinct, non-empty group type.
func ParseGroupTypes(raw []byte) (map[int]string, error) {
	var m map[string]string
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("want an object of group type names by index, {\"0\":\"company\"}")
	}
	out := make(map[int]string, len(m))
	seen := map[string]bool{}
	for k, name := range m {
		i, err := strconv.Atoi(k)
		if err != nil || i < 0 || i > flags.MaxGroupTypeIndex || strconv.Itoa(i) != k {
			return nil, fmt.Errorf("%q: group type indexes are 0 to %d", k, flags.MaxGroupTypeIndex)
		}
		if name == "" || len(name) > 400 {
			return nil, fmt.Errorf("%q: a group type name is 1 to 400 bytes", k)
		}
		if seen[name] {
			return nil, fmt.Errorf("%q: group type %q has another index too", k, name)
		}
		seen[name] = true
		out[i] = name
	}
	return out, nil
}

// Options bound the service's caches; zero fields take the defaults.
type Options struct {
	// CheckEvery is how old a snapshot may get before a request checks
	// the project's flags revision (1 s).
	CheckEvery time.Duration
	// SlowEvery is how often cohorts, group types and the time zone are
	// reread, as they do not bump the revision (10 s).
	SlowEvery time.Duration
	// MaxProjects bounds the snapshots kept (1000).
	MaxProjects int
	// PersonTTL is how long a person's stored properties are used (30 s).
	PersonTTL time.Duration
	// MaxPersons and MaxPersonBytes bound the person cache (100 000
	// entries, 64 MiB estimated).
	MaxPersons     int
	MaxPersonBytes int
	// MaxHashKeys bounds the cache of experience-continuity hash keys
	// (100 000 distinct ids, 16 MiB estimated).
	MaxHashKeys int
	// HashKeyWrites and HashKeyBurst bound the hash-key writes
	// (SetFlagHashKeys calls) of one client (Request.Client): 1 a second
	// and 20 at once; MaxClients bounds the clients remembered (100 000).
	HashKeyWrites float64
	HashKeyBurst  int
	MaxClients    int
	// MaxAnswerPayloads bounds the payload bytes of one answer (1 MiB):
	// past it, payloads are left out and the answer says
	// errorsWhileComputingFlags.
	MaxAnswerPayloads int
	// Now is the clock (time.Now).
	Now func() time.Time
	// Index, when set, answers person lookups from memory (index.go);
	// only where this process sees every write of the event store.
	Index *PersonIndex
}

func (o *Options) defaults() {
	if o.CheckEvery <= 0 {
		o.CheckEvery = time.Second
	}
	if o.SlowEvery <= 0 {
		o.SlowEvery = 10 * time.Second
	}
	if o.MaxProjects <= 0 {
		o.MaxProjects = 1000
	}
	if o.PersonTTL <= 0 {
		o.PersonTTL = 30 * time.Second
	}
	if o.MaxPersons <= 0 {
		o.MaxPersons = 100_000
	}
	if o.MaxPersonBytes <= 0 {
		o.MaxPersonBytes = 64 << 20
	}
	if o.MaxHashKeys <= 0 {
		o.MaxHashKeys = 100_000
	}
	if o.HashKeyWrites <= 0 {
		o.HashKeyWrites = 1
	}
	if o.HashKeyBurst <= 0 {
		o.HashKeyBurst = 20
	}
	if o.MaxClients <= 0 {
		o.MaxClients = 100_000
	}
	if o.MaxAnswerPayloads <= 0 {
		o.MaxAnswerPayloads = 1 << 20
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Service evaluates flags; it is safe for concurrent use.
type Service struct {
	meta    Meta
	persons *personCache
	groups  GroupGetter
	opt     Options
	// hashKeyCache caches FlagHashKeys answers that have rows (which are
	// never overwritten); writes bounds SetFlagHashKeys per client.
	hashKeyCache shareCache[map[string]string]
	writes       *ClientLimiter
	// identified remembers, briefly, the anonymous id of an identify
	// whose ids were not stored persons yet (see continuity.go).
	identified shareCache[string]

	mu       sync.Mutex
	projects map[int64]*list.Element // of *projectEntry
	lru      list.List               // front: most recently used
}

// New serves the flags of m, with person properties from p (an event
// store; nil: request properties only). When p also implements
// GroupGetter, stored group properties are used.
func New(m Meta, p Persons, opt Options) *Service {
	opt.defaults()
	s := &Service{meta: m, opt: opt, projects: map[int64]*list.Element{},
		writes: NewClientLimiter(opt.HashKeyWrites, opt.HashKeyBurst, opt.MaxClients, opt.Now)}
	s.hashKeyCache.init(opt.MaxHashKeys, 16<<20, opt.MaxHashKeys/64)
	s.identified.init(opt.MaxHashKeys, 8<<20, 1)
	if p != nil {
		s.persons = newPersonCache(p, opt.PersonTTL, opt.MaxPersons, opt.MaxPersonBytes, opt.Now)
		s.groups, _ = p.(GroupGetter)
	}
	return s
}

// snapshot is one project's flags as of one revision, with what
// evaluating them needs; immutable once built (defs is built once).
type snapshot struct {
	rev        int64
	slowAt     time.Time // when cohorts, group types and zone were read
	loc        *time.Location
	flags      []*flags.Compiled // by key
	byKey      map[string]*flags.Compiled
	continuity []string // keys of flags with experience continuity
	// needsPerson: some flag filters on person properties or cohorts.
	needsPerson bool
	// needsGroups: some flag filters on group properties.
	needsGroups bool
	usesCohorts bool
	groupTypes  map[int]string
	cohorts     *cohortSet
	// personKeys are the person property keys the flags and cohorts
	// read, sorted: what the person index holds (index.go).
	personKeys []string

	defsOnce sync.Once
	defs     []byte
	etag     string
}

type projectEntry struct {
	id      int64
	mu      sync.Mutex // held while loading or checking
	snap    atomic.Pointer[snapshot]
	checked atomic.Int64 // Unix ns of the last revision check
}

// ErrUnavailable wraps the error of a project whose flags cannot be read
// and that has no snapshot to answer from.
var ErrUnavailable = errors.New("flags are unavailable")

func (s *Service) entry(projectID int64) *projectEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	if el, ok := s.projects[projectID]; ok {
		s.lru.MoveToFront(el)
		return el.Value.(*projectEntry)
	}
	e := &projectEntry{id: projectID}
	s.projects[projectID] = s.lru.PushFront(e)
	for s.lru.Len() > s.opt.MaxProjects {
		old := s.lru.Remove(s.lru.Back()).(*projectEntry)
		delete(s.projects, old.id)
	}
	return e
}

// snapshot returns the project's current flags: at most CheckEvery old
// when the metadata store answers.
func (s *Service) snapshot(ctx context.Context, projectID int64) (*snapshot, error) {
	e := s.entry(projectID)
	now := s.opt.Now()
	sn := e.snap.Load()
	if sn != nil && now.UnixNano()-e.checked.Load() < int64(s.opt.CheckEvery) {
		return sn, nil
	}
	if sn == nil {
		e.mu.Lock()
		defer e.mu.Unlock()
		if sn = e.snap.Load(); sn != nil {
			return sn, nil
		}
		sn, err := s.load(ctx, projectID, nil, nil, now)
		if err != nil {
			return nil, fmt.Errorf("%w: project %d: %v", ErrUnavailable, projectID, err)
		}
		e.snap.Store(sn)
		e.checked.Store(now.UnixNano())
		return sn, nil
	}
	// One request checks; the others answer from what there is.
	if !e.mu.TryLock() {
		return sn, nil
	}
	defer e.mu.Unlock()
	if now.UnixNano()-e.checked.Load() < int64(s.opt.CheckEvery) {
		return e.snap.Load(), nil
	}
	e.checked.Store(now.UnixNano())
	rev, err := s.meta.FlagsRevision(ctx, projectID)
	if err != nil {
		slog.Warn("cannot check the flags revision; answering from the last snapshot", "project", projectID, "err", err)
		return sn, nil
	}
	if rev == sn.rev && now.Sub(sn.slowAt) < s.opt.SlowEvery {
		return sn, nil
	}
	var keep *snapshot
	if rev == sn.rev {
		keep = sn // only the slow parts are due
	}
	next, err := s.load(ctx, projectID, keep, sn, now)
	if err != nil {
		slog.Warn("cannot reload flags; answering from the last snapshot", "project", projectID, "err", err)
		return sn, nil
	}
	e.snap.Store(next)
	return next, nil
}

// load builds a snapshot. With keep (same revision), its flags are
// reused unless the time zone changed; otherwise the flags of prev (the
// last snapshot) whose version did not change are, so that a change to
// one flag compiles only that one.
func (s *Service) load(ctx context.Context, projectID int64, keep, prev *snapshot, now time.Time) (*snapshot, error) {
	p, err := s.meta.Project(ctx, projectID)
	if err != nil {
		return nil, err
	}
	loc, err := time.LoadLocation(p.Timezone)
	if err != nil || p.Timezone == "" {
		loc = time.UTC
	}
	groupTypes := map[int]string{}
	switch raw, err := s.meta.Setting(ctx, projectID, SettingGroupTypes); {
	case errors.Is(err, meta.ErrNotFound):
	case err != nil:
		return nil, err
	default:
		if groupTypes, err = ParseGroupTypes(raw); err != nil {
			slog.Warn("ignoring a bad group type mapping", "project", projectID, "err", err)
			groupTypes = map[int]string{}
		}
	}
	sn := &snapshot{slowAt: now, loc: loc, groupTypes: groupTypes}
	if keep != nil && keep.loc.String() == loc.String() {
		sn.rev, sn.flags, sn.byKey, sn.continuity = keep.rev, keep.flags, keep.byKey, keep.continuity
		sn.needsPerson, sn.needsGroups, sn.usesCohorts = keep.needsPerson, keep.needsGroups, keep.usesCohorts
	} else {
		// The revision is read first: a change landing between the two
		// reads is seen again at the next check.
		if sn.rev, err = s.meta.FlagsRevision(ctx, projectID); err != nil {
			return nil, err
		}
		stored, err := s.meta.Flags(ctx, projectID)
		if err != nil {
			return nil, err
		}
		sn.byKey = make(map[string]*flags.Compiled, len(stored))
		compiled := map[int64]*flags.Compiled{}
		if prev != nil && prev.loc.String() == loc.String() {
			for _, c := range prev.flags {
				compiled[c.Flag().ID] = c
			}
		}
		for _, m := range stored {
			c := compiled[m.ID]
			if c == nil || !sameVersion(c.Flag(), m) {
				f, err := decodeMeta(m)
				if err == nil {
					// CompileIn validates, as FromMeta does.
					c, err = flags.CompileIn(f, loc)
				}
				if err != nil {
					slog.Error("a stored flag cannot be evaluated; it is left out", "project", projectID, "err", fmt.Errorf("flag %d (%q): %w", m.ID, m.Key, err))
					continue
				}
			}
			sn.flags = append(sn.flags, c)
			sn.byKey[c.Key()] = c
			sn.scan(c.Flag())
		}
		sort.Slice(sn.flags, func(i, j int) bool { return sn.flags[i].Key() < sn.flags[j].Key() })
	}
	sn.cohorts = &cohortSet{raw: map[string]json.RawMessage{}}
	if sn.usesCohorts {
		list, err := s.meta.Cohorts(ctx, projectID)
		if err != nil {
			return nil, err
		}
		sn.cohorts = loadCohorts(list, loc)
	}
	sn.personKeys = personKeysOf(sn.flags, sn.cohorts)
	return sn, nil
}

// personKeysOf is every person property key the flags and cohorts read,
// sorted.
func personKeysOf(list []*flags.Compiled, cs *cohortSet) []string {
	set := map[string]struct{}{}
	for _, c := range list {
		c.PersonKeys(set)
	}
	cs.props.PersonKeys(set)
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// sameVersion: f was decoded from m's version (every change bumps it).
func sameVersion(f *flags.Flag, m meta.Flag) bool {
	return f.ID == m.ID && f.Version == int64(m.Version) && f.Key == m.Key && f.Active == m.Active && f.Name == m.Name
}

// scan notes what evaluating f needs.
func (sn *snapshot) scan(f *flags.Flag) {
	if f.EnsureExperienceContinuity {
		sn.continuity = append(sn.continuity, f.Key)
	}
	for _, g := range f.Filters.Groups {
		agg := g.AggregationGroupTypeIndex
		if agg == nil {
			agg = f.Filters.AggregationGroupTypeIndex
		}
		for _, p := range g.Properties {
			switch {
			case p.Type == flags.TypeCohort:
				sn.usesCohorts, sn.needsPerson = true, true
			case p.Type == flags.TypeGroup || (p.Type == "" && agg != nil):
				sn.needsGroups = true
			case p.Type == flags.TypePerson || p.Type == "":
				sn.needsPerson = true
			}
		}
	}
}

// Definitions is the local-evaluation answer server SDKs poll (PostHog's
// shape: flags, group_type_mapping, cohorts) and its weak ETag.
func (s *Service) Definitions(ctx context.Context, projectID int64) ([]byte, string, error) {
	sn, err := s.snapshot(ctx, projectID)
	if err != nil {
		return nil, "", err
	}
	sn.defsOnce.Do(func() {
		fs := make([]*flags.Flag, len(sn.flags))
		for i, c := range sn.flags {
			fs[i] = c.Flag()
		}
		b, err := json.Marshal(flags.NewDefinitions(fs, sn.groupTypes, sn.cohorts.raw))
		if err != nil {
			// Validated flags and compacted JSON cohorts always encode.
			panic(fmt.Sprintf("flagserve: cannot encode definitions: %v", err))
		}
		sn.defs, sn.etag = b, WeakETag(b)
	})
	return sn.defs, sn.etag, nil
}

// WeakETag is W/"…" of the first 128 bits of body's SHA-256.
func WeakETag(body []byte) string {
	sum := sha256.Sum256(body)
	return `W/"` + hex.EncodeToString(sum[:16]) + `"`
}

// Request is one evaluation: who, and what the client knows of them.
type Request struct {
	ProjectID      int64
	DistinctID     string
	AnonDistinctID string
	// Groups maps a group type name to the group's key.
	Groups map[string]string
	// PersonProperties and GroupProperties override the stored ones.
	PersonProperties map[string]any
	GroupProperties  map[string]map[string]any
	// FlagKeys, when not nil, restricts the answer to these flags.
	FlagKeys []string
	// Client is the key of the client asking (intake.ClientKey), which
	// the hash-key writes of experience continuity are limited by.
	Client string
}

// Answer is every flag's result, in key order.
type Answer struct {
	Results []flags.Result
	// Flags[i] is the flag of Results[i].
	Flags []*flags.Compiled
	// Errored: some result may differ from a complete evaluation (a
	// store could not be read, a cohort cannot be evaluated):
	// errorsWhileComputingFlags.
	Errored bool
	// Revision is the project's flags revision the answer is of.
	Revision int64
}

// Evaluate evaluates the project's flags for one subject. Its error
// (wrapping ErrUnavailable) means no flags could be read at all.
func (s *Service) Evaluate(ctx context.Context, req *Request) (*Answer, error) {
	sn, err := s.snapshot(ctx, req.ProjectID)
	if err != nil {
		return nil, err
	}
	list := sn.flags
	if req.FlagKeys != nil {
		list = make([]*flags.Compiled, 0, len(req.FlagKeys))
		seen := make(map[string]bool, len(req.FlagKeys))
		for _, k := range req.FlagKeys {
			if c, ok := sn.byKey[k]; ok && !seen[k] {
				seen[k] = true
				list = append(list, c)
			}
		}
		sort.Slice(list, func(i, j int) bool { return list[i].Key() < list[j].Key() })
	}
	ans := &Answer{Flags: list, Revision: sn.rev}
	if len(list) == 0 {
		return ans, nil
	}
	subj := flags.Subject{DistinctID: req.DistinctID, Groups: req.Groups, PersonProperties: req.PersonProperties, GroupProperties: req.GroupProperties}
	ids := []string{req.DistinctID}
	// The person is looked up once, when a filter or continuity needs it.
	var self person
	looked := false
	lookup := func() person {
		if !looked {
			looked = true
			self = s.self(ctx, sn, req, ans)
		}
		return self
	}
	if sn.needsPerson {
		p := lookup()
		ids = p.ids
		subj.PersonProperties = merge(p.props, req.PersonProperties)
	}
	if sn.needsGroups && s.groups != nil && len(req.Groups) > 0 {
		subj.GroupProperties = s.storedGroups(ctx, req, ans)
	}
	env := &flags.Env{GroupTypes: sn.groupTypes, Flags: sn.byKey, Now: s.opt.Now()}
	hashKeys := s.hashKeys(ctx, sn, req, list, lookup, ans)
	ans.Results = make([]flags.Result, len(list))
	if len(hashKeys) == 0 {
		if sn.usesCohorts {
			env.Cohorts = sn.cohorts.matcher(ids)
		}
		copy(ans.Results, flags.EvaluateAll(list, &subj, env))
	} else {
		// Flags are evaluated together per hash key they bucket by.
		byKey := map[string][]int{}
		var order []string
		for i, c := range list {
			hk := ""
			if c.Flag().EnsureExperienceContinuity {
				hk = hashKeys[c.Key()]
			}
			if _, ok := byKey[hk]; !ok {
				order = append(order, hk)
			}
			byKey[hk] = append(byKey[hk], i)
		}
		for _, hk := range order {
			idx := byKey[hk]
			part := make([]*flags.Compiled, len(idx))
			for j, i := range idx {
				part[j] = list[i]
			}
			sub := subj
			sub.HashOverride = hk
			if sn.usesCohorts {
				env.Cohorts = sn.cohorts.matcher(ids)
			}
			for j, r := range flags.EvaluateAll(part, &sub, env) {
				ans.Results[idx[j]] = r
			}
		}
	}
	s.boundPayloads(req.ProjectID, ans)
	if flags.Errored(ans.Results) {
		ans.Errored = true
	}
	return ans, nil
}

// storedGroups reads the request's groups' stored properties, the
// request's over them.
func (s *Service) storedGroups(ctx context.Context, req *Request, ans *Answer) map[string]map[string]any {
	out := make(map[string]map[string]any, len(req.Groups))
	for t, props := range req.GroupProperties {
		out[t] = props
	}
	n := 0
	for t, key := range req.Groups {
		if n++; n > flags.MaxGroupTypeIndex+1 || key == "" {
			continue
		}
		stored, err := s.groups.GroupProperties(ctx, req.ProjectID, t, key)
		if err != nil {
			ans.Errored = true
			continue
		}
		out[t] = merge(stored, req.GroupProperties[t])
	}
	return out
}

// merge is stored with over's keys over it (neither is modified).
func merge(stored, over map[string]any) map[string]any {
	if len(stored) == 0 {
		return over
	}
	if len(over) == 0 {
		return stored
	}
	out := make(map[string]any, len(stored)+len(over))
	for k, v := range stored {
		out[k] = v
	}
	for k, v := range over {
		out[k] = v
	}
	return out
}

// Flag returns the project's flag by key (nil when there is none), from
// the snapshot.
func (s *Service) Flag(ctx context.Context, projectID int64, key string) (*flags.Compiled, error) {
	sn, err := s.snapshot(ctx, projectID)
	if err != nil {
		return nil, err
	}
	return sn.byKey[key], nil
}

// Count is how many flags the project has.
func (s *Service) Count(ctx context.Context, projectID int64) (int, error) {
	sn, err := s.snapshot(ctx, projectID)
	if err != nil {
		return 0, err
	}
	return len(sn.flags), nil
}
