package postgres_test

import (
	"os"
	"testing"

	"github.com/muster-dev/muster/internal/postgres/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
