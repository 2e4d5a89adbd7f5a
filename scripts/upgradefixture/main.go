// Command upgradefixture writes one upgrade fixture: it runs a journey
// binary built at an earlier commit (scripts/make-upgrade-fixtures.sh
// builds them), gives it known events, a project, a cohort and, where the
// version has them, an action, a flag and a campaign, records that
// binary's answers to a set of requests, stops it and packs its data
// directory with the answers into a .tar.gz. internal/backup's upgrade
// test opens the data directory with the current packages and asks the
// same requests.
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/google/uuid"

	"github.com/journey-dev/journey/internal/bench"
)

// Fixture is expected.json inside a fixture's archive.
type Fixture struct {
	Label      string  `json:"label"`
	Commit     string  `json:"commit"`
	MetaSchema int     `json:"meta_schema_version"`
	Token      string  `json:"token"`
	SecretKey  string  `json:"secret_key"`
	Events     int     `json:"events"`
	Checks     []Check `json:"checks"`
}

// Check is one request and the old binary's answer. Auth is "secret",
// "admin" or "token" (the project token in the body, as SDKs send it);
// Ignore names answer fields that differ on every call.
type Check struct {
	Name   string          `json:"name"`
	Method string          `json:"method"`
	Path   string          `json:"path"`
	Auth   string          `json:"auth"`
	Body   json.RawMessage `json:"body,omitempty"`
	Status int             `json:"status"`
	Answer json.RawMessage `json:"answer"`
	Ignore []string        `json:"ignore,omitempty"`
}

// base is the events' fixed start: a Monday before every fixture was made.
var base = time.Date(2026, 10, 5, 0, 0, 0, 0, time.UTC)

var ns = uuid.MustParse("6f0c2f6e-52a5-4b8e-9d55-1b7b7a0f3e11")

func main() {
	bin := flag.String("bin", "", "journey binary of the earlier commit")
	label := flag.String("label", "", "fixture name, e.g. schema0007")
	commit := flag.String("commit", "", "the commit the binary was built at")
	schema := flag.Int("schema", 0, "the newest metadata migration at that commit")
	out := flag.String("out", "", "the .tar.gz to write")
	flag.Parse()
	if err := run(*bin, *label, *commit, *schema, *out); err != nil {
		fmt.Fprintln(os.Stderr, "upgradefixture:", err)
		os.Exit(1)
	}
}

func run(bin, label, commit string, schema int, out string) error {
	dataDir, err := os.MkdirTemp("", "journey-fixture-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dataDir)
	srv, err := bench.StartServer(bin, dataDir)
	if err != nil {
		return err
	}
	defer srv.Kill()
	fx := &Fixture{Label: label, Commit: commit, MetaSchema: schema}
	if fx.Token, fx.SecretKey, err = srv.CreateProject("upgrade"); err != nil {
		return err
	}
	c := &client{url: srv.URL, admin: srv.AdminKey, fx: fx}
	if fx.Events, err = c.capture(); err != nil {
		return err
	}
	if err := srv.WaitLoaded(time.Minute); err != nil {
		return err
	}
	ids := c.createMeta()
	c.record(ids)
	if c.err != nil {
		return c.err
	}
	if err := srv.Stop(); err != nil {
		return fmt.Errorf("cannot stop the old server: %w", err)
	}
	return pack(out, dataDir, fx)
}

type client struct {
	url, admin string
	fx         *Fixture
	err        error
}

// do sends one request and returns its status and answer.
func (c *client) do(method, path, auth string, body any) (int, []byte) {
	var r io.Reader
	var raw []byte
	if body != nil {
		raw, _ = json.Marshal(body)
		r = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, c.url+path, r)
	if err != nil {
		c.err = err
		return 0, nil
	}
	switch auth {
	case "secret":
		req.Header.Set("Authorization", "Bearer "+c.fx.SecretKey)
	case "admin":
		req.Header.Set("Authorization", "Bearer "+c.admin)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.err = err
		return 0, nil
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.err = err
	}
	return resp.StatusCode, b
}

// capture sends the known events: 60 persons who view twice, two in three
// of whom buy, half of whom identify (a merge) and come back a day later.
func (c *client) capture() (int, error) {
	var batch []map[string]any
	add := func(name, distinct string, at time.Duration, props map[string]any) {
		batch = append(batch, map[string]any{
			"event": name, "distinct_id": distinct, "properties": props,
			"uuid":      uuid.NewSHA1(ns, fmt.Appendf(nil, "%d", len(batch))).String(),
			"timestamp": base.Add(at).Format(time.RFC3339),
		})
	}
	for p := range 60 {
		anon, user := fmt.Sprint("anon-", p), fmt.Sprint("user-", p)
		at := time.Duration(p) * 30 * time.Minute
		add("view", anon, at, map[string]any{"page": "/p/" + fmt.Sprint(p%4)})
		add("view", anon, at+5*time.Minute, map[string]any{"page": "/cart"})
		if p%3 != 0 {
			add("buy", anon, at+20*time.Minute, map[string]any{"amount": p})
		}
		if p%2 == 0 {
			plan := []string{"free", "pro"}[p%4/2]
			add("$identify", user, at+25*time.Minute, map[string]any{"$anon_distinct_id": anon, "$set": map[string]any{"plan": plan}})
			add("view", user, at+24*time.Hour, map[string]any{"page": "/account"})
		}
	}
	status, answer := c.do("POST", "/batch/", "", map[string]any{"api_key": c.fx.Token, "batch": batch})
	if status != 200 {
		return 0, fmt.Errorf("capture: %d %s", status, answer)
	}
	return len(batch), c.err
}

// createMeta creates what the version has: a cohort (every fixture), an
// action, a flag and a campaign; a 404 means the version has no such
// route. It returns the created ids by kind.
func (c *client) createMeta() map[string]float64 {
	ids := map[string]float64{}
	for _, m := range []struct {
		kind, path string
		body       any
	}{
		{"cohort", "/api/v1/cohorts", map[string]any{"name": "Early users", "definition": map[string]any{"distinct_ids": []string{"user-0", "anon-1", "user-4"}}}},
		{"action", "/api/v1/actions", map[string]any{"name": "Cart view", "steps": []any{map[string]any{"event": "view", "filters": []any{map[string]any{"property": "page", "op": "eq", "value": "/cart"}}}}}},
		{"flag", "/api/v1/flags", map[string]any{"key": "new-checkout", "name": "New checkout", "filters": map[string]any{"groups": []any{
			map[string]any{"properties": []any{map[string]any{"key": "plan", "value": []string{"pro"}, "operator": "exact", "type": "person"}}, "rollout_percentage": 100}}}}},
		{"campaign", "/api/v1/campaigns", map[string]any{"name": "Cart reminder", "kind": "triggered", "trigger": map[string]any{"event": "view"},
			"goal": map[string]any{"event": "buy"}, "wait": map[string]any{"delay": "1h"}, "status": "draft",
			"channel":  map[string]any{"type": "webhook", "url": "https://hooks.example.com/journey"},
			"variants": []any{map[string]any{"name": "A", "body": "Your cart misses you"}}}},
	} {
		status, answer := c.do("POST", m.path, "secret", m.body)
		if status == 404 || status == 405 {
			continue
		}
		var v struct{ ID float64 }
		if status != 201 && status != 200 || json.Unmarshal(answer, &v) != nil || v.ID == 0 {
			c.err = fmt.Errorf("cannot create %s: %d %s", m.kind, status, answer)
			return ids
		}
		ids[m.kind] = v.ID
	}
	return ids
}

// record asks the requests the upgrade test repeats and keeps the answers.
func (c *client) record(ids map[string]float64) {
	from, to := base.Format(time.RFC3339), base.AddDate(0, 0, 4).Format(time.RFC3339)
	query := func(name string, q map[string]any) {
		q["from"], q["to"] = from, to
		c.check(Check{Name: name, Method: "POST", Path: "/api/v1/query", Auth: "secret"}, q)
	}
	query("trend", map[string]any{"kind": "trend", "interval": "day", "series": []any{
		map[string]any{"event": "view", "math": "total"}, map[string]any{"event": "buy", "math": "dau"}}})
	query("trend by plan", map[string]any{"kind": "trend", "interval": "day", "series": []any{map[string]any{"event": "view", "math": "dau"}},
		"breakdown": map[string]any{"type": "person", "property": "plan"}})
	query("funnel", map[string]any{"kind": "funnel", "window": "1h", "steps": []any{map[string]any{"event": "view"}, map[string]any{"event": "buy"}}})
	query("retention", map[string]any{"kind": "retention", "period": "day", "periods": 3, "start": map[string]any{"event": "view"}, "return": map[string]any{"event": "view"}})
	if id, ok := ids["cohort"]; ok {
		query("trend in cohort", map[string]any{"kind": "trend", "interval": "day", "series": []any{map[string]any{"event": "view", "math": "dau"}},
			"filters": []any{map[string]any{"type": "cohort", "value": id}}})
	}
	if id, ok := ids["action"]; ok {
		query("trend of action", map[string]any{"kind": "trend", "interval": "day", "series": []any{map[string]any{"action": id, "math": "total"}}})
	}
	for _, d := range []string{"user-0", "anon-0", "anon-1"} {
		c.check(Check{Name: "person " + d, Method: "GET", Path: "/api/v1/persons/by-distinct-id/" + d, Auth: "secret"}, nil)
	}
	c.check(Check{Name: "projects", Method: "GET", Path: "/api/v1/projects", Auth: "admin"}, nil)
	for _, kind := range []string{"cohort", "action", "flag", "campaign"} {
		if _, ok := ids[kind]; ok {
			c.check(Check{Name: kind + "s", Method: "GET", Path: "/api/v1/" + kind + "s", Auth: "secret"}, nil)
		}
	}
	if _, ok := ids["flag"]; ok {
		for _, d := range []string{"user-0", "user-2"} { // plan free, pro
			c.check(Check{Name: "flags for " + d, Method: "POST", Path: "/flags/?v=2", Auth: "token", Ignore: []string{"requestId", "evaluatedAt"}},
				map[string]any{"token": c.fx.Token, "distinct_id": d})
		}
	}
}

// check sends a request and records it with its answer (200 answers only:
// a request the version does not understand is not a check).
func (c *client) check(ch Check, body any) {
	if body != nil {
		ch.Body, _ = json.Marshal(body)
	}
	status, answer := c.do(ch.Method, ch.Path, ch.Auth, body)
	if status != 200 {
		fmt.Fprintf(os.Stderr, "upgradefixture: %s: %d %s (not recorded)\n", ch.Name, status, bytes.TrimSpace(answer))
		return
	}
	ch.Status, ch.Answer = status, bytes.TrimSpace(answer)
	c.fx.Checks = append(c.fx.Checks, ch)
}

// pack writes the data directory's stores and expected.json as a .tar.gz,
// with fixed times and modes so the same inputs give the same archive.
func pack(out, dataDir string, fx *Fixture) error {
	var files []string
	err := filepath.WalkDir(dataDir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dataDir, path)
		files = append(files, rel)
		return nil
	})
	if err != nil {
		return err
	}
	sort.Strings(files)
	var buf bytes.Buffer
	gz, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	tw := tar.NewWriter(gz)
	add := func(name string, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: int64(len(data)), ModTime: base, Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	expected, _ := json.MarshalIndent(fx, "", "  ")
	if err := add("expected.json", append(expected, '\n')); err != nil {
		return err
	}
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(dataDir, f))
		if err != nil {
			return err
		}
		if err := add("data/"+filepath.ToSlash(f), data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := gz.Close(); err != nil {
		return err
	}
	return os.WriteFile(out, buf.Bytes(), 0o644)
}
