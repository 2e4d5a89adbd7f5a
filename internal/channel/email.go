package channel

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"html"
	"net"
	netmail "net/mail"
	"net/textproto"
	"net/url"
	"strings"
	"time"

	"github.com/wneessen/go-mail"
)

// SMTPConfig configures the email channel (one per project).
type SMTPConfig struct {
	Host string
	// Port defaults to 587, or 465 when TLS is "tls".
	Port     int
	Username string // SMTP AUTH when set
	Password string
	// AuthMechanism is the SASL mechanism ("PLAIN", "LOGIN", "CRAM-MD5",
	// "SCRAM-SHA-256", …); empty: the best one the server offers, and
	// never one that sends the password in the clear over a connection
	// without TLS (go-mail's auto-discovery). PLAIN and LOGIN still refuse
	// a connection without TLS except to localhost.
	AuthMechanism string
	// TLS is "starttls" (the default: STARTTLS required), "opportunistic"
	// (STARTTLS when offered), "tls" (implicit TLS) or "none" (plain text:
	// test servers and local relays only).
	TLS       string
	TLSConfig *tls.Config // nil: the system roots, ServerName = Host

	From    string // "Shop <news@shop.example>"; required
	ReplyTo string // optional
	// Domain is the right side of Message-IDs (default: From's domain).
	Domain string
	// UnsubscribeMailto, when set, is the address of the mailto: entry of
	// List-Unsubscribe ("unsubscribe@shop.example"); its subject carries
	// the message key so the request can be matched.
	UnsubscribeMailto string
	// LinkText is the text of the link to Message.URL in the HTML part
	// made from Body (default "Open").
	LinkText string
	HELO     string        // default: go-mail's (the host name)
	Timeout  time.Duration // per connection (default 30 s)
	// Dial replaces the dialer (tests); nil: net.Dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Email sends messages over SMTP with go-mail: one connection per
// message, a text part and an HTML part, Message-ID <Key@Domain>, and
// List-Unsubscribe (RFC 2369) with List-Unsubscribe-Post (RFC 8058
// one-click) when the message has an https unsubscribe URL. It is safe
// for concurrent use.
type Email struct {
	cfg    SMTPConfig
	from   *netmail.Address
	domain string
	opts   []mail.Option
}

// NewEmail checks cfg and makes the sender.
func NewEmail(cfg SMTPConfig) (*Email, error) {
	if cfg.Host == "" {
		return nil, errors.New("channel: SMTP host missing")
	}
	from, err := netmail.ParseAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("channel: SMTP From %q: %w", cfg.From, err)
	}
	if cfg.ReplyTo != "" {
		if _, err := netmail.ParseAddress(cfg.ReplyTo); err != nil {
			return nil, fmt.Errorf("channel: SMTP Reply-To %q: %w", cfg.ReplyTo, err)
		}
	}
	if cfg.UnsubscribeMailto != "" {
		if _, err := netmail.ParseAddress(cfg.UnsubscribeMailto); err != nil || strings.ContainsAny(cfg.UnsubscribeMailto, "<> ,?") {
			return nil, fmt.Errorf("channel: unsubscribe address %q must be a bare address", cfg.UnsubscribeMailto)
		}
	}
	domain := cfg.Domain
	if domain == "" {
		_, domain, _ = strings.Cut(from.Address, "@")
	}
	if domain == "" || !validDomain(domain) {
		return nil, fmt.Errorf("channel: Message-ID domain %q", domain)
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	opts := []mail.Option{mail.WithTimeout(timeout)}
	switch cfg.TLS {
	case "", "starttls":
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory))
	case "opportunistic":
		opts = append(opts, mail.WithTLSPolicy(mail.TLSOpportunistic))
	case "none":
		opts = append(opts, mail.WithTLSPolicy(mail.NoTLS))
	case "tls":
		opts = append(opts, mail.WithSSL())
	default:
		return nil, fmt.Errorf("channel: SMTP TLS %q: want starttls, opportunistic, tls or none", cfg.TLS)
	}
	port := cfg.Port
	if port == 0 {
		port = 587
		if cfg.TLS == "tls" {
			port = 465
		}
	}
	opts = append(opts, mail.WithPort(port))
	if cfg.TLSConfig != nil {
		opts = append(opts, mail.WithTLSConfig(cfg.TLSConfig))
	}
	if cfg.Username != "" {
		mech := mail.SMTPAuthAutoDiscover
		if cfg.AuthMechanism != "" {
			mech = mail.SMTPAuthType(strings.ToUpper(cfg.AuthMechanism))
		}
		opts = append(opts, mail.WithSMTPAuth(mech), mail.WithUsername(cfg.Username), mail.WithPassword(cfg.Password))
	}
	if cfg.HELO != "" {
		opts = append(opts, mail.WithHELO(cfg.HELO))
	}
	if cfg.Dial != nil {
		opts = append(opts, mail.WithDialContextFunc(cfg.Dial))
	}
	return &Email{cfg: cfg, from: from, domain: domain, opts: opts}, nil
}

func validDomain(d string) bool {
	if len(d) > 253 {
		return false
	}
	for _, label := range strings.Split(d, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// MessageID is the Message-ID (without angle brackets) of the message
// with key: "<key>@<domain>", the same on every attempt.
func (e *Email) MessageID(key string) string { return key + "@" + e.domain }

// Build composes the mail for m, as Send sends it.
func (e *Email) Build(m Message) (*mail.Msg, error) {
	if err := checkKey(m.Key); err != nil {
		return nil, err
	}
	to, err := netmail.ParseAddress(m.To)
	if err != nil {
		return nil, fmt.Errorf("%w: recipient %q: %v", ErrBadMessage, m.To, err)
	}
	msg := mail.NewMsg()
	msg.SetUserAgent("Journey")
	msg.FromMailAddress(e.from)
	msg.ToMailAddress(to)
	if e.cfg.ReplyTo != "" {
		if err := msg.ReplyTo(e.cfg.ReplyTo); err != nil {
			return nil, err
		}
	}
	msg.Subject(EscapeLine(m.Subject))
	msg.SetMessageIDWithValue(e.MessageID(m.Key))
	msg.SetDate()
	msg.SetGenHeader("X-Auto-Response-Suppress", "All")

	var uris []string
	oneClick := false
	if m.Unsubscribe != "" {
		u, err := url.Parse(m.Unsubscribe)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || strings.ContainsFunc(m.Unsubscribe, func(r rune) bool {
			return r <= ' ' || r >= 0x7f || r == '<' || r == '>' || r == ','
		}) {
			return nil, fmt.Errorf("%w: unsubscribe URL %q", ErrBadMessage, m.Unsubscribe)
		}
		uris = append(uris, m.Unsubscribe)
		oneClick = u.Scheme == "https"
	}
	if e.cfg.UnsubscribeMailto != "" {
		uris = append(uris, "mailto:"+e.cfg.UnsubscribeMailto+"?subject=unsubscribe%20"+m.Key)
	}
	if oneClick {
		if err := msg.SetListUnsubscribeOneClick(uris[0], uris[1:]...); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadMessage, err)
		}
	} else if len(uris) > 0 {
		msg.SetListUnsubscribe(uris...)
	}

	text, htmlPart := emailBodies(m, e.cfg.LinkText)
	msg.SetBodyString(mail.TypeTextPlain, text)
	msg.AddAlternativeString(mail.TypeTextHTML, htmlPart)
	return msg, nil
}

// emailBodies are the text and HTML parts of m: the copy, the link and,
// when there is one, the unsubscribe link.
func emailBodies(m Message, linkText string) (text, htmlPart string) {
	if linkText == "" {
		linkText = "Open"
	}
	link := ""
	if u, err := url.Parse(m.URL); err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" {
		link = m.URL
	}
	var t strings.Builder
	t.WriteString(m.Body)
	if link != "" {
		t.WriteString("\n\n" + link)
	}
	if m.Unsubscribe != "" {
		t.WriteString("\n\n--\nUnsubscribe: " + m.Unsubscribe)
	}
	t.WriteString("\n")

	var h strings.Builder
	h.WriteString("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"></head><body>\n")
	if m.HTML != "" {
		h.WriteString(m.HTML)
	} else {
		for _, para := range strings.Split(strings.ReplaceAll(m.Body, "\r\n", "\n"), "\n\n") {
			if strings.TrimSpace(para) == "" {
				continue
			}
			h.WriteString("<p>" + strings.ReplaceAll(html.EscapeString(para), "\n", "<br>\n") + "</p>\n")
		}
		if link != "" {
			h.WriteString(`<p><a href="` + html.EscapeString(link) + `">` + html.EscapeString(linkText) + "</a></p>\n")
		}
	}
	if m.Unsubscribe != "" {
		h.WriteString(`<p style="font-size:small;color:#666"><a href="` + html.EscapeString(m.Unsubscribe) + `">Unsubscribe</a></p>` + "\n")
	}
	h.WriteString("</body></html>\n")
	return t.String(), h.String()
}

// Send makes one attempt: it connects, sends the mail and disconnects.
// The reply codes decide the outcome: 4xx (and connection failures) are
// retried, 5xx are permanent, and a 5.1.x refusal of the recipient (no
// such mailbox) also disables the address. A mail that the server
// accepted is Delivered even when the connection then fails (QUIT), so
// that it is not sent twice.
func (e *Email) Send(ctx context.Context, m Message) Outcome {
	msg, err := e.Build(m)
	if err != nil {
		return permanent(0, err)
	}
	c, err := mail.NewClient(e.cfg.Host, e.opts...)
	if err != nil {
		return permanent(0, fmt.Errorf("channel: SMTP client: %w", err))
	}
	err = c.DialAndSendWithContext(ctx, msg)
	if msg.IsDelivered() {
		return Outcome{Delivered: true, Status: 250}
	}
	if err == nil {
		return Outcome{Delivered: true, Status: 250}
	}
	return smtpOutcome(e.cfg.Host, err)
}

func smtpOutcome(host string, err error) Outcome {
	err = fmt.Errorf("email via %s: %w", host, err)
	var se *mail.SendError
	if errors.As(err, &se) {
		code := se.ErrorCode()
		switch {
		case code >= 500:
			o := permanent(code, err)
			if se.Reason == mail.ErrSMTPRcptTo && strings.HasPrefix(se.EnhancedStatusCode(), "5.1.") {
				o.Disable = true
			}
			return o
		case code >= 400 || se.IsTemp():
			return retry(code, err)
		case se.Reason == mail.ErrGetSender || se.Reason == mail.ErrGetRcpts || se.Reason == mail.ErrNoUnencoded:
			return permanent(code, err)
		default:
			return retry(code, err)
		}
	}
	// Failures before MAIL FROM (connect, greeting, EHLO, STARTTLS, AUTH)
	// are the server's or the configuration's, not the message's: retry,
	// so that mail waits while an operator fixes them.
	var te *textproto.Error
	if errors.As(err, &te) {
		return retry(te.Code, err)
	}
	return retry(0, err)
}
