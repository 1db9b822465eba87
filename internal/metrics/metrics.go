// Package metrics keeps Muster's Prometheus metrics: HTTP requests, job
// runs, emails and import rows, the emails still owed, the build, next to
// the Go runtime's. The queues' own sizes and latencies come
// from Asynq's collector, registered by the command that wires things up.
package metrics

import (
	"context"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics holds the registry and the instruments.
type Metrics struct {
	Registry     *prometheus.Registry
	requests     *prometheus.CounterVec
	requestTime  *prometheus.HistogramVec
	tasks        *prometheus.CounterVec
	taskDuration *prometheus.HistogramVec
	emails       *prometheus.CounterVec
	emailErrors  *prometheus.CounterVec
	sendLatency  *prometheus.HistogramVec
	importRows   *prometheus.CounterVec
	sweep        prometheus.Histogram
}

// New registers every instrument on a fresh registry.
func New() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "muster_http_requests_total", Help: "API requests by route pattern, method and status code.",
		}, []string{"route", "method", "code"}),
		requestTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "muster_http_request_duration_seconds", Help: "API request latency by route pattern.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"route"}),
		tasks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "muster_tasks_total", Help: "Jobs run by this process, by task type and result (ok, retry, failed).",
		}, []string{"type", "result"}),
		taskDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "muster_task_duration_seconds", Help: "Job run time by task type.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
		}, []string{"type"}),
	}
	m.emails = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "muster_emails_total",
		Help: "Emails by kind, locale and outcome: sent, retried (an attempt failed, tried again), failed (given up), cancelled (no longer wanted when the worker came to send it), postponed (over the recipient cap, sent later).",
	}, []string{"kind", "locale", "outcome"})
	m.emailErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "muster_email_errors_total",
		Help: "Failed send attempts (retried or final) by kind and reason: smtp_<reply code>, connection, timeout, message, other.",
	}, []string{"kind", "reason"})
	m.sendLatency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "muster_email_send_seconds", Help: "From claiming an email in PostgreSQL to the SMTP server accepting it, by kind.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	}, []string{"kind"})
	m.importRows = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "muster_import_rows_total", Help: "Imported rows by outcome: created, linked, member (already in the account), duplicate (earlier in the file), failed.",
	}, []string{"outcome"})
	m.sweep = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "muster_reminder_sweep_seconds", Help: "How long one reminder sweep took: picking, recording and enqueueing the due reminders.",
		Buckets: []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
	})
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "muster_build_info", Help: "Always 1; the labels name the running build.",
	}, []string{"version", "revision", "goversion"})
	v := Build()
	build.WithLabelValues(v.Version, v.Revision, v.GoVersion).Set(1)
	m.Registry.MustRegister(m.requests, m.requestTime, m.tasks, m.taskDuration,
		m.emails, m.emailErrors, m.sendLatency, m.importRows, m.sweep, build,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Email counts one email's outcome.
func (m *Metrics) Email(kind, locale, outcome string) {
	m.emails.WithLabelValues(kind, locale, outcome).Inc()
}

// EmailError counts one failed attempt by reason.
func (m *Metrics) EmailError(kind, reason string) {
	m.emailErrors.WithLabelValues(kind, reason).Inc()
}

// SendLatency records claim → SMTP accepted for one email.
func (m *Metrics) SendLatency(kind string, d time.Duration) {
	m.sendLatency.WithLabelValues(kind).Observe(d.Seconds())
}

// ImportRows counts n import rows with an outcome.
func (m *Metrics) ImportRows(outcome string, n int) {
	if n > 0 {
		m.importRows.WithLabelValues(outcome).Add(float64(n))
	}
}

// ReminderSweep records one reminder sweep's duration.
func (m *Metrics) ReminderSweep(d time.Duration) { m.sweep.Observe(d.Seconds()) }

// OwedFunc counts the emails not sent yet (queued, sending or retrying)
// by age bucket label.
type OwedFunc func(ctx context.Context) (map[string]int64, error)

// WatchOwed exports muster_emails_owed{age} from PostgreSQL at each
// scrape, so that every process reports the same truth. A failed count is
// logged and the gauge left out of that scrape.
func (m *Metrics) WatchOwed(count OwedFunc, log *slog.Logger) {
	m.Registry.MustRegister(&owedCollector{count: count, log: log})
}

var owedDesc = prometheus.NewDesc("muster_emails_owed",
	"Emails not sent yet (queued, sending or retrying) by how long ago they were queued: under_1m, 1m_10m, 10m_1h, 1h_1d, over_1d.",
	[]string{"age"}, nil)

type owedCollector struct {
	count OwedFunc
	log   *slog.Logger
}

func (c *owedCollector) Describe(ch chan<- *prometheus.Desc) { ch <- owedDesc }

func (c *owedCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	owed, err := c.count(ctx)
	if err != nil {
		c.log.Warn("metrics: count owed emails", "error", err)
		return
	}
	for age, n := range owed {
		ch <- prometheus.MustNewConstMetric(owedDesc, prometheus.GaugeValue, float64(n), age)
	}
}

// Version is what the running binary was built from.
type Version struct {
	Version   string // the module version, or (devel)
	Revision  string // the VCS commit, with "+dirty" for uncommitted changes; "" when unknown
	GoVersion string
}

// Build reads the binary's build information.
func Build() Version {
	v := Version{Version: "(devel)"}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	v.GoVersion = info.GoVersion
	if info.Main.Version != "" {
		v.Version = info.Main.Version
	}
	dirty := false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Revision = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if dirty && v.Revision != "" {
		v.Revision += "+dirty"
	}
	return v
}

// ObserveHTTP records one API request. route is the matched pattern, so
// ids in paths do not explode the label set.
func (m *Metrics) ObserveHTTP(route, method string, code int, d time.Duration) {
	if route == "" {
		route = "unmatched"
	}
	m.requests.WithLabelValues(route, method, strconv.Itoa(code)).Inc()
	m.requestTime.WithLabelValues(route).Observe(d.Seconds())
}

// ObserveTask records one job run; result is ok, retry or failed.
func (m *Metrics) ObserveTask(taskType, result string, d time.Duration) {
	m.tasks.WithLabelValues(taskType, result).Inc()
	m.taskDuration.WithLabelValues(taskType).Observe(d.Seconds())
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}
