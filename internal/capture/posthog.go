package capture

import (
	"math"
	"net/url"
	"strings"
	"time"

	"github.com/journey-dev/journey/internal/enrich"
	"github.com/journey-dev/journey/internal/event"
)

// postHogBodyLimit is the largest raw body a PostHog route takes: /batch is
// for server SDKs sending many events, the others for single events and
// small browser batches.
func postHogBodyLimit(path string) int {
	if strings.TrimRight(path, "/") == "/batch" {
		return maxPostHogBatchBody
	}
	return maxPostHogSingleBody
}

// DecodePostHog decodes a PostHog capture request (any SDK, any encoding).
// The error, always an *Error, fails the whole request; invalid events are
// listed in Decoded.Invalid instead.
func DecodePostHog(r Request) (Decoded, error) {
	d, err := decodePostHog(r, &bounds{})
	if err != nil {
		return Decoded{}, err
	}
	return d, nil
}

func decodePostHog(r Request, bnd *bounds) (Decoded, *Error) {
	now := requestNow(r)
	d := Decoded{Beacon: r.Query.Get("beacon") == "1"}
	if limit := postHogBodyLimit(r.Path); len(r.Body) > limit {
		return d, tooLarge("request body too large: over %s", size(limit))
	}
	payload, err := postHogPayload(r, maxPostHogDecoded, bnd)
	if err != nil {
		return d, err
	}
	env, items, invalid, err := bnd.split(payload, maxPostHogEvent, postHogTopTokens)
	if err != nil {
		return d, err
	}
	d.Invalid = invalid
	if len(items) == 0 && len(invalid) == 0 {
		return d, nil // nothing to store: answer 200 without a token check
	}
	if d.Token, err = postHogToken(env, items, r.Query); err != nil {
		return d, err
	}
	b := postHogBatch{
		now:          now,
		sentAt:       postHogSentAt(env, r),
		defaultEvent: engageEvent(r.Path),
		userAgent:    r.Header.Get("User-Agent"),
	}
	for _, it := range items {
		ev, err := b.event(it)
		if err != nil {
			d.Invalid = append(d.Invalid, err)
			continue
		}
		d.Events = append(d.Events, ev)
	}
	return d, nil
}

func requestNow(r Request) time.Time {
	if r.Now.IsZero() {
		return time.Now().UTC()
	}
	return r.Now.UTC()
}

// engageEvent is the event name for /engage, where old posthog-js sent
// people.set calls without one.
func engageEvent(path string) string {
	if strings.TrimRight(path, "/") == "/engage" {
		return event.Identify
	}
	return ""
}

// postHogToken finds the project token: the token or api_key query
// parameter (as PostHog reads them), batch-level api_key or token, else
// each event's token, $token, api_key or properties.token. A request naming
// two projects is refused rather than split or guessed.
func postHogToken(env envelope, items []rawItem, q url.Values) (string, *Error) {
	ts := tokenSet(outsideTokens(false, q, nil))
	if env.batch {
		ts.add(env.topString("api_key"))
		ts.add(env.topString("token"))
	}
	for _, it := range items {
		ts.add(eventToken(it.m))
	}
	return ts.one("api_key")
}

func eventToken(m map[string]any) string {
	for _, key := range []string{"token", "$token", "api_key"} {
		if s := stringField(m, key); s != "" {
			return s
		}
	}
	return stringField(objectField(m, "properties"), "token")
}

// postHogSentAt is the client's clock when the request left: the batch's
// sent_at, else the `_` query parameter (epoch ms) that posthog-js adds.
func postHogSentAt(env envelope, r Request) time.Time {
	if env.batch {
		if t, ok := parseTime(env.top["sent_at"]); ok {
			return t
		}
	}
	if t, ok := parseTimeString(r.Query.Get("_")); ok {
		return t
	}
	return time.Time{}
}

// postHogBatch holds what is shared by the events of one request.
type postHogBatch struct {
	now          time.Time
	sentAt       time.Time // zero when the client sent none
	defaultEvent string
	userAgent    string // the request's, for events that carry none
}

// event validates and normalizes one PostHog event.
func (b postHogBatch) event(it rawItem) (event.Event, *Error) {
	m := it.m
	name, err := b.eventName(it)
	if err != nil {
		return event.Event{}, err
	}
	props, ok := propertiesOf(m)
	if !ok {
		return event.Event{}, badField(itemField(it.index, "properties"), "must be an object")
	}
	distinctID, err := postHogDistinctID(it, props)
	if err != nil {
		return event.Event{}, err
	}
	ev := event.Event{
		UUID:       eventUUID(m["uuid"]),
		Event:      name,
		DistinctID: distinctID,
		Timestamp:  b.timestamp(m, props),
		ReceivedAt: b.now,
		NoPerson:   props["$process_person_profile"] == false || m["$process_person_profile"] == false,
	}
	takePersonUpdates(&ev, m, props)
	enrich.UserAgent(props, b.userAgent)
	addElementsChain(props)
	ev.Properties = props
	return ev, nil
}

func (b postHogBatch) eventName(it rawItem) (string, *Error) {
	v, ok := it.m["event"]
	if !ok || v == nil {
		if b.defaultEvent != "" {
			return b.defaultEvent, nil
		}
		return "", badField(itemField(it.index, "event"), "missing")
	}
	s, ok := v.(string)
	if !ok {
		return "", badField(itemField(it.index, "event"), "must be a string")
	}
	if s == "" {
		return "", badField(itemField(it.index, "event"), "missing")
	}
	return s, nil
}

// propertiesOf returns the event's properties object (a new one when it has
// none); ok is false when properties is not an object.
func propertiesOf(m map[string]any) (map[string]any, bool) {
	switch p := m["properties"].(type) {
	case nil:
		return map[string]any{}, true
	case map[string]any:
		return p, true
	}
	return nil, false
}

// postHogDistinctID reads distinct_id from the root ($distinct_id for old
// /engage calls) or from properties.
func postHogDistinctID(it rawItem, props map[string]any) (string, *Error) {
	field := itemField(it.index, "distinct_id")
	for _, v := range []any{it.m["distinct_id"], it.m["$distinct_id"], props["distinct_id"]} {
		if v == nil {
			continue
		}
		s, ok := idString(v)
		if !ok {
			if _, isString := v.(string); isString {
				continue // "" counts as absent; try the next place
			}
			return "", badField(field, "must be a string or a number")
		}
		return truncateRunes(s, maxDistinctIDLen), nil
	}
	return "", badField(field, "missing")
}

// maxOffsetMillis keeps offset×1ms inside time.Duration (±292 years).
const maxOffsetMillis = 9e12

// timestamp applies PostHog's clock-skew rules: with sent_at, timestamp −
// (sent_at − now); with offset, now − offset; else the timestamp as sent;
// else now. $ignore_sent_at turns the sent_at correction off (used by
// imports of historical data).
func (b postHogBatch) timestamp(m, props map[string]any) time.Time {
	ts, hasTS := parseTime(m["timestamp"])
	sentAt, hasSent := b.sentAt, !b.sentAt.IsZero()
	if t, ok := parseTime(m["sent_at"]); ok {
		sentAt, hasSent = t, true
	}
	if props["$ignore_sent_at"] == true || m["$ignore_sent_at"] == true {
		hasSent = false
	}
	switch offset, hasOffset := numberMillis(m["offset"]); {
	case hasTS && hasSent:
		return settle(skewCorrect(ts, sentAt, b.now), b.now)
	case hasOffset && math.Abs(offset) < maxOffsetMillis:
		return settle(b.now.Add(-time.Duration(offset*float64(time.Millisecond))), b.now)
	case hasTS:
		return settle(ts, b.now)
	}
	return b.now
}

// takePersonUpdates moves $set, $set_once and $unset from the properties and
// the root (which wins) into the event's own fields.
func takePersonUpdates(ev *event.Event, m, props map[string]any) {
	ev.Set = mergeObjects(objectField(props, "$set"), objectField(m, "$set"))
	ev.SetOnce = mergeObjects(objectField(props, "$set_once"), objectField(m, "$set_once"))
	ev.Unset = unsetList(props["$unset"])
	if root := unsetList(m["$unset"]); len(root) > 0 {
		ev.Unset = root
	}
	delete(props, "$set")
	delete(props, "$set_once")
	delete(props, "$unset")
}
