// Package funnelwalk computes funnels (SPEC §4) from rows an event store
// hands over: one row per source event, with its actor, its time in µs
// since the funnel's from, a bitmask of the steps and exclusions it
// matches, and for breakdowns its value. The stores only build the SQL
// that computes those rows (the Plan says where each bit goes); this
// package partitions them by actor, sorts each actor's events by time and
// walks them with the windowFunnel state machine, so both stores answer
// with the same semantics.
package funnelwalk

import (
	"math/bits"

	"github.com/journey-dev/journey/internal/insight"
)

// Plan is a funnel compiled for the walk: mask bits and start steps.
//
// A row's mask m has bit i when the row is step i+1 with its filters,
// bit ExclShift+x when it is exclusion x with its filters and, for strict
// funnels, StrictBit when its event is some step's event name (so that
// it breaks a strict chain even when no step's filters match).
type Plan struct {
	Q         *insight.Funnel
	Steps     int
	StepMask  uint64 // bits 0..Steps-1
	ExclShift int    // exclusion x is bit ExclShift+x
	StrictBit uint64 // strict funnels: the row's event is a step's event
	StartMask uint64 // the steps an attempt can start with
	FromUs    int64
	WindowUs  int64
	Breakdown bool
	Unordered bool
	Strict    bool
	// MaskBits is how many bits a mask uses; Packed says t<<MaskBits | m
	// fits one int64 for the whole range (a store may feed rows packed).
	Packed   bool
	MaskBits int
}

// NewPlan compiles a validated funnel.
func NewPlan(q *insight.Funnel) *Plan {
	p := &Plan{
		Q:         q,
		Steps:     len(q.Steps),
		ExclShift: len(q.Steps),
		FromUs:    q.From.UnixMicro(),
		WindowUs:  q.WindowDur.Microseconds(),
		Breakdown: q.Breakdown != nil,
		Unordered: q.Order == "unordered",
		Strict:    q.Order == "strict",
	}
	p.StepMask = 1<<p.Steps - 1
	if p.Strict {
		p.StrictBit = 1 << (p.Steps + len(q.Exclusions))
	}
	p.StartMask = 1
	if p.Unordered {
		p.StartMask = p.StepMask
	}
	p.MaskBits = p.Steps + len(q.Exclusions)
	if p.Strict {
		p.MaskBits++
	}
	p.Packed = p.RangeBits()+p.MaskBits <= 62
	return p
}

// RangeBits is how many bits a row's t (µs since from) takes.
func (p *Plan) RangeBits() int {
	return bits.Len64(uint64(max(p.Q.To.UnixMicro()-p.FromUs, 1)))
}

// Events returns the event names the funnel reads, each once: the steps'
// first (stepEvents of them, the names that set StrictBit), then the
// exclusions' other names.
func (p *Plan) Events() (events []string, stepEvents int) {
	names := map[string]bool{}
	for _, s := range p.Q.Steps {
		if !names[s.Event] {
			names[s.Event] = true
			events = append(events, s.Event)
		}
	}
	stepEvents = len(events)
	for _, x := range p.Q.Exclusions {
		if !names[x.Event] {
			names[x.Event] = true
			events = append(events, x.Event)
		}
	}
	return events, stepEvents
}

// MaskCanBeZero reports whether a source row can match no step and no
// exclusion: only when every step and exclusion of its event name has
// filters (and, for strict funnels, the name is no step's). Stores skip
// such rows, and need not filter when none can occur.
func (p *Plan) MaskCanBeZero() bool {
	unfiltered := map[string]bool{}
	names := map[string]bool{}
	for _, s := range p.Q.Steps {
		names[s.Event] = true
		if len(s.Filters) == 0 || p.Strict {
			unfiltered[s.Event] = true
		}
	}
	for _, x := range p.Q.Exclusions {
		names[x.Event] = true
		if len(x.Filters) == 0 {
			unfiltered[x.Event] = true
		}
	}
	return len(unfiltered) < len(names)
}
