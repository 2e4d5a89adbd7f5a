package channel

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The Standard Webhooks test vector, as the specification's own
// libraries test it (standard-webhooks/standard-webhooks,
// libraries/go/webhook_test.go TestWebhookSign; the same values are in
// the JavaScript, Python, Ruby, … tests).
const (
	vecSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vecID        = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vecTimestamp = 1614265330
	vecPayload   = `{"test": 2432232314}`
	vecSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func TestStandardWebhooksVector(t *testing.T) {
	key, err := ParseSecret(vecSecret)
	if err != nil {
		t.Fatal(err)
	}
	if len(key) != 24 {
		t.Fatalf("key of %d bytes, want 24", len(key))
	}
	if got := Sign(key, vecID, vecTimestamp, []byte(vecPayload)); got != vecSignature {
		t.Fatalf("Sign = %s, want %s", got, vecSignature)
	}
	// The test receiver's own computation agrees.
	if !receiverVerify(key, vecID, strconv.Itoa(vecTimestamp), []byte(vecPayload), vecSignature) {
		t.Fatal("the test receiver does not verify the vector")
	}
	h := http.Header{}
	h.Set(HeaderWebhookID, vecID)
	h.Set(HeaderWebhookTimestamp, strconv.Itoa(vecTimestamp))
	h.Set(HeaderWebhookSignature, "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= "+vecSignature)
	at := time.Unix(vecTimestamp, 0)
	if err := Verify(key, h, []byte(vecPayload), at.Add(4*time.Minute), 5*time.Minute); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if err := Verify(key, h, []byte(vecPayload), at.Add(6*time.Minute), 5*time.Minute); err == nil {
		t.Fatal("Verify accepted a timestamp out of tolerance")
	}
	if err := Verify(key, h, []byte(`{"test": 2432232315}`), at, 5*time.Minute); err == nil {
		t.Fatal("Verify accepted a changed body")
	}
	// Without the prefix, as the libraries allow.
	k2, err := ParseSecret(strings.TrimPrefix(vecSecret, SecretPrefix))
	if err != nil || !bytes.Equal(k2, key) {
		t.Fatalf("ParseSecret without prefix: %v", err)
	}
}

func TestSecrets(t *testing.T) {
	s := NewSecret()
	if !strings.HasPrefix(s, "whsec_") {
		t.Fatalf("NewSecret = %q", s)
	}
	key, err := ParseSecret(s)
	if err != nil || len(key) != 32 {
		t.Fatalf("ParseSecret(NewSecret()) = %d bytes, %v", len(key), err)
	}
	if NewSecret() == s {
		t.Fatal("two equal secrets")
	}
	for _, bad := range []string{
		"", "whsec_", "whsec_!!!!",
		"whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 23)),
		"whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 65)),
	} {
		if _, err := ParseSecret(bad); !errors.Is(err, ErrBadSecret) {
			t.Errorf("ParseSecret(%q) = %v, want ErrBadSecret", bad, err)
		}
	}
	for _, n := range []int{24, 64} {
		if _, err := ParseSecret("whsec_" + base64.StdEncoding.EncodeToString(make([]byte, n))); err != nil {
			t.Errorf("%d bytes: %v", n, err)
		}
	}
}

// receiverVerify is how an independent receiver checks one signature:
// its own HMAC, compared in constant time.
func receiverVerify(key []byte, id, ts string, body []byte, header string) bool {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "."))
	mac.Write(body)
	want := mac.Sum(nil)
	for _, sig := range strings.Split(header, " ") {
		if b64, ok := strings.CutPrefix(sig, "v1,"); ok {
			got, err := base64.StdEncoding.DecodeString(b64)
			if err == nil && hmac.Equal(got, want) {
				return true
			}
		}
	}
	return false
}

// receiver is a webhook endpoint that verifies every request exactly as
// a Standard Webhooks consumer does and records what it accepted.
type receiver struct {
	t         testing.TB
	key       []byte
	tolerance time.Duration
	now       func() time.Time
	// status answers the n-th request (1-based); nil: 204.
	status func(n int, w http.ResponseWriter) int

	mu         sync.Mutex
	n          int
	ids        []string
	timestamps []int64
	payloads   []WebhookPayload
	bad        []string
}

func newReceiver(t testing.TB, secret string) *receiver {
	key, err := ParseSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	return &receiver{t: t, key: key, tolerance: 5 * time.Minute, now: time.Now}
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	id, ts, sig := r.Header.Get("webhook-id"), r.Header.Get("webhook-timestamp"), r.Header.Get("webhook-signature")
	problem := ""
	switch {
	case err != nil:
		problem = "body: " + err.Error()
	case r.Method != http.MethodPost:
		problem = "method " + r.Method
	case r.Header.Get("Content-Type") != "application/json":
		problem = "content type " + r.Header.Get("Content-Type")
	case id == "" || ts == "" || sig == "":
		problem = "missing headers"
	}
	sec, perr := strconv.ParseInt(ts, 10, 64)
	if problem == "" && perr != nil {
		problem = "timestamp " + ts
	}
	if problem == "" {
		if d := rc.now().Sub(time.Unix(sec, 0)); d > rc.tolerance || d < -rc.tolerance {
			problem = "timestamp out of tolerance"
		} else if !receiverVerify(rc.key, id, ts, body, sig) {
			problem = "signature"
		}
	}
	var p WebhookPayload
	if problem == "" {
		// The contract: exactly these fields, no others.
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(body, &fields); err != nil {
			problem = "payload: " + err.Error()
		} else {
			for _, k := range []string{"type", "campaign_id", "person_id", "distinct_id", "variant", "trigger_uuid", "subject", "body", "url"} {
				if _, ok := fields[k]; !ok {
					problem = "payload lacks " + k
				}
				delete(fields, k)
			}
			delete(fields, "unsubscribe") // optional: only a message that offers one
			if len(fields) > 0 && problem == "" {
				problem = "payload has extra fields"
			}
			dec := json.NewDecoder(bytes.NewReader(body))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&p); err != nil && problem == "" {
				problem = "payload: " + err.Error()
			}
		}
	}
	rc.mu.Lock()
	rc.n++
	n := rc.n
	if problem != "" {
		rc.bad = append(rc.bad, problem)
	} else {
		rc.ids = append(rc.ids, id)
		rc.timestamps = append(rc.timestamps, sec)
		rc.payloads = append(rc.payloads, p)
	}
	rc.mu.Unlock()
	if problem != "" {
		http.Error(w, problem, http.StatusUnauthorized)
		return
	}
	st := http.StatusNoContent
	if rc.status != nil {
		st = rc.status(n, w)
	}
	w.WriteHeader(st)
}

func (rc *receiver) check() {
	rc.t.Helper()
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.bad) > 0 {
		rc.t.Fatalf("receiver refused requests: %v", rc.bad)
	}
}

func loopbackClient() *HTTPClient {
	return NewHTTPClient(ClientOptions{AllowPrivate: true, Timeout: 5 * time.Second})
}

func testMessage() Message {
	m := Message{
		CampaignID: 7, PersonID: 42, DistinctID: "user-42", Variant: "B",
		TriggerUUID: "0190a5c4-0c4e-7b7a-9d6e-3c2f1a0b9e88",
		Subject:     "Still thinking about the Linen Shirt?",
		Body:        "Hi Ana, the Linen Shirt you liked is still in stock.",
		URL:         "https://journey.example/c/tok123",
	}
	m.Key = NewKey(m.CampaignID, m.PersonID, m.TriggerUUID, m.Variant)
	return m
}

func TestWebhookDelivered(t *testing.T) {
	secret := NewSecret()
	rc := newReceiver(t, secret)
	srv := httptest.NewServer(rc)
	defer srv.Close()
	wh, err := NewWebhook(srv.URL+"/hook", secret, loopbackClient())
	if err != nil {
		t.Fatal(err)
	}
	m := testMessage()
	o := wh.Send(context.Background(), m)
	if !o.Delivered || o.Status != 204 || o.Err != nil {
		t.Fatalf("outcome %v", o)
	}
	rc.check()
	if len(rc.ids) != 1 || rc.ids[0] != m.Key {
		t.Fatalf("ids %v, want [%s]", rc.ids, m.Key)
	}
	want := WebhookPayload{Type: "message", CampaignID: 7, PersonID: 42, DistinctID: "user-42", Variant: "B",
		TriggerUUID: m.TriggerUUID, Subject: m.Subject, Body: m.Body, URL: m.URL}
	if rc.payloads[0] != want {
		t.Fatalf("payload %+v, want %+v", rc.payloads[0], want)
	}
}

// TestWebhookUnsubscribe: a message that offers an unsubscribe URL
// carries it in the payload's "unsubscribe" (absent otherwise, see
// TestWebhookDelivered); one that is not an http(s) URL fails for good,
// unsent.
func TestWebhookUnsubscribe(t *testing.T) {
	secret := NewSecret()
	rc := newReceiver(t, secret)
	srv := httptest.NewServer(rc)
	defer srv.Close()
	wh, err := NewWebhook(srv.URL+"/hook", secret, loopbackClient())
	if err != nil {
		t.Fatal(err)
	}
	m := testMessage()
	m.Unsubscribe = "https://journey.example/u/tok456"
	if o := wh.Send(context.Background(), m); !o.Delivered {
		t.Fatalf("outcome %v", o)
	}
	rc.check()
	if len(rc.payloads) != 1 || rc.payloads[0].Unsubscribe != m.Unsubscribe {
		t.Fatalf("payloads %+v, want unsubscribe %q", rc.payloads, m.Unsubscribe)
	}
	for _, bad := range []string{"javascript:alert(1)", "/u/relative", "http://"} {
		m.Unsubscribe = bad
		if o := wh.Send(context.Background(), m); !o.Permanent || !errors.Is(o.Err, ErrBadMessage) {
			t.Errorf("unsubscribe %q: outcome %v, want a permanent ErrBadMessage", bad, o)
		}
	}
	if len(rc.payloads) != 1 {
		t.Fatalf("%d deliveries, want the bad URLs unsent", len(rc.payloads))
	}
}

func TestWebhookRetriesKeepID(t *testing.T) {
	secret := NewSecret()
	rc := newReceiver(t, secret)
	// A fake clock that the waits advance, shared by sender and receiver.
	var clock atomic.Int64
	clock.Store(time.Now().Unix())
	now := func() time.Time { return time.Unix(clock.Load(), 0) }
	rc.now = now
	rc.status = func(n int, w http.ResponseWriter) int {
		switch n {
		case 1:
			return 500
		case 2:
			w.Header().Set("Retry-After", "600")
			return 503
		case 3:
			return 502
		}
		return 200
	}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	wh, err := NewWebhook(srv.URL, secret, loopbackClient())
	if err != nil {
		t.Fatal(err)
	}
	wh.Now = now
	var waits []time.Duration
	wait := func(_ context.Context, d time.Duration) error {
		waits = append(waits, d)
		clock.Add(int64(d / time.Second))
		return nil
	}
	m := testMessage()
	o, attempts := Deliver(context.Background(), wh, m, MaxAttempts, wait)
	if !o.Delivered || attempts != 4 {
		t.Fatalf("outcome %v after %d attempts", o, attempts)
	}
	rc.check()
	if len(rc.ids) != 4 {
		t.Fatalf("%d requests", len(rc.ids))
	}
	for _, id := range rc.ids {
		if id != m.Key {
			t.Fatalf("webhook-id %q changed on a retry (ids %v)", id, rc.ids)
		}
	}
	// Each attempt is signed at its own time; the body is the same.
	for i := 1; i < 4; i++ {
		if rc.timestamps[i] <= rc.timestamps[i-1] {
			t.Fatalf("timestamps %v", rc.timestamps)
		}
		if rc.payloads[i] != rc.payloads[0] {
			t.Fatal("payload changed on a retry")
		}
	}
	// 5 s after the 500; 10 min (Retry-After beats the schedule's 5 min)
	// after the 503; 30 min after the 502.
	want := []time.Duration{5 * time.Second, 10 * time.Minute, 30 * time.Minute}
	if len(waits) != 3 || waits[0] != want[0] || waits[1] != want[1] || waits[2] != want[2] {
		t.Fatalf("waits %v, want %v", waits, want)
	}
}

func TestWebhookStatuses(t *testing.T) {
	secret := NewSecret()
	cases := []struct {
		status     int
		retryAfter string
		want       Outcome // Delivered, Retry, SlowDown, Permanent, Disable, RetryAfter
	}{
		{200, "", Outcome{Delivered: true}},
		{201, "", Outcome{Delivered: true}},
		{202, "", Outcome{Delivered: true}},
		{299, "", Outcome{Delivered: true}},
		{410, "", Outcome{Permanent: true, Disable: true}},
		{429, "120", Outcome{Retry: true, SlowDown: true, RetryAfter: 2 * time.Minute}},
		{429, "999999999", Outcome{Retry: true, SlowDown: true, RetryAfter: MaxRetryAfter}},
		{429, "soon", Outcome{Retry: true, SlowDown: true}},
		{502, "", Outcome{Retry: true, SlowDown: true}},
		{504, "", Outcome{Retry: true, SlowDown: true}},
		{500, "", Outcome{Retry: true}},
		{503, "30", Outcome{Retry: true, RetryAfter: 30 * time.Second}},
		{408, "", Outcome{Retry: true}},
		{400, "", Outcome{Permanent: true}},
		{401, "", Outcome{Permanent: true}},
		{403, "", Outcome{Permanent: true}},
		{404, "", Outcome{Permanent: true}},
		{422, "", Outcome{Permanent: true}},
		{301, "", Outcome{Permanent: true}},
		{307, "", Outcome{Permanent: true}},
	}
	for _, c := range cases {
		rc := newReceiver(t, secret)
		var redirected atomic.Int32
		target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { redirected.Add(1) }))
		rc.status = func(_ int, w http.ResponseWriter) int {
			if c.retryAfter != "" {
				w.Header().Set("Retry-After", c.retryAfter)
			}
			if c.status >= 300 && c.status < 400 {
				w.Header().Set("Location", target.URL)
			}
			return c.status
		}
		srv := httptest.NewServer(rc)
		wh, err := NewWebhook(srv.URL, secret, loopbackClient())
		if err != nil {
			t.Fatal(err)
		}
		o := wh.Send(context.Background(), testMessage())
		got := Outcome{Delivered: o.Delivered, Retry: o.Retry, SlowDown: o.SlowDown, Permanent: o.Permanent, Disable: o.Disable, RetryAfter: o.RetryAfter}
		if got != c.want || o.Status != c.status || (o.Delivered != (o.Err == nil)) {
			t.Errorf("%d (Retry-After %q): %v, want %+v", c.status, c.retryAfter, o, c.want)
		}
		if redirected.Load() != 0 {
			t.Errorf("%d: the redirect was followed", c.status)
		}
		srv.Close()
		target.Close()
		rc.check()
	}
}

func TestWebhookRetryAfterDate(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	if d := retryAfter(now.Add(90*time.Second).Format(http.TimeFormat), now); d != 90*time.Second {
		t.Fatalf("date: %v", d)
	}
	if d := retryAfter(now.Add(-time.Hour).Format(http.TimeFormat), now); d != 0 {
		t.Fatalf("past date: %v", d)
	}
	if d := retryAfter("-5", now); d != 0 {
		t.Fatalf("negative: %v", d)
	}
}

func TestWebhookTransportFailures(t *testing.T) {
	secret := NewSecret()
	m := testMessage()

	// A receiver slower than the client's timeout: retry.
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body) // so that the server notices the client leaving
		select {
		case <-time.After(3 * time.Second):
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	wh, _ := NewWebhook(slow.URL, secret, NewHTTPClient(ClientOptions{AllowPrivate: true, Timeout: 200 * time.Millisecond}))
	if o := wh.Send(context.Background(), m); !o.Retry || o.Err == nil {
		t.Errorf("timeout: %v", o)
	}

	// A receiver that drops the connection: retry.
	drop := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			c.Close()
		}
	}))
	defer drop.Close()
	wh, _ = NewWebhook(drop.URL, secret, loopbackClient())
	if o := wh.Send(context.Background(), m); !o.Retry {
		t.Errorf("dropped connection: %v", o)
	}

	// Nobody listening: retry.
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	wh, _ = NewWebhook("http://"+addr, secret, loopbackClient())
	if o := wh.Send(context.Background(), m); !o.Retry {
		t.Errorf("connection refused: %v", o)
	}

	// A huge response is read only up to the bound and still counts.
	huge := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		chunk := bytes.Repeat([]byte("y"), 64<<10)
		for i := 0; i < 1600; i++ { // 100 MiB unless the client stops reading
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	defer huge.Close()
	wh, _ = NewWebhook(huge.URL, secret, loopbackClient())
	start := time.Now()
	if o := wh.Send(context.Background(), m); !o.Delivered {
		t.Errorf("huge response: %v", o)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("huge response took %v", d)
	}

	// A bad key is refused before any request.
	var hits atomic.Int32
	count := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	defer count.Close()
	wh, _ = NewWebhook(count.URL, secret, loopbackClient())
	for _, k := range []string{"", "a.b", "a b", strings.Repeat("k", MaxKeyLen+1), "k\r\nx: y"} {
		bad := m
		bad.Key = k
		if o := wh.Send(context.Background(), bad); !o.Permanent || !errors.Is(o.Err, ErrBadKey) {
			t.Errorf("key %q: %v", k, o)
		}
	}
	if hits.Load() != 0 {
		t.Error("a bad key was sent")
	}
}

func TestNewWebhookChecks(t *testing.T) {
	c := loopbackClient()
	for _, u := range []string{"ftp://example.com/x", "javascript:alert(1)", "file:///etc/passwd", "/relative", "http://", "gopher://x"} {
		if _, err := NewWebhook(u, NewSecret(), c); !errors.Is(err, ErrForbiddenURL) {
			t.Errorf("NewWebhook(%q) = %v, want ErrForbiddenURL", u, err)
		}
	}
	if _, err := NewWebhook("https://example.com/hook", "whsec_short", c); !errors.Is(err, ErrBadSecret) {
		t.Errorf("short secret: %v", err)
	}
	if _, err := NewWebhook("https://example.com/hook", NewSecret(), nil); err == nil {
		t.Error("nil client accepted")
	}
}

func TestRetrySchedule(t *testing.T) {
	want := []time.Duration{0, 5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour,
		5 * time.Hour, 10 * time.Hour, 14 * time.Hour, 20 * time.Hour, 24 * time.Hour}
	var total time.Duration
	for i, w := range want {
		d, ok := RetryDelay(i + 1)
		if !ok || d != w {
			t.Errorf("RetryDelay(%d) = %v, %v; want %v", i+1, d, ok, w)
		}
		total += d
	}
	// The spec's table: the last attempt 75:35:05 after the first.
	if total != 75*time.Hour+35*time.Minute+5*time.Second {
		t.Errorf("schedule spans %v", total)
	}
	for _, a := range []int{0, -1, 11, 100} {
		if _, ok := RetryDelay(a); ok {
			t.Errorf("RetryDelay(%d) ok", a)
		}
	}
	if _, ok := NextDelay(MaxAttempts, Outcome{Retry: true}); ok {
		t.Error("NextDelay past the last attempt")
	}
	if _, ok := NextDelay(1, Outcome{Permanent: true}); ok {
		t.Error("NextDelay after a permanent failure")
	}
	if d, _ := NextDelay(1, Outcome{Retry: true, RetryAfter: time.Minute}); d != time.Minute {
		t.Errorf("Retry-After not honoured: %v", d)
	}
	for i := 0; i < 100; i++ {
		if d := Jitter(time.Hour); d < time.Hour || d > time.Hour+6*time.Minute {
			t.Fatalf("Jitter = %v", d)
		}
	}
}

func TestNewKey(t *testing.T) {
	u := "0190A5C4-0C4E-7B7A-9D6E-3C2F1A0B9E88"
	k := NewKey(7, 42, u, "B")
	if k != "msg_7_42_0190a5c4-0c4e-7b7a-9d6e-3c2f1a0b9e88_vB" {
		t.Fatalf("NewKey = %q", k)
	}
	seen := map[string]bool{}
	for _, c := range []struct {
		c, p    int64
		trig, v string
	}{
		{7, 42, u, "B"}, {7, 42, u, "A"}, {7, 43, u, "B"}, {8, 42, u, "B"}, {7, 42, "", "B"},
		{7, 42, "not-a-uuid", "B"}, {7, 42, u, "control group"}, {7, 42, u, "control_group"}, {7, 42, u, "Ünïcode"},
		{7, 42, u, strings.Repeat("x", 40)}, {7, 42, u, ""}, {-1, -2, u, "B"}, {7, 4, "2" + u, "B"},
	} {
		k := NewKey(c.c, c.p, c.trig, c.v)
		if !ValidKey(k) {
			t.Errorf("NewKey%v = %q is not valid", c, k)
		}
		if seen[k] {
			t.Errorf("NewKey%v = %q twice", c, k)
		}
		seen[k] = true
		if NewKey(c.c, c.p, c.trig, c.v) != k {
			t.Errorf("NewKey%v is not stable", c)
		}
	}
}

// A 410 ends the message at once and says to disable the endpoint.
func TestWebhookGoneStopsRetries(t *testing.T) {
	secret := NewSecret()
	rc := newReceiver(t, secret)
	rc.status = func(int, http.ResponseWriter) int { return http.StatusGone }
	srv := httptest.NewServer(rc)
	defer srv.Close()
	wh, _ := NewWebhook(srv.URL, secret, loopbackClient())
	o, attempts := Deliver(context.Background(), wh, testMessage(), MaxAttempts, func(context.Context, time.Duration) error {
		t.Fatal("waited after a 410")
		return nil
	})
	if attempts != 1 || !o.Disable || !o.Permanent || o.Retry {
		t.Fatalf("%v after %d attempts", o, attempts)
	}
	rc.check()
}
