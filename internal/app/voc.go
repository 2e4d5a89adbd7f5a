package app

import (
	"context"
	"errors"
	"log/slog"
	"sync"

	"github.com/journey-dev/journey/internal/event"
	"github.com/journey-dev/journey/internal/eventlog"
	"github.com/journey-dev/journey/internal/voc"
)

// The VoC's messages (issue 16 item 6): every replica sweeps for the
// close-the-loop notices a crash left unscheduled and for SLA breaches to
// alert; the sends go through the durable schedule its sender delivers
// (their keys make two replicas' sweeps harmless).
func (a *App) startVoC(ctx context.Context) {
	base, _ := a.publicURL() // checked by openEngine
	m := &voc.Messenger{Meta: a.Meta, Events: a.Events, PublicURL: base}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		m.Run(ctx)
	}()
}

// detractorConsumers holds each App's detractors consumer (issue 16 item
// 4): it reads the event log beside the campaign engine, in the process
// that loads, with its own checkpoint.
var detractorConsumers sync.Map // *App → *voc.Detractors

// openDetractors makes the consumer of detractors' answers and makes the
// loader keep what neither it nor the campaign engine has read.
func (a *App) openDetractors() {
	d := voc.NewDetractors(voc.DetractorConfig{Meta: a.Meta, Events: a.Events, WaitApplied: a.Loader.WaitFor,
		Start: a.Events.Checkpoint, Emit: a.emit})
	detractorConsumers.Store(a, d)
	engine := a.engine
	a.Loader.SetTrimFloor(func() uint64 { return min(engine.Position(), d.Position()) })
}

// emit appends to the event log as capture does (the sink is made with
// the routes, after the consumers).
func (a *App) emit(ctx context.Context, b event.Batch) error {
	if a.sink == nil {
		return errors.New("the event sink is not ready yet")
	}
	return a.sink.Append(ctx, b)
}

// runDetractors runs the consumer until ctx is done or stop is called; on
// JetStream it reads through a connection of its own, opened per run.
func (a *App) runDetractors(ctx context.Context) (stop func()) {
	v, ok := detractorConsumers.Load(a)
	if !ok {
		return func() {}
	}
	d := v.(*voc.Detractors)
	log := a.Log
	if _, js := a.Log.(*eventlog.JetStream); js {
		var err error
		if log, err = openLog(a.Config); err != nil {
			slog.Error("voc detractors: cannot open a reader of the event log; detractors' answers wait", "err", err)
			return func() {}
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		d.RunOn(ctx, log)
	}()
	return func() {
		cancel()
		<-done
		if log != a.Log {
			log.Close()
		}
	}
}
