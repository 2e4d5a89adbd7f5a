package voc

import (
	"strings"
	"time"

	"github.com/journey-dev/journey/internal/insight"
	"github.com/journey-dev/journey/internal/meta"
)

// Inbound is the generic JSON a help desk posts to
// POST /api/v1/feedback/inbound (most help desks' webhooks can template
// it): a ticket with its id, text (or subject and body), requester and
// tags. external_id makes retries idempotent: a ticket id already stored
// for the source answers the stored item.
//
//	{"external_id":"ZD-1042","subject":"Export fails","body":"…",
//	 "requester":{"id":"u_1","email":"ann@acme.example"},
//	 "tags":["billing"],"account":"acme","priority":"high",
//	 "source":"email","created_at":"2026-03-01T10:00:00Z",
//	 "attachments":["https://…/screenshot.png"]}
type Inbound struct {
	ExternalID  string   `json:"external_id"`
	Text        string   `json:"text"`
	Subject     string   `json:"subject"`
	Body        string   `json:"body"`
	DistinctID  string   `json:"distinct_id"`
	Requester   *Contact `json:"requester"`
	Tags        []string `json:"tags"`
	Account     string   `json:"account"`
	Priority    string   `json:"priority"`
	Source      string   `json:"source"`
	CreatedAt   string   `json:"created_at"`
	Attachments []string `json:"attachments"`
}

// Contact is who wrote a ticket: a distinct id, else the email (lower
// case) is the distinct id.
type Contact struct {
	ID    string `json:"id"`
	Email string `json:"email"`
	Name  string `json:"name"`
}

// DecodeInbound decodes and validates a help desk's ticket as feedback:
// the text is text, else subject and body; the distinct id is
// distinct_id, else requester.id, else requester.email; source is email
// or webhook (the default). Errors are *insight.Error naming the field.
func DecodeInbound(body []byte) (Input, error) {
	var t Inbound
	if err := fbDecode(body, &t); err != nil {
		return Input{}, err
	}
	in := Input{Text: t.Text, DistinctID: t.DistinctID, Tags: t.Tags, Account: t.Account, Priority: strings.ToLower(t.Priority),
		Source: t.Source, ExternalID: t.ExternalID, Attachments: t.Attachments}
	if in.Text == "" {
		in.Text = strings.TrimSpace(strings.TrimSpace(t.Subject) + "\n\n" + strings.TrimSpace(t.Body))
	}
	if r := t.Requester; in.DistinctID == "" && r != nil {
		in.DistinctID = r.ID
		if in.DistinctID == "" {
			in.DistinctID = strings.ToLower(strings.TrimSpace(r.Email))
		}
	}
	switch in.Source {
	case "":
		in.Source = meta.SourceWebhook
	case meta.SourceEmail, meta.SourceWebhook:
	default:
		return Input{}, insight.Bad("source", "want email or webhook, got %q", clipText(in.Source))
	}
	if t.CreatedAt != "" {
		at, err := time.Parse(time.RFC3339, t.CreatedAt)
		if err != nil || at.Year() < 2000 || at.After(time.Now().Add(24*time.Hour)) {
			return Input{}, insight.Bad("created_at", "want an RFC 3339 time from 2000 to now")
		}
		in.CreatedAt = at.UTC()
	}
	return in, in.Validate()
}
