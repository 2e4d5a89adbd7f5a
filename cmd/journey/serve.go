package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	_ "net/http/pprof" // registers /debug/pprof on http.DefaultServeMux, served only with --pprof
	"os"
	"os/signal"
	"syscall"

	"github.com/journey-dev/journey/internal/app"
)

// serveOptions are serve's flags outside the stack's Config.
type serveOptions struct {
	pprofAddr string
	logFormat logFormat
}

// serveFlags binds every flag journey serve takes; deploy's tests parse
// the compose file's commands with it.
func serveFlags(cfg *app.Config, o *serveOptions) *flags {
	f := newFlags("serve")
	appFlags(f, cfg)
	f.str(&o.pprofAddr, "pprof", "", "serve Go's pprof profiles on this address (e.g. 127.0.0.1:6060) for debugging")
	typed(f, &o.logFormat, "log-format", "log lines as text (key=value) or json (one object a line, for a log shipper)", parseLogFormat, logFormat.String)
	f.str(&cfg.MetricsToken, "metrics-token", "", "bearer token /metrics asks for (at least 16 characters); empty = /metrics open to whoever reaches the port")
	f.duration(&cfg.ReadyMaxLag, "ready-max-lag", "loader lag past which /readyz answers 503, e.g. 1m (default 5m)", app.ParseTimeout)
	f.size(&cfg.ReadyMaxLagBytes, "ready-max-lag-bytes", "loader lag in bytes of event log past which /readyz answers 503, e.g. 64MiB (default 256MiB)", app.ParseReadyMaxLagBytes)
	return f
}

func cmdServe(args []string) error {
	var cfg app.Config
	var o serveOptions
	if err := serveFlags(&cfg, &o).parse(args); err != nil {
		return err
	}
	slog.SetDefault(slog.New(o.logFormat.handler(os.Stderr)))
	if o.pprofAddr != "" {
		// A separate listener keeps profiles off the public port.
		go func() { slog.Error("pprof server stopped", "err", http.ListenAndServe(o.pprofAddr, nil)) }()
	}
	a, err := app.Open(cfg)
	if err != nil {
		return err
	}
	defer a.Close()
	bootstrap, err := a.BootstrapKey(context.Background())
	if err != nil {
		return err
	}
	return serve(a, func(url string) {
		fmt.Printf("Journey is listening on %s (data in %s)\n", url, cfg.DataDir)
		if bootstrap != "" {
			fmt.Printf("No user yet: open %s and create the first admin with the key %s\n", url, bootstrap)
		}
	})
}

// serve listens on the configured address until SIGINT or SIGTERM.
func serve(a *app.App, started func(url string)) error {
	ln, err := net.Listen("tcp", a.Config.Addr)
	if err != nil {
		return fmt.Errorf("cannot listen on %q: %w", a.Config.Addr, err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	started("http://" + ln.Addr().String())
	err = a.Serve(ctx, ln)
	slog.Info("shutting down")
	return err
}
