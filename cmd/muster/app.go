package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	netmail "net/mail"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	asynqmetrics "github.com/hibiken/asynq/x/metrics"
	"github.com/hibiken/asynqmon"
	"github.com/redis/go-redis/v9"

	"github.com/muster-dev/muster/internal/actions"
	"github.com/muster-dev/muster/internal/config"
	"github.com/muster-dev/muster/internal/console"
	"github.com/muster-dev/muster/internal/httpapi"
	"github.com/muster-dev/muster/internal/limit"
	"github.com/muster-dev/muster/internal/locale"
	"github.com/muster-dev/muster/internal/metrics"
	"github.com/muster-dev/muster/internal/postgres"
	"github.com/muster-dev/muster/internal/signed"
	"github.com/muster-dev/muster/internal/workbook"
	"github.com/muster-dev/muster/jobs"
	"github.com/muster-dev/muster/mail"
)

// app holds the connections every role shares.
type app struct {
	cfg     *config.Config
	log     *slog.Logger
	db      *postgres.DB
	redis   redis.UniversalClient
	queue   *jobs.Enqueuer
	metrics *metrics.Metrics
}

func newLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// open loads the configuration and connects to PostgreSQL and Redis. A
// server that cannot be reached yet is waited for, until ctx ends: a
// process started during an outage starts when it ends.
func open(ctx context.Context, getenv func(string) string, stderr io.Writer, migrate bool) (*app, error) {
	cfg, err := config.Load(getenv)
	if err != nil {
		return nil, err
	}
	log := newLogger(cfg, stderr)
	var db *postgres.DB
	if err := waitUp(ctx, log, "PostgreSQL", func() (err error) {
		db, err = openDB(ctx, cfg.DatabaseURL, log, migrate)
		return err
	}); err != nil {
		return nil, err
	}
	a := &app{cfg: cfg, log: log, db: db, metrics: metrics.New()}
	a.metrics.WatchOwed(db.OwedByAge, log)
	if a.redis, err = jobs.NewRedis(cfg.RedisURL); err != nil {
		a.close()
		return nil, err
	}
	if err := waitUp(ctx, log, "Redis", func() error {
		if err := a.redis.Ping(ctx).Err(); err != nil {
			return fmt.Errorf("connect to Redis at %s: %w", redactURL(cfg.RedisURL), err)
		}
		return nil
	}); err != nil {
		a.close()
		return nil, err
	}
	a.queue = jobs.NewEnqueuer(asynq.NewClientFromRedisClient(a.redis), cfg.SendAttempts)
	return a, nil
}

// waitUp calls connect until it succeeds, fails for another reason than
// an unreachable server, or ctx ends; the delay between tries grows to 5 s.
func waitUp(ctx context.Context, log *slog.Logger, name string, connect func() error) error {
	delay := 250 * time.Millisecond
	for {
		err := connect()
		if err == nil || !jobs.Unavailable(err) {
			return err
		}
		log.Warn("waiting for "+name, "retry_in", delay, "error", err)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(delay):
		}
		delay = min(2*delay, 5*time.Second)
	}
}

// openDB connects to PostgreSQL. With migrate, it first creates the
// database if missing and migrates it; without, it refuses a schema older
// than the binary.
func openDB(ctx context.Context, url string, log *slog.Logger, migrate bool) (*postgres.DB, error) {
	if migrate {
		if err := postgres.EnsureDatabase(ctx, url); err != nil {
			return nil, err
		}
	}
	db, err := postgres.Open(ctx, url, log)
	if err != nil {
		return nil, err
	}
	if migrate {
		err = db.Migrate(ctx)
	} else if pending, perr := db.MigrationsPending(ctx); perr != nil {
		err = perr
	} else if pending {
		err = errors.New("the database schema is behind this binary; run `muster migrate` first")
	}
	if err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

func (a *app) close() {
	if a.redis != nil {
		a.redis.Close()
	}
	a.db.Close()
}

// mailer sends over SMTP_URL, or into MAIL_DIR when no SMTP server is set.
func (a *app) mailer() (mail.Sender, *netmail.Address, error) {
	from, err := netmail.ParseAddress(a.cfg.MailFrom)
	if err != nil {
		return nil, nil, fmt.Errorf("MAIL_FROM: %w", err)
	}
	if a.cfg.SMTPURL != "" {
		s, err := mail.NewSMTP(a.cfg.SMTPURL, mail.SMTPOptions{From: from, Conns: a.cfg.SMTPConns, Rate: a.cfg.SMTPRate, Timeout: a.cfg.SMTPTimeout})
		return s, from, err
	}
	dir, err := filepath.Abs(a.cfg.MailDir)
	if err != nil {
		return nil, nil, fmt.Errorf("MAIL_DIR: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, fmt.Errorf("MAIL_DIR: %w", err)
	}
	a.log.Warn("SMTP_URL is not set: emails are written as .eml files instead", "dir", dir)
	return &mail.FileSender{Dir: dir, From: from, Now: time.Now}, from, nil
}

// worker builds the job worker; each kind's handler is built from the one
// jobs.Deps (jobs/catalogue.go), so a new kind changes nothing here.
func (a *app) worker(ctx context.Context) (*jobs.Worker, func(), error) {
	signer, err := a.signer(ctx)
	if err != nil {
		return nil, nil, err
	}
	bundle, err := locale.Load()
	if err != nil {
		return nil, nil, err
	}
	render, err := mail.NewRenderer(bundle)
	if err != nil {
		return nil, nil, err
	}
	// Interactive and bulk emails have a pool of connections each, so a
	// single invitation never waits behind bulk ones, hung or not. Opened
	// last: nothing after them can fail without closing them.
	sender, _, err := a.mailer()
	if err != nil {
		return nil, nil, err
	}
	bulkSender, _, err := a.mailer()
	if err != nil {
		sender.Close()
		return nil, nil, err
	}
	bulkDB := a.db.Pool(a.cfg.BulkDBConns)
	// Two: single sends share one claim and one outcome statement at a time.
	sendDB := a.db.Generic(2)
	closeAll := func() { sender.Close(); bulkSender.Close(); bulkDB.Close(); sendDB.Close() }
	w, err := jobs.NewWorker(a.redis, jobs.WorkerConfig{
		Concurrency: a.cfg.Concurrency, BulkConcurrency: a.cfg.BulkConcurrency, ImportConcurrency: a.cfg.ImportConcurrency,
		PollInterval: a.cfg.PollInterval, RetryBase: a.cfg.RetryBase, ShutdownTimeout: a.cfg.ShutdownTimeout,
		Log: a.log, Observe: a.metrics.ObserveTask,
	}, &jobs.Deps{
		Store: a.db, BulkStore: bulkDB, SendStore: sendDB, Queue: a.queue, Redis: a.redis, Mail: sender, BulkMail: bulkSender, Render: render, Signer: signer,
		Config: a.cfg, Log: a.log, Metrics: a.metrics, Now: time.Now,
	})
	if err != nil {
		closeAll()
		return nil, nil, err
	}
	return w, closeAll, nil
}

// signer signs links in emails (worker) and checks them (web) with one
// key: SECRET_KEY, or the one generated and kept in the database.
func (a *app) signer(ctx context.Context) (*signed.Signer, error) {
	key := a.cfg.SecretKey
	if key == "" {
		var err error
		if key, err = a.db.SecretKey(ctx); err != nil {
			return nil, err
		}
	}
	return signed.New(key), nil
}

// web builds the HTTP server of the admin API.
func (a *app) web(ctx context.Context) (*http.Server, error) {
	signer, err := a.signer(ctx)
	if err != nil {
		return nil, err
	}
	api := httpapi.New(a.db, a.queue, signer, []httpapi.Check{
		{Name: "postgres", Ping: a.db.PingContext},
		{Name: "redis", Ping: func(ctx context.Context) error { return a.redis.Ping(ctx).Err() }},
	}, a.log, httpapi.Options{
		ResendInterval: a.cfg.ResendInterval, SignupSecret: a.cfg.SignupSecret, MailEventsSecret: a.cfg.MailEventsSecret,
		Metrics: a.metrics, MetricsHandler: a.metrics.Handler(),
		Monitor:      a.monitor(),
		ImportLimits: a.limits(),
		Limiter:      a.limiter(),
	})
	// The queues' sizes and latencies, read from Redis at each scrape.
	a.metrics.Registry.MustRegister(asynqmetrics.NewQueueMetricsCollector(asynq.NewInspectorFromRedisClient(a.redis)))
	con, err := a.console(signer)
	if err != nil {
		return nil, err
	}
	// The API keeps its paths; every other path is the console's.
	mux := http.NewServeMux()
	for _, p := range []string{"/v1/", "/healthz", "/readyz", "/metrics", "/asynq/"} {
		mux.Handle(p, api)
	}
	mux.Handle("/", con)
	return &http.Server{
		Addr:              a.cfg.HTTPAddr,
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		// A fallback: the API gives each body its own deadline (30 s,
		// 10 minutes for uploads) and lifts it once the body is read.
		ReadTimeout: 15 * time.Minute,
		IdleTimeout: 2 * time.Minute,
	}, nil
}

// monitor is the Asynq web UI as QUEUE_MONITOR allows it: read-only
// unless "write"; nil when "off".
func (a *app) monitor() http.Handler {
	if a.cfg.QueueMonitor == "off" {
		return nil
	}
	return asynqmon.New(asynqmon.Options{
		RootPath: "/asynq", RedisConnOpt: sharedRedis{a.redis}, ReadOnly: a.cfg.QueueMonitor != "write",
	})
}

// actions are what the API and the command line do, over this process's
// database and queue.
func (a *app) actions() *actions.Actions {
	return actions.New(a.db, a.queue, a.log, actions.Options{ResendInterval: a.cfg.ResendInterval, Limiter: a.limiter()})
}

// limiter counts the LIMIT_* limits in Redis.
func (a *app) limiter() *limit.Limiter {
	return limit.New(a.redis, a.cfg.Limits, a.log)
}

// console builds the web console, which mails sign-in links itself.
func (a *app) console(signer *signed.Signer) (*console.Server, error) {
	bundle, err := locale.Load()
	if err != nil {
		return nil, err
	}
	render, err := mail.NewRenderer(bundle)
	if err != nil {
		return nil, err
	}
	sender, from, err := a.mailer()
	if err != nil {
		return nil, err
	}
	_, domain, _ := strings.Cut(from.Address, "@")
	return console.New(a.db, a.actions(), a.log, console.Options{
		URL: a.cfg.ConsoleURL, Mail: sender, Render: render, Domain: domain, Signer: signer, Bundle: bundle, Monitor: "/asynq/",
		ImportLimits: a.limits(), Limiter: a.limiter(),
	})
}

// sharedRedis hands the process's Redis client to the Asynq web UI.
type sharedRedis struct{ c redis.UniversalClient }

func (s sharedRedis) MakeRedisClient() any { return s.c }

// limits are the IMPORT_* settings.
func (a *app) limits() workbook.Limits {
	return workbook.Limits{MaxBytes: a.cfg.ImportMaxBytes, MaxRows: a.cfg.ImportMaxRows, MaxUnzipped: a.cfg.ImportMaxUnzipped}
}

func redactURL(raw string) string {
	if i := strings.Index(raw, "@"); i > 0 {
		if j := strings.Index(raw, "://"); j > 0 && j < i {
			return raw[:j+3] + "…" + raw[i:]
		}
	}
	return raw
}
