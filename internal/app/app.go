// Package app wires the embedded stack together: metadata store, event
// log, loader, event store and the HTTP handlers. serve, demo, import and
// the tests all start Journey through it.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/journey-dev/journey/internal/api"
	"github.com/journey-dev/journey/internal/campaign"
	"github.com/journey-dev/journey/internal/capture"
	"github.com/journey-dev/journey/internal/channel"
	"github.com/journey-dev/journey/internal/enrich"
	"github.com/journey-dev/journey/internal/event"
	"github.com/journey-dev/journey/internal/eventlog"
	"github.com/journey-dev/journey/internal/flagserve"
	"github.com/journey-dev/journey/internal/insight"
	"github.com/journey-dev/journey/internal/intake"
	"github.com/journey-dev/journey/internal/live"
	"github.com/journey-dev/journey/internal/loader"
	"github.com/journey-dev/journey/internal/meta"
	"github.com/journey-dev/journey/internal/meta/postgres"
	"github.com/journey-dev/journey/internal/meta/sqlite"
	"github.com/journey-dev/journey/internal/store"
	"github.com/journey-dev/journey/internal/store/clickhouse"
	"github.com/journey-dev/journey/internal/store/duckdb"
	"github.com/journey-dev/journey/internal/websdk"
	"github.com/journey-dev/journey/web"
)

// Config is the embedded stack's configuration.
type Config struct {
	DataDir     string
	Addr        string
	AdminKey    string
	NoSync      bool  // skip fdatasync in the event log (kill -9 safe, not power-cut safe)
	MemoryLimit int64 // DuckDB memory_limit in bytes; 0 = duckdb.DefaultMemoryLimit()
	// QueryMemory caps one query's memory outside the database engine
	// and, when set, on ClickHouse its max_memory_usage, in bytes; 0 =
	// insight.DefaultMemoryCap outside the engine, ClickHouse's profile.
	QueryMemory int64
	// QueryTimeout bounds one query; 0 = 60 s.
	QueryTimeout time.Duration
	// LoaderNice is how much nicer than the process the loader's thread
	// runs (Linux), so that capture's acknowledgements come first; 0 =
	// the same priority.
	LoaderNice int
	// QueryPlan turns fast query plans of the embedded DuckDB store off
	// (--query-plan; the zero value keeps them all).
	QueryPlan duckdb.Plan
	Threads   int     // DuckDB threads; 0 = one per core
	RateLimit float64 // capture events/s per token; 0 = unlimited
	// Events selects the event store: "" for the embedded DuckDB under
	// DataDir, or clickhouse://host:port[,host2:port2]/db[?cluster=name].
	Events string
	// Meta selects the metadata store: "" for the embedded SQLite under
	// DataDir, or postgres://… . With PostgreSQL, replicas elect one loader
	// through an advisory lock.
	Meta string
	// Log selects the event log: "" for the embedded file log under
	// DataDir, or nats://host:port for NATS JetStream.
	Log string
	// TrustedProxies lists the load balancers whose X-Forwarded-For is
	// believed when counting login failures and request bodies per client;
	// their own addresses are exempt from ClientConns.
	TrustedProxies []netip.Prefix
	// HeaderTimeout, BodyTimeout and IdleTimeout bound how long a client
	// may take to send a request's headers, to send its body, and may keep
	// an idle connection open; 0 = DefaultHeaderTimeout,
	// capture.DefaultBodyTimeout, DefaultIdleTimeout.
	HeaderTimeout time.Duration
	BodyTimeout   time.Duration
	IdleTimeout   time.Duration
	// ClientBodies caps the request bodies one client address may be
	// sending at once (429 past it), for capture and, counted apart, for
	// the API, the UI and /flags; 0 = capture.DefaultClientBodies.
	ClientBodies int
	// CaptureMemory caps the memory, in bytes, that the capture requests
	// being received and decoded take together (503 past it; one address
	// with several requests at most 1/8 of it, 429); 0 =
	// capture.DefaultBodyMemory.
	CaptureMemory int64
	// MaxHeaderBytes caps a request's header (431 past it); 0 =
	// DefaultMaxHeaderBytes.
	MaxHeaderBytes int
	// ClientConns and MaxConns cap the connections open at once from one
	// client address (the TCP peer; trusted proxies count only in the
	// total) and in total; past them a new connection is closed at once.
	// 0 = intake.DefaultClientConns, intake.DefaultMaxConns.
	ClientConns int
	MaxConns    int
	// GeoIPDB is a MaxMind-format City or Country database (.mmdb) that
	// capture locates clients' addresses in ($geoip_* properties); "" =
	// no GeoIP.
	GeoIPDB string
	// Campaigns runs the campaign trigger engine (beside the loader) and
	// the sender worker (on every replica); serve turns it on
	// (--campaigns, default true).
	Campaigns bool
	// CohortInterval is how often cohort-triggered campaigns evaluate
	// their cohorts (--cohort-interval; 0 = 1 min); broadcasts are looked
	// for at least as often.
	CohortInterval time.Duration
	// WebhookAllowPrivate lets webhooks and pushes reach private and
	// loopback addresses (--webhook-allow-private; tests on loopback).
	WebhookAllowPrivate bool
	// CampaignLease is how long a sender's claim on a send holds before
	// another sender may take it (after a crash); 0 = the sender's
	// default (2 min).
	CampaignLease time.Duration
	// PublicURL is the server's public base URL, the base of campaign
	// click links (/c/{token}); "" = http:// and Addr.
	PublicURL string
	// SMTP is the relay email campaigns go through,
	// smtp://[user[:password]@]host[:port][?tls=…] (ParseSMTP); "" = no
	// email campaigns.
	SMTP string
	// VAPIDPublicKey, VAPIDPrivateKey and VAPIDSubject are the Web Push
	// application server's keys (base64url, channel.GenerateVAPIDKeys)
	// and contact (mailto: or https:); unset = no Web Push campaigns.
	VAPIDPublicKey  string
	VAPIDPrivateKey string
	VAPIDSubject    string
	// MetricsToken, when set, is the bearer token /metrics asks for.
	MetricsToken string
	// ReadyMaxLag and ReadyMaxLagBytes bound the loader lag past which
	// /readyz answers 503 (observe.go); 0 = the defaults.
	ReadyMaxLag      time.Duration
	ReadyMaxLagBytes int64
	// RetentionInterval is how often events past the projects' retention
	// are dropped (privacy.go, --retention-interval); 0 = 1 h, negative =
	// never.
	RetentionInterval time.Duration
}

// Defaults of the server timeouts Config leaves empty.
const (
	DefaultHeaderTimeout = 10 * time.Second
	DefaultIdleTimeout   = 120 * time.Second
)

// DefaultMaxHeaderBytes is far above what posthog-js, Segment's SDKs and
// the UI send (cookies included), and far below net/http's 1 MB, which
// lets each connection stalled in its headers hold a megabyte.
const DefaultMaxHeaderBytes = 64 << 10

// minHeaderBytes leaves room for a browser's usual headers and cookies.
const minHeaderBytes = 4 << 10

// maxHeaderBytes is MaxHeaderBytes, the default filled in.
func (c *Config) maxHeaderBytes() int {
	if c.MaxHeaderBytes == 0 {
		return DefaultMaxHeaderBytes
	}
	return c.MaxHeaderBytes
}

// validateConns checks the header and connection caps.
func (c *Config) validateConns() error {
	switch {
	case c.MaxHeaderBytes != 0 && c.MaxHeaderBytes < minHeaderBytes:
		return fmt.Errorf("invalid --max-header-bytes %d: want at least %d (or 0 for %d)", c.MaxHeaderBytes, minHeaderBytes, DefaultMaxHeaderBytes)
	case c.ClientConns < 0:
		return fmt.Errorf("invalid --client-conns %d: must be >= 0", c.ClientConns)
	case c.MaxConns < 0:
		return fmt.Errorf("invalid --max-conns %d: must be >= 0", c.MaxConns)
	}
	return nil
}

// serverTimeouts are HeaderTimeout, BodyTimeout and IdleTimeout, defaults
// filled in.
func (c *Config) serverTimeouts() (header, body, idle time.Duration) {
	or := func(d, def time.Duration) time.Duration {
		if d == 0 {
			return def
		}
		return d
	}
	return or(c.HeaderTimeout, DefaultHeaderTimeout), or(c.BodyTimeout, capture.DefaultBodyTimeout), or(c.IdleTimeout, DefaultIdleTimeout)
}

// The typed settings' parsers, for the flag layer: it parses each flag
// once with them (its errors name the flag and its JOURNEY_* twin) and
// hands Config the values. Validate checks the same bounds on a Config
// built in code, where 0 is each setting's default.

// sizeBound is a size setting's least value and what is wrong below it.
type sizeBound struct {
	min     int64
	tooLow  string
	example string
}

// minCaptureMemory lets the largest capture body (20 MB) through.
const minCaptureMemory = 32 << 20

var (
	memoryLimitBound   = sizeBound{1, "must be positive", "1GB"}
	queryMemoryBound   = sizeBound{1 << 20, "less than 1MiB", "2GiB"}
	captureMemoryBound = sizeBound{minCaptureMemory, "less than 32MiB, the largest capture body would never fit", "512MiB"}
)

func (b sizeBound) check(n int64) error {
	if n < b.min {
		return errors.New(b.tooLow)
	}
	return nil
}

func (b sizeBound) parse(s string) (int64, error) {
	n, err := insight.ParseBytes(s)
	if err != nil {
		return 0, fmt.Errorf("want a size such as %s: %w", b.example, err)
	}
	if err := b.check(n); err != nil {
		return 0, err
	}
	return n, nil
}

// ParseMemoryLimit reads --memory-limit (DuckDB's memory_limit), e.g. 1GB.
func ParseMemoryLimit(s string) (int64, error) { return memoryLimitBound.parse(s) }

// ParseQueryMemory reads --query-memory, e.g. 2GiB: at least 1MiB.
func ParseQueryMemory(s string) (int64, error) { return queryMemoryBound.parse(s) }

// ParseCaptureMemory reads --capture-memory, e.g. 512MiB: at least 32MiB.
func ParseCaptureMemory(s string) (int64, error) { return captureMemoryBound.parse(s) }

// ParseTimeout reads a timeout flag (--query-timeout, --header-timeout,
// --body-timeout, --idle-timeout), e.g. 30s: positive.
func ParseTimeout(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("want a duration such as 30s: %w", err)
	}
	if d <= 0 {
		return 0, errors.New("must be positive")
	}
	return d, nil
}

// ParseTrustedProxies reads --trusted-proxies: comma-separated CIDRs or
// addresses.
func ParseTrustedProxies(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v == "" {
			continue
		}
		p, err := netip.ParsePrefix(v)
		if err != nil {
			a, aerr := netip.ParseAddr(v)
			if aerr != nil {
				return nil, fmt.Errorf("want CIDRs such as 10.0.0.0/8: %q: %w", v, err)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// validateTyped checks the typed settings of a Config built in code.
func (c *Config) validateTyped() error {
	for _, sz := range []struct {
		flag string
		n    int64
		b    sizeBound
	}{{"memory-limit", c.MemoryLimit, memoryLimitBound}, {"query-memory", c.QueryMemory, queryMemoryBound}, {"capture-memory", c.CaptureMemory, captureMemoryBound}} {
		if sz.n == 0 {
			continue
		}
		if err := sz.b.check(sz.n); err != nil {
			return fmt.Errorf("invalid --%s of %d bytes: %w", sz.flag, sz.n, err)
		}
	}
	for _, d := range []struct {
		flag string
		d    time.Duration
	}{{"query-timeout", c.QueryTimeout}, {"header-timeout", c.HeaderTimeout}, {"body-timeout", c.BodyTimeout}, {"idle-timeout", c.IdleTimeout}} {
		if d.d < 0 {
			return fmt.Errorf("invalid --%s %s: must be positive", d.flag, d.d)
		}
	}
	return nil
}

// Validate checks the configuration before anything is opened.
func (c *Config) Validate() error {
	if c.DataDir == "" {
		return errors.New("invalid --data-dir: empty")
	}
	if c.Addr != "" {
		if _, _, err := net.SplitHostPort(c.Addr); err != nil {
			return fmt.Errorf("invalid --addr %q: %w", c.Addr, err)
		}
	}
	if c.AdminKey != "" && len(c.AdminKey) < 16 {
		return errors.New("invalid --admin-key: use at least 16 characters")
	}
	if c.RateLimit < 0 {
		return errors.New("invalid --rate-limit: must be >= 0")
	}
	if err := c.validateTyped(); err != nil {
		return err
	}
	if err := c.validateObserve(); err != nil {
		return err
	}
	if c.Meta != "" && !strings.HasPrefix(c.Meta, "postgres://") && !strings.HasPrefix(c.Meta, "postgresql://") {
		return fmt.Errorf("invalid --meta %q: want postgres://user@host:port/db (or nothing for the embedded store)", c.Meta)
	}
	if c.Log != "" && !strings.HasPrefix(c.Log, "nats://") {
		return fmt.Errorf("invalid --log %q: want nats://host:port (or nothing for the embedded log)", c.Log)
	}
	if c.ClientBodies < 0 {
		return errors.New("invalid --client-bodies: must be >= 0")
	}
	if err := c.validateConns(); err != nil {
		return err
	}
	if c.Events != "" && !strings.HasPrefix(c.Events, "clickhouse://") {
		return fmt.Errorf("invalid --events %q: want clickhouse://host:port/db (or nothing for the embedded store)", c.Events)
	}
	return c.validateGeoIP()
}

// validateGeoIP checks that GeoIPDB names a file; Open reads it.
func (c *Config) validateGeoIP() error {
	if c.GeoIPDB == "" {
		return nil
	}
	st, err := os.Stat(c.GeoIPDB)
	if err != nil {
		return fmt.Errorf("invalid --geoip-db %q: %w", c.GeoIPDB, err)
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("invalid --geoip-db %q: not a file (want a .mmdb such as GeoLite2-City.mmdb)", c.GeoIPDB)
	}
	return nil
}

// App is a running embedded stack.
type App struct {
	Config Config
	Meta   meta.Store
	Log    eventlog.Log
	Events store.Store
	Loader *loader.Loader
	// FlagIndex holds what flags read of every person (embedded stack
	// only; nil on the scale-out one): fed by the loader, so a person
	// erased outside it must be forgotten there (PersonIndex.Forget).
	FlagIndex *flagserve.PersonIndex
	// Handler serves capture, the API and the UI.
	Handler http.Handler

	api     *api.Server   // kept for tests that tune its limits
	geo     *enrich.GeoIP // nil without --geoip-db
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	loading atomic.Bool // this process runs the loader (holds the lock)

	// Campaigns: what capture appends to (the log, tapped for the live
	// stream), which the sender and the click redirect emit to; the cache
	// the API, the engine and the sender share; the engine's own reader of
	// a shared log (nil: it reads a.Log).
	sink      capture.Sink
	campaigns *campaign.Campaigns
	engine    *campaign.Engine
	engineLog eventlog.Log
	smtp      *channel.SMTPConfig // nil without --smtp
	client    *channel.HTTPClient // webhooks' and pushes' (SSRF guard unless --webhook-allow-private)
}

// Open opens every store under the data directory and starts the loader.
func Open(cfg Config) (*App, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	// Owner only: the metadata holds webhook secrets, sessions and
	// personal data (an existing directory keeps the mode its operator set).
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("cannot create data directory %q: %w", cfg.DataDir, err)
	}
	a := &App{Config: cfg}
	var err error
	if cfg.GeoIPDB != "" {
		// Opened first: a bad database fails the start with nothing to undo.
		if a.geo, err = enrich.OpenGeoIP(cfg.GeoIPDB); err != nil {
			return nil, err
		}
	}
	if a.Meta, err = openMeta(cfg); err != nil {
		a.geo.Close()
		return nil, err
	}
	if a.Log, err = openLog(cfg); err != nil {
		a.Meta.Close()
		a.geo.Close()
		return nil, err
	}
	if a.Events, err = openEvents(cfg); err != nil {
		a.Log.Close()
		a.Meta.Close()
		a.geo.Close()
		return nil, err
	}
	a.Loader = loader.New(a.Log, a.Events, 0)
	a.Loader.SetDefinitions(a.Meta) // event and property definitions for the pickers
	a.campaigns = &campaign.Campaigns{Meta: a.Meta}
	if err := a.openChannels(); err != nil {
		a.Events.Close()
		a.Log.Close()
		a.Meta.Close()
		a.geo.Close()
		return nil, err
	}
	if cfg.Campaigns {
		if err := a.openEngine(cfg); err != nil {
			a.Events.Close()
			a.Log.Close()
			a.Meta.Close()
			a.geo.Close()
			return nil, err
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	// Embedded, this process is the only loader; shared, runLoader elects one.
	_, shared := a.Meta.(loaderLock)
	a.loading.Store(!shared)
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		lowerLoaderPriority(cfg.LoaderNice) // loaderprio_linux.go
		a.runLoader(ctx)
	}()
	a.watchLag(ctx)     // observe.go
	a.startPrivacy(ctx) // privacy.go: deletion jobs and retention
	dataDir.Store(&cfg.DataDir)
	a.Handler = a.routes()
	if cfg.Campaigns {
		a.startSender(ctx)
	}
	return a, nil
}

func openMeta(cfg Config) (meta.Store, error) {
	if cfg.Meta == "" {
		return sqlite.Open(filepath.Join(cfg.DataDir, "meta.db"))
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return postgres.Open(ctx, cfg.Meta)
}

// loaderLock is implemented by metadata stores shared between replicas:
// only the holder of the lock loads, since identity resolution keeps its
// state in the loader's memory.
type loaderLock interface {
	LoaderLock(ctx context.Context) (release func(), lost <-chan struct{}, err error)
}

// runLoader runs the loader, behind the loader lock when replicas share
// the stores; a replica that loses the lock stops loading and queues for
// it again.
func (a *App) runLoader(ctx context.Context) {
	lock, shared := a.Meta.(loaderLock)
	if !shared {
		stopEngine := a.runEngine(ctx)
		a.Loader.Run(ctx)
		stopEngine()
		return
	}
	for ctx.Err() == nil {
		release, lost, err := lock.LoaderLock(ctx)
		if err != nil {
			if ctx.Err() == nil {
				slog.Warn("cannot take the loader lock; retrying", "err", err)
				time.Sleep(time.Second)
			}
			continue
		}
		slog.Info("this replica is the loader")
		run, stop := context.WithCancel(ctx)
		go func() {
			select {
			case <-lost:
				slog.Warn("lost the loader lock; stopping the loader")
				stop()
			case <-run.Done():
			}
		}()
		a.loading.Store(true)
		stopEngine := a.runEngine(run)
		a.Loader.Run(run)
		stopEngine()
		a.loading.Store(false)
		stop()
		release()
	}
}

func openLog(cfg Config) (eventlog.Log, error) {
	if cfg.Log == "" {
		return eventlog.OpenFile(filepath.Join(cfg.DataDir, "log"), eventlog.FileOptions{NoSync: cfg.NoSync})
	}
	// nats://host:port[?stream=NAME]: the stream name lets several
	// deployments (or test runs) share one NATS server.
	u, err := url.Parse(cfg.Log)
	if err != nil {
		return nil, fmt.Errorf("invalid --log %q: %w", cfg.Log, err)
	}
	opts := eventlog.JetStreamOptions{Stream: u.Query().Get("stream")}
	if opts.Stream != "" {
		opts.Subject = "journey." + opts.Stream
	}
	u.RawQuery = ""
	return eventlog.OpenJetStream(u.String(), opts)
}

func openEvents(cfg Config) (store.Store, error) {
	if cfg.Events == "" {
		return duckdb.Open(filepath.Join(cfg.DataDir, "events.duckdb"), duckdb.Options{MemoryLimit: cfg.MemoryLimit, Threads: cfg.Threads, Plan: cfg.QueryPlan})
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return clickhouse.Open(ctx, cfg.Events)
}

func (a *App) routes() http.Handler {
	// Capture reads its bodies itself (capture.NewHandler's intake);
	// everything else is behind capture.Bodies, the same discipline.
	mux, rest := http.NewServeMux(), http.NewServeMux()
	hub, sink := a.liveEvents()
	a.sink = sink
	proxies := a.Config.TrustedProxies
	_, bodyTimeout, _ := a.Config.serverTimeouts()
	ch := capture.NewHandler(&tokenCache{meta: a.Meta}, sink, capture.Options{
		RateLimit: a.Config.RateLimit, BodyTimeout: bodyTimeout, ClientBodies: a.Config.ClientBodies,
		BodyMemory: a.Config.CaptureMemory, TrustedProxies: proxies, GeoIP: a.geo,
	})
	for _, route := range capture.Routes {
		mux.Handle(route, ch)
		mux.Handle(route+"/", ch)
	}
	// What browser SDKs fetch besides capture: bundles, remote config, /flags.
	// Flags are evaluated from per-replica caches (internal/flagserve).
	sdk := websdk.NewHandler(&tokenCache{meta: a.Meta}, a.Meta, websdk.WithFlags(flagserve.New(a.Meta, a.Events, a.flagOptions())),
		websdk.WithTrustedProxies(proxies)) // per-client limits key on the client behind the load balancer
	for _, route := range websdk.Routes {
		rest.Handle(route, sdk)
	}
	publicBase, _ := a.publicURL() // an invalid --public-url is refused when the engine opens
	srv := &api.Server{Meta: a.Meta, Events: a.Events, AdminKey: a.Config.AdminKey, Ready: a.ready, LoaderLag: a.loaderLag, MetricsToken: a.Config.MetricsToken, Live: hub, TrustedProxies: proxies,
		QueryMemory: a.Config.QueryMemory, QueryTimeout: a.Config.QueryTimeout,
		Campaigns: api.CampaignOptions{AllowPrivate: a.Config.WebhookAllowPrivate, Emit: sink.Append, Cache: a.campaigns,
			Email: a.smtp != nil, VAPIDPublicKey: a.vapidPublic(), Sender: a.testSender, PublicURL: publicBase}}
	srv.Register(rest)
	a.api = srv
	rest.Handle("/", web.Handler())
	mux.Handle("/", capture.Bodies(rest, capture.BodyLimits{
		Limit: bodyLimit, Timeout: bodyTimeout, ClientBodies: a.Config.ClientBodies, TrustedProxies: proxies,
	}))
	return mux
}

// Limits of the bodies outside capture: what each API handler reads at
// most (a static cohort lists up to 10 000 distinct ids; dashboards,
// insights, queries and /flags stay well under 1 MiB).
const (
	apiBodyLimit    = 1 << 20
	cohortBodyLimit = 4 << 20
)

func bodyLimit(r *http.Request) int {
	if strings.HasPrefix(r.URL.Path, "/api/v1/cohorts") {
		return cohortBodyLimit
	}
	return apiBodyLimit
}

// BootstrapKey returns a fresh key that creates the first UI admin when
// the server has no user and no admin key (else ""), so `journey serve`
// alone can be set up from the browser.
func (a *App) BootstrapKey(ctx context.Context) (string, error) {
	if a.Config.AdminKey != "" {
		return "", nil
	}
	n, err := a.Meta.CountUsers(ctx)
	if err != nil || n > 0 {
		return "", err
	}
	key := "jbk_" + meta.NewCSRFToken()
	a.api.SetBootstrapKey(key)
	return key, nil
}

// liveEvents sets up the UI's live event stream and returns the sink
// capture writes to. A shared log is tailed, so the stream shows what every
// replica captured; otherwise capture itself feeds it.
func (a *App) liveEvents() (*live.Hub, capture.Sink) {
	hub := live.NewHub()
	if js, ok := a.Log.(*eventlog.JetStream); ok {
		hub.SetSource(func(publish func(event.Batch)) (func(), error) {
			return js.Tail(func(b event.RawBatch) { publish(live.FromRaw(b)) })
		})
		return hub, a.Log
	}
	return hub, live.Tap{Sink: a.Log, Hub: hub}
}

// flagOptions: on the embedded stack, where this process' loader is the
// event store's only writer, flags read persons from an in-memory index
// the loader's writes keep current (flagserve.PersonIndex); replicas
// sharing the stores read them through flagserve's person cache.
func (a *App) flagOptions() flagserve.Options {
	sc, ok := a.Events.(store.PersonScanner)
	if _, shared := a.Meta.(loaderLock); shared || !ok {
		return flagserve.Options{}
	}
	if a.FlagIndex == nil {
		a.FlagIndex = flagserve.NewPersonIndex(sc, flagserve.IndexOptions{})
		a.Loader.SetApplied(a.FlagIndex.Feed, a.FlagIndex.ForgetIDs)
	}
	return flagserve.Options{Index: a.FlagIndex}
}

// Serve answers HTTP on ln until ctx is done, then shuts down gracefully.
func (a *App) Serve(ctx context.Context, ln net.Listener) error {
	header, body, idle := a.Config.serverTimeouts()
	// No ReadTimeout nor WriteTimeout: both would also end long responses
	// such as the UI's live stream, which sets its own write deadlines.
	// Bodies get a deadline of their own instead.
	hs := &http.Server{
		Handler:           bodyDeadline(a.Handler, body),
		ReadHeaderTimeout: header,
		IdleTimeout:       idle,
		MaxHeaderBytes:    a.Config.maxHeaderBytes(),
	}
	// Connections are capped too: each holds a header buffer while its
	// client takes its time (up to --header-timeout, then again per request).
	ln = intake.NewListener(ln, a.Config.ClientConns, a.Config.MaxConns, a.Config.TrustedProxies)
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := hs.Shutdown(shutdown); err != nil {
		slog.Warn("graceful shutdown incomplete", "err", err)
	}
	return nil
}

// bodyDeadline gives each request body a read deadline of d from the
// start of the handler, so that a client trickling a body is cut off.
// net/http lifts it once the body is read to its end (to watch for the
// client going away), so it bounds neither long handlers nor long
// responses; a body left unread only bounds the server's drain of it.
func bodyDeadline(next http.Handler, d time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody {
			_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(d))
		}
		next.ServeHTTP(w, r)
	})
}

// Close lets the loader catch up with the log (bounded, so a long backlog
// does not block shutdown: it is loaded at the next start), then stops it
// and closes the stores.
func (a *App) Close() error {
	drain, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if !a.loading.Load() {
		// Another replica loads; nothing to drain here.
	} else if err := a.Loader.Sync(drain); err != nil {
		slog.Warn("loader did not catch up before shutdown; the rest loads at next start", "lag_bytes", a.Loader.Lag())
	}
	a.cancel()
	a.wg.Wait()
	errs := []error{a.Log.Close(), a.Events.Close(), a.Meta.Close(), a.geo.Close()}
	if a.engineLog != nil {
		errs = append(errs, a.engineLog.Close())
	}
	return errors.Join(errs...)
}

// tokenCache keeps token lookups off the metadata store on the capture hot
// path, each with its project's IP mode (capture.IPModes). Entries expire
// so that a replica sees new or revoked tokens and changed settings. Known
// tokens and misses are kept apart: known ones are bounded by the projects
// there are, and misses (which anyone can make up) by maxMisses, so a
// flood of made-up tokens can neither grow memory nor push out the real
// ones; when the misses are full of live entries, a new miss is simply not
// cached.
type tokenCache struct {
	meta   meta.Store
	mu     sync.Mutex
	known  map[string]tokenEntry
	misses map[string]time.Time // token → when the miss expires
}

type tokenEntry struct {
	id      int64
	ipMode  string // meta.SDKSettings.IP
	expires time.Time
}

const (
	tokenTTL  = 30 * time.Second
	missTTL   = 2 * time.Second // short, so a new project works at once
	maxMisses = 100_000
)

func (c *tokenCache) ProjectByToken(ctx context.Context, token string) (int64, bool, error) {
	e, ok, err := c.lookup(ctx, token)
	return e.id, ok, err
}

// IPMode is the token's project's IP mode, from the same cached entry as
// its id; an unknown token keeps nothing.
func (c *tokenCache) IPMode(ctx context.Context, token string) (string, error) {
	e, ok, err := c.lookup(ctx, token)
	if err != nil || !ok {
		return meta.IPDrop, err
	}
	return e.ipMode, nil
}

// maxTokenLen bounds the tokens worth a lookup: real ones are 36
// characters, and a made-up long one would be kept whole as a miss.
const maxTokenLen = 200

func (c *tokenCache) lookup(ctx context.Context, token string) (tokenEntry, bool, error) {
	if len(token) > maxTokenLen {
		return tokenEntry{}, false, nil
	}
	now := time.Now()
	c.mu.Lock()
	e, hit := c.known[token]
	missUntil, missed := c.misses[token]
	c.mu.Unlock()
	if hit && now.Before(e.expires) {
		return e, true, nil
	}
	if missed && now.Before(missUntil) {
		return tokenEntry{}, false, nil
	}
	p, err := c.meta.ProjectByToken(ctx, token)
	if err != nil && !errors.Is(err, meta.ErrNotFound) {
		return tokenEntry{}, false, err
	}
	if err != nil {
		c.mu.Lock()
		defer c.mu.Unlock()
		delete(c.known, token)
		c.addMiss(token, now)
		return tokenEntry{}, false, nil
	}
	sdk, err := meta.LoadSDKSettings(ctx, c.meta, p.ID)
	if err != nil {
		return tokenEntry{}, false, err
	}
	e = tokenEntry{id: p.ID, ipMode: sdk.IP, expires: now.Add(tokenTTL)}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.known == nil {
		c.known = map[string]tokenEntry{}
	}
	delete(c.misses, token)
	c.known[token] = e
	return e, true, nil
}

// addMiss caches a miss unless the table is full of live ones; expired
// misses are swept when it fills.
func (c *tokenCache) addMiss(token string, now time.Time) {
	if c.misses == nil {
		c.misses = map[string]time.Time{}
	}
	if len(c.misses) >= maxMisses {
		for t, until := range c.misses {
			if !now.Before(until) {
				delete(c.misses, t)
			}
		}
		if len(c.misses) >= maxMisses {
			return
		}
	}
	c.misses[token] = now.Add(missTTL)
}
