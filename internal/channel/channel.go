package channel

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Message is one rendered message to one person. Subject, Body, HTML and
// URL are final text (rendered with Render and the channel's escaper);
// the Sender does not template them again.
type Message struct {
	// Key is the idempotency key (see NewKey and the package doc): the
	// same on every attempt of one message, different for every message.
	// It must match ValidKey: 1–128 characters of [A-Za-z0-9_-], so that
	// it is usable verbatim as a webhook-id (no "."), in a Message-ID and
	// as a header value.
	Key string

	CampaignID  int64
	PersonID    int64
	DistinctID  string
	Variant     string // the variant's name
	TriggerUUID string // the uuid of the event that triggered the send ("" for a broadcast)

	Subject string // email subject, push title, webhook "subject"
	Body    string // plain text: email text part, push body, webhook "body"
	// HTML is the email's HTML part, rendered with EscapeHTML. When
	// empty, the email sender makes one from Body (escaped, line breaks
	// kept) and a link to URL.
	HTML string
	URL  string // the click URL (the tracking redirect /c/{token}); http or https

	To   string            // email: the recipient's address
	Push *PushSubscription // Web Push: the browser's subscription
	// Unsubscribe is the one-click unsubscribe URL: an email's
	// List-Unsubscribe (https for RFC 8058), a webhook's "unsubscribe".
	Unsubscribe string
}

// Outcome is what one attempt did. Exactly one of Delivered, Retry and
// Permanent is true. See the package doc for which statuses map where.
type Outcome struct {
	Delivered bool
	// Retry: a transient failure; try again later with the same Key.
	Retry bool
	// RetryAfter is the receiver's Retry-After (capped at MaxRetryAfter),
	// zero when it sent none; NextDelay never waits less than this.
	RetryAfter time.Duration
	// SlowDown (with Retry): the receiver asks to be sent less (429,
	// 502, 504); the scheduler should throttle the whole endpoint.
	SlowDown bool
	// Permanent: retrying this message cannot succeed.
	Permanent bool
	// Disable (with Permanent): the endpoint is gone (webhook 410, push
	// 404/410, SMTP 5.1.x); stop sending to it.
	Disable bool
	// Status is the HTTP status or SMTP reply code, 0 when none came.
	Status int
	// Err says why the message was not delivered (nil when delivered).
	Err error
}

func (o Outcome) String() string {
	var b strings.Builder
	switch {
	case o.Delivered:
		b.WriteString("delivered")
	case o.Retry:
		b.WriteString("retry")
		if o.SlowDown {
			b.WriteString(" (slow down)")
		}
		if o.RetryAfter > 0 {
			b.WriteString(" after " + o.RetryAfter.String())
		}
	case o.Disable:
		b.WriteString("permanent failure, endpoint disabled")
	case o.Permanent:
		b.WriteString("permanent failure")
	default:
		b.WriteString("no outcome")
	}
	if o.Status != 0 {
		b.WriteString(" [" + strconv.Itoa(o.Status) + "]")
	}
	if o.Err != nil {
		b.WriteString(": " + o.Err.Error())
	}
	return b.String()
}

// Sender makes one delivery attempt of m. It is safe for concurrent use,
// never retries by itself and never panics on a hostile receiver. ctx
// bounds the attempt (each sender also has its own timeout).
type Sender interface {
	Send(ctx context.Context, m Message) Outcome
}

// SenderFunc adapts a function to Sender.
type SenderFunc func(ctx context.Context, m Message) Outcome

func (f SenderFunc) Send(ctx context.Context, m Message) Outcome { return f(ctx, m) }

// Errors wrapped by Outcome.Err.
var (
	ErrBadKey       = errors.New("channel: bad message key")
	ErrBadMessage   = errors.New("channel: bad message")
	ErrForbiddenURL = errors.New("channel: URL not allowed")
	// ErrForbiddenAddress is wrapped when the SSRF guard refuses to
	// connect to an address.
	ErrForbiddenAddress = errors.New("channel: address not allowed")
)

func permanent(status int, err error) Outcome {
	return Outcome{Permanent: true, Status: status, Err: err}
}

func retry(status int, err error) Outcome {
	return Outcome{Retry: true, Status: status, Err: err}
}

// MaxKeyLen is the longest valid Message.Key.
const MaxKeyLen = 128

// ValidKey reports whether k can be a Message.Key: 1 to MaxKeyLen
// characters of A–Z, a–z, 0–9, "_" and "-".
func ValidKey(k string) bool {
	if len(k) == 0 || len(k) > MaxKeyLen {
		return false
	}
	for i := 0; i < len(k); i++ {
		if !keyChar(k[i]) {
			return false
		}
	}
	return true
}

func keyChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

func checkKey(k string) error {
	if !ValidKey(k) {
		return fmt.Errorf("%w %q: want 1–%d characters of [A-Za-z0-9_-]", ErrBadKey, k, MaxKeyLen)
	}
	return nil
}

// NewKey is the idempotency key of the message of campaignID to personID
// for the trigger event triggerUUID ("" for a broadcast) and the
// variant: "msg_<campaign>_<person>_<trigger>_<variant>", where trigger
// is the uuid in its canonical form (or "none", or "h" and 16 hex digits
// of SHA-256 when it is not a uuid) and variant is "v" and the name when
// the name is 1–32 characters of [A-Za-z0-9-], "h" and 16 hex digits of
// its SHA-256 otherwise. Distinct tuples give distinct keys (up to
// 64-bit hash collisions of odd names), the same tuple always the same
// key, and the key is always ValidKey. Compute it once when the send is
// scheduled and store it: the person id may change later by a merge.
func NewKey(campaignID, personID int64, triggerUUID, variant string) string {
	var trig string
	switch u, err := uuid.Parse(triggerUUID); {
	case triggerUUID == "":
		trig = "none"
	case err == nil:
		trig = u.String()
	default:
		trig = "h" + shortHash(triggerUUID)
	}
	v := "v" + variant
	if len(variant) == 0 || len(variant) > 32 || strings.ContainsFunc(variant, func(r rune) bool {
		return r >= 0x80 || r == '_' || !keyChar(byte(r))
	}) {
		v = "h" + shortHash(variant)
	}
	return "msg_" + strconv.FormatInt(campaignID, 10) + "_" + strconv.FormatInt(personID, 10) + "_" + trig + "_" + v
}

func shortHash(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:8])
}

// MaxAttempts is the number of attempts of the retry schedule.
const MaxAttempts = 10

// MaxRetryAfter caps a receiver's Retry-After.
const MaxRetryAfter = 24 * time.Hour

// retrySchedule is Standard Webhooks 1.0's example schedule: the delay
// before each attempt, counted from the failure of the previous one.
var retrySchedule = [MaxAttempts]time.Duration{
	0,
	5 * time.Second,
	5 * time.Minute,
	30 * time.Minute,
	2 * time.Hour,
	5 * time.Hour,
	10 * time.Hour,
	14 * time.Hour,
	20 * time.Hour,
	24 * time.Hour,
}

// RetryDelay is how long to wait before attempt number attempt (1 is the
// first attempt), counted from the failure of the previous attempt: at
// once, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h (about 75.5 h
// in all). ok is false past the last attempt (and for attempt < 1).
func RetryDelay(attempt int) (d time.Duration, ok bool) {
	if attempt < 1 || attempt > MaxAttempts {
		return 0, false
	}
	return retrySchedule[attempt-1], true
}

// NextDelay is how long to wait after attempt number attempt ended with
// o before making the next one: the schedule's delay, or the receiver's
// Retry-After when that is longer. ok is false when o is not a Retry or
// the schedule is exhausted (the message has failed for good).
func NextDelay(attempt int, o Outcome) (d time.Duration, ok bool) {
	if !o.Retry {
		return 0, false
	}
	d, ok = RetryDelay(attempt + 1)
	if !ok {
		return 0, false
	}
	return max(d, o.RetryAfter), true
}

// Jitter adds up to a tenth of d, at random, so that retries of many
// messages that failed together do not come back together.
func Jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return d
	}
	return d + time.Duration(rand.Int64N(int64(d)/10+1))
}

// Deliver sends m with s and retries it on the schedule (NextDelay) until
// it is delivered, fails for good, maxAttempts attempts were made or ctx
// ends. wait sleeps between attempts (nil: a timer that ctx cancels). It
// returns the last outcome and the number of attempts made. Deliver is
// for synchronous sends such as a test send to oneself; campaigns keep
// their retries in the durable schedule instead.
func Deliver(ctx context.Context, s Sender, m Message, maxAttempts int, wait func(context.Context, time.Duration) error) (Outcome, int) {
	if wait == nil {
		wait = sleep
	}
	var o Outcome
	for attempt := 1; ; attempt++ {
		o = s.Send(ctx, m)
		if attempt >= maxAttempts {
			return o, attempt
		}
		d, ok := NextDelay(attempt, o)
		if !ok {
			return o, attempt
		}
		if err := wait(ctx, d); err != nil {
			return o, attempt
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
