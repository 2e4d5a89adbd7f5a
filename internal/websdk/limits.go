package websdk

import (
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/journey-dev/journey/internal/flagserve"
	"github.com/journey-dev/journey/internal/intake"
)

// ClientLimits bound what one client may ask of the flag routes (/flags,
// /decide and OFREP). A client is intake.ClientKey's (an IPv4 address, an
// IPv6 /64; X-Forwarded-For only from a trusted proxy, WithTrustedProxies),
// as capture counts it. Zero fields take the defaults.
type ClientLimits struct {
	// Rate and Burst: requests a second (100) and at once (300) per
	// client; past them, 429 with Retry-After.
	Rate  float64
	Burst int
	// MaxClients bounds the clients remembered (100 000); a table full of
	// limited clients refuses new ones until one refills, and is never
	// reset wholesale (flagserve.ClientLimiter).
	MaxClients int
	// Decodes is a client's share of the request bodies decoding at once
	// (4 of the server-wide maxDecodes).
	Decodes int
	// LimitLocal limits local processes too: by default a request from a
	// loopback address that names no client it forwards for (no
	// X-Forwarded-For) is a process on this host (a server SDK, a
	// benchmark, a test), counted only in the server-wide bounds.
	// Behind a local proxy, list it in the trusted proxies: its requests
	// are then counted per client they forward for.
	LimitLocal bool
}

// DefaultClientLimits are the limits of a Handler without
// WithClientLimits.
var DefaultClientLimits = ClientLimits{Rate: 100, Burst: 300, MaxClients: 100_000, Decodes: 4}

func (l *ClientLimits) defaults() {
	d := DefaultClientLimits
	if l.Rate <= 0 {
		l.Rate = d.Rate
	}
	if l.Burst <= 0 {
		l.Burst = d.Burst
	}
	if l.MaxClients <= 0 {
		l.MaxClients = d.MaxClients
	}
	if l.Decodes <= 0 {
		l.Decodes = d.Decodes
	}
}

// WithClientLimits sets the per-client limits of the flag routes.
func WithClientLimits(l ClientLimits) Option { return func(h *Handler) { h.limits = l } }

// WithTrustedProxies lists the proxies whose X-Forwarded-For names the
// client (capture's --trusted-proxies); without it, the TCP peer is the
// client.
func WithTrustedProxies(p []netip.Prefix) Option { return func(h *Handler) { h.trusted = p } }

// maxDecodes bounds the /flags and OFREP bodies decoding at once,
// server-wide: decoding inflates a body up to maxFlagsBody into maps, a
// few MB at most each, and these bodies are not counted in capture's
// memory budget.
const maxDecodes = 32

// client is who a request counts against.
type client struct {
	key   string // intake.ClientKey
	local bool   // a process on this host, not limited per client
}

func (h *Handler) clientOf(r *http.Request) client {
	c := client{key: intake.ClientKey(r, h.trusted)}
	if !h.limits.LimitLocal && len(r.Header.Values("X-Forwarded-For")) == 0 {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			host = r.RemoteAddr
		}
		a, err := netip.ParseAddr(host)
		c.local = err == nil && a.Unmap().IsLoopback()
	}
	return c
}

// allowRate counts a request against its client's rate; false: answered
// 429 with fail.
func (h *Handler) allowRate(w http.ResponseWriter, c client, fail func()) bool {
	if c.local {
		return true
	}
	ok, wait := h.rate.Allow(c.key)
	if ok {
		return true
	}
	w.Header().Set("Retry-After", strconv.Itoa(max(1, int((wait+time.Second-1)/time.Second))))
	fail()
	return false
}

// decodeSlots bounds the bodies decoding at once, in total and per
// client; a client's entry goes when it holds no slot, so the table is
// bounded by the total.
type decodeSlots struct {
	total, perClient int

	mu       sync.Mutex
	inUse    int
	byClient map[string]int
}

func newDecodeSlots(total, perClient int) *decodeSlots {
	return &decodeSlots{total: total, perClient: perClient, byClient: map[string]int{}}
}

// acquire takes a slot for c, or reports false when none is free or c
// holds its share.
func (d *decodeSlots) acquire(c client) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.inUse >= d.total || (!c.local && d.byClient[c.key] >= d.perClient) {
		return false
	}
	d.inUse++
	if !c.local {
		d.byClient[c.key]++
	}
	return true
}

func (d *decodeSlots) release(c client) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.inUse--
	if !c.local {
		if d.byClient[c.key]--; d.byClient[c.key] <= 0 {
			delete(d.byClient, c.key)
		}
	}
}

// newLimits builds the limiters of the handler's limits.
func (h *Handler) newLimits() {
	h.limits.defaults()
	h.rate = flagserve.NewClientLimiter(h.limits.Rate, h.limits.Burst, h.limits.MaxClients, nil)
	h.decodes = newDecodeSlots(maxDecodes, h.limits.Decodes)
}
