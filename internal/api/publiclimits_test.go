package api

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// A client over the public limit gets 429 with Retry-After; another
// client is not affected; the limiters of two servers are apart.
func TestAllowPublic(t *testing.T) {
	var m sync.Map
	s, other := &Server{}, &Server{}
	req := func(addr string) *http.Request {
		r := httptest.NewRequest("GET", "/c/x", nil)
		r.RemoteAddr = addr
		return r
	}
	for i := range 5 {
		if !s.allowPublic(httptest.NewRecorder(), req("192.0.2.1:1000"), &m, 0.001, 5) {
			t.Fatalf("request %d of a burst of 5 refused", i+1)
		}
	}
	w := httptest.NewRecorder()
	if s.allowPublic(w, req("192.0.2.1:1001"), &m, 0.001, 5) || w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "" {
		t.Fatalf("sixth request: %d %v", w.Code, w.Header())
	}
	if !s.allowPublic(httptest.NewRecorder(), req("198.51.100.7:1000"), &m, 0.001, 5) {
		t.Fatal("another client was refused")
	}
	if !other.allowPublic(httptest.NewRecorder(), req("192.0.2.1:1000"), &m, 0.001, 5) {
		t.Fatal("another server's limiter refused the client")
	}
}
