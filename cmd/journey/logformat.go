package main

import (
	"fmt"
	"io"
	"log/slog"
)

// logFormat is --log-format: how serve writes its log lines (log/slog).
type logFormat int

const (
	logText logFormat = iota // key=value pairs (slog.TextHandler), the default
	logJSON                  // one JSON object a line (slog.JSONHandler)
)

func parseLogFormat(s string) (logFormat, error) {
	switch s {
	case "text":
		return logText, nil
	case "json":
		return logJSON, nil
	}
	return 0, fmt.Errorf("want text or json")
}

func (f logFormat) String() string {
	if f == logJSON {
		return "json"
	}
	return "text"
}

// handler writes the format's lines to w, Info and above.
func (f logFormat) handler(w io.Writer) slog.Handler {
	if f == logJSON {
		return slog.NewJSONHandler(w, nil)
	}
	return slog.NewTextHandler(w, nil)
}
