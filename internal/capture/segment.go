package capture

import (
	"net/http"
	"strings"
	"time"

	"github.com/journey-dev/journey/internal/enrich"
	"github.com/journey-dev/journey/internal/event"
)

// DecodeSegment decodes a Segment HTTP tracking API request (analytics.js,
// analytics-node, RudderStack). The error, always an *Error, fails the whole
// request; invalid calls are listed in Decoded.Invalid instead.
func DecodeSegment(r Request) (Decoded, error) {
	d, err := decodeSegment(r, &bounds{})
	if err != nil {
		return Decoded{}, err
	}
	return d, nil
}

func decodeSegment(r Request, bnd *bounds) (Decoded, *Error) {
	var d Decoded
	kind, ok := segmentPaths[strings.TrimRight(r.Path, "/")]
	if !ok {
		return d, badRequest("cannot decode request: %q is not a Segment API path", r.Path)
	}
	limit := maxSegmentCall
	if kind == "batch" {
		limit = maxSegmentBatch
	}
	if len(r.Body) > limit {
		return d, tooLarge("request body too large: over %s", size(limit))
	}
	// analytics.js sends JSON as text/plain, so the content type is ignored.
	payload, err := gunzipTransport(r.Body, r.Header, limit, bnd)
	if err != nil {
		return d, err
	}
	env, items, invalid, err := bnd.split(payload, maxSegmentCall, segmentTopTokens)
	if err != nil {
		return d, err
	}
	d.Invalid = invalid
	if len(items) == 0 && len(invalid) == 0 {
		return d, nil
	}
	if d.Token, err = segmentToken(r.Header, env, items); err != nil {
		return d, err
	}
	b := segmentBatch{now: requestNow(r), groupType: r.GroupType, userAgent: r.Header.Get("User-Agent")}
	if b.groupType == "" {
		b.groupType = DefaultGroupType
	}
	if env.batch {
		b.sentAt, _ = parseTime(env.top["sentAt"])
		b.context, _ = env.top["context"].(map[string]any)
	}
	for _, it := range items {
		typ := kind
		if env.batch || kind == "batch" {
			typ = stringField(it.m, "type")
		}
		ev, err := b.event(it, typ)
		if err != nil {
			d.Invalid = append(d.Invalid, err)
			continue
		}
		d.Events = append(d.Events, ev)
	}
	return d, nil
}

// segmentToken finds the writeKey: in Basic auth (username, empty password),
// at the top of the body, or in each call. Differing keys are refused.
func segmentToken(h http.Header, env envelope, items []rawItem) (string, *Error) {
	ts := tokenSet(outsideTokens(true, nil, h))
	if env.batch {
		ts.add(env.topString("writeKey"))
	}
	for _, it := range items {
		ts.add(stringField(it.m, "writeKey"))
	}
	return ts.one("writeKey")
}

// segmentBatch holds what is shared by the calls of one request.
type segmentBatch struct {
	now       time.Time
	sentAt    time.Time // zero when the client sent none
	context   map[string]any
	groupType string
	userAgent string // the request's, for calls whose context has none
}

// event maps one Segment call onto the PostHog event model that the rest of
// Journey understands.
func (b segmentBatch) event(it rawItem, typ string) (event.Event, *Error) {
	m := it.m
	props, ok := propertiesOf(m)
	if !ok {
		return event.Event{}, badField(itemField(it.index, "properties"), "must be an object")
	}
	distinctID, err := segmentDistinctID(it, typ)
	if err != nil {
		return event.Event{}, err
	}
	ev := event.Event{
		UUID:       eventUUID(m["messageId"]),
		DistinctID: distinctID,
		Timestamp:  b.timestamp(m),
		ReceivedAt: b.now,
		Properties: props,
	}
	if err := b.mapType(&ev, it, typ); err != nil {
		return event.Event{}, err
	}
	ctx, ok := m["context"].(map[string]any)
	if !ok {
		ctx = b.context
	}
	flattenContext(props, ctx, b.groupType)
	enrich.UserAgent(props, b.userAgent)
	return ev, nil
}

// mapType sets the event name and the type-specific properties.
func (b segmentBatch) mapType(ev *event.Event, it rawItem, typ string) *Error {
	m, props := it.m, ev.Properties
	switch typ {
	case "track":
		name, _ := m["event"].(string)
		if name == "" {
			return badField(itemField(it.index, "event"), "missing")
		}
		ev.Event = name
	case "page":
		ev.Event = event.Pageview
		setDefault(props, "name", m["name"])
		setDefault(props, "$current_url", props["url"])
	case "screen":
		ev.Event = event.Screen
		setDefault(props, "name", m["name"])
		setDefault(props, "$screen_name", m["name"])
	case "identify":
		ev.Event = event.Identify
		ev.Set = objectField(m, "traits")
		if user, ok := idString(m["userId"]); ok {
			if anon, ok := idString(m["anonymousId"]); ok && anon != user {
				props[event.PropAnonID] = anon
			}
		}
	case "alias":
		ev.Event = event.CreateAlias
		prev, ok := idString(m["previousId"])
		if !ok {
			return badField(itemField(it.index, "previousId"), "missing")
		}
		props[event.PropAlias] = truncateRunes(prev, maxDistinctIDLen)
	case "group":
		return b.group(ev, it)
	case "":
		return badField(itemField(it.index, "type"), "missing")
	default:
		return badField(itemField(it.index, "type"), "unknown call type")
	}
	return nil
}

// group maps a Segment group call to $groupidentify of the configured
// group type, and tags the event with the group as PostHog does. The mark
// makes the loader link the person to the group: analytics.js does not
// repeat the group on later calls, posthog-js does (identity/grouplink.go).
func (b segmentBatch) group(ev *event.Event, it rawItem) *Error {
	key, ok := idString(it.m["groupId"])
	if !ok {
		return badField(itemField(it.index, "groupId"), "missing")
	}
	ev.Event = event.GroupIdentify
	ev.Properties[event.PropGroupType] = b.groupType
	ev.Properties[event.PropGroupKey] = key
	ev.Properties[event.PropSegmentGroup] = true
	if traits := objectField(it.m, "traits"); traits != nil {
		ev.Properties[event.PropGroupSet] = traits
	}
	setDefault(ev.Properties, event.PropGroups, map[string]any{b.groupType: key})
	return nil
}

// segmentDistinctID is userId, else anonymousId. Alias needs userId: it is
// the id that previousId is merged into.
func segmentDistinctID(it rawItem, typ string) (string, *Error) {
	if s, ok := idString(it.m["userId"]); ok {
		return truncateRunes(s, maxDistinctIDLen), nil
	}
	if typ == "alias" {
		return "", badField(itemField(it.index, "userId"), "missing")
	}
	if s, ok := idString(it.m["anonymousId"]); ok {
		return truncateRunes(s, maxDistinctIDLen), nil
	}
	return "", badField(itemField(it.index, "userId"), "missing, and no anonymousId either")
}

// timestamp is receivedAt − (sentAt − timestamp) when the client sent its
// clock, which cancels the client's clock error; else the timestamp as
// sent; else now.
func (b segmentBatch) timestamp(m map[string]any) time.Time {
	ts, ok := parseTime(m["timestamp"])
	if !ok {
		ts, ok = parseTime(m["originalTimestamp"])
	}
	if !ok {
		return b.now
	}
	sentAt, hasSent := parseTime(m["sentAt"])
	if !hasSent {
		sentAt, hasSent = b.sentAt, !b.sentAt.IsZero()
	}
	if hasSent {
		ts = skewCorrect(ts, sentAt, b.now)
	}
	return settle(ts, b.now)
}

// contextProps are the Segment context fields copied into PostHog's
// property names, so that insights and filters find them where PostHog SDK
// data has them.
var contextProps = []struct {
	path []string
	prop string
}{
	{[]string{"page", "url"}, "$current_url"},
	{[]string{"page", "path"}, "$pathname"},
	{[]string{"page", "referrer"}, "$referrer"},
	{[]string{"campaign", "source"}, "utm_source"},
	{[]string{"campaign", "medium"}, "utm_medium"},
	{[]string{"campaign", "name"}, "utm_campaign"},
	{[]string{"campaign", "term"}, "utm_term"},
	{[]string{"campaign", "content"}, "utm_content"},
	{[]string{"library", "name"}, "$lib"},
	{[]string{"library", "version"}, "$lib_version"},
	{[]string{"ip"}, "$ip"},
	{[]string{"userAgent"}, "$raw_user_agent"},
	{[]string{"os", "name"}, "$os"},
	{[]string{"os", "version"}, "$os_version"},
	{[]string{"locale"}, "$locale"},
}

// flattenContext copies the useful context fields into props, never over a
// property the client set itself. context.groupId (analytics.js adds it
// after a group call) tags the event with its group.
func flattenContext(props, ctx map[string]any, groupType string) {
	if ctx == nil {
		return
	}
	for _, c := range contextProps {
		if v, ok := lookupPath(ctx, c.path); ok {
			setDefault(props, c.prop, v)
		}
	}
	if key, ok := idString(ctx["groupId"]); ok {
		setDefault(props, event.PropGroups, map[string]any{groupType: key})
	}
}

func lookupPath(m map[string]any, path []string) (any, bool) {
	for i, k := range path {
		v, ok := m[k]
		if !ok || v == nil {
			return nil, false
		}
		if i == len(path)-1 {
			return v, true
		}
		if m, ok = v.(map[string]any); !ok {
			return nil, false
		}
	}
	return nil, false
}

// setDefault sets props[key] = v unless the key is set or v is nil.
func setDefault(props map[string]any, key string, v any) {
	if v == nil {
		return
	}
	if _, ok := props[key]; !ok {
		props[key] = v
	}
}
