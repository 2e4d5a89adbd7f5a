package eventlog

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	json "github.com/goccy/go-json"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/journey-dev/journey/internal/event"
	"github.com/journey-dev/journey/internal/testutil"
)

// These tests run against a real nats-server with JetStream:
// JOURNEY_TEST_NATS, default nats://127.0.0.1:14222 (scripts/nats.sh
// start). Where none answers they skip, except under CI, where they fail.

func testNATS(t testing.TB) string {
	t.Helper()
	url := os.Getenv("JOURNEY_TEST_NATS")
	if url == "" {
		url = "nats://127.0.0.1:14222"
	}
	nc, err := nats.Connect(url, nats.Timeout(time.Second))
	if err != nil {
		testutil.Missing(t, "no NATS at %s (run scripts/nats.sh start): %v", url, err)
	}
	nc.Close()
	return url
}

var nonName = regexp.MustCompile(`[^A-Za-z0-9]+`)

// testStream gives t a stream and subject of its own, deleted at the end.
func testStream(t testing.TB, url string) JetStreamOptions {
	t.Helper()
	var r [4]byte
	rand.Read(r[:])
	suffix := strings.ToLower(nonName.ReplaceAllString(t.Name(), "_")) + "_" + hex.EncodeToString(r[:])
	opts := JetStreamOptions{Stream: "JOURNEY_TEST_" + suffix, Subject: "journey.test." + suffix}
	t.Cleanup(func() {
		nc, err := nats.Connect(url)
		if err != nil {
			return
		}
		defer nc.Close()
		js, _ := jetstream.New(nc)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = js.DeleteStream(ctx, opts.Stream)
	})
	return opts
}

func openJS(t testing.TB, url string, opts JetStreamOptions) *JetStream {
	t.Helper()
	l, err := OpenJetStream(url, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func TestJetStreamLog(t *testing.T) {
	url := testNATS(t)
	testLog(t, perTest(func(t *testing.T) JetStreamOptions { return testStream(t, url) },
		func(t *testing.T, opts JetStreamOptions) Log { return openJS(t, url, opts) }))
}

func TestJetStreamPositions(t *testing.T) {
	url := testNATS(t)
	opts := testStream(t, url)
	l := openJS(t, url, opts)
	if l.End() != 0 {
		t.Fatalf("End of a new stream = %d, want 0", l.End())
	}
	for i := 1; i <= 3; i++ {
		if err := l.Append(context.Background(), batch(1, fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	// Positions are stream sequences: Next is the entry's own sequence
	// and Read(from) starts after it.
	entries, err := l.Read(context.Background(), 1, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 || entries[0].Next != 2 || entries[1].Next != 3 || entries[0].Batch.Events[0].UUID != "2" {
		t.Fatalf("Read(1) = %+v", entries)
	}
	if l.End() != 3 {
		t.Fatalf("End = %d, want 3", l.End())
	}
	// A position past the stream's end means the stream is not the one the
	// position came from; reading on would skip entries.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := l.Read(ctx, 10, 1<<20); err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Read past the end: err = %v, want an error at once", err)
	}
	// Another client appending to the same stream moves End.
	other := openJS(t, url, opts)
	if err := other.Append(context.Background(), batch(1, "4")); err != nil {
		t.Fatal(err)
	}
	if l.End() != 4 {
		t.Fatalf("End after another client's append = %d, want 4", l.End())
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Append(context.Background(), batch(1, "late")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Close: %v, want ErrClosed", err)
	}
	if _, err := l.Read(context.Background(), 0, 1<<20); !errors.Is(err, ErrClosed) {
		t.Fatalf("Read after Close: %v, want ErrClosed", err)
	}
}

func TestJetStreamTrim(t *testing.T) {
	url := testNATS(t)
	opts := testStream(t, url)
	l := openJS(t, url, opts)
	for i := 0; i < 10; i++ {
		if err := l.Append(context.Background(), batch(1, fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	// Off by default: other loaders may still need the entries.
	if err := l.Trim(5); err != nil {
		t.Fatal(err)
	}
	if ids, _ := readAll(t, l, 0); len(ids) != 10 {
		t.Fatalf("after a Trim without TrimOnLoad read %d events, want 10", len(ids))
	}
	l.Close()

	opts.TrimOnLoad = true
	l = openJS(t, url, opts)
	if err := l.Trim(5); err != nil {
		t.Fatal(err)
	}
	info, err := l.stream.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.State.FirstSeq != 6 || info.State.Msgs != 5 {
		t.Fatalf("after Trim(5) first = %d, msgs = %d; want 6, 5", info.State.FirstSeq, info.State.Msgs)
	}
	if ids, _ := readAll(t, l, 5); strings.Join(ids, ",") != "5,6,7,8,9" {
		t.Fatalf("Read(5) after Trim(5) = %v", ids)
	}
	// Reading trimmed entries fails instead of skipping them.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := l.Read(ctx, 2, 1<<20); err == nil || !strings.Contains(err.Error(), "trimmed") {
		t.Fatalf("Read(2) after Trim(5): %v, want a trimmed error", err)
	}
}

func TestSplitBatch(t *testing.T) {
	b := batch(42)
	for i := 0; i < 100; i++ {
		b.Events = append(b.Events, event.Event{UUID: fmt.Sprint(i), Event: strings.Repeat("e", i*10), DistinctID: "d", Timestamp: time.Unix(int64(i), 0).UTC()})
	}
	whole, _ := json.Marshal(b)
	if parts, err := splitBatch(b, len(whole)); err != nil || len(parts) != 1 || string(parts[0]) != string(whole) {
		t.Fatalf("a batch that fits was split: %d parts, %v", len(parts), err)
	}
	const limit = 4000
	parts, err := splitBatch(b, limit)
	if err != nil {
		t.Fatal(err)
	}
	var got []event.Event
	for _, p := range parts {
		if len(p) > limit {
			t.Fatalf("part of %d bytes over the %d limit", len(p), limit)
		}
		var pb event.Batch
		if err := json.Unmarshal(p, &pb); err != nil {
			t.Fatalf("part is not a batch: %v", err)
		}
		if pb.ProjectID != 42 || len(pb.Events) == 0 {
			t.Fatalf("part: project %d, %d events", pb.ProjectID, len(pb.Events))
		}
		// Each part is exactly what json.Marshal makes of its batch.
		if again, _ := json.Marshal(pb); string(again) != string(p) {
			t.Fatalf("part differs from json.Marshal of its batch:\n%s\n%s", p, again)
		}
		got = append(got, pb.Events...)
	}
	if len(parts) < 10 || len(got) != 100 {
		t.Fatalf("%d parts, %d events", len(parts), len(got))
	}
	for i, e := range got {
		if e.UUID != fmt.Sprint(i) || len(e.Event) != i*10 {
			t.Fatalf("event %d is %q", i, e.UUID)
		}
	}
	b.Events = append(b.Events, event.Event{UUID: "too-big", Event: strings.Repeat("x", limit)})
	if _, err := splitBatch(b, limit); err == nil || !strings.Contains(err.Error(), "too-big") {
		t.Fatalf("an event over the limit: %v", err)
	}
}

// TestJetStreamSurvivesKill9 runs a private nats-server, kills it with
// SIGKILL while appends run, starts it again on the same store, and checks
// that every Append that returned nil is readable.
func TestJetStreamSurvivesKill9(t *testing.T) {
	bin, err := exec.LookPath("nats-server")
	if err != nil {
		testutil.Missing(t, "no nats-server binary (run scripts/nats.sh start)")
	}
	store := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	url := "nats://127.0.0.1:" + port

	var mu sync.Mutex
	var srv *exec.Cmd
	start := func() {
		cmd := exec.Command(bin, "-js", "-sd", store, "-a", "127.0.0.1", "-p", port)
		logf, err := os.OpenFile(filepath.Join(store, "server.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		defer logf.Close()
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		srv = cmd
		mu.Unlock()
		for i := 0; ; i++ {
			if c, err := net.DialTimeout("tcp", "127.0.0.1:"+port, time.Second); err == nil {
				line, _ := bufio.NewReader(c).ReadString('\n')
				c.Close()
				if strings.HasPrefix(line, "INFO") {
					return
				}
			}
			if i == 100 {
				log, _ := os.ReadFile(filepath.Join(store, "server.log"))
				t.Fatalf("nats-server did not start:\n%s", log)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	kill := func() {
		mu.Lock()
		defer mu.Unlock()
		srv.Process.Signal(syscall.SIGKILL)
		srv.Wait()
	}
	start()
	t.Cleanup(kill)

	l, err := OpenJetStream(url, JetStreamOptions{Stream: "KILL", Subject: "journey.kill", Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()

	var (
		amu       sync.Mutex
		acked     []string
		failed    int
		restarted bool
		after     int // acks of appends begun after the restart
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				amu.Lock()
				began := restarted
				amu.Unlock()
				id := fmt.Sprintf("%d-%d", g, i)
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				err := l.Append(ctx, batch(1, id))
				cancel()
				amu.Lock()
				if err == nil {
					acked = append(acked, id)
					if began {
						after++
					}
				} else {
					failed++
				}
				amu.Unlock()
			}
		}(g)
	}
	time.Sleep(500 * time.Millisecond)
	kill()
	amu.Lock()
	atKill := len(acked)
	amu.Unlock()
	time.Sleep(300 * time.Millisecond)
	start()
	amu.Lock()
	restarted = true
	amu.Unlock()
	deadline := time.Now().Add(15 * time.Second)
	for {
		amu.Lock()
		n := after
		amu.Unlock()
		if n >= 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d appends succeeded after the restart", n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if atKill == 0 {
		t.Fatal("no append succeeded before the kill")
	}

	ids, _ := readAll(t, l, 0)
	seen := map[string]int{}
	for _, id := range ids {
		seen[id]++
	}
	for _, id := range acked {
		if seen[id] == 0 {
			t.Errorf("append of %s returned nil but it is not in the log", id)
		}
	}
	for id, n := range seen {
		if n > 1 {
			t.Errorf("%s stored %d times", id, n)
		}
	}
	t.Logf("%d acked (%d before the kill), %d failed, %d stored", len(acked), atKill, failed, len(ids))
}

// BenchmarkJetStreamAppend is BenchmarkAppend on JetStream: durable appends
// of 100-event batches from concurrent writers.
func BenchmarkJetStreamAppend(b *testing.B) {
	url := testNATS(b)
	l := openJS(b, url, testStream(b, url))
	ids := make([]string, 100)
	for i := range ids {
		ids[i] = "0195f3a4-7c1e-7b7e-9d6a-2f5b8c1d0e4f"
	}
	batch := batch(1, ids...)
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := l.Append(context.Background(), batch); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "events/s")
}

func TestRedactURL(t *testing.T) {
	got := redactURL("nats://u:secret@a:4222, nats://tok3n@b:4222,nats://c:4222")
	if strings.Contains(got, "secret") || strings.Contains(got, "tok3n") || !strings.Contains(got, "c:4222") || !strings.Contains(got, "u:") {
		t.Fatalf("redactURL = %q", got)
	}
}

// TestJetStreamTail: a replica tailing the stream sees batches another
// replica appends, until it stops.
func TestJetStreamTail(t *testing.T) {
	url := testNATS(t)
	opts := testStream(t, url)
	a, b := openJS(t, url, opts), openJS(t, url, opts)
	got := make(chan event.RawBatch, 4)
	stop, err := a.Tail(func(rb event.RawBatch) { got <- rb })
	if err != nil {
		t.Fatal(err)
	}
	a.nc.Flush() // the subscription is on the server before b appends
	ctx := context.Background()
	if err := b.Append(ctx, event.Batch{ProjectID: 7, Events: []event.Event{{UUID: "u1", Event: "seen", DistinctID: "d"}}}); err != nil {
		t.Fatal(err)
	}
	select {
	case rb := <-got:
		if rb.ProjectID != 7 || len(rb.Events) != 1 || rb.Events[0].Event != "seen" {
			t.Fatalf("tailed %+v", rb)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no batch tailed")
	}
	stop()
	a.nc.Flush()
	if err := b.Append(ctx, event.Batch{ProjectID: 7, Events: []event.Event{{UUID: "u2", Event: "unseen", DistinctID: "d"}}}); err != nil {
		t.Fatal(err)
	}
	select {
	case rb := <-got:
		t.Fatalf("tailed after stop: %+v", rb)
	case <-time.After(500 * time.Millisecond):
	}
}
