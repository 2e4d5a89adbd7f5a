package api

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/journey-dev/journey/internal/flagserve"
	"github.com/journey-dev/journey/internal/intake"
)

// Per-client limits of public routes that write: a push subscription
// writes a person property, so one client looping over it would inflate
// a project's data; a browser subscribes once. (Clicks are not limited:
// their events dedup per message and minute, see campaignClick.)
const (
	subscribeRate  = 0.2 // a second: one every 5 s on average
	subscribeBurst = 10
	publicClients  = 100_000 // clients each limiter remembers
)

var subscribeLimiters sync.Map // *Server → *flagserve.ClientLimiter

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
