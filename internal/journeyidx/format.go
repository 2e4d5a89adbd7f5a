package journeyidx

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"math/bits"
	"slices"
)

// A segment file holds one project's events sorted by (dense person,
// time, code), in blocks of whole persons:
//
//	magic "JIDXSEG1"
//	block*              (see encodeBlock)
//	block index         nBlocks × 40 bytes (see blockRef)
//	footer              64 bytes (see footer)
//
// Every block has its CRC-32C in the index, the index and footer one of
// their own, so a damaged file is found when it is opened (verify) and the
// index is rebuilt instead of read wrong.

const (
	segMagic    = "JIDXSEG3"
	footMagic   = "JIDXEND1"
	refSize     = 40
	footerSize  = 64
	blockEvents = 4096 // a block is cut at the first person boundary past this many events
)

// maxAbsTime bounds stored times (µs, about ±73 000 years) so that no
// difference of two of them overflows.
const maxAbsTime = 1 << 61

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// entry is one event as the index keeps it.
type entry struct {
	dense uint32 // the person's dense id (project dictionary)
	code  uint32 // the event name's code (project dictionary)
	t     int64  // µs since the Unix epoch, UTC
}

// lessEntry is the order of a segment: person, then event name, then
// time, so that each person's events of one name are a run a scan can
// skip whole when the query does not read that name.
func lessEntry(a, b entry) int {
	switch {
	case a.dense != b.dense:
		return compare(a.dense, b.dense)
	case a.code != b.code:
		return compare(a.code, b.code)
	}
	return compare(a.t, b.t)
}

func compare[T int64 | uint32](a, b T) int {
	if a < b {
		return -1
	}
	if a > b {
		return 1
	}
	return 0
}

// blockRef locates one block and bounds what it holds, so that scans skip
// blocks outside their persons or times without decoding them.
type blockRef struct {
	off         uint64
	length      uint32
	crc         uint32
	first, last uint32 // dense ids of its first and last person
	minT, maxT  int64
}

// footer is a segment's summary.
type footer struct {
	project    int64
	checkpoint uint64 // the store's log position the segment's events go up to
	events     uint64
	indexOff   uint64
	nBlocks    uint32
	maxCode    uint32 // every code is < maxCode
	maxDense   uint32 // every dense id is < maxDense
}

// encodeSegment encodes entries sorted by lessEntry.
func encodeSegment(project int64, checkpoint uint64, es []entry) []byte {
	var buf bytes.Buffer
	buf.Grow(len(segMagic) + len(es)*6 + footerSize)
	w := newSegWriter(&buf, project, checkpoint)
	for _, e := range es {
		w.add(e)
	}
	w.close() // a bytes.Buffer does not fail
	return buf.Bytes()
}

// segWriter writes a segment as its entries come, sorted by lessEntry,
// holding one block: merges of large segments stream through it.
type segWriter struct {
	w     io.Writer
	off   uint64
	err   error
	block []entry
	buf   []byte
	refs  []blockRef
	foot  footer
}

func newSegWriter(w io.Writer, project int64, checkpoint uint64) *segWriter {
	sw := &segWriter{w: w, foot: footer{project: project, checkpoint: checkpoint}}
	sw.write([]byte(segMagic))
	return sw
}

func (sw *segWriter) write(b []byte) {
	if sw.err == nil {
		_, sw.err = sw.w.Write(b)
		sw.off += uint64(len(b))
	}
}

// add appends the next entry; a block is cut at the first person
// boundary past blockEvents.
func (sw *segWriter) add(e entry) {
	if n := len(sw.block); n >= blockEvents && sw.block[n-1].dense != e.dense {
		sw.flushBlock()
	}
	sw.block = append(sw.block, e)
}

func (sw *segWriter) flushBlock() {
	es := sw.block
	if len(es) == 0 {
		return
	}
	sw.buf = encodeBlock(sw.buf[:0], es)
	ref := blockRef{off: sw.off, length: uint32(len(sw.buf)), first: es[0].dense, last: es[len(es)-1].dense,
		minT: math.MaxInt64, maxT: math.MinInt64, crc: crc32.Checksum(sw.buf, castagnoli)}
	for _, e := range es {
		ref.minT, ref.maxT = min(ref.minT, e.t), max(ref.maxT, e.t)
		sw.foot.maxCode, sw.foot.maxDense = max(sw.foot.maxCode, e.code+1), max(sw.foot.maxDense, e.dense+1)
	}
	sw.foot.events += uint64(len(es))
	sw.refs = append(sw.refs, ref)
	sw.write(sw.buf)
	sw.block = sw.block[:0]
}

// close writes the last block, the block index and the footer.
func (sw *segWriter) close() error {
	sw.flushBlock()
	f := &sw.foot
	f.indexOff, f.nBlocks = sw.off, uint32(len(sw.refs))
	out := make([]byte, 0, len(sw.refs)*refSize+footerSize)
	for _, r := range sw.refs {
		out = binary.LittleEndian.AppendUint64(out, r.off)
		out = binary.LittleEndian.AppendUint32(out, r.length)
		out = binary.LittleEndian.AppendUint32(out, r.crc)
		out = binary.LittleEndian.AppendUint32(out, r.first)
		out = binary.LittleEndian.AppendUint32(out, r.last)
		out = binary.LittleEndian.AppendUint64(out, uint64(r.minT))
		out = binary.LittleEndian.AppendUint64(out, uint64(r.maxT))
	}
	out = append(out, footMagic...)
	out = binary.LittleEndian.AppendUint64(out, uint64(f.project))
	out = binary.LittleEndian.AppendUint64(out, f.checkpoint)
	out = binary.LittleEndian.AppendUint64(out, f.events)
	out = binary.LittleEndian.AppendUint64(out, f.indexOff)
	out = binary.LittleEndian.AppendUint32(out, f.nBlocks)
	out = binary.LittleEndian.AppendUint32(out, f.maxCode)
	out = binary.LittleEndian.AppendUint32(out, f.maxDense)
	out = binary.LittleEndian.AppendUint64(out, 0) // reserved
	out = binary.LittleEndian.AppendUint32(out, crc32.Checksum(out, castagnoli))
	sw.write(out)
	return sw.err
}

// segIter reads a segment's entries in order, one block at a time.
type segIter struct {
	s     *segment
	bi    int
	b     block
	p     int // person in the block
	ts    []int64
	codes []uint32
	k     int
	cur   entry
	err   error
}

func newSegIter(s *segment) *segIter { return &segIter{s: s, bi: -1} }

// next moves to the next entry (cur); false at the end or on an error.
func (it *segIter) next() bool {
	for it.k >= len(it.ts) {
		if it.err != nil {
			return false
		}
		it.p++
		if it.bi < 0 || it.p >= len(it.b.persons) {
			it.bi++
			if it.bi >= len(it.s.refs) {
				return false
			}
			if it.err = it.s.decode(it.bi, &it.b, nil); it.err != nil {
				return false
			}
			it.p = 0
		}
		it.ts, it.codes, it.err = it.b.raw(it.p, it.ts[:0], it.codes[:0])
		it.k = 0
	}
	it.cur = entry{dense: it.b.persons[it.p], t: it.ts[it.k], code: it.codes[it.k]}
	it.k++
	return true
}

// encodeBlock appends one block of whole persons' entries (sorted by
// lessEntry):
//
//	uvarint persons, uvarint events, varint base time, byte tbits
//	persons × (uvarint dense delta, uvarint runs, runs × (uvarint code, uvarint events))
//	events × tbits: each run's times, its first minus base then deltas,
//	         bit-packed, then pad bytes
//
// A run is one person's events of one name, in time order: a scan reads
// only the runs of the names it asks for and skips the others by their
// bit count (a DAU trend of one name reads half the events, retention a
// quarter). Times within a run only grow, so deltas are small; fixed
// widths per block decode without a branch per byte.
func encodeBlock(out []byte, es []entry) []byte {
	base := es[0].t
	persons := 0
	var maxDelta uint64
	for i := range es {
		base = min(base, es[i].t)
		if i == 0 || es[i].dense != es[i-1].dense {
			persons++
		}
	}
	for i := range es {
		if i == 0 || es[i].dense != es[i-1].dense || es[i].code != es[i-1].code {
			maxDelta = max(maxDelta, uint64(es[i].t-base))
		} else {
			maxDelta = max(maxDelta, uint64(es[i].t-es[i-1].t))
		}
	}
	tbits := bits.Len64(maxDelta)
	out = binary.AppendUvarint(out, uint64(persons))
	out = binary.AppendUvarint(out, uint64(len(es)))
	out = binary.AppendVarint(out, base)
	out = append(out, byte(tbits))
	prev := uint32(0)
	for i := 0; i < len(es); {
		j := i + 1
		for j < len(es) && es[j].dense == es[i].dense {
			j++
		}
		runs := 1
		for k := i + 1; k < j; k++ {
			if es[k].code != es[k-1].code {
				runs++
			}
		}
		out = binary.AppendUvarint(out, uint64(es[i].dense-prev))
		out = binary.AppendUvarint(out, uint64(runs))
		for k := i; k < j; {
			l := k + 1
			for l < j && es[l].code == es[k].code {
				l++
			}
			out = binary.AppendUvarint(out, uint64(es[k].code))
			out = binary.AppendUvarint(out, uint64(l-k))
			k = l
		}
		prev = es[i].dense
		i = j
	}
	var w bitWriter
	for i := range es {
		if i == 0 || es[i].dense != es[i-1].dense || es[i].code != es[i-1].code {
			w.put(uint64(es[i].t-base), tbits)
		} else {
			w.put(uint64(es[i].t-es[i-1].t), tbits)
		}
	}
	return w.flush(out)
}

// packPad follows each bit-packed array so that getBits may read 9 bytes
// from any value's first byte.
const packPad = 9

// bitWriter packs values of up to 64 bits, least significant first.
type bitWriter struct {
	buf  []byte
	acc  uint64
	nacc uint
}

func (w *bitWriter) put(v uint64, width int) {
	for width > 0 {
		take := min(uint(width), 64-w.nacc)
		part := v
		if take < 64 {
			part &= 1<<take - 1
		}
		w.acc |= part << w.nacc
		w.nacc += take
		v >>= take % 64
		if take == 64 {
			v = 0
		}
		width -= int(take)
		if w.nacc == 64 {
			w.buf = binary.LittleEndian.AppendUint64(w.buf, w.acc)
			w.acc, w.nacc = 0, 0
		}
	}
}

// flush appends the packed bytes and the pad to out and resets w.
func (w *bitWriter) flush(out []byte) []byte {
	out = append(out, w.buf...)
	for n := uint(0); n < w.nacc; n += 8 {
		out = append(out, byte(w.acc>>n))
	}
	out = append(out, make([]byte, packPad)...)
	w.buf, w.acc, w.nacc = w.buf[:0], 0, 0
	return out
}

// packedLen is the bytes n values of width bits take, pad included.
func packedLen(n uint64, width int) uint64 { return (n*uint64(width)+7)/8 + packPad }

// getBits reads the width-bit value at bit pos of buf, which holds
// packPad bytes past the last value's first byte.
func getBits(buf []byte, pos uint64, width int) uint64 {
	i, sh := pos>>3, pos&7
	v := binary.LittleEndian.Uint64(buf[i:]) >> sh
	if uint64(width)+sh > 64 {
		v |= uint64(buf[i+8]) << (64 - sh)
	}
	return v & (^uint64(0) >> (64 - uint(width)) * uint64(min(width, 1)))
}

// segment is an opened, verified segment file's bytes.
type segment struct {
	data []byte
	foot footer
	refs []blockRef
}

var errCorrupt = errors.New("corrupt segment")

func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errCorrupt}, args...)...)
}

// parseSegment reads a segment's footer and block index; with verify it
// also checks every block's checksum (on open: a damaged file must be
// found before a query reads it).
func parseSegment(data []byte, verify bool) (*segment, error) {
	if len(data) < len(segMagic)+footerSize || string(data[:len(segMagic)]) != segMagic {
		return nil, corrupt("no segment header")
	}
	ft := data[len(data)-footerSize:]
	if string(ft[:8]) != footMagic {
		return nil, corrupt("no segment footer")
	}
	le := binary.LittleEndian
	f := footer{
		project: int64(le.Uint64(ft[8:])), checkpoint: le.Uint64(ft[16:]), events: le.Uint64(ft[24:]),
		indexOff: le.Uint64(ft[32:]), nBlocks: le.Uint32(ft[40:]), maxCode: le.Uint32(ft[44:]), maxDense: le.Uint32(ft[48:]),
	}
	if f.indexOff < uint64(len(segMagic)) || f.indexOff > uint64(len(data)-footerSize) ||
		(uint64(len(data)-footerSize)-f.indexOff) != uint64(f.nBlocks)*refSize {
		return nil, corrupt("bad block index bounds")
	}
	if crc32.Checksum(data[f.indexOff:len(data)-4], castagnoli) != le.Uint32(ft[60:]) {
		return nil, corrupt("block index checksum mismatch")
	}
	s := &segment{data: data, foot: f, refs: make([]blockRef, f.nBlocks)}
	next := uint64(len(segMagic))
	for i := range s.refs {
		b := data[f.indexOff+uint64(i)*refSize:]
		r := blockRef{off: le.Uint64(b), length: le.Uint32(b[8:]), crc: le.Uint32(b[12:]), first: le.Uint32(b[16:]),
			last: le.Uint32(b[20:]), minT: int64(le.Uint64(b[24:])), maxT: int64(le.Uint64(b[32:]))}
		// Blocks are contiguous, in person order, each holding persons
		// after the previous block's.
		if r.off != next || r.length == 0 || r.off+uint64(r.length) > f.indexOff || r.first > r.last || r.minT > r.maxT ||
			r.minT < -maxAbsTime || r.maxT > maxAbsTime ||
			r.last >= f.maxDense || i > 0 && r.first <= s.refs[i-1].last {
			return nil, corrupt("bad block %d", i)
		}
		if verify && crc32.Checksum(data[r.off:r.off+uint64(r.length)], castagnoli) != r.crc {
			return nil, corrupt("block %d checksum mismatch", i)
		}
		next = r.off + uint64(r.length)
		s.refs[i] = r
	}
	if next != f.indexOff {
		return nil, corrupt("gap before block index")
	}
	return s, nil
}

// block is one block with its header, persons and runs decoded; its
// times stay packed until a scan reads a person (events). Its slices are
// reused from block to block.
type block struct {
	persons  []uint32 // dense ids, ascending
	runEnds  []int    // persons[i]'s runs are [runEnds[i-1], runEnds[i])
	runCodes []uint32
	starts   []int // run r's events are [starts[r], ends[r])
	ends     []int
	times    []byte
	tbits    int
	base     int64
	span     uint64 // maxT - minT: no run's time may pass it
	idx      int    // which block (errors)
}

// decode reads block i's header, persons and runs into b, checking them
// against the block's reference: no input, however damaged, makes it or
// events panic or return entries outside the block's bounds.
//
// With keep (by code, at least maxCode long), b holds only the runs of
// codes it marks, and only the persons with one: a scan then visits
// neither the runs nor the persons it would skip (a funnel reads 3 names
// of a project's dozens). nil keeps everything (merges).
func (s *segment) decode(i int, b *block, keep []uint8) error {
	r := s.refs[i]
	data := s.data[r.off : r.off+uint64(r.length)]
	d := decoder{buf: data}
	np, ne := d.uvarint(), d.uvarint()
	base := d.varint()
	if d.err != nil || len(d.buf) < 1 || np == 0 || np > ne || ne > uint64(len(data))*8 || base != r.minT {
		return corrupt("block %d header", i)
	}
	tbits := int(d.buf[0])
	d.buf = d.buf[1:]
	if tbits > 64 {
		return corrupt("block %d widths", i)
	}
	b.persons, b.runEnds = b.persons[:0], b.runEnds[:0]
	b.runCodes, b.starts, b.ends = b.runCodes[:0], b.starts[:0], b.ends[:0]
	maxCode := uint64(s.foot.maxCode)
	dense, end := uint64(0), uint64(0)
	for p := uint64(0); p < np; p++ {
		// A block header is mostly pairs of one-byte varints (~7 a
		// person), read here without a call: calls were a third of
		// decoding.
		var delta, runs uint64
		if h := d.buf; len(h) >= 2 && h[0]|h[1] < 0x80 {
			delta, runs, d.buf = uint64(h[0]), uint64(h[1]), h[2:]
		} else {
			delta, runs = d.uvarint(), d.uvarint()
		}
		dense += delta
		if d.err != nil || runs == 0 || runs > ne || dense > uint64(r.last) || p == 0 && dense != uint64(r.first) || p > 0 && delta == 0 {
			return corrupt("block %d persons", i)
		}
		kept := len(b.ends)
		last := uint64(0)
		for k := uint64(0); k < runs; k++ {
			var code, n uint64
			if h := d.buf; len(h) >= 2 && h[0]|h[1] < 0x80 {
				code, n, d.buf = uint64(h[0]), uint64(h[1]), h[2:]
			} else {
				code, n = d.uvarint(), d.uvarint()
			}
			start := end
			end += n
			if d.err != nil || n == 0 || end > ne || code >= maxCode || k > 0 && code <= last {
				return corrupt("block %d runs", i)
			}
			last = code
			if keep == nil || keep[code] != 0 {
				b.runCodes = append(b.runCodes, uint32(code))
				b.starts = append(b.starts, int(start))
				b.ends = append(b.ends, int(end))
			}
		}
		if keep == nil || len(b.ends) > kept {
			b.persons = append(b.persons, uint32(dense))
			b.runEnds = append(b.runEnds, len(b.ends))
		}
	}
	if end != ne || dense != uint64(r.last) {
		return corrupt("block %d persons", i)
	}
	if uint64(len(d.buf)) != packedLen(ne, tbits) {
		return corrupt("block %d length", i)
	}
	b.times = d.buf
	b.tbits, b.base, b.span, b.idx = tbits, base, uint64(r.maxT-r.minT), i
	return nil
}

// run appends run r's times in [from, to) to ts and its code as many
// times to codes: one pass over the packed times, without a branch on
// what is kept (the length moves by the time test).
func (b *block) run(r int, from, to int64, ts []int64, codes []uint32) ([]int64, []uint32, error) {
	start, end := b.starts[r], b.ends[r]
	n := len(ts)
	ts, codes = slices.Grow(ts, end-start)[:n+end-start], slices.Grow(codes, end-start)[:n+end-start]
	tw := uint64(b.tbits)
	pos := uint64(start) * tw
	code := b.runCodes[r]
	off := uint64(0)
	for k := start; k < end; k++ {
		x := getBits(b.times, pos, b.tbits)
		pos += tw
		if x > b.span-off {
			return ts[:n], codes[:n], corrupt("block %d events", b.idx)
		}
		off += x
		t := b.base + int64(off)
		ts[n], codes[n] = t, code
		n += int(isIn(t, from, to))
	}
	return ts[:n], codes[:n], nil
}

// events appends person p's events in [from, to) whose code keep marks
// (keep[code] == 1; keep holds at least maxCode entries) to ts and codes,
// in (time, code) order: the kept runs, merged.
func (b *block) events(p int, from, to int64, keep []uint8, ts []int64, codes []uint32) ([]int64, []uint32, error) {
	r0 := 0
	if p > 0 {
		r0 = b.runEnds[p-1]
	}
	n, runs := len(ts), 0
	for r := r0; r < b.runEnds[p]; r++ {
		if keep[b.runCodes[r]] == 0 {
			continue
		}
		before := len(ts)
		var err error
		if ts, codes, err = b.run(r, from, to, ts, codes); err != nil {
			return ts[:n], codes[:n], err
		}
		if len(ts) > before {
			runs++
		}
	}
	if runs > 1 {
		sortEvents(ts[n:], codes[n:])
	}
	return ts, codes, nil
}

// raw appends all of person p's events in segment order (code, then
// time): merges.
func (b *block) raw(p int, ts []int64, codes []uint32) ([]int64, []uint32, error) {
	r0 := 0
	if p > 0 {
		r0 = b.runEnds[p-1]
	}
	for r := r0; r < b.runEnds[p]; r++ {
		var err error
		if ts, codes, err = b.run(r, math.MinInt64, math.MaxInt64, ts, codes); err != nil {
			return ts, codes, err
		}
	}
	return ts, codes, nil
}

// isIn is 1 when from <= t < to, else 0 (compiled without a branch).
func isIn(t, from, to int64) uint8 {
	var x uint8
	if t >= from && t < to {
		x = 1
	}
	return x
}

// decoder reads varints, remembering the first error.
type decoder struct {
	buf []byte
	err error
}

func (d *decoder) uvarint() uint64 {
	if len(d.buf) > 0 && d.buf[0] < 0x80 { // the common one-byte case
		v := uint64(d.buf[0])
		d.buf = d.buf[1:]
		return v
	}
	v, n := binary.Uvarint(d.buf)
	if n <= 0 {
		d.err = errCorrupt
		d.buf = nil
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.buf)
	if n <= 0 {
		d.err = errCorrupt
		d.buf = nil
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

func resize[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n, n+n/4)
	}
	return s[:n]
}

// entries decodes a whole segment (tests).
func (s *segment) entries() ([]entry, error) {
	out := make([]entry, 0, s.foot.events)
	it := newSegIter(s)
	for it.next() {
		out = append(out, it.cur)
	}
	if it.err != nil {
		return nil, it.err
	}
	if uint64(len(out)) != s.foot.events {
		return nil, corrupt("holds %d events, footer says %d", len(out), s.foot.events)
	}
	return out, nil
}
