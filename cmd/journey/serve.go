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
