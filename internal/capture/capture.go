// Package capture receives events over the PostHog capture API and the
// Segment HTTP tracking API, validates them, authenticates them by project
// token and hands them, normalized to event.Event, to a durable sink.
//
// The decoders (DecodePostHog, DecodeSegment) are pure functions of the
// request so that they can be fuzzed; the HTTP handler adds I/O around them:
// reading the body, resolving the token, rate limiting and the sink.
package capture

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"time"

	"github.com/journey-dev/journey/internal/enrich"
	"github.com/journey-dev/journey/internal/event"
)

// Projects resolves a public project token to a project id.
type Projects interface {
	ProjectByToken(ctx context.Context, token string) (id int64, ok bool, err error)
}

// IPModes may be implemented by a Projects that knows what each project
// keeps of a client's address: enrich.IPKeep, IPTruncate or IPDrop (the
// project's meta.SDKSettings.IP), read with the token and cached as long,
// so that capture asks nothing more per event. Without it, addresses are
// kept. An error fails the request as retryable: storing an address the
// project asked to drop cannot be undone.
type IPModes interface {
	IPMode(ctx context.Context, token string) (string, error)
}

// Sink appends a batch durably; it returns only once the batch is durable.
type Sink interface {
	Append(ctx context.Context, b event.Batch) error
}

// ErrOverloaded may be returned by a Sink; the handler answers 503 (retryable).
var ErrOverloaded = errors.New("capture: overloaded")

// Options tune the capture handler.
type Options struct {
	// RateLimit is in events per second per project token; 0 means unlimited.
	// The bucket holds 2×RateLimit events, so short bursts pass.
	RateLimit float64
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// GroupType is the group type that Segment `group` calls create;
	// "" means "company".
	GroupType string
	// BodyTimeout bounds the time a client may take to send one body, so
	// that slow senders cannot hold connections and buffers; past it, 408
	// and the connection is closed. 0 means DefaultBodyTimeout. It needs a
	// ResponseWriter that supports read deadlines (net/http's does).
	BodyTimeout time.Duration
	// ClientBodies caps the bodies one client address may be sending at
	// once; past it, 429 without reading. 0 means DefaultClientBodies.
	ClientBodies int
	// BodyMemory caps the bytes the bodies being received buffer together;
	// past it, 503. 0 means DefaultBodyMemory.
	BodyMemory int64
	// TrustedProxies are the load balancers whose X-Forwarded-For names the
	// client for ClientBodies and $ip; without them the TCP peer is the
	// client.
	TrustedProxies []netip.Prefix
	// GeoIP, when set, adds $geoip_* properties from the client's address.
	GeoIP *enrich.GeoIP
}

// DefaultGroupType is the group type of Segment `group` calls when
// Options.GroupType is empty.
const DefaultGroupType = "company"

// Request is what the decoders read: everything about an HTTP request that
// matters, with the body already read (and still compressed).
type Request struct {
	Path   string
	Query  url.Values
	Header http.Header
	Body   []byte
	Now    time.Time
	// GroupType is the group type for Segment `group` calls; "" means
	// DefaultGroupType. The PostHog decoder ignores it.
	GroupType string
}

// Decoded is the outcome of decoding one request: the valid events, in
// order, and the invalid ones, which are reported but not stored. Invalid
// events of a batch (a bare array or a `batch` field) are named batch[i];
// the fields of a single-event body are named bare ("distinct_id").
type Decoded struct {
	Token   string
	Events  []event.Event
	Invalid []*Error
	// Beacon asks for 204 instead of 200 on success (navigator.sendBeacon
	// ignores the body anyway).
	Beacon bool
}

// Error is a client error: Status is 400, 401 or 413, Field names the part
// of the request at fault (e.g. "batch[3].distinct_id"), Msg says what is
// wrong with it.
type Error struct {
	Status int
	Field  string
	Msg    string
}

// Error reads like `invalid field "batch[3].distinct_id": missing`, or is
// just Msg when the fault is not in one field (malformed JSON, body size).
func (e *Error) Error() string {
	if e.Field == "" {
		return e.Msg
	}
	return fmt.Sprintf("invalid field %q: %s", e.Field, e.Msg)
}

func badField(field, msg string) *Error {
	return &Error{Status: http.StatusBadRequest, Field: field, Msg: msg}
}

func badRequest(format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Msg: fmt.Sprintf(format, args...)}
}

func unauthorized(field, msg string) *Error {
	return &Error{Status: http.StatusUnauthorized, Field: field, Msg: msg}
}

func tooLarge(format string, args ...any) *Error {
	return &Error{Status: http.StatusRequestEntityTooLarge, Msg: fmt.Sprintf(format, args...)}
}

// Limits, from SPEC §3 and what PostHog and Segment enforce themselves, so
// that SDKs see the answers they were written for (posthog-node halves a
// batch on 413).
const (
	maxPostHogEvent      = 1 << 20  // one event, as JSON
	maxPostHogBatchBody  = 20 << 20 // /batch body
	maxPostHogSingleBody = 2 << 20  // the other PostHog routes
	maxPostHogDecoded    = 20 << 20 // any PostHog body after decompression
	maxSegmentCall       = 32 << 10 // one Segment call, as JSON
	maxSegmentBatch      = 500 << 10
	maxDistinctIDLen     = 200 // PostHog truncates longer ids; so do we
)

// PostHog capture paths, without the trailing slash.
var postHogPaths = []string{"/e", "/i/v0/e", "/batch", "/capture", "/track", "/engage"}

// Segment paths and the call type each implies ("batch" for batches).
var segmentPaths = map[string]string{
	"/v1/track": "track", "/v1/t": "track",
	"/v1/identify": "identify", "/v1/i": "identify",
	"/v1/page": "page", "/v1/p": "page",
	"/v1/screen": "screen", "/v1/s": "screen",
	"/v1/group": "group", "/v1/g": "group",
	"/v1/alias": "alias", "/v1/a": "alias",
	"/v1/batch": "batch", "/v1/b": "batch",
}

// Routes lists the capture paths (without trailing slash) so the main router
// can mount them; each is served with and without the trailing slash
// (settingsPrefix + "/" is the subtree of Segment's settings route).
var Routes = func() []string {
	r := append([]string(nil), postHogPaths...)
	for _, long := range []string{"track", "identify", "page", "screen", "group", "alias", "batch"} {
		r = append(r, "/v1/"+long, "/v1/"+long[:1])
	}
	return append(r, settingsPrefix)
}()
