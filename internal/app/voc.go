package app

import (
	"context"

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
