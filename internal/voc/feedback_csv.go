package voc

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/journey-dev/journey/internal/insight"
	"github.com/journey-dev/journey/internal/meta"
)

// MaxCSVRows bounds the rows of one CSV import (the body is bounded too).
const MaxCSVRows = 5000

// RowError is a refused CSV row: its line (1 is the header) and field.
type RowError struct {
	Row   int    `json:"row"`
	Field string `json:"field"`
	Error string `json:"error"`
}

// csvColumns are the columns an import reads, by lower-cased header name;
// others are ignored. email stands in for distinct_id when that is absent.
var csvColumns = map[string]bool{"text": true, "distinct_id": true, "email": true, "tags": true, "account": true,
	"priority": true, "created_at": true, "external_id": true, "attachments": true}

// ParseCSV reads feedback from CSV with a header row naming its columns:
// text (required), distinct_id or email, tags (separated by ";" or ","),
// account, priority, created_at (RFC 3339 or YYYY-MM-DD, UTC; default
// now), external_id (a re-import keeps the stored item) and attachments
// (separated by spaces). Every row is source csv. Rows that fail
// validation are listed (at most 100) and, if any, nothing should be
// stored; an unreadable file is an *insight.Error.
func ParseCSV(r io.Reader) ([]Input, []RowError, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, nil, insight.Bad("body", "empty CSV: want a header row naming text, distinct_id …")
	}
	if err != nil {
		return nil, nil, insight.Bad("body", "cannot read the CSV header: %v", err)
	}
	cols := map[string]int{}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		if csvColumns[h] {
			if _, dup := cols[h]; !dup {
				cols[h] = i
			}
		}
	}
	if _, ok := cols["text"]; !ok {
		return nil, nil, insight.Bad("text", "the CSV header has no text column")
	}
	_, hasID := cols["distinct_id"]
	_, hasEmail := cols["email"]
	if !hasID && !hasEmail {
		return nil, nil, insight.Bad("distinct_id", "the CSV header has neither a distinct_id nor an email column")
	}
	var out []Input
	var bad []RowError
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, insight.Bad("body", "cannot read CSV line %d: %v", line, err)
		}
		if line-1 > MaxCSVRows {
			return nil, nil, insight.Bad("body", "at most %d rows at once", MaxCSVRows)
		}
		in, err := csvInput(rec, cols)
		if err != nil {
			if len(bad) < 100 {
				bad = append(bad, rowError(line, err))
			}
			continue
		}
		out = append(out, in)
	}
	return out, bad, nil
}

func rowError(line int, err error) RowError {
	var ie *insight.Error
	if errors.As(err, &ie) {
		return RowError{Row: line, Field: ie.Field, Error: err.Error()}
	}
	return RowError{Row: line, Error: err.Error()}
}

// csvInput is one row as an Input, validated.
func csvInput(rec []string, cols map[string]int) (Input, error) {
	get := func(name string) string {
		if i, ok := cols[name]; ok && i < len(rec) {
			return strings.TrimSpace(rec[i])
		}
		return ""
	}
	in := Input{Text: get("text"), DistinctID: get("distinct_id"), Source: meta.SourceCSV, Account: get("account"),
		Priority: strings.ToLower(get("priority")), ExternalID: get("external_id")}
	if in.DistinctID == "" {
		in.DistinctID = strings.ToLower(get("email"))
	}
	if t := get("tags"); t != "" {
		in.Tags = strings.FieldsFunc(t, func(r rune) bool { return r == ';' || r == ',' })
	}
	if a := get("attachments"); a != "" {
		in.Attachments = strings.Fields(a)
	}
	if c := get("created_at"); c != "" {
		at, err := parseCSVTime(c)
		if err != nil {
			return Input{}, err
		}
		in.CreatedAt = at
	}
	return in, in.Validate()
}

// parseCSVTime reads created_at: RFC 3339 or a date, from 2000 to a day
// ahead (a clock's skew).
func parseCSVTime(s string) (time.Time, error) {
	at, err := time.Parse(time.RFC3339, s)
	if err != nil {
		at, err = time.Parse("2006-01-02", s)
	}
	if err != nil {
		return time.Time{}, insight.Bad("created_at", "want RFC 3339 or YYYY-MM-DD, got %q", clipText(s))
	}
	if at.Year() < 2000 || at.After(time.Now().Add(24*time.Hour)) {
		return time.Time{}, insight.Bad("created_at", "out of range: %s", at.Format(time.RFC3339))
	}
	return at.UTC(), nil
}

// clipText shortens an echoed value.
func clipText(s string) string {
	if len(s) > 40 {
		return fmt.Sprintf("%.40s…", s)
	}
	return s
}
