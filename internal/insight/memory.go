package insight

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// DefaultMemoryCap is a query's memory cap outside the database engine
// when the server sets none.
const DefaultMemoryCap = 2 << 30

type memoryCapKey struct{}

// WithMemoryCap returns ctx carrying a query's memory cap in bytes: what
// the query's own working set may take outside the database engine (a
// funnel's rows, person bitsets) and, on ClickHouse, its
// max_memory_usage. 0 leaves ctx as it is.
func WithMemoryCap(ctx context.Context, bytes int64) context.Context {
	if bytes <= 0 {
		return ctx
	}
	return context.WithValue(ctx, memoryCapKey{}, bytes)
}

// MemoryCap is ctx's memory cap, DefaultMemoryCap when it has none.
func MemoryCap(ctx context.Context) int64 {
	if n, ok := SetMemoryCap(ctx); ok {
		return n
	}
	return DefaultMemoryCap
}

// SetMemoryCap is ctx's memory cap when one was set: engines that have
// limits of their own (ClickHouse's profiles) keep them otherwise.
func SetMemoryCap(ctx context.Context) (int64, bool) {
	n, ok := ctx.Value(memoryCapKey{}).(int64)
	return n, ok
}

// MemoryError is a query that needed more memory than it may take; the
// API answers 422.
type MemoryError struct {
	Cap   int64  // bytes; 0 when the engine's own limit was hit
	Limit string // the setting that bounds it
}

func (e *MemoryError) Error() string {
	if e.Cap > 0 {
		return fmt.Sprintf("query needs more than its memory cap of %s (%s): narrow its range or add filters", FormatBytes(e.Cap), e.Limit)
	}
	return fmt.Sprintf("query needs more memory than the event store may use (%s): narrow its range or add filters", e.Limit)
}

// IsMemoryError reports whether err is a *MemoryError.
func IsMemoryError(err error) bool {
	var m *MemoryError
	return errors.As(err, &m)
}

// ParseBytes reads a size: a number of bytes with an optional unit (B, KB,
// MB, GB, TB: powers of 1000; KiB, MiB, GiB, TiB: powers of 1024).
func ParseBytes(s string) (int64, error) {
	v := strings.TrimSpace(s)
	i := strings.IndexFunc(v, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	num, unit := v, ""
	if i >= 0 {
		num, unit = v[:i], strings.TrimSpace(v[i:])
	}
	mult, ok := byteUnits[strings.ToLower(unit)]
	if !ok {
		return 0, fmt.Errorf("cannot parse size %q: unknown unit %q (want B, KB, MB, GB, TB, KiB, MiB, GiB or TiB)", s, unit)
	}
	x, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, fmt.Errorf("cannot parse size %q: want a number such as 2GB", s)
	}
	if x*mult >= 1<<62 {
		return 0, fmt.Errorf("cannot parse size %q: too large", s)
	}
	return int64(x * mult), nil
}

var byteUnits = map[string]float64{
	"": 1, "b": 1,
	"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
}

// FormatBytes writes n in the largest binary unit that keeps it ≥ 1.
func FormatBytes(n int64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	x, u := float64(n), 0
	for x >= 1024 && u < len(units)-1 {
		x /= 1024
		u++
	}
	return fmt.Sprintf("%.4g %s", x, units[u])
}
