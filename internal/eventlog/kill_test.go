package eventlog

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/event"
)

// killChildEnv makes the test binary a child that appends until killed.
const killChildEnv = "JOURNEY_EVENTLOG_KILL_CHILD"

// TestFileKillAfterAck: a real process appends from 16 goroutines (group
// commit: many appends share one sync) and prints each uuid once Append
// returned; it is killed with SIGKILL while doing so, several times on the
// same directory. On every reopen each printed (acknowledged) uuid is in
// the log exactly once, and the log keeps appending after the recovered
// tail. (SIGKILL keeps the page cache: this checks that an acknowledged
// record is written, not still in the process, and that recovery keeps
// it; the sync itself is the kernel's promise.)
func TestFileKillAfterAck(t *testing.T) {
	if dir := os.Getenv(killChildEnv); dir != "" {
		killChild(dir)
		return
	}
	dir := t.TempDir()
	acked := map[string]bool{}
	for round := 0; round < 4; round++ {
		got := runKillChild(t, dir, round, 300+round*400)
		for _, id := range got {
			acked[id] = true
		}
		l, err := OpenFile(dir, FileOptions{})
		if err != nil {
			t.Fatalf("round %d: cannot reopen: %v", round, err)
		}
		ids, _ := readAll(t, l, 0)
		l.Close()
		seen := map[string]int{}
		for _, id := range ids {
			seen[id]++
		}
		for id := range acked {
			if seen[id] != 1 {
				t.Fatalf("round %d: acknowledged %s found %d times in the log", round, id, seen[id])
			}
		}
		t.Logf("round %d: %d acknowledged before the kill, %d in the log in all", round, len(got), len(ids))
		if len(got) == 0 {
			t.Fatalf("round %d: the child acknowledged nothing", round)
		}
	}
}

// runKillChild starts the child, kills it once it printed n acks (or
// after 10 s), and returns every ack it printed.
func runKillChild(t *testing.T, dir string, round, n int) []string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestFileKillAfterAck$")
	cmd.Env = append(os.Environ(), killChildEnv+"="+dir, fmt.Sprintf("JOURNEY_EVENTLOG_KILL_ROUND=%d", round))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	timer := time.AfterFunc(10*time.Second, func() { cmd.Process.Kill() })
	defer timer.Stop()
	var ids []string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		id, ok := strings.CutPrefix(sc.Text(), "ack ")
		if !ok {
			continue
		}
		ids = append(ids, id)
		if len(ids) == n {
			cmd.Process.Kill() // the lines already in the pipe are read on
		}
	}
	cmd.Wait()
	return ids
}

// killChild appends batches of 1 to 3 events until killed, printing each
// acknowledged uuid.
func killChild(dir string) {
	l, err := OpenFile(dir, FileOptions{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	round := os.Getenv("JOURNEY_EVENTLOG_KILL_ROUND")
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				b := event.Batch{ProjectID: 1}
				for k := 0; k <= i%3; k++ {
					b.Events = append(b.Events, event.Event{UUID: fmt.Sprintf("r%s-w%d-%d-%d", round, w, i, k), Event: "e", DistinctID: "d",
						Timestamp: time.Unix(1, 0).UTC(), Properties: map[string]any{"i": i}})
				}
				if err := l.Append(context.Background(), b); err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(2)
				}
				mu.Lock()
				for _, e := range b.Events {
					fmt.Fprintf(os.Stdout, "ack %s\n", e.UUID) // unbuffered: printed means acknowledged
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}
