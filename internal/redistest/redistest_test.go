package redistest

import (
	"context"
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	code := m.Run()
	s := srv
	Stop()
	if s != nil {
		select {
		case <-s.done:
		default:
			os.Stderr.WriteString("redistest: Stop left redis-server running\n")
			code = 1
		}
	}
	os.Exit(code)
}

func TestEachTestHasItsOwnDatabaseOfItsOwnServer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, b := New(t), New(t)
	if a.N == b.N {
		t.Fatalf("two tests share database %d", a.N)
	}
	if err := a.Client.Set(ctx, "k", "a", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if n, err := b.Client.Exists(ctx, "k").Result(); err != nil || n != 0 {
		t.Errorf("b sees a's key: %d %v", n, err)
	}
	if srv.addr == "127.0.0.1:6379" {
		t.Error("tests must not use the machine's Redis")
	}
	if err := a.Client.ConfigGet(ctx, "save").Err(); err != nil {
		t.Fatal(err)
	}
}
