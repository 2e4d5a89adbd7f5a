// Package journeyidx is the journey index: per project, every stored
// event's (person, time, event name) ordered by person then time, in
// compact columns — dense person ids, delta-encoded times, event-name codes
// from a per-project dictionary — so that funnels, retention and active
// users read each person's journey in one sequential pass instead of
// asking the event store to scan and group millions of rows (issue 18).
//
// It is an LSM of sorted runs: events arrive in a small in-memory tail
// (Add, after the event store committed them), which a flush sorts into an
// immutable segment file; segments of similar size are merged in the
// background; queries read a Snapshot: the memory-mapped segments and the
// tail, merged per person on the fly.
//
// Durability follows the event store's checkpoint: a flush writes every
// project's tail and then the manifest, which names the live segments and
// the log position they cover, atomically (temporary file, fsync, rename);
// files a manifest does not name (a crashed merge's output, or its inputs
// once the manifest names the output) are removed, so no event is counted
// twice. A store that opens the index adds what its checkpoint has beyond
// the manifest's (a crash lost the tail; the store keeps those events
// itself until a manifest covers them); a damaged project (checksums) is
// dropped at open and rebuilt from the event store alone (ResetProjects,
// Load, SetReady), the others are kept. Identity merges are not in the
// index: queries map persons through the store's override map, as the
// event store's own plans do.
package journeyidx

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Event is one stored event as the index takes it.
type Event struct {
	Project int64
	Person  int64 // the person id stored with the event (before merges)
	T       int64 // µs since the Unix epoch, UTC
	Name    string
}

// Options tunes an index.
type Options struct {
	// Dir holds the index's files; "" keeps everything in memory (an
	// in-memory event store's index).
	Dir string
	// FlushEvents is the tail size that triggers a flush (all projects);
	// 0 = 1 << 18.
	FlushEvents int
	// FlushEvery flushes a non-empty tail at least this often, which bounds
	// what a restart after a clean shutdown... or a crash has to redo;
	// 0 = 30 s, negative = only by size and on Close.
	FlushEvery time.Duration
	// MergeRuns merges a size tier's segments once it holds this many;
	// 0 = 4.
	MergeRuns int
	// NoBackground runs merges only when Merge is called (tests).
	NoBackground bool
	// StoreID names the event store the index belongs to: an index whose
	// manifest names another (a new database file beside an old index)
	// opens empty, to be rebuilt.
	StoreID string
}

// Index is the journey index of every project of one event store.
type Index struct {
	opts Options
	mu   sync.Mutex
	// checkpoint: every event the store applied up to this log position
	// has been added; durable: the position the manifest on disk covers.
	checkpoint, durable uint64
	ready               bool // false while a rebuild runs: queries must not read it
	projects            map[int64]*project
	tailEvents          int
	nextSeq             uint64
	gen                 uint64 // bumped by Reset: a merge started before one is dropped
	lastFlush           time.Time
	mergeWake           chan struct{}
	stop                chan struct{}
	wg                  sync.WaitGroup
	closed              bool
	// inflight names the segment files merges and Loads are writing
	// outside ix.mu, which removeFiles must leave alone.
	inflight map[string]bool
	// flushErr is the last flush's error: the index stays readable from
	// memory, but the manifest is behind (the next open rebuilds).
	flushErr error
}

// project is one project's dictionaries, segments and tail.
type project struct {
	id      int64
	names   []string // code → name
	codes   map[string]uint32
	persons []int64 // dense id → person id
	dense   denseIDs
	// namesKept, personsKept: how many entries (and bytes) the dictionary
	// files hold, as the manifest records.
	namesKept, personsKept   int
	namesBytes, personsBytes int64
	segs                     []*segFile
	tail                     []entry
	tailRun                  *segFile // the tail encoded for snapshots; nil when it changed
	merging                  bool
	// rebuilding: ResetProjects emptied it and Loads refill it; snapshots
	// are refused and manifests leave it out until SetReady.
	rebuilding bool
}

// segFile is a live segment, shared by snapshots (refs).
type segFile struct {
	name  string // file name; "" in memory
	seg   *segment
	unmap func()
	refs  atomic.Int64
	dead  atomic.Bool // replaced by a merge: unmapped at the last release
}

func (f *segFile) acquire() { f.refs.Add(1) }

func (f *segFile) release() {
	if f.refs.Add(-1) == 0 && f.dead.Load() && f.unmap != nil {
		f.unmap()
	}
}

// Open opens the index in opts.Dir (creating it), or an empty in-memory
// one. A damaged or unreadable index is not an error: with an unreadable
// manifest Open returns an empty index with checkpoint 0 and removes the
// files; a project whose dictionaries or segments are damaged is left out
// (its files removed) and the others kept. The store rebuilds what is
// missing; the error says what was dropped (for the log).
func Open(opts Options) (*Index, error) {
	if opts.FlushEvents <= 0 {
		opts.FlushEvents = 1 << 18
	}
	if opts.FlushEvery == 0 {
		opts.FlushEvery = 30 * time.Second
	}
	if opts.MergeRuns <= 1 {
		opts.MergeRuns = 4
	}
	ix := &Index{opts: opts, projects: map[int64]*project{}, ready: true, inflight: map[string]bool{}, mergeWake: make(chan struct{}, 1),
		stop: make(chan struct{}), lastFlush: time.Now()}
	var loadErr error
	if opts.Dir != "" {
		if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
			return nil, fmt.Errorf("cannot create journey index %q: %w", opts.Dir, err)
		}
		var damaged *DamagedError
		if loadErr = ix.load(); loadErr != nil && !errors.As(loadErr, &damaged) {
			ix.dropAll()
			if err := ix.removeFiles(nil); err != nil {
				return nil, err
			}
		}
	}
	if !opts.NoBackground {
		ix.wg.Add(1)
		go ix.background()
	}
	return ix, loadErr
}

// Dir is the index's directory ("" in memory).
func (ix *Index) Dir() string { return ix.opts.Dir }

// Durable is the log position the manifest on disk covers: a store may
// forget what it kept of batches up to it.
func (ix *Index) Durable() uint64 {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	return ix.durable
}

// Projects returns the events each project holds (segments and tail),
// leaving out projects being rebuilt.
func (ix *Index) Projects() map[int64]int64 {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	out := map[int64]int64{}
	for id, p := range ix.projects {
		if p.rebuilding {
			continue
		}
		n := int64(len(p.tail))
		for _, f := range p.segs {
			n += int64(f.seg.foot.events)
		}
		out[id] = n
	}
	return out
}

// Checkpoint is the log position the index covers: the store's
// checkpoint when they are consistent.
func (ix *Index) Checkpoint() uint64 {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	return ix.checkpoint
}

// Ready says whether queries may read the index (not during a rebuild).
func (ix *Index) Ready() bool {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	return ix.ready
}

// Reset empties the index for a rebuild from the event store: until
// SetReady, snapshots are refused. Its files are removed.
func (ix *Index) Reset() error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.dropAll()
	ix.ready = false
	ix.gen++
	return ix.removeFiles(nil)
}

// ResetProjects empties some projects for a rebuild of theirs from the
// event store, keeping the others readable: until SetReady, their
// snapshots are refused and manifests leave them out. Their files are
// removed.
func (ix *Index) ResetProjects(ids []int64) error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.gen++ // a merge of one of them that is running is dropped
	for _, id := range ids {
		if p := ix.projects[id]; p != nil {
			ix.tailEvents -= len(p.tail)
			p.drop()
		}
		p := &project{id: id, codes: map[string]uint32{}, rebuilding: true}
		ix.projects[id] = p
	}
	if ix.opts.Dir == "" || !ix.ready {
		return nil
	}
	return ix.writeManifest(ix.durable, "reset-manifest")
}

// drop releases a project's segments.
func (p *project) drop() {
	for _, f := range p.segs {
		f.dead.Store(true)
		f.release()
	}
	p.segs = nil
}

// dropAll forgets every project; ix.mu is held (or ix is not shared yet).
func (ix *Index) dropAll() {
	for _, p := range ix.projects {
		p.drop()
	}
	ix.projects = map[int64]*project{}
	ix.tailEvents, ix.checkpoint, ix.durable = 0, 0, 0
}

// Load adds events the store held at a rebuild's start (the events of
// log positions up to checkpoint); Adds of later batches may run
// meanwhile. Each call's events go to segments of their own.
func (ix *Index) Load(events []Event) error {
	ix.mu.Lock()
	byProject := map[*project][]entry{}
	for _, e := range events {
		p := ix.project(e.Project)
		byProject[p] = append(byProject[p], p.entry(e))
	}
	ix.mu.Unlock()
	for p, es := range byProject {
		slices.SortFunc(es, lessEntry)
		seq := ix.seq(p.id)
		f, err := ix.writeSegment(p.id, 0, es, seq)
		ix.mu.Lock()
		delete(ix.inflight, segName(p.id, seq))
		if err == nil {
			p.segs = append(p.segs, f)
		}
		ix.mu.Unlock()
		if err != nil {
			return err
		}
	}
	ix.wakeMerge()
	return nil
}

// SetReady ends a rebuild: the events Loaded and Added so far are every
// event up to the store's checkpoint, which the index now covers.
func (ix *Index) SetReady(checkpoint uint64) error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.ready = true
	ix.checkpoint = max(ix.checkpoint, checkpoint)
	for _, p := range ix.projects {
		p.rebuilding = false
	}
	return ix.flushLocked()
}

// Add adds the events one store batch inserted (after the store committed
// it), and moves the index's checkpoint to the batch's.
func (ix *Index) Add(events []Event, checkpoint uint64) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	for _, e := range events {
		p := ix.project(e.Project)
		p.tail = append(p.tail, p.entry(e))
		p.tailRun = nil
	}
	ix.tailEvents += len(events)
	ix.checkpoint = max(ix.checkpoint, checkpoint)
	if ix.tailEvents >= ix.opts.FlushEvents {
		ix.flushErr = ix.flushLocked()
	}
}

// Flush writes every tail to segments and the manifest.
func (ix *Index) Flush() error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	return ix.flushLocked()
}

// Err is the last flush's error, if it failed.
func (ix *Index) Err() error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	return ix.flushErr
}

// Close flushes and closes the index.
func (ix *Index) Close() error {
	ix.mu.Lock()
	if ix.closed {
		ix.mu.Unlock()
		return nil
	}
	ix.closed = true
	close(ix.stop)
	ix.mu.Unlock()
	ix.wg.Wait()
	ix.mu.Lock()
	defer ix.mu.Unlock()
	var err error
	if ix.ready {
		err = ix.flushLocked()
	}
	for _, p := range ix.projects {
		for _, f := range p.segs {
			f.dead.Store(true)
			f.release()
		}
	}
	ix.projects = map[int64]*project{}
	return err
}

func (ix *Index) project(id int64) *project {
	p := ix.projects[id]
	if p == nil {
		p = &project{id: id, codes: map[string]uint32{}}
		ix.projects[id] = p
	}
	return p
}

// entry numbers e's name and person in p's dictionaries.
func (p *project) entry(e Event) entry {
	code, ok := p.codes[e.Name]
	if !ok {
		code = uint32(len(p.names))
		p.codes[e.Name] = code
		p.names = append(p.names, e.Name)
	}
	d, ok := p.dense.get(e.Person)
	if !ok {
		d = uint32(len(p.persons))
		p.dense.set(e.Person, d, len(p.persons))
		p.persons = append(p.persons, e.Person)
	}
	return entry{dense: d, code: code, t: min(max(e.T, -maxAbsTime), maxAbsTime)}
}

// denseIDs maps stored person ids to dense ids: person ids count up from
// 1, so most are found in a slice (a map lookup per event was most of a
// rebuild's time at a million persons); the rest (personless events'
// negative ids, sparse large ones) in a map.
type denseIDs struct {
	low []uint32 // by person id: dense id + 1, 0 when absent
	far map[int64]uint32
}

func (m *denseIDs) get(id int64) (uint32, bool) {
	if id >= 0 && id < int64(len(m.low)) {
		if d := m.low[id]; d != 0 {
			return d - 1, true
		}
	}
	d, ok := m.far[id] // also ids set before the slice reached them
	return d, ok
}

// set maps id to d; n is how many persons there are, which bounds the
// slice (about twice the persons, plus a million).
func (m *denseIDs) set(id int64, d uint32, n int) {
	if id >= 0 && id < int64(2*n+1<<20) {
		if id >= int64(len(m.low)) {
			m.low = slices.Grow(m.low, int(id)+1-len(m.low))[:id+1]
		}
		if _, ok := m.far[id]; !ok { // never in both
			m.low[id] = d + 1
			return
		}
	}
	if m.far == nil {
		m.far = map[int64]uint32{}
	}
	m.far[id] = d
}

// flushLocked writes each project's tail as a segment, then the
// dictionaries and the manifest; ix.mu is held. Nothing is written while
// a rebuild runs (its segments are named in no manifest yet).
func (ix *Index) flushLocked() error {
	ix.lastFlush = time.Now()
	for _, p := range ix.projects {
		if len(p.tail) == 0 {
			continue
		}
		es := p.tail
		slices.SortFunc(es, lessEntry)
		ix.nextSeq++
		f, err := ix.writeSegment(p.id, ix.checkpoint, es, ix.nextSeq)
		if err != nil {
			return err
		}
		p.segs = append(p.segs, f)
		p.tail, p.tailRun = nil, nil
	}
	ix.tailEvents = 0
	ix.wakeMerge()
	if !ix.ready || ix.opts.Dir == "" {
		return nil
	}
	if err := ix.writeDicts(); err != nil {
		return err
	}
	if err := ix.writeManifest(ix.checkpoint, "flush-manifest"); err != nil {
		return err
	}
	ix.durable = ix.checkpoint
	return nil
}

// writeSegment encodes sorted entries and, with a directory, writes them
// to a new segment file (temporary file, fsync, rename) and maps it.
func (ix *Index) writeSegment(projectID int64, checkpoint uint64, es []entry, seq uint64) (*segFile, error) {
	data := encodeSegment(projectID, checkpoint, es)
	if ix.opts.Dir == "" {
		seg, err := parseSegment(data, false)
		if err != nil {
			return nil, err
		}
		f := &segFile{seg: seg}
		f.refs.Store(1)
		return f, nil
	}
	name := segName(projectID, seq)
	if err := writeFileAtomic(filepath.Join(ix.opts.Dir, name), data); err != nil {
		return nil, err
	}
	return ix.mapSegment(name, false)
}

// seq numbers a new segment file of a project written outside ix.mu,
// which stays in flight until the caller deletes it from ix.inflight.
func (ix *Index) seq(projectID int64) uint64 {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.nextSeq++
	ix.inflight[segName(projectID, ix.nextSeq)] = true
	return ix.nextSeq
}

func segName(projectID int64, seq uint64) string { return fmt.Sprintf("p%d-%08d.seg", projectID, seq) }

// mapSegment maps a segment file and checks it (verify: every block).
func (ix *Index) mapSegment(name string, verify bool) (*segFile, error) {
	data, unmap, err := mapFile(filepath.Join(ix.opts.Dir, name))
	if err != nil {
		return nil, err
	}
	seg, err := parseSegment(data, verify)
	if err != nil {
		unmap()
		return nil, fmt.Errorf("cannot open journey index segment %q: %w", name, err)
	}
	f := &segFile{name: name, seg: seg, unmap: unmap}
	f.refs.Store(1)
	return f, nil
}

// writeFileAtomic writes data to path through a temporary file, so that
// a crash leaves either nothing or the whole file.
func writeFileAtomic(path string, data []byte) error {
	return writeFileAtomicFunc(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// writeFileAtomicFunc is writeFileAtomic of what write writes.
func writeFileAtomicFunc(path string, write func(io.Writer) error) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("cannot create %q: %w", tmp, err)
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	if err := write(bw); err == nil {
		err = bw.Flush()
	}
	if err != nil {
		f.Close()
		return fmt.Errorf("cannot write %q: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("cannot sync %q: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("cannot close %q: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("cannot rename %q: %w", tmp, err)
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("cannot open %q: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("cannot sync %q: %w", dir, err)
	}
	return nil
}

// The dictionaries are append-only files per project: names as uvarint
// length and bytes, persons as varints, in code and dense-id order. The
// manifest records how many entries and bytes are valid; whatever follows
// (a crashed flush's) is cut on open.
func namesFile(id int64) string   { return fmt.Sprintf("p%d.names", id) }
func personsFile(id int64) string { return fmt.Sprintf("p%d.persons", id) }

func (ix *Index) writeDicts() error {
	for _, p := range ix.projects {
		if len(p.names) > p.namesKept {
			var b []byte
			for _, n := range p.names[p.namesKept:] {
				b = binary.AppendUvarint(b, uint64(len(n)))
				b = append(b, n...)
			}
			if err := appendFile(filepath.Join(ix.opts.Dir, namesFile(p.id)), p.namesBytes, b); err != nil {
				return err
			}
			p.namesKept, p.namesBytes = len(p.names), p.namesBytes+int64(len(b))
		}
		if len(p.persons) > p.personsKept {
			var b []byte
			for _, id := range p.persons[p.personsKept:] {
				b = binary.AppendVarint(b, id)
			}
			if err := appendFile(filepath.Join(ix.opts.Dir, personsFile(p.id)), p.personsBytes, b); err != nil {
				return err
			}
			p.personsKept, p.personsBytes = len(p.persons), p.personsBytes+int64(len(b))
		}
	}
	return nil
}

// appendFile writes b at offset at (cutting what follows) and syncs.
func appendFile(path string, at int64, b []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("cannot open %q: %w", path, err)
	}
	defer f.Close()
	if err := f.Truncate(at); err != nil {
		return fmt.Errorf("cannot truncate %q: %w", path, err)
	}
	if _, err := f.WriteAt(b, at); err != nil {
		return fmt.Errorf("cannot write %q: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("cannot sync %q: %w", path, err)
	}
	return nil
}

// manifest is the index's table of contents.
type manifest struct {
	Version    int               `json:"version"`
	StoreID    string            `json:"store_id"`
	Checkpoint uint64            `json:"checkpoint"`
	NextSeq    uint64            `json:"next_seq"`
	Projects   []projectManifest `json:"projects"`
}

type projectManifest struct {
	ID           int64    `json:"id"`
	Names        int      `json:"names"`
	NamesBytes   int64    `json:"names_bytes"`
	Persons      int      `json:"persons"`
	PersonsBytes int64    `json:"persons_bytes"`
	Segments     []string `json:"segments"`
}

const manifestName = "MANIFEST"

// writeManifest writes the manifest (one JSON line, then its CRC-32C) and
// removes the files it no longer names; ix.mu is held; stage names the
// caller for CrashHook.
//
// A manifest covering checkpoint names only segments whose events go no
// further (each segment's footer says how far): were one of them
// further (a flush that failed half-way left a project's segment, or a
// merge took it in), the store would add its events again after a crash.
// Then the manifest on disk, and every file it names, stay as they are
// until a flush covers them.
func (ix *Index) writeManifest(checkpoint uint64, stage string) error {
	m := manifest{Version: 1, StoreID: ix.opts.StoreID, Checkpoint: checkpoint, NextSeq: ix.nextSeq}
	keep := map[string]bool{}
	for _, p := range ix.projects {
		keep[namesFile(p.id)], keep[personsFile(p.id)] = true, true
		for _, f := range p.segs {
			keep[f.name] = true
			if f.seg.foot.checkpoint > checkpoint && !p.rebuilding {
				return nil
			}
		}
		if p.rebuilding {
			continue // its files are kept, for the manifest of SetReady
		}
		pm := projectManifest{ID: p.id, Names: p.namesKept, NamesBytes: p.namesBytes, Persons: p.personsKept, PersonsBytes: p.personsBytes}
		for _, f := range p.segs {
			pm.Segments = append(pm.Segments, f.name)
		}
		m.Projects = append(m.Projects, pm)
	}
	sort.Slice(m.Projects, func(i, j int) bool { return m.Projects[i].ID < m.Projects[j].ID })
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	b = fmt.Appendf(b, "\n%08x\n", crc32.Checksum(b, castagnoli))
	if err := writeFileAtomic(filepath.Join(ix.opts.Dir, manifestName), b); err != nil {
		return err
	}
	if err := hook(stage); err != nil {
		return err
	}
	keep[manifestName] = true
	return ix.removeFiles(keep)
}

// removeFiles removes the index's files not in keep (nil: all of them):
// leftovers of merges and flushes a crash interrupted, and merged
// segments. Mapped segments stay readable until unmapped.
func (ix *Index) removeFiles(keep map[string]bool) error {
	if ix.opts.Dir == "" {
		return nil
	}
	ents, err := os.ReadDir(ix.opts.Dir)
	if err != nil {
		return fmt.Errorf("cannot read journey index %q: %w", ix.opts.Dir, err)
	}
	for _, e := range ents {
		if !keep[e.Name()] && !ix.inflight[strings.TrimSuffix(e.Name(), ".tmp")] && isIndexFile(e.Name()) {
			if err := os.Remove(filepath.Join(ix.opts.Dir, e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("cannot remove %q: %w", e.Name(), err)
			}
		}
	}
	return nil
}

func isIndexFile(name string) bool {
	name = strings.TrimSuffix(name, ".tmp")
	return name == manifestName || strings.HasSuffix(name, ".seg") || strings.HasSuffix(name, ".names") || strings.HasSuffix(name, ".persons")
}

// load reads the manifest, the dictionaries and the segments (every
// block's checksum); no manifest is an empty index.
func (ix *Index) load() error {
	raw, err := os.ReadFile(filepath.Join(ix.opts.Dir, manifestName))
	if errors.Is(err, os.ErrNotExist) {
		return ix.removeFiles(nil) // segments of a rebuild that never finished
	}
	if err != nil {
		return fmt.Errorf("cannot read journey index manifest: %w", err)
	}
	line, sum, ok := bytes.Cut(bytes.TrimSuffix(raw, []byte("\n")), []byte("\n"))
	if !ok || fmt.Sprintf("%08x", crc32.Checksum(line, castagnoli)) != string(sum) {
		return fmt.Errorf("cannot read journey index manifest: checksum mismatch")
	}
	var m manifest
	if err := json.Unmarshal(line, &m); err != nil || m.Version != 1 {
		return fmt.Errorf("cannot read journey index manifest: %v (version %d)", err, m.Version)
	}
	if m.StoreID != ix.opts.StoreID {
		return fmt.Errorf("cannot use journey index: it belongs to event store %q, not %q", m.StoreID, ix.opts.StoreID)
	}
	keep := map[string]bool{manifestName: true}
	var damaged []error
	for _, pm := range m.Projects {
		p := ix.project(pm.ID)
		if err := ix.loadProject(p, pm, m.Checkpoint); err != nil {
			// Only this project's files are suspect: the store rebuilds
			// it from its events, and the others stay.
			p.drop()
			delete(ix.projects, pm.ID)
			damaged = append(damaged, err)
			continue
		}
		keep[namesFile(p.id)], keep[personsFile(p.id)] = true, true
		for _, f := range p.segs {
			keep[f.name] = true
		}
	}
	ix.checkpoint, ix.durable, ix.nextSeq = m.Checkpoint, m.Checkpoint, m.NextSeq
	if err := ix.removeFiles(keep); err != nil {
		return err
	}
	if len(damaged) > 0 {
		return &DamagedError{Err: errors.Join(damaged...)}
	}
	return nil
}

// DamagedError is Open's error when some projects' files were damaged and
// left out; the rest of the index is there.
type DamagedError struct{ Err error }

func (e *DamagedError) Error() string { return "journey index projects dropped: " + e.Err.Error() }
func (e *DamagedError) Unwrap() error { return e.Err }

// loadProject reads a project's dictionaries and maps its segments
// (every block's checksum).
func (ix *Index) loadProject(p *project, pm projectManifest, checkpoint uint64) error {
	if err := p.loadDicts(ix.opts.Dir, pm); err != nil {
		return err
	}
	for _, name := range pm.Segments {
		f, err := ix.mapSegment(name, true)
		if err != nil {
			return err
		}
		p.segs = append(p.segs, f)
		if f.seg.foot.project != p.id || f.seg.foot.maxCode > uint32(len(p.names)) || f.seg.foot.maxDense > uint32(len(p.persons)) {
			return fmt.Errorf("cannot open journey index segment %q: it does not match its project's dictionaries", name)
		}
		if f.seg.foot.checkpoint > checkpoint {
			return fmt.Errorf("cannot open journey index segment %q: it goes to log position %d, past the manifest's %d", name, f.seg.foot.checkpoint, checkpoint)
		}
	}
	return nil
}

// loadDicts reads a project's dictionaries as far as the manifest says.
func (p *project) loadDicts(dir string, pm projectManifest) error {
	names, err := readPrefix(filepath.Join(dir, namesFile(p.id)), pm.NamesBytes)
	if err != nil {
		return err
	}
	for d := (decoder{buf: names}); len(d.buf) > 0; {
		n := d.uvarint()
		if d.err != nil || n > uint64(len(d.buf)) {
			return fmt.Errorf("cannot read journey index names of project %d: damaged", p.id)
		}
		name := string(d.buf[:n])
		d.buf = d.buf[n:]
		if _, dup := p.codes[name]; dup {
			return fmt.Errorf("cannot read journey index names of project %d: %q twice", p.id, name)
		}
		p.codes[name] = uint32(len(p.names))
		p.names = append(p.names, name)
	}
	persons, err := readPrefix(filepath.Join(dir, personsFile(p.id)), pm.PersonsBytes)
	if err != nil {
		return err
	}
	for d := (decoder{buf: persons}); len(d.buf) > 0; {
		id := d.varint()
		if d.err != nil {
			return fmt.Errorf("cannot read journey index persons of project %d: damaged", p.id)
		}
		if _, dup := p.dense.get(id); dup {
			return fmt.Errorf("cannot read journey index persons of project %d: %d twice", p.id, id)
		}
		p.dense.set(id, uint32(len(p.persons)), len(p.persons))
		p.persons = append(p.persons, id)
	}
	if len(p.names) != pm.Names || len(p.persons) != pm.Persons {
		return fmt.Errorf("cannot read journey index dictionaries of project %d: %d names and %d persons, manifest says %d and %d",
			p.id, len(p.names), len(p.persons), pm.Names, pm.Persons)
	}
	p.namesKept, p.namesBytes, p.personsKept, p.personsBytes = pm.Names, pm.NamesBytes, pm.Persons, pm.PersonsBytes
	return nil
}

// readPrefix reads the first n bytes of a file (n = 0: it may be missing).
func readPrefix(path string, n int64) ([]byte, error) {
	if n == 0 {
		return nil, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot open %q: %w", path, err)
	}
	defer f.Close()
	b := make([]byte, n)
	if _, err := io.ReadFull(bufio.NewReader(f), b); err != nil {
		return nil, fmt.Errorf("cannot read %q: %w", path, err)
	}
	return b, nil
}
