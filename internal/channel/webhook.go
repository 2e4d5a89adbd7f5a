package channel

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Standard Webhooks 1.0 headers.
const (
	HeaderWebhookID        = "webhook-id"
	HeaderWebhookTimestamp = "webhook-timestamp"
	HeaderWebhookSignature = "webhook-signature"
)

// SecretPrefix starts every Standard Webhooks symmetric secret.
const SecretPrefix = "whsec_"

// Secret sizes (decoded bytes) that ParseSecret accepts.
const (
	MinSecretBytes = 24
	MaxSecretBytes = 64
)

// ErrBadSecret is returned for a secret that is not whsec_ and the
// standard base64 of 24–64 bytes.
var ErrBadSecret = errors.New("channel: bad webhook secret")

// NewSecret makes a random signing secret: "whsec_" and the standard
// base64 of 32 random bytes.
func NewSecret() string {
	b := make([]byte, 32)
	rand.Read(b) // crypto/rand.Read never fails
	return SecretPrefix + base64.StdEncoding.EncodeToString(b)
}

// ParseSecret is the HMAC key of a whsec_ secret: its base64-decoded
// bytes, 24 to 64 of them. The prefix may be left out, as the Standard
// Webhooks libraries allow; padding may be too.
func ParseSecret(secret string) ([]byte, error) {
	s := strings.TrimPrefix(strings.TrimSpace(secret), SecretPrefix)
	key, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		key, err = base64.RawStdEncoding.DecodeString(s)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: not base64", ErrBadSecret)
	}
	if len(key) < MinSecretBytes || len(key) > MaxSecretBytes {
		return nil, fmt.Errorf("%w: %d bytes, want %d–%d", ErrBadSecret, len(key), MinSecretBytes, MaxSecretBytes)
	}
	return key, nil
}

// Sign is the Standard Webhooks v1 signature of a delivery:
// "v1," and the standard base64 of HMAC-SHA256(key, id "." timestamp "." body).
func Sign(key []byte, id string, timestamp int64, body []byte) string {
	return "v1," + base64.StdEncoding.EncodeToString(signature(key, id, timestamp, body))
}

func signature(key []byte, id string, timestamp int64, body []byte) []byte {
	mac := hmac.New(sha256.New, key)
	var ts [20]byte
	mac.Write([]byte(id))
	mac.Write([]byte{'.'})
	mac.Write(strconv.AppendInt(ts[:0], timestamp, 10))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return mac.Sum(nil)
}

// ErrBadSignature is returned by Verify.
var ErrBadSignature = errors.New("channel: webhook signature does not verify")

// Verify checks a received webhook as a Standard Webhooks receiver does:
// the three headers are present, the timestamp is within tolerance of
// now (either way), and one of the space-separated v1 signatures equals
// the expected one (compared in constant time). Journey only sends
// webhooks; Verify serves receivers written in Go (the demo's, tests).
func Verify(key []byte, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	id, tsText, sigs := h.Get(HeaderWebhookID), h.Get(HeaderWebhookTimestamp), h.Get(HeaderWebhookSignature)
	if id == "" || tsText == "" || sigs == "" {
		return fmt.Errorf("%w: missing headers", ErrBadSignature)
	}
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: bad timestamp", ErrBadSignature)
	}
	if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: timestamp out of tolerance", ErrBadSignature)
	}
	want := signature(key, id, ts, body)
	for _, s := range strings.Fields(sigs) {
		v, b64, ok := strings.Cut(s, ",")
		if !ok || v != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(b64)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return ErrBadSignature
}

// WebhookPayload is the JSON body of a campaign webhook (a contract:
// receivers parse it). It is the same on every attempt of one message.
type WebhookPayload struct {
	Type        string `json:"type"` // always "message"
	CampaignID  int64  `json:"campaign_id"`
	PersonID    int64  `json:"person_id"`
	DistinctID  string `json:"distinct_id"`
	Variant     string `json:"variant"`
	TriggerUUID string `json:"trigger_uuid"`
	Subject     string `json:"subject"`
	Body        string `json:"body"`
	URL         string `json:"url"`
	// Unsubscribe is the recipient's unsubscribe URL (/u/{token}) when
	// the message offers one (a message to a customer that the receiver
	// relays); absent otherwise.
	Unsubscribe string `json:"unsubscribe,omitempty"`
}

// MaxWebhookBody bounds the webhook body (Standard Webhooks recommends
// keeping payloads under 20 kB; copy beyond this is a template bug).
const MaxWebhookBody = 64 << 10

// WebhookBody is the JSON body sent for m.
func WebhookBody(m Message) ([]byte, error) {
	if m.Unsubscribe != "" {
		if u, err := url.Parse(m.Unsubscribe); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, fmt.Errorf("%w: unsubscribe URL %q", ErrBadMessage, m.Unsubscribe)
		}
	}
	b, err := json.Marshal(WebhookPayload{
		Type: "message", CampaignID: m.CampaignID, PersonID: m.PersonID, DistinctID: m.DistinctID,
		Variant: m.Variant, TriggerUUID: m.TriggerUUID, Subject: m.Subject, Body: m.Body, URL: m.URL,
		Unsubscribe: m.Unsubscribe,
	})
	if err != nil {
		return nil, err
	}
	if len(b) > MaxWebhookBody {
		return nil, fmt.Errorf("%w: webhook body of %d bytes, at most %d", ErrBadMessage, len(b), MaxWebhookBody)
	}
	return b, nil
}

// Webhook sends messages to one Standard Webhooks endpoint. It is safe
// for concurrent use.
type Webhook struct {
	url    string
	host   string
	key    []byte
	client *HTTPClient
	// Now is the clock of webhook-timestamp (time.Now when nil).
	Now func() time.Time
}

// UserAgent is sent with webhooks and pushes.
const UserAgent = "Journey-Webhooks/1.0"

// NewWebhook is the sender for the endpoint rawURL signed with secret
// (whsec_…), sending through client (shared by all senders; see
// NewHTTPClient). The URL is checked with CheckURL under the client's
// AllowPrivate.
func NewWebhook(rawURL, secret string, client *HTTPClient) (*Webhook, error) {
	if client == nil {
		return nil, errors.New("channel: NewWebhook needs an HTTPClient")
	}
	u, err := CheckURL(rawURL, client.allowPrivate)
	if err != nil {
		return nil, err
	}
	key, err := ParseSecret(secret)
	if err != nil {
		return nil, err
	}
	return &Webhook{url: u.String(), host: u.Host, key: key, client: client}, nil
}

// Send makes one attempt: a POST of WebhookBody(m) with webhook-id =
// m.Key (the same on every attempt), webhook-timestamp = now (each
// attempt is signed anew) and webhook-signature. See the package doc for
// how statuses map to outcomes.
func (w *Webhook) Send(ctx context.Context, m Message) Outcome {
	if err := checkKey(m.Key); err != nil {
		return permanent(0, err)
	}
	body, err := WebhookBody(m)
	if err != nil {
		return permanent(0, err)
	}
	now := time.Now
	if w.Now != nil {
		now = w.Now
	}
	ts := now().Unix()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return permanent(0, err)
	}
	req.Header = http.Header{
		"Content-Type": {"application/json"},
		"User-Agent":   {UserAgent},
		// Lower-case names as the spec writes them; HTTP/1 sends them as
		// set here, HTTP/2 lower-cases every name anyway.
		HeaderWebhookID:        {m.Key},
		HeaderWebhookTimestamp: {strconv.FormatInt(ts, 10)},
		HeaderWebhookSignature: {Sign(w.key, m.Key, ts, body)},
	}
	resp, err := w.client.Do(req)
	if err != nil {
		return transportOutcome("webhook", w.host, err)
	}
	return responseOutcome("webhook", w.host, resp, false, now())
}

// MaxResponseRead bounds how much of a response body is read (to reuse
// the connection) before it is closed.
const MaxResponseRead = 64 << 10

// transportOutcome classifies a failed request: a refused address or URL
// is permanent, everything else (timeouts, resets, refused connections,
// TLS failures, a cancelled ctx) is retried.
func transportOutcome(what, host string, err error) Outcome {
	if errors.Is(err, ErrForbiddenAddress) || errors.Is(err, ErrForbiddenURL) {
		return permanent(0, fmt.Errorf("%s to %s: %w", what, host, unwrapURLError(err)))
	}
	return retry(0, fmt.Errorf("%s to %s: %w", what, host, unwrapURLError(err)))
}

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// responseOutcome reads at most MaxResponseRead bytes of resp, closes it
// and classifies its status. push selects the Web Push (RFC 8030)
// reading: 404 also means the subscription is gone.
func responseOutcome(what, host string, resp *http.Response, push bool, now time.Time) Outcome {
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	io.Copy(io.Discard, io.LimitReader(resp.Body, MaxResponseRead))
	resp.Body.Close()
	st := resp.StatusCode
	if st >= 200 && st < 300 {
		return Outcome{Delivered: true, Status: st}
	}
	err := fmt.Errorf("%s to %s answered %d %s%s", what, host, st, http.StatusText(st), quoteSnippet(snippet))
	ra := retryAfter(resp.Header.Get("Retry-After"), now)
	switch {
	case st == http.StatusGone || push && st == http.StatusNotFound:
		o := permanent(st, err)
		o.Disable = true
		return o
	case st == http.StatusTooManyRequests || st == http.StatusBadGateway || st == http.StatusGatewayTimeout:
		o := retry(st, err)
		o.SlowDown, o.RetryAfter = true, ra
		return o
	case st == http.StatusRequestTimeout || st == http.StatusTooEarly || st >= 500 && st < 600:
		o := retry(st, err)
		o.RetryAfter = ra
		return o
	case st >= 300 && st < 500:
		// 3xx: redirects are never followed, and the next attempt would be
		// redirected again; the URL must be changed. Other 4xx: the
		// receiver refuses this request as it is.
		return permanent(st, err)
	default:
		return retry(st, err)
	}
}

func quoteSnippet(b []byte) string {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return ""
	}
	if len(b) > 200 {
		b = b[:200]
	}
	return ": " + strconv.QuoteToASCII(string(b))
}

// retryAfter parses a Retry-After value (delay-seconds or an HTTP date),
// capped at MaxRetryAfter; 0 when absent or unreadable.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		if n > int64(MaxRetryAfter/time.Second) {
			return MaxRetryAfter
		}
		d = time.Duration(n) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), MaxRetryAfter)
}
