package flagserve

import (
	"fmt"
	"testing"
	"time"
)

// TestClientLimiter: each key has its own bucket (burst, then rate a
// second); the table is bounded, and flooding it with new keys neither
// resets a limited key nor lets newcomers past a table full of limited
// keys.
func TestClientLimiter(t *testing.T) {
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	l := NewClientLimiter(2, 4, 10, c.now)
	for i := 0; i < 4; i++ {
		if ok, _ := l.Allow("a"); !ok {
			t.Fatalf("request %d of the burst refused", i)
		}
	}
	ok, wait := l.Allow("a")
	if ok || wait <= 0 || wait > time.Second {
		t.Fatalf("past the burst: %v, wait %v", ok, wait)
	}
	if ok, _ := l.Allow("b"); !ok {
		t.Error("another key is limited by a's bucket")
	}
	c.add(500 * time.Millisecond)
	if ok, _ := l.Allow("a"); !ok {
		t.Error("a token back after 1/rate s: refused")
	}
	if ok, _ := l.Allow("a"); ok {
		t.Error("two tokens after 1/rate s")
	}
	// A flood of new keys: the table stays bounded, a stays limited.
	for i := 0; i < 1000; i++ {
		l.Allow(fmt.Sprint("flood-", i))
	}
	if n := l.Len(); n > 10 {
		t.Errorf("%d keys remembered, bounded at 10", n)
	}
	if ok, _ := l.Allow("a"); ok {
		t.Error("a flood of new keys reset a's empty bucket")
	}
	// A table full of limited keys refuses newcomers until one refills.
	full := NewClientLimiter(1, 1, 3, c.now)
	for _, k := range []string{"x", "y", "z"} {
		full.Allow(k)
	}
	if ok, wait := full.Allow("new"); ok || wait <= 0 {
		t.Errorf("newcomer with a table full of limited keys: %v, wait %v", ok, wait)
	}
	c.add(time.Second)
	if ok, _ := full.Allow("new"); !ok {
		t.Error("newcomer once a limited key refilled: refused")
	}
	if ok, _ := full.Allow("y"); !ok {
		t.Error("y after a second: refused")
	}
}
