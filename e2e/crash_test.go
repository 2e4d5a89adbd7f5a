// Package e2e tests the journey binary as a process: crash safety.
package e2e

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"
	"github.com/google/uuid"

	"github.com/journey-dev/journey/internal/bench"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "journey-e2e-")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "journey")
	out, err := exec.Command("go", "build", "-o", binary, "../cmd/journey").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "cannot build journey: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// TestKill9LosesNoAcknowledgedEvent ingests from several clients, kills the
// server with SIGKILL at a random moment, restarts it, and repeats. Every
// event that got a 200 must be stored exactly once. JOURNEY_CRASH_ROUNDS
// sets the number of kills (default 5; the bench uses 20).
func TestKill9LosesNoAcknowledgedEvent(t *testing.T) {
	rounds := 5
	if v, err := strconv.Atoi(os.Getenv("JOURNEY_CRASH_ROUNDS")); err == nil && v > 0 {
		rounds = v
	}
	dataDir := t.TempDir()
	srv, err := bench.StartServer(binary, dataDir)
	if err != nil {
		t.Fatal(err)
	}
	token, _, err := srv.CreateProject("crash")
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	var mu sync.Mutex
	var acked []string
	for round := 0; round < rounds; round++ {
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				client := &http.Client{Timeout: 5 * time.Second}
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					ids, body := crashBatch(token, 50, fmt.Sprintf("r%d-w%d", round, w))
					resp, err := client.Post(srv.URL+"/batch/", "application/json", bytes.NewReader(body))
					if err != nil {
						continue // the server is gone; unacknowledged events may or may not be stored
					}
					resp.Body.Close()
					if resp.StatusCode == 200 {
						mu.Lock()
						acked = append(acked, ids...)
						mu.Unlock()
					}
				}
			}(w)
		}
		time.Sleep(time.Duration(300+rng.IntN(1200)) * time.Millisecond)
		srv.Kill()
		close(stop)
		wg.Wait()
		if srv, err = bench.StartServer(binary, dataDir); err != nil {
			t.Fatalf("restart after kill %d: %v", round+1, err)
		}
	}
	// A graceful stop lets the loader catch up with the log.
	if err := srv.Stop(); err != nil {
		t.Fatalf("graceful stop: %v", err)
	}
	if len(acked) == 0 {
		t.Fatal("no event was acknowledged")
	}
	db, err := sql.Open("duckdb", filepath.Join(dataDir, "events.duckdb"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TEMP TABLE acked (uuid UUID)`); err != nil {
		t.Fatal(err)
	}
	for start := 0; start < len(acked); start += 1000 {
		chunk := acked[start:min(start+1000, len(acked))]
		args := make([]any, len(chunk))
		q := "INSERT INTO acked VALUES "
		for i, id := range chunk {
			if i > 0 {
				q += ","
			}
			q += "(?)"
			args[i] = id
		}
		if _, err := db.Exec(q, args...); err != nil {
			t.Fatal(err)
		}
	}
	var total, distinct, missing int
	if err := db.QueryRow(`SELECT count(*), count(DISTINCT uuid) FROM events`).Scan(&total, &distinct); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(`SELECT count(*) FROM acked a WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.uuid = a.uuid)`).Scan(&missing); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d kills: %d events acknowledged, %d stored", rounds, len(acked), total)
	if missing != 0 {
		t.Fatalf("%d acknowledged events lost", missing)
	}
	if total != distinct {
		t.Fatalf("%d duplicate events stored", total-distinct)
	}
}

func crashBatch(token string, n int, prefix string) ([]string, []byte) {
	type ev struct {
		Event      string `json:"event"`
		DistinctID string `json:"distinct_id"`
		UUID       string `json:"uuid"`
	}
	b := struct {
		APIKey string `json:"api_key"`
		Batch  []ev   `json:"batch"`
	}{APIKey: token}
	ids := make([]string, n)
	for i := range ids {
		ids[i] = uuid.NewString()
		b.Batch = append(b.Batch, ev{Event: "crash", DistinctID: fmt.Sprintf("%s-%d", prefix, i%7), UUID: ids[i]})
	}
	body, _ := json.Marshal(b)
	return ids, body
}
