package app

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
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
		WaitApplied: a.Loader.WaitFor, Applied: a.Loader.Position, Start: a.Events.Checkpoint, PublicURL: base})
	a.openDetractors() // voc.go: detractors' answers become feedback; sets the loader's trim floor
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
	stopVoC := a.runDetractors(ctx) // voc.go
	return func() {
		cancel()
		<-done
		stopVoC()
	}
}

// startSender runs the sender worker until ctx is done (Close waits for
// the sends in flight).
func (a *App) startSender(ctx context.Context) {
	host, _ := os.Hostname()
	owner := fmt.Sprintf("%s-%d-%s", host, os.Getpid(), meta.NewCSRFToken()[:8])
	s := campaign.NewSender(campaign.SenderConfig{
		Meta: a.Meta, Events: a.Events, Campaigns: a.campaigns, Emit: a.sink.Append, Owner: owner,
		HTTP: a.client, Channel: a.channelSender(a.client), Lease: a.Config.CampaignLease,
	})
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		s.Run(ctx)
	}()
	a.startCohorts(ctx, owner)
	a.startVoC(ctx) // voc.go: VoC replies, close the loop, SLA alerts
}

// startCohorts runs broadcasts and cohort triggers on every replica: each
// campaign's pass is claimed with a lease, so one replica works on it at a
// time, and its keys make a page scheduled twice harmless.
func (a *App) startCohorts(ctx context.Context, owner string) {
	base, _ := a.publicURL() // checked by openEngine
	cs := campaign.NewCohortScheduler(campaign.CohortConfig{Meta: a.Meta, Events: a.Events, Campaigns: a.campaigns,
		PublicURL: base, Owner: owner, Interval: a.Config.CohortInterval})
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		cs.Run(ctx)
	}()
}

// ParseSMTP reads --smtp: smtp://[user[:password]@]host[:port] with
// optional parameters tls (starttls, the default; opportunistic; tls;
// none: plain text, for local relays and tests), auth (a SASL
// mechanism), domain (of Message-IDs), helo and unsubscribe (the address
// of List-Unsubscribe's mailto: entry); smtps:// is tls=tls. The sender
// of each campaign is its channel's from.
func ParseSMTP(raw string) (channel.SMTPConfig, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Hostname() == "" {
		return channel.SMTPConfig{}, fmt.Errorf("invalid --smtp %q: want smtp://[user[:password]@]host[:port][?tls=starttls|opportunistic|tls|none]", raw)
	}
	cfg := channel.SMTPConfig{Host: u.Hostname(), TLS: "starttls"}
	if u.Scheme == "smtps" {
		cfg.TLS = "tls"
	}
	if p := u.Port(); p != "" {
		if cfg.Port, err = strconv.Atoi(p); err != nil || cfg.Port < 1 || cfg.Port > 65535 {
			return channel.SMTPConfig{}, fmt.Errorf("invalid --smtp port %q", p)
		}
	}
	if u.User != nil {
		cfg.Username = u.User.Username()
		cfg.Password, _ = u.User.Password()
	}
	q := u.Query()
	if v := q.Get("tls"); v != "" {
		cfg.TLS = v
	}
	cfg.AuthMechanism, cfg.Domain, cfg.HELO, cfg.UnsubscribeMailto = q.Get("auth"), q.Get("domain"), q.Get("helo"), q.Get("unsubscribe")
	// The configuration is checked with a placeholder sender.
	probe := cfg
	probe.From = "journey@example.com"
	if _, err := channel.NewEmail(probe); err != nil {
		return channel.SMTPConfig{}, fmt.Errorf("invalid --smtp: %w", err)
	}
	return cfg, nil
}

// openChannels checks the email and Web Push settings and makes the
// HTTP client of webhooks and pushes.
func (a *App) openChannels() error {
	a.client = channel.NewHTTPClient(channel.ClientOptions{AllowPrivate: a.Config.WebhookAllowPrivate})
	if a.Config.SMTP != "" {
		cfg, err := ParseSMTP(a.Config.SMTP)
		if err != nil {
			return err
		}
		a.smtp = &cfg
	}
	c := a.Config
	switch n := btoi(c.VAPIDPublicKey != "") + btoi(c.VAPIDPrivateKey != "") + btoi(c.VAPIDSubject != ""); n {
	case 0:
	case 3:
		if _, err := channel.LoadVAPIDKeys(c.VAPIDPublicKey, c.VAPIDPrivateKey); err != nil {
			return fmt.Errorf("invalid --vapid-public-key/--vapid-private-key: %w", err)
		}
		if _, err := channel.NewWebPush(channel.WebPushConfig{Keys: channel.VAPIDKeys{Public: c.VAPIDPublicKey, Private: c.VAPIDPrivateKey},
			Subject: c.VAPIDSubject, Client: channel.NewHTTPClient(channel.ClientOptions{})}); err != nil {
			return fmt.Errorf("invalid --vapid-subject: %w", err)
		}
	default:
		return errors.New("web push needs --vapid-public-key, --vapid-private-key and --vapid-subject together")
	}
	return nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// vapidPublic is the VAPID public key browsers subscribe with, "" when
// Web Push is off.
func (a *App) vapidPublic() string {
	if a.Config.VAPIDPrivateKey == "" || a.Config.VAPIDSubject == "" {
		return ""
	}
	return a.Config.VAPIDPublicKey
}

// channelSender makes the senders of email and Web Push campaigns.
func (a *App) channelSender(client *channel.HTTPClient) func(l *campaign.Live) (channel.Sender, error) {
	return func(l *campaign.Live) (channel.Sender, error) {
		ch := l.Def.Channel
		switch ch.Type {
		case campaign.ChannelEmail:
			if a.smtp == nil {
				return nil, errors.New("email campaigns need the server's --smtp relay")
			}
			cfg := *a.smtp
			cfg.From, cfg.ReplyTo = ch.From, ch.ReplyTo
			return channel.NewEmail(cfg)
		case campaign.ChannelWebPush:
			if a.vapidPublic() == "" {
				return nil, errors.New("web push campaigns need the server's --vapid-* keys")
			}
			return channel.NewWebPush(channel.WebPushConfig{
				Keys:    channel.VAPIDKeys{Public: a.Config.VAPIDPublicKey, Private: a.Config.VAPIDPrivateKey},
				Subject: a.Config.VAPIDSubject, TTL: ch.TTLDur, Urgency: ch.Urgency, Client: client,
			})
		}
		return nil, fmt.Errorf("no sender for %s campaigns", ch.Type)
	}
}

// testSender makes a campaign's sender for a test send from the API.
func (a *App) testSender(l *campaign.Live) (channel.Sender, error) {
	if l.Def.Channel.Type == campaign.ChannelWebhook {
		return channel.NewWebhook(l.Def.Channel.URL, l.Def.Channel.Secret, a.client)
	}
	return a.channelSender(a.client)(l)
}
