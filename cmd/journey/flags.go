package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/journey-dev/journey/internal/app"
)

// envName is the environment twin of a flag: data-dir → JOURNEY_DATA_DIR.
func envName(flagName string) string {
	return "JOURNEY_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// flags wraps a FlagSet whose defaults come from the JOURNEY_* environment,
// so the command line wins over the environment, which wins over defaults.
type flags struct {
	*flag.FlagSet
	errs []string
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

// parse parses args and reports environment errors found while binding.
func (f *flags) parse(args []string) error {
	if err := f.Parse(args); err != nil {
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
	f.str(&c.MemoryLimit, "memory-limit", "", "DuckDB memory limit for all queries together, e.g. 1GB (default a quarter of the machine's memory)")
	f.str(&c.QueryTimeout, "query-timeout", "", "time one query may take, e.g. 2m (default 60s)")
	f.str(&c.QueryMemory, "query-memory", "", "memory one query may take outside the database engine (a funnel's rows), e.g. 4GiB (default 2GiB); when set, also ClickHouse's max_memory_usage")
	f.integer(&c.Threads, "threads", 0, "DuckDB threads; 0 = one per core")
	f.float(&c.RateLimit, "rate-limit", 0, "capture events per second per project token; 0 = unlimited")
	f.str(&c.Log, "log", "", "event log: empty for the embedded log, or nats://host:port (JetStream)")
	f.str(&c.Meta, "meta", "", "metadata store: empty for embedded SQLite, or postgres://user@host:port/db")
	f.str(&c.Events, "events", "", "event store: empty for embedded DuckDB, or clickhouse://host:port[,host2:port2]/db[?cluster=name]")
	f.str(&c.TrustedProxies, "trusted-proxies", "", "load balancers (comma-separated CIDRs) whose X-Forwarded-For names the client, for login throttling and capture's per-client limits")
	f.str(&c.HeaderTimeout, "header-timeout", "", "time a client may take to send a request's headers, e.g. 5s (default 10s)")
	f.str(&c.BodyTimeout, "body-timeout", "", "time a client may take to send a request's body, e.g. 1m (default 30s); slower ones are cut off (capture answers 408)")
	f.str(&c.IdleTimeout, "idle-timeout", "", "time an idle keep-alive connection stays open, e.g. 1m (default 120s)")
	f.integer(&c.ClientBodies, "client-bodies", 0, "request bodies one client address may be sending at once, past which 429, for capture and for the API apart (default 16; behind a load balancer set --trusted-proxies)")
	f.str(&c.CaptureMemory, "capture-memory", "", "memory all capture requests being received and decoded may take together, past which 503 (one address with several at most 1/8 of it), e.g. 1GiB (default 256MiB)")
	f.integer(&c.MaxHeaderBytes, "max-header-bytes", 0, "largest request header, past which 431 (default 65536)")
	f.integer(&c.ClientConns, "client-conns", 0, "connections one client address may hold open, past which new ones are closed (default 256; trusted proxies count only in --max-conns)")
	f.integer(&c.MaxConns, "max-conns", 0, "connections open at once in total, past which new ones are closed (default 10000)")
	f.str(&c.GeoIPDB, "geoip-db", "", "MaxMind-format City or Country database (.mmdb, e.g. GeoLite2-City.mmdb) that adds $geoip_* properties to captured events; empty = no GeoIP")
}
