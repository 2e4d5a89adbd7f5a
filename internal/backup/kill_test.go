package backup_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/bench"
)

var (
	buildOnce sync.Once
	binary    string
	buildErr  error
)

// TestMain removes the binary journeyBinary built.
func TestMain(m *testing.M) {
	code := m.Run()
	if binary != "" {
		os.RemoveAll(filepath.Dir(binary))
	}
	os.Exit(code)
}

// journeyBinary builds cmd/journey once per test run.
func journeyBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "journey-backup-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binary = filepath.Join(dir, "journey")
		if out, err := exec.Command("go", "build", "-o", binary, "../../cmd/journey").CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("cannot build journey: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binary
}

// procSender captures through HTTP until stopped, keeping the uuids of
// the acknowledged events; a server gone away just fails requests.
type procSender struct {
	next  int // the next event's seq: each run goes on from the last
	mu    sync.Mutex
	acked []string
	stop  chan struct{}
	done  chan struct{}
}

func (p *procSender) run(url, token string) {
	p.stop, p.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(p.done)
		client := &http.Client{Timeout: 5 * time.Second}
		for ; ; p.next += 20 {
			n := p.next
			select {
			case <-p.stop:
				return
			default:
			}
			batch := make([]map[string]any, 20)
			for i := range batch {
				batch[i] = seqEvent(n + i)
				batch[i]["properties"].(map[string]any)["pad"] = strings.Repeat("x", 200)
				batch[i]["timestamp"] = base.Add(time.Duration(n+i) * time.Second).Format(time.RFC3339Nano) // within queries' 3 days
			}
			body, _ := json.Marshal(map[string]any{"api_key": token, "batch": batch})
			resp, err := client.Post(url+"/batch/", "application/json", bytes.NewReader(body))
			if err != nil {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			resp.Body.Close()
			if resp.StatusCode == 200 {
				p.mu.Lock()
				for _, e := range batch {
					p.acked = append(p.acked, e["uuid"].(string))
				}
				p.mu.Unlock()
			}
		}
	}()
}

func (p *procSender) halt() { close(p.stop); <-p.done }

// TestKill9DuringBackup kills a real `journey serve` with SIGKILL while
// `journey backup --url` copies its event store: the source data directory
// restarts with every acknowledged event, the partial backup has no
// manifest and `journey restore` refuses it; a backup taken afterwards
// restores with the CLI.
func TestKill9DuringBackup(t *testing.T) {
	bin := journeyBinary(t)
	srcDir := t.TempDir()
	srv, err := bench.StartServer(bin, srcDir)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { srv.Kill() }()
	token, secret, err := srv.CreateProject("kill")
	if err != nil {
		t.Fatal(err)
	}
	var snd procSender
	var partial string
	for attempt := 0; attempt < 10 && partial == ""; attempt++ {
		snd.run(srv.URL, token)
		time.Sleep(time.Duration(500+200*attempt) * time.Millisecond) // a store that takes longer to copy at each attempt
		target := filepath.Join(t.TempDir(), "backup")
		cli := exec.Command(bin, "backup", target, "--url", srv.URL, "--admin-key", srv.AdminKey)
		var out bytes.Buffer
		cli.Stdout, cli.Stderr = &out, &out
		if err := cli.Start(); err != nil {
			t.Fatal(err)
		}
		// Kill once the event store's copy has begun (under its lock).
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			if _, err := os.Stat(filepath.Join(target, "events.duckdb")); err == nil {
				break
			}
			time.Sleep(50 * time.Microsecond)
		}
		srv.Kill()
		cliErr := cli.Wait()
		snd.halt()
		if _, err := os.Stat(filepath.Join(target, "manifest.json")); os.IsNotExist(err) {
			partial = target
			if cliErr == nil {
				t.Fatalf("journey backup succeeded without a manifest:\n%s", out.String())
			}
			t.Logf("attempt %d: killed mid-backup; journey backup said: %s", attempt, strings.TrimSpace(out.String()))
		}
		if srv, err = bench.StartServer(bin, srcDir); err != nil {
			t.Fatalf("restart after kill -9 during a backup: %v", err)
		}
	}
	if partial == "" {
		t.Fatal("every backup finished before the kill")
	}
	into := filepath.Join(t.TempDir(), "restored")
	out, err := exec.Command(bin, "restore", partial, "--data", into).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "not a complete backup") {
		t.Fatalf("restore of a partial backup: %v\n%s", err, out)
	}
	if _, err := os.Stat(into); !os.IsNotExist(err) {
		t.Fatalf("refused restore created %s: %v", into, err)
	}

	// The source, restarted after the kills, has every acknowledged event
	// once; a backup of it now restores and serves the same counts.
	if err := srv.WaitLoaded(time.Minute); err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(t.TempDir(), "good")
	if out, err := exec.Command(bin, "backup", good, "--url", srv.URL, "--admin-key", srv.AdminKey).CombinedOutput(); err != nil || !strings.Contains(string(out), "backup written") {
		t.Fatalf("journey backup: %v\n%s", err, out)
	}
	want := countBelow(t, srv.URL, secret, -1)
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	stored := storedUUIDs(t, srcDir)
	for _, id := range snd.acked {
		if _, ok := stored[id]; !ok {
			t.Fatalf("acknowledged event %s lost from the source", id)
		}
	}
	if len(snd.acked) == 0 || want != len(stored) {
		t.Fatalf("%d acknowledged, %d stored, the API counts %d", len(snd.acked), len(stored), want)
	}
	if out, err := exec.Command(bin, "restore", good, "--data", into).CombinedOutput(); err != nil {
		t.Fatalf("journey restore: %v\n%s", err, out)
	}
	if out, err := exec.Command(bin, "restore", good, "--data", into).CombinedOutput(); err == nil || !strings.Contains(string(out), "not empty") {
		t.Fatalf("second restore into the same directory: %v\n%s", err, out)
	}
	if out, err := exec.Command(bin, "backup", filepath.Join(t.TempDir(), "offline"), "--data-dir", into).CombinedOutput(); err != nil {
		t.Fatalf("offline backup of the restored directory: %v\n%s", err, out)
	}
	restored, err := bench.StartServer(bin, into)
	if err != nil {
		t.Fatal(err)
	}
	defer restored.Kill()
	if err := restored.WaitLoaded(time.Minute); err != nil {
		t.Fatal(err)
	}
	if got := countBelow(t, restored.URL, secret, -1); got != want {
		t.Fatalf("restored server counts %d events, the source %d", got, want)
	}
	t.Logf("%d events acknowledged across the kills", len(snd.acked))
}

// TestVersion: journey version names the Go and DuckDB versions.
func TestVersion(t *testing.T) {
	out, err := exec.Command(journeyBinary(t), "version", "--json").Output()
	if err != nil {
		t.Fatal(err)
	}
	var v struct{ Version, Go, DuckDB_version string }
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatal(err)
	}
	if v.Version == "" || !strings.HasPrefix(v.Go, "go1.") || !strings.HasPrefix(v.DuckDB_version, "v1.") {
		t.Fatalf("journey version --json = %s", out)
	}
}
