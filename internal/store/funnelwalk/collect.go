package funnelwalk

import (
	"fmt"
	"math"
	"sync"
	"unsafe"

	"github.com/journey-dev/journey/internal/insight"
)

// Row is one source row: the actor (a person id, or the index of a group
// key in the keys passed with it to Add), µs since the plan's from, mask,
// and the index of its breakdown value in the values passed with it (-1:
// none, read as "$none"). Only rows matching a start step (m&StartMask)
// need a breakdown value.
type Row struct {
	Actor int64
	T     int64
	M     uint32
	BV    int32
}

// parts is how many partitions the rows are spread over by actor;
// partitions are grouped and walked independently, in parallel. An actor's
// partition is its low bits: actors are dense sequential ids (person ids,
// group key indexes), so low bits spread them evenly and leave a small key
// (actor >> partBits) for the radix sort.
const (
	partBits = 6
	parts    = 1 << partBits
)

// maxActor bounds actors: they are kept as uint32.
const maxActor = math.MaxUint32

// row is a Row as kept: 16 bytes, as every row is moved several times and
// memory bandwidth bounds the walk. a is the actor as Add received it and,
// once filed into its partition, actor >> partBits (the partition holds
// the rest). Breakdown values go beside the rows (block.bv).
type row struct {
	t int64
	m uint32
	a uint32
}

// Collector receives a funnel's rows and keeps them as they come; Run
// partitions them by actor. Add may be called from several goroutines at
// once.
type Collector struct {
	p      *Plan
	mu     sync.Mutex
	free   []*shard // shards no Add is filling
	shards []*shard // all of them
	keys   []string // group keys by index (unit group:<type>)
	keyIDs map[string]int
	values []string // breakdown values
	rows   int64    // reserved by Add; mu
	// memCap bounds what the kept rows, keys and values take (bytes);
	// keyBytes is what keys and values take now; err is the error Add
	// returned once past memCap.
	memCap   int64
	keyBytes int64
	err      error
	// Persons outside [0, 2^32) (personless events' ids are negative
	// hashes of their distinct id) are kept as ids counted down from
	// maxActor: far maps them, farIDs[maxActor-a] maps back. Real person
	// ids count up from 1, so the two meet only past 4 billion actors,
	// which Add refuses.
	far    map[int64]uint32
	farIDs []int64
}

// farBytes is what one remapped actor takes (map entry and farIDs).
const farBytes = 48

// shard holds rows in blocks: first (Add) in arrival order, then (file)
// by partition. Each concurrent Add or filing goroutine fills a shard of
// its own, so keeping a row takes no lock.
//
// Why two steps: Add runs on the database's threads between its own work
// on each chunk, which evicts the caches; scattering rows to 64 partitions
// there cost 25 ns a row, appending them about 10 ns, and filing them
// afterwards on otherwise idle caches about 7 ns (bench, 8.4 M rows).
type shard struct {
	seq    []*block // rows in arrival order
	parts  [parts][]*block
	cur    [parts]*block // the block each partition fills now
	lo, hi [parts]uint32 // the range of a in each partition
}

func newShard() *shard {
	sh := new(shard)
	for i := range sh.lo {
		sh.lo[i] = math.MaxUint32
	}
	return sh
}

// block is a run of rows (bv: their breakdown value indexes, for
// breakdowns only), pooled.
type block struct {
	n    int
	rows [blockRows]row
	bv   *[blockRows]int32 // made on first use: most funnels have no breakdown
}

// newBlock returns an empty block from the pool, with room for breakdown
// values when asked for.
func newBlock(breakdown bool) *block {
	b := blocks.Get().(*block)
	b.n = 0
	if breakdown && b.bv == nil {
		b.bv = new([blockRows]int32)
	}
	return b
}

const blockRows = 2048

var blocks = sync.Pool{New: func() any { return new(block) }}

// NewCollector returns an empty collector for the plan's rows, which may
// take up to memCap bytes (insight.MemoryCap).
func NewCollector(p *Plan, memCap int64) *Collector {
	return &Collector{p: p, keyIDs: map[string]int{}, memCap: memCap}
}

// rowBytes is what a kept row takes: the row, and its breakdown value's
// index. The walk's copies add about one partition's worth (1/parts).
func (c *Collector) rowBytes() int64 {
	if c.p.Breakdown {
		return int64(unsafe.Sizeof(row{})) + 4
	}
	return int64(unsafe.Sizeof(row{}))
}

// Err is the error Add returned when the rows passed the memory cap, nil
// if it did not: a store whose query failed because of it answers this.
func (c *Collector) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Plan is the plan the collector was made for.
func (c *Collector) Plan() *Plan { return c.p }

// Rows returns how many rows were added. It takes the collector's lock,
// which makes the adds of other goroutines (a database's worker threads)
// visible to the caller, and to -race.
func (c *Collector) Rows() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rows
}

// Add keeps one batch of rows; keys and values are the batch's own group
// keys and breakdown values, which its rows index. It rewrites rows in
// place (to the collector's indexes) and keeps a copy, not rows itself.
// Person ids must be in [0, 2^32).
func (c *Collector) Add(rows []Row, keys, values []string) error {
	far, top := false, int64(0)
	if len(keys) == 0 {
		for _, r := range rows {
			if uint64(r.Actor) > maxActor {
				far = true
			} else {
				top = max(top, r.Actor)
			}
		}
	}
	c.mu.Lock()
	if top > maxActor-int64(len(c.farIDs)) {
		c.mu.Unlock()
		return fmt.Errorf("cannot walk funnel: person id %d meets the ids of personless actors", top)
	}
	if err := c.reserve(len(rows), keys, values); err != nil {
		c.mu.Unlock()
		return err
	}
	if far {
		if err := c.remapFar(rows, top); err != nil {
			c.mu.Unlock()
			return err
		}
	}
	if len(keys) > 0 || len(values) > 0 {
		c.index(rows, keys, values)
	}
	var sh *shard
	if n := len(c.free); n > 0 {
		sh, c.free = c.free[n-1], c.free[:n-1]
	} else {
		sh = newShard()
		c.shards = append(c.shards, sh)
	}
	c.mu.Unlock()
	sh.append(rows, c.p.Breakdown)
	c.mu.Lock()
	c.free = append(c.free, sh)
	c.mu.Unlock()
	return nil
}

// reserve counts n rows, and at most what keys and values add, against
// the memory cap before they are kept, so that concurrent Adds cannot
// pass it together; c.mu is held.
func (c *Collector) reserve(n int, keys, values []string) error {
	if c.err == nil {
		need := (c.rows+int64(n))*c.rowBytes() + c.keyBytes
		for _, k := range keys {
			need += 2 * stringBytes(k) // if new: in keys and keyIDs
		}
		for _, v := range values {
			need += stringBytes(v)
		}
		if need > c.memCap {
			c.err = &insight.MemoryError{Cap: c.memCap, Limit: "--query-memory"}
		}
	}
	if c.err != nil {
		return c.err
	}
	c.rows += int64(n)
	return nil
}

// stringBytes is what keeping s takes.
func stringBytes(s string) int64 { return int64(len(s)) + int64(unsafe.Sizeof(s)) }

// append keeps rows in arrival order.
func (sh *shard) append(rows []Row, breakdown bool) {
	for len(rows) > 0 {
		var b *block
		if n := len(sh.seq); n > 0 && sh.seq[n-1].n < blockRows {
			b = sh.seq[n-1]
		} else {
			b = newBlock(breakdown)
			sh.seq = append(sh.seq, b)
		}
		k := min(len(rows), blockRows-b.n)
		for i, r := range rows[:k] {
			b.rows[b.n+i] = row{t: r.T, m: r.M, a: uint32(r.Actor)}
		}
		if breakdown {
			for i, r := range rows[:k] {
				b.bv[b.n+i] = r.BV
			}
		}
		b.n += k
		rows = rows[k:]
	}
}

// file moves the rows of b (in arrival order) to their partitions.
func (sh *shard) file(b *block, breakdown bool) {
	for i, r := range b.rows[:b.n] {
		part := r.a & (parts - 1)
		r.a >>= partBits
		pb := sh.cur[part]
		if pb == nil || pb.n == blockRows {
			pb = newBlock(breakdown)
			sh.cur[part] = pb
			sh.parts[part] = append(sh.parts[part], pb)
		}
		pb.rows[pb.n] = r
		if breakdown {
			pb.bv[pb.n] = b.bv[i]
		}
		pb.n++
		sh.lo[part], sh.hi[part] = min(sh.lo[part], r.a), max(sh.hi[part], r.a)
	}
}

// index rewrites the batch's key and value indexes to the collector's;
// c.mu is held.
func (c *Collector) index(rows []Row, keys, values []string) {
	ids := make([]int64, len(keys))
	for i, k := range keys {
		id, ok := c.keyIDs[k]
		if !ok {
			id = len(c.keys)
			c.keys = append(c.keys, k)
			c.keyIDs[k] = id
			c.keyBytes += 2 * stringBytes(k) // in keys and keyIDs
		}
		ids[i] = int64(id)
	}
	base := int32(len(c.values))
	c.values = append(c.values, values...)
	for _, v := range values {
		c.keyBytes += stringBytes(v)
	}
	for i := range rows {
		if len(keys) > 0 {
			rows[i].Actor = ids[rows[i].Actor]
		}
		if rows[i].BV >= 0 {
			rows[i].BV += base
		}
	}
}

// remapFar gives the batch's actors outside [0, 2^32) their kept ids
// (see Collector.far), counting what they add against the memory cap;
// c.mu is held.
func (c *Collector) remapFar(rows []Row, top int64) error {
	if c.far == nil {
		c.far = map[int64]uint32{}
	}
	for i := range rows {
		a := rows[i].Actor
		if uint64(a) <= maxActor {
			continue
		}
		id, ok := c.far[a]
		if !ok {
			next := maxActor - int64(len(c.farIDs))
			if next <= top {
				return fmt.Errorf("cannot walk funnel: too many personless actors")
			}
			id = uint32(next)
			c.far[a] = id
			c.farIDs = append(c.farIDs, a)
			c.keyBytes += farBytes
			if c.err == nil && c.rows*c.rowBytes()+c.keyBytes > c.memCap {
				c.err = &insight.MemoryError{Cap: c.memCap, Limit: "--query-memory"}
				return c.err
			}
		}
		rows[i].Actor = int64(id)
	}
	return nil
}

// actorID is an actor as the result lists it.
func (c *Collector) actorID(actor int64) any {
	if len(c.keys) > 0 {
		return c.keys[actor]
	}
	if n := int64(len(c.farIDs)); n > 0 && actor > maxActor-n {
		return c.farIDs[maxActor-actor]
	}
	return actor
}
