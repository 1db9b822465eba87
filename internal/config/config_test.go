package config

import (
	"strings"
	"testing"
	"time"
)

func TestDefaultsWorkLocally(t *testing.T) {
	t.Parallel()
	c, err := Load(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if c.DatabaseURL != "postgres://postgres@127.0.0.1:5432/muster?sslmode=disable" || c.RedisURL != "redis://127.0.0.1:6379/0" ||
		c.HTTPAddr != "127.0.0.1:8080" || c.SMTPURL != "" || c.PollInterval != 100*time.Millisecond || c.SendAttempts != 10 ||
		c.ImportMaxBytes != 50<<20 || c.ImportMaxRows != 200_000 || c.ImportMaxUnzipped != 1<<30 {
		t.Errorf("defaults: %+v", c)
	}
}

func TestOverrides(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"SMTP_URL": "smtps://u:p@mail.example.com:465", "WORKER_CONCURRENCY": "32", "POLL_INTERVAL": "50ms",
		"APP_URL": "https://app.example.com/", "LOG_LEVEL": "debug", "REDIS_URL": "redis-sentinel://s1:26379?master_name=m",
		"IMPORT_MAX_BYTES": "20MiB", "IMPORT_MAX_ROWS": "1000", "IMPORT_MAX_UNZIPPED_BYTES": "500 MB",
	}
	c, err := Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if c.SMTPURL != env["SMTP_URL"] || c.Concurrency != 32 || c.PollInterval != 50*time.Millisecond ||
		c.AppURL != "https://app.example.com" || c.LogLevel.String() != "DEBUG" ||
		c.ImportMaxBytes != 20<<20 || c.ImportMaxRows != 1000 || c.ImportMaxUnzipped != 500e6 {
		t.Errorf("overrides: %+v", c)
	}
}

func TestFirstBadVariableIsNamed(t *testing.T) {
	t.Parallel()
	for name, value := range map[string]string{
		"DATABASE_URL": "://nope", "REDIS_URL": "memcached://x", "SMTP_CONNS": "-1", "SMTP_RATE": "lots",
		"MAIL_FROM": "not an address", "APP_URL": "ftp://x", "SEND_ATTEMPTS": "1000", "RETRY_BASE": "-5s",
		"LOG_LEVEL": "loud", "LOG_FORMAT": "xml", "IMPORT_MAX_BYTES": "big", "IMPORT_MAX_ROWS": "0",
		"IMPORT_MAX_UNZIPPED_BYTES": "-1GiB", "SMTP_TIMEOUT": "30s",
	} {
		_, err := Load(func(k string) string {
			if k == name {
				return value
			}
			return ""
		})
		if err == nil || !strings.HasPrefix(err.Error(), "config: "+name+": ") {
			t.Errorf("%s=%q: %v", name, value, err)
		}
	}
}

// The queue monitor is read-only and the limits are on unless changed.
func TestSecurityDefaultsAndLimits(t *testing.T) {
	t.Parallel()
	c, err := Load(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if c.QueueMonitor != "read" || c.PublicURL != "http://127.0.0.1:8080" ||
		len(c.Limits["invitations"]) != 2 || c.Limits["recipient"][0].N != 10 || c.Limits["recipient"][0].Per != 24*time.Hour ||
		len(c.Limits["signin"]) != 2 || c.Limits["signin"][0].N != 10 || c.Limits["signin"][0].Per != time.Minute {
		t.Errorf("defaults: monitor %q, public %q, limits %v", c.QueueMonitor, c.PublicURL, c.Limits)
	}
	env := map[string]string{"LIMIT_IMPORTS": "none", "LIMIT_RESENDS": "5/m", "QUEUE_MONITOR": "write"}
	if c, err = Load(func(k string) string { return env[k] }); err != nil || c.Limits["imports"] != nil || c.Limits["resends"][0].N != 5 || c.QueueMonitor != "write" {
		t.Errorf("overrides: %v %+v", err, c)
	}
	for k, v := range map[string]string{"LIMIT_INVITATIONS": "10/week", "QUEUE_MONITOR": "rw", "LIMIT_RECIPIENT": "0/d"} {
		if _, err := Load(func(name string) string { return map[string]string{k: v}[name] }); err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("%s=%s: %v", k, v, err)
		}
	}
}
