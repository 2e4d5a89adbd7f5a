package capture

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"sync"
	"time"

	"github.com/journey-dev/journey/internal/intake"
)

// Defaults of the Options that bound body reads. A body of the largest
// size (20 MB) within 30 s needs about 5 Mbit/s; SDKs send far smaller
// batches on slow links.
const (
	DefaultBodyTimeout  = 30 * time.Second
	DefaultClientBodies = 16
	DefaultBodyMemory   = 256 << 20
)

// shareDivisor: one address may hold 1/shareDivisor of the memory budget
// across its requests, so that a few addresses cannot fill it.
const shareDivisor = 8

// initialBuffer is the first allocation for a body; it then doubles with
// the bytes actually received, never from what Content-Length promises.
const initialBuffer = 4 << 10

// gate bounds the requests being received and decoded: how many per
// client address, and the memory they take (bodies as received, what
// decompression makes of them, the decoded events), together and per
// address, so that slow, many or compressed clients cannot take unbounded
// memory.
type gate struct {
	perClient int
	memory    int64
	share     int64

	mu sync.Mutex
	// clients holds only addresses with a request in flight (entries go
	// when their count drops to 0, never all at once), held what those
	// requests reserved; both are bounded by the requests in flight, which
	// the server's connection caps bound.
	clients map[string]int
	held    map[string]int64
	used    int64
}

func newGate(perClient int, memory int64) *gate {
	if perClient <= 0 {
		perClient = DefaultClientBodies
	}
	if memory <= 0 {
		memory = DefaultBodyMemory
	}
	return &gate{perClient: perClient, memory: memory, share: memory / shareDivisor,
		clients: map[string]int{}, held: map[string]int64{}}
}

// hold is one request's place in the gate: a slot of its address and the
// memory it reserved. It lasts until the request is answered, because the
// decoded request lives that long; release gives everything back.
type hold struct {
	g     *gate
	addr  string
	bytes int64
	once  sync.Once
}

// enter takes one of addr's slots; false when all are taken.
func (g *gate) enter(addr string) (*hold, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.clients[addr] >= g.perClient {
		return nil, false
	}
	g.clients[addr]++
	return &hold{g: g, addr: addr}, true
}

// reserve takes n more bytes for the request. The address's share is
// enforced only while it has other requests in flight: one request alone
// may use the whole budget, so that the largest legitimate request passes,
// but never together with others of the same address.
func (h *hold) reserve(n int64) *Error {
	g := h.g
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case h.bytes+n > g.memory:
		return tooLarge("request too large: decoding it needs more than the %s this server gives all requests together; send smaller batches", size(int(g.memory)))
	case g.used+n > g.memory:
		return busy()
	case g.clients[h.addr] > 1 && g.held[h.addr]+n > g.share:
		return &Error{Status: http.StatusTooManyRequests, Msg: "this address's requests hold their share of the server's memory, retry later"}
	}
	g.used += n
	g.held[h.addr] += n
	h.bytes += n
	return nil
}

// free gives back n of the bytes the request reserved.
func (h *hold) free(n int64) {
	g := h.g
	g.mu.Lock()
	defer g.mu.Unlock()
	n = min(n, h.bytes)
	g.used -= n
	g.held[h.addr] -= n
	h.bytes -= n
}

// release gives back the slot and all the memory; later calls do nothing.
func (h *hold) release() {
	h.once.Do(func() {
		g := h.g
		g.mu.Lock()
		defer g.mu.Unlock()
		g.used -= h.bytes
		if n := g.clients[h.addr]; n > 1 {
			g.clients[h.addr] = n - 1
			g.held[h.addr] -= h.bytes
		} else {
			delete(g.clients, h.addr)
			delete(g.held, h.addr)
		}
		h.bytes = 0
	})
}

// enter gives the request its place in the gate, for as long as it is
// being read, decoded and stored.
func (h *handler) enter(r *http.Request) (*hold, *Error) {
	hd, ok := h.gate.enter(intake.ClientKey(r, h.trusted))
	if !ok {
		return nil, tooManyBodies()
	}
	return hd, nil
}

func tooManyBodies() *Error {
	return &Error{Status: http.StatusTooManyRequests, Msg: "too many request bodies from this address at once, retry later"}
}

// receive reads the body within the body deadline, its buffer reserved
// from hd; the memory stays reserved until hd is released. An error means
// the body was not read to its end.
func (h *handler) receive(w http.ResponseWriter, r *http.Request, limit int, hd *hold) ([]byte, *Error) {
	return receiveBody(w, r, limit, hd, h.bodyTimeout)
}

func receiveBody(w http.ResponseWriter, r *http.Request, limit int, hd *hold, timeout time.Duration) ([]byte, *Error) {
	if r.ContentLength > int64(limit) {
		return nil, tooLarge("request body too large: over %s", size(limit))
	}
	if r.Body == nil || r.ContentLength == 0 {
		return nil, nil
	}
	// The deadline is on this body only: a server-wide ReadTimeout would
	// also end long responses such as the UI's live stream.
	rc := http.NewResponseController(w)
	hasDeadline := rc.SetReadDeadline(time.Now().Add(timeout)) == nil
	body, e := readBody(r.Body, r.ContentLength, limit, hd, timeout)
	if e != nil {
		return nil, e
	}
	if hasDeadline {
		// Storing is not the client's time, and an expired deadline on the
		// connection would cancel the request. net/http lifts it too when
		// it sees the body's end; this does not depend on that.
		_ = rc.SetReadDeadline(time.Time{})
	}
	return body, nil
}

// readBody reads a whole body of at most limit bytes, its buffer growing
// with the bytes that arrive, each growth reserved from mem first.
func readBody(body io.Reader, contentLength int64, limit int, mem reserver, timeout time.Duration) ([]byte, *Error) {
	first := initialBuffer
	if contentLength > 0 && contentLength < int64(first) {
		first = int(contentLength) + 1 // +1: the read that sees EOF needs no growth
	}
	buf, err := readGrowing(body, first, limit, mem, nil)
	var e *Error
	switch {
	case err == nil:
		return buf, nil
	case errors.Is(err, errOverLimit):
		return nil, tooLarge("request body too large: over %s", size(limit))
	case errors.As(err, &e):
		return nil, e
	case isTimeout(err):
		return nil, &Error{Status: http.StatusRequestTimeout, Msg: fmt.Sprintf("cannot read request body: not received within %s", timeout)}
	}
	return nil, badRequest("cannot read request body: %v", err)
}

// errOverLimit: readGrowing saw more than its limit.
var errOverLimit = errors.New("over the limit")

// readGrowing reads r to its end into a buffer of first bytes that doubles
// as bytes arrive, each growth reserved from mem first (nil reserves
// nothing); check, when set, sees what was read before each growth. The
// error is errOverLimit past limit bytes, the reservation's or check's
// *Error, or r's.
func readGrowing(r io.Reader, first, limit int, mem reserver, check func([]byte) *Error) ([]byte, error) {
	first = min(first, limit+1)
	if e := take(mem, first); e != nil {
		return nil, e
	}
	buf := make([]byte, 0, first)
	for {
		if len(buf) == cap(buf) {
			if len(buf) > limit {
				return nil, errOverLimit
			}
			if check != nil {
				if e := check(buf); e != nil {
					return nil, e
				}
			}
			next := min(2*cap(buf), limit+1) // limit+1 tells a body over the limit
			if e := take(mem, next-cap(buf)); e != nil {
				return nil, e
			}
			grown := make([]byte, len(buf), next)
			copy(grown, buf)
			buf = grown
		}
		m, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		switch {
		case errors.Is(err, io.EOF):
			if len(buf) > limit {
				return nil, errOverLimit
			}
			return buf, nil
		case err != nil:
			return nil, err
		}
	}
}

func busy() *Error {
	return &Error{Status: http.StatusServiceUnavailable, Msg: "server busy receiving and decoding other requests, retry later"}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// checkOutsideTokens refuses, before the body is read, a request whose
// token in the URL or the Authorization header is unknown: reading a large
// body costs memory and time that a request without credentials must not
// get. Tokens at the top of the body are checked before its events are
// decoded (bounds.token).
func (h *handler) checkOutsideTokens(ctx context.Context, rt route, q url.Values, hd http.Header) *Error {
	for _, token := range outsideTokens(rt.segment, q, hd) {
		if e := h.checkToken(ctx, rt, token); e != nil {
			return e
		}
	}
	return nil
}

// checkToken refuses an unknown token. A failed lookup decides nothing
// here; store answers it once the request is decoded.
func (h *handler) checkToken(ctx context.Context, rt route, token string) *Error {
	if _, ok, err := h.projects.ProjectByToken(ctx, token); err == nil && !ok {
		return unauthorized(tokenField(rt), "unknown project token")
	}
	return nil
}

// outsideTokens are the tokens a request carries outside its body, as the
// decoders read them: PostHog's token and api_key query parameters,
// Segment's Basic auth user.
func outsideTokens(segment bool, q url.Values, hd http.Header) []string {
	var ts tokenSet
	if segment {
		ts.add(basicAuthUser(hd))
	} else {
		ts.add(q.Get("token"))
		ts.add(q.Get("api_key"))
	}
	return ts
}

func basicAuthUser(hd http.Header) string {
	user, _, _ := (&http.Request{Header: hd}).BasicAuth()
	return user
}

// abandonBody closes the connection after an answer given without reading
// the whole body: otherwise the server would drain what is left first,
// for as long as a slow client makes that last.
func abandonBody(w http.ResponseWriter, r *http.Request) {
	if r.ContentLength != 0 {
		w.Header().Set("Connection", "close")
	}
}

// DefaultBodiesMemory bounds what Bodies holds by default: the API's, the
// UI's and /flags' bodies are small JSON.
const DefaultBodiesMemory = 64 << 20

// BodyLimits bound the bodies that Bodies reads.
type BodyLimits struct {
	// Limit is the largest body of a request (413 past it).
	Limit func(*http.Request) int
	// Timeout bounds the time a client may take to send a body (408);
	// 0 = DefaultBodyTimeout.
	Timeout time.Duration
	// ClientBodies caps the bodies one client address may be sending or
	// have handled at once (429); 0 = DefaultClientBodies.
	ClientBodies int
	// Memory caps what those bodies take together (503), and one address
	// with several of them 1/8 of it (429); 0 = DefaultBodiesMemory.
	Memory int64
	// TrustedProxies name the client by X-Forwarded-For, as for capture.
	TrustedProxies []netip.Prefix
}

// Bodies gives every request body the discipline that capture bodies get,
// with the same code: read in full within a deadline before next runs,
// into a buffer that grows with the bytes that arrive, reserved from a
// budget that is held, with a slot of the client's address, until next
// returns (next decodes the body, from memory). Requests without a body
// pass straight through.
func Bodies(next http.Handler, o BodyLimits) http.Handler {
	if o.Timeout <= 0 {
		o.Timeout = DefaultBodyTimeout
	}
	if o.Memory <= 0 {
		o.Memory = DefaultBodiesMemory
	}
	g := newGate(o.ClientBodies, o.Memory)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
			next.ServeHTTP(w, r)
			return
		}
		hd, ok := g.enter(intake.ClientKey(r, o.TrustedProxies))
		if !ok {
			refuseBody(w, r, tooManyBodies())
			return
		}
		defer hd.release()
		body, e := receiveBody(w, r, o.Limit(r), hd, o.Timeout)
		if e != nil {
			refuseBody(w, r, e)
			return
		}
		r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
		next.ServeHTTP(w, r)
	})
}

// refuseBody answers as the API does, {"error": …}, and closes the
// connection rather than drain a body it did not read.
func refuseBody(w http.ResponseWriter, r *http.Request, e *Error) {
	abandonBody(w, r)
	if e.Status == http.StatusTooManyRequests || e.Status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", retrySeconds(time.Second))
	}
	b, _ := json.Marshal(map[string]string{"error": e.Error()})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.Status)
	_, _ = w.Write(append(b, '\n'))
}
