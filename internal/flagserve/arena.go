package flagserve

import (
	"hash/maphash"
	"unsafe"
)

// strTable interns byte strings in one arena, found by hash through an
// open-addressing table. It holds no Go pointers but its three slices,
// so the collector has nothing to mark in it however many strings it
// holds: the person index keeps a million distinct ids and values here
// (a map[string] of them made each GC cycle mark hundreds of MB).
//
// Entries keep their index for life (until removed): callers store
// indices (a person's slot, a value's code) and may use aux and next.
type strTable struct {
	arena   []byte
	ents    []strEnt
	tab     []uint32 // entry index + 1; 0 empty, tomb removed
	used    int      // tab cells not empty (live + tombstones)
	live    int
	free    []uint32 // removed entries, for reuse
	garbage int      // arena bytes of removed entries
}

// strEnt is one string: its bytes are arena[off:off+n]; off is dead
// once removed.
type strEnt struct {
	hash   uint64
	off, n uint32
	aux    uint32 // the caller's (a slot, a reference count)
	next   uint32 // the caller's (a list link)
}

const (
	tomb = ^uint32(0)
	dead = ^uint32(0)
)

var strSeed = maphash.MakeSeed()

func strHash(s string) uint64 { return maphash.String(strSeed, s) }

// bytesString views b as a string without copying, for lookups only
// (never kept: insert copies into the arena).
func bytesString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

func (t *strTable) bytesOf(e uint32) []byte {
	x := &t.ents[e]
	return t.arena[x.off : x.off+x.n : x.off+x.n]
}

// str is entry e's string, copied out of the arena.
func (t *strTable) str(e uint32) string { return string(t.bytesOf(e)) }

// find returns the entry holding s.
func (t *strTable) find(s string) (uint32, bool) {
	if len(t.tab) == 0 {
		return 0, false
	}
	h := strHash(s)
	mask := uint64(len(t.tab) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		v := t.tab[i]
		if v == 0 {
			return 0, false
		}
		if v != tomb {
			x := &t.ents[v-1]
			if x.hash == h && bytesString(t.arena[x.off:x.off+x.n]) == s {
				return v - 1, true
			}
		}
	}
}

// intern returns the entry holding s, adding one (aux and next zero)
// when none does.
func (t *strTable) intern(s string) (e uint32, added bool) {
	if e, ok := t.find(s); ok {
		return e, false
	}
	if (t.used+1)*4 > len(t.tab)*3 {
		t.rehash()
	}
	h := strHash(s)
	if len(t.arena)+len(s) > int(dead-1) {
		panic("flagserve: string arena past 4 GiB") // the index's bound is far below
	}
	x := strEnt{hash: h, off: uint32(len(t.arena)), n: uint32(len(s))}
	t.arena = append(t.arena, s...)
	if n := len(t.free); n > 0 {
		e, t.free = t.free[n-1], t.free[:n-1]
		t.ents[e] = x
	} else {
		e = uint32(len(t.ents))
		t.ents = append(t.ents, x)
	}
	t.place(e, h, true)
	t.live++
	return e, true
}

// place puts entry e in the table, in the first empty (or, reusing,
// removed) cell of its probe.
func (t *strTable) place(e uint32, h uint64, reuse bool) {
	mask := uint64(len(t.tab) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		switch v := t.tab[i]; {
		case v == 0:
			t.tab[i] = e + 1
			t.used++
			return
		case v == tomb && reuse:
			t.tab[i] = e + 1
			return
		}
	}
}

// rehash sizes the table for twice the live entries, dropping tombstones.
func (t *strTable) rehash() {
	n := 16
	for n*3 < (t.live+1)*2*4 {
		n *= 2
	}
	t.tab = make([]uint32, n)
	t.used = 0
	for e := range t.ents {
		if t.ents[e].off != dead {
			t.place(uint32(e), t.ents[e].hash, false)
		}
	}
}

// remove drops entry e; its index may be reused by a later intern.
func (t *strTable) remove(e uint32) {
	x := &t.ents[e]
	mask := uint64(len(t.tab) - 1)
	for i := x.hash & mask; ; i = (i + 1) & mask {
		if t.tab[i] == e+1 {
			t.tab[i] = tomb
			break
		}
	}
	t.garbage += int(x.n)
	*x = strEnt{off: dead}
	t.free = append(t.free, e)
	t.live--
	if t.live == 0 {
		*t = strTable{}
		return
	}
	if t.garbage > 1<<16 && t.garbage*2 > len(t.arena) {
		t.compact()
	}
}

// compact copies the live entries' bytes into a new arena.
func (t *strTable) compact() {
	arena := make([]byte, 0, len(t.arena)-t.garbage)
	for e := range t.ents {
		x := &t.ents[e]
		if x.off == dead {
			continue
		}
		off := len(arena)
		arena = append(arena, t.arena[x.off:x.off+x.n]...)
		x.off = uint32(off)
	}
	t.arena, t.garbage = arena, 0
}

// size is the table's memory, in bytes.
func (t *strTable) size() int64 {
	return int64(cap(t.arena)) + int64(cap(t.ents))*int64(unsafe.Sizeof(strEnt{})) + int64(cap(t.tab))*4 + int64(cap(t.free))*4
}
