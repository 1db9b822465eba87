package jobs

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/lib/pq"

	"github.com/muster-dev/muster/internal/muster"
)

func TestTransientErrorsRetrySoonWithoutCounting(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	cases := []struct {
		name      string
		err       error
		transient bool
	}{
		{"PostgreSQL refuses connections", fmt.Errorf("claim invitation 1: %w", refused), true},
		{"PostgreSQL shutting down", fmt.Errorf("claim: %w", &pq.Error{Code: "57P01"}), true},
		{"PostgreSQL starting up", &pq.Error{Code: "57P03"}, true},
		{"connection lost mid-query", fmt.Errorf("write batch: %w", &pq.Error{Code: "08006"}), true},
		{"Redis loading its data", errors.New("LOADING Redis is loading the dataset in memory"), true},
		{"another worker's lease", fmt.Errorf("invitation 7: %w", muster.ErrClaimed), true},
		{"a unique violation", &pq.Error{Code: "23505"}, false},
		{"a worker stopping", fmt.Errorf("claim: %w: %w", context.Canceled, refused), false},
		{"a bad workbook", errors.New("corrupt workbook"), false},
	}
	delay := retryDelay(10 * time.Second)
	for _, c := range cases {
		if got := transient(c.err); got != c.transient {
			t.Errorf("%s: transient = %v, want %v", c.name, got, c.transient)
		}
		d := delay(6, c.err, nil)
		if c.transient && (d < outageRetry*8/10 || d > outageRetry*12/10) {
			t.Errorf("%s: retry in %s, want about %s", c.name, d, outageRetry)
		}
		if !c.transient && d < 10*time.Second<<6*8/10 {
			t.Errorf("%s: retry in %s, want the doubled backoff", c.name, d)
		}
	}
}
