// Package importer imports NDJSON files of PostHog or Segment events with
// the same decoding, validation and dedup as capture.
package importer

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/journey-dev/journey/internal/capture"
	"github.com/journey-dev/journey/internal/event"
)

// Summary is what an import did.
type Summary struct {
	Lines    int            `json:"lines"`
	Accepted int            `json:"accepted"` // valid events appended to the log
	Skipped  int            `json:"skipped"`  // invalid lines
	Reasons  map[string]int `json:"reasons"`  // skip reason → count
	Examples []string       `json:"examples"` // first few skipped lines with their reason
}

// Options configures an import.
type Options struct {
	ProjectID int64
	Token     string // the project token, put on every line for the decoders
	Chunk     int    // events per appended batch; 0 = 5000
	Progress  func(bytes int64)
}

// Import reads NDJSON from r. Each line is one event in PostHog format (has
// "event") or Segment format (has "type"). Lines that fail validation are
// counted with their reason; valid ones are appended through sink.
func Import(ctx context.Context, r io.Reader, sink func(context.Context, event.Batch) error, o Options) (Summary, error) {
	if o.Chunk <= 0 {
		o.Chunk = 5000
	}
	sum := Summary{Reasons: map[string]int{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 2<<20)
	batch := event.Batch{ProjectID: o.ProjectID}
	flush := func() error {
		if len(batch.Events) == 0 {
			return nil
		}
		if err := sink(ctx, batch); err != nil {
			return fmt.Errorf("cannot append imported events: %w", err)
		}
		sum.Accepted += len(batch.Events)
		batch.Events = nil
		return nil
	}
	now := time.Now().UTC()
	for sc.Scan() {
		line := sc.Bytes()
		sum.Lines++
		if o.Progress != nil {
			o.Progress(int64(len(line) + 1))
		}
		if len(line) == 0 {
			continue
		}
		events, err := decodeLine(line, o.Token, now)
		if err != nil {
			sum.skip(sum.Lines, err)
			continue
		}
		batch.Events = append(batch.Events, events...)
		if len(batch.Events) >= o.Chunk {
			if err := flush(); err != nil {
				return sum, err
			}
		}
	}
	if err := sc.Err(); err != nil {
		return sum, fmt.Errorf("cannot read input at line %d: %w", sum.Lines+1, err)
	}
	return sum, flush()
}

func (s *Summary) skip(line int, err error) {
	reason := err.Error()
	if ce, ok := err.(*capture.Error); ok {
		reason = strings.TrimPrefix(ce.Field, "batch[0].") + ": " + ce.Msg
	}
	s.Skipped++
	s.Reasons[reason]++
	if len(s.Examples) < 10 {
		s.Examples = append(s.Examples, fmt.Sprintf("line %d: %s", line, reason))
	}
}

// decodeLine runs one line through the capture decoder of its format.
func decodeLine(line []byte, token string, now time.Time) ([]event.Event, error) {
	var probe struct {
		Type  *string `json:"type"`
		Event *string `json:"event"`
	}
	if err := json.Unmarshal(line, &probe); err != nil {
		return nil, fmt.Errorf("cannot decode line as JSON: %w", err)
	}
	req := capture.Request{Query: url.Values{}, Header: http.Header{}, Now: now}
	var d capture.Decoded
	var err error
	if probe.Type != nil && *probe.Type != "" {
		req.Path = "/v1/" + *probe.Type
		req.Body = line
		req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(token+":")))
		d, err = capture.DecodeSegment(req)
	} else {
		req.Path = "/batch/"
		req.Body = append(append([]byte(`{"api_key":`), mustQuote(token)...), append(append([]byte(`,"batch":[`), line...), ']', '}')...)
		d, err = capture.DecodePostHog(req)
	}
	if err != nil {
		return nil, err
	}
	if len(d.Invalid) > 0 {
		return nil, d.Invalid[0]
	}
	if d.Token != "" && d.Token != token {
		return nil, fmt.Errorf("line carries token %q of another project", d.Token)
	}
	return d.Events, nil
}

func mustQuote(s string) []byte {
	b, _ := json.Marshal(s)
	return b
}

// TopReasons lists skip reasons by count, most frequent first.
func (s *Summary) TopReasons() []string {
	var out []string
	for r := range s.Reasons {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return s.Reasons[out[i]] > s.Reasons[out[j]] })
	return out
}
