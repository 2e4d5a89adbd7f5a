package channel

import (
	"bytes"
	"context"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net"
	netmail "net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// smtpBackend is an in-process SMTP server's backend that keeps every
// mail it accepts; its hooks make it refuse.
type smtpBackend struct {
	mu       sync.Mutex
	mails    []receivedMail
	mailErr  error
	rcptErr  error
	dataErr  error
	password string // when set, AUTH PLAIN with user "journey" is offered
}

type receivedMail struct {
	From string
	To   []string
	Data []byte
}

func (b *smtpBackend) NewSession(*smtp.Conn) (smtp.Session, error) { return &smtpSession{b: b}, nil }

type smtpSession struct {
	b    *smtpBackend
	from string
	to   []string
	auth bool
}

func (s *smtpSession) AuthMechanisms() []string {
	if s.b.password == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (s *smtpSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != "journey" || pass != s.b.password {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "bad credentials"}
		}
		s.auth = true
		return nil
	}), nil
}

func (s *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	if s.b.password != "" && !s.auth {
		return smtp.ErrAuthRequired
	}
	s.from = from
	return s.b.mailErr
}

func (s *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if s.b.rcptErr != nil {
		return s.b.rcptErr
	}
	s.to = append(s.to, to)
	return nil
}

func (s *smtpSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if s.b.dataErr != nil {
		return s.b.dataErr
	}
	s.b.mu.Lock()
	s.b.mails = append(s.b.mails, receivedMail{From: s.from, To: s.to, Data: b})
	s.b.mu.Unlock()
	return nil
}

func (s *smtpSession) Reset()        { s.from, s.to = "", nil }
func (s *smtpSession) Logout() error { return nil }

func startSMTP(t *testing.T, be *smtpBackend) (host string, port int) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := smtp.NewServer(be)
	srv.Domain = "mx.test"
	srv.AllowInsecureAuth = true
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	a := l.Addr().(*net.TCPAddr)
	return "127.0.0.1", a.Port
}

func testEmail(t *testing.T, host string, port int, mod func(*SMTPConfig)) *Email {
	t.Helper()
	cfg := SMTPConfig{
		Host: host, Port: port, TLS: "none",
		From: "Shop <news@shop.example>", ReplyTo: "help@shop.example",
		UnsubscribeMailto: "unsubscribe@shop.example", Timeout: 5 * time.Second,
	}
	if mod != nil {
		mod(&cfg)
	}
	e, err := NewEmail(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func emailMessage() Message {
	m := testMessage()
	m.To = "Ana <ana@example.com>"
	m.Subject = "Still thinking about the Linen Shirt? ✨"
	m.Body = "Hi Ana <b>&</b> co,\nthe Linen Shirt is back.\n\nSee you!"
	m.Unsubscribe = "https://journey.example/u/unsub-tok"
	return m
}

// parsedMail is a received mail as a mail client reads it.
type parsedMail struct {
	Header netmail.Header
	Parts  map[string]string // media type → decoded content
}

func parseMail(t *testing.T, data []byte) parsedMail {
	t.Helper()
	msg, err := netmail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("mail does not parse: %v\n%s", err, data)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("Content-Type %q (%v)", msg.Header.Get("Content-Type"), err)
	}
	parts := map[string]string{}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart() // decodes quoted-printable
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		pt, pp, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		if pp["charset"] != "" && !strings.EqualFold(pp["charset"], "utf-8") {
			t.Errorf("part %s charset %s", pt, pp["charset"])
		}
		b, _ := io.ReadAll(p)
		parts[pt] = strings.ReplaceAll(string(b), "\r\n", "\n")
	}
	return parsedMail{Header: msg.Header, Parts: parts}
}

func TestEmailDelivered(t *testing.T) {
	be := &smtpBackend{}
	host, port := startSMTP(t, be)
	e := testEmail(t, host, port, nil)
	m := emailMessage()
	// A hostile subject tries to add a header.
	m.Subject = "Still thinking about the Linen Shirt? ✨\r\nBcc: evil@example.com"
	for i := 0; i < 2; i++ { // a retry of the same message
		if o := e.Send(context.Background(), m); !o.Delivered || o.Status != 250 {
			t.Fatalf("attempt %d: %v", i+1, o)
		}
	}
	if len(be.mails) != 2 {
		t.Fatalf("%d mails", len(be.mails))
	}
	var ids []string
	for _, rm := range be.mails {
		if rm.From != "news@shop.example" || len(rm.To) != 1 || rm.To[0] != "ana@example.com" {
			t.Fatalf("envelope %s → %v", rm.From, rm.To)
		}
		pm := parseMail(t, rm.Data)
		h := pm.Header
		ids = append(ids, h.Get("Message-ID"))
		dec := new(mime.WordDecoder)
		subj, err := dec.DecodeHeader(h.Get("Subject"))
		if err != nil || subj != "Still thinking about the Linen Shirt? ✨ Bcc: evil@example.com" {
			t.Errorf("Subject %q (%v)", subj, err)
		}
		if h.Get("Bcc") != "" {
			t.Error("the subject injected a Bcc header")
		}
		from, _ := netmail.ParseAddress(h.Get("From"))
		to, _ := netmail.ParseAddress(h.Get("To"))
		if from == nil || from.Address != "news@shop.example" || from.Name != "Shop" || to == nil || to.Address != "ana@example.com" {
			t.Errorf("From %q To %q", h.Get("From"), h.Get("To"))
		}
		if rt, _ := netmail.ParseAddress(h.Get("Reply-To")); rt == nil || rt.Address != "help@shop.example" {
			t.Errorf("Reply-To %q", h.Get("Reply-To"))
		}
		if _, err := h.Date(); err != nil {
			t.Errorf("Date: %v", err)
		}
		wantLU := "<https://journey.example/u/unsub-tok>, <mailto:unsubscribe@shop.example?subject=unsubscribe%20" + m.Key + ">"
		if got := h.Get("List-Unsubscribe"); got != wantLU {
			t.Errorf("List-Unsubscribe %q, want %q", got, wantLU)
		}
		if got := h.Get("List-Unsubscribe-Post"); got != "List-Unsubscribe=One-Click" {
			t.Errorf("List-Unsubscribe-Post %q", got)
		}
		text, html := pm.Parts["text/plain"], pm.Parts["text/html"]
		if !strings.Contains(text, m.Body) || !strings.Contains(text, m.URL) || !strings.Contains(text, "Unsubscribe: "+m.Unsubscribe) {
			t.Errorf("text part:\n%s", text)
		}
		for _, want := range []string{
			"<p>Hi Ana &lt;b&gt;&amp;&lt;/b&gt; co,<br>\nthe Linen Shirt is back.</p>",
			"<p>See you!</p>",
			`<a href="` + m.URL + `">Open</a>`,
			`<a href="` + m.Unsubscribe + `">Unsubscribe</a>`,
		} {
			if !strings.Contains(html, want) {
				t.Errorf("HTML part lacks %q:\n%s", want, html)
			}
		}
		if strings.Contains(html, "<b>&</b>") {
			t.Error("the body's markup reached the HTML part")
		}
	}
	if ids[0] != "<"+m.Key+"@shop.example>" || ids[1] != ids[0] {
		t.Fatalf("Message-IDs %v, want <%s@shop.example> twice", ids, m.Key)
	}
	if addr, err := netmail.ParseAddress("x " + ids[0]); err != nil || addr.Address != m.Key+"@shop.example" {
		t.Errorf("Message-ID is not an addr-spec: %v", err)
	}
}

func TestEmailVariants(t *testing.T) {
	be := &smtpBackend{}
	host, port := startSMTP(t, be)

	// An HTML part of the author's, a plain http unsubscribe URL (no
	// one-click), no mailto, a Domain of its own.
	e := testEmail(t, host, port, func(c *SMTPConfig) {
		c.UnsubscribeMailto, c.ReplyTo, c.Domain, c.LinkText = "", "", "mail.shop.example", "Shop now"
	})
	m := emailMessage()
	m.HTML = "<h1>" + Render("Hi {{person.name}}", map[string]any{"person": map[string]any{"name": "<i>Ana</i>"}}, EscapeHTML) + "</h1>"
	m.Unsubscribe = "http://journey.example/u/tok"
	if o := e.Send(context.Background(), m); !o.Delivered {
		t.Fatal(o)
	}
	pm := parseMail(t, be.mails[0].Data)
	if got := pm.Header.Get("List-Unsubscribe"); got != "<http://journey.example/u/tok>" {
		t.Errorf("List-Unsubscribe %q", got)
	}
	if pm.Header.Get("List-Unsubscribe-Post") != "" {
		t.Error("one-click without https")
	}
	if pm.Header.Get("Reply-To") != "" {
		t.Error("Reply-To without config")
	}
	if pm.Header.Get("Message-ID") != "<"+m.Key+"@mail.shop.example>" {
		t.Errorf("Message-ID %q", pm.Header.Get("Message-ID"))
	}
	if !strings.Contains(pm.Parts["text/html"], "<h1>Hi &lt;i&gt;Ana&lt;/i&gt;</h1>") {
		t.Errorf("HTML part:\n%s", pm.Parts["text/html"])
	}

	// No unsubscribe at all: no header.
	m = emailMessage()
	m.Unsubscribe = ""
	if o := e.Send(context.Background(), m); !o.Delivered {
		t.Fatal(o)
	}
	pm = parseMail(t, be.mails[1].Data)
	if pm.Header.Get("List-Unsubscribe") != "" {
		t.Error("List-Unsubscribe without a URL")
	}
	if !strings.Contains(pm.Parts["text/html"], ">Shop now</a>") {
		t.Error("LinkText not used")
	}

	// With SMTP AUTH.
	be.password = "s3cret"
	e = testEmail(t, host, port, func(c *SMTPConfig) { c.Username, c.Password, c.AuthMechanism = "journey", "s3cret", "PLAIN" })
	if o := e.Send(context.Background(), emailMessage()); !o.Delivered {
		t.Fatalf("with auth: %v", o)
	}
	e = testEmail(t, host, port, func(c *SMTPConfig) { c.Username, c.Password, c.AuthMechanism = "journey", "wrong", "PLAIN" })
	if o := e.Send(context.Background(), emailMessage()); !o.Retry {
		t.Fatalf("bad credentials: %v (a configuration error waits for the operator)", o)
	}
}

func TestEmailErrors(t *testing.T) {
	cases := []struct {
		name string
		be   *smtpBackend
		want Outcome // Retry, Permanent, Disable, Status
	}{
		{"rcpt 451", &smtpBackend{rcptErr: &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try later"}}, Outcome{Retry: true, Status: 451}},
		{"rcpt 452", &smtpBackend{rcptErr: &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 2, 2}, Message: "mailbox full"}}, Outcome{Retry: true, Status: 452}},
		{"rcpt 550 5.1.1", &smtpBackend{rcptErr: &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}}, Outcome{Permanent: true, Disable: true, Status: 550}},
		{"rcpt 550 5.7.1", &smtpBackend{rcptErr: &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "policy"}}, Outcome{Permanent: true, Status: 550}},
		{"mail 421", &smtpBackend{mailErr: &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 7, 0}, Message: "closing"}}, Outcome{Retry: true, Status: 421}},
		{"mail 553", &smtpBackend{mailErr: &smtp.SMTPError{Code: 553, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "sender refused"}}, Outcome{Permanent: true, Status: 553}},
		{"data 554", &smtpBackend{dataErr: &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "spam"}}, Outcome{Permanent: true, Status: 554}},
		{"data 451", &smtpBackend{dataErr: &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "queue full"}}, Outcome{Retry: true, Status: 451}},
	}
	for _, c := range cases {
		host, port := startSMTP(t, c.be)
		o := testEmail(t, host, port, nil).Send(context.Background(), emailMessage())
		got := Outcome{Retry: o.Retry, Permanent: o.Permanent, Disable: o.Disable, Status: o.Status}
		if got != c.want || o.Err == nil {
			t.Errorf("%s: %v, want %+v", c.name, o, c.want)
		}
		if len(c.be.mails) != 0 {
			t.Errorf("%s: mail accepted", c.name)
		}
	}

	// Nobody listening: retry.
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	if o := testEmail(t, "127.0.0.1", port, nil).Send(context.Background(), emailMessage()); !o.Retry {
		t.Errorf("connection refused: %v", o)
	}

	// Bad messages fail before connecting.
	e := testEmail(t, "127.0.0.1", port, nil)
	for _, mod := range []func(*Message){
		func(m *Message) { m.To = "not an address" },
		func(m *Message) { m.To = "" },
		func(m *Message) { m.Key = "bad key" },
		func(m *Message) { m.Unsubscribe = "javascript:alert(1)" },
		func(m *Message) { m.Unsubscribe = "https://x.example/u>, <https://evil.example/" },
	} {
		m := emailMessage()
		mod(&m)
		if o := e.Send(context.Background(), m); !o.Permanent || o.Disable || !(errors.Is(o.Err, ErrBadMessage) || errors.Is(o.Err, ErrBadKey)) {
			t.Errorf("%+v: %v", m, o)
		}
	}
}

func TestNewEmailChecks(t *testing.T) {
	for _, c := range []SMTPConfig{
		{From: "news@shop.example"},
		{Host: "smtp.example", From: "not an address"},
		{Host: "smtp.example", From: "news@shop.example", TLS: "maybe"},
		{Host: "smtp.example", From: "news@shop.example", ReplyTo: "??"},
		{Host: "smtp.example", From: "news@shop.example", UnsubscribeMailto: "u@shop.example?x=y"},
		{Host: "smtp.example", From: "news@shop.example", Domain: "bad domain"},
	} {
		if _, err := NewEmail(c); err == nil {
			t.Errorf("NewEmail(%+v) accepted", c)
		}
	}
	e, err := NewEmail(SMTPConfig{Host: "smtp.example", From: "Shop <news@shop.example>"})
	if err != nil {
		t.Fatal(err)
	}
	if e.MessageID("msg_1") != "msg_1@shop.example" {
		t.Errorf("MessageID %q", e.MessageID("msg_1"))
	}
}
