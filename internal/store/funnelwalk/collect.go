package funnelwalk

import (
	"sync"
	"sync/atomic"
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
// partitions are grouped and walked independently, in parallel.
const parts = 64

// Collector receives a funnel's rows, partitioned by actor as they come.
// Add may be called from several goroutines at once.
type Collector struct {
	p      *Plan
	mu     sync.Mutex
	parts  [parts][][]Row // each partition's rows, a piece per Add
	keys   []string       // group keys by index (unit group:<type>)
	keyIDs map[string]int // their indexes
	values []string       // breakdown values
	rows   atomic.Int64
}

// NewCollector returns an empty collector for the plan's rows.
func NewCollector(p *Plan) *Collector {
	return &Collector{p: p, keyIDs: map[string]int{}}
}

// Plan is the plan the collector was made for.
func (c *Collector) Plan() *Plan { return c.p }

// Rows returns how many rows were added. It takes the collector's lock,
// which makes the adds of other goroutines (a database's worker threads)
// visible to the caller, and to -race.
func (c *Collector) Rows() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rows.Load()
}

func partOf(actor int64) int {
	return int(uint64(actor) * 0x9E3779B97F4A7C15 >> 58) // parts = 64
}

// Add files one batch of rows; keys and values are the batch's own group
// keys and breakdown values, which its rows index. It rewrites rows in
// place (to the collector's indexes) and keeps a copy, not rows itself.
func (c *Collector) Add(rows []Row, keys, values []string) {
	if len(keys) > 0 || len(values) > 0 {
		c.mu.Lock()
		ids := make([]int64, len(keys))
		for i, k := range keys {
			id, ok := c.keyIDs[k]
			if !ok {
				id = len(c.keys)
				c.keys = append(c.keys, k)
				c.keyIDs[k] = id
			}
			ids[i] = int64(id)
		}
		base := int32(len(c.values))
		c.values = append(c.values, values...)
		c.mu.Unlock()
		for i := range rows {
			if len(keys) > 0 {
				rows[i].Actor = ids[rows[i].Actor]
			}
			if rows[i].BV >= 0 {
				rows[i].BV += base
			}
		}
	}
	// Counting sort by partition, then one piece per partition.
	var start [parts + 1]int
	for i := range rows {
		start[partOf(rows[i].Actor)+1]++
	}
	for part := 1; part <= parts; part++ {
		start[part] += start[part-1]
	}
	next := start
	sorted := make([]Row, len(rows))
	for i := range rows {
		part := partOf(rows[i].Actor)
		sorted[next[part]] = rows[i]
		next[part]++
	}
	c.mu.Lock()
	for part := range parts {
		if start[part] < start[part+1] {
			c.parts[part] = append(c.parts[part], sorted[start[part]:start[part+1]:start[part+1]])
		}
	}
	c.mu.Unlock()
	c.rows.Add(int64(len(rows)))
}

// actorID is an actor as the result lists it.
func (c *Collector) actorID(actor int64) any {
	if len(c.keys) > 0 {
		return c.keys[actor]
	}
	return actor
}
