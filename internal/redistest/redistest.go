// Package redistest reserves a Redis database (1 to 15) for one test, so
// that tests in one package and across packages can run in parallel
// without seeing each other's queues. The database is flushed before use
// and after. Reservations are keys in database 0 holding the owner's
// process id; a reservation of a process that died is taken over.
package redistest

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Addr is the Redis server tests use, from TEST_REDIS_ADDR.
func Addr() string {
	if v := os.Getenv("TEST_REDIS_ADDR"); v != "" {
		return v
	}
	return "127.0.0.1:6379"
}

// DB is a reserved database.
type DB struct {
	Client *redis.Client
	URL    string // redis://host:port/n, for code that dials itself
	N      int
}

// New reserves a database for t and releases it when t ends.
func New(t testing.TB) *DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	admin := redis.NewClient(&redis.Options{Addr: Addr()})
	defer admin.Close()
	me := strconv.Itoa(os.Getpid())
	for {
		for n := 1; n <= 15; n++ {
			key := fmt.Sprintf("muster:test:db:%d", n)
			ok, err := admin.SetNX(ctx, key, me, time.Hour).Result()
			if err != nil {
				t.Fatalf("redistest: reserve a database on %s (is Redis running?): %v", Addr(), err)
			}
			if !ok {
				if owner, _ := admin.Get(ctx, key).Result(); owner == "" || alive(owner) {
					continue
				}
				if admin.Del(ctx, key).Err() != nil {
					continue
				}
				n-- // a dead owner's reservation: try this database again
				continue
			}
			return open(t, n, key)
		}
		select {
		case <-ctx.Done():
			t.Fatal("redistest: no free Redis database within 2 minutes")
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func open(t testing.TB, n int, key string) *DB {
	c := redis.NewClient(&redis.Options{Addr: Addr(), DB: n})
	ctx := context.Background()
	if err := c.FlushDB(ctx).Err(); err != nil {
		t.Fatalf("redistest: flush db %d: %v", n, err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		_ = c.FlushDB(ctx).Err()
		_ = c.Close()
		admin := redis.NewClient(&redis.Options{Addr: Addr()})
		defer admin.Close()
		_ = admin.Del(ctx, key).Err()
	})
	return &DB{Client: c, URL: fmt.Sprintf("redis://%s/%d", Addr(), n), N: n}
}

func alive(pid string) bool {
	_, err := os.Stat("/proc/" + pid)
	return err == nil
}
