package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

// listFlag collects a repeatable flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// cmdQuery runs one insight against a running server's API and prints it
// as a table with bars, or as JSON.
func cmdQuery(args []string) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return errors.New("usage: journey query trend|funnel|retention|stickiness|lifecycle|bad_days|… [flags] (-h for flags)")
	}
	kind := args[0]
	var url, key, from, to, spec, interval, math, window, order, start, ret, period string
	var periods int
	var asJSON bool
	var events listFlag
	f := newFlags("query " + kind)
	f.str(&url, "url", "http://127.0.0.1:8000", "server URL")
	f.str(&key, "key", "", "project secret key")
	f.str(&from, "from", "", "start (RFC 3339 or YYYY-MM-DD); default 30 days ago")
	f.str(&to, "to", "", "end, exclusive; default tomorrow")
	f.str(&spec, "spec", "", "the whole query as JSON (overrides the other query flags)")
	f.Var(&events, "event", "event name (repeat: trend series, funnel steps)")
	f.str(&interval, "interval", "day", "trend interval: hour, day, week, month")
	f.str(&math, "math", "total", "trend math: total, dau, …")
	f.str(&window, "window", "24h", "funnel conversion window")
	f.str(&order, "order", "ordered", "funnel order: ordered, strict, unordered")
	f.str(&start, "start", "", "retention start event")
	f.str(&ret, "return", "", "retention return event")
	f.str(&period, "period", "week", "retention period: day, week, month")
	f.integer(&periods, "periods", 8, "retention periods")
	f.boolean(&asJSON, "json", false, "print the API's JSON answer")
	if err := f.parse(args[1:]); err != nil {
		return err
	}
	if key == "" {
		return errors.New("invalid --key: missing (the project's secret key; env JOURNEY_KEY)")
	}
	if f.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (flags go before it; quote JSON given to --spec)", f.Arg(0))
	}
	body := []byte(spec)
	if spec == "" {
		q, err := buildQuery(kind, events, from, to, interval, math, window, order, start, ret, period, periods)
		if err != nil {
			return err
		}
		body, _ = json.Marshal(q)
	}
	out, err := postQuery(url, key, body)
	if err != nil {
		return err
	}
	if asJSON {
		_, err := os.Stdout.Write(append(out, '\n'))
		return err
	}
	return render(os.Stdout, out)
}

func parseDay(s string, def time.Time) (string, error) {
	if s == "" {
		return def.Format(time.RFC3339), nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t.Format(time.RFC3339), nil
	}
	if _, err := time.Parse(time.RFC3339, s); err != nil {
		return "", fmt.Errorf("invalid time %q: want YYYY-MM-DD or RFC 3339", s)
	}
	return s, nil
}

func buildQuery(kind string, events []string, from, to, interval, math, window, order, start, ret, period string, periods int) (map[string]any, error) {
	today := time.Now().UTC().Truncate(24 * time.Hour)
	var err error
	q := map[string]any{"kind": kind}
	if q["from"], err = parseDay(from, today.AddDate(0, 0, -30)); err != nil {
		return nil, err
	}
	if q["to"], err = parseDay(to, today.AddDate(0, 0, 1)); err != nil {
		return nil, err
	}
	steps := make([]map[string]any, len(events))
	for i, e := range events {
		steps[i] = map[string]any{"event": e}
	}
	switch kind {
	case "trend":
		for _, s := range steps {
			s["math"] = math
		}
		q["series"], q["interval"] = steps, interval
	case "funnel":
		q["steps"], q["window"], q["order"] = steps, window, order
	case "retention":
		q["start"], q["return"] = map[string]string{"event": start}, map[string]string{"event": ret}
		q["period"], q["periods"] = period, periods
	case "stickiness":
		q["series"], q["interval"] = steps, interval
	case "lifecycle":
		if len(events) > 0 {
			q["event"] = events[0]
		}
		q["interval"] = interval
	case "bad_days":
		if len(steps) > 0 {
			q["bad"] = steps
		}
	default:
		return nil, fmt.Errorf("no flags for kind %q: pass the query with --spec '{…}'", kind)
	}
	return q, nil
}

func postQuery(url, key string, body []byte) ([]byte, error) {
	req, err := http.NewRequest("POST", strings.TrimRight(url, "/")+"/api/v1/query", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach %s: %w", url, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("query failed: %s: %s", resp.Status, strings.TrimSpace(string(out)))
	}
	return out, nil
}

// render prints a result as a table; rows with one number get a bar.
func render(w io.Writer, raw []byte) error {
	var res map[string]any
	if err := json.Unmarshal(raw, &res); err != nil {
		return err
	}
	switch res["kind"] {
	case "trend", "stickiness":
		for _, s := range list(res["series"]) {
			sm, _ := s.(map[string]any)
			fmt.Fprintf(w, "%v\n", sm["label"])
			var rows []barRow
			for _, p := range list(sm["points"]) {
				pm, _ := p.(map[string]any)
				label := fmt.Sprint(pm["t"])
				if label == "<nil>" {
					label = fmt.Sprint(pm["days"], " days")
				}
				v := num(pm["value"])
				if _, ok := pm["count"]; ok {
					v = num(pm["count"])
				}
				rows = append(rows, barRow{label, v})
			}
			bars(w, rows)
		}
	case "funnel", "journey":
		key := "event"
		if res["kind"] == "journey" {
			key = "name"
		}
		var rows []barRow
		for _, s := range list(res[map[string]string{"funnel": "steps", "journey": "stages"}[res["kind"].(string)]]) {
			sm, _ := s.(map[string]any)
			rows = append(rows, barRow{fmt.Sprint(sm[key]), num(sm["count"])})
		}
		bars(w, rows)
	case "retention":
		for _, c := range list(res["cohorts"]) {
			cm, _ := c.(map[string]any)
			fmt.Fprintf(w, "%-12v %7.0f ", cm["start"], num(cm["size"]))
			size := num(cm["size"])
			for _, r := range list(cm["retained"]) {
				pct := 0.0
				if size > 0 {
					pct = 100 * num(r) / size
				}
				fmt.Fprintf(w, "%5.1f%% ", pct)
			}
			fmt.Fprintln(w)
		}
	default:
		var buf bytes.Buffer
		json.Indent(&buf, raw, "", "  ")
		fmt.Fprintln(w, buf.String())
	}
	return nil
}

type barRow struct {
	label string
	value float64
}

func bars(w io.Writer, rows []barRow) {
	maxV, width := 0.0, 0
	for _, r := range rows {
		maxV = max(maxV, r.value)
		width = max(width, len(r.label))
	}
	for _, r := range rows {
		n := 0
		if maxV > 0 {
			n = int(40 * r.value / maxV)
		}
		fmt.Fprintf(w, "  %-*s %12s %s\n", width, r.label, fmtNum(r.value), strings.Repeat("█", n))
	}
}

func fmtNum(v float64) string {
	if v == float64(int64(v)) {
		return fmt.Sprintf("%d", int64(v))
	}
	return fmt.Sprintf("%.2f", v)
}

func list(v any) []any {
	l, _ := v.([]any)
	return l
}

func num(v any) float64 {
	f, _ := v.(float64)
	return f
}
