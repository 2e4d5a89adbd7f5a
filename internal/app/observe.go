package app

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// Defaults of the readiness bounds Config leaves empty: far enough behind
// that queries answered here would mislead, and a restart with a long
// backlog shows as not ready until it has caught up.
const (
	DefaultReadyMaxLag      = 5 * time.Minute
	DefaultReadyMaxLagBytes = 256 << 20
)

// minMetricsToken: a scraper's token is a secret like the admin key.
const minMetricsToken = 16

// validateObserve checks the observability settings.
func (c *Config) validateObserve() error {
	if c.MetricsToken != "" && len(c.MetricsToken) < minMetricsToken {
		return fmt.Errorf("invalid --metrics-token: use at least %d characters", minMetricsToken)
	}
	if c.ReadyMaxLag < 0 {
		return errors.New("invalid --ready-max-lag: must be positive")
	}
	if c.ReadyMaxLagBytes < 0 {
		return errors.New("invalid --ready-max-lag-bytes: must be positive")
	}
	return nil
}

// ParseReadyMaxLagBytes reads --ready-max-lag-bytes, e.g. 256MiB: positive.
func ParseReadyMaxLagBytes(s string) (int64, error) {
	return sizeBound{1, "must be positive", "256MiB"}.parse(s)
}

// lagWatchInterval is how often every replica samples the log's end and,
// without the loader, reads the loaded checkpoint (loader.Watch).
const lagWatchInterval = time.Second

// watchLag keeps the loader's lag current on this replica until ctx ends.
func (a *App) watchLag(ctx context.Context) {
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		a.Loader.Watch(ctx, lagWatchInterval)
	}()
}

// ready is false while the loader is further behind the log than the
// configured bounds (after a restart with a long backlog, say), so a load
// balancer sends queries elsewhere; the answer carries the lag.
func (a *App) ready() (bool, string) {
	maxLag, maxBytes := a.Config.ReadyMaxLag, a.Config.ReadyMaxLagBytes
	if maxLag == 0 {
		maxLag = DefaultReadyMaxLag
	}
	if maxBytes == 0 {
		maxBytes = DefaultReadyMaxLagBytes
	}
	g := a.Loader.Lags()
	if g.Seconds > maxLag.Seconds() {
		return false, fmt.Sprintf("loader is %.0f s behind the event log (over --ready-max-lag %s)", g.Seconds, maxLag)
	}
	if g.Bytes > uint64(maxBytes) {
		return false, fmt.Sprintf("loader is %d MiB behind the event log (over --ready-max-lag-bytes %d MiB)", g.Bytes>>20, maxBytes>>20)
	}
	return true, ""
}

// loaderLag is what /readyz tells of the lag.
func (a *App) loaderLag() any { return a.Loader.Lags() }

// dataDir is the directory the disk gauges report (the last opened app's).
var dataDir atomic.Pointer[string]

var (
	_ = metrics.NewGauge("journey_disk_free_bytes", func() float64 { free, _ := diskSpace(); return free })
	_ = metrics.NewGauge("journey_disk_size_bytes", func() float64 { _, size := diskSpace(); return size })
)

// diskSpace is the space left to an unprivileged writer and the size of
// the file system holding the data directory (0, 0 where unknown): the
// embedded log and stores, and the sorting spill of the stores, live there.
func diskSpace() (free, size float64) {
	if d := dataDir.Load(); d != nil {
		return statDisk(*d)
	}
	return 0, 0
}
