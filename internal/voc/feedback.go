package voc

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/journey-dev/journey/internal/insight"
	"github.com/journey-dev/journey/internal/meta"
)

// MaxFeedbackBody bounds a feedback body (JSON of the API, the widget or a
// help desk): the text and its lists fit well under it.
const MaxFeedbackBody = 64 << 10

// MaxDistinctID bounds a distinct id, as capture does.
const MaxDistinctID = 200

// Input is a piece of feedback as sent, before it is stored: the contract
// fields {"text","distinct_id","source","tags","theme_id"} and the
// optional account(s), priority, attachments and external id. Token is
// the widget's project token (POST /feedback/), never stored.
type Input struct {
	Text        string    `json:"text"`
	DistinctID  string    `json:"distinct_id"`
	Source      string    `json:"source"`
	Tags        []string  `json:"tags"`
	ThemeID     int64     `json:"theme_id"`
	Account     string    `json:"account"`
	Accounts    []string  `json:"accounts"`
	Priority    string    `json:"priority"`
	Attachments []string  `json:"attachments"`
	ExternalID  string    `json:"external_id"`
	CreatedAt   time.Time `json:"-"`
	Token       string    `json:"token"`
}

// DecodeFeedback decodes and validates a feedback body: a JSON object of
// Input's fields (unknown fields are refused, so a misspelt one is not
// silently dropped), source defaulting to def. Errors are *insight.Error
// naming the field.
func DecodeFeedback(body []byte, def string) (Input, error) {
	var in Input
	if err := fbDecode(body, &in); err != nil {
		return Input{}, err
	}
	if in.Source == "" {
		in.Source = def
	}
	return in, in.Validate()
}

// decodeObject decodes one JSON object strictly into v.
func fbDecode(body []byte, v any) error {
	if len(body) > MaxFeedbackBody {
		return insight.Bad("body", "at most %d bytes", MaxFeedbackBody)
	}
	if t := bytes.TrimSpace(body); len(t) == 0 || t[0] != '{' {
		return insight.Bad("body", "want a JSON object")
	}
	d := json.NewDecoder(bytes.NewReader(body))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return fbJSONError(err)
	}
	if d.More() {
		return insight.Bad("body", "one JSON object, nothing after it")
	}
	return nil
}

// jsonError names the field a decoding error is about where it can.
func fbJSONError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return insight.Bad(te.Field, "want %s, got JSON %s", te.Type, te.Value)
	}
	msg := err.Error()
	if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		if f = strings.Trim(f, `"`); f != "" && len(f) <= 64 && isText(f) {
			return insight.Bad(f, "unknown field")
		}
		return insight.Bad("body", "unknown field")
	}
	return insight.Bad("body", "cannot decode body as JSON: %s", msg)
}

// Validate normalises the input (text trimmed, tags lower-cased and
// deduplicated, account folded into accounts) and checks every field
// against the store's bounds and allow-lists.
func (in *Input) Validate() error {
	in.Text = strings.TrimSpace(in.Text)
	switch {
	case in.Text == "":
		return insight.Bad("text", "missing")
	case len(in.Text) > meta.MaxFeedbackText:
		return insight.Bad("text", "at most %d bytes", meta.MaxFeedbackText)
	case !isText(in.Text):
		return insight.Bad("text", "not valid UTF-8 text")
	case in.DistinctID == "" || len(in.DistinctID) > MaxDistinctID || !isText(in.DistinctID):
		return insight.Bad("distinct_id", "want 1..%d bytes of text", MaxDistinctID)
	case !validSource(in.Source):
		return insight.Bad("source", "unknown source %q: want widget, api, survey, email, csv or webhook", in.Source)
	case in.ThemeID < 0:
		return insight.Bad("theme_id", "want a theme id")
	case in.Priority != "" && !validPriority(in.Priority):
		return insight.Bad("priority", "unknown priority %q: want low, normal, high or urgent", in.Priority)
	case len(in.ExternalID) > 200 || !isText(in.ExternalID):
		return insight.Bad("external_id", "at most 200 bytes of text")
	}
	tags, err := fbTags(in.Tags)
	if err != nil {
		return err
	}
	in.Tags = tags
	if in.Account != "" {
		in.Accounts = append([]string{in.Account}, in.Accounts...)
		in.Account = ""
	}
	if in.Accounts, err = fbList("accounts", in.Accounts, 200); err != nil {
		return err
	}
	return CheckAttachments(in.Attachments)
}

// CheckAttachments refuses attachment links that are not http(s) URLs
// (a javascript: link would run in the inbox) or too many; the create and
// the PATCH of an item both check with it.
func CheckAttachments(links []string) error {
	for i, a := range links {
		if u, err := url.Parse(a); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || len(a) > meta.MaxFeedbackLink {
			return insight.Bad("attachments["+fbIndex(i)+"]", "want an http(s) URL of at most %d bytes", meta.MaxFeedbackLink)
		}
	}
	if len(links) > meta.MaxFeedbackLinks {
		return insight.Bad("attachments", "at most %d", meta.MaxFeedbackLinks)
	}
	return nil
}

// text is valid UTF-8 without NUL bytes (PostgreSQL stores no others).
func isText(s string) bool { return utf8.ValidString(s) && !strings.ContainsRune(s, 0) }

func fbIndex(i int) string { return strconv.Itoa(i) }

func validSource(s string) bool {
	switch s {
	case meta.SourceWidget, meta.SourceAPI, meta.SourceSurvey, meta.SourceEmail, meta.SourceCSV, meta.SourceWebhook:
		return true
	}
	return false
}

func validPriority(s string) bool {
	switch s {
	case meta.PriorityLow, meta.PriorityNormal, meta.PriorityHigh, meta.PriorityUrgent:
		return true
	}
	return false
}

// normTags lower-cases, trims and deduplicates tags, in order.
func fbTags(tags []string) ([]string, error) {
	for i := range tags {
		tags[i] = strings.ToLower(strings.TrimSpace(tags[i]))
	}
	out, err := fbList("tags", tags, meta.MaxFeedbackTag)
	if err == nil && len(out) > meta.MaxFeedbackTags {
		return nil, insight.Bad("tags", "at most %d", meta.MaxFeedbackTags)
	}
	return out, err
}

// normList deduplicates a list, dropping empty entries; an entry longer
// than size or not text is refused.
func fbList(field string, l []string, size int) ([]string, error) {
	out := []string{}
	seen := map[string]bool{}
	for i, s := range l {
		s = strings.TrimSpace(s)
		if s == "" || seen[s] {
			continue
		}
		if len(s) > size || !isText(s) {
			return nil, insight.Bad(field+"["+fbIndex(i)+"]", "want at most %d bytes of text", size)
		}
		seen[s] = true
		out = append(out, s)
	}
	if len(out) > meta.MaxFeedbackLinks && field != "tags" {
		return nil, insight.Bad(field, "at most %d", meta.MaxFeedbackLinks)
	}
	return out, nil
}

// Item is the input as a store item of a project.
func (in Input) Item(projectID, personID int64) meta.FeedbackItem {
	return meta.FeedbackItem{ProjectID: projectID, Text: in.Text, Source: in.Source, DistinctID: in.DistinctID, PersonID: personID,
		Accounts: in.Accounts, Priority: in.Priority, Tags: in.Tags, Attachments: in.Attachments, ThemeID: in.ThemeID,
		ExternalID: in.ExternalID, CreatedAt: in.CreatedAt}
}
