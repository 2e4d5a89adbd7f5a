package api_test

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	netmail "net/mail"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/journey-dev/journey/internal/app"
	"github.com/journey-dev/journey/internal/campaign"
	"github.com/journey-dev/journey/internal/channel"
	"github.com/journey-dev/journey/internal/meta"
)

// Email and Web Push campaigns end to end, against an in-process SMTP
// server and a push service on loopback that decrypts RFC 8291 payloads
// with the browser's private key.

type mailBackend struct {
	mu    sync.Mutex
	mails [][]byte
}

func (b *mailBackend) NewSession(*smtp.Conn) (smtp.Session, error) { return &mailSession{b: b}, nil }

type mailSession struct{ b *mailBackend }

func (s *mailSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *mailSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *mailSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.b.mu.Lock()
	s.b.mails = append(s.b.mails, b)
	s.b.mu.Unlock()
	return nil
}
func (s *mailSession) Reset()        {}
func (s *mailSession) Logout() error { return nil }

func (b *mailBackend) received() []*netmail.Message {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []*netmail.Message
	for _, m := range b.mails {
		msg, err := netmail.ReadMessage(bytes.NewReader(m))
		if err == nil {
			out = append(out, msg)
		}
	}
	return out
}

func startMail(t *testing.T) (*mailBackend, string) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	be := &mailBackend{}
	srv := smtp.NewServer(be)
	srv.Domain = "mx.test"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return be, "smtp://" + l.Addr().String() + "?tls=none"
}

// stackWith is campaignStack with more configuration.
func stackWith(t *testing.T, mod func(*app.Config)) *e2e {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := app.Config{DataDir: t.TempDir(), AdminKey: e2eAdminKey, NoSync: true, Campaigns: true, WebhookAllowPrivate: true,
		PublicURL: "http://" + ln.Addr().String()}
	mod(&cfg)
	a, err := app.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: a.Handler}}
	srv.Start()
	t.Cleanup(func() {
		srv.Close()
		a.Close()
	})
	x := &e2e{t: t, a: a, url: srv.URL}
	x.createProject()
	return x
}

func TestCampaignEmail(t *testing.T) {
	mails, relay := startMail(t)
	x := stackWith(t, func(c *app.Config) { c.SMTP = relay })
	body := map[string]any{
		"name":     "Cart reminder by mail",
		"trigger":  map[string]any{"event": "added_to_cart"},
		"goal":     map[string]any{"event": "order_completed", "match": "item"},
		"wait":     map[string]any{"delay": "0s"},
		"channel":  map[string]any{"type": "email", "from": "Shop <news@shop.example>"},
		"variants": []any{map[string]any{"subject": "Your {{item}}", "body": "Hi {{person.name}}, <b>{{item}}</b> waits.", "url": "https://shop.example.com/cart"}},
		"status":   "active",
	}
	var c campaignOut
	x.decode(x.do("POST", "/api/v1/campaigns", x.key, body, 201), &c)
	x.send([]event{
		ev("added_to_cart", "ana", time.Now(), map[string]any{"item": "shirt<script>", "$set": map[string]any{"email": "Ana@Example.com", "name": "Ana"}}),
		ev("added_to_cart", "nomail", time.Now(), map[string]any{"item": "shirt"}),
	})
	x.settle(c.ID, 2, 20*time.Second)
	got := mails.received()
	if len(got) != 1 {
		t.Fatalf("%d mails, want 1", len(got))
	}
	m := got[0]
	sends, _ := x.a.Meta.SendsForPerson(context.Background(), x.pid, x.personID("ana"))
	if len(sends) != 1 || sends[0].State != meta.SendSent {
		t.Fatalf("sends %+v", sends)
	}
	if id := m.Header.Get("Message-Id"); id != "<"+sends[0].Key+"@shop.example>" {
		t.Fatalf("Message-ID %q, key %q", id, sends[0].Key)
	}
	if to := m.Header.Get("To"); !strings.Contains(to, "Ana@Example.com") {
		t.Fatalf("To %q", to)
	}
	unsub := m.Header.Get("List-Unsubscribe")
	if !strings.Contains(unsub, x.url+"/u/") {
		t.Fatalf("List-Unsubscribe %q", unsub)
	}
	raw, _ := io.ReadAll(m.Body)
	if html := raw[bytes.Index(raw, []byte("text/html")):]; bytes.Contains(html, []byte("<script>")) || !bytes.Contains(html, []byte("shirt&lt;script&gt;")) {
		t.Fatalf("the item's markup is not escaped in the HTML part:\n%s", raw)
	}
	none, _ := x.a.Meta.SendsForPerson(context.Background(), x.pid, x.personID("nomail"))
	if len(none) != 1 || none[0].State != meta.SendCancelled || !strings.Contains(none[0].LastError, "no email") {
		t.Fatalf("send to a person without email %+v", none)
	}

	// One-click unsubscribe (RFC 8058): a GET only shows the button; the
	// POST unsubscribes, and the next message is cancelled.
	link := strings.Trim(strings.SplitN(unsub, ",", 2)[0], "<> ")
	resp, err := http.Get(link)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET unsubscribe: %v %v", resp, err)
	}
	resp.Body.Close()
	if u, _ := x.a.Meta.IsUnsubscribed(context.Background(), x.pid, "email", "ana@example.com"); u {
		t.Fatal("a GET unsubscribed")
	}
	resp, err = http.Post(link, "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click"))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("POST unsubscribe: %v %v", resp, err)
	}
	resp.Body.Close()
	if u, _ := x.a.Meta.IsUnsubscribed(context.Background(), x.pid, "email", "ana@example.com"); !u {
		t.Fatal("not unsubscribed")
	}
	x.send([]event{ev("added_to_cart", "ana", time.Now(), map[string]any{"item": "socks"})})
	x.settle(c.ID, 3, 20*time.Second)
	sends, _ = x.a.Meta.SendsForPerson(context.Background(), x.pid, x.personID("ana"))
	if len(sends) != 2 || sends[1].State != meta.SendCancelled || sends[1].LastError != "unsubscribed" || len(mails.received()) != 1 {
		t.Fatalf("after unsubscribing: %+v, %d mails", sends, len(mails.received()))
	}
}

// decryptPush is what a browser does with a push body (RFC 8291, RFC
// 8188 aes128gcm), with the standard library only.
func decryptPush(body []byte, ua *ecdh.PrivateKey, auth []byte) ([]byte, error) {
	if len(body) < 21 {
		return nil, errors.New("short body")
	}
	salt, idlen := body[:16], int(body[20])
	_ = binary.BigEndian.Uint32(body[16:20])
	if len(body) < 21+idlen {
		return nil, errors.New("bad header")
	}
	keyid, ct := body[21:21+idlen], body[21+idlen:]
	as, err := ecdh.P256().NewPublicKey(keyid)
	if err != nil {
		return nil, err
	}
	secret, err := ua.ECDH(as)
	if err != nil {
		return nil, err
	}
	ikm, err := hkdf.Key(sha256.New, secret, auth, "WebPush: info\x00"+string(ua.PublicKey().Bytes())+string(keyid), 32)
	if err != nil {
		return nil, err
	}
	cek, _ := hkdf.Key(sha256.New, ikm, salt, "Content-Encoding: aes128gcm\x00", 16)
	nonce, _ := hkdf.Key(sha256.New, ikm, salt, "Content-Encoding: nonce\x00", 12)
	block, _ := aes.NewCipher(cek)
	gcm, _ := cipher.NewGCM(block)
	p, err := gcm.Open(nil, nonce, ct, nil)
	if err != nil {
		return nil, err
	}
	i := len(p) - 1
	for i >= 0 && p[i] == 0 {
		i--
	}
	if i < 0 || p[i] != 2 {
		return nil, errors.New("bad padding")
	}
	return p[:i], nil
}

func TestCampaignWebPush(t *testing.T) {
	keys, err := channel.GenerateVAPIDKeys()
	if err != nil {
		t.Fatal(err)
	}
	type pushed struct {
		payload channel.PushPayload
		topic   string
	}
	var mu sync.Mutex
	var got []pushed
	browsers := map[string]*ecdh.PrivateKey{}
	auths := map[string][]byte{}
	push := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		who := strings.TrimPrefix(r.URL.Path, "/push/")
		body, _ := io.ReadAll(r.Body)
		if who == "gone" {
			w.WriteHeader(http.StatusGone)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		plain, err := decryptPush(body, browsers[who], auths[who])
		if err != nil || !strings.HasPrefix(r.Header.Get("Authorization"), "vapid t=") {
			t.Errorf("push to %s: %v (Authorization %q)", who, err, r.Header.Get("Authorization"))
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		var p channel.PushPayload
		json.Unmarshal(plain, &p)
		got = append(got, pushed{p, r.Header.Get("Topic")})
		w.WriteHeader(http.StatusCreated)
	}))
	defer push.Close()
	x := stackWith(t, func(c *app.Config) {
		c.VAPIDPublicKey, c.VAPIDPrivateKey, c.VAPIDSubject = keys.Public, keys.Private, "mailto:ops@shop.example"
	})
	var vk struct {
		PublicKey string `json:"public_key"`
	}
	x.decode(x.do("GET", "/push/vapid-public-key", "", nil, 200), &vk)
	if vk.PublicKey != keys.Public {
		t.Fatalf("vapid key %q", vk.PublicKey)
	}
	x.do("GET", "/push/sw.js", "", nil, 200)
	subscribe := func(who string) {
		priv, _ := ecdh.P256().GenerateKey(rand.Reader)
		auth := make([]byte, 16)
		rand.Read(auth)
		mu.Lock()
		browsers[who], auths[who] = priv, auth
		mu.Unlock()
		sub := map[string]any{"endpoint": push.URL + "/push/" + who, "keys": map[string]string{
			"p256dh": base64.RawURLEncoding.EncodeToString(priv.PublicKey().Bytes()), "auth": base64.RawURLEncoding.EncodeToString(auth)}}
		x.do("POST", "/push/subscribe", "", map[string]any{"token": x.token, "distinct_id": who, "subscription": sub}, 200)
	}
	subscribe("bo")
	subscribe("gone")
	x.do("POST", "/push/subscribe", "", map[string]any{"token": x.token, "distinct_id": "x", "subscription": map[string]any{"endpoint": "ftp://x"}}, 400)
	body := map[string]any{
		"name":     "Like reminder by push",
		"trigger":  map[string]any{"event": "product_liked"},
		"goal":     map[string]any{"event": "order_completed"},
		"wait":     map[string]any{"delay": "0s"},
		"channel":  map[string]any{"type": "web_push", "urgency": "high"},
		"variants": []any{map[string]any{"subject": "Still like it?", "body": "{{event.item}} is back", "url": "https://shop.example.com/i/{{event.item}}"}},
		"status":   "active",
	}
	var c campaignOut
	x.decode(x.do("POST", "/api/v1/campaigns", x.key, body, 201), &c)
	x.syncLoader() // the subscriptions are person properties
	x.send([]event{
		ev("product_liked", "bo", time.Now(), map[string]any{"item": "lamp"}),
		ev("product_liked", "gone", time.Now(), map[string]any{"item": "lamp"}),
		ev("product_liked", "nosub", time.Now(), map[string]any{"item": "lamp"}),
	})
	x.settle(c.ID, 3, 20*time.Second)
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 {
		t.Fatalf("%d pushes, want 1", len(got))
	}
	sends, _ := x.a.Meta.SendsForPerson(context.Background(), x.pid, x.personID("bo"))
	if len(sends) != 1 || sends[0].State != meta.SendSent || got[0].payload.Key != sends[0].Key || got[0].topic != channel.TopicOf(sends[0].Key) ||
		got[0].payload.Title != "Still like it?" || got[0].payload.Body != "lamp is back" || !strings.HasPrefix(got[0].payload.URL, x.url+"/c/") {
		t.Fatalf("push %+v, sends %+v", got[0], sends)
	}
	// The gone subscription: failed, suppressed and unset; the campaign
	// goes on.
	gone, _ := x.a.Meta.SendsForPerson(context.Background(), x.pid, x.personID("gone"))
	if len(gone) != 1 || gone[0].State != meta.SendFailed {
		t.Fatalf("gone %+v", gone)
	}
	if u, _ := x.a.Meta.IsUnsubscribed(context.Background(), x.pid, "web_push", push.URL+"/push/gone"); !u {
		t.Fatal("gone subscription not suppressed")
	}
	x.syncLoader()
	p, _, _ := x.a.Events.PersonByDistinctID(context.Background(), x.pid, "gone")
	if _, still := p.Properties[campaign.PushSubscriptionProperty]; still {
		t.Fatalf("gone subscription still on the person: %v", p.Properties)
	}
	var view campaignOut
	x.decode(x.do("GET", "/api/v1/campaigns/"+strconv.FormatInt(c.ID, 10), x.key, nil, 200), &view)
	nosub, _ := x.a.Meta.SendsForPerson(context.Background(), x.pid, x.personID("nosub"))
	if view.Status != "active" || len(nosub) != 1 || nosub[0].State != meta.SendCancelled {
		t.Fatalf("campaign %+v, nosub %+v", view, nosub)
	}
}
