// Package config reads Muster's configuration from environment variables.
// Every variable has a default that works on a developer machine with
// PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379.
package config

import (
	"fmt"
	"log/slog"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/muster-dev/muster/internal/muster"
)

// DefaultConcurrency is WORKER_CONCURRENCY's default. Single sends wait
// mostly on shared statements and on SMTP, so a worker runs many at once:
// the more wait together, the fewer statements they share, which is what
// bounds them on a busy machine (bench scenario 2: 10 at once sent 1,780
// a second, 32 at once 2,220).
const DefaultConcurrency = 32

// Config is the whole configuration. Load fills it from the environment.
type Config struct {
	// DatabaseURL is the PostgreSQL connection URL (DATABASE_URL).
	// Default: postgres://postgres@127.0.0.1:5432/muster?sslmode=disable.
	DatabaseURL string
	// RedisURL is the Redis URL for Asynq (REDIS_URL): redis://, rediss://,
	// redis-sentinel://, or redis-cluster://host:port,host:port.
	// Default: redis://127.0.0.1:6379/0.
	RedisURL string
	// SMTPURL is the outgoing mail server (SMTP_URL), e.g.
	// smtp://user:pass@host:587 (STARTTLS when offered; ?tls=required to
	// insist, ?tls=none to never) or smtps://host:465 (implicit TLS).
	// Empty: mail is written as .eml files to MailDir instead.
	SMTPURL string
	// SMTPConns is how many SMTP connections each worker keeps open (SMTP_CONNS). Default 4.
	SMTPConns int
	// SMTPTimeout bounds connecting to the SMTP server and each message on a
	// connection (SMTP_TIMEOUT); a connection that times out is replaced.
	// Default and most: MaxSMTPTimeout.
	SMTPTimeout time.Duration
	// SMTPRate caps messages per second per worker process (SMTP_RATE); 0 means no cap. Default 0.
	SMTPRate float64
	// MailDir is the dev mailbox used when SMTP_URL is empty (MAIL_DIR). Default ./var/mail.
	MailDir string
	// MailFrom is the From header of every email (MAIL_FROM).
	// Default: Muster <no-reply@muster.localhost>.
	MailFrom string
	// HTTPAddr is where the admin API listens (HTTP_ADDR). Default 127.0.0.1:8080.
	HTTPAddr string
	// MetricsAddr is where a worker or scheduler running alone serves
	// GET /metrics (METRICS_ADDR), unauthenticated: bind it to a private
	// interface. Empty: no metrics port. The web role serves /metrics on
	// HTTP_ADDR to staff tokens instead.
	MetricsAddr string
	// PprofAddr serves Go's profiler (net/http/pprof) under /debug/pprof/
	// (PPROF_ADDR), unauthenticated, in any role: for finding where time
	// goes, so bind it to loopback. Empty (default): off.
	PprofAddr string
	// ConsoleURL is where people reach the console, linked from sign-in
	// emails (CONSOLE_URL). Default http:// plus HTTP_ADDR.
	ConsoleURL string
	// AppURL is the platform's web app, linked from emails (APP_URL).
	// Default http://localhost:3000.
	AppURL string
	// PublicURL is where the API is reached from outside (PUBLIC_URL), for
	// links in emails to the API itself: the one-click unsubscribe of
	// reminders. Use https in production (RFC 8058). Default http://HTTP_ADDR.
	PublicURL string
	// MailEventsSecret lets the mail provider post delivery, bounce and
	// complaint reports with an HMAC signature (MAIL_EVENTS_SECRET, 32+
	// characters). Empty: staff tokens only.
	MailEventsSecret string
	// SecretKey signs invitation links (SECRET_KEY, 32+ characters). Empty:
	// one is generated once and kept in the database, shared by all processes.
	SecretKey string
	// Concurrency is the number of interactive jobs a worker runs at once
	// (WORKER_CONCURRENCY): single invites, resends, notices. Default
	// DefaultConcurrency.
	Concurrency int
	// BulkConcurrency is the number of bulk jobs a worker runs at once
	// (BULK_CONCURRENCY): imports and their invitations. Default 4.
	BulkConcurrency int
	// BulkDBConns caps the PostgreSQL connections a worker's bulk work
	// (imports and the emails they owe) uses at once (BULK_DB_CONNS), so
	// that it leaves PostgreSQL's CPUs to the API and to single emails.
	// Default 1: bulk statements take milliseconds for dozens of emails,
	// so one connection carries what a relay accepts.
	BulkDBConns int
	// ImportConcurrency is the most imports (and previews) one worker
	// process reads at once (IMPORT_CONCURRENCY), each holding a file and a
	// batch in memory, on a server of their own apart from the bulk
	// emails; more wait in their queue. Default 2.
	ImportConcurrency int
	// PollInterval is how often an idle worker looks for new jobs
	// (POLL_INTERVAL). Lower is snappier and costs Redis calls. Default 100ms.
	PollInterval time.Duration
	// SendAttempts is how many times an email is tried before it is marked
	// failed (SEND_ATTEMPTS). Default 10.
	SendAttempts int
	// RetryBase is the first retry delay; each retry doubles it, up to an
	// hour (RETRY_BASE). Default 10s.
	RetryBase time.Duration
	// RequeueAfter is how long a queued email may wait in PostgreSQL before
	// the scheduler enqueues it again, in case Redis lost it (REQUEUE_AFTER). Default 2m.
	RequeueAfter time.Duration
	// ReminderSchedule is when reminders go to contractors who have not
	// signed up, after the invitation (REMINDER_SCHEDULE, comma-separated
	// durations); its length is the most reminders anyone gets. "none":
	// no reminders. Default 72h,168h (day 3 and day 7).
	ReminderSchedule []time.Duration
	// ReminderRate spreads reminder emails out, per second (REMINDER_RATE);
	// 0 sends them all at once. Default 20.
	ReminderRate float64
	// ResendInterval is the least time between two emails to one contractor
	// that a manager's resend may cause (RESEND_INTERVAL). Default 10m.
	ResendInterval time.Duration
	// SignupSecret lets the platform's sign-up app post onboarding events
	// with an HMAC signature instead of a staff token (SIGNUP_SECRET, 32+
	// characters). Empty: staff tokens only.
	SignupSecret string
	// ShutdownTimeout is how long running jobs get to finish on SIGTERM
	// before they are handed back to the queue (SHUTDOWN_TIMEOUT). Default 25s.
	ShutdownTimeout time.Duration
	// ImportMaxBytes is the largest file an import accepts
	// (IMPORT_MAX_BYTES: bytes, or with KB/MB/GB/KiB/MiB/GiB). Default 50MiB.
	ImportMaxBytes int64
	// ImportMaxRows is the most data rows one import reads (IMPORT_MAX_ROWS). Default 200000.
	ImportMaxRows int
	// ImportMaxUnzipped bounds what an .xlsx may inflate to, all parts
	// together; more is refused as a decompression bomb before anything is
	// inflated (IMPORT_MAX_UNZIPPED_BYTES). Default 1GiB.
	ImportMaxUnzipped int64
	// Limits are the rate limits by muster.Limit* name (LIMIT_INVITATIONS,
	// LIMIT_IMPORTS, LIMIT_RESENDS, LIMIT_RECIPIENT, LIMIT_SIGNIN: "120/m,5000/d", or
	// none). Defaults: muster.DefaultLimits.
	Limits map[string][]muster.Rate
	// QueueMonitor is what the Asynq web UI at /asynq/ allows staff
	// (QUEUE_MONITOR): read (default), write (retry, delete, pause; only
	// from the UI's own origin) or off.
	QueueMonitor string
	// LogLevel is debug, info, warn or error (LOG_LEVEL). Default info.
	LogLevel slog.Level
	// LogFormat is text or json (LOG_FORMAT). Default text.
	LogFormat string
}

// MaxSMTPTimeout is SMTP_TIMEOUT's ceiling. A claimed email's lease in
// PostgreSQL outlives its SMTP exchange by as long again, for the outcome
// write: an exchange allowed to run longer could outlive the lease, and
// another worker could send the email again meanwhile.
const MaxSMTPTimeout = 10 * time.Second

// Load reads the configuration through getenv (os.Getenv in production).
// The first bad variable is reported by name.
func Load(getenv func(string) string) (*Config, error) {
	r := reader{getenv: getenv}
	c := &Config{
		DatabaseURL:       r.url("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/muster?sslmode=disable", "postgres", "postgresql"),
		RedisURL:          r.url("REDIS_URL", "redis://127.0.0.1:6379/0", "redis", "rediss", "redis-sentinel", "redis-cluster"),
		SMTPURL:           r.url("SMTP_URL", "", "smtp", "smtps"),
		SMTPConns:         r.int("SMTP_CONNS", 4, 1, 100),
		SMTPTimeout:       r.durationUpTo("SMTP_TIMEOUT", MaxSMTPTimeout, MaxSMTPTimeout),
		SMTPRate:          r.float("SMTP_RATE", 0),
		MailDir:           r.str("MAIL_DIR", "./var/mail"),
		MailFrom:          r.address("MAIL_FROM", "Muster <no-reply@muster.localhost>"),
		HTTPAddr:          r.str("HTTP_ADDR", "127.0.0.1:8080"),
		MetricsAddr:       r.str("METRICS_ADDR", ""),
		PprofAddr:         r.str("PPROF_ADDR", ""),
		AppURL:            strings.TrimRight(r.url("APP_URL", "http://localhost:3000", "http", "https"), "/"),
		ConsoleURL:        strings.TrimRight(r.url("CONSOLE_URL", "", "http", "https"), "/"),
		SecretKey:         r.secret("SECRET_KEY"),
		Concurrency:       r.int("WORKER_CONCURRENCY", DefaultConcurrency, 1, 1000),
		BulkConcurrency:   r.int("BULK_CONCURRENCY", 4, 1, 1000),
		BulkDBConns:       r.int("BULK_DB_CONNS", 1, 1, 100),
		ImportConcurrency: r.int("IMPORT_CONCURRENCY", 2, 1, 100),
		PollInterval:      r.duration("POLL_INTERVAL", 100*time.Millisecond),
		SendAttempts:      r.int("SEND_ATTEMPTS", 10, 1, 100),
		RetryBase:         r.duration("RETRY_BASE", 10*time.Second),
		RequeueAfter:      r.duration("REQUEUE_AFTER", 2*time.Minute),
		ReminderSchedule:  r.durations("REMINDER_SCHEDULE", "72h,168h"),
		ReminderRate:      r.float("REMINDER_RATE", 20),
		ResendInterval:    r.duration("RESEND_INTERVAL", 10*time.Minute),
		SignupSecret:      r.secret("SIGNUP_SECRET"),
		ShutdownTimeout:   r.duration("SHUTDOWN_TIMEOUT", 25*time.Second),
		ImportMaxBytes:    r.size("IMPORT_MAX_BYTES", 50<<20),
		ImportMaxRows:     r.int("IMPORT_MAX_ROWS", 200_000, 1, 1_048_576),
		ImportMaxUnzipped: r.size("IMPORT_MAX_UNZIPPED_BYTES", 1<<30),
		Limits:            r.limits(),
		QueueMonitor:      r.oneOf("QUEUE_MONITOR", "read", "read", "write", "off"),
		LogLevel:          r.level("LOG_LEVEL"),
		LogFormat:         r.oneOf("LOG_FORMAT", "text", "text", "json"),
	}
	c.PublicURL = strings.TrimRight(r.url("PUBLIC_URL", "http://"+c.HTTPAddr, "http", "https"), "/")
	c.MailEventsSecret = r.secret("MAIL_EVENTS_SECRET")
	if r.err != nil {
		return nil, r.err
	}
	if c.ConsoleURL == "" {
		c.ConsoleURL = "http://" + c.HTTPAddr
	}
	return c, nil
}

// reader keeps the first error so Load reads as a list of fields.
type reader struct {
	getenv func(string) string
	err    error
}

func (r *reader) fail(name, format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("config: %s: %s", name, fmt.Sprintf(format, args...))
	}
}

func (r *reader) str(name, def string) string {
	if v := strings.TrimSpace(r.getenv(name)); v != "" {
		return v
	}
	return def
}

func (r *reader) url(name, def string, schemes ...string) string {
	v := r.str(name, def)
	if v == "" {
		return ""
	}
	u, err := url.Parse(v)
	if err != nil {
		r.fail(name, "not a URL: %v", err)
		return ""
	}
	for _, s := range schemes {
		if u.Scheme == s {
			return v
		}
	}
	r.fail(name, "scheme %q is not one of %s", u.Scheme, strings.Join(schemes, ", "))
	return ""
}

func (r *reader) int(name string, def, min, max int) int {
	v := r.str(name, "")
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < min || n > max {
		r.fail(name, "%q is not a whole number from %d to %d", v, min, max)
		return def
	}
	return n
}

func (r *reader) float(name string, def float64) float64 {
	v := r.str(name, "")
	if v == "" {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 {
		r.fail(name, "%q is not a number of zero or more", v)
		return def
	}
	return f
}

// size reads a byte count: 1048576, 512KB, 50MB, 50MiB, 1GiB.
func (r *reader) size(name string, def int64) int64 {
	v := r.str(name, "")
	if v == "" {
		return def
	}
	units := []struct {
		suffix string
		mul    int64
	}{{"KIB", 1 << 10}, {"MIB", 1 << 20}, {"GIB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}}
	num, mul := strings.ToUpper(v), int64(1)
	for _, u := range units {
		if n, ok := strings.CutSuffix(num, u.suffix); ok {
			num, mul = strings.TrimSpace(n), u.mul
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 || n > (1<<50)/mul {
		r.fail(name, "%q is not a size such as 50MiB, 200MB or 1048576", v)
		return def
	}
	return n * mul
}

func (r *reader) duration(name string, def time.Duration) time.Duration {
	v := r.str(name, "")
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		r.fail(name, "%q is not a positive duration such as 500ms, 10s or 2m", v)
		return def
	}
	return d
}

// durationUpTo is duration with a ceiling.
func (r *reader) durationUpTo(name string, def, most time.Duration) time.Duration {
	d := r.duration(name, def)
	if d > most {
		r.fail(name, "%s is longer than %s", d, most)
		return def
	}
	return d
}

func (r *reader) durations(name, def string) []time.Duration {
	v := strings.TrimSpace(r.getenv(name))
	if v == "" {
		v = def
	}
	if v == "none" {
		return nil
	}
	var out []time.Duration
	for _, part := range strings.Split(v, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(part))
		if err != nil || d <= 0 || (len(out) > 0 && d <= out[len(out)-1]) {
			r.fail(name, "%q is not a rising list of durations such as 72h,168h (or none)", v)
			return nil
		}
		out = append(out, d)
	}
	return out
}

func (r *reader) address(name, def string) string {
	v := r.str(name, def)
	if _, err := mail.ParseAddress(v); err != nil || strings.ContainsAny(v, "\r\n") {
		r.fail(name, "%q is not an email address such as \"Muster <no-reply@example.com>\"", v)
	}
	return v
}

func (r *reader) secret(name string) string {
	v := r.getenv(name)
	if v != "" && len(v) < 32 {
		r.fail(name, "must be at least 32 characters (it has %d)", len(v))
	}
	return v
}

func (r *reader) level(name string) slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(r.str(name, "info"))); err != nil {
		r.fail(name, "%q is not one of debug, info, warn, error", r.getenv(name))
	}
	return l
}

func (r *reader) oneOf(name, def string, allowed ...string) string {
	v := r.str(name, def)
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	r.fail(name, "%q is not one of %s", v, strings.Join(allowed, ", "))
	return def
}

// limits reads LIMIT_<NAME> for each of muster.DefaultLimits.
func (r *reader) limits() map[string][]muster.Rate {
	out := make(map[string][]muster.Rate, len(muster.DefaultLimits))
	for what, def := range muster.DefaultLimits {
		name := "LIMIT_" + strings.ToUpper(what)
		rates, err := muster.ParseRates(r.str(name, def))
		if err != nil {
			r.fail(name, "%v", err)
		}
		out[what] = rates
	}
	return out
}
