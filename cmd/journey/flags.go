package main

import (
	"flag"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/journey-dev/journey/internal/app"
	"github.com/journey-dev/journey/internal/store/duckdb"
)

// envName is the environment twin of a flag: data-dir → JOURNEY_DATA_DIR.
func envName(flagName string) string {
	return "JOURNEY_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// flags wraps a FlagSet whose defaults come from the JOURNEY_* environment,
// so the command line wins over the environment, which wins over defaults.
type flags struct {
	*flag.FlagSet
	errs   []string
	failed error // a typed flag's bad value on the command line
}

func newFlags(name string) *flags {
	return &flags{FlagSet: flag.NewFlagSet("journey "+name, flag.ContinueOnError)}
}

func (f *flags) str(p *string, name, def, help string) {
	if v, ok := os.LookupEnv(envName(name)); ok {
		def = v
	}
	f.StringVar(p, name, def, help+" (env "+envName(name)+")")
}

func (f *flags) boolean(p *bool, name string, def bool, help string) {
	if v, ok := os.LookupEnv(envName(name)); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			f.errs = append(f.errs, fmt.Sprintf("invalid %s=%q: want true or false", envName(name), v))
		}
		def = b
	}
	f.BoolVar(p, name, def, help+" (env "+envName(name)+")")
}

func (f *flags) float(p *float64, name string, def float64, help string) {
	if v, ok := os.LookupEnv(envName(name)); ok {
		x, err := strconv.ParseFloat(v, 64)
		if err != nil {
			f.errs = append(f.errs, fmt.Sprintf("invalid %s=%q: want a number", envName(name), v))
		}
		def = x
	}
	f.Float64Var(p, name, def, help+" (env "+envName(name)+")")
}

func (f *flags) integer(p *int, name string, def int, help string) {
	if v, ok := os.LookupEnv(envName(name)); ok {
		x, err := strconv.Atoi(v)
		if err != nil {
			f.errs = append(f.errs, fmt.Sprintf("invalid %s=%q: want an integer", envName(name), v))
		}
		def = x
	}
	f.IntVar(p, name, def, help+" (env "+envName(name)+")")
}

// typedValue is a flag parsed once, here, into a typed value: sizes,
// durations, lists. Its errors name the flag and its JOURNEY_* twin.
type typedValue[T any] struct {
	p      *T
	parse  func(string) (T, error)
	format func(T) string // "" for the zero value
	name   string
	f      *flags
}

func (v *typedValue[T]) String() string {
	if v.p == nil { // flag asks a zero typedValue when printing defaults
		return ""
	}
	return v.format(*v.p)
}

func (v *typedValue[T]) Set(text string) error {
	x, err := v.parse(text)
	if err != nil {
		if v.f.failed == nil {
			v.f.failed = invalidValue(v.name, text, err)
		}
		return err
	}
	*v.p = x
	return nil
}

// invalidValue is a typed flag's error.
func invalidValue(name, text string, err error) error {
	return fmt.Errorf("invalid value %q for flag --%s (%s): %w", text, name, envName(name), err)
}

// typed binds a typed flag; *p holds its default, which the environment
// twin replaces when set.
func typed[T any](f *flags, p *T, name, help string, parse func(string) (T, error), format func(T) string) {
	v := &typedValue[T]{p: p, parse: parse, format: format, name: name, f: f}
	if text, ok := os.LookupEnv(envName(name)); ok {
		if x, err := parse(text); err != nil {
			f.errs = append(f.errs, invalidValue(name, text, err).Error())
		} else {
			*p = x
		}
	}
	f.Var(v, name, help+" (env "+envName(name)+")")
}

// size binds a size flag such as 2GiB, in bytes (0 = unset).
func (f *flags) size(p *int64, name, help string, parse func(string) (int64, error)) {
	typed(f, p, name, help, parse, formatSize)
}

// duration binds a duration flag such as 30s (0 = unset).
func (f *flags) duration(p *time.Duration, name, help string, parse func(string) (time.Duration, error)) {
	typed(f, p, name, help, parse, func(d time.Duration) string {
		if d == 0 {
			return ""
		}
		return d.String()
	})
}

// formatSize writes n bytes as the flags read it, in the largest unit
// that divides it: 2GiB, 1GB, 1536B; "" for 0.
func formatSize(n int64) string {
	if n == 0 {
		return ""
	}
	for _, u := range []struct {
		name string
		size int64
	}{{"TiB", 1 << 40}, {"TB", 1e12}, {"GiB", 1 << 30}, {"GB", 1e9}, {"MiB", 1 << 20}, {"MB", 1e6}, {"KiB", 1 << 10}, {"KB", 1e3}} {
		if n%u.size == 0 {
			return strconv.FormatInt(n/u.size, 10) + u.name
		}
	}
	return strconv.FormatInt(n, 10) + "B"
}

// parse parses args and reports environment errors found while binding.
func (f *flags) parse(args []string) error {
	if err := f.Parse(args); err != nil {
		if f.failed != nil {
			return f.failed
		}
		return err
	}
	if len(f.errs) > 0 {
		return fmt.Errorf("%s", strings.Join(f.errs, "; "))
	}
	return nil
}

// appFlags binds the flags every command that opens the stack shares.
func appFlags(f *flags, c *app.Config) {
	f.str(&c.DataDir, "data-dir", "./journey-data", "directory for all embedded data")
	f.str(&c.Addr, "addr", "127.0.0.1:8000", "HTTP listen address")
	f.str(&c.AdminKey, "admin-key", "", "admin key for /api/v1/projects (at least 16 characters)")
	f.boolean(&c.NoSync, "no-sync", false, "skip fdatasync of the event log: survives kill -9, not a power cut")
	f.size(&c.MemoryLimit, "memory-limit", "DuckDB memory limit for all queries together and its cache, e.g. 2GB (default a quarter of the machine's or cgroup's memory, at least 256MiB, at most 1GiB)", app.ParseMemoryLimit)
	f.duration(&c.QueryTimeout, "query-timeout", "time one query may take, e.g. 2m (default 60s)", app.ParseTimeout)
	f.size(&c.QueryMemory, "query-memory", "memory one query may take outside the database engine (a funnel's rows), e.g. 4GiB (default 2GiB); when set, also ClickHouse's max_memory_usage", app.ParseQueryMemory)
	typed(f, &c.QueryPlan, "query-plan", "fast query plans of the embedded DuckDB store to turn off, comma-separated: no-masks, no-dense, no-event-codes, no-feed-in-place, no-journey-index, no-flag-exposures, no-experiment-index (each answers the same, slower: a kill switch after an engine upgrade; no-journey-index also stops keeping the index, which a later start rebuilds)", duckdb.ParsePlan, duckdb.Plan.String)
	f.integer(&c.Threads, "threads", 0, "DuckDB threads; 0 = one per core")
	f.integer(&c.LoaderNice, "loader-nice", 10, "how much nicer (lower OS priority) than the server the loader's thread runs, so capture's acknowledgements come before storing (Linux; 0 = the same priority)")
	f.float(&c.RateLimit, "rate-limit", 0, "capture events per second per project token; 0 = unlimited")
	f.str(&c.Log, "log", "", "event log: empty for the embedded log, or nats://host:port (JetStream)")
	f.str(&c.Meta, "meta", "", "metadata store: empty for embedded SQLite, or postgres://user@host:port/db")
	f.str(&c.Events, "events", "", "event store: empty for embedded DuckDB, or clickhouse://host:port[,host2:port2]/db[?cluster=name]")
	typed(f, &c.TrustedProxies, "trusted-proxies", "load balancers (comma-separated CIDRs) whose X-Forwarded-For names the client, for login throttling and capture's per-client limits", app.ParseTrustedProxies, formatPrefixes)
	f.duration(&c.HeaderTimeout, "header-timeout", "time a client may take to send a request's headers, e.g. 5s (default 10s)", app.ParseTimeout)
	f.duration(&c.BodyTimeout, "body-timeout", "time a client may take to send a request's body, e.g. 1m (default 30s); slower ones are cut off (capture answers 408)", app.ParseTimeout)
	f.duration(&c.IdleTimeout, "idle-timeout", "time an idle keep-alive connection stays open, e.g. 1m (default 120s)", app.ParseTimeout)
	f.integer(&c.ClientBodies, "client-bodies", 0, "request bodies one client address may be sending at once, past which 429, for capture and for the API apart (default 16; behind a load balancer set --trusted-proxies)")
	f.size(&c.CaptureMemory, "capture-memory", "memory all capture requests being received and decoded may take together, past which 503 (one address with several at most 1/8 of it), e.g. 1GiB (default 256MiB)", app.ParseCaptureMemory)
	f.integer(&c.MaxHeaderBytes, "max-header-bytes", 0, "largest request header, past which 431 (default 65536)")
	f.integer(&c.ClientConns, "client-conns", 0, "connections one client address may hold open, past which new ones are closed (default 256; trusted proxies count only in --max-conns)")
	f.integer(&c.MaxConns, "max-conns", 0, "connections open at once in total, past which new ones are closed (default 10000)")
	f.str(&c.GeoIPDB, "geoip-db", "", "MaxMind-format City or Country database (.mmdb, e.g. GeoLite2-City.mmdb) that adds $geoip_* properties to captured events; empty = no GeoIP")
	f.boolean(&c.Campaigns, "campaigns", true, "run campaigns: the trigger engine beside the loader and the sender worker that delivers due messages")
	f.duration(&c.CohortInterval, "cohort-interval", "how often campaigns triggered by entering a cohort evaluate it, e.g. 30s (default 1m)", app.ParseTimeout)
	f.duration(&c.RetentionInterval, "retention-interval", "how often events older than a project's retention_days are dropped, e.g. 10m (default 1h; negative = never)", time.ParseDuration)
	f.duration(&c.CampaignLease, "campaign-lease", "how long a campaign sender's claim on a message holds before another may send it after a crash (default 2m; longer than a delivery attempt)", time.ParseDuration)
	f.boolean(&c.WebhookAllowPrivate, "webhook-allow-private", false, "let campaign webhooks and pushes reach private and loopback addresses (turns the SSRF guard off: for tests against receivers on loopback)")
	f.str(&c.PublicURL, "public-url", "", "public base URL of this server (https://journey.example.com), the base of campaign click links; default http:// and --addr")
	f.str(&c.SMTP, "smtp", "", "SMTP relay of email campaigns: smtp://[user[:password]@]host[:port][?tls=starttls|opportunistic|tls|none]; empty = no email campaigns")
	f.str(&c.VAPIDPublicKey, "vapid-public-key", "", "Web Push: the VAPID public key (base64url, P-256); empty = no Web Push campaigns")
	f.str(&c.VAPIDPrivateKey, "vapid-private-key", "", "Web Push: the VAPID private key (base64url)")
	f.str(&c.VAPIDSubject, "vapid-subject", "", "Web Push: the contact push services may reach, mailto:ops@example.com or an https URL")
}

// formatPrefixes writes CIDRs as --trusted-proxies reads them.
func formatPrefixes(ps []netip.Prefix) string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return strings.Join(out, ",")
}
