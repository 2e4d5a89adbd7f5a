package main

import (
	"flag"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/journey-dev/journey/internal/app"
)

func readRepoFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", path))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// composeVar matches ${NAME}, ${NAME:-default} and ${NAME:?message}.
var composeVar = regexp.MustCompile(`\$\{([A-Z_]+)(?::[-?][^}]*)?\}`)

// interpolate fills compose's variables the way `docker compose` would
// with these settings.
func interpolate(s string) string {
	vals := map[string]string{"JOURNEY_ADMIN_KEY": "compose-admin-key-0123456789", "CLICKHOUSE_PASSWORD": "ch-secret", "POSTGRES_PASSWORD": "pg-secret"}
	return composeVar.ReplaceAllStringFunc(s, func(m string) string { return vals[composeVar.FindStringSubmatch(m)[1]] })
}

func strs(t *testing.T, v any, what string) []string {
	t.Helper()
	list, ok := v.([]any)
	if !ok {
		t.Fatalf("%s is %T, want a list", what, v)
	}
	out := make([]string, len(list))
	for i, x := range list {
		if out[i], ok = x.(string); !ok {
			t.Fatalf("%s[%d] is %T, want a string", what, i, x)
		}
	}
	return out
}

func mapping(t *testing.T, v any, what string) map[string]any {
	t.Helper()
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("%s is %T, want a mapping", what, v)
	}
	return m
}

// serveFlagNames are the names journey serve accepts.
func serveFlagNames() map[string]bool {
	var cfg app.Config
	var o serveOptions
	names := map[string]bool{}
	serveFlags(&cfg, &o).VisitAll(func(f *flag.Flag) { names[f.Name] = true })
	return names
}

// TestComposeTopology: deploy/compose.yaml runs the scale-out stack the
// e2e tests start (the servers of scripts/test-deps.sh, two replicas of
// journey serve with the flags bench.StartServer and the scale-out tests
// give it, /healthz as their health check) plus a load balancer. Each
// replica's command is parsed by journey serve's own flag set and its
// Config validated; each JOURNEY_* variable is a serve flag's twin.
func TestComposeTopology(t *testing.T) {
	doc, err := readYAMLSubset(readRepoFile(t, "deploy/compose.yaml"))
	if err != nil {
		t.Fatalf("deploy/compose.yaml: %v", err)
	}
	services := mapping(t, mapping(t, doc, "compose")["services"], "services")
	var names []string
	for n := range services {
		names = append(names, n)
	}
	sort.Strings(names)
	if want := []string{"clickhouse", "journey-1", "journey-2", "lb", "nats", "postgres"}; !slices.Equal(names, want) {
		t.Fatalf("services %v, want %v", names, want)
	}
	// The servers are the ones scripts/test-deps.sh starts for the tests.
	deps := readRepoFile(t, "scripts/test-deps.sh")
	for _, script := range []string{"scripts/clickhouse.sh start", "scripts/postgres.sh start", "scripts/nats.sh start"} {
		if !strings.Contains(deps, script) {
			t.Errorf("scripts/test-deps.sh no longer runs %s", script)
		}
	}
	// The flags every scale-out test passes: bench.StartServer's and
	// e2e/replicas_test.go's.
	bench, replicas := readRepoFile(t, "internal/bench/ingest.go"), readRepoFile(t, "e2e/replicas_test.go")
	testFlags := []string{"data-dir", "addr", "admin-key", "events", "meta", "log"}
	for _, f := range testFlags[:3] {
		if !strings.Contains(bench, `"--`+f+`"`) {
			t.Errorf("bench.StartServer no longer passes --%s", f)
		}
	}
	for _, f := range testFlags[3:] {
		if !strings.Contains(replicas, `"--`+f+`"`) {
			t.Errorf("e2e/replicas_test.go no longer passes --%s", f)
		}
	}
	if !strings.Contains(bench, `"/healthz"`) {
		t.Error("bench.StartServer no longer waits for /healthz")
	}
	flagNames := serveFlagNames()
	lb := mapping(t, services["lb"], "lb")
	lbAddr := mapping(t, mapping(t, lb["networks"], "lb.networks")["journey"], "lb.networks.journey")["ipv4_address"].(string)
	var commands []string
	for _, name := range []string{"journey-1", "journey-2"} {
		svc := mapping(t, services[name], name)
		cmd := strs(t, svc["command"], name+".command")
		commands = append(commands, strings.Join(cmd, " "))
		if cmd[0] != "serve" {
			t.Fatalf("%s runs journey %s, want serve", name, cmd[0])
		}
		args := make([]string, len(cmd)-1)
		for i, a := range cmd[1:] {
			args[i] = interpolate(a)
		}
		var cfg app.Config
		var o serveOptions
		fs := serveFlags(&cfg, &o)
		if err := fs.parse(args); err != nil {
			t.Fatalf("%s: journey serve refuses %q: %v", name, args, err)
		}
		if fs.NArg() != 0 {
			t.Fatalf("%s: arguments left over: %q", name, fs.Args())
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		for _, f := range testFlags {
			if !set[f] {
				t.Errorf("%s does not pass --%s, which the scale-out tests do", name, f)
			}
		}
		for flagValue, service := range map[string]string{cfg.Events: "clickhouse", cfg.Meta: "postgres", cfg.Log: "nats"} {
			u, err := url.Parse(flagValue)
			if err != nil || u.Hostname() != service {
				t.Errorf("%s: %q does not name the %s service", name, flagValue, service)
			}
		}
		if !slices.ContainsFunc(cfg.TrustedProxies, func(p netip.Prefix) bool { return p.Contains(netip.MustParseAddr(lbAddr)) }) {
			t.Errorf("%s does not trust the load balancer %s: %v", name, lbAddr, cfg.TrustedProxies)
		}
		for k := range mapping(t, svc["environment"], name+".environment") {
			f := strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(k, "JOURNEY_"), "_", "-"))
			if !strings.HasPrefix(k, "JOURNEY_") || !flagNames[f] {
				t.Errorf("%s: %s is no journey serve flag's environment twin", name, k)
			}
		}
		hc := strings.Join(strs(t, mapping(t, svc["healthcheck"], name+".healthcheck")["test"], name+".healthcheck.test"), " ")
		if !strings.Contains(hc, "http://127.0.0.1:"+strings.Split(cfg.Addr, ":")[1]+"/healthz") {
			t.Errorf("%s health check %q is not /healthz on its --addr %s", name, hc, cfg.Addr)
		}
		deps := mapping(t, svc["depends_on"], name+".depends_on")
		for _, s := range []string{"clickhouse", "postgres", "nats"} {
			if c := mapping(t, deps[s], name+".depends_on."+s)["condition"]; c != "service_healthy" {
				t.Errorf("%s starts before %s is healthy (%v)", name, s, c)
			}
		}
	}
	if commands[0] != commands[1] {
		t.Errorf("the replicas differ:\n%s\n%s", commands[0], commands[1])
	}
	// Health checks of the servers are those of the test scripts.
	checks := map[string][2]string{
		"clickhouse": {"SELECT 1", "scripts/clickhouse.sh"},
		"postgres":   {"pg_isready", "scripts/postgres.sh"},
	}
	for svc, c := range checks {
		hc := strings.Join(strs(t, mapping(t, mapping(t, services[svc], svc)["healthcheck"], svc)["test"], svc), " ")
		if !strings.Contains(hc, c[0]) || !strings.Contains(readRepoFile(t, c[1]), c[0]) {
			t.Errorf("%s: health check %q and %s should both use %q", svc, hc, c[1], c[0])
		}
	}
	// NATS: the settings scripts/nats.sh gives the test server.
	natsConf, natsScript := readRepoFile(t, "deploy/nats.conf"), readRepoFile(t, "scripts/nats.sh")
	for _, line := range []string{"max_payload: 8MB", "jetstream {"} {
		if !strings.Contains(natsConf, line) || !strings.Contains(natsScript, line) {
			t.Errorf("deploy/nats.conf and scripts/nats.sh should both have %q", line)
		}
	}
	haproxy := readRepoFile(t, "deploy/haproxy.cfg")
	for _, line := range []string{"option httpchk GET /healthz", "server journey-1 journey-1:8000 check", "server journey-2 journey-2:8000 check", "option forwardfor"} {
		if !strings.Contains(haproxy, line) {
			t.Errorf("deploy/haproxy.cfg lacks %q", line)
		}
	}
}

// TestSystemdUnit: deploy/journey.service runs journey serve, every
// JOURNEY_* it sets is a serve flag's twin, and it is hardened; where
// systemd-analyze exists, systemd verifies it too.
func TestSystemdUnit(t *testing.T) {
	unit := readRepoFile(t, "deploy/journey.service")
	settings := map[string][]string{}
	for _, line := range strings.Split(unit, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			settings[k] = append(settings[k], v)
		}
	}
	if got := settings["ExecStart"]; len(got) != 1 || got[0] != "/usr/local/bin/journey serve" {
		t.Fatalf("ExecStart %q", got)
	}
	flagNames := serveFlagNames()
	for _, env := range settings["Environment"] {
		k, _, _ := strings.Cut(env, "=")
		if !flagNames[strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(k, "JOURNEY_"), "_", "-"))] {
			t.Errorf("Environment %s is no journey serve flag's twin", k)
		}
	}
	for k, want := range map[string]string{"DynamicUser": "yes", "StateDirectory": "journey", "ProtectSystem": "strict", "ProtectHome": "yes",
		"NoNewPrivileges": "yes", "PrivateTmp": "yes", "PrivateDevices": "yes", "CapabilityBoundingSet": "", "KillSignal": "SIGTERM"} {
		if got := settings[k]; len(got) != 1 || got[0] != want {
			t.Errorf("%s=%q, want %q", k, got, want)
		}
	}
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Log("no systemd-analyze here: the unit's syntax is not verified by systemd")
		return
	}
	bin, err := os.Executable() // any executable: verify checks ExecStart's exists
	if err != nil {
		t.Fatal(err)
	}
	copyPath := filepath.Join(t.TempDir(), "journey.service")
	if err := os.WriteFile(copyPath, []byte(strings.Replace(unit, "ExecStart=/usr/local/bin/journey", "ExecStart="+bin, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(analyze, "verify", copyPath).CombinedOutput(); err != nil || len(out) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// TestDockerfile: the image builds journey with cgo (DuckDB), runs it as
// an unprivileged user, exposes the port the compose replicas listen on
// and checks /healthz.
func TestDockerfile(t *testing.T) {
	df := readRepoFile(t, "Dockerfile")
	for _, want := range []string{"CGO_ENABLED=1 go build", "./cmd/journey", "FROM debian:bookworm-slim", "USER journey", "EXPOSE 8000", "/healthz", `ENTRYPOINT ["journey"]`} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	if n := strings.Count(df, "\nFROM "); n != 2 {
		t.Errorf("Dockerfile has %d stages, want a build and a runtime stage", n)
	}
	for _, env := range regexp.MustCompile(`JOURNEY_[A-Z_]+`).FindAllString(df, -1) {
		if !serveFlagNames()[strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(env, "JOURNEY_"), "_", "-"))] {
			t.Errorf("Dockerfile sets %s, no journey serve flag's twin", env)
		}
	}
}

// TestYAMLSubset: the reader gets nesting, lists and quoting right and
// refuses what it does not read.
func TestYAMLSubset(t *testing.T) {
	doc, err := readYAMLSubset(`# c
a:
  b: [x, "y, z", 'q''s']
  c:
    - one
    - k: v
      l: {m: n}
d: "\"e\""
`)
	if err != nil {
		t.Fatal(err)
	}
	a := mapping(t, mapping(t, doc, "doc")["a"], "a")
	if b := strs(t, a["b"], "b"); !slices.Equal(b, []string{"x", "y, z", "q's"}) {
		t.Fatalf("b = %q", b)
	}
	c := a["c"].([]any)
	if c[0] != "one" || mapping(t, c[1], "c[1]")["k"] != "v" || mapping(t, mapping(t, c[1], "c[1]")["l"], "l")["m"] != "n" {
		t.Fatalf("c = %v", c)
	}
	if d := mapping(t, doc, "doc")["d"]; d != `"e"` {
		t.Fatalf("d = %v", d)
	}
	for _, bad := range []string{"a: [x", "a:\n  b: 1\n c: 2", "a: b # comment", "a: 1\na: 2", "just text"} {
		if _, err := readYAMLSubset(bad); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}
