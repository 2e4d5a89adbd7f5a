// Package demo generates realistic, seeded demo data: an online shop and a
// B2B SaaS. The events go through the same event log and loader as
// captured ones, so the demo exercises the real pipeline.
package demo

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/google/uuid"

	"github.com/journey-dev/journey/internal/event"
)

// Sink receives generated batches (the event log's Append).
type Sink func(ctx context.Context, b event.Batch) error

// Options sizes the demo.
type Options struct {
	Seed   uint64
	Events int       // total events to generate across both projects (about)
	End    time.Time // the data covers the Days before End
	Days   int
	// Lab, stored (Lab.Store), makes the shop's visitors call its flags
	// and act on their variants; nil: no flags.
	Lab *Lab
}

const batchSize = 2000

type gen struct {
	rng     *rand.Rand
	project int64
	sink    Sink
	buf     []event.Event
	sent    int
	uuidRng *rand.Rand
	onBatch func(n int)
	lab     *Lab
}

// uuid is a random (version 4) UUID from the generator's stream.
func (g *gen) uuid() string {
	var u uuid.UUID
	for i := range u {
		u[i] = byte(g.uuidRng.Uint32())
	}
	u[6] = (u[6] & 0x0f) | 0x40 // version 4
	u[8] = (u[8] & 0x3f) | 0x80 // RFC 4122 variant
	return u.String()
}

func (g *gen) emit(ctx context.Context, e event.Event) error {
	e.UUID = g.uuid()
	e.ReceivedAt = e.Timestamp
	g.buf = append(g.buf, e)
	if len(g.buf) >= batchSize {
		return g.flush(ctx)
	}
	return nil
}

func (g *gen) flush(ctx context.Context) error {
	if len(g.buf) == 0 {
		return nil
	}
	if err := g.sink(ctx, event.Batch{ProjectID: g.project, Events: g.buf}); err != nil {
		return fmt.Errorf("cannot append demo events: %w", err)
	}
	g.sent += len(g.buf)
	if g.onBatch != nil {
		g.onBatch(len(g.buf))
	}
	g.buf = make([]event.Event, 0, batchSize)
	return nil
}

func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

// weighted picks an index with the given weights.
func weighted(r *rand.Rand, w []float64) int {
	total := 0.0
	for _, x := range w {
		total += x
	}
	v := r.Float64() * total
	for i, x := range w {
		if v < x {
			return i
		}
		v -= x
	}
	return len(w) - 1
}

// hourOfDay draws an hour with a daytime peak (most activity 9–22 h).
func hourOfDay(r *rand.Rand) int {
	w := []float64{1, .5, .3, .2, .2, .4, 1, 2, 3, 4, 4.5, 5, 5.5, 5, 4.5, 4.5, 5, 5.5, 6.5, 7.5, 8, 7, 4.5, 2.5}
	return weighted(r, w)
}

func (o Options) start() time.Time {
	end := o.End.UTC().Truncate(24 * time.Hour)
	return end.AddDate(0, 0, -o.Days)
}

// instant returns a time on day d at a typical hour.
func instant(r *rand.Rand, start time.Time, day int) time.Time {
	return start.AddDate(0, 0, day).Add(time.Duration(hourOfDay(r))*time.Hour + time.Duration(r.IntN(3600))*time.Second)
}

// lognormal draws a positive value with the given median and spread.
func lognormal(r *rand.Rand, median, sigma float64) float64 {
	return median * math.Exp(sigma*r.NormFloat64())
}
