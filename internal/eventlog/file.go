package eventlog

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	json "github.com/goccy/go-json"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/journey-dev/journey/internal/event"
)

// The file log is a directory of segment files named by the position of
// their first byte. A record is a 4-byte little-endian length, a 4-byte
// CRC-32C of the payload, then the payload (a JSON event.Batch). A record cut
// short by a crash is never acknowledged, so on open the tail is truncated
// at the first record that does not check out.

const (
	headerSize     = 8
	maxRecord      = 64 << 20
	segmentSize    = 64 << 20
	maxGroupBytes  = 8 << 20
	appendQueueLen = 4096
)

var (
	crcTable = crc32.MakeTable(crc32.Castagnoli)

	appendedBatches = metrics.NewCounter("journey_eventlog_appended_batches_total")
	appendedBytes   = metrics.NewCounter("journey_eventlog_appended_bytes_total")
	groupCommits    = metrics.NewCounter("journey_eventlog_group_commits_total") // disk syncs (groups written, without syncing)
)

// FileOptions configures the embedded log.
type FileOptions struct {
	// NoSync skips fdatasync. A kill -9 still loses nothing (the data is in
	// the page cache), a power cut may. Meant for tests and benchmarks.
	NoSync bool
}

// File is the embedded, append-only, group-committed event log.
type File struct {
	dir  string
	opts FileOptions

	reqs    chan *appendReq
	done    chan struct{}
	stopped chan struct{}

	end atomic.Uint64 // position after the last durable record

	mu       sync.Mutex    // guards segments and notify
	segments []uint64      // start positions, ascending; last is active
	notify   chan struct{} // closed when end moves

	// The writer's: the active segment (replaced under smu and mu too,
	// since syncs and readers look at it) and the position after the last
	// record written, durable or not (moved under smu).
	active      *os.File
	activeStart uint64
	pos         uint64

	smu      sync.Mutex // guards the syncs' state below
	synced   *sync.Cond // a sync ended
	pending  []written  // written, waiting for a sync, in log order
	target   uint64     // the position the latest sync started covers
	syncing  int        // syncs running or armed (startSync)
	lastSync time.Time  // when the latest sync began
	failed   error
}

// OpenFile opens (or creates) the log in dir and recovers its tail.
func OpenFile(dir string, opts FileOptions) (*File, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("cannot create event log directory %q: %w", dir, err)
	}
	l := &File{dir: dir, opts: opts, reqs: make(chan *appendReq, appendQueueLen),
		done: make(chan struct{}), stopped: make(chan struct{}), notify: make(chan struct{})}
	segs, err := listSegments(dir)
	if err != nil {
		return nil, err
	}
	if len(segs) == 0 {
		segs = []uint64{0}
	}
	l.segments = segs
	last := segs[len(segs)-1]
	size, err := recoverSegment(l.segmentPath(last))
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(l.segmentPath(last), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("cannot open event log segment %q: %w", l.segmentPath(last), err)
	}
	l.active, l.activeStart = f, last
	l.pos = last + uint64(size)
	l.target = l.pos
	l.synced = sync.NewCond(&l.smu)
	l.end.Store(l.pos)
	go l.writer()
	return l, nil
}

func (l *File) segmentPath(start uint64) string {
	return filepath.Join(l.dir, fmt.Sprintf("%020d.wal", start))
}

func listSegments(dir string) ([]uint64, error) {
	names, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("cannot list event log directory %q: %w", dir, err)
	}
	var segs []uint64
	for _, n := range names {
		base, ok := strings.CutSuffix(n.Name(), ".wal")
		if !ok {
			continue
		}
		start, err := strconv.ParseUint(base, 10, 64)
		if err != nil {
			continue
		}
		segs = append(segs, start)
	}
	sort.Slice(segs, func(i, j int) bool { return segs[i] < segs[j] })
	return segs, nil
}

// recoverSegment returns the length of the valid prefix of a segment and
// truncates anything after it (a record torn by a crash).
func recoverSegment(path string) (int64, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return 0, fmt.Errorf("cannot open event log segment %q: %w", path, err)
	}
	defer f.Close()
	var valid int64
	r := &offsetReader{f: f}
	for {
		_, n, err := readRecord(r)
		if err != nil {
			break
		}
		valid += n
	}
	st, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("cannot stat event log segment %q: %w", path, err)
	}
	if st.Size() != valid {
		if err := f.Truncate(valid); err != nil {
			return 0, fmt.Errorf("cannot truncate torn event log tail %q: %w", path, err)
		}
		if err := f.Sync(); err != nil {
			return 0, fmt.Errorf("cannot sync event log segment %q: %w", path, err)
		}
	}
	return valid, nil
}

type offsetReader struct {
	f   *os.File
	off int64
}

func (r *offsetReader) Read(p []byte) (int, error) {
	n, err := r.f.ReadAt(p, r.off)
	r.off += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

// readRecord reads one record and returns its payload and total size.
func readRecord(r io.Reader) ([]byte, int64, error) {
	var hdr [headerSize]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, 0, err
	}
	n := binary.LittleEndian.Uint32(hdr[0:4])
	if n == 0 || n > maxRecord {
		return nil, 0, errors.New("bad record length")
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		return nil, 0, err
	}
	if crc32.Checksum(payload, crcTable) != binary.LittleEndian.Uint32(hdr[4:8]) {
		return nil, 0, errors.New("bad record checksum")
	}
	return payload, int64(headerSize + n), nil
}

// sliceRecord checks the record at the start of b, which holds it whole,
// and returns its payload (a part of b) and total size.
func sliceRecord(b []byte) ([]byte, int64, error) {
	if len(b) < headerSize {
		return nil, 0, io.ErrUnexpectedEOF
	}
	n := binary.LittleEndian.Uint32(b[0:4])
	if n == 0 || n > maxRecord || uint64(len(b)-headerSize) < uint64(n) {
		return nil, 0, errors.New("bad record length")
	}
	payload := b[headerSize : headerSize+int(n)]
	if crc32.Checksum(payload, crcTable) != binary.LittleEndian.Uint32(b[4:8]) {
		return nil, 0, errors.New("bad record checksum")
	}
	return payload, int64(headerSize + n), nil
}

// appendReq is one Append's record on its way to the writer. They are
// pooled with their buffer and encoder: a single-event request would
// otherwise allocate the encoding, the record and the answer channel.
type appendReq struct {
	data []byte // the record: header, then payload; owned by the writer until errc answers
	errc chan error

	rec []byte       // the record, written by be
	be  batchEncoder // encode.go
	buf bytes.Buffer // the record, written by enc, for what be leaves to it
	enc *json.Encoder
}

var appendReqs = sync.Pool{New: func() any {
	r := &appendReq{errc: make(chan error, 1)}
	r.enc = json.NewEncoder(&r.buf)
	return r
}}

// zeroHeader is where a record's header goes before it is filled in.
var zeroHeader [headerSize]byte

// Records above this stay out of the pool, which would keep them alive.
const maxPooledRecord = 64 << 10

// encode makes r.data the record of b.
func (r *appendReq) encode(b event.Batch) error {
	rec, ok := r.be.append(append(r.rec[:0], zeroHeader[:]...), b)
	r.rec = rec[:0]
	if ok {
		return r.seal(rec)
	}
	r.buf.Reset()
	r.buf.Write(make([]byte, headerSize)) // the header, filled in below
	if err := r.enc.Encode(b); err != nil {
		return fmt.Errorf("cannot encode batch: %w", err)
	}
	rec = r.buf.Bytes()
	return r.seal(rec[:len(rec)-1]) // Encode ends with a newline; Marshal did not
}

// seal fills in the header of rec, a record with its payload, and makes
// it r.data.
func (r *appendReq) seal(rec []byte) error {
	payload := rec[headerSize:]
	if len(payload) > maxRecord-headerSize {
		return fmt.Errorf("cannot append batch of %d bytes: over the %d byte limit", len(payload), maxRecord)
	}
	binary.LittleEndian.PutUint32(rec[0:4], uint32(len(payload)))
	binary.LittleEndian.PutUint32(rec[4:8], crc32.Checksum(payload, crcTable))
	r.data = rec
	return nil
}

func (r *appendReq) release() {
	r.data = nil
	if r.buf.Cap() <= maxPooledRecord && cap(r.rec) <= maxPooledRecord {
		appendReqs.Put(r)
	}
}

// Append encodes b and waits until it is durable.
func (l *File) Append(ctx context.Context, b event.Batch) error {
	defer fileAppends.Since(time.Now()) // metrics.go
	req := appendReqs.Get().(*appendReq)
	if err := req.encode(b); err != nil {
		req.release()
		return err
	}
	select {
	case <-l.done:
		req.release()
		return ErrClosed
	default:
	}
	select {
	case l.reqs <- req:
	case <-l.done:
		req.release()
		return ErrClosed
	case <-ctx.Done():
		req.release()
		return ctx.Err()
	}
	// Once queued the write happens whatever the caller does; wait for it so
	// the answer reflects durability. A request that slipped in while Close
	// ran is answered by the writer's final drain or here.
	select {
	case err := <-req.errc:
		req.release()
		return err
	case <-l.stopped:
		select {
		case err := <-req.errc:
			req.release()
			return err
		default:
			// Not answered, so never reused: the writer has stopped and
			// will not touch it, but a late answer must not reach another
			// Append.
			return ErrClosed
		}
	}
}

// The writer writes groups of appends as they come and hands them to the
// sync, which runs apart from it: appends that arrive during a sync are
// written meanwhile and share the next one. An append is answered once a
// sync that began after its write has returned (a sync makes durable
// everything written to the file before it began), and appends are made
// readable, then answered, in log order.
//
// maxSyncs bounds the syncs in flight. More than one at a time was tried
// (BenchmarkAckWait at 10 000 appends/s, 2 and 3): each sync then covered
// fewer appends and cost 30-50 % more CPU per append, for no p99 that the
// shared disk could tell apart.
const maxSyncs = 1

// minSyncGap spaces the syncs of a busy log so that each is shared by more
// appends: a sync costs the process 60-130 µs of CPU in system calls and
// page writeback (BenchmarkAckWait: 29 µs of CPU per single-event append
// without syncs, 51-78 µs with one sync per 2-4 appends), which at 10 000
// single-event requests/s was a fifth to a half of a core. An append
// waits at most this much longer; a log that was idle syncs at once.
var minSyncGap = time.Millisecond

// written is a group of appends written to the file, waiting for a sync.
type written struct {
	reqs []*appendReq
	end  uint64 // position after the group
}

func (l *File) writer() {
	defer close(l.stopped)
	var group []*appendReq
	var buf []byte
	for {
		var first *appendReq
		select {
		case first = <-l.reqs:
		case <-l.done:
			l.drainClosed()
			l.waitSyncs()
			return
		}
		group = append(group[:0], first)
		size := len(first.data)
	gather:
		for size < maxGroupBytes {
			select {
			case r := <-l.reqs:
				group = append(group, r)
				size += len(r.data)
			default:
				break gather
			}
		}
		buf = buf[:0]
		for _, r := range group {
			buf = append(buf, r.data...)
		}
		if err := l.write(buf); err != nil {
			for _, r := range group {
				r.errc <- err
			}
			continue
		}
		appendedBatches.Add(len(group))
		appendedBytes.Add(len(buf))
		l.wrote(group, len(buf))
		if l.pos-l.activeStart >= segmentSize {
			l.waitSyncs() // nothing may sync the old file once it is closed
			if err := l.roll(l.pos); err != nil {
				l.fail(err)
			}
		}
	}
}

func (l *File) drainClosed() {
	for {
		select {
		case r := <-l.reqs:
			r.errc <- ErrClosed
		default:
			return
		}
	}
}

// write writes buf at the end of the active segment.
func (l *File) write(buf []byte) error {
	l.smu.Lock()
	failed := l.failed
	l.smu.Unlock()
	if failed != nil {
		return failed
	}
	if _, err := l.active.Write(buf); err != nil {
		// Cut the partial write so the next append starts on a record boundary.
		if terr := l.active.Truncate(int64(l.pos - l.activeStart)); terr != nil {
			l.fail(fmt.Errorf("event log unusable after failed write: %w", terr))
		}
		return fmt.Errorf("cannot write event log: %w", err)
	}
	return nil
}

// wrote moves the position past a group of n bytes just written and hands
// the group to the syncs, or, without syncing, answers it at once.
func (l *File) wrote(group []*appendReq, n int) {
	l.smu.Lock()
	defer l.smu.Unlock()
	l.pos += uint64(n) // under smu: startSync reads it on the syncs' goroutines
	if l.failed != nil {
		// A sync failed while the group was written (write checked
		// before): no sync will run to answer it.
		for _, r := range group {
			r.errc <- l.failed
		}
		return
	}
	if l.opts.NoSync {
		l.advance(l.pos) // first: an answered append is readable
		for _, r := range group {
			r.errc <- nil
		}
		groupCommits.Inc()
		return
	}
	l.pending = append(l.pending, written{reqs: slices.Clone(group), end: l.pos})
	l.startSync()
}

// startSync starts a sync of everything written when none running covers
// it and fewer than maxSyncs run, but no sooner than minSyncGap after the
// previous one began: until then it only arms a timer, which counts as a
// running sync. smu is held.
func (l *File) startSync() {
	if l.pos <= l.target || l.syncing >= maxSyncs || l.failed != nil {
		return
	}
	l.syncing++
	if wait := minSyncGap - time.Since(l.lastSync); wait > 0 {
		time.AfterFunc(wait, l.delayedSync)
		return
	}
	l.target, l.lastSync = l.pos, time.Now()
	go l.sync(l.active, l.target)
}

// syncFile is fdatasync; tests watch or fail it.
var syncFile = fdatasync

// delayedSync is the timer of startSync.
func (l *File) delayedSync() {
	l.smu.Lock()
	defer l.smu.Unlock()
	l.syncing--
	l.startSync()
	l.synced.Broadcast()
}

// sync makes the file durable up to target, answers the appends that made
// durable, and starts the next sync if writes are waiting for one.
func (l *File) sync(f *os.File, target uint64) {
	err := syncFile(f)
	l.smu.Lock()
	defer l.smu.Unlock()
	l.syncing--
	switch {
	case err != nil:
		l.failLocked(fmt.Errorf("cannot sync event log: %w", err))
	case l.failed == nil:
		groupCommits.Inc()
		if target > l.end.Load() {
			l.advance(target) // first: an answered append is readable
		}
		n := 0
		for n < len(l.pending) && l.pending[n].end <= target {
			for _, r := range l.pending[n].reqs {
				r.errc <- nil
			}
			n++
		}
		l.pending = slices.Delete(l.pending, 0, n)
		l.startSync()
	}
	l.synced.Broadcast()
}

// advance makes the log readable up to end.
func (l *File) advance(end uint64) {
	l.end.Store(end)
	l.mu.Lock()
	close(l.notify)
	l.notify = make(chan struct{})
	l.mu.Unlock()
}

// fail makes the log unusable: the appends written but not yet synced get
// err, as does every later one (a failed sync may have lost their data).
func (l *File) fail(err error) {
	l.smu.Lock()
	defer l.smu.Unlock()
	l.failLocked(err)
}

func (l *File) failLocked(err error) {
	if l.failed == nil {
		l.failed = err
	}
	for _, w := range l.pending {
		for _, r := range w.reqs {
			r.errc <- l.failed
		}
	}
	l.pending = nil
}

// waitSyncs waits until no sync runs, so every group written is answered.
func (l *File) waitSyncs() {
	l.smu.Lock()
	defer l.smu.Unlock()
	for l.syncing > 0 {
		l.synced.Wait()
	}
}

func (l *File) roll(start uint64) error {
	f, err := os.OpenFile(l.segmentPath(start), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("cannot create event log segment: %w", err)
	}
	if d, err := os.Open(l.dir); err == nil {
		_ = d.Sync() // make the new file's name durable
		d.Close()
	}
	old := l.active
	l.smu.Lock() // startSync reads active
	l.mu.Lock()
	l.active, l.activeStart = f, start
	l.segments = append(l.segments, start)
	l.mu.Unlock()
	l.smu.Unlock()
	return old.Close()
}

// End returns the position after the last durable record.
func (l *File) End() uint64 { return l.end.Load() }

// Read returns the records after from, waiting for one if there are none.
func (l *File) Read(ctx context.Context, from uint64, maxBytes int) ([]Entry, error) {
	for {
		l.mu.Lock()
		wait := l.notify
		l.mu.Unlock()
		if end := l.end.Load(); from < end {
			return l.readRange(from, end, maxBytes)
		}
		select {
		case <-wait:
		case <-l.done:
			return nil, ErrClosed
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (l *File) readRange(from, end uint64, maxBytes int) ([]Entry, error) {
	l.mu.Lock()
	segs := append([]uint64(nil), l.segments...)
	l.mu.Unlock()
	i := sort.Search(len(segs), func(i int) bool { return segs[i] > from }) - 1
	if i < 0 {
		return nil, fmt.Errorf("cannot read event log at %d: before the oldest segment %d", from, segs[0])
	}
	var out []Entry
	read := 0
	for ; i < len(segs) && from < end && read < maxBytes; i++ {
		segEnd := end
		if i+1 < len(segs) && segs[i+1] < segEnd {
			segEnd = segs[i+1]
		}
		entries, next, err := l.readSegment(segs[i], from, segEnd, maxBytes-read)
		if err != nil {
			return nil, err
		}
		out = append(out, entries...)
		read += int(next - from)
		from = next
		if from < segEnd {
			break // the budget ended inside this segment
		}
	}
	return out, nil
}

// readSegment reads whole records of one segment from position from, up to
// segEnd and about maxBytes, with one read call.
func (l *File) readSegment(start, from, segEnd uint64, maxBytes int) ([]Entry, uint64, error) {
	f, err := os.Open(l.segmentPath(start))
	if err != nil {
		return nil, from, fmt.Errorf("cannot open event log segment: %w", err)
	}
	defer f.Close()
	// Read at least one whole record even when it is larger than maxBytes.
	n := min(segEnd-from, uint64(max(maxBytes, headerSize)))
	buf := make([]byte, n)
	if _, err := f.ReadAt(buf, int64(from-start)); err != nil && err != io.EOF {
		return nil, from, fmt.Errorf("cannot read event log at %d: %w", from, err)
	}
	var out []Entry
	r := bytes.NewReader(buf)
	for {
		if r.Len() < headerSize {
			break
		}
		size := int(binary.LittleEndian.Uint32(buf[len(buf)-r.Len():]))
		if headerSize+size > r.Len() {
			if len(out) > 0 {
				break
			}
			// A record larger than the buffer: read it alone.
			rr := &offsetReader{f: f, off: int64(from - start)}
			payload, total, err := readRecord(rr)
			if err != nil {
				return nil, from, fmt.Errorf("cannot read event log record at %d: %w", from, err)
			}
			e, err := decodeEntry(payload, from+uint64(total))
			if err != nil {
				return nil, from, err
			}
			return []Entry{e}, from + uint64(total), nil
		}
		// The payload is decoded from buf itself, not copied first: the
		// decoded batch keeps copies of what it needs.
		payload, total, err := sliceRecord(buf[len(buf)-r.Len():])
		if err != nil {
			return nil, from, fmt.Errorf("cannot read event log record at %d: %w", from, err)
		}
		r.Seek(total, io.SeekCurrent)
		from += uint64(total)
		e, err := decodeEntry(payload, from)
		if err != nil {
			return nil, from, err
		}
		out = append(out, e)
	}
	return out, from, nil
}

func decodeEntry(payload []byte, next uint64) (Entry, error) {
	var b event.RawBatch
	if err := json.Unmarshal(payload, &b); err != nil {
		return Entry{}, fmt.Errorf("cannot decode event log record before %d: %w", next, err)
	}
	return Entry{Next: next, Batch: b}, nil
}

// Trim removes segments that end at or before upTo, never the active one.
func (l *File) Trim(upTo uint64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for len(l.segments) > 1 && l.segments[1] <= upTo {
		if err := os.Remove(l.segmentPath(l.segments[0])); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("cannot remove event log segment: %w", err)
		}
		l.segments = l.segments[1:]
	}
	return nil
}

// Close stops the writer; appends waiting in the queue get ErrClosed.
func (l *File) Close() error {
	select {
	case <-l.done:
		return nil
	default:
	}
	close(l.done)
	<-l.stopped
	return l.active.Close()
}
