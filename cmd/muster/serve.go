package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/spf13/cobra"

	"github.com/muster-dev/muster/jobs"
)

// serveCommands are the roles: all of them in one process, or one each.
func (e *cli) serveCommands() []*cobra.Command {
	roles := []struct{ name, short string }{
		{"serve", "Run the API, the worker and the scheduler in one process (creates and migrates the database first)"},
		{"web", "Run the admin API only"},
		{"worker", "Run the job worker only"},
		{"scheduler", "Run the periodic tasks only"},
	}
	out := make([]*cobra.Command, len(roles))
	for i, r := range roles {
		out[i] = &cobra.Command{
			Use: r.name, Short: r.short, Args: cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error { return serve(cmd.Context(), r.name, e.getenv, e.stderr) },
		}
	}
	return out
}

func (e *cli) migrateCommand() *cobra.Command {
	return &cobra.Command{
		Use: "migrate", Short: "Create the database if it is missing and apply the migrations", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return migrate(cmd.Context(), e.getenv, e.stderr) },
	}
}

// serve runs one role, or all of them for "serve", until ctx ends; then it
// stops taking work and lets running jobs finish.
func serve(ctx context.Context, role string, getenv func(string) string, stderr io.Writer) error {
	a, err := open(ctx, getenv, stderr, role == "serve")
	if err != nil {
		return err
	}
	defer a.close()
	all := role == "serve"
	var stops []func()
	defer func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}()

	if all || role == "worker" {
		w, closeMail, err := a.worker(ctx)
		if err != nil {
			return err
		}
		if err := w.Start(); err != nil {
			closeMail()
			return err
		}
		stops = append(stops, closeMail, w.Shutdown)
		a.log.Info("worker started", "concurrency", a.cfg.Concurrency, "bulk_concurrency", a.cfg.BulkConcurrency)
	}
	if all || role == "scheduler" {
		s, err := jobs.NewScheduler(a.redis, a.log)
		if err != nil {
			return err
		}
		if err := s.Start(); err != nil {
			return fmt.Errorf("start scheduler: %w", err)
		}
		stops = append(stops, s.Shutdown)
		a.log.Info("scheduler started")
	}
	errc := make(chan error, 2)
	listen := func(name, variable string, srv *http.Server) error {
		ln, err := net.Listen("tcp", srv.Addr)
		if err != nil {
			return fmt.Errorf("%s %s: %w", variable, srv.Addr, err)
		}
		go func() { errc <- srv.Serve(ln) }()
		stops = append(stops, func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = srv.Shutdown(ctx)
		})
		a.log.Info(name+" listening", "url", "http://"+ln.Addr().String())
		return nil
	}
	if all || role == "web" {
		srv, err := a.web(ctx)
		if err != nil {
			return err
		}
		if err := listen("admin API", "HTTP_ADDR", srv); err != nil {
			return err
		}
	} else if a.cfg.MetricsAddr != "" {
		// A worker or scheduler alone has no API; its metrics get a port.
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", a.metrics.Handler())
		if err := listen("metrics", "METRICS_ADDR", &http.Server{Addr: a.cfg.MetricsAddr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}); err != nil {
			return err
		}
	}
	if a.cfg.PprofAddr != "" {
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		// A CPU profile takes as long as asked: no write timeout.
		if err := listen("profiler", "PPROF_ADDR", &http.Server{Addr: a.cfg.PprofAddr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}); err != nil {
			return err
		}
	}
	select {
	case <-ctx.Done():
		a.log.Info("shutting down", "role", role)
		return nil
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("HTTP server: %w", err)
	}
}

// migrate creates the database if needed and brings its schema up to date.
func migrate(ctx context.Context, getenv func(string) string, stderr io.Writer) error {
	a, err := open(ctx, getenv, stderr, true)
	if err != nil {
		return err
	}
	a.close()
	a.log.Info("database is up to date")
	return nil
}
