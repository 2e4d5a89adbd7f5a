package channel

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	webpush "github.com/SherClockHolmes/webpush-go"

	"github.com/journey-dev/journey/internal/testutil"
)

// decryptAES128GCM is what a browser does with a push body (RFC 8291
// with RFC 8188's aes128gcm coding), written with the standard library
// only: the ECDH secret of the browser's private key and the sender's
// one-time public key (the header's keyid), HKDF with the auth secret,
// then AES-128-GCM and the padding delimiter.
func decryptAES128GCM(body []byte, ua *ecdh.PrivateKey, auth []byte) (plain, senderKey []byte, err error) {
	if len(body) < 21 {
		return nil, nil, errors.New("short body")
	}
	salt, rs, idlen := body[:16], binary.BigEndian.Uint32(body[16:20]), int(body[20])
	if len(body) < 21+idlen || rs < 18 {
		return nil, nil, errors.New("bad header")
	}
	keyid, ct := body[21:21+idlen], body[21+idlen:]
	if len(ct) > int(rs) {
		return nil, nil, errors.New("more than one record")
	}
	as, err := ecdh.P256().NewPublicKey(keyid)
	if err != nil {
		return nil, nil, fmt.Errorf("keyid: %w", err)
	}
	secret, err := ua.ECDH(as)
	if err != nil {
		return nil, nil, err
	}
	info := "WebPush: info\x00" + string(ua.PublicKey().Bytes()) + string(keyid)
	ikm, err := hkdf.Key(sha256.New, secret, auth, info, 32)
	if err != nil {
		return nil, nil, err
	}
	cek, _ := hkdf.Key(sha256.New, ikm, salt, "Content-Encoding: aes128gcm\x00", 16)
	nonce, _ := hkdf.Key(sha256.New, ikm, salt, "Content-Encoding: nonce\x00", 12)
	block, _ := aes.NewCipher(cek)
	gcm, _ := cipher.NewGCM(block)
	p, err := gcm.Open(nil, nonce, ct, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("open: %w", err)
	}
	i := len(p) - 1
	for i >= 0 && p[i] == 0 {
		i--
	}
	if i < 0 || p[i] != 2 { // 2: the last record's delimiter
		return nil, nil, errors.New("bad padding")
	}
	return p[:i], keyid, nil
}

func b64u(s string) []byte {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// RFC 8291 Appendix A's example, to show the test receiver decrypts as a
// browser does (independently of webpush-go).
func TestRFC8291Vector(t *testing.T) {
	ua, err := ecdh.P256().NewPrivateKey(b64u("q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94"))
	if err != nil {
		t.Fatal(err)
	}
	if got := base64.RawURLEncoding.EncodeToString(ua.PublicKey().Bytes()); got != "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4" {
		t.Fatalf("ua_public %s", got)
	}
	body := b64u("DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN")
	plain, keyid, err := decryptAES128GCM(body, ua, b64u("BTBZMqHH6r4Tts7J_aSIgg"))
	if err != nil {
		t.Fatal(err)
	}
	if string(plain) != "When I grow up, I want to be a watermelon" {
		t.Fatalf("plaintext %q", plain)
	}
	if got := base64.RawURLEncoding.EncodeToString(keyid); got != "BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8" {
		t.Fatalf("as_public %s", got)
	}
	body[len(body)-1] ^= 1
	if _, _, err := decryptAES128GCM(body, ua, b64u("BTBZMqHH6r4Tts7J_aSIgg")); err == nil {
		t.Fatal("a tampered body decrypted")
	}
}

// browser is a subscribed browser: its keys and subscription.
type browser struct {
	priv *ecdh.PrivateKey
	auth []byte
	sub  PushSubscription
}

func newBrowser(t testing.TB, endpoint string) *browser {
	priv, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	auth := make([]byte, 16)
	rand.Read(auth)
	return &browser{priv: priv, auth: auth, sub: PushSubscription{Endpoint: endpoint, Keys: PushKeys{
		P256dh: base64.RawURLEncoding.EncodeToString(priv.PublicKey().Bytes()),
		Auth:   base64.RawURLEncoding.EncodeToString(auth),
	}}}
}

// pushService is a push service on loopback: it checks the VAPID
// Authorization (ES256 signature with the k= key, audience, expiry,
// subject), the headers, and decrypts the body with the browser's
// private key.
type pushService struct {
	t        testing.TB
	browser  *browser
	vapidPub string
	subject  string
	status   func(w http.ResponseWriter) int // nil: 201

	mu   sync.Mutex
	got  []receivedPush
	bad  []string
	hits int
}

type receivedPush struct {
	Payload               PushPayload
	Topic, TTL, Urgency   string
	ContentType, Encoding string
}

func (ps *pushService) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<16))
	rp := receivedPush{Topic: r.Header.Get("Topic"), TTL: r.Header.Get("TTL"), Urgency: r.Header.Get("Urgency"),
		ContentType: r.Header.Get("Content-Type"), Encoding: r.Header.Get("Content-Encoding")}
	problem := ps.checkVAPID(r)
	if problem == "" {
		plain, _, err := decryptAES128GCM(body, ps.browser.priv, ps.browser.auth)
		if err != nil {
			problem = "decrypt: " + err.Error()
		} else if err := json.Unmarshal(plain, &rp.Payload); err != nil {
			problem = "payload: " + err.Error()
		}
	}
	ps.mu.Lock()
	ps.hits++
	if problem != "" {
		ps.bad = append(ps.bad, problem)
	} else {
		ps.got = append(ps.got, rp)
	}
	ps.mu.Unlock()
	if problem != "" {
		http.Error(w, problem, http.StatusUnauthorized)
		return
	}
	st := http.StatusCreated
	if ps.status != nil {
		st = ps.status(w)
	}
	w.WriteHeader(st)
}

func (ps *pushService) checkVAPID(r *http.Request) string {
	rest, ok := strings.CutPrefix(r.Header.Get("Authorization"), "vapid ")
	if !ok {
		return "no vapid authorization"
	}
	params := map[string]string{}
	for _, p := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		params[k] = v
	}
	if params["k"] != ps.vapidPub {
		return "k is not the VAPID public key"
	}
	parts := strings.Split(params["t"], ".")
	if len(parts) != 3 {
		return "t is not a JWT"
	}
	var hdr struct{ Alg, Typ string }
	var claims struct {
		Aud string
		Exp int64
		Sub string
	}
	hb, err1 := base64.RawURLEncoding.DecodeString(parts[0])
	cb, err2 := base64.RawURLEncoding.DecodeString(parts[1])
	sig, err3 := base64.RawURLEncoding.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil || json.Unmarshal(hb, &hdr) != nil || json.Unmarshal(cb, &claims) != nil {
		return "JWT does not decode"
	}
	if hdr.Alg != "ES256" || len(sig) != 64 {
		return "JWT is not ES256"
	}
	pubBytes, err := base64.RawURLEncoding.DecodeString(params["k"])
	if err != nil {
		return "k does not decode"
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), pubBytes)
	if err != nil {
		return "k is not a P-256 key"
	}
	h := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if !ecdsa.Verify(pub, h[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
		return "JWT signature does not verify"
	}
	if want := "http://" + r.Host; claims.Aud != want {
		return "aud " + claims.Aud + ", want " + want
	}
	now := time.Now().Unix()
	if claims.Exp <= now || claims.Exp > now+24*3600 {
		return fmt.Sprintf("exp %d", claims.Exp)
	}
	if claims.Sub != ps.subject {
		return "sub " + claims.Sub
	}
	return ""
}

func (ps *pushService) check() {
	ps.t.Helper()
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if len(ps.bad) > 0 {
		ps.t.Fatalf("push service refused: %v", ps.bad)
	}
}

func startPush(t *testing.T) (*pushService, *httptest.Server, *WebPush) {
	keys, err := GenerateVAPIDKeys()
	if err != nil {
		t.Fatal(err)
	}
	ps := &pushService{t: t, vapidPub: keys.Public, subject: "mailto:ops@shop.example"}
	srv := httptest.NewServer(ps)
	t.Cleanup(srv.Close)
	ps.browser = newBrowser(t, srv.URL+"/wpush/v2/gAAAAABh")
	wp, err := NewWebPush(WebPushConfig{Keys: keys, Subject: "mailto:ops@shop.example", TTL: time.Hour, Urgency: "high", Client: loopbackClient()})
	if err != nil {
		t.Fatal(err)
	}
	return ps, srv, wp
}

func TestWebPushDelivered(t *testing.T) {
	ps, _, wp := startPush(t)
	m := testMessage()
	m.Push = &ps.browser.sub
	m.Body = `Hi Ana, "quotes" & <tags> stay text`
	for i := 0; i < 2; i++ {
		if o := wp.Send(context.Background(), m); !o.Delivered || o.Status != 201 {
			t.Fatalf("attempt %d: %v", i+1, o)
		}
	}
	ps.check()
	if len(ps.got) != 2 {
		t.Fatalf("%d pushes", len(ps.got))
	}
	want := PushPayload{Title: m.Subject, Body: m.Body, URL: m.URL, Key: m.Key}
	for _, g := range ps.got {
		if g.Payload != want {
			t.Errorf("payload %+v, want %+v", g.Payload, want)
		}
		if g.Topic != TopicOf(m.Key) || g.TTL != "3600" || g.Urgency != "high" || g.Encoding != "aes128gcm" || g.ContentType != "application/octet-stream" {
			t.Errorf("headers %+v", g)
		}
	}
}

func TestTopicOf(t *testing.T) {
	a, b := TopicOf("msg_1_2_none_vA"), TopicOf("msg_1_2_none_vB")
	if len(a) != 32 || a == b || TopicOf("msg_1_2_none_vA") != a {
		t.Fatalf("topics %q %q", a, b)
	}
	for _, c := range a + b {
		if !keyChar(byte(c)) {
			t.Fatalf("topic %q has %q", a, c)
		}
	}
}

func TestWebPushStatuses(t *testing.T) {
	ps, _, wp := startPush(t)
	m := testMessage()
	m.Push = &ps.browser.sub
	cases := []struct {
		status int
		hdr    string
		want   Outcome
	}{
		{201, "", Outcome{Delivered: true}},
		{200, "", Outcome{Delivered: true}},
		{404, "", Outcome{Permanent: true, Disable: true}},
		{410, "", Outcome{Permanent: true, Disable: true}},
		{429, "60", Outcome{Retry: true, SlowDown: true, RetryAfter: time.Minute}},
		{500, "", Outcome{Retry: true}},
		{503, "5", Outcome{Retry: true, RetryAfter: 5 * time.Second}},
		{400, "", Outcome{Permanent: true}},
		{403, "", Outcome{Permanent: true}},
		{413, "", Outcome{Permanent: true}},
	}
	for _, c := range cases {
		ps.status = func(w http.ResponseWriter) int {
			if c.hdr != "" {
				w.Header().Set("Retry-After", c.hdr)
			}
			return c.status
		}
		o := wp.Send(context.Background(), m)
		got := Outcome{Delivered: o.Delivered, Retry: o.Retry, SlowDown: o.SlowDown, Permanent: o.Permanent, Disable: o.Disable, RetryAfter: o.RetryAfter}
		if got != c.want || o.Status != c.status {
			t.Errorf("%d: %v, want %+v", c.status, o, c.want)
		}
	}
	ps.check()
}

func TestWebPushPayloadBound(t *testing.T) {
	ps, _, wp := startPush(t)
	m := testMessage()
	m.Push = &ps.browser.sub
	m.Subject = strings.Repeat("T", 500)
	m.Body = strings.Repeat("ü\"\\", 3000)
	p, err := PushPayloadOf(m)
	if err != nil || len(p) > MaxPushPayload || !json.Valid(p) {
		t.Fatalf("payload of %d bytes, %v", len(p), err)
	}
	if o := wp.Send(context.Background(), m); !o.Delivered {
		t.Fatal(o)
	}
	ps.check()
	got := ps.got[0].Payload
	if got.Key != m.Key || !strings.HasSuffix(got.Body, "…") || len([]rune(got.Title)) != 201 {
		t.Fatalf("title %d runes, body %q…", len([]rune(got.Title)), got.Body[:20])
	}
	m.URL = "https://x.example/" + strings.Repeat("a", 2000)
	if o := wp.Send(context.Background(), m); !o.Permanent || !errors.Is(o.Err, ErrBadMessage) {
		t.Fatalf("long URL: %v", o)
	}
}

func TestWebPushRefusals(t *testing.T) {
	ps, _, wp := startPush(t)
	m := testMessage()
	if o := wp.Send(context.Background(), m); !o.Permanent || o.Disable {
		t.Errorf("no subscription: %v", o)
	}
	bad := ps.browser.sub
	bad.Keys.Auth = "short"
	m.Push = &bad
	if o := wp.Send(context.Background(), m); !o.Permanent || !o.Disable || !errors.Is(o.Err, ErrBadSubscription) {
		t.Errorf("bad auth: %v", o)
	}
	// The SSRF guard covers push endpoints (a browser could post any).
	keys, _ := GenerateVAPIDKeys()
	guarded, err := NewWebPush(WebPushConfig{Keys: keys, Subject: "https://shop.example", Client: NewHTTPClient(ClientOptions{})})
	if err != nil {
		t.Fatal(err)
	}
	m.Push = &ps.browser.sub
	if o := guarded.Send(context.Background(), m); !o.Permanent || !errors.Is(o.Err, ErrForbiddenAddress) {
		t.Errorf("loopback endpoint with the guard: %v", o)
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.hits != 0 {
		t.Fatalf("%d requests reached the push service", ps.hits)
	}
}

func TestPushSubscriptionParse(t *testing.T) {
	b := newBrowser(t, "https://fcm.googleapis.com/fcm/send/abc:def")
	js := fmt.Sprintf(`{"endpoint":%q,"expirationTime":null,"keys":{"p256dh":%q,"auth":%q}}`, b.sub.Endpoint, b.sub.Keys.P256dh, b.sub.Keys.Auth)
	s, err := ParsePushSubscription([]byte(js), false)
	if err != nil || *s != b.sub {
		t.Fatalf("%+v, %v", s, err)
	}
	// Padded base64url, as some browsers send.
	padded := b.sub
	padded.Keys.Auth += "=="
	if err := padded.Validate(false); err != nil {
		t.Errorf("padded auth: %v", err)
	}
	for _, mod := range []func(*PushSubscription){
		func(s *PushSubscription) { s.Endpoint = "http://push.example/x" },
		func(s *PushSubscription) { s.Endpoint = "https://127.0.0.1/x" },
		func(s *PushSubscription) { s.Endpoint = "https://[fd00::1]/x" },
		func(s *PushSubscription) { s.Endpoint = "" },
		func(s *PushSubscription) { s.Keys.P256dh = base64.RawURLEncoding.EncodeToString(make([]byte, 65)) },
		func(s *PushSubscription) { s.Keys.P256dh = "!!" },
		func(s *PushSubscription) { s.Keys.Auth = base64.RawURLEncoding.EncodeToString(make([]byte, 8)) },
	} {
		s := b.sub
		mod(&s)
		if err := s.Validate(false); !errors.Is(err, ErrBadSubscription) {
			t.Errorf("%+v: %v", s, err)
		}
	}
	if _, err := ParsePushSubscription([]byte(`{"endpoint":`), false); err == nil {
		t.Error("bad JSON accepted")
	}
}

func TestVAPIDKeys(t *testing.T) {
	k, err := GenerateVAPIDKeys()
	if err != nil {
		t.Fatal(err)
	}
	if len(b64u(k.Public)) != 65 || len(b64u(k.Private)) != 32 {
		t.Fatalf("key sizes %d %d", len(b64u(k.Public)), len(b64u(k.Private)))
	}
	if l, err := LoadVAPIDKeys(k.Public, k.Private); err != nil || l != k {
		t.Fatalf("LoadVAPIDKeys: %v", err)
	}
	// Keys made by webpush-go (padded base64url) load as well.
	priv, pub, err := webpush.GenerateVAPIDKeys()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := LoadVAPIDKeys(pub, priv); err != nil {
		t.Fatalf("webpush-go keys: %v", err)
	}
	other, _ := GenerateVAPIDKeys()
	for _, c := range [][2]string{{other.Public, k.Private}, {k.Public, "xx"}, {"", k.Private}, {k.Public, base64.RawURLEncoding.EncodeToString(make([]byte, 32))}} {
		if _, err := LoadVAPIDKeys(c[0], c[1]); err == nil {
			t.Errorf("LoadVAPIDKeys(%q, %q) accepted", c[0], c[1])
		}
	}
	for _, c := range []WebPushConfig{
		{Keys: k, Subject: "ops@shop.example", Client: loopbackClient()},
		{Keys: k, Subject: "mailto:", Client: loopbackClient()},
		{Keys: k, Subject: "mailto:ops@shop.example"},
		{Keys: k, Subject: "mailto:ops@shop.example", Urgency: "urgent", Client: loopbackClient()},
		{Keys: other, Subject: "mailto:ops@shop.example", Client: loopbackClient(), Urgency: "low"},
	} {
		if _, err := NewWebPush(c); (err == nil) != (c.Urgency == "low") {
			t.Errorf("NewWebPush(%+v): %v", c, err)
		}
	}
}

// The service worker, run under Node with a stand-in for the service
// worker globals (node comes with scripts/test-deps.sh).
func TestServiceWorker(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		testutil.Missing(t, "node is not installed (scripts/test-deps.sh installs it)")
	}
	harness := `
const fs = require('fs');
const handlers = {};
const shown = [], opened = [];
global.self = {
  location: { origin: 'https://shop.example' },
  addEventListener: (type, fn) => { handlers[type] = fn; },
  registration: { showNotification: async (title, options) => { shown.push({ title, options }); } },
  clients: { matchAll: async () => [], openWindow: async (u) => { opened.push(u); }, claim: async () => {} },
  skipWaiting: () => {},
};
eval(fs.readFileSync(process.argv[2], 'utf8'));
const waits = [];
function fire(type, ev) { ev.waitUntil = (p) => waits.push(p); handlers[type](ev); }
fire('push', { data: { json: () => ({ title: 'Hi', body: 'Body', url: 'https://journey.example/c/t', key: 'msg_1' }) } });
fire('push', { data: { json: () => ({ title: 'Evil', url: 'javascript:alert(1)' }) } });
fire('push', { data: { json: () => { throw new Error('not json'); }, text: () => 'plain' } });
(async () => {
  await Promise.all(waits);
  for (const n of shown) {
    let closed = false;
    fire('notificationclick', { notification: { data: n.options.data, close: () => { closed = true; } } });
    if (!closed) throw new Error('not closed');
  }
  await Promise.all(waits);
  console.log(JSON.stringify({ shown, opened }));
})().catch((e) => { console.error(e); process.exit(1); });
`
	dir := t.TempDir()
	sw := filepath.Join(dir, "sw.js")
	os.WriteFile(sw, ServiceWorker(), 0o644)
	h := filepath.Join(dir, "harness.js")
	os.WriteFile(h, []byte(harness), 0o644)
	out, err := exec.Command(node, h, sw).CombinedOutput()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, out)
	}
	var res struct {
		Shown []struct {
			Title   string
			Options struct {
				Body string
				Tag  string
				Data struct{ URL *string }
			}
		}
		Opened []string
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if len(res.Shown) != 3 || res.Shown[0].Title != "Hi" || res.Shown[0].Options.Body != "Body" || res.Shown[0].Options.Tag != "msg_1" ||
		res.Shown[1].Title != "Evil" || res.Shown[1].Options.Data.URL != nil || res.Shown[2].Options.Body != "plain" || res.Shown[2].Title != "Notification" {
		t.Errorf("shown: %s", out)
	}
	if len(res.Opened) != 1 || res.Opened[0] != "https://journey.example/c/t" {
		t.Errorf("opened %v (a javascript: URL must never open)", res.Opened)
	}
	if ServiceWorkerContentType == "" || len(ServiceWorker()) == 0 {
		t.Error("no service worker")
	}
}
