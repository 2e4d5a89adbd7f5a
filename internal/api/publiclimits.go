package api

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/journey-dev/journey/internal/flagserve"
	"github.com/journey-dev/journey/internal/intake"
)

// Per-client limits of the public campaign routes: a click records an
// event and a push subscription writes a person property, so one client
// looping over either would inflate a project's data. A person clicks a
// message link a few times at most; a browser subscribes once.
const (
	clickRate      = 1 // a second, on average
	clickBurst     = 30
	subscribeRate  = 0.2
	subscribeBurst = 10
	publicClients  = 100_000 // clients each limiter remembers
)

var clickLimiters, subscribeLimiters sync.Map // *Server → *flagserve.ClientLimiter

func (s *Server) publicLimiter(m *sync.Map, rate float64, burst int) *flagserve.ClientLimiter {
	if l, ok := m.Load(s); ok {
		return l.(*flagserve.ClientLimiter)
	}
	l, _ := m.LoadOrStore(s, flagserve.NewClientLimiter(rate, burst, publicClients, time.Now))
	return l.(*flagserve.ClientLimiter)
}

// allowPublic answers 429 with Retry-After, and false, when the request's
// client is over the limiter's rate.
func (s *Server) allowPublic(w http.ResponseWriter, r *http.Request, m *sync.Map, rate float64, burst int) bool {
	ok, wait := s.publicLimiter(m, rate, burst).Allow(intake.ClientKey(r, s.TrustedProxies))
	if !ok {
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int((wait+time.Second-1)/time.Second))))
		writeError(w, http.StatusTooManyRequests, "too many requests from this address; try again later")
	}
	return ok
}
