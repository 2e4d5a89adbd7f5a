package api

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestAdminKeyGuessesThrottled: wrong admin keys count against the
// address like failed logins (review: 300 wrong keys in 6 s, all 401), the
// right key does not use up the budget, and other addresses are unaffected.
func TestAdminKeyGuessesThrottled(t *testing.T) {
	_, h := testServer(t)
	try := func(remote, key string) int {
		r := httptest.NewRequest("GET", "/api/v1/projects", nil)
		r.RemoteAddr = remote
		r.Header.Set("Authorization", "Bearer "+key)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	for i := 0; i < 3*maxFailures; i++ {
		if code := try("203.0.113.9:1", "test-admin-key"); code != http.StatusOK {
			t.Fatalf("right key, try %d: %d", i, code)
		}
	}
	for i := 0; i < maxFailures; i++ {
		if code := try("203.0.113.5:1", "guess"); code != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d", i, code)
		}
	}
	if code := try("203.0.113.5:1", "test-admin-key"); code != http.StatusTooManyRequests {
		t.Fatalf("after %d guesses: %d, want 429", maxFailures, code)
	}
	if code := try("203.0.113.6:1", "test-admin-key"); code != http.StatusOK {
		t.Fatalf("another address: %d", code)
	}
}
