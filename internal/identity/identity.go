// Package identity resolves distinct ids to persons and merges persons
// (SPEC §2). It runs inside the loader, the single writer of identity state,
// and turns a run of log batches into one store.Write.
//
// Merges are retroactive: events keep the person id they were stored with,
// and a merge records an override (old person → surviving person) that
// queries apply. Distinct ids are re-pointed to the surviving person, so
// events that arrive after a merge are stored under it directly.
package identity

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"hash/maphash"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/journey-dev/journey/internal/event"
	"github.com/journey-dev/journey/internal/store"
)

type didKey struct {
	project int64
	id      string
}

// Resolver holds the distinct-id map in memory (compactly: see idTable).
// It is not safe for concurrent use: the loader owns it.
type Resolver struct {
	ids   idTable
	oldOf map[int64][]int64   // surviving person → merged-away persons
	links map[int64]groupLink // person → its Segment group (grouplink.go)
	// identified holds PostHog's is_identified: the persons an identify or
	// alias was made for (identified.go). Merging one of them into another
	// person is refused unless by $merge_dangerously.
	identified map[int64]bool
	next       int64
}

// New builds a resolver from the stored identity state.
func New(st store.Identity) *Resolver { return newResolver(st, seededHash) }

func newResolver(st store.Identity, hash func(maphash.Seed, []byte) uint32) *Resolver {
	size := 0
	var buf [binary.MaxVarintLen64]byte
	for _, d := range st.DistinctIDs {
		size += len(binary.AppendVarint(buf[:0], d.ProjectID)) + len(d.DistinctID)
	}
	r := &Resolver{
		ids:   newIDTable(len(st.DistinctIDs), size, hash),
		oldOf: map[int64][]int64{},
		links: loadLinks(st),
		next:  st.MaxPersonID + 1,
	}
	r.identified = loadIdentified(st)
	for _, d := range st.DistinctIDs {
		if i, ok := r.ids.find(d.ProjectID, d.DistinctID); ok {
			r.ids.entries[i].person = d.PersonID // a repeated row: the last wins
			continue
		}
		r.ids.add(d.ProjectID, d.DistinctID, d.PersonID)
	}
	r.ids.linkPersons()
	for _, o := range st.Overrides {
		r.oldOf[o.PersonID] = append(r.oldOf[o.PersonID], o.OldPersonID)
	}
	return r
}

// FetchPersons reads stored persons (their properties) by id.
type FetchPersons func(ctx context.Context, ids []int64) (map[int64]store.Person, error)

// op is one person-property change, applied in event order.
type op struct {
	person       int64
	mergeFrom    int64 // when non-zero: merge this person into person
	set, setOnce map[string]any
	unset        []string
	at           time.Time
	projectID    int64
}

type batchState struct {
	w       *store.Write
	ops     []op
	created map[int64]time.Time // persons created in this batch
	project map[int64]int64     // person → project, for persons touched
	dids    map[didKey]int64    // distinct ids changed in this batch
	merged  map[int64]bool      // persons merged away in this batch
	// overridden holds the overrides this batch changes, by merged-away
	// person, so a chain of merges in one batch writes each once, with its
	// last target.
	overridden map[int64]store.Override
	groups     map[string]int // group key → index in w.Groups
}

// Resolve turns batches into a store.Write (events with person ids, and
// every identity change), updating the in-memory state.
func (r *Resolver) Resolve(ctx context.Context, batches []event.RawBatch, fetch FetchPersons) (*store.Write, error) {
	b := &batchState{w: &store.Write{}, created: map[int64]time.Time{}, project: map[int64]int64{},
		dids: map[didKey]int64{}, merged: map[int64]bool{}, groups: map[string]int{}, overridden: map[int64]store.Override{}}
	for _, batch := range batches {
		for i := range batch.Events {
			r.resolveEvent(b, batch.ProjectID, &batch.Events[i])
		}
	}
	for k, p := range b.dids {
		b.w.DistinctIDs = append(b.w.DistinctIDs, store.DistinctID{ProjectID: k.project, DistinctID: k.id, PersonID: p})
	}
	for _, o := range b.overridden {
		b.w.Overrides = append(b.w.Overrides, o)
	}
	if err := b.applyOps(ctx, fetch); err != nil {
		return nil, err
	}
	return b.w, nil
}

func (r *Resolver) resolveEvent(b *batchState, project int64, e *event.Raw) {
	var props map[string]any
	switch e.Event {
	case event.Identify, event.CreateAlias, MergeDangerously, event.GroupIdentify:
		props = decodeProps(e.Properties)
	}
	// identifies: the event asks to merge another distinct id into its
	// own, which makes its person identified whether or not the merge is
	// made (identified.go).
	identifies := false
	switch e.Event {
	case event.Identify:
		if anon, ok := props[event.PropAnonID].(string); ok && anon != "" && anon != e.DistinctID {
			r.merge(b, project, e.DistinctID, anon, e.Timestamp, false)
			identifies = true
		}
	case event.CreateAlias, MergeDangerously:
		if alias := stringProp(props[event.PropAlias]); alias != "" && alias != e.DistinctID {
			r.merge(b, project, e.DistinctID, alias, e.Timestamp, e.Event == MergeDangerously)
			identifies = true
		}
	case event.GroupIdentify:
		b.group(project, props, e.Timestamp)
	}
	var person int64
	i, ok := r.ids.find(project, e.DistinctID)
	switch {
	case ok:
		person = r.ids.entries[i].person
	case e.NoPerson:
		person = personless(project, e.DistinctID)
	default:
		person = r.create(b, project, e.Timestamp)
		r.link(b, project, e.DistinctID, person, none)
	}
	if e.Event == event.GroupIdentify {
		r.noteGroupCall(person, props, e.Timestamp)
	}
	if identifies && person > 0 {
		r.identified[person] = true
	}
	if person > 0 && (len(e.Set) > 0 || len(e.SetOnce) > 0 || len(e.Unset) > 0) && !e.NoPerson {
		b.ops = append(b.ops, op{person: person, set: e.Set, setOnce: e.SetOnce, unset: e.Unset, at: e.Timestamp, projectID: project})
		b.project[person] = project
	}
	b.w.Events = append(b.w.Events, store.Row{
		ProjectID: project, UUID: parseUUID(e.UUID), Event: e.Event, DistinctID: e.DistinctID,
		PersonID: person, Timestamp: e.Timestamp, Properties: r.withLink(person, e.Properties), ReceivedAt: e.ReceivedAt,
	})
}

func decodeProps(raw json.RawMessage) map[string]any {
	var m map[string]any
	if len(raw) > 0 {
		_ = json.Unmarshal(raw, &m) // capture validated it; a failure just means no identity change
	}
	return m
}

func stringProp(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	case float64:
		return strings.TrimSuffix(fmt.Sprintf("%f", x), ".000000")
	}
	return ""
}

// personless gives events with $process_person_profile=false and no known
// person a stable negative id, so they still count as one "person" each
// without creating a profile.
func personless(project int64, distinctID string) int64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "%d\x00%s", project, distinctID)
	return -int64(h.Sum64() >> 1)
}

func (r *Resolver) create(b *batchState, project int64, at time.Time) int64 {
	id := r.next
	r.next++
	b.created[id] = at
	b.project[id] = project
	b.ops = append(b.ops, op{person: id, at: at, projectID: project}) // makes sure the person row is written
	return id
}

// none is "no entry" for link.
const none = ^uint32(0)

// link maps a distinct id the resolver does not know to person; with is
// an entry of that person, or none for a new person.
func (r *Resolver) link(b *batchState, project int64, distinctID string, person int64, with uint32) uint32 {
	i := r.ids.add(project, distinctID, person)
	if with != none {
		r.ids.join(with, i)
	}
	b.dids[didKey{project, distinctID}] = person
	return i
}

// merge makes target and other the same person. target is the id being
// identified (the user id); its person survives when both exist. Two
// persons are merged only when other's is not identified yet, or when
// dangerously is set ($merge_dangerously), as PostHog does: an $identify
// or $create_alias never folds one identified user into another.
func (r *Resolver) merge(b *batchState, project int64, target, other string, at time.Time, dangerously bool) {
	if other == target {
		return
	}
	it, okT := r.ids.find(project, target)
	io, okO := r.ids.find(project, other)
	switch {
	case !okT && !okO:
		p := r.create(b, project, at)
		first := r.link(b, project, target, p, none)
		r.link(b, project, other, p, first)
		r.adoptPersonless(b, project, target, p)
		r.adoptPersonless(b, project, other, p)
	case okT && !okO:
		r.link(b, project, other, r.ids.entries[it].person, it)
		r.adoptPersonless(b, project, other, r.ids.entries[it].person)
	case !okT && okO:
		r.link(b, project, target, r.ids.entries[io].person, io)
		r.adoptPersonless(b, project, target, r.ids.entries[io].person)
	case r.ids.entries[it].person != r.ids.entries[io].person:
		if !dangerously && r.identified[r.ids.entries[io].person] {
			refusedMerges.Inc()
			return
		}
		r.mergePersons(b, project, io, it, at)
	}
}

// adoptPersonless gives person the events a distinct id sent before it
// had one (personless events, $process_person_profile=false, as
// posthog-js sends for anonymous visitors by default): an override from
// the id's personless id, kept among the person's merged-away ids so that
// later merges move it along. A merge is where a distinct id meets its
// first person after such events: identify or alias of an anonymous id.
func (r *Resolver) adoptPersonless(b *batchState, project int64, distinctID string, person int64) {
	old := personless(project, distinctID)
	b.overridden[old] = store.Override{ProjectID: project, OldPersonID: old, PersonID: person}
	r.oldOf[person] = append(r.oldOf[person], old)
	b.project[person] = project
}

// mergePersons moves everything of the person of entry fromID onto the
// person of entry intoID.
func (r *Resolver) mergePersons(b *batchState, project int64, fromID, intoID uint32, at time.Time) {
	from, into := r.ids.entries[fromID].person, r.ids.entries[intoID].person
	for i := fromID; ; {
		e := &r.ids.entries[i]
		e.person = into
		p, id := r.ids.id(i)
		b.dids[didKey{p, id}] = into
		if i = e.next; i == fromID {
			break
		}
	}
	r.ids.join(fromID, intoID)
	olds := append(r.oldOf[from], from)
	delete(r.oldOf, from)
	for _, old := range olds {
		b.overridden[old] = store.Override{ProjectID: project, OldPersonID: old, PersonID: into}
	}
	r.oldOf[into] = append(r.oldOf[into], olds...)
	r.moveLink(from, into)
	if r.identified[from] {
		delete(r.identified, from)
		r.identified[into] = true
	}
	b.merged[from] = true
	b.project[from], b.project[into] = project, project
	b.ops = append(b.ops, op{person: into, mergeFrom: from, at: at, projectID: project})
}

func (b *batchState) group(project int64, props map[string]any, at time.Time) {
	typ := stringProp(props[event.PropGroupType])
	key := stringProp(props[event.PropGroupKey])
	if typ == "" || key == "" {
		return
	}
	set, _ := props[event.PropGroupSet].(map[string]any)
	k := fmt.Sprintf("%d\x00%s\x00%s", project, typ, key)
	if i, ok := b.groups[k]; ok {
		for name, v := range set {
			b.w.Groups[i].Properties[name] = v
		}
		return
	}
	g := store.Group{ProjectID: project, Type: typ, Key: key, Properties: map[string]any{}, CreatedAt: at}
	for name, v := range set {
		g.Properties[name] = v
	}
	b.groups[k] = len(b.w.Groups)
	b.w.Groups = append(b.w.Groups, g)
}

// applyOps loads the properties of the persons this batch touches, applies
// the changes in event order and emits the person rows to write.
func (b *batchState) applyOps(ctx context.Context, fetch FetchPersons) error {
	if len(b.ops) == 0 {
		return nil
	}
	var need []int64
	for id := range b.project {
		if _, isNew := b.created[id]; !isNew {
			need = append(need, id)
		}
	}
	persons := map[int64]store.Person{}
	if len(need) > 0 {
		stored, err := fetch(ctx, need)
		if err != nil {
			return fmt.Errorf("cannot read persons to update: %w", err)
		}
		persons = stored
	}
	get := func(id int64, at time.Time) store.Person {
		p, ok := persons[id]
		if !ok {
			created := at
			if c, isNew := b.created[id]; isNew {
				created = c
			}
			p = store.Person{ProjectID: b.project[id], ID: id, CreatedAt: created, Properties: map[string]any{}}
		}
		if p.Properties == nil {
			p.Properties = map[string]any{}
		}
		return p
	}
	touched := map[int64]bool{}
	for _, o := range b.ops {
		p := get(o.person, o.at)
		if o.mergeFrom != 0 {
			from := get(o.mergeFrom, o.at)
			for k, v := range from.Properties {
				if _, ok := p.Properties[k]; !ok {
					p.Properties[k] = v
				}
			}
			if from.CreatedAt.Before(p.CreatedAt) {
				p.CreatedAt = from.CreatedAt
			}
			delete(persons, o.mergeFrom)
			delete(touched, o.mergeFrom)
		}
		for k, v := range o.setOnce {
			if _, ok := p.Properties[k]; !ok {
				p.Properties[k] = v
			}
		}
		for k, v := range o.set {
			p.Properties[k] = v
		}
		for _, k := range o.unset {
			delete(p.Properties, k)
		}
		persons[o.person] = p
		touched[o.person] = true
	}
	for id := range touched {
		if !b.merged[id] {
			b.w.Persons = append(b.w.Persons, persons[id])
		}
	}
	return nil
}

// parseUUID parses a capture-normalised uuid; anything else (which capture
// never produces) gets a name-based UUID so the row is still stored.
func parseUUID(s string) [16]byte {
	if u, err := uuid.Parse(s); err == nil {
		return u
	}
	return uuid.NewSHA1(uuid.NameSpaceOID, []byte(s))
}
