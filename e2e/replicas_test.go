package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/bench"
	"github.com/journey-dev/journey/internal/store/clickhouse"
	"github.com/journey-dev/journey/internal/testutil"
	"github.com/journey-dev/journey/internal/testutil/scaleout"
)

// scaleOut is the scale-out stack the test scripts start: ClickHouse,
// PostgreSQL and NATS on loopback.
type scaleOut struct {
	scaleout.Stack
	ch *clickhouse.Store
}

func newScaleOut(t *testing.T) scaleOut {
	t.Helper()
	s := scaleOut{Stack: scaleout.New(t, 1)}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var err error
	if s.ch, err = clickhouse.Open(ctx, s.Events); err != nil {
		testutil.Missing(t, "ClickHouse not available (scripts/clickhouse.sh start 2): %v", err)
	}
	t.Cleanup(func() { s.ch.Close() })
	return s
}

func (s scaleOut) start(t *testing.T) *bench.Server {
	t.Helper()
	srv, err := bench.StartServer(binary, t.TempDir(), "--events", s.Events, "--meta", s.Meta, "--log", s.Log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Kill)
	return srv
}

// TestReplicasKillLoader runs two replicas on one ClickHouse, PostgreSQL
// and NATS; clients send to both while the replicas are killed with
// SIGKILL in turn (one of them is the loader). Every acknowledged event
// is stored exactly once, and both replicas answer a query identically.
func TestReplicasKillLoader(t *testing.T) {
	s := newScaleOut(t)
	a, b := s.start(t), s.start(t)
	token, secret, err := a.CreateProject("replicas")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var acked []string
	send := func(servers func() []*bench.Server, stop <-chan struct{}, w int) {
		client := &http.Client{Timeout: 5 * time.Second}
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			srvs := servers()
			ids, body := crashBatch(token, 20, fmt.Sprintf("w%d", w))
			resp, err := client.Post(srvs[i%len(srvs)].URL+"/batch/", "application/json", bytes.NewReader(body))
			if err != nil {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			resp.Body.Close()
			if resp.StatusCode == 200 {
				mu.Lock()
				acked = append(acked, ids...)
				mu.Unlock()
			}
		}
	}
	var smu sync.Mutex
	current := []*bench.Server{a, b}
	servers := func() []*bench.Server {
		smu.Lock()
		defer smu.Unlock()
		return append([]*bench.Server(nil), current...)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) { defer wg.Done(); send(servers, stop, w) }(w)
	}
	for round := 0; round < 2; round++ {
		time.Sleep(time.Duration(700+rand.IntN(800)) * time.Millisecond)
		smu.Lock()
		victim := current[round%2]
		smu.Unlock()
		victim.Kill()
		restarted := s.start(t)
		smu.Lock()
		current[round%2] = restarted
		smu.Unlock()
	}
	time.Sleep(500 * time.Millisecond)
	close(stop)
	wg.Wait()
	if len(acked) == 0 {
		t.Fatal("nothing was acknowledged")
	}
	// Wait for the loader (whichever replica holds the lock) to store everything.
	ctx := context.Background()
	deadline := time.Now().Add(90 * time.Second)
	var n int64
	for time.Now().Before(deadline) {
		if n, err = s.ch.CountEvents(ctx, 0); err == nil && n >= int64(len(acked)) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	stored := s.storedUUIDs(t)
	missing := 0
	for _, id := range acked {
		if stored[id] == 0 {
			missing++
		}
	}
	dups := 0
	for _, c := range stored {
		if c > 1 {
			dups += c - 1
		}
	}
	t.Logf("%d acknowledged, %d stored", len(acked), n)
	if missing > 0 || dups > 0 {
		t.Fatalf("%d acknowledged events missing, %d stored twice", missing, dups)
	}
	// Both replicas answer the same query the same way.
	q := `{"kind":"trend","series":[{"event":"crash","math":"dau"},{"event":"crash"}],"interval":"day","from":"` +
		time.Now().UTC().AddDate(0, 0, -1).Format("2006-01-02T00:00:00Z") + `","to":"` + time.Now().UTC().AddDate(0, 0, 1).Format("2006-01-02T00:00:00Z") + `"}`
	cur := servers()
	ra, rb := query(t, cur[0].URL, secret, q), query(t, cur[1].URL, secret, q)
	if ra != rb || !strings.Contains(ra, fmt.Sprintf(`"value":%d}`, n)) {
		t.Fatalf("replicas disagree or miss events:\n%s\n%s", ra, rb)
	}
}

func (s scaleOut) storedUUIDs(t *testing.T) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, row := range s.Query(t, "SELECT toString(uuid) FROM "+s.ch.EventsTable()) {
		out[row[0]]++
	}
	return out
}

func query(t *testing.T, url, secret, q string) string {
	t.Helper()
	req, _ := http.NewRequest("POST", url+"/api/v1/query", strings.NewReader(q))
	req.Header.Set("Authorization", "Bearer "+secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("query: %d %s", resp.StatusCode, body)
	}
	var v any
	json.Unmarshal(body, &v)
	out, _ := json.Marshal(v)
	return string(out)
}
