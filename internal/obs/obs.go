// Package obs adds what github.com/VictoriaMetrics/metrics (the /metrics
// library) lacks for Prometheus: histograms with cumulative `le` buckets,
// which Prometheus' histogram_quantile reads (VictoriaMetrics' own
// histograms write vmrange buckets that only VictoriaMetrics reads). They
// are written by the same metrics.WritePrometheus call that writes every
// other series, so /metrics stays one handler.
package obs

import (
	"fmt"
	"io"
	"math"
	"path"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// LatencyBuckets suit request and write latencies: 1 ms to 60 s.
var LatencyBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}

// Histogram is one series of a family: cumulative counts per upper bound.
type Histogram struct {
	labels  string // `route="/batch"`, "" for none
	bounds  []float64
	counts  []atomic.Uint64 // one per bound, plus +Inf; not cumulative
	sumBits atomic.Uint64   // float64 bits of the sum
}

// Observe records one value.
func (h *Histogram) Observe(v float64) {
	i := sort.SearchFloat64s(h.bounds, v) // first bound >= v: le is inclusive
	h.counts[i].Add(1)
	for {
		old := h.sumBits.Load()
		if h.sumBits.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+v)) {
			return
		}
	}
}

// Since records the seconds elapsed since start.
func (h *Histogram) Since(start time.Time) { h.Observe(time.Since(start).Seconds()) }

// Family is a histogram name with its buckets and a series per label set.
type Family struct {
	name   string
	bounds []float64
	series sync.Map // label set → *Histogram; read without a lock on hot paths
}

var (
	regMu    sync.Mutex
	families []*Family
	byName   = map[string]*Family{}
)

func init() { metrics.RegisterMetricsWriter(writeAll) }

// NewFamily registers a histogram family; a second call with the same name
// returns the first (tests open several servers in one process).
func NewFamily(name string, bounds []float64) *Family {
	regMu.Lock()
	defer regMu.Unlock()
	if f, ok := byName[name]; ok {
		return f
	}
	if !sort.Float64sAreSorted(bounds) || len(bounds) == 0 {
		panic(fmt.Sprintf("histogram %q: buckets must be sorted and non-empty", name))
	}
	f := &Family{name: name, bounds: bounds}
	families = append(families, f)
	byName[name] = f
	return f
}

// With returns the series of the label set, written `k="v",k2="v2"`
// (values quoted with Label); callers keep label values to allow-lists so
// the series stay few.
func (f *Family) With(labels string) *Histogram {
	if h, ok := f.series.Load(labels); ok {
		return h.(*Histogram)
	}
	h, _ := f.series.LoadOrStore(labels, &Histogram{labels: labels, bounds: f.bounds, counts: make([]atomic.Uint64, len(f.bounds)+1)})
	return h.(*Histogram)
}

// Label writes one label pair, its value quoted as the exposition format
// wants.
func Label(name, value string) string { return name + "=" + strconv.Quote(value) }

func writeAll(w io.Writer) {
	regMu.Lock()
	fs := append([]*Family(nil), families...)
	regMu.Unlock()
	for _, f := range fs {
		f.write(w)
	}
}

func (f *Family) write(w io.Writer) {
	var hs []*Histogram
	f.series.Range(func(_, v any) bool { hs = append(hs, v.(*Histogram)); return true })
	if len(hs) == 0 {
		return
	}
	sort.Slice(hs, func(i, j int) bool { return hs[i].labels < hs[j].labels })
	var b strings.Builder
	fmt.Fprintf(&b, "# TYPE %s histogram\n", f.name)
	for _, h := range hs {
		h.write(&b, f.name)
	}
	io.WriteString(w, b.String())
}

func (h *Histogram) write(b *strings.Builder, name string) {
	sep := ""
	if h.labels != "" {
		sep = ","
	}
	var cum uint64
	for i, le := range h.bounds {
		cum += h.counts[i].Load()
		fmt.Fprintf(b, "%s_bucket{%s%sle=\"%s\"} %d\n", name, h.labels, sep, strconv.FormatFloat(le, 'g', -1, 64), cum)
	}
	cum += h.counts[len(h.bounds)].Load()
	fmt.Fprintf(b, "%s_bucket{%s%sle=\"+Inf\"} %d\n", name, h.labels, sep, cum)
	braces := ""
	if h.labels != "" {
		braces = "{" + h.labels + "}"
	}
	fmt.Fprintf(b, "%s_sum%s %s\n", name, braces, strconv.FormatFloat(math.Float64frombits(h.sumBits.Load()), 'g', -1, 64))
	fmt.Fprintf(b, "%s_count%s %d\n", name, braces, cum)
}

// PackageName names an implementation by its package (duckdb,
// clickhouse): the store label of the write and query latencies.
func PackageName(v any) string {
	t := reflect.TypeOf(v)
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.PkgPath() == "" {
		return "other"
	}
	return path.Base(t.PkgPath())
}
