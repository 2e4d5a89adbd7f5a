package backup_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/journey-dev/journey/internal/app"
)

const adminKey = "backup-test-admin-key-0123456789"

// server is an in-process embedded stack answering HTTP.
type server struct {
	a   *app.App
	hs  *httptest.Server
	URL string
	Dir string
}

func startServer(t *testing.T, dir string) *server {
	t.Helper()
	a, err := app.Open(app.Config{DataDir: dir, AdminKey: adminKey, NoSync: true, Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(a.Handler)
	s := &server{a: a, hs: hs, URL: hs.URL, Dir: dir}
	t.Cleanup(s.close)
	return s
}

// close stops the server once; the loader catches up first (app.Close).
func (s *server) close() {
	if s.a == nil {
		return
	}
	s.hs.Close()
	s.a.Close()
	s.a = nil
}

// synced waits until everything in the log is loaded.
func (s *server) synced(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.a.Loader.Sync(ctx); err != nil {
		t.Fatal(err)
	}
}

// call sends a JSON request with a bearer key and returns status and body.
func call(t *testing.T, method, url, key string, body any) (int, []byte) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, out
}

// mustCall is call that wants status want and decodes the answer.
func mustCall(t *testing.T, want int, method, url, key string, body any) any {
	t.Helper()
	status, out := call(t, method, url, key, body)
	if status != want {
		t.Fatalf("%s %s: %d %s, want %d", method, url, status, out, want)
	}
	var v any
	if len(bytes.TrimSpace(out)) > 0 {
		if err := json.Unmarshal(out, &v); err != nil {
			t.Fatalf("%s %s: %v in %s", method, url, err, out)
		}
	}
	return v
}

// project creates a project through the admin API.
func project(t *testing.T, url, name string) (token, secret string) {
	t.Helper()
	p := mustCall(t, 201, "POST", url+"/api/v1/projects", adminKey, map[string]string{"name": name}).(map[string]any)
	return p["token"].(string), p["secret_key"].(string)
}

// base is the first event's time: in the past, so capture keeps it.
var base = time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -10)

// seqEvent is event number n of the sequential sender: a person per four
// events, who views twice and then buys (two persons in three) or leaves.
func seqEvent(n int) map[string]any {
	name := []string{"view", "view", "buy", "leave"}[n%4]
	if n%4 == 2 && (n/4)%3 == 0 {
		name = "leave"
	}
	return map[string]any{
		"event": name, "distinct_id": fmt.Sprint("u", n/4), "uuid": uuid.NewString(),
		"timestamp":  base.Add(time.Duration(n) * 10 * time.Second).Format(time.RFC3339Nano),
		"properties": map[string]any{"seq": n},
	}
}

// queries are the trend and funnel compared between a source and its
// restored copy, over events with seq < below when below >= 0.
func queries(below int) []map[string]any {
	var filters []map[string]any
	if below >= 0 {
		filters = []map[string]any{{"property": "seq", "op": "lt", "value": below}}
	}
	from, to := base.Format(time.RFC3339), base.AddDate(0, 0, 3).Format(time.RFC3339)
	return []map[string]any{
		{"kind": "trend", "from": from, "to": to, "interval": "hour", "filters": filters,
			"series": []map[string]any{{"event": "view", "math": "total"}, {"event": "buy", "math": "dau"}}},
		{"kind": "funnel", "from": from, "to": to, "window": "1h", "filters": filters,
			"steps": []map[string]any{{"event": "view"}, {"event": "buy"}}},
	}
}

// storedUUIDs reads the events of a closed data directory: uuid → seq.
func storedUUIDs(t *testing.T, dataDir string) map[string]int {
	t.Helper()
	db, err := sql.Open("duckdb", filepath.Join(dataDir, "events.duckdb")+"?access_mode=READ_ONLY")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT uuid::VARCHAR, coalesce(CAST(json_extract(properties, '$.seq') AS INTEGER), -1) FROM events`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var id string
		var seq int
		if err := rows.Scan(&id, &seq); err != nil {
			t.Fatal(err)
		}
		if _, dup := out[id]; dup {
			t.Fatalf("uuid %s stored twice", id)
		}
		out[id] = seq
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
