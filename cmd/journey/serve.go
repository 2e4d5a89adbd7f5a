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

func cmdServe(args []string) error {
	var cfg app.Config
	var pprofAddr string
	f := newFlags("serve")
	appFlags(f, &cfg)
	f.str(&cfg.HeaderTimeout, "header-timeout", "", "time a client may take to send a request's headers, e.g. 5s (default 10s)")
	f.str(&cfg.BodyTimeout, "body-timeout", "", "time a client may take to send a request's body, e.g. 1m (default 30s); slower ones are cut off (capture answers 408)")
	f.str(&cfg.IdleTimeout, "idle-timeout", "", "time an idle keep-alive connection stays open, e.g. 1m (default 120s)")
	f.integer(&cfg.ClientBodies, "client-bodies", 0, "capture bodies one client address may be sending at once, past which 429 (default 16; behind a load balancer set --trusted-proxies)")
	f.str(&cfg.CaptureMemory, "capture-memory", "", "memory all capture bodies being received may take together, past which 503, e.g. 1GiB (default 256MiB)")
	f.str(&pprofAddr, "pprof", "", "serve Go's pprof profiles on this address (e.g. 127.0.0.1:6060) for debugging")
	if err := f.parse(args); err != nil {
		return err
	}
	if pprofAddr != "" {
		// A separate listener keeps profiles off the public port.
		go func() { slog.Error("pprof server stopped", "err", http.ListenAndServe(pprofAddr, nil)) }()
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
