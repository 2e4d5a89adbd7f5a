package backup_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/backup"
)

// sender captures events through HTTP one request at a time, so the log
// holds them in seq order and a snapshot of it is a prefix of the seqs.
type sender struct {
	mu    sync.Mutex
	acked map[string]int // uuid → seq, of the acknowledged
	sent  int
	stop  chan struct{}
	done  chan struct{}
}

func startSender(t *testing.T, url, token string) *sender {
	s := &sender{acked: map[string]int{}, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for n := 0; ; n += 10 {
			select {
			case <-s.stop:
				return
			default:
			}
			batch := make([]map[string]any, 10)
			for i := range batch {
				batch[i] = seqEvent(n + i)
			}
			body, _ := json.Marshal(map[string]any{"api_key": token, "batch": batch})
			resp, err := http.Post(url+"/batch/", "application/json", bytes.NewReader(body))
			if err != nil {
				t.Errorf("capture: %v", err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Errorf("capture: %s", resp.Status)
				return
			}
			s.mu.Lock()
			for i, e := range batch {
				s.acked[e["uuid"].(string)] = n + i
			}
			s.sent = n + 10
			s.mu.Unlock()
		}
	}()
	return s
}

// ackedNow copies the acknowledged events.
func (s *sender) ackedNow() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.acked))
	for k, v := range s.acked {
		out[k] = v
	}
	return out
}

func (s *sender) waitFor(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		s.mu.Lock()
		got := len(s.acked)
		s.mu.Unlock()
		if got >= n {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("fewer than %d events acknowledged in a minute", n)
}

func (s *sender) halt() { close(s.stop); <-s.done }

// TestBackupWhileIngesting backs a serving stack up through the admin
// endpoint while a client captures continuously, restores it into an
// empty data directory and serves it: every event acknowledged before the
// backup began is there, events are a prefix of what was sent, nothing
// after the snapshot's log position is, and trend and funnel answer as the
// source does over the same events.
func TestBackupWhileIngesting(t *testing.T) {
	src := startServer(t, t.TempDir())
	token, secret := project(t, src.URL, "shop")
	snd := startSender(t, src.URL, token)
	snd.waitFor(t, 400)
	src.synced(t) // part in the store, part (below) still in the log
	snd.waitFor(t, 800)
	before := snd.ackedNow()
	dir := filepath.Join(t.TempDir(), "backup")
	raw := mustCall(t, 200, "POST", src.URL+"/api/v1/admin/backup", adminKey, map[string]string{"dir": dir})
	snd.waitFor(t, len(before)+300) // ingest goes on after the snapshot
	snd.halt()
	if t.Failed() {
		t.FailNow()
	}
	var m backup.Manifest
	b, _ := json.Marshal(raw)
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m.Checkpoint == 0 || m.LogEnd < m.Checkpoint || m.MetaSchema < 8 || m.Journey.DuckDB == "" || m.Journey.Go == "" || len(m.Files) < 3 {
		t.Fatalf("manifest = %+v", m)
	}
	if _, err := backup.Verify(dir); err != nil {
		t.Fatal(err)
	}

	restored := filepath.Join(t.TempDir(), "restored")
	if _, err := backup.Restore(context.Background(), dir, restored, false); err != nil {
		t.Fatal(err)
	}
	dst := startServer(t, restored)
	dst.synced(t)
	src.synced(t)
	// The restored copy holds seqs 0..k-1: find k from its trend total.
	k := countBelow(t, dst.URL, secret, -1)
	if k < len(before) {
		t.Fatalf("restored copy has %d events, %d were acknowledged before the backup", k, len(before))
	}
	if all := countBelow(t, src.URL, secret, -1); k >= all {
		t.Fatalf("restored copy has %d events, the source %d: the events after the snapshot should be missing", k, all)
	}
	for i, q := range queries(k) {
		want := mustCall(t, 200, "POST", src.URL+"/api/v1/query", secret, q)
		got := mustCall(t, 200, "POST", dst.URL+"/api/v1/query", secret, q)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("query %d: restored answers\n%v\nthe source at the snapshot\n%v", i, got, want)
		}
		if unfiltered := mustCall(t, 200, "POST", dst.URL+"/api/v1/query", secret, queries(-1)[i]); !reflect.DeepEqual(unfiltered, want) {
			t.Fatalf("query %d: restored copy holds events past seq %d:\n%v", i, k, unfiltered)
		}
	}
	dst.close()
	stored := storedUUIDs(t, restored)
	for id, seq := range before {
		if _, ok := stored[id]; !ok {
			t.Fatalf("event seq %d acknowledged before the backup is not in the restored copy", seq)
		}
	}
	seen := make([]bool, k)
	for _, seq := range stored {
		if seq < 0 || seq >= k || seen[seq] {
			t.Fatalf("restored copy: seq %d out of the prefix 0..%d or twice", seq, k-1)
		}
		seen[seq] = true
	}
	t.Logf("%d acknowledged before the backup, %d in the copy (checkpoint %d, log position %d), %d sent", len(before), k, m.Checkpoint, m.LogEnd, snd.sent)
}

// countBelow counts the sequential sender's events with seq < below (all
// when below < 0) from the trend's hourly totals of every event name.
func countBelow(t *testing.T, url, secret string, below int) int {
	t.Helper()
	q := queries(below)[0]
	q["series"] = []map[string]any{{"event": "view"}, {"event": "buy"}, {"event": "leave"}}
	res := mustCall(t, 200, "POST", url+"/api/v1/query", secret, q).(map[string]any)
	total := 0.0
	for _, s := range res["series"].([]any) {
		for _, p := range s.(map[string]any)["points"].([]any) {
			total += p.(map[string]any)["value"].(float64)
		}
	}
	return int(total)
}

// TestRestoreRefuses: a non-empty data directory (unless --force), a
// backup without its manifest, one whose file changed, one whose manifest
// names a path outside the allow-list.
func TestRestoreRefuses(t *testing.T) {
	ctx := context.Background()
	src := startServer(t, t.TempDir())
	token, secret := project(t, src.URL, "p")
	mustCall(t, 200, "POST", src.URL+"/batch/", "", map[string]any{"api_key": token, "batch": []any{seqEvent(0), seqEvent(1)}})
	src.synced(t)
	dir := filepath.Join(t.TempDir(), "b")
	mustCall(t, 200, "POST", src.URL+"/api/v1/admin/backup", adminKey, map[string]string{"dir": dir})

	busy := t.TempDir()
	os.WriteFile(filepath.Join(busy, "notes.txt"), []byte("keep"), 0o600)
	if _, err := backup.Restore(ctx, dir, busy, false); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("restore into a non-empty directory: %v", err)
	}
	if _, err := os.Stat(filepath.Join(busy, "meta.db")); !os.IsNotExist(err) {
		t.Fatalf("refused restore wrote meta.db: %v", err)
	}
	// --force replaces the stores of an idle data directory, nothing else.
	if _, err := backup.Restore(ctx, dir, busy, true); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(busy, "notes.txt")); err != nil || string(b) != "keep" {
		t.Fatalf("--force touched another file: %q %v", b, err)
	}
	// --force refuses a data directory a server holds.
	if _, err := backup.Restore(ctx, dir, src.Dir, true); err == nil || !strings.Contains(err.Error(), "server running") {
		t.Fatalf("restore over a serving data directory: %v", err)
	}
	if got := countBelow(t, src.URL, secret, -1); got != 2 {
		t.Fatalf("source has %d events after the refused restore, want 2", got)
	}

	// Never into (or around) the backup itself, even with --force.
	for _, into := range []string{dir, filepath.Join(dir, "log"), filepath.Dir(dir)} {
		if _, err := backup.Restore(ctx, dir, into, true); err == nil || !strings.Contains(err.Error(), "overlaps") {
			t.Fatalf("restore into %s: %v", into, err)
		}
	}
	if _, err := backup.Verify(dir); err != nil {
		t.Fatalf("backup damaged by a refused restore: %v", err)
	}
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(src.Dir, link); err != nil {
		t.Fatal(err)
	}
	if status, out := call(t, "POST", src.URL+"/api/v1/admin/backup", adminKey, map[string]string{"dir": filepath.Join(link, "b")}); status != 400 {
		t.Fatalf("backup into the data directory through a symlink: %d %s", status, out)
	}

	copyDir := func(t *testing.T) string {
		out := filepath.Join(t.TempDir(), "b")
		if err := os.CopyFS(out, os.DirFS(dir)); err != nil {
			t.Fatal(err)
		}
		return out
	}
	f := func(name, want string, spoil func(b string)) {
		t.Run(name, func(t *testing.T) {
			b := copyDir(t)
			spoil(b)
			if _, err := backup.Restore(ctx, b, filepath.Join(t.TempDir(), "d"), false); err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("restore: %v, want %q", err, want)
			}
		})
	}
	f("no manifest", "not a complete backup", func(b string) { os.Remove(filepath.Join(b, "manifest.json")) })
	f("changed file", "SHA-256", func(b string) {
		p := filepath.Join(b, "meta.db")
		data, _ := os.ReadFile(p)
		data[len(data)/2] ^= 1
		os.WriteFile(p, data, 0o600)
	})
	editManifest := func(edit func(m map[string]any)) func(string) {
		return func(b string) {
			p := filepath.Join(b, "manifest.json")
			var m map[string]any
			data, _ := os.ReadFile(p)
			json.Unmarshal(data, &m)
			edit(m)
			data, _ = json.Marshal(m)
			os.WriteFile(p, data, 0o600)
		}
	}
	f("path outside", "unexpected file", editManifest(func(m map[string]any) {
		m["files"].([]any)[0].(map[string]any)["path"] = "../../etc/passwd"
	}))
	f("newer format", "backup format 2", editManifest(func(m map[string]any) { m["format"] = 2 }))
	f("log gap", "log", editManifest(func(m map[string]any) { m["log_end"] = m["log_end"].(float64) + 1 }))
}

// TestBackupEndpointRefuses: the admin key only, and a target that is
// relative, inside the data directory or not empty, each a 400 naming dir.
func TestBackupEndpointRefuses(t *testing.T) {
	src := startServer(t, t.TempDir())
	_, secret := project(t, src.URL, "p")
	url := src.URL + "/api/v1/admin/backup"
	if status, _ := call(t, "POST", url, secret, map[string]string{"dir": t.TempDir()}); status != 401 {
		t.Fatalf("secret key: %d, want 401", status)
	}
	full := t.TempDir()
	os.WriteFile(filepath.Join(full, "x"), nil, 0o600)
	for _, dir := range []string{"relative/dir", filepath.Join(src.Dir, "inside"), filepath.Dir(src.Dir), full, ""} {
		status, out := call(t, "POST", url, adminKey, map[string]string{"dir": dir})
		var e struct{ Error, Field string }
		json.Unmarshal(out, &e)
		if status != 400 || e.Field != "dir" {
			t.Fatalf("dir %q: %d %s, want 400 naming dir", dir, status, out)
		}
	}
	if status, out := call(t, "POST", url, adminKey, map[string]any{"dir": t.TempDir(), "extra": 1}); status != 400 || !strings.Contains(string(out), "extra") {
		t.Fatalf("unknown field: %d %s", status, out)
	}
	if _, err := os.Stat(filepath.Join(src.Dir, "inside")); !os.IsNotExist(err) {
		t.Fatalf("refused backup created a directory: %v", err)
	}
}
