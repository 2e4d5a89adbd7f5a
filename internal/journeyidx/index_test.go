package journeyidx

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// model is what a scan must return: per project and person, the events
// as (time, name) in time order.
type model map[int64]map[int64][]string

func (m model) add(evs []Event) {
	for _, e := range evs {
		if m[e.Project] == nil {
			m[e.Project] = map[int64][]string{}
		}
		m[e.Project][e.Person] = append(m[e.Project][e.Person], fmt.Sprintf("%020d %s", e.T, e.Name))
	}
}

func (m model) project(id int64, from, to int64, keep func(string) bool) map[int64][]string {
	out := map[int64][]string{}
	for person, evs := range m[id] {
		var kept []string
		for _, e := range evs {
			var t int64
			var name string
			fmt.Sscanf(e, "%d %s", &t, &name)
			if t >= from && t < to && keep(name) {
				kept = append(kept, e)
			}
		}
		if len(kept) > 0 {
			out[person] = kept
		}
	}
	for _, evs := range out {
		// (time, code) order: codes follow first appearance, so compare
		// by time only and check names as a multiset per time below.
		sort.Strings(evs)
	}
	return out
}

// scanAll reads a project back through a snapshot.
func scanAll(t *testing.T, ix *Index, id int64, from, to int64, keep func(string) bool) map[int64][]string {
	t.Helper()
	s, ok := ix.Snapshot(id)
	if !ok {
		t.Fatal("index not ready")
	}
	defer s.Close()
	k := make([]bool, len(s.Names))
	for i, n := range s.Names {
		k[i] = keep(n)
	}
	var mu sync.Mutex
	out := map[int64][]string{}
	err := s.Scan(context.Background(), 3, from, to, k, func(_ int, dense uint32, ts []int64, codes []uint32) {
		var evs []string
		for i := range ts {
			if i > 0 && (ts[i] < ts[i-1] || ts[i] == ts[i-1] && codes[i] < codes[i-1]) {
				t.Errorf("person %d: events out of order", dense)
			}
			evs = append(evs, fmt.Sprintf("%020d %s", ts[i], s.Names[codes[i]]))
		}
		sort.Strings(evs)
		mu.Lock()
		defer mu.Unlock()
		p := s.Persons[dense]
		if _, dup := out[p]; dup {
			t.Errorf("person %d scanned twice", p)
		}
		out[p] = evs
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func randomEvents(r *rand.Rand, n int, projects, persons int) []Event {
	names := []string{"$pageview", "signup", "purchase", "a", "b", "ünïcode"}
	evs := make([]Event, n)
	for i := range evs {
		p := int64(r.IntN(persons)) - int64(persons/10) // some negative ids: personless events
		evs[i] = Event{Project: int64(1 + r.IntN(projects)), Person: p, T: 1_700_000_000_000_000 + r.Int64N(90*86400e6), Name: names[r.IntN(len(names))]}
	}
	return evs
}

func all(string) bool { return true }

func check(t *testing.T, ix *Index, m model, projects int) {
	t.Helper()
	lo, hi := int64(1_700_000_000_000_000), int64(1_700_000_000_000_000+90*86400e6)
	for id := int64(1); id <= int64(projects); id++ {
		if got, want := scanAll(t, ix, id, lo, hi+1, all), m.project(id, lo, hi+1, all); !reflect.DeepEqual(got, want) {
			t.Fatalf("project %d: scan differs from the events added (%d persons, want %d)", id, len(got), len(want))
		}
		mid := lo + (hi-lo)/3
		keep := func(n string) bool { return n == "signup" || n == "ünïcode" }
		if got, want := scanAll(t, ix, id, mid, mid+20*86400e6, keep), m.project(id, mid, mid+20*86400e6, keep); !reflect.DeepEqual(got, want) {
			t.Fatalf("project %d: filtered scan differs (%d persons, want %d)", id, len(got), len(want))
		}
	}
}

func TestSegmentRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{1, 2, 4095, 4096, 4097, 30000} {
		es := make([]entry, n)
		for i := range es {
			es[i] = entry{dense: uint32(r.IntN(max(1, n/7))), code: uint32(r.IntN(300)), t: r.Int64N(1 << 50)}
		}
		// One person with many events spans a block of its own.
		for i := 0; i < n/3; i++ {
			es[i].dense = 3
		}
		slices.SortFunc(es, lessEntry)
		data := encodeSegment(7, 99, es)
		seg, err := parseSegment(data, true)
		if err != nil {
			t.Fatal(err)
		}
		if seg.foot.project != 7 || seg.foot.checkpoint != 99 {
			t.Fatalf("footer %+v", seg.foot)
		}
		got, err := seg.entries()
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, es) {
			t.Fatalf("%d entries: round trip differs", n)
		}
		// Any flipped byte is found by the checksums.
		for k := 0; k < 20; k++ {
			bad := slices.Clone(data)
			bad[r.IntN(len(bad))] ^= byte(1 + r.IntN(255))
			if s, err := parseSegment(bad, true); err == nil {
				if _, err := s.entries(); err == nil {
					got, _ := s.entries()
					if !slices.Equal(got, es) {
						t.Fatalf("a damaged segment decoded to other entries without an error")
					}
				}
			}
		}
	}
	if bits := len(encodeSegment(1, 1, []entry{{dense: 0, code: 0, t: 5}})); bits > 200 {
		t.Fatalf("one event takes %d bytes", bits)
	}
}

func TestIndexInMemory(t *testing.T) {
	ix, err := Open(Options{FlushEvents: 1000, MergeRuns: 3, NoBackground: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	r := rand.New(rand.NewPCG(3, 4))
	m := model{}
	for batch := 1; batch <= 40; batch++ {
		evs := randomEvents(r, 1+r.IntN(700), 3, 400)
		ix.Add(evs, uint64(batch))
		m.add(evs)
		if batch%7 == 0 {
			if err := ix.Merge(); err != nil {
				t.Fatal(err)
			}
			check(t, ix, m, 3)
		}
	}
	check(t, ix, m, 3) // with a tail
	if err := ix.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := ix.Compact(); err != nil {
		t.Fatal(err)
	}
	for id := int64(1); id <= 3; id++ {
		if s, _ := ix.Snapshot(id); s.Runs() != 1 {
			t.Fatalf("project %d: %d runs after Compact", id, s.Runs())
		}
	}
	check(t, ix, m, 3)
	if ix.Checkpoint() != 40 {
		t.Fatalf("checkpoint %d", ix.Checkpoint())
	}
	s, _ := ix.Snapshot(1)
	defer s.Close()
	if s.Runs() > 3*4 {
		t.Fatalf("%d runs after merges", s.Runs())
	}
}

func TestIndexReopen(t *testing.T) {
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(5, 6))
	m := model{}
	ix, err := Open(Options{Dir: dir, FlushEvents: 500, MergeRuns: 3})
	if err != nil {
		t.Fatal(err)
	}
	for batch := 1; batch <= 30; batch++ {
		evs := randomEvents(r, 1+r.IntN(300), 2, 300)
		ix.Add(evs, uint64(batch))
		m.add(evs)
	}
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}
	ix, err = Open(Options{Dir: dir, FlushEvents: 500, MergeRuns: 3})
	if err != nil {
		t.Fatal(err)
	}
	if ix.Checkpoint() != 30 {
		t.Fatalf("reopened at checkpoint %d, want 30", ix.Checkpoint())
	}
	check(t, ix, m, 2)
	// Batches after the reopen use the same dictionaries.
	evs := randomEvents(r, 500, 2, 300)
	ix.Add(evs, 31)
	m.add(evs)
	check(t, ix, m, 2)
	ix.Close()

	// A damaged segment of project 1: Open says so and leaves project 1
	// out (the store rebuilds it); project 2 and the checkpoint stay.
	segs, _ := filepath.Glob(filepath.Join(dir, "p1-*.seg"))
	if len(segs) == 0 {
		t.Fatal("no segment files")
	}
	data, _ := os.ReadFile(segs[0])
	data[len(data)/2] ^= 0x55
	os.WriteFile(segs[0], data, 0o644)
	ix, err = Open(Options{Dir: dir})
	var damaged *DamagedError
	if !errors.As(err, &damaged) || ix.Checkpoint() != 31 {
		t.Fatalf("damaged segment: err %v, checkpoint %d; want project 1 dropped at checkpoint 31", err, ix.Checkpoint())
	}
	if s, _ := ix.Snapshot(1); s.Events() != 0 {
		t.Fatalf("damaged project kept %d events", s.Events())
	}
	if got, want := scanAll(t, ix, 2, 0, 1<<62, all), m.project(2, 0, 1<<62, all); !reflect.DeepEqual(got, want) || len(want) == 0 {
		t.Fatalf("project 2 beside a damaged project 1: %d persons, want %d", len(got), len(want))
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "p1*")); len(left) != 0 {
		t.Fatalf("the damaged project's files stayed: %v", left)
	}
	// The store rebuilds project 1 (ResetProjects, Load, SetReady); a
	// manifest written meanwhile leaves it out.
	if err := ix.ResetProjects([]int64{1}); err != nil {
		t.Fatal(err)
	}
	if _, ok := ix.Snapshot(1); ok {
		t.Fatal("a project being rebuilt must not be read")
	}
	var p1 []Event
	for person, evs := range m[1] {
		for _, e := range evs {
			var ts int64
			var name string
			fmt.Sscanf(e, "%d %s", &ts, &name)
			p1 = append(p1, Event{Project: 1, Person: person, T: ts, Name: name})
		}
	}
	if err := ix.Load(p1[:len(p1)/2]); err != nil {
		t.Fatal(err)
	}
	evs = randomEvents(r, 200, 2, 300) // a batch applied during the rebuild
	ix.Add(evs, 32)
	m.add(evs)
	if err := ix.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := ix.Load(p1[len(p1)/2:]); err != nil {
		t.Fatal(err)
	}
	if err := ix.SetReady(31); err != nil {
		t.Fatal(err)
	}
	check(t, ix, m, 2)
	ix.Close()
	ix, err = Open(Options{Dir: dir})
	if err != nil || ix.Checkpoint() != 32 {
		t.Fatalf("reopen after the project's rebuild: %v, checkpoint %d", err, ix.Checkpoint())
	}
	check(t, ix, m, 2)
	ix.Close()

	// A truncated dictionary: its project is dropped too.
	os.Truncate(filepath.Join(dir, personsFile(2)), 3)
	ix, err = Open(Options{Dir: dir})
	if !errors.As(err, &damaged) || ix.Projects()[2] != 0 || ix.Projects()[1] == 0 {
		t.Fatalf("truncated dictionary: err %v, projects %v; want project 2 dropped", err, ix.Projects())
	}
	ix.Close()
	// A damaged manifest: nothing can be trusted, the index starts empty.
	os.WriteFile(filepath.Join(dir, manifestName), []byte("{}\n00000000\n"), 0o644)
	ix, err = Open(Options{Dir: dir})
	if err == nil || errors.As(err, &damaged) || ix.Checkpoint() != 0 || len(ix.Projects()) != 0 {
		t.Fatalf("damaged manifest: err %v, checkpoint %d", err, ix.Checkpoint())
	}
	ix.Close()
}

// TestCrashAfterMergeManifest stops a merge after the manifest names its
// output and before its inputs are removed: the reopened index counts
// every event once (the inputs, named by no manifest, are removed).
func TestCrashAfterMergeManifest(t *testing.T) {
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(9, 8))
	m := model{}
	ix, err := Open(Options{Dir: dir, FlushEvents: 200, MergeRuns: 4, NoBackground: true})
	if err != nil {
		t.Fatal(err)
	}
	for batch := 1; batch <= 4; batch++ {
		evs := randomEvents(r, 250, 1, 100)
		ix.Add(evs, uint64(batch))
		m.add(evs)
	}
	crash := errors.New("crash")
	CrashHook = func(stage string) error {
		if stage == "merge-manifest" {
			return crash
		}
		return nil
	}
	defer func() { CrashHook = nil }()
	ix.Merge()
	CrashHook = nil
	if segs, _ := filepath.Glob(filepath.Join(dir, "*.seg")); len(segs) != 5 {
		t.Fatalf("%d segment files at the crash, want 4 inputs and the output", len(segs))
	}
	ix2, err := Open(Options{Dir: dir, NoBackground: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ix2.Close()
	if segs, _ := filepath.Glob(filepath.Join(dir, "*.seg")); len(segs) != 1 || ix2.Checkpoint() != 4 {
		t.Fatalf("after reopen: %d segment files, checkpoint %d; want the merged one at 4", len(segs), ix2.Checkpoint())
	}
	if n := ix2.Projects()[1]; n != 1000 {
		t.Fatalf("%d events after reopen, want 1000", n)
	}
	check(t, ix2, m, 1)
	ix.stopped()
}

// TestFlushFailureKeepsManifest: a flush that wrote one project's
// segment and failed on the next leaves that segment (events past the
// manifest's checkpoint) out of every manifest, merges' too, until a
// flush covers it; a crash then reopens at the old checkpoint with
// exactly the events up to it.
func TestFlushFailureKeepsManifest(t *testing.T) {
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(3, 4))
	m := model{}
	ix, err := Open(Options{Dir: dir, FlushEvents: 1 << 20, MergeRuns: 2, NoBackground: true})
	if err != nil {
		t.Fatal(err)
	}
	evs := randomEvents(r, 300, 2, 100)
	ix.Add(evs, 1)
	m.add(evs)
	if err := ix.Flush(); err != nil {
		t.Fatal(err)
	}
	// Batch 2's flush writes project 1's segment and fails: simulate by
	// flushing one project's tail by hand, as flushLocked does.
	evs2 := randomEvents(r, 300, 1, 100)
	ix.Add(evs2, 2)
	ix.mu.Lock()
	p := ix.projects[1]
	slices.SortFunc(p.tail, lessEntry)
	ix.nextSeq++
	f, err := ix.writeSegment(1, ix.checkpoint, p.tail, ix.nextSeq)
	if err != nil {
		t.Fatal(err)
	}
	p.segs, p.tail, p.tailRun, ix.tailEvents = append(p.segs, f), nil, nil, 0
	ix.mu.Unlock()
	if err := ix.Merge(); err != nil { // project 1's two segments: merged, not named
		t.Fatal(err)
	}
	ix.stopped() // crash
	ix2, err := Open(Options{Dir: dir, NoBackground: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ix2.Close()
	if ix2.Checkpoint() != 1 {
		t.Fatalf("reopened at %d, want 1", ix2.Checkpoint())
	}
	check(t, ix2, m, 2)
}

// TestCrashDuringMerge stops a merge after its segment file is written,
// before the manifest names it, and abandons the index as a crash would:
// the reopened index holds exactly what the manifest covers, and the
// orphan is removed.
func TestCrashDuringMerge(t *testing.T) {
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(7, 8))
	m := model{}
	ix, err := Open(Options{Dir: dir, FlushEvents: 200, MergeRuns: 4, NoBackground: true})
	if err != nil {
		t.Fatal(err)
	}
	for batch := 1; batch <= 10; batch++ {
		evs := randomEvents(r, 250, 1, 100)
		ix.Add(evs, uint64(batch)) // each batch flushes
		m.add(evs)
	}
	crash := errors.New("crash")
	CrashHook = func(stage string) error {
		if stage == "written" {
			return crash
		}
		return nil
	}
	defer func() { CrashHook = nil }()
	if err := ix.Merge(); !errors.Is(err, crash) {
		t.Fatalf("merge: %v, want the crash", err)
	}
	before, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	// No Close: the process is gone.
	CrashHook = nil
	ix2, err := Open(Options{Dir: dir, FlushEvents: 200, MergeRuns: 4, NoBackground: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ix2.Close()
	after, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	if len(after) != len(before)-1 || ix2.Checkpoint() != 10 {
		t.Fatalf("after reopen: %d segments (before %d), checkpoint %d", len(after), len(before), ix2.Checkpoint())
	}
	check(t, ix2, m, 1)
	if err := ix2.Merge(); err != nil {
		t.Fatal(err)
	}
	check(t, ix2, m, 1)
	ix.stopped()
}

// stopped releases an abandoned index's goroutines (none with
// NoBackground) without writing.
func (ix *Index) stopped() {
	ix.mu.Lock()
	ix.closed = true
	ix.mu.Unlock()
}

// TestKillDuringMerge runs a child process that adds batches and merges
// in the background, kills it with SIGKILL at a random moment, and checks
// that the reopened index holds exactly the batches up to its checkpoint
// (or is empty: never anything else).
func TestKillDuringMerge(t *testing.T) {
	if dir := os.Getenv("JOURNEYIDX_CHILD"); dir != "" {
		child(dir)
		return
	}
	if testing.Short() {
		t.Log("short: one kill")
	}
	rounds := 5
	if testing.Short() {
		rounds = 1
	}
	for round := range rounds {
		dir := t.TempDir()
		exe, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		cmd := execCommand(exe, "-test.run=^TestKillDuringMerge$")
		cmd.Env = append(os.Environ(), "JOURNEYIDX_CHILD="+dir)
		out := &strings.Builder{}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer cmd.Process.Kill()
		waitForFiles(t, dir, 3)
		time.Sleep(time.Duration(rand.IntN(40)) * time.Millisecond) // mid-merge, mid-flush or between
		cmd.Process.Kill()
		cmd.Wait()
		ix, err := Open(Options{Dir: dir, NoBackground: true})
		if err != nil {
			t.Fatalf("round %d: reopen: %v (a damaged index is rebuilt, but our own writes must never damage it)", round, err)
		}
		c := ix.Checkpoint()
		m := model{}
		for batch := uint64(1); batch <= c; batch++ {
			m.add(childBatch(batch))
		}
		check(t, ix, m, 2)
		ix.Close()
		t.Logf("round %d: killed at checkpoint %d", round, c)
	}
}

// childBatch is batch n of the child's events, the same in both processes.
func childBatch(n uint64) []Event {
	return randomEvents(rand.New(rand.NewPCG(n, 99)), 300, 2, 2000)
}

func child(dir string) {
	ix, err := Open(Options{Dir: dir, FlushEvents: 1000, MergeRuns: 2})
	if err != nil {
		panic(err)
	}
	for n := uint64(1); ; n++ {
		ix.Add(childBatch(n), n)
	}
}

// BenchmarkScan reads 2 M events of 100 k persons (one segment) with a
// trivial callback: the index's own cost per event.
func BenchmarkScan(b *testing.B) {
	ix, err := Open(Options{NoBackground: true})
	if err != nil {
		b.Fatal(err)
	}
	defer ix.Close()
	r := rand.New(rand.NewPCG(1, 1))
	evs := make([]Event, 2_000_000)
	names := []string{"$pageview", "product_viewed", "added_to_cart", "order_completed", "signed_up", "other"}
	for i := range evs {
		evs[i] = Event{Project: 1, Person: int64(r.IntN(100_000)), T: 1_700_000_000_000_000 + int64(i)*2_400_000, Name: names[r.IntN(len(names))]}
	}
	if err := ix.Load(evs); err != nil {
		b.Fatal(err)
	}
	ix.SetReady(1)
	s, _ := ix.Snapshot(1)
	defer s.Close()
	keep := []bool{false, true, true, true, false, false}
	b.ResetTimer()
	for b.Loop() {
		var n [8]int64
		if err := s.Scan(context.Background(), 2, 0, 1<<61, keep, func(w int, _ uint32, ts []int64, _ []uint32) { n[w] += int64(len(ts)) }); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/2e6, "ns/event")
}

// TestDenseIDs: ids set while past the slice (kept in the map) are still
// found once the slice grows past them; negative and sparse ids too.
func TestDenseIDs(t *testing.T) {
	var m denseIDs
	r := rand.New(rand.NewPCG(2, 3))
	want := map[int64]uint32{}
	ids := []int64{5_000_000, -7, 3, 1 << 40, 4_000_000}
	for range 20000 {
		ids = append(ids, int64(r.IntN(3_000_000)))
	}
	for _, id := range ids {
		if _, ok := want[id]; ok {
			continue
		}
		d := uint32(len(want))
		m.set(id, d, len(want))
		want[id] = d
	}
	for id, d := range want {
		if got, ok := m.get(id); !ok || got != d {
			t.Fatalf("id %d: %d %v, want %d", id, got, ok, d)
		}
	}
	if _, ok := m.get(42); ok && want[42] == 0 {
		if _, in := want[42]; !in {
			t.Fatal("an id never set is found")
		}
	}
}
