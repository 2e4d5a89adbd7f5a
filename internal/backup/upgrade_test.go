package backup_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// fixture is expected.json of an upgrade fixture (scripts/upgradefixture).
type fixture struct {
	Label      string `json:"label"`
	Commit     string `json:"commit"`
	MetaSchema int    `json:"meta_schema_version"`
	Token      string `json:"token"`
	SecretKey  string `json:"secret_key"`
	Events     int    `json:"events"`
	Checks     []struct {
		Name   string          `json:"name"`
		Method string          `json:"method"`
		Path   string          `json:"path"`
		Auth   string          `json:"auth"`
		Body   json.RawMessage `json:"body"`
		Status int             `json:"status"`
		Answer json.RawMessage `json:"answer"`
		Ignore []string        `json:"ignore"`
	} `json:"checks"`
}

// TestUpgradeFixtures opens data directories written by earlier versions
// (scripts/make-upgrade-fixtures.sh: the last commit of each earlier
// metadata schema) with the current packages, as journey serve does
// (metadata migrations, DuckDB store, event log), and asks the requests
// the old binary answered when it wrote them: every field the old answer
// had is answered the same (new fields may be added). The directory is
// then at the current schema and takes new events.
func TestUpgradeFixtures(t *testing.T) {
	paths, err := filepath.Glob("testdata/upgrade/*.tar.gz")
	if err != nil || len(paths) < 4 {
		t.Fatalf("upgrade fixtures: %v %v (scripts/make-upgrade-fixtures.sh writes them)", paths, err)
	}
	current := latestMigration(t)
	for _, p := range paths {
		t.Run(strings.TrimSuffix(filepath.Base(p), ".tar.gz"), func(t *testing.T) {
			dir := t.TempDir()
			fx := unpack(t, p, dir)
			if fx.MetaSchema >= current || len(fx.Checks) < 8 {
				t.Fatalf("fixture of schema %d (current %d) with %d checks", fx.MetaSchema, current, len(fx.Checks))
			}
			data := filepath.Join(dir, "data")
			srv := startServer(t, data)
			srv.synced(t)
			for _, c := range fx.Checks {
				key := map[string]string{"secret": fx.SecretKey, "admin": adminKey}[c.Auth]
				var body any
				if len(c.Body) > 0 {
					body = c.Body
				}
				status, out := call(t, c.Method, srv.URL+c.Path, key, body)
				if status != c.Status {
					t.Errorf("%s: %d %s, the old binary answered %d", c.Name, status, out, c.Status)
					continue
				}
				var got, want any
				if err := json.Unmarshal(out, &got); err != nil {
					t.Fatalf("%s: %v in %s", c.Name, err, out)
				}
				if err := json.Unmarshal(c.Answer, &want); err != nil {
					t.Fatal(err)
				}
				for _, k := range c.Ignore {
					delete(got.(map[string]any), k)
					delete(want.(map[string]any), k)
				}
				if err := subset(want, got, ""); err != nil {
					t.Errorf("%s: %v\nold: %s\nnow: %s", c.Name, err, c.Answer, out)
				}
			}
			// New events land beside the old ones.
			before := countAll(t, srv.URL, fx.SecretKey)
			mustCall(t, 200, "POST", srv.URL+"/batch/", "", map[string]any{"api_key": fx.Token, "batch": []any{
				map[string]any{"event": "view", "distinct_id": "user-0", "timestamp": "2026-10-06T12:00:00Z"}}})
			srv.synced(t)
			if after := countAll(t, srv.URL, fx.SecretKey); after != before+1 || before != float64(fx.Events) {
				t.Fatalf("events: %v in the fixture (%d captured), %v after one more", before, fx.Events, after)
			}
			srv.close()
			if got := metaVersion(t, filepath.Join(data, "meta.db")); got != current {
				t.Fatalf("metadata schema %d after opening, want %d", got, current)
			}
		})
	}
}

// subset checks that every field of want is in got with the same value;
// arrays must have the same length.
func subset(want, got any, at string) error {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: %v, was an object", at, got)
		}
		for k, v := range w {
			gv, ok := g[k]
			if !ok {
				return fmt.Errorf("%s.%s: missing", at, k)
			}
			if err := subset(v, gv, at+"."+k); err != nil {
				return err
			}
		}
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return fmt.Errorf("%s: %v, was %v", at, got, want)
		}
		for i := range w {
			if err := subset(w[i], g[i], fmt.Sprintf("%s[%d]", at, i)); err != nil {
				return err
			}
		}
	default:
		if want != got {
			return fmt.Errorf("%s: %v, was %v", at, got, want)
		}
	}
	return nil
}

// countAll counts every event of the fixture's days.
func countAll(t *testing.T, url, secret string) float64 {
	t.Helper()
	q := map[string]any{"kind": "trend", "interval": "day", "from": "2026-10-05T00:00:00Z", "to": "2026-10-09T00:00:00Z",
		"series": []any{map[string]any{"event": "view"}, map[string]any{"event": "buy"}, map[string]any{"event": "$identify"}}}
	res := mustCall(t, 200, "POST", url+"/api/v1/query", secret, q).(map[string]any)
	total := 0.0
	for _, s := range res["series"].([]any) {
		for _, p := range s.(map[string]any)["points"].([]any) {
			total += p.(map[string]any)["value"].(float64)
		}
	}
	return total
}

// fixtureName is the allow-list of an archive's entries.
var fixtureName = regexp.MustCompile(`^(expected\.json|data/(meta\.db|events\.duckdb|log/[0-9]{20}\.wal))$`)

// unpack extracts a fixture into dir and returns its expected.json.
func unpack(t *testing.T, archive, dir string) *fixture {
	t.Helper()
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	var fx *fixture
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag != tar.TypeReg || !fixtureName.MatchString(h.Name) || path.Clean(h.Name) != h.Name {
			t.Fatalf("%s: unexpected entry %q", archive, h.Name)
		}
		data, err := io.ReadAll(io.LimitReader(tr, 64<<20))
		if err != nil {
			t.Fatal(err)
		}
		if h.Name == "expected.json" {
			fx = &fixture{}
			dec := json.NewDecoder(bytes.NewReader(data))
			dec.DisallowUnknownFields()
			if err := dec.Decode(fx); err != nil {
				t.Fatal(err)
			}
			continue
		}
		out := filepath.Join(dir, filepath.FromSlash(h.Name))
		if err := os.MkdirAll(filepath.Dir(out), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(out, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if fx == nil {
		t.Fatalf("%s: no expected.json", archive)
	}
	t.Logf("%s: written at %.12s (metadata schema %d), %d events, %d checks", fx.Label, fx.Commit, fx.MetaSchema, fx.Events, len(fx.Checks))
	return fx
}

// latestMigration is the newest SQLite migration of this checkout.
func latestMigration(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("../meta/sqlite/migrations")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		var v int
		if _, err := fmt.Sscanf(e.Name(), "%04d_", &v); err == nil && v > n {
			n = v
		}
	}
	return n
}

func metaVersion(t *testing.T, path string) int {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v int
	if err := db.QueryRow(`SELECT max(version) FROM schema_migrations`).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestSubset: the comparison of old and new answers fails on a missing
// field, a changed value and a changed length, and allows new fields.
func TestSubset(t *testing.T) {
	dec := func(s string) any {
		var v any
		if err := json.Unmarshal([]byte(s), &v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	old := dec(`{"a":1,"b":[{"c":"x"},{"c":"y"}]}`)
	for now, ok := range map[string]bool{
		`{"a":1,"b":[{"c":"x"},{"c":"y","new":2}],"new":true}`: true,
		`{"a":2,"b":[{"c":"x"},{"c":"y"}]}`:                    false,
		`{"b":[{"c":"x"},{"c":"y"}]}`:                          false,
		`{"a":1,"b":[{"c":"x"}]}`:                              false,
		`{"a":1,"b":[{"c":"x"},{"c":"z"}]}`:                    false,
		`{"a":"1","b":[{"c":"x"},{"c":"y"}]}`:                  false,
	} {
		if err := subset(old, dec(now), ""); (err == nil) != ok {
			t.Errorf("subset(old, %s) = %v, want ok %v", now, err, ok)
		}
	}
}
