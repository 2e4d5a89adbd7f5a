package main

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/app"
)

// TestServeObservabilityFlags: --log-format and its JOURNEY_LOG_FORMAT
// twin, typed (a bad value names both), and the metrics and readiness
// flags reach the Config.
func TestServeObservabilityFlags(t *testing.T) {
	parse := func(args ...string) (app.Config, serveOptions, error) {
		var cfg app.Config
		var o serveOptions
		f := serveFlags(&cfg, &o)
		f.SetOutput(io.Discard) // the usage a bad value prints
		err := f.parse(args)
		return cfg, o, err
	}
	if _, o, err := parse(); err != nil || o.logFormat != logText {
		t.Fatalf("default: %v, %v", o.logFormat, err)
	}
	if _, _, err := parse("--log-format", "yaml"); err == nil || !strings.Contains(err.Error(), "JOURNEY_LOG_FORMAT") || !strings.Contains(err.Error(), "text or json") {
		t.Fatalf("bad value: %v", err)
	}
	cfg, o, err := parse("--log-format", "json", "--metrics-token", "0123456789abcdef", "--ready-max-lag", "90s", "--ready-max-lag-bytes", "64MiB")
	if err != nil || o.logFormat != logJSON || cfg.MetricsToken != "0123456789abcdef" || cfg.ReadyMaxLag != 90*time.Second || cfg.ReadyMaxLagBytes != 64<<20 {
		t.Fatalf("flags: %+v %+v %v", o, cfg, err)
	}
	t.Setenv("JOURNEY_LOG_FORMAT", "json")
	if _, o, err := parse(); err != nil || o.logFormat != logJSON {
		t.Fatalf("from the environment: %v, %v", o.logFormat, err)
	}
	if _, o, err := parse("--log-format", "text"); err != nil || o.logFormat != logText {
		t.Fatalf("the command line wins: %v, %v", o.logFormat, err)
	}
	t.Setenv("JOURNEY_LOG_FORMAT", "xml")
	if _, _, err := parse(); err == nil || !strings.Contains(err.Error(), "JOURNEY_LOG_FORMAT") {
		t.Fatalf("bad environment value: %v", err)
	}
}

// TestLogFormatLines: json writes one object a line with slog's keys,
// text writes key=value.
func TestLogFormatLines(t *testing.T) {
	var buf bytes.Buffer
	slog.New(logJSON.handler(&buf)).Warn("loader lost the lock", "lag_bytes", 42)
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("json line %q: %v", buf.String(), err)
	}
	if line["level"] != "WARN" || line["msg"] != "loader lost the lock" || line["lag_bytes"] != float64(42) || line["time"] == nil {
		t.Fatalf("json line: %v", line)
	}
	buf.Reset()
	slog.New(logText.handler(&buf)).Info("listening", "addr", "127.0.0.1:8000")
	if got := buf.String(); !strings.Contains(got, "level=INFO msg=listening addr=127.0.0.1:8000") {
		t.Fatalf("text line: %q", got)
	}
}
