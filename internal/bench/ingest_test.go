package bench

import (
	"context"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	buildOnce   sync.Once
	builtBinary string
	buildErr    error
)

// journeyBinary builds cmd/journey once for the tests that start it.
func journeyBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "journey-bench-test-")
		if err != nil {
			buildErr = err
			return
		}
		builtBinary = filepath.Join(dir, "journey")
		if out, err := exec.Command("go", "build", "-o", builtBinary, "../../cmd/journey").CombinedOutput(); err != nil {
			buildErr = err
			builtBinary = string(out)
		}
	})
	if buildErr != nil {
		t.Fatalf("cannot build journey: %v\n%s", buildErr, builtBinary)
	}
	return builtBinary
}

// TestIngestSmall runs every phase of the ingest benchmark briefly: the
// generator process acknowledges events in each, its CPU and the
// server's are measured, the open-loop run sends what it was asked to,
// and the soak samples RSS and reports minutes. Timings are not asserted.
func TestIngestSmall(t *testing.T) {
	bin := journeyBinary(t)
	o := IngestOptions{Binary: bin, Duration: time.Second, Workers: 4, Rate: 300, LatencyFor: time.Second, LatencyRuns: 2,
		NoSync: false, Soak: 2 * time.Second, SoakBatch: 10, SoakSample: 500 * time.Millisecond, ProfileDir: t.TempDir()}
	res, err := Ingest(context.Background(), o, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	if res.Throughput == nil || res.Throughput.Events <= 0 || res.EventsPerS <= 0 || res.LoadedPerS <= 0 {
		t.Fatalf("throughput phase: %+v", res.Throughput)
	}
	if len(res.LatencyRuns) != 2 {
		t.Fatalf("%d latency runs, want 2", len(res.LatencyRuns))
	}
	for i, lr := range res.LatencyRuns {
		if lr.Requests != 300 || lr.OK != 300 || lr.Events != 300 || lr.Unsent != 0 || lr.P99MS < lr.P50MS || lr.MaxMS < lr.P99MS || lr.P50MS <= 0 {
			t.Errorf("latency run %d: %+v: want 300 requests acknowledged and ordered quantiles", i, lr)
		}
		if lr.GenCPUShare <= 0 || lr.ServerCPUShare <= 0 {
			t.Errorf("latency run %d: CPU shares generator %v server %v", i, lr.GenCPUShare, lr.ServerCPUShare)
		}
		if len(lr.Minutes) != 1 || lr.Minutes[0].Requests != 300 {
			t.Errorf("latency run %d: minutes %+v", i, lr.Minutes)
		}
	}
	if res.P99ms != min(res.LatencyRuns[0].P99MS, res.LatencyRuns[1].P99MS) {
		t.Errorf("p99 %v is not the best run's", res.P99ms)
	}
	s := res.Soak
	if s == nil || s.Load.OK == 0 || s.Load.Errors != 0 || len(s.Samples) < 3 || s.RSSFirstMB <= 0 || math.IsNaN(s.RSSSlopeMBPerMin) {
		t.Fatalf("soak: %+v", s)
	}
	if want := res.EventsPerS / 2; math.Abs(s.EventsPerS-want) > 1e-6 {
		t.Errorf("soak at %v events/s, want half the throughput's %v", s.EventsPerS, want)
	}
	for _, name := range []string{"cpu.pprof", "allocs.pprof"} {
		if st, err := os.Stat(filepath.Join(o.ProfileDir, name)); err != nil || st.Size() == 0 {
			t.Errorf("profile %s: %v", name, err)
		}
	}
	if res.RSSMB <= 0 || res.Errors != 0 {
		t.Errorf("rss %v errors %d", res.RSSMB, res.Errors)
	}
	if cpus := allowedCPUs(); runtime.GOOS == "linux" && len(cpus) >= 2 && (len(res.ServerCPUs) == 0 || len(res.GeneratorCPUs) == 0) {
		t.Errorf("%d CPUs but not pinned: server %v generator %v", len(cpus), res.ServerCPUs, res.GeneratorCPUs)
	}
}

// TestStartPinned: a child started on one CPU has only that CPU in its
// mask, and this process' own mask is unchanged.
func TestStartPinned(t *testing.T) {
	cpus := allowedCPUs()
	before := allowedCPUs()
	var want []int // none outside Linux: started unpinned
	if len(cpus) > 0 {
		want = cpus[len(cpus)-1:]
	}
	cmd := exec.Command("sleep", "5")
	if err := startPinned(cmd, want); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	if runtime.GOOS == "linux" && len(cpus) > 0 {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/status")
		if err != nil {
			t.Fatal(err)
		}
		var got string
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "Cpus_allowed_list:"); ok {
				got = strings.TrimSpace(v)
			}
		}
		if got != strconv.Itoa(want[0]) {
			t.Errorf("child's CPUs %q, want %d", got, want[0])
		}
	}
	// Run a few goroutines so that the thread used for the start is
	// reused; the process' mask must still be the whole set.
	for i := 0; i < 4; i++ {
		go runtime.Gosched()
	}
	if after := allowedCPUs(); !slices.Equal(before, after) {
		t.Errorf("this process' CPUs changed from %v to %v", before, after)
	}
}

func TestParseAndSplitCPUs(t *testing.T) {
	got, err := ParseCPUs("0, 2-4,7")
	if err != nil || !slices.Equal(got, []int{0, 2, 3, 4, 7}) {
		t.Errorf("ParseCPUs = %v, %v", got, err)
	}
	for _, bad := range []string{"a", "3-1", "-1", "1-", "0,,1", "2000"} {
		if _, err := ParseCPUs(bad); err == nil {
			t.Errorf("ParseCPUs(%q) accepted", bad)
		}
	}
	if got, _ := ParseCPUs("none"); got != nil {
		t.Errorf("none = %v", got)
	}
	for _, c := range []struct {
		n           int
		server, gen []int
	}{{1, nil, nil}, {2, []int{0}, []int{1}}, {3, []int{0, 1}, []int{2}}, {8, []int{0, 1}, []int{2, 3, 4, 5, 6, 7}}} {
		all := make([]int, c.n)
		for i := range all {
			all[i] = i
		}
		s, g := SplitCPUs(all)
		if !slices.Equal(s, c.server) || !slices.Equal(g, c.gen) {
			t.Errorf("SplitCPUs(%d CPUs) = %v, %v; want %v, %v", c.n, s, g, c.server, c.gen)
		}
	}
}

func TestSlope(t *testing.T) {
	xs := []float64{0, 1, 2, 3}
	if s := slope(xs, []float64{5, 7, 9, 11}); math.Abs(s-2) > 1e-9 {
		t.Errorf("slope %v, want 2", s)
	}
	if s := slope(xs, []float64{3, 3, 3, 3}); s != 0 {
		t.Errorf("flat slope %v", s)
	}
	if s := slope([]float64{1}, []float64{1}); s != 0 {
		t.Errorf("one sample: %v", s)
	}
}

// TestProcCPU: the CPU of a process that spins is counted from /proc.
func TestProcCPU(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Logf("procCPU reads /proc: 0 elsewhere")
		return
	}
	// Spin until getrusage says 200 ms more (wall time says little on a
	// loaded machine), then /proc must agree within its 10 ms ticks.
	for start := cpuTime(); cpuTime()-start < 200*time.Millisecond; {
	}
	self, proc := cpuTime(), procCPU(os.Getpid())
	if d := self - proc; proc < 200*time.Millisecond || d > 50*time.Millisecond || d < -50*time.Millisecond {
		t.Errorf("procCPU %v, getrusage %v", proc, self)
	}
}
