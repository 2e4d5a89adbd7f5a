// Package campaign is the definition of a messaging campaign (SPEC §6,
// the body of POST /api/v1/campaigns) and its audience rules: holdout
// and control-group arms, variant choice, frequency caps, quiet hours,
// re-eligibility, best times and idempotency keys. It is pure: no I/O, no
// clock (callers pass the times), so the trigger engine, the sender and
// the reports all decide alike.
package campaign

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/mail"
	"net/url"
	"strings"
	"time"

	"github.com/journey-dev/journey/internal/insight"
)

// Definition is a campaign as POSTed to /api/v1/campaigns:
//
//	{"name", "kind": "triggered"|"broadcast",
//	 "trigger": {"event", "filters": [insight filters]} | {"cohort": id},
//	 "goal": {"event", "filters", "match": "item", "within": "72h"},
//	 "wait": {"delay": "24h"} | {"best_time": true, "min_delay": "1h"},
//	 "holdout": 0.1,
//	 "channel": {"type": "webhook", "url", "secret"} | {"type": "email", "from", "reply_to", "subject"} | {"type": "web_push", "ttl", "urgency"},
//	 "variants": [{"name", "weight", "subject", "body", "url"}],
//	 "audience": {"frequency_cap": {"count": 1, "per": "24h"}, "quiet_hours": {"start": "22:00", "end": "08:00"},
//	              "reeligible_after": "168h", "send_rate": 100},
//	 "attribution": "72h",
//	 "broadcast": {"cohort": id, "at": time},
//	 "status": "draft"|"active"|"paused"|"stopped"}
//
// Durations are Go durations ("24h", "90m", "30s"). Parse decodes
// strictly (unknown fields are errors) and Validate checks every field,
// fills the defaults and the parsed durations (the *Dur fields), and
// normalises the variants' weights to sum 1. Errors are *insight.Error,
// so the API answers {"error", "field"} as for queries.
type Definition struct {
	Name string `json:"name"`
	// Kind is KindTriggered (the default) or KindBroadcast.
	Kind string `json:"kind,omitempty"`
	// Trigger starts a triggered campaign's message: an event, or a
	// person's entering a cohort.
	Trigger *Trigger `json:"trigger,omitempty"`
	// Goal is the conversion: a goal event within Within of the trigger
	// cancels a pending message (the person did it anyway), and reports
	// count it within Attribution of the message (or of the holdout's
	// "would have sent"). Required for triggered campaigns.
	Goal *Goal `json:"goal,omitempty"`
	// Wait is how long after the trigger a triggered campaign messages.
	Wait *Wait `json:"wait,omitempty"`
	// Holdout is the campaign's control share, in [0, 1): persons held
	// out are never messaged but get a "would have sent" record.
	Holdout  float64   `json:"holdout"`
	Channel  Channel   `json:"channel"`
	Variants []Variant `json:"variants"`
	Audience Audience  `json:"audience"`
	// Attribution is the window after a message in which a goal is its
	// conversion; default DefaultAttribution.
	Attribution string `json:"attribution,omitempty"`
	// Broadcast is a broadcast campaign's audience and time.
	Broadcast *Broadcast `json:"broadcast,omitempty"`
	// Status is StatusDraft (the default), StatusActive, StatusPaused or
	// StatusStopped.
	Status string `json:"status,omitempty"`

	AttributionDur time.Duration `json:"-"`
}

// Campaign kinds and statuses (the same words as package meta's).
const (
	KindTriggered = "triggered"
	KindBroadcast = "broadcast"

	StatusDraft   = "draft"
	StatusActive  = "active"
	StatusPaused  = "paused"
	StatusStopped = "stopped"
)

// Trigger is an event with filters (insight filters; cohort filters, by
// id, are resolved by the API as for queries), or Cohort: the persons who
// enter the cohort of that id.
type Trigger struct {
	Event   string           `json:"event,omitempty"`
	Filters []insight.Filter `json:"filters,omitempty"`
	Cohort  int64            `json:"cohort,omitempty"`
}

// Goal is the conversion event. Match names a property of the trigger
// event the goal must share (the same "item": a purchase of another item
// is no conversion); a trigger without the property does not trigger.
type Goal struct {
	Event   string           `json:"event"`
	Filters []insight.Filter `json:"filters,omitempty"`
	Match   string           `json:"match,omitempty"`
	// Within is the window after the trigger in which the goal cancels a
	// pending message; default DefaultAttribution.
	Within string `json:"within,omitempty"`

	WithinDur time.Duration `json:"-"`
}

// Wait is a fixed Delay after the trigger ("0s": at once), or BestTime:
// the person's most engaged local hour (BestTime), at least MinDelay
// after the trigger.
type Wait struct {
	Delay    string `json:"delay,omitempty"`
	BestTime bool   `json:"best_time,omitempty"`
	MinDelay string `json:"min_delay,omitempty"`

	DelayDur    time.Duration `json:"-"`
	MinDelayDur time.Duration `json:"-"`
}

// Channel types.
const (
	ChannelWebhook = "webhook"
	ChannelEmail   = "email"
	ChannelWebPush = "web_push"
)

// Channel is where messages go. A webhook has URL and Secret (Standard
// Webhooks: "whsec_" and the base64 of 24 to 64 bytes; the API may
// generate one when absent); an email From (an RFC 5322 address), an
// optional ReplyTo and a default Subject for variants without one; a Web
// Push an optional TTL (RFC 8030, a duration up to 28 days; the sender's
// default when absent) and Urgency (very-low, low, normal, high).
type Channel struct {
	Type    string `json:"type"`
	URL     string `json:"url,omitempty"`
	Secret  string `json:"secret,omitempty"`
	From    string `json:"from,omitempty"`
	ReplyTo string `json:"reply_to,omitempty"`
	Subject string `json:"subject,omitempty"`
	TTL     string `json:"ttl,omitempty"`
	Urgency string `json:"urgency,omitempty"`

	TTLDur time.Duration `json:"-"`
}

// Variant is one copy of the message. Weight is its share (any
// non-negative numbers; all zero or absent: equal shares), normalised by
// Validate to sum 1; a weight of 0 beside positive ones is never chosen.
// Subject is an email's subject or a push's title; Body the text; URL
// where a click goes (through the tracking redirect).
type Variant struct {
	Name    string  `json:"name"`
	Weight  float64 `json:"weight"`
	Subject string  `json:"subject,omitempty"`
	Body    string  `json:"body,omitempty"`
	URL     string  `json:"url,omitempty"`
}

// Audience are the rules on who is messaged when. FrequencyCap counts
// the messages a person got on the campaign's channel (all campaigns) in a
// rolling window; QuietHours are local to the person; ReeligibleAfter is
// how long after a scheduled trigger the person can be scheduled again
// (absent or "0s": every trigger); SendRate caps messages per second (0:
// no cap).
type Audience struct {
	FrequencyCap    *FrequencyCap `json:"frequency_cap,omitempty"`
	QuietHours      *QuietHours   `json:"quiet_hours,omitempty"`
	ReeligibleAfter string        `json:"reeligible_after,omitempty"`
	SendRate        float64       `json:"send_rate,omitempty"`

	ReeligibleAfterDur time.Duration `json:"-"`
}

// FrequencyCap allows at most Count messages per person and channel in
// any window of Per.
type FrequencyCap struct {
	Count int    `json:"count"`
	Per   string `json:"per"`

	PerDur time.Duration `json:"-"`
}

// QuietHours is a daily local window [Start, End) ("HH:MM", 24-hour
// clock) in which nothing is sent; it crosses midnight when Start > End,
// and Start == End is no window.
type QuietHours struct {
	Start string `json:"start"`
	End   string `json:"end"`
}

// Broadcast is one message to the persons of Cohort, at At (absent: when
// the campaign is activated).
type Broadcast struct {
	Cohort int64      `json:"cohort"`
	At     *time.Time `json:"at,omitempty"`
}

// Limits and defaults.
const (
	DefaultAttribution = "72h"
	MaxName            = 200
	MaxVariants        = 10
	MaxVariantName     = 100
	MaxSubject         = 998 // an RFC 5322 line
	MaxBody            = 64 << 10
	MaxURL             = 2048
	MaxEventName       = 400
	MaxWindow          = 90 * 24 * time.Hour  // goal within, attribution, frequency cap per
	MaxDelay           = 30 * 24 * time.Hour  // wait delay and min_delay
	MaxReeligible      = 366 * 24 * time.Hour // reeligible_after
	MaxPushTTL         = 28 * 24 * time.Hour
	MaxSendRate        = 100_000
	MaxCap             = 1000
)

// Parse decodes a definition strictly and validates it.
func Parse(body []byte) (*Definition, error) {
	var d Definition
	if err := decodeStrict(body, &d); err != nil {
		return nil, err
	}
	if err := d.Validate(); err != nil {
		return nil, err
	}
	return &d, nil
}

func bad(field, format string, args ...any) *insight.Error {
	return insight.Bad(field, format, args...)
}

// decodeStrict decodes one JSON object with no unknown fields and nothing
// after it; numbers in filter values stay json.Number, as in queries.
func decodeStrict(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			field := te.Field
			if field == "" {
				field = "body"
			}
			return bad(field, "want %s, got %s", te.Type, te.Value)
		}
		var pe *time.ParseError
		if errors.As(err, &pe) {
			return bad("broadcast.at", "want an RFC 3339 time: %v", err)
		}
		if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			if name = strings.Trim(name, `"`); name == "" {
				name = "body" // an empty key: no field to name
			}
			return bad(name, "unknown field")
		}
		return bad("body", "cannot decode campaign: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return bad("body", "one JSON object expected")
	}
	return nil
}

// duration parses a Go duration field in [min, max]; "" is def.
func duration(field, s, def string, lo, hi time.Duration) (time.Duration, error) {
	if s == "" {
		s = def
	}
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, bad(field, "want a Go duration such as \"24h\", \"90m\" or \"30s\": %q", s)
	}
	if d < lo || d > hi {
		return 0, bad(field, "must be from %s to %s", format(lo), format(hi))
	}
	return d, nil
}

// format writes a duration without zero minutes and seconds ("24h").
func format(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// Validate checks the definition and fills its defaults.
func (d *Definition) Validate() error {
	switch {
	case strings.TrimSpace(d.Name) == "":
		return bad("name", "missing")
	case len(d.Name) > MaxName:
		return bad("name", "at most %d bytes", MaxName)
	}
	if d.Kind == "" {
		d.Kind = KindTriggered
	}
	switch d.Kind {
	case KindTriggered:
		if err := d.validateTriggered(); err != nil {
			return err
		}
	case KindBroadcast:
		if err := d.validateBroadcast(); err != nil {
			return err
		}
	default:
		return bad("kind", "unknown kind %q (triggered, broadcast)", d.Kind)
	}
	if d.Goal != nil {
		if err := d.Goal.validate(d.Trigger); err != nil {
			return err
		}
	}
	if math.IsNaN(d.Holdout) || d.Holdout < 0 || d.Holdout >= 1 {
		return bad("holdout", "must be in [0, 1) (a share of the persons triggered)")
	}
	if err := d.Channel.validate(); err != nil {
		return err
	}
	if err := d.validateVariants(); err != nil {
		return err
	}
	if err := d.Audience.validate(); err != nil {
		return err
	}
	var err error
	if d.AttributionDur, err = duration("attribution", d.Attribution, DefaultAttribution, time.Second, MaxWindow); err != nil {
		return err
	}
	if d.Attribution == "" {
		d.Attribution = DefaultAttribution
	}
	if d.Status == "" {
		d.Status = StatusDraft
	}
	switch d.Status {
	case StatusDraft, StatusActive, StatusPaused, StatusStopped:
	default:
		return bad("status", "unknown status %q (draft, active, paused, stopped)", d.Status)
	}
	return nil
}

func (d *Definition) validateTriggered() error {
	if d.Broadcast != nil {
		return bad("broadcast", "only a broadcast campaign has one")
	}
	t := d.Trigger
	if t == nil {
		return bad("trigger", "missing (an event, or a cohort)")
	}
	switch {
	case t.Event == "" && t.Cohort == 0:
		return bad("trigger.event", "missing (give an event or a cohort)")
	case t.Event != "" && t.Cohort != 0:
		return bad("trigger.cohort", "give an event or a cohort, not both")
	case t.Cohort < 0:
		return bad("trigger.cohort", "must be a cohort id")
	case len(t.Event) > MaxEventName:
		return bad("trigger.event", "at most %d bytes", MaxEventName)
	case t.Cohort != 0 && len(t.Filters) > 0:
		return bad("trigger.filters", "a cohort trigger has no event to filter")
	}
	if err := insight.ValidateFilters("trigger.filters", t.Filters, true); err != nil {
		return err
	}
	if d.Goal == nil {
		return bad("goal", "missing (the conversion event)")
	}
	w := d.Wait
	if w == nil {
		return bad("wait", `missing ({"delay": "24h"} or {"best_time": true})`)
	}
	var err error
	switch {
	case w.BestTime && w.Delay != "":
		return bad("wait.delay", "give delay or best_time, not both")
	case w.BestTime:
		if w.MinDelayDur, err = duration("wait.min_delay", w.MinDelay, "", 0, MaxDelay); err != nil {
			return err
		}
	case w.Delay == "":
		return bad("wait.delay", `missing (a duration such as "24h", or best_time)`)
	case w.MinDelay != "":
		return bad("wait.min_delay", "applies to best_time only")
	default:
		if w.DelayDur, err = duration("wait.delay", w.Delay, "", 0, MaxDelay); err != nil {
			return err
		}
	}
	return nil
}

func (d *Definition) validateBroadcast() error {
	switch {
	case d.Trigger != nil:
		return bad("trigger", "a broadcast has no trigger (give broadcast.cohort)")
	case d.Wait != nil:
		return bad("wait", "a broadcast has no wait (give broadcast.at)")
	case d.Broadcast == nil:
		return bad("broadcast", "missing (the cohort and, optionally, when)")
	case d.Broadcast.Cohort <= 0:
		return bad("broadcast.cohort", "missing (a cohort id)")
	case d.Broadcast.At != nil && d.Broadcast.At.IsZero():
		return bad("broadcast.at", "must be a time")
	}
	return nil
}

func (g *Goal) validate(t *Trigger) error {
	switch {
	case g.Event == "":
		return bad("goal.event", "missing")
	case len(g.Event) > MaxEventName:
		return bad("goal.event", "at most %d bytes", MaxEventName)
	case len(g.Match) > MaxEventName:
		return bad("goal.match", "at most %d bytes", MaxEventName)
	case g.Match != "" && (t == nil || t.Event == ""):
		return bad("goal.match", "matches a property of the trigger event: needs an event trigger")
	}
	if err := insight.ValidateFilters("goal.filters", g.Filters, false); err != nil {
		return err
	}
	var err error
	if g.WithinDur, err = duration("goal.within", g.Within, DefaultAttribution, time.Second, MaxWindow); err != nil {
		return err
	}
	if g.Within == "" {
		g.Within = DefaultAttribution
	}
	return nil
}

func (c *Channel) validate() error {
	// fields are the channel's own: any other set is an error.
	only := func(fields map[string]string, own ...string) error {
		for _, name := range []string{"url", "secret", "from", "reply_to", "subject", "ttl", "urgency"} {
			if fields[name] != "" && !contains(own, name) {
				return bad("channel."+name, "does not apply to %s channels", c.Type)
			}
		}
		return nil
	}
	fields := map[string]string{"url": c.URL, "secret": c.Secret, "from": c.From, "reply_to": c.ReplyTo,
		"subject": c.Subject, "ttl": c.TTL, "urgency": c.Urgency}
	switch c.Type {
	case ChannelWebhook:
		if err := only(fields, "url", "secret"); err != nil {
			return err
		}
		if c.URL == "" {
			return bad("channel.url", "missing")
		}
		if err := checkURL("channel.url", c.URL); err != nil {
			return err
		}
		if c.Secret != "" {
			if err := checkSecret(c.Secret); err != nil {
				return err
			}
		}
	case ChannelEmail:
		if err := only(fields, "from", "reply_to", "subject"); err != nil {
			return err
		}
		if c.From == "" {
			return bad("channel.from", "missing")
		}
		if _, err := mail.ParseAddress(c.From); err != nil {
			return bad("channel.from", "not an email address: %v", err)
		}
		if c.ReplyTo != "" {
			if _, err := mail.ParseAddress(c.ReplyTo); err != nil {
				return bad("channel.reply_to", "not an email address: %v", err)
			}
		}
		if err := checkText("channel.subject", c.Subject, MaxSubject, true); err != nil {
			return err
		}
	case ChannelWebPush:
		if err := only(fields, "ttl", "urgency"); err != nil {
			return err
		}
		var err error
		if c.TTLDur, err = duration("channel.ttl", c.TTL, "", 0, MaxPushTTL); err != nil {
			return err
		}
		switch c.Urgency {
		case "", "very-low", "low", "normal", "high":
		default:
			return bad("channel.urgency", "unknown urgency %q (very-low, low, normal, high)", c.Urgency)
		}
	case "":
		return bad("channel.type", "missing (webhook, email, web_push)")
	default:
		return bad("channel.type", "unknown channel %q (webhook, email, web_push)", c.Type)
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// checkURL admits absolute http and https URLs with a host.
func checkURL(field, s string) error {
	if len(s) > MaxURL {
		return bad(field, "at most %d bytes", MaxURL)
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return bad(field, "want an absolute http or https URL without credentials")
	}
	return nil
}

// checkSecret admits a Standard Webhooks secret: "whsec_" and the base64
// of 24 to 64 random bytes.
func checkSecret(s string) error {
	raw, ok := strings.CutPrefix(s, "whsec_")
	if !ok {
		return bad("channel.secret", `want a Standard Webhooks secret: "whsec_" and base64`)
	}
	key, err := base64.StdEncoding.DecodeString(raw)
	if err != nil || len(key) < 24 || len(key) > 64 {
		return bad("channel.secret", "want the base64 of 24 to 64 bytes after whsec_")
	}
	return nil
}

// checkText bounds a text; line says it must be one line (a header).
func checkText(field, s string, max int, line bool) error {
	if len(s) > max {
		return bad(field, "at most %d bytes", max)
	}
	if line && strings.ContainsAny(s, "\r\n") {
		return bad(field, "must be one line")
	}
	return nil
}

func (d *Definition) validateVariants() error {
	if len(d.Variants) == 0 {
		return bad("variants", "at least one message is needed")
	}
	if len(d.Variants) > MaxVariants {
		return bad("variants", "at most %d variants", MaxVariants)
	}
	seen := map[string]bool{}
	var sum float64
	for i := range d.Variants {
		v := &d.Variants[i]
		at := func(name string) string { return fmt.Sprintf("variants[%d].%s", i, name) }
		if v.Name == "" {
			v.Name = string(rune('A' + i))
		}
		switch {
		case len(v.Name) > MaxVariantName:
			return bad(at("name"), "at most %d bytes", MaxVariantName)
		case seen[v.Name]:
			return bad(at("name"), "%q is given twice", v.Name)
		case math.IsNaN(v.Weight) || math.IsInf(v.Weight, 0) || v.Weight < 0:
			return bad(at("weight"), "must be a non-negative number")
		}
		seen[v.Name] = true
		sum += v.Weight
		if err := checkText(at("subject"), v.Subject, MaxSubject, true); err != nil {
			return err
		}
		if err := checkText(at("body"), v.Body, MaxBody, false); err != nil {
			return err
		}
		if v.URL != "" {
			if err := checkURL(at("url"), v.URL); err != nil {
				return err
			}
		}
		switch d.Channel.Type {
		case ChannelEmail:
			if v.Subject == "" && d.Channel.Subject == "" {
				return bad(at("subject"), "an email needs a subject (here or on the channel)")
			}
			if v.Body == "" {
				return bad(at("body"), "an email needs a body")
			}
		case ChannelWebPush:
			if v.Subject == "" && v.Body == "" {
				return bad(at("body"), "a notification needs a title (subject) or a body")
			}
		}
	}
	for i := range d.Variants {
		v := &d.Variants[i]
		if sum == 0 {
			v.Weight = 1 / float64(len(d.Variants))
		} else {
			v.Weight /= sum
		}
	}
	return nil
}

func (a *Audience) validate() error {
	if c := a.FrequencyCap; c != nil {
		if c.Count < 1 || c.Count > MaxCap {
			return bad("audience.frequency_cap.count", "must be 1..%d", MaxCap)
		}
		if c.Per == "" {
			return bad("audience.frequency_cap.per", `missing (a duration such as "24h")`)
		}
		var err error
		if c.PerDur, err = duration("audience.frequency_cap.per", c.Per, "", time.Second, MaxWindow); err != nil {
			return err
		}
	}
	if q := a.QuietHours; q != nil {
		if _, err := clock(q.Start); err != nil {
			return bad("audience.quiet_hours.start", "%v", err)
		}
		if _, err := clock(q.End); err != nil {
			return bad("audience.quiet_hours.end", "%v", err)
		}
	}
	var err error
	if a.ReeligibleAfterDur, err = duration("audience.reeligible_after", a.ReeligibleAfter, "", 0, MaxReeligible); err != nil {
		return err
	}
	if math.IsNaN(a.SendRate) || a.SendRate < 0 || a.SendRate > MaxSendRate {
		return bad("audience.send_rate", "must be 0 (no cap) to %d messages a second", MaxSendRate)
	}
	return nil
}

// GoldenTime is the golden-time query of an event-triggered campaign with
// a goal over triggers in [from, to): its trigger (cohort filters as the
// query's filters) and goal, matched as the campaign matches. Nil for
// cohort triggers and broadcasts.
func (d *Definition) GoldenTime(from, to time.Time) *insight.GoldenTime {
	if d.Trigger == nil || d.Trigger.Event == "" || d.Goal == nil {
		return nil
	}
	q := &insight.GoldenTime{Trigger: insight.GoldenEvent{Event: d.Trigger.Event},
		Goal:  insight.GoldenEvent{Event: d.Goal.Event, Filters: d.Goal.Filters},
		Match: d.Goal.Match, Range: insight.Range{From: from, To: to}}
	for _, f := range d.Trigger.Filters {
		if f.Type == "cohort" {
			q.Filters = append(q.Filters, f)
		} else {
			q.Trigger.Filters = append(q.Trigger.Filters, f)
		}
	}
	return q
}

// TakeSecret returns the channel's secret and clears it from the
// definition, for stores that keep secrets apart from the definition
// they serialise (package meta's Campaign.Secret).
func (d *Definition) TakeSecret() string {
	s := d.Channel.Secret
	d.Channel.Secret = ""
	return s
}
