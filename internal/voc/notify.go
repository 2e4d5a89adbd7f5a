package voc

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/journey-dev/journey/internal/campaign"
	"github.com/journey-dev/journey/internal/channel"
	"github.com/journey-dev/journey/internal/insight"
	"github.com/journey-dev/journey/internal/meta"
)

// Messages of the VoC inbox through the channels of issue 15 (item 6):
// replies to the customer, close-the-loop notices when a theme is done,
// and SLA breach alerts to the team. Each goes into the durable send
// schedule (meta.SendStore) under an idempotency key of what it is about
// — the reply's id, the (theme, person) pair, the (item, clock) pair —
// so scheduling it again (a retry, a sweep after a crash, two replicas)
// inserts nothing, and the sender delivers it once with the key as its
// webhook-id or Message-ID, honouring unsubscribes and emitting the
// $message_* events, as for any campaign.
//
// The schedule needs a campaign per send: each project that configures
// the VoC channels (SettingNotify) gets two system campaigns, one to its
// customers (replies, close the loop) and one to its team (alerts). They
// are broadcasts whose time never comes (NeverAt), so the cohort
// scheduler never sends them to a cohort and the trigger engine never
// triggers them; the sender sends their sends like any other, and their
// reports count them. A campaign acts on what happens after it exists:
// replies, themes done and breaches before it are not messaged.

// SettingNotify is the project setting of the VoC channels (NotifySetting).
const SettingNotify = "voc.notify"

// NeverAt is the broadcast time of the system campaigns.
var NeverAt = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)

// Message kinds: the variant of each send, so a webhook receiver tells
// them apart by its "variant".
const (
	VariantReply = "reply"
	VariantLoop  = "loop"
	VariantFirst = "sla_first_response"
	VariantSolve = "sla_resolve"
)

// Trigger events of the sends' payloads (their $message_* events carry
// the campaign, variant and key).
const (
	TriggerReply = "$feedback_reply"
	TriggerLoop  = "$theme_done"
	TriggerSLA   = "$sla_breach"
)

// MaxNotifyBody bounds a PUT of the VoC channels.
const MaxNotifyBody = 64 << 10

// NotifyBody is what PUT /feedback/notify takes: the customers' channel
// (a webhook, or email to each person's email property), the team's
// alert channel (a webhook, or email to To), the close-the-loop copy
// ({{theme}} is the theme's name) and a send rate (messages a second, 0:
// no cap) of both campaigns. A channel left out is not configured; a
// webhook without a secret keeps the stored one, or gets a new one.
type NotifyBody struct {
	Customers *ChannelBody `json:"customers"`
	Alerts    *ChannelBody `json:"alerts"`
	Loop      *LoopCopy    `json:"loop"`
	SendRate  float64      `json:"send_rate"`
}

// ChannelBody is one VoC channel.
type ChannelBody struct {
	Type    string `json:"type"` // webhook or email
	URL     string `json:"url,omitempty"`
	Secret  string `json:"secret,omitempty"`
	From    string `json:"from,omitempty"`
	ReplyTo string `json:"reply_to,omitempty"`
	To      string `json:"to,omitempty"` // alerts by email: the team's address
}

// LoopCopy is the close-the-loop message.
type LoopCopy struct {
	Subject string `json:"subject"`
	Body    string `json:"body"`
}

// DefaultLoop is the close-the-loop copy when none is set.
var DefaultLoop = LoopCopy{Subject: "Shipped: {{theme}}", Body: "You told us about \"{{theme}}\". It is done now. Thank you for the feedback!"}

// NotifySetting is the stored setting: the system campaigns (0: that
// channel is not configured), the alerts' address and the loop copy.
type NotifySetting struct {
	CustomersCampaign int64    `json:"customers_campaign"`
	AlertsCampaign    int64    `json:"alerts_campaign"`
	AlertsTo          string   `json:"alerts_to,omitempty"`
	Loop              LoopCopy `json:"loop"`
	SendRate          float64  `json:"send_rate,omitempty"`
}

// DecodeNotify decodes a NotifyBody strictly and checks it; errors are
// *insight.Error naming the field.
func DecodeNotify(body []byte) (NotifyBody, error) {
	var b NotifyBody
	if len(body) > MaxNotifyBody {
		return b, insight.Bad("body", "at most %d bytes", MaxNotifyBody)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		return b, insight.Bad("body", "cannot decode the VoC channels: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return b, insight.Bad("body", "one JSON object expected")
	}
	if b.Loop == nil {
		l := DefaultLoop
		b.Loop = &l
	}
	if strings.ContainsAny(b.Loop.Subject, "\r\n") || len(b.Loop.Subject) > campaign.MaxSubject {
		return b, insight.Bad("loop.subject", "one line of at most %d bytes", campaign.MaxSubject)
	}
	if strings.TrimSpace(b.Loop.Body) == "" || len(b.Loop.Body) > campaign.MaxBody {
		return b, insight.Bad("loop.body", "want 1..%d bytes", campaign.MaxBody)
	}
	for name, c := range map[string]*ChannelBody{"customers": b.Customers, "alerts": b.Alerts} {
		if c == nil {
			continue
		}
		if _, err := c.definition(name, b.SendRate, 1); err != nil {
			return b, err
		}
		if name == "customers" && c.To != "" {
			return b, insight.Bad("customers.to", "customers are emailed at their email property")
		}
	}
	if b.Alerts != nil && b.Alerts.Type == campaign.ChannelEmail && !strings.Contains(b.Alerts.To, "@") {
		return b, insight.Bad("alerts.to", "missing (the team's email address)")
	}
	return b, nil
}

// definition is the system campaign of a channel; its errors name the
// NotifyBody field.
func (c *ChannelBody) definition(name string, rate float64, cohort int64) (json.RawMessage, error) {
	label := map[string]string{"customers": "VoC: replies and close the loop", "alerts": "VoC: SLA alerts"}[name]
	at := NeverAt
	d := campaign.Definition{Name: label, Kind: campaign.KindBroadcast, Broadcast: &campaign.Broadcast{Cohort: cohort, At: &at},
		Channel:  campaign.Channel{Type: c.Type, URL: c.URL, Secret: c.Secret, From: c.From, ReplyTo: c.ReplyTo},
		Audience: campaign.Audience{SendRate: rate}, Status: campaign.StatusActive}
	for _, v := range []string{VariantReply, VariantLoop, VariantFirst, VariantSolve} {
		// The copy is rendered by the VoC when scheduling; the
		// variants name the kinds of message.
		d.Variants = append(d.Variants, campaign.Variant{Name: v, Subject: "Journey VoC", Body: "(rendered per message)"})
	}
	if c.Type != campaign.ChannelWebhook && c.Type != campaign.ChannelEmail {
		return nil, insight.Bad(name+".type", "want webhook or email")
	}
	raw, err := json.Marshal(d)
	if err != nil {
		return nil, err
	}
	if _, err := campaign.Parse(raw); err != nil {
		var bad *insight.Error
		if errors.As(err, &bad) {
			field := bad.Field
			if f, ok := strings.CutPrefix(field, "channel."); ok {
				field = f
			}
			if field == "audience.send_rate" {
				return nil, insight.Bad("send_rate", "%s", bad.Msg)
			}
			return nil, insight.Bad(name+"."+field, "%s", bad.Msg)
		}
		return nil, err
	}
	return raw, nil
}

// LoadNotify reads a project's VoC channels; ok is false when none are set.
func LoadNotify(ctx context.Context, m meta.Store, projectID int64) (NotifySetting, bool, error) {
	var s NotifySetting
	raw, err := m.Setting(ctx, projectID, SettingNotify)
	if errors.Is(err, meta.ErrNotFound) {
		return s, false, nil
	}
	if err != nil {
		return s, false, fmt.Errorf("cannot read the VoC channels of project %d: %w", projectID, err)
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return s, false, fmt.Errorf("cannot decode the VoC channels of project %d: %w", projectID, err)
	}
	return s, true, nil
}

// systemCohortName names the cohort the system campaigns point at (a
// broadcast needs one; they never send to it).
const systemCohortName = "VoC messages (system: never broadcast to)"

// Configure stores the project's VoC channels: it creates or replaces
// the system campaigns (active) and stops the one of a channel left out.
// It returns the setting and the webhooks' secrets that were generated
// (shown once, by channel name).
func Configure(ctx context.Context, m meta.Store, projectID, userID int64, b NotifyBody) (NotifySetting, map[string]string, error) {
	old, _, err := LoadNotify(ctx, m, projectID)
	if err != nil {
		return old, nil, err
	}
	cohort, err := systemCohort(ctx, m, projectID)
	if err != nil {
		return old, nil, err
	}
	s := NotifySetting{Loop: *b.Loop, SendRate: b.SendRate}
	secrets := map[string]string{}
	for _, ch := range []struct {
		name string
		body *ChannelBody
		id   int64
		dst  *int64
	}{{"customers", b.Customers, old.CustomersCampaign, &s.CustomersCampaign}, {"alerts", b.Alerts, old.AlertsCampaign, &s.AlertsCampaign}} {
		if ch.body == nil {
			if ch.id != 0 {
				if err := campaign.SetStatus(ctx, m, projectID, ch.id, meta.CampaignStopped, "the VoC channel was removed"); err != nil && !errors.Is(err, meta.ErrNotFound) {
					return old, nil, err
				}
			}
			continue
		}
		id, secret, err := putCampaign(ctx, m, projectID, userID, ch.id, ch.name, *ch.body, b.SendRate, cohort)
		if err != nil {
			return old, nil, err
		}
		if secret != "" {
			secrets[ch.name] = secret
		}
		*ch.dst = id
	}
	if b.Alerts != nil {
		s.AlertsTo = b.Alerts.To
	}
	raw, err := json.Marshal(s)
	if err != nil {
		return s, nil, err
	}
	if err := m.SetSetting(ctx, projectID, SettingNotify, raw); err != nil {
		return s, nil, fmt.Errorf("cannot store the VoC channels of project %d: %w", projectID, err)
	}
	return s, secrets, nil
}

// systemCohort finds or makes the cohort the system campaigns name.
func systemCohort(ctx context.Context, m meta.Store, projectID int64) (int64, error) {
	cs, err := m.Cohorts(ctx, projectID)
	if err != nil {
		return 0, fmt.Errorf("cannot list the cohorts of project %d: %w", projectID, err)
	}
	for _, c := range cs {
		if c.Name == systemCohortName {
			return c.ID, nil
		}
	}
	c, err := m.CreateCohort(ctx, projectID, systemCohortName, []byte(`{"distinct_ids":["$journey-voc-system"]}`))
	if err != nil {
		return 0, fmt.Errorf("cannot create the VoC system cohort: %w", err)
	}
	return c.ID, nil
}

// putCampaign creates the system campaign of a channel, or replaces the
// stored one (id), keeping a webhook's secret when none is given; it
// returns the campaign and a secret it generated.
func putCampaign(ctx context.Context, m meta.Store, projectID, userID, id int64, name string, c ChannelBody, rate float64, cohort int64) (int64, string, error) {
	var stored meta.Campaign
	if id != 0 {
		var err error
		stored, err = m.Campaign(ctx, projectID, id)
		switch {
		case errors.Is(err, meta.ErrNotFound):
			id = 0
		case err != nil:
			return 0, "", err
		case stored.Status == meta.CampaignStopped:
			id = 0 // a stopped campaign cancels its sends: start a new one
		}
	}
	generated := ""
	if c.Type == campaign.ChannelWebhook && c.Secret == "" {
		if id != 0 && stored.Secret != "" {
			c.Secret = stored.Secret
		} else {
			c.Secret = channel.NewSecret()
			generated = c.Secret
		}
	}
	raw, err := c.definition(name, rate, cohort)
	if err != nil {
		return 0, "", err
	}
	d, err := campaign.Parse(raw)
	if err != nil {
		return 0, "", err
	}
	secret := d.TakeSecret()
	if raw, err = json.Marshal(d); err != nil {
		return 0, "", err
	}
	mc := meta.Campaign{ID: id, ProjectID: projectID, Name: d.Name, Kind: meta.CampaignBroadcast, Status: meta.CampaignActive,
		Definition: raw, Secret: secret, CreatedBy: userID, UpdatedBy: userID}
	if id == 0 {
		out, err := m.CreateCampaign(ctx, mc)
		if err != nil {
			return 0, "", fmt.Errorf("cannot create the VoC %s campaign: %w", name, err)
		}
		return out.ID, generated, nil
	}
	if _, err := m.UpdateCampaign(ctx, mc, 0); err != nil {
		return 0, "", fmt.Errorf("cannot update the VoC %s campaign: %w", name, err)
	}
	return id, generated, nil
}

// live is a system campaign as the messages need it.
type live struct {
	c   meta.Campaign
	def *campaign.Definition
}

// systemCampaign reads a system campaign; ok is false when it is not
// configured, gone or stopped (its messages would be cancelled).
func systemCampaign(ctx context.Context, m meta.Store, projectID, id int64) (live, bool, error) {
	if id == 0 {
		return live{}, false, nil
	}
	c, err := m.Campaign(ctx, projectID, id)
	if errors.Is(err, meta.ErrNotFound) {
		return live{}, false, nil
	}
	if err != nil {
		return live{}, false, err
	}
	if c.Status == meta.CampaignStopped {
		return live{}, false, nil
	}
	l, err := campaign.Decode(c)
	if err != nil {
		return live{}, false, err
	}
	return live{c: c, def: l.Def}, true, nil
}

// nonce is the random part of an unsubscribe link.
func nonce() string {
	b := make([]byte, 16)
	rand.Read(b) // crypto/rand.Read never fails
	return base64.RawURLEncoding.EncodeToString(b)
}

// message is one send to schedule.
type message struct {
	key, variant, trigger, triggerEvent string
	distinctID                          string
	personID                            int64
	to                                  string // email: the recipient
	// customer: the message goes to the person of distinctID (a reply,
	// a close-the-loop notice), so a webhook carries their unsubscribe
	// link too; an alert goes to the team and carries none.
	customer      bool
	subject, body string
	at            time.Time
}

// send renders a message for the campaign's channel: a webhook carries
// subject and body, and for a customer the unsubscribe link the receiver
// relays to them (the sender then honours the distinct id's unsubscribe);
// an email goes to `to` with an unsubscribe link.
func (l live) send(projectID int64, publicURL string, msg message) (meta.Send, error) {
	p := campaign.Payload{Subject: msg.subject, Body: msg.body, TriggerEvent: msg.triggerEvent, TriggerAt: msg.at}
	email := l.def.Channel.Type == campaign.ChannelEmail
	if email {
		p.To = msg.to
	}
	if base := strings.TrimRight(publicURL, "/"); base != "" && (email || msg.customer && l.def.Channel.Type == campaign.ChannelWebhook) {
		p.Click = nonce()
		p.Unsubscribe = base + "/u/" + campaign.ClickToken(projectID, msg.key, p.Click)
	}
	raw, err := json.Marshal(p)
	if err != nil {
		return meta.Send{}, err
	}
	return meta.Send{Key: msg.key, ProjectID: projectID, CampaignID: l.c.ID, PersonID: msg.personID, DistinctID: msg.distinctID,
		Variant: msg.variant, TriggerUUID: msg.trigger, Channel: l.def.Channel.Type, Arm: meta.ArmTreatment, DueAt: msg.at, Payload: raw}, nil
}
