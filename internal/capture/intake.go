package capture

import (
	"context"
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

	"github.com/journey-dev/journey/internal/enrich"
)

// Defaults of the Options that bound body reads. A body of the largest
// size (20 MB) within 30 s needs about 5 Mbit/s; SDKs send far smaller
// batches on slow links.
const (
	DefaultBodyTimeout  = 30 * time.Second
	DefaultClientBodies = 16
	DefaultBodyMemory   = 256 << 20
)

// initialBuffer is the first allocation for a body; it then doubles with
// the bytes actually received, never from what Content-Length promises.
const initialBuffer = 4 << 10

// gate bounds the bodies being read: how many per client address, and the
// bytes they buffer together, so that slow or many clients cannot take
// unbounded memory.
type gate struct {
	perClient int
	memory    int64

	mu sync.Mutex
	// clients holds only addresses with a body in flight (entries go when
	// their count drops to 0); each such body holds at least initialBuffer
	// of memory, so the map is bounded by memory/initialBuffer.
	clients map[string]int
	used    int64
}

func newGate(perClient int, memory int64) *gate {
	if perClient <= 0 {
		perClient = DefaultClientBodies
	}
	if memory <= 0 {
		memory = DefaultBodyMemory
	}
	return &gate{perClient: perClient, memory: memory, clients: map[string]int{}}
}

// enter takes one of addr's body slots; false when all are taken.
func (g *gate) enter(addr string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.clients[addr] >= g.perClient {
		return false
	}
	g.clients[addr]++
	return true
}

func (g *gate) leave(addr string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if n := g.clients[addr]; n > 1 {
		g.clients[addr] = n - 1
	} else {
		delete(g.clients, addr)
	}
}

// reserve takes n bytes of the shared budget; false when it would overflow.
func (g *gate) reserve(n int64) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.used+n > g.memory {
		return false
	}
	g.used += n
	return true
}

func (g *gate) free(n int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.used -= n
}

// receive reads the body within the body deadline, past the client and
// memory caps. release gives the body's memory back to the budget once the
// caller is done with the bytes. An error means the body was not read to
// its end.
func (h *handler) receive(w http.ResponseWriter, r *http.Request, limit int) (body []byte, release func(), e *Error) {
	release = func() {}
	if r.ContentLength > int64(limit) {
		return nil, release, tooLarge("request body too large: over %s", size(limit))
	}
	if r.Body == nil || r.ContentLength == 0 {
		return nil, release, nil
	}
	addr := clientAddr(r, h.trusted)
	if !h.gate.enter(addr) {
		return nil, release, &Error{Status: http.StatusTooManyRequests, Msg: "too many request bodies from this address at once, retry later"}
	}
	defer h.gate.leave(addr)
	// The deadline is on this body only: a server-wide ReadTimeout would
	// also end long responses such as the UI's live stream.
	rc := http.NewResponseController(w)
	hasDeadline := rc.SetReadDeadline(time.Now().Add(h.bodyTimeout)) == nil
	body, reserved, e := h.readLimited(r.Body, r.ContentLength, limit)
	if e != nil {
		h.gate.free(reserved)
		return nil, release, e
	}
	if hasDeadline {
		// Storing is not the client's time, and an expired deadline on the
		// connection would cancel the request. net/http lifts it too when
		// it sees the body's end; this does not depend on that.
		_ = rc.SetReadDeadline(time.Time{})
	}
	return body, func() { h.gate.free(reserved) }, nil
}

// readLimited reads up to limit bytes into a buffer that doubles as bytes
// arrive, each growth reserved from the shared budget first. reserved is
// what it holds of the budget, also on error.
func (h *handler) readLimited(body io.Reader, contentLength int64, limit int) (buf []byte, reserved int64, e *Error) {
	n := initialBuffer
	if contentLength > 0 && contentLength < int64(n) {
		n = int(contentLength) + 1 // +1: the read that sees EOF needs no growth
	}
	if !h.gate.reserve(int64(n)) {
		return nil, 0, busy()
	}
	reserved = int64(n)
	buf = make([]byte, 0, n)
	for {
		if len(buf) == cap(buf) {
			if len(buf) > limit {
				return nil, reserved, tooLarge("request body too large: over %s", size(limit))
			}
			next := min(2*cap(buf), limit+1) // limit+1 tells a body over the limit
			if !h.gate.reserve(int64(next - cap(buf))) {
				return nil, reserved, busy()
			}
			reserved += int64(next - cap(buf))
			grown := make([]byte, len(buf), next)
			copy(grown, buf)
			buf = grown
		}
		m, err := body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		switch {
		case errors.Is(err, io.EOF):
			if len(buf) > limit {
				return nil, reserved, tooLarge("request body too large: over %s", size(limit))
			}
			return buf, reserved, nil
		case isTimeout(err):
			return nil, reserved, &Error{Status: http.StatusRequestTimeout, Msg: fmt.Sprintf("cannot read request body: not received within %s", h.bodyTimeout)}
		case err != nil:
			return nil, reserved, badRequest("cannot read request body: %v", err)
		}
	}
}

func busy() *Error {
	return &Error{Status: http.StatusServiceUnavailable, Msg: "server busy receiving other request bodies, retry later"}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// checkOutsideTokens refuses, before the body is read, a request whose
// token in the URL or the Authorization header is unknown: reading a large
// body costs memory and time that a request without credentials must not
// get. A token inside the body is checked after it is read. A failed
// lookup decides nothing here; store answers it after the body.
func (h *handler) checkOutsideTokens(ctx context.Context, rt route, q url.Values, hd http.Header) *Error {
	for _, token := range outsideTokens(rt.segment, q, hd) {
		if _, ok, err := h.projects.ProjectByToken(ctx, token); err == nil && !ok {
			return unauthorized(tokenField(rt), "unknown project token")
		}
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

// clientAddr is the address bodies are counted against: the client as
// enrich.ClientIP finds it (X-Forwarded-For only from a trusted proxy), as
// the API counts login failures. IPv6 counts per /64, what one host
// usually holds.
func clientAddr(r *http.Request, trusted []netip.Prefix) string {
	addr := enrich.ClientIP(r.RemoteAddr, r.Header.Values("X-Forwarded-For"), trusted)
	switch {
	case !addr.IsValid():
		return r.RemoteAddr
	case addr.Is6():
		p, _ := addr.Prefix(64)
		return p.String()
	}
	return addr.String()
}
