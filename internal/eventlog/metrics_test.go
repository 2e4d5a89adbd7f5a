package eventlog

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/VictoriaMetrics/metrics"

	"github.com/journey-dev/journey/internal/event"
)

// TestJetStreamPositionBytes: a replica's lag in bytes is its lag in
// messages times PositionBytes, which is the stream's bytes per message:
// at least each message's JSON payload and within a header's size of it.
func TestJetStreamPositionBytes(t *testing.T) {
	url := testNATS(t)
	l := openJS(t, url, testStream(t, url))
	b := event.Batch{ProjectID: 3, Events: []event.Event{{UUID: "u1", Event: strings.Repeat("x", 4000), DistinctID: "d"}}}
	payload, _ := json.Marshal(b)
	for range 3 {
		if err := l.Append(context.Background(), b); err != nil {
			t.Fatal(err)
		}
	}
	if end := l.End(); end != 3 {
		t.Fatalf("End = %d after 3 appends", end)
	}
	if got := l.PositionBytes(); got < float64(len(payload)) || got > float64(len(payload))+512 {
		t.Fatalf("PositionBytes = %.0f, messages carry %d bytes of payload", got, len(payload))
	}
}

// TestAppendSeconds: both logs time their appends in one histogram family.
func TestAppendSeconds(t *testing.T) {
	f, err := OpenFile(filepath.Join(t.TempDir(), "log"), FileOptions{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	before := fileAppendsCount(t)
	if err := f.Append(context.Background(), event.Batch{ProjectID: 1, Events: []event.Event{{UUID: "u", Event: "e", DistinctID: "d"}}}); err != nil {
		t.Fatal(err)
	}
	if after := fileAppendsCount(t); after != before+1 {
		t.Fatalf(`journey_eventlog_append_seconds_count{log="file"} went from %d to %d`, before, after)
	}
}

func fileAppendsCount(t *testing.T) int {
	var buf bytes.Buffer
	metrics.WritePrometheus(&buf, false)
	for _, line := range strings.Split(buf.String(), "\n") {
		if v, ok := strings.CutPrefix(line, `journey_eventlog_append_seconds_count{log="file"} `); ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal(`no journey_eventlog_append_seconds_count{log="file"} series`)
	return 0
}
