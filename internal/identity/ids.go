package identity

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"hash/maphash"
	"slices"
)

// idTable maps (project, distinct id) to a person in about 77 heap bytes
// per 36-byte id, where a Go map keyed by struct{int64; string} plus a map
// person → []string took 233 (a million ids, BenchmarkResolverMemory).
// Anyone holding a public project token can mint distinct ids, so this is
// the loader memory they control.
//
// Layout, three flat slices without pointers, which the GC never scans:
//
//	arena   []byte    every key once, appended: varint(project), then the
//	                  id's bytes. A key ends where the next entry's starts,
//	                  so no length is kept (37 bytes for a uuid).
//	entries []entry   one per key, in arena order (24 bytes): the key's
//	                  offset, its person, 32 bits of its hash, and next.
//	slots   []uint32  open addressing, linear probing: entry index + 1, 0 for
//	                  empty; a power of two at most 3/4 full (4–11 bytes/id).
//
// next is the reverse index person → distinct ids, which a merge needs to
// re-point the merged-away person's ids to the survivor: it links the
// entries of one person in a circle (an id alone points to itself). A merge
// walks the loser's circle, then joins it to the survivor's by swapping two
// links, so no map of persons is kept.
//
// Nothing is ever removed: a distinct id, once seen, is only re-pointed, or
// forgotten when its person is deleted (forget.go), which leaves its entry
// behind as a tombstone that lookups skip.
// The hash is maphash with a per-table seed, so nobody can pick ids ahead
// that collide (which would turn probing into a scan); tests swap in a weak
// one to force collisions.
type idTable struct {
	arena   []byte
	entries []entry
	slots   []uint32
	key     []byte // the key being looked up, reused
	seed    maphash.Seed
	hash    func(seed maphash.Seed, key []byte) uint32
}

type entry struct {
	off    uint64 // where the key starts in arena
	person int64
	next   uint32 // next entry of the same person; itself when alone
	hash   uint32
}

func seededHash(seed maphash.Seed, key []byte) uint32 { return uint32(maphash.Bytes(seed, key)) }

// newIDTable sizes a table for n keys taking size arena bytes.
func newIDTable(n, size int, hash func(maphash.Seed, []byte) uint32) idTable {
	slots := 8
	for slots*3 < n*4 {
		slots *= 2
	}
	return idTable{arena: make([]byte, 0, size), entries: make([]entry, 0, n), slots: make([]uint32, slots),
		seed: maphash.MakeSeed(), hash: hash}
}

// find returns the entry of a distinct id.
func (t *idTable) find(project int64, id string) (uint32, bool) {
	t.key = append(binary.AppendVarint(t.key[:0], project), id...)
	h := t.hash(t.seed, t.key)
	mask := uint32(len(t.slots) - 1)
	for s := h & mask; ; s = (s + 1) & mask {
		i := t.slots[s]
		if i == 0 {
			return 0, false
		}
		// A forgotten entry (forget.go) no longer maps its key: probing
		// goes on to the entry the key got after, if any.
		if e := &t.entries[i-1]; e.hash == h && e.person != forgotten && bytes.Equal(t.keyOf(i-1), t.key) {
			return i - 1, true
		}
	}
}

// add stores a distinct id that find does not know, alone in its circle.
func (t *idTable) add(project int64, id string, person int64) uint32 {
	if (len(t.entries)+1)*4 > len(t.slots)*3 {
		t.grow()
	}
	i := uint32(len(t.entries))
	off := len(t.arena)
	t.arena = append(binary.AppendVarint(t.arena, project), id...)
	t.entries = append(t.entries, entry{off: uint64(off), person: person, next: i, hash: t.hash(t.seed, t.arena[off:])})
	t.place(i)
	return i
}

func (t *idTable) place(i uint32) {
	mask := uint32(len(t.slots) - 1)
	s := t.entries[i].hash & mask
	for t.slots[s] != 0 {
		s = (s + 1) & mask
	}
	t.slots[s] = i + 1
}

func (t *idTable) grow() {
	if uint64(len(t.slots)) >= 1<<32 {
		panic("identity: more than 3 billion distinct ids") // slot values are 32-bit
	}
	t.slots = make([]uint32, 2*len(t.slots))
	for i := range t.entries {
		t.place(uint32(i))
	}
}

func (t *idTable) keyOf(i uint32) []byte {
	end := uint64(len(t.arena))
	if int(i)+1 < len(t.entries) {
		end = t.entries[i+1].off
	}
	return t.arena[t.entries[i].off:end]
}

// id returns the distinct id of an entry.
func (t *idTable) id(i uint32) (project int64, id string) {
	k := t.keyOf(i)
	project, n := binary.Varint(k)
	return project, string(k[n:])
}

// join makes the circles of a and b one; they must be different circles
// (within one circle, the same swap would split it).
func (t *idTable) join(a, b uint32) {
	t.entries[a].next, t.entries[b].next = t.entries[b].next, t.entries[a].next
}

// linkPersons builds the circles of a table filled by add: one per person.
func (t *idTable) linkPersons() {
	order := make([]uint32, len(t.entries))
	for i := range order {
		order[i] = uint32(i)
	}
	slices.SortFunc(order, func(a, b uint32) int { return cmp.Compare(t.entries[a].person, t.entries[b].person) })
	for k := 1; k < len(order); k++ {
		if t.entries[order[k]].person == t.entries[order[k-1]].person {
			t.join(order[k-1], order[k])
		}
	}
}
