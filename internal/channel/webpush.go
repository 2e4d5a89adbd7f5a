package channel

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	webpush "github.com/SherClockHolmes/webpush-go"
)

// PushSubscription is a browser's PushSubscription as its toJSON() gives
// it: {"endpoint", "expirationTime", "keys": {"p256dh", "auth"}}.
type PushSubscription struct {
	Endpoint string   `json:"endpoint"`
	Keys     PushKeys `json:"keys"`
}

// PushKeys are the subscription's keys, base64url (padded or not).
type PushKeys struct {
	P256dh string `json:"p256dh"` // the browser's P-256 public key, uncompressed (65 bytes)
	Auth   string `json:"auth"`   // the 16-byte authentication secret
}

// ErrBadSubscription is wrapped for a subscription that cannot be used.
var ErrBadSubscription = errors.New("channel: bad push subscription")

// ParsePushSubscription reads and validates a subscription's JSON (what
// a browser posts to the subscription endpoint); see Validate.
func ParsePushSubscription(b []byte, allowPrivate bool) (*PushSubscription, error) {
	var s PushSubscription
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadSubscription, err)
	}
	if err := s.Validate(allowPrivate); err != nil {
		return nil, err
	}
	return &s, nil
}

// Validate checks that the endpoint is an https URL that CheckURL allows
// (http too when allowPrivate), that p256dh is a P-256 public key and
// that auth is 16 bytes.
func (s *PushSubscription) Validate(allowPrivate bool) error {
	u, err := CheckURL(s.Endpoint, allowPrivate)
	if err != nil {
		return fmt.Errorf("%w: endpoint: %w", ErrBadSubscription, err)
	}
	if u.Scheme != "https" && !allowPrivate {
		return fmt.Errorf("%w: endpoint must be https", ErrBadSubscription)
	}
	if len(s.Endpoint) > 2048 {
		return fmt.Errorf("%w: endpoint longer than 2048 bytes", ErrBadSubscription)
	}
	pub, err := decodeB64URL(s.Keys.P256dh)
	if err != nil {
		return fmt.Errorf("%w: p256dh: %v", ErrBadSubscription, err)
	}
	if _, err := ecdh.P256().NewPublicKey(pub); err != nil || len(pub) != 65 {
		return fmt.Errorf("%w: p256dh is not an uncompressed P-256 public key", ErrBadSubscription)
	}
	auth, err := decodeB64URL(s.Keys.Auth)
	if err != nil || len(auth) != 16 {
		return fmt.Errorf("%w: auth must be 16 bytes of base64url", ErrBadSubscription)
	}
	return nil
}

// decodeB64URL decodes base64url with or without padding (and, as
// webpush-go does, standard base64).
func decodeB64URL(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	if b, err := base64.RawURLEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	return base64.RawStdEncoding.DecodeString(s)
}

// VAPIDKeys are the application server's key pair (RFC 8292), base64url
// without padding: Public is the uncompressed P-256 point (65 bytes; the
// applicationServerKey that browsers subscribe with), Private the 32-byte
// scalar. Keep Private secret.
type VAPIDKeys struct {
	Public  string `json:"public"`
	Private string `json:"private"`
}

// GenerateVAPIDKeys makes a new key pair.
func GenerateVAPIDKeys() (VAPIDKeys, error) {
	k, err := ecdh.P256().GenerateKey(nil)
	if err != nil {
		return VAPIDKeys{}, err
	}
	return VAPIDKeys{
		Public:  base64.RawURLEncoding.EncodeToString(k.PublicKey().Bytes()),
		Private: base64.RawURLEncoding.EncodeToString(k.Bytes()),
	}, nil
}

// LoadVAPIDKeys checks a stored key pair: both decode, the private key is
// a P-256 scalar and the public key is its point. The keys come back
// re-encoded as base64url without padding.
func LoadVAPIDKeys(public, private string) (VAPIDKeys, error) {
	priv, err := decodeB64URL(strings.TrimSpace(private))
	if err != nil {
		return VAPIDKeys{}, fmt.Errorf("channel: VAPID private key: %v", err)
	}
	k, err := ecdh.P256().NewPrivateKey(priv)
	if err != nil {
		return VAPIDKeys{}, fmt.Errorf("channel: VAPID private key: %v", err)
	}
	pub, err := decodeB64URL(strings.TrimSpace(public))
	if err != nil {
		return VAPIDKeys{}, fmt.Errorf("channel: VAPID public key: %v", err)
	}
	if !bytes.Equal(pub, k.PublicKey().Bytes()) {
		return VAPIDKeys{}, errors.New("channel: VAPID public key is not the private key's")
	}
	return VAPIDKeys{
		Public:  base64.RawURLEncoding.EncodeToString(pub),
		Private: base64.RawURLEncoding.EncodeToString(priv),
	}, nil
}

// PushPayload is the JSON a push carries (encrypted) to the service
// worker (see ServiceWorker), a contract: {"title","body","url","key"}.
type PushPayload struct {
	Title string `json:"title"`
	Body  string `json:"body"`
	URL   string `json:"url"`
	Key   string `json:"key"`
}

// MaxPushPayload bounds the plaintext payload. One aes128gcm record of
// webpush-go's 4096 bytes holds 3993 bytes of plaintext; this leaves
// room.
const MaxPushPayload = 3072

// PushPayloadOf is the payload sent for m: the subject as title (one
// line, at most 200 runes), the body (cut further until the JSON fits
// in MaxPushPayload bytes), the URL and the key.
func PushPayloadOf(m Message) ([]byte, error) {
	if len(m.URL) > 1024 {
		return nil, fmt.Errorf("%w: push URL longer than 1024 bytes", ErrBadMessage)
	}
	p := PushPayload{Title: Bounded(200)(EscapeLine(m.Subject)), Body: EscapeText(m.Body), URL: m.URL, Key: m.Key}
	for {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(p); err != nil {
			return nil, err
		}
		b := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
		if len(b) <= MaxPushPayload {
			return b, nil
		}
		n := utf8.RuneCountInString(p.Body)
		if n == 0 {
			return nil, fmt.Errorf("%w: push payload too large", ErrBadMessage)
		}
		p.Body = Bounded(n * 3 / 4)(strings.TrimSuffix(p.Body, "…"))
	}
}

// TopicOf is the push Topic (RFC 8030 §5.4: at most 32 characters of the
// URL-safe base64 alphabet) of the message with key: the first 32
// characters of the base64url SHA-256 of the key. A push service keeps
// only the newest undelivered message of a topic, so a re-delivery
// replaces rather than adds.
func TopicOf(key string) string {
	h := sha256.Sum256([]byte(key))
	return base64.RawURLEncoding.EncodeToString(h[:])[:32]
}

// WebPushConfig configures the Web Push channel.
type WebPushConfig struct {
	Keys VAPIDKeys
	// Subject is the VAPID "sub" claim: a contact for the push service,
	// "mailto:ops@shop.example" or an https URL. Required.
	Subject string
	// TTL is how long the push service keeps a message for a browser
	// that is offline (whole seconds; 0 means the default, 24 h).
	TTL time.Duration
	// NoTTL sends "TTL: 0": deliver now or drop.
	NoTTL bool
	// Urgency is "very-low", "low", "normal" (default) or "high".
	Urgency string
	Client  *HTTPClient // required; shared with webhooks
}

// WebPush sends notifications to browsers' push subscriptions with
// webpush-go: RFC 8291 aes128gcm encryption, RFC 8292 VAPID
// authentication, a Topic derived from the key, TTL and Urgency. It is
// safe for concurrent use.
type WebPush struct {
	cfg     WebPushConfig
	sub     string
	ttl     int
	urgency webpush.Urgency
	doer    webpush.HTTPClient
}

// NewWebPush checks cfg and makes the sender.
func NewWebPush(cfg WebPushConfig) (*WebPush, error) {
	if cfg.Client == nil {
		return nil, errors.New("channel: NewWebPush needs an HTTPClient")
	}
	keys, err := LoadVAPIDKeys(cfg.Keys.Public, cfg.Keys.Private)
	if err != nil {
		return nil, err
	}
	cfg.Keys = keys
	var sub string
	switch {
	case strings.HasPrefix(cfg.Subject, "mailto:") && len(cfg.Subject) > len("mailto:"):
		// webpush-go adds "mailto:" to any subject that is not https.
		sub = strings.TrimPrefix(cfg.Subject, "mailto:")
	case strings.HasPrefix(cfg.Subject, "https://"):
		if u, err := url.Parse(cfg.Subject); err != nil || u.Host == "" {
			return nil, fmt.Errorf("channel: VAPID subject %q", cfg.Subject)
		}
		sub = cfg.Subject
	default:
		return nil, fmt.Errorf("channel: VAPID subject %q: want mailto: or https:", cfg.Subject)
	}
	ttl := 24 * 60 * 60
	if cfg.TTL > 0 {
		ttl = max(1, int(cfg.TTL/time.Second))
	}
	if cfg.NoTTL {
		ttl = 0
	}
	urgency := webpush.UrgencyNormal
	switch cfg.Urgency {
	case "", "normal":
	case "very-low", "low", "high":
		urgency = webpush.Urgency(cfg.Urgency)
	default:
		return nil, fmt.Errorf("channel: push urgency %q", cfg.Urgency)
	}
	return &WebPush{cfg: cfg, sub: sub, ttl: ttl, urgency: urgency, doer: uaDoer{cfg.Client}}, nil
}

type uaDoer struct{ c *HTTPClient }

func (d uaDoer) Do(r *http.Request) (*http.Response, error) {
	r.Header.Set("User-Agent", UserAgent)
	return d.c.Do(r)
}

// Send makes one attempt: the encrypted PushPayloadOf(m) POSTed to the
// subscription's endpoint. 2xx (201 Created) is Delivered; 404 and 410
// mean the subscription is gone (Disable); 429 slows down; 5xx and
// transport failures are retried; other 4xx (400 bad request, 401/403
// VAPID refused, 413 too large) are permanent.
func (p *WebPush) Send(ctx context.Context, m Message) Outcome {
	if err := checkKey(m.Key); err != nil {
		return permanent(0, err)
	}
	if m.Push == nil {
		return permanent(0, fmt.Errorf("%w: no push subscription", ErrBadMessage))
	}
	if err := m.Push.Validate(p.cfg.Client.allowPrivate); err != nil {
		o := permanent(0, err)
		o.Disable = true
		return o
	}
	payload, err := PushPayloadOf(m)
	if err != nil {
		return permanent(0, err)
	}
	u, _ := url.Parse(m.Push.Endpoint)
	resp, err := webpush.SendNotificationWithContext(ctx, payload, &webpush.Subscription{
		Endpoint: m.Push.Endpoint,
		Keys:     webpush.Keys{Auth: m.Push.Keys.Auth, P256dh: m.Push.Keys.P256dh},
	}, &webpush.Options{
		HTTPClient:      p.doer,
		Subscriber:      p.sub,
		Topic:           TopicOf(m.Key),
		TTL:             p.ttl,
		Urgency:         p.urgency,
		VAPIDPublicKey:  p.cfg.Keys.Public,
		VAPIDPrivateKey: p.cfg.Keys.Private,
	})
	if err != nil {
		if errors.Is(err, webpush.ErrMaxPadExceeded) {
			return permanent(0, fmt.Errorf("%w: %v", ErrBadMessage, err))
		}
		return transportOutcome("push", u.Host, err)
	}
	return responseOutcome("push", u.Host, resp, true, time.Now())
}

//go:embed sw.js
var serviceWorker []byte

// ServiceWorkerContentType is the Content-Type to serve ServiceWorker
// with.
const ServiceWorkerContentType = "text/javascript; charset=utf-8"

// ServiceWorker is the service worker script that shows a campaign's
// push (PushPayload) as a notification, tagged with the message key so
// a duplicate replaces rather than adds, and opens its URL (http or
// https only) on click. A page registers it from its own origin
// (navigator.serviceWorker.register("/sw.js")) and subscribes with the
// VAPID public key as applicationServerKey.
func ServiceWorker() []byte { return bytes.Clone(serviceWorker) }
