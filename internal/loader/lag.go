package loader

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/journey-dev/journey/internal/obs"
)

// The lag gauges report the loader of this process (one per process
// outside tests; the last one made). Every replica reports them: one that
// does not run the loader follows the loaded position from the event
// store (Watch), so the gauges and /readyz tell the same truth on each.
var (
	_ = metrics.NewGauge("journey_loader_lag_bytes", func() float64 { return lagOf(func(g Lag) float64 { return float64(g.Bytes) }) })
	_ = metrics.NewGauge("journey_loader_lag_events", func() float64 {
		return lagOf(func(g Lag) float64 {
			if g.Events == nil {
				return math.NaN() // a replica that has loaded nothing cannot count what it has not read
			}
			return float64(*g.Events)
		})
	})
	_ = metrics.NewGauge("journey_loader_lag_seconds", func() float64 { return lagOf(func(g Lag) float64 { return g.Seconds }) })
	_ = metrics.NewGauge("journey_loader_active", func() float64 {
		return lagOf(func(g Lag) float64 {
			if g.Loading {
				return 1
			}
			return 0
		})
	})
	// storeWrites times the event store's Apply (one per loaded batch
	// group), by store: duckdb or clickhouse.
	storeWrites = obs.NewFamily("journey_store_write_seconds", obs.LatencyBuckets)
)

func lagOf(f func(Lag) float64) float64 {
	if l := current.Load(); l != nil {
		return f(l.Lags())
	}
	return 0
}

// Lag is how far the event store is behind the event log.
type Lag struct {
	// Events is estimated from the events per log position of what this
	// process loaded; nil where it has loaded nothing yet (a replica that
	// is not the loader) and something waits.
	Events *uint64 `json:"events"`
	// Bytes: exact for the file log (its positions are bytes); for
	// JetStream, messages times the stream's mean message size.
	Bytes uint64 `json:"bytes"`
	// Seconds is how long ago the log first reached past the loaded
	// position, as seen by this process's samples of the log's end (one a
	// second, so to within about a second; a backlog older than this
	// process reads as this process's age).
	Seconds float64 `json:"seconds"`
	// Loading says whether this process runs the loader.
	Loading bool `json:"loading"`
}

// positionBytes is implemented by logs whose positions are not bytes
// (JetStream: message sequence numbers).
type positionBytes interface{ PositionBytes() float64 }

// lagState is the loader's bookkeeping for Lags.
type lagState struct {
	running atomic.Bool
	// loadedEvents and loadedPositions add up what this process loaded:
	// their ratio turns a lag in positions into one in events.
	loadedEvents, loadedPositions atomic.Uint64

	smu     sync.Mutex
	samples []endSample // ascending by end; only ends past the loaded position
}

type endSample struct {
	at  time.Time
	end uint64
}

// maxSamples bounds the samples (an hour at one a second); a lag older
// than that reads as the oldest sample's age.
const maxSamples = 3600

// Lags reports the loader's lag now.
func (l *Loader) Lags() Lag {
	end, pos := l.log.End(), l.pos.Load()
	g := Lag{Loading: l.running.Load()}
	if end <= pos {
		zero := uint64(0)
		g.Events = &zero
		return g
	}
	behind := end - pos
	g.Bytes = behind
	if pb, ok := l.log.(positionBytes); ok {
		g.Bytes = uint64(math.Round(float64(behind) * pb.PositionBytes()))
	}
	if ev, ps := l.loadedEvents.Load(), l.loadedPositions.Load(); ps > 0 {
		n := uint64(math.Round(float64(behind) * float64(ev) / float64(ps)))
		g.Events = &n
	}
	l.smu.Lock()
	for _, s := range l.samples {
		if s.end > pos {
			g.Seconds = time.Since(s.at).Seconds()
			break
		}
	}
	l.smu.Unlock()
	return g
}

// sample records the log's end at now and forgets the samples the loader
// has passed.
func (l *Loader) sample(now time.Time) {
	end, pos := l.log.End(), l.pos.Load()
	l.smu.Lock()
	defer l.smu.Unlock()
	if n := len(l.samples); n == 0 || l.samples[n-1].end < end {
		l.samples = append(l.samples, endSample{at: now, end: end})
	}
	i := 0
	for i < len(l.samples) && l.samples[i].end <= pos {
		i++
	}
	if drop := len(l.samples) - maxSamples; drop > i {
		i = drop
	}
	if i > 0 {
		l.samples = append(l.samples[:0], l.samples[i:]...)
	}
}

// Watch keeps the lag current until ctx is done: it samples the log's end
// every interval and, while this process does not run the loader, takes
// the loaded position from the event store's checkpoint.
func (l *Loader) Watch(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if !l.running.Load() {
			if p, err := l.store.Checkpoint(ctx); err == nil {
				l.advance(p)
			}
		}
		l.sample(time.Now())
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// advance moves the position forward only: a checkpoint read before this
// process became the loader must not undo what it loaded since.
func (l *Loader) advance(p uint64) {
	for {
		cur := l.pos.Load()
		if p <= cur {
			return
		}
		if l.pos.CompareAndSwap(cur, p) {
			l.notify()
			return
		}
	}
}
