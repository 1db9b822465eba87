package jobs_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/muster-dev/muster/jobs"
)

func TestRedisLogWritesThroughSlog(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	l := jobs.RedisLog{Log: slog.New(slog.NewJSONHandler(&buf, nil))}
	l.Printf(context.Background(), "redis: connection pool: failed to dial after %d attempts: %s\n", 5, "refused")
	got := buf.String()
	if !strings.Contains(got, `"level":"WARN"`) || !strings.Contains(got, `"msg":"redis: connection pool: failed to dial after 5 attempts: refused"`) {
		t.Errorf("logged %s", got)
	}
}
