package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// WorkerConfig tunes a worker process; see internal/config for defaults.
type WorkerConfig struct {
	Concurrency       int           // interactive jobs at once
	BulkConcurrency   int           // bulk email jobs at once
	ImportConcurrency int           // import jobs at once (IMPORT_CONCURRENCY); default 1
	PollInterval      time.Duration // idle check for new jobs
	RetryBase         time.Duration // first retry delay, doubled each time
	ShutdownTimeout   time.Duration // grace for running jobs on stop
	Log               *slog.Logger
	// Observe, when set, is told every task run: its type, its result
	// (ok, retry or failed) and how long it took.
	Observe func(taskType, result string, d time.Duration)
}

// Worker runs three Asynq servers in one process: one for interactive
// queues (critical before default, strictly), one for import jobs and one
// for the bulk emails, so none can take another's slots.
type Worker struct {
	servers []*asynq.Server
	mux     *asynq.ServeMux
	log     *slog.Logger
	running sync.WaitGroup  // handlers that have not returned
	behind  *sync.WaitGroup // outcomes written after their handler returned (Sender.Behind)
}

// handlerGrace is how long Shutdown waits, after Asynq gave up on the
// running handlers, for them to return: long enough for a send to record
// its outcome (10 s) and an import to release its claim (5 s).
const handlerGrace = 15 * time.Second

// NewWorker builds a worker on rc, with the handler of every kind of the
// catalogue built from d. It refuses to start when a kind has no handler
// or two.
func NewWorker(rc redis.UniversalClient, cfg WorkerConfig, d *Deps) (*Worker, error) {
	if d.Config == nil {
		return nil, errors.New("worker: Deps.Config is not set")
	}
	w := &Worker{mux: asynq.NewServeMux(), log: cfg.Log, behind: &d.settling}
	w.mux.Use(w.track, watchTasks(cfg.Log, cfg.Observe))
	if err := register(w.mux, kinds, d); err != nil {
		return nil, fmt.Errorf("worker: %w", err)
	}
	base := asynq.Config{
		TaskCheckInterval: cfg.PollInterval,
		// Retries and scheduled tasks move to their queue at this pace.
		DelayedTaskCheckInterval: min(max(cfg.PollInterval*10, 50*time.Millisecond), time.Second),
		RetryDelayFunc:           retryDelay(cfg.RetryBase),
		// An outage, another worker's lease, or a worker at its cap of
		// imports: the task comes back soon without counting an attempt
		// (see retryDelay and backoff for the delays). An email over its
		// recipient's cap comes back when the cap allows, uncounted too.
		IsFailure:       isFailure,
		ShutdownTimeout: cfg.ShutdownTimeout,
		Logger:          logger{cfg.Log},
		LogLevel:        asynq.WarnLevel,
	}
	interactive, imports, bulk := base, base, base
	interactive.Concurrency = cfg.Concurrency
	interactive.Queues = map[string]int{QueueCritical: 6, QueueDefault: 3}
	interactive.StrictPriority = true
	imports.Concurrency = max(cfg.ImportConcurrency, 1)
	imports.Queues = map[string]int{QueueImports: 1}
	bulk.Concurrency = cfg.BulkConcurrency
	bulk.Queues = map[string]int{QueueBulk: 1}
	w.servers = []*asynq.Server{
		asynq.NewServerFromRedisClient(rc, interactive),
		asynq.NewServerFromRedisClient(rc, imports),
		asynq.NewServerFromRedisClient(rc, bulk),
	}
	return w, nil
}

// track counts running handlers, for Shutdown to wait on.
func (w *Worker) track(next asynq.Handler) asynq.Handler {
	return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
		w.running.Add(1)
		defer w.running.Done()
		return next.ProcessTask(ctx, t)
	})
}

// Start begins processing; Shutdown stops it.
func (w *Worker) Start() error {
	for _, s := range w.servers {
		if err := s.Start(w.mux); err != nil {
			return fmt.Errorf("start worker: %w", err)
		}
	}
	return nil
}

// Shutdown stops taking tasks, lets running ones finish within the
// shutdown timeout, and hands the rest back to their queues. When the
// timeout ends Asynq requeues the tasks still running and cancels their
// contexts, but does not wait for their handlers; Shutdown does (up to
// handlerGrace), so that the handlers' last writes (an import's release, a
// send's outcome, even one written after its handler returned) reach
// PostgreSQL before the process closes it, and another worker takes the
// work over at once.
func (w *Worker) Shutdown() {
	for _, s := range w.servers {
		s.Stop()
	}
	for _, s := range w.servers {
		s.Shutdown()
	}
	done := make(chan struct{})
	go func() {
		w.running.Wait()
		w.behind.Wait() // no handler is left to add to it
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(handlerGrace):
		w.log.Warn("handlers still running after the shutdown grace; stopping anyway", "grace", handlerGrace)
	}
}

// backoff doubles the delay from base with ±20% jitter, capped at an hour.
func backoff(base time.Duration) asynq.RetryDelayFunc {
	return func(n int, err error, _ *asynq.Task) time.Duration {
		if errors.Is(err, errImportsBusy) {
			return time.Duration((1 + rand.Float64()) * float64(time.Second))
		}
		d := base << min(n, 20)
		if d <= 0 || d > time.Hour {
			d = time.Hour
		}
		return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
	}
}

// NewScheduler registers the periodic kinds of the catalogue (those with
// a period: the requeue sweep and the reminder sweep). Two schedulers may
// run: each periodic task is unique for its period, so it is enqueued once.
func NewScheduler(rc redis.UniversalClient, log *slog.Logger) (*asynq.Scheduler, error) {
	s := asynq.NewSchedulerFromRedisClient(rc, &asynq.SchedulerOpts{
		Logger:   logger{log},
		LogLevel: asynq.WarnLevel,
		EnqueueErrorHandler: func(t *asynq.Task, _ []asynq.Option, err error) {
			if !errors.Is(err, asynq.ErrDuplicateTask) {
				log.Error("scheduler could not enqueue", "task", t.Type(), "error", err)
			}
		},
	})
	for name, k := range kinds {
		if k.every == 0 {
			continue
		}
		if k.handler == nil {
			return nil, fmt.Errorf("periodic task kind %q has no handler in the catalogue", name)
		}
		task, err := newTask(k.handler.args, 0, asynq.Unique(k.every))
		if err != nil {
			return nil, err
		}
		if _, err := s.Register(fmt.Sprintf("@every %s", k.every), task); err != nil {
			return nil, fmt.Errorf("register %s: %w", name, err)
		}
	}
	return s, nil
}

// watchTasks logs every task's outcome once, with its duration, and tells
// observe (metrics) about it.
func watchTasks(log *slog.Logger, observe func(string, string, time.Duration)) asynq.MiddlewareFunc {
	return func(next asynq.Handler) asynq.Handler {
		return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
			start := time.Now()
			err := next.ProcessTask(ctx, t)
			took := time.Since(start)
			id, _ := asynq.GetTaskID(ctx)
			retry, _ := asynq.GetRetryCount(ctx)
			attrs := []any{"task", t.Type(), "id", id, "retry", retry, "duration", took}
			result := "ok"
			switch {
			case err == nil:
				log.Debug("task done", attrs...)
			case isPermanent(err):
				result = "failed"
				log.Error("task failed for good", append(attrs, "error", err)...)
			default:
				result = "retry"
				log.Warn("task failed, will retry", append(attrs, "error", err)...)
			}
			if observe != nil {
				observe(t.Type(), result, took)
			}
			return err
		})
	}
}

// logger lets Asynq log through slog.
type logger struct{ l *slog.Logger }

func (a logger) Debug(args ...any) { a.l.Debug(fmt.Sprint(args...), "component", "asynq") }
func (a logger) Info(args ...any)  { a.l.Info(fmt.Sprint(args...), "component", "asynq") }
func (a logger) Warn(args ...any)  { a.l.Warn(fmt.Sprint(args...), "component", "asynq") }
func (a logger) Error(args ...any) {
	msg := fmt.Sprint(args...)
	// The scheduler tries to close the Redis client we share with it on
	// every shutdown and reports that it may not: expected, not an error.
	if strings.Contains(msg, "redis connection is shared") {
		a.l.Debug(msg, "component", "asynq")
		return
	}
	a.l.Error(msg, "component", "asynq")
}
func (a logger) Fatal(args ...any) {
	a.l.Error(fmt.Sprint(args...), "component", "asynq")
	os.Exit(1)
}

// RedisLog hands go-redis's log lines to slog: pass it to redis.SetLogger.
// Otherwise they go to the standard logger, bypassing slog.
type RedisLog struct{ Log *slog.Logger }

// Printf logs one go-redis line, as a warning: go-redis logs only trouble.
func (r RedisLog) Printf(ctx context.Context, format string, v ...any) {
	r.Log.WarnContext(ctx, strings.TrimSpace(fmt.Sprintf(format, v...)))
}
