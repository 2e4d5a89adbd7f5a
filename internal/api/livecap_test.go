package api

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/live"
	"github.com/journey-dev/journey/internal/meta"
)

// TestLiveStreamsCappedPerUser: one user opening more live streams than
// live.MaxPerUser is refused (429), and a member of another project still
// gets a stream: one viewer can no longer take every slot.
func TestLiveStreamsCappedPerUser(t *testing.T) {
	w := newInviteWorld(t)
	w.s.Live = live.NewHub()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	b, _, err := w.s.Meta.CreateProject(ctx, "B", "UTC")
	if err != nil {
		t.Fatal(err)
	}
	if err := w.s.Meta.SetMember(ctx, b.ID, w.annID, meta.RoleViewer); err != nil {
		t.Fatal(err)
	}
	open := func(c *uiClient, path string) int {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, "GET", w.url+path+"/live", nil)
		resp, err := c.c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() }) // streams stay open until the test ends
		return resp.StatusCode
	}
	for i := 0; i < live.MaxPerUser; i++ {
		if code := open(w.pa, w.a); code != 200 {
			t.Fatalf("stream %d: %d", i+1, code)
		}
	}
	for i := 0; i < 3; i++ {
		if code := open(w.pa, w.a); code != http.StatusTooManyRequests {
			t.Fatalf("stream %d of one user: %d, want 429", live.MaxPerUser+i+1, code)
		}
	}
	if code := open(w.ann, fmt.Sprintf("/ui/api/projects/%d", b.ID)); code != 200 {
		t.Fatalf("another project's member: %d, want a stream", code)
	}
}
