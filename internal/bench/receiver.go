package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/journey-dev/journey/internal/channel"
)

// Receiver is a Standard Webhooks endpoint on loopback for the campaign
// benchmarks and crash tests: it verifies every signature (channel.Verify)
// and keeps each message once by webhook-id, counting raw deliveries,
// bad signatures and ids delivered again with another message.
type Receiver struct {
	URL    string
	key    []byte
	srv    *http.Server
	status int // the answer to a verified delivery

	mu        sync.Mutex
	byID      map[string]channel.WebhookPayload
	byPerson  map[string]int // distinct id → unique messages
	raw, bad  int
	conflicts int
	first     time.Time // the first unique delivery
	last      time.Time // the latest unique delivery
}

// NewReceiver listens on a free loopback port for webhooks signed with
// secret (whsec_…).
func NewReceiver(secret string) (*Receiver, error) {
	key, err := channel.ParseSecret(secret)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &Receiver{URL: "http://" + ln.Addr().String() + "/hook", key: key, status: http.StatusNoContent,
		byID: map[string]channel.WebhookPayload{}, byPerson: map[string]int{}}
	r.srv = &http.Server{Handler: http.HandlerFunc(r.serve), ReadHeaderTimeout: 5 * time.Second}
	go r.srv.Serve(ln)
	return r, nil
}

// Close stops the receiver.
func (r *Receiver) Close() { r.srv.Close() }

func (r *Receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(io.LimitReader(req.Body, channel.MaxWebhookBody+1))
	now := time.Now()
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var p channel.WebhookPayload
	verr := channel.Verify(r.key, req.Header, body, now, 5*time.Minute)
	if verr == nil {
		verr = json.Unmarshal(body, &p)
	}
	id := req.Header.Get(channel.HeaderWebhookID)
	r.mu.Lock()
	r.raw++
	switch old, seen := r.byID[id]; {
	case verr != nil:
		r.bad++
	case seen && old != p:
		r.conflicts++
	case !seen:
		r.byID[id] = p
		r.byPerson[p.DistinctID]++
		if r.first.IsZero() {
			r.first = now
		}
		r.last = now
	}
	r.mu.Unlock()
	if verr != nil {
		http.Error(w, verr.Error(), http.StatusUnauthorized)
		return
	}
	w.WriteHeader(r.status)
}

// ReceiverCounts are what a Receiver saw.
type ReceiverCounts struct {
	Unique    int `json:"unique"`    // messages, by webhook-id
	Raw       int `json:"raw"`       // deliveries
	Bad       int `json:"bad"`       // deliveries whose signature did not verify
	Conflicts int `json:"conflicts"` // deliveries of a seen webhook-id with another message
	// Doubled counts persons who got more than one message (each sends
	// carries one trigger per person in these benchmarks).
	Doubled     int       `json:"doubled"`
	First, Last time.Time `json:"-"`
}

// Counts returns the receiver's counts so far.
func (r *Receiver) Counts() ReceiverCounts {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := ReceiverCounts{Unique: len(r.byID), Raw: r.raw, Bad: r.bad, Conflicts: r.conflicts, First: r.first, Last: r.last}
	for _, n := range r.byPerson {
		if n > 1 {
			c.Doubled++
		}
	}
	return c
}

// Reset forgets what the receiver saw.
func (r *Receiver) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.byID, r.byPerson = map[string]channel.WebhookPayload{}, map[string]int{}
	r.raw, r.bad, r.conflicts, r.first, r.last = 0, 0, 0, time.Time{}, time.Time{}
}

// WaitUnique waits until the receiver has n unique messages.
func (r *Receiver) WaitUnique(n int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c := r.Counts()
		if c.Unique >= n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d messages received within %s (%d raw deliveries, %d bad)", c.Unique, n, timeout, c.Raw, c.Bad)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
