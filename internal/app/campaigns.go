package app

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/journey-dev/journey/internal/campaign"
	"github.com/journey-dev/journey/internal/channel"
	"github.com/journey-dev/journey/internal/eventlog"
	"github.com/journey-dev/journey/internal/meta"
)

// Campaigns (issue 15): the trigger engine reads the event log beside the
// loader, in the process that loads (the loader lock's holder on the
// scale-out stack), and the loader trims the log only up to the engine's
// stored checkpoint; the sender runs on every replica, sharing the durable
// schedule.

// publicURL is the base of click links.
func (a *App) publicURL() (string, error) {
	if a.Config.PublicURL != "" {
		u, err := url.Parse(a.Config.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return "", fmt.Errorf("invalid --public-url %q: want http(s)://host[:port]", a.Config.PublicURL)
		}
		return strings.TrimRight(a.Config.PublicURL, "/"), nil
	}
	if a.Config.Addr == "" {
		return "", nil
	}
	return "http://" + a.Config.Addr, nil
}

// openEngine makes the trigger engine and makes the loader keep what it
// has not read yet.
func (a *App) openEngine(cfg Config) error {
	base, err := a.publicURL()
	if err != nil {
		return err
	}
	log := a.Log
	if _, ok := a.Log.(*eventlog.JetStream); ok {
		// A JetStream log reads through one consumer at one position:
		// the engine reads at its own through a connection of its own.
		if log, err = openLog(cfg); err != nil {
			return fmt.Errorf("cannot open the campaign engine's reader of the event log: %w", err)
		}
		a.engineLog = log
	}
	a.engine = campaign.NewEngine(campaign.EngineConfig{Log: log, Meta: a.Meta, Events: a.Events, Campaigns: a.campaigns,
		WaitApplied: a.Loader.WaitFor, Start: a.Events.Checkpoint, PublicURL: base})
	a.Loader.SetTrimFloor(a.engine.Position)
	return nil
}

// runEngine runs the trigger engine until ctx is done or stop is called;
// stop waits for it.
func (a *App) runEngine(ctx context.Context) (stop func()) {
	if a.engine == nil {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.engine.Run(ctx)
	}()
	return func() {
		cancel()
		<-done
	}
}

// startSender runs the sender worker until ctx is done (Close waits for
// the sends in flight).
func (a *App) startSender(ctx context.Context) {
	host, _ := os.Hostname()
	owner := fmt.Sprintf("%s-%d-%s", host, os.Getpid(), meta.NewCSRFToken()[:8])
	s := campaign.NewSender(campaign.SenderConfig{
		Meta: a.Meta, Events: a.Events, Campaigns: a.campaigns, Emit: a.sink.Append, Owner: owner,
		HTTP: channel.NewHTTPClient(channel.ClientOptions{AllowPrivate: a.Config.WebhookAllowPrivate}),
	})
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		s.Run(ctx)
	}()
}
